"""Fast inference: ONNX export and int8 quantisation, ONNX Runtime backends, request
micro-batching, and streaming scoring of large case files.

Submodules are imported on demand (``dxkit.inference.export`` needs torch, the runtime
backend does not), so importing this package costs nothing.
"""

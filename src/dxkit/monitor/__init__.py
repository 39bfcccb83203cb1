"""Watching a deployed model: drift against its training reference, live accuracy, retraining.

The training reference (``reference.json`` in the model directory) summarises the data a
model was trained on; :mod:`dxkit.monitor.drift` compares the service's recent cases and
answers with it, and :mod:`dxkit.monitor.retrain` builds the next model version from
clinician feedback. Nothing here runs at import time.
"""

"""Export a fine-tuned encoder model to ONNX (fp32) and a dynamically quantised int8 copy.

What is exported: the encoder and its linear head, ``(input_ids, attention_mask) ->
logits``. Softmax, temperature scaling and conformal sets are *not* in the graph: they
live in the model's manifest and are applied in numpy after the run, so recalibrating a
model never needs a new export and every backend shares one calibration code path.

Why the TorchScript exporter (``dynamo=False``): with torch 2.13 both exporters produce a
graph that matches PyTorch to ~1e-7 on a BERT encoder, but the TorchScript one exported
MiniLM-L6 in 4.8 s against 10.3 s, needs no ``onnxscript``, and writes the plain
MatMul/Softmax pattern that ONNX Runtime's transformer fusions and ``quantize_dynamic``
recognise. ``token_type_ids`` are always zero in dxkit, so they are built inside the
graph and not an input. The encoder is traced with *eager* attention: the SDPA path of
transformers 5 traces into a mask pattern (IsNaN/Where) that no fusion recognises, while
the eager one fuses into ONNX Runtime's ``Attention`` kernel.

Graph optimisation (measured on MiniLM-L6, see ``benchmarks/speed.py``): ONNX Runtime's
transformer optimizer fuses the embeddings + LayerNorm, each self-attention block, the
bias + GELU and the residual + LayerNorm pairs into single kernels; ``model.onnx`` is that
optimised fp32 graph (it needs ONNX Runtime, which is what runs it).

Quantisation: ``quant_pre_process`` (symbolic shape inference, which the quantiser needs
to see through the fused kernels), then ``quantize_dynamic`` of the MatMul and Attention
weights to int8 per output channel. Two groups stay fp32, for parity: the classifier
head (47 x 384, negligible time, but it writes the logits directly) and each layer's FFN
output projection, whose input (the GELU output) has the large outliers that per-tensor
dynamic activation scales handle badly (Bondarenko et al., "Understanding and Overcoming
the Challenges of Efficient Transformer Quantization", EMNLP 2021). Measured on 400
DDXPlus validation cases in fixed batches of 64: every MatMul int8 agreed with PyTorch on
99.25% of top-1s, with these two groups fp32 on 99.75%. Activation scales are taken per
batch (over its padded tensor), so the figure moves by a case or two with how cases are
batched; ``benchmarks/speed.py`` reports it as the scoring path batches.

Layout written into the model directory (all or nothing: built in a temporary folder and
renamed into place)::

    onnx/model.onnx        optimised fp32 graph (fused ONNX Runtime kernels)
    onnx/model.int8.onnx   int8 weights (MatMul/Attention), with --int8
    onnx/export.json       sidecar: sha256 of each file, the manifest's model_id, opset,
                           input names, label count, special token ids, max length

The sidecar ties the graph to the exact manifest it was exported from: retraining the
model changes the model_id, and :mod:`dxkit.inference.backends` then refuses the stale
graph instead of answering with the old network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dxkit.errors import InputError, ModelFormatError
from dxkit.models.base import MANIFEST, atomic_write_text, read_manifest

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
SIDECAR = "export.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"
OPSET = 17
EXPORTABLE = ("encoder",)
RAW_FILE = "model.raw.onnx"  # the traced graph before fusion (kept only while exporting)


@dataclass(frozen=True)
class ExportResult:
    """Paths written by :func:`export_onnx` (``int8`` is None without quantisation)."""

    fp32: Path
    int8: Path | None
    sidecar: Path
    model_id: str


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (graphs are tens of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_model_id(model_dir: Path) -> str:
    """The model_id :func:`dxkit.models.base.load_model` gives this directory."""
    return hashlib.sha256((Path(model_dir) / MANIFEST).read_bytes()).hexdigest()[:12]


def _encoder_of(model_dir: Path) -> Any:
    """Load the directory's encoder model, refusing kinds that have no ONNX form."""
    manifest = read_manifest(model_dir)
    kind = str(manifest.get("kind"))
    if kind not in EXPORTABLE:
        raise InputError(
            "ONNX export",
            expected=f"a model of kind {', '.join(EXPORTABLE)} (a fine-tuned transformer)",
            found=f"a {kind!r} model, which cannot be exported to ONNX",
            fix="train with `dxkit train --model encoder`; TF-IDF and RNN models run as they are",
        )
    from dxkit.models.encoder import EncoderModel

    return EncoderModel.load(model_dir)


def _logits_module(network: Any) -> Any:
    """Wrap the classifier so the graph is ``(input_ids, attention_mask) -> logits``."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            types = torch.zeros_like(input_ids)
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=types
            )
            logits: torch.Tensor = out.logits
            return logits

    # eager attention traces into the pattern ONNX Runtime fuses (see module docstring)
    encoder = getattr(network, "encoder", None)
    if encoder is not None and hasattr(encoder, "set_attn_implementation"):
        encoder.set_attn_implementation("eager")
    # eval() on the wrapper too: the exporter restores the wrapper's mode afterwards, and a
    # wrapper left in training mode would switch dropout back on in the caller's network
    return LogitsOnly(network).eval()


def _export_fp32(model: Any, target: Path, opset: int) -> None:
    import torch

    module = _logits_module(model.network)
    example = model.encode(["fever and cough since two days", "rash"])
    args = (example["input_ids"], example["attention_mask"])
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    axes[OUTPUT_NAME] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        # the deprecation notice of this exporter and the tracer's notes on shape checks
        # that are constant for a padded batch (parity is tested on varied lengths)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(target),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def _optimise(raw: Path, target: Path, config: Any) -> dict[str, int]:
    """Fuse the traced graph into ONNX Runtime's transformer kernels; returns fused counts."""
    from onnxruntime.transformers.optimizer import optimize_model  # type: ignore[import-untyped]

    with _quiet():
        optimised = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=0,  # graph fusions only: the session applies its own at load
        )
    optimised.save_model_to_file(str(target))
    stats: dict[str, int] = optimised.get_fused_operator_statistics()
    return {name: int(count) for name, count in stats.items() if count}


def fp32_nodes(graph_path: Path) -> list[str]:
    """MatMul nodes kept fp32 by :func:`_quantise`: the classifier head, FFN outputs.

    The quantiser turns the head's Gemm into a MatMul named ``<gemm>_MatMul``, so both
    names are listed.
    """
    import onnx

    keep: list[str] = []
    for node in onnx.load(str(graph_path), load_external_data=False).graph.node:
        if "/classifier/" in node.name and node.op_type in ("Gemm", "MatMul"):
            keep += [node.name, f"{node.name}_MatMul"]
        elif _is_ffn_output(node.op_type, node.name):
            keep.append(node.name)
    return keep


def _is_ffn_output(op_type: str, name: str) -> bool:
    """The FFN down projection (after GELU) of a BERT layer, named by the tracer."""
    ffn = name.endswith("/output/dense/MatMul") and "/attention/" not in name
    return op_type == "MatMul" and ffn


def _quantise(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the weights (activations quantised per batch at run)."""
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )
    from onnxruntime.quantization.shape_inference import (  # type: ignore[import-untyped]
        quant_pre_process,
    )

    prepared = target.with_name("model.pre.onnx")
    with _quiet():
        quant_pre_process(str(source), str(prepared))
        quantize_dynamic(
            str(prepared),
            str(target),
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=True,
            reduce_range=False,  # measured: no gain in agreement, lower accuracy
            weight_type=QuantType.QInt8,
            nodes_to_exclude=fp32_nodes(prepared),
        )
    prepared.unlink()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the optimiser's and quantiser's notes, logged on the *root* logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def export_onnx(model_dir: Path, *, int8: bool = False, opset: int = OPSET) -> ExportResult:
    """Export the encoder model saved in ``model_dir`` into ``model_dir/onnx/``.

    Raises:
        InputError: the model is not an encoder (TF-IDF and RNN models cannot be exported).
        ModelFormatError: the model directory is damaged.
    """
    model_dir = Path(model_dir)
    model = _encoder_of(model_dir)
    model_id = manifest_model_id(model_dir)
    tokenizer = model.tokenizer
    work = Path(tempfile.mkdtemp(dir=model_dir, prefix=".onnx-export-"))
    try:
        _export_fp32(model, work / RAW_FILE, opset)
        fused = _optimise(work / RAW_FILE, work / FP32_FILE, model.network.config)
        (work / RAW_FILE).unlink()
        files = [FP32_FILE]
        if int8:
            _quantise(work / FP32_FILE, work / INT8_FILE)
            files.append(INT8_FILE)
        sidecar = {
            "model_id": model_id,
            "opset": opset,
            "input_names": list(INPUT_NAMES),
            "output_name": OUTPUT_NAME,
            "n_labels": len(model.labels),
            "fused": fused,
            "max_length": int(model._max_length()),
            "cls_id": int(tokenizer.cls_token_id),
            "sep_id": int(tokenizer.sep_token_id),
            "pad_id": int(tokenizer.pad_token_id or 0),
            "files": {name: file_sha256(work / name) for name in files},
        }
        atomic_write_text(work / SIDECAR, json.dumps(sidecar, indent=2))
        _swap_in(work, model_dir / ONNX_DIR)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = model_dir / ONNX_DIR
    return ExportResult(out / FP32_FILE, out / INT8_FILE if int8 else None, out / SIDECAR, model_id)


def _swap_in(built: Path, target: Path) -> None:
    """Replace ``target`` by the finished ``built`` folder; readers never see a mix."""
    old = target.with_name(f".{target.name}-old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    shutil.rmtree(old, ignore_errors=True)


def read_sidecar(model_dir: Path) -> dict[str, Any]:
    """The export sidecar of ``model_dir``; a missing or unreadable one is a format error."""
    path = Path(model_dir) / ONNX_DIR / SIDECAR
    if not path.is_file():
        raise ModelFormatError(
            "ONNX export",
            expected=f"{ONNX_DIR}/{SIDECAR} in {model_dir}",
            found="no ONNX export",
            fix=f"run `dxkit export {model_dir} --format onnx --int8`",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise ValueError("not an export sidecar")
    except ValueError:
        raise ModelFormatError(
            "ONNX export",
            expected=f"a JSON sidecar {SIDECAR} written by `dxkit export`",
            found="an unreadable or incomplete sidecar",
            fix=f"export again: `dxkit export {model_dir} --format onnx --int8`",
        ) from None
    return data

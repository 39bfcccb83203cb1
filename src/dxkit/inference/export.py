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
graph and not an input.

Layout written into the model directory (all or nothing: built in a temporary folder and
renamed into place)::

    onnx/model.onnx        fp32 graph
    onnx/model.int8.onnx   int8 weights (MatMul/Gemm), with --int8
    onnx/export.json       sidecar: sha256 of each file, the manifest's model_id, opset,
                           input names, label count, special token ids, max length

The sidecar ties the graph to the exact manifest it was exported from: retraining the
model changes the model_id, and :mod:`dxkit.inference.backends` then refuses the stale
graph instead of answering with the old network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
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


def _quantise(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the weights (activations quantised per batch at run)."""
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


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
        _export_fp32(model, work / FP32_FILE, opset)
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

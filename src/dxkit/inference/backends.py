"""Run an exported encoder with ONNX Runtime, and pick the fastest backend of a model.

:class:`OnnxEncoderModel` keeps the prediction half of the model contract
(``labels``, ``predict_proba``) with the same text, the same word pieces and the same
head + tail cut as :class:`dxkit.models.encoder.EncoderModel`, so answers agree with the
PyTorch model (fp32 to ~1e-6; int8 measured by ``benchmarks/speed.py``).

Why it imports neither torch nor transformers: a service that answers with the int8
graph then needs ONNX Runtime and the ``tokenizers`` library only (their Rust cores), which
keeps its memory and start-up small. Batches are padded in numpy to their longest case
(dynamic padding) and cases are sorted by length first, so a batch holds similar lengths;
a batch is cut by a *token budget* (cases x padded length), because attention memory and
time grow with the padded area, not with the number of cases.

Session modes: ``latency`` (the service: one or a few cases a call) switches ONNX Runtime's
CPU memory arena off, so the memory a rare large batch took is given back instead of being
held for the life of the process; ``throughput`` (file scoring, benchmark) keeps the arena,
which saves the allocator calls of many equal-shaped batches. Both run one operator at a
time (sequential execution, one inter-op thread): the two cores go to the intra-op
parallelism of each MatMul, which is where the time is.

Loading verifies the export sidecar (:mod:`dxkit.inference.export`): the sha256 of the
graph file, the manifest's model_id, the graph's input names and its number of outputs.
A damaged or stale graph is refused with :class:`ModelFormatError` instead of answering.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self, cast

import numpy as np

from dxkit.cases.schema import Case
from dxkit.errors import DataNotFoundError, InputError, ModelFormatError
from dxkit.features.text import case_to_text
from dxkit.inference.export import (
    FP32_FILE,
    INT8_FILE,
    ONNX_DIR,
    file_sha256,
    manifest_model_id,
    read_sidecar,
)
from dxkit.models.base import DiagnosisModel, read_manifest

Backend = Literal["auto", "torch", "onnx", "int8"]
Mode = Literal["latency", "throughput"]
MAX_TOKENS = 4096  # padded tokens per batch: 16 cases of 256, 64 of 64
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx", "int8")
ENV_BACKEND = "DXKIT_BACKEND"
_FILES = {"onnx": FP32_FILE, "int8": INT8_FILE}


def backend_from_env() -> Backend:
    """The backend forced by ``DXKIT_BACKEND`` (auto when unset): the one place it is read."""
    value = os.environ.get(ENV_BACKEND, "auto").strip().lower() or "auto"
    return _check_backend(value, ENV_BACKEND)


def _check_backend(value: str, where: str) -> Backend:
    if value not in BACKENDS:
        raise InputError(
            where,
            expected=f"one of {', '.join(BACKENDS)}",
            found=repr(value),
            fix=f"set {where} to auto (fastest available), torch, onnx or int8",
        )
    return cast(Backend, value)


def head_tail(ids: Sequence[int], budget: int) -> list[int]:
    """The rule of :func:`dxkit.models.encoder.head_tail_ids`, without importing torch.

    >>> head_tail(list(range(7)), 4)
    [0, 1, 5, 6]
    """
    if len(ids) <= budget:
        return list(ids)
    tail = budget // 2
    return [*ids[: budget - tail], *(ids[-tail:] if tail else [])]


def token_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices sorted by length, cut into batches of <= batch_size cases and <= max_tokens
    padded tokens (a single case longer than the budget still makes a batch of its own).

    >>> token_batches([5, 1, 3, 3], batch_size=8, max_tokens=8)
    [[1, 2], [3], [0]]
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:  # ascending: the newest case is the widest of its batch
        if current and (len(current) >= batch_size or (len(current) + 1) * lengths[i] > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _session_options(ort: Any, threads: int, mode: Mode) -> Any:
    """ONNX Runtime session options for ``mode`` (see module)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_mem_pattern = True
    options.enable_cpu_mem_arena = mode == "throughput"
    return options


def _format_error(what: str, found: str, model_dir: Path) -> ModelFormatError:
    return ModelFormatError(
        what,
        expected="the ONNX graph written by `dxkit export` for this very model",
        found=found,
        fix=f"export again: `dxkit export {model_dir} --format onnx --int8`",
    )


def _load_tokenizer(encoder_dir: Path) -> Any:
    """The fast tokenizer of the encoder, with its own truncation and padding switched off."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class OnnxEncoderModel:
    """An exported encoder run by ONNX Runtime (predict only; see module)."""

    kind = "encoder"

    def __init__(self, session: Any, tokenizer: Any, labels: list[str], meta: dict[str, Any]):
        self.session = session
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = int(meta["max_length"])
        self.cls_id, self.sep_id = int(meta["cls_id"]), int(meta["sep_id"])
        self.pad_id = int(meta["pad_id"])
        self.variant = str(meta.get("variant", "onnx"))
        self.model_id: str = str(meta["model_id"])
        self.trained_at: str | None = meta.get("trained_at")

    @classmethod
    def load(
        cls, path: Path, variant: str = "int8", *, threads: int = 0, mode: Mode = "latency"
    ) -> Self:
        """Load and verify ``onnx/model[.int8].onnx`` of the model directory ``path``.

        ``threads`` is the intra-op thread count (0: the usable CPUs); ``mode`` picks the
        session options (see module).

        Raises:
            DataNotFoundError: the variant was not exported.
            ModelFormatError: hash, model_id, input names or label count do not match.
        """
        import onnxruntime as ort  # type: ignore[import-untyped]

        from dxkit.models.shared import usable_cpus

        path = Path(path)
        manifest = read_manifest(path, kind="encoder")
        meta = read_sidecar(path)
        name = _FILES[variant]
        graph = path / ONNX_DIR / name
        if name not in meta["files"] or not graph.is_file():
            raise DataNotFoundError(
                f"ONNX {variant} graph",
                expected=f"{ONNX_DIR}/{name} in {path}",
                found="it was not exported",
                fix=f"run `dxkit export {path} --format onnx --int8`",
            )
        labels = [str(label) for label in manifest["labels"]]
        model_id = manifest_model_id(path)
        if meta.get("model_id") != model_id:
            found = f"a graph of model {meta.get('model_id')!r}, this manifest is {model_id!r}"
            raise _format_error("ONNX export", found + " (retrained since the export?)", path)
        if file_sha256(graph) != meta["files"][name]:
            raise _format_error(f"ONNX graph {name}", "a file whose sha256 differs", path)
        if int(meta.get("n_labels", -1)) != len(labels):
            found = f"{meta.get('n_labels')} outputs for {len(labels)} labels"
            raise _format_error("ONNX export", found, path)
        options = _session_options(ort, threads or usable_cpus(), mode)
        try:
            session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own types for a graph it cannot read
            raise _format_error(f"ONNX graph {name}", type(exc).__name__, path) from None
        inputs = [i.name for i in session.get_inputs()]
        outputs = session.get_outputs()
        width = outputs[0].shape[-1] if outputs else None
        if inputs != list(meta["input_names"]) or width != len(labels):
            found = f"inputs {inputs} and {width} outputs"
            raise _format_error(f"ONNX graph {name}", found, path)
        meta = {**meta, "variant": variant, "trained_at": manifest.get("trained_at")}
        return cls(session, _load_tokenizer(path / "encoder"), labels, meta)

    def case_texts(self, cases: Sequence[Case]) -> list[str]:
        """The text the encoder reads for each case (as the PyTorch model)."""
        return [case_to_text(case, flag_keys=False) for case in cases]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """[CLS] head + tail word pieces [SEP], at most ``max_length`` ids."""
        budget = self.max_length - 2
        encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [[self.cls_id, *head_tail(e.ids, budget), self.sep_id] for e in encoded]

    def logits(
        self, ids: Sequence[Sequence[int]], batch_size: int = 64, max_tokens: int = MAX_TOKENS
    ) -> np.ndarray:
        """Logits of id lists, in input order, run in length-sorted, padded batches."""
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        lengths = [len(x) for x in ids]
        for batch in token_batches(lengths, batch_size, max_tokens):
            width = max(lengths[i] for i in batch)
            input_ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask}
            out[batch] = self.session.run(None, feed)[0]
        return out

    def predict_proba(self, cases: Sequence[Case], batch_size: int = 64) -> np.ndarray:
        """Probabilities, shape (n_cases, n_labels), columns in ``labels`` order."""
        if len(cases) == 0:
            return np.zeros((0, len(self.labels)))
        logits = self.logits(self.token_ids(self.case_texts(cases)), batch_size).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        result: np.ndarray = proba / proba.sum(axis=1, keepdims=True)
        return result

    def fit(self, *args: Any, **kwargs: Any) -> Self:
        """Exported graphs are for inference only."""
        raise InputError(
            "ONNX model",
            expected="a PyTorch model to train",
            found="an exported ONNX graph (inference only)",
            fix="train with `dxkit train --model encoder`, then export again",
        )

    def save(self, path: Path) -> None:
        """An exported graph is saved by :func:`dxkit.inference.export.export_onnx`."""
        self.fit()


def _with_calibration(model: OnnxEncoderModel, model_dir: Path) -> DiagnosisModel:
    """Wrap in the manifest's temperature/conformal sets, as ``load_model`` does."""
    manifest = read_manifest(model_dir)
    calibration = manifest.get("calibration")
    if not calibration:
        return cast(DiagnosisModel, model)
    from dxkit.calibrate.conformal import ConformalPredictor
    from dxkit.calibrate.temperature import CalibratedModel

    report = {k: v for k, v in calibration.items() if k != "temperature"}
    conformal = manifest.get("conformal")
    predictor = ConformalPredictor.from_dict(conformal) if conformal else None
    inner = cast(DiagnosisModel, model)
    return CalibratedModel(inner, float(calibration["temperature"]), report, predictor)


def available_backends(model_dir: Path) -> list[str]:
    """Backends this model directory offers, fastest first (int8, onnx, torch)."""
    model_dir = Path(model_dir)
    if read_manifest(model_dir).get("kind") != "encoder":
        return ["torch"]
    try:
        files = read_sidecar(model_dir)["files"]
        import onnxruntime  # noqa: F401
    except (ModelFormatError, ImportError):
        return ["torch"]
    found = [v for v in ("int8", "onnx") if _FILES[v] in files]
    return [*found, "torch"]


def select_backend(
    model_dir: Path, prefer: str | None = None, *, threads: int = 0, mode: Mode = "latency"
) -> DiagnosisModel:
    """The model of ``model_dir`` on the fastest backend: int8 > onnx fp32 > torch.

    ``prefer`` forces one (``auto`` picks); None reads ``DXKIT_BACKEND``. A model kind
    without an ONNX form (TF-IDF, RNN) always runs as it is under ``auto``. ``mode``:
    ``latency`` for a service, ``throughput`` for scoring files (see module).

    Raises:
        InputError: an unknown backend name, or ONNX forced on a non-encoder model.
        DataNotFoundError: the forced variant was not exported.
        ModelFormatError: the exported graph is damaged or belongs to another model.
    """
    model_dir = Path(model_dir)
    choice = backend_from_env() if prefer is None else _check_backend(prefer, "backend")
    offered = available_backends(model_dir)
    if choice == "auto":
        choice = cast(Backend, offered[0])
    if choice == "torch":
        from dxkit.models.base import load_model

        return load_model(model_dir)
    if read_manifest(model_dir).get("kind") != "encoder":
        raise InputError(
            "backend",
            expected="torch (or auto) for a model without an ONNX form",
            found=f"backend {choice} for a {read_manifest(model_dir).get('kind')!r} model",
            fix=f"unset {ENV_BACKEND} or set it to auto",
        )
    model = OnnxEncoderModel.load(model_dir, choice, threads=threads, mode=mode)
    return _with_calibration(model, model_dir)


def describe(model: DiagnosisModel) -> str:
    """A short name of the backend a loaded model runs on (for logs and /readyz)."""
    inner = getattr(model, "inner", model)
    if isinstance(inner, OnnxEncoderModel):
        return f"onnxruntime-{inner.variant}"
    return f"torch-{type(inner).__name__}"


def sidecar_summary(model_dir: Path) -> str:
    """The sidecar as one JSON line (for `dxkit export` output)."""
    return json.dumps(read_sidecar(model_dir), sort_keys=True)

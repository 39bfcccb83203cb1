"""One backend of the speed benchmark, measured in a process of its own.

Why a subprocess per backend *and task*: peak memory is a property of a process. The
``single`` task is the service (one case a call, latency mode) and the ``batch`` task is
file scoring (all validation cases, throughput mode); measured in one process, the
service's peak would be the batch run's. The ONNX backends never import torch or
transformers here (torch alone is ~300 MB resident). Run by :mod:`dxkit.inference.bench`;
prints one JSON object on its last line.

Backends: ``pipeline`` (Hugging Face ``pipeline("text-classification")`` in eager
PyTorch over the same fine-tuned weights, the usual way: ``pipe(texts, batch_size=16)``
for the batch figure, ``pipe(text)`` per case for latency, truncating at the model's
``max_length``), ``torch`` (dxkit's PyTorch path), ``onnx`` and ``int8`` (ONNX Runtime).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dxkit.cases.io import read_cases
from dxkit.cases.schema import Case
from dxkit.features.text import case_to_text

PIPELINE_BATCH = 16


def hf_pipeline(model_dir: Path, labels: list[str], max_length: int) -> Any:
    """The fine-tuned encoder + head as a Hugging Face text-classification pipeline."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer, BertModel, BertPreTrainedModel, pipeline
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPooledBertForSequenceClassification(BertPreTrainedModel):  # type: ignore[no-untyped-call]
        """``BertForSequenceClassification`` with dxkit's masked-mean pooling."""

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.dropout = torch.nn.Dropout(0.1)
            self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
            self.post_init()  # type: ignore[no-untyped-call]

        def forward(self, input_ids: Any = None, attention_mask: Any = None, **kw: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))

    encoder_dir = model_dir / "encoder"
    encoder = AutoModel.from_pretrained(encoder_dir)
    config = encoder.config
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    model = MeanPooledBertForSequenceClassification(config)
    model.bert.load_state_dict(encoder.state_dict(), strict=False)
    model.classifier.load_state_dict(load_file(str(encoder_dir / "head.safetensors")))
    model.eval()  # type: ignore[no-untyped-call]
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
    kwargs = {"truncation": True, "max_length": max_length, "top_k": 1}

    def top1(cases: list[Case]) -> list[str]:
        texts = [case_to_text(c, flag_keys=False) for c in cases]
        if len(texts) == 1:  # a single case, called as a service would
            one: Any = pipe(texts[0], **kwargs)
            return [one[0]["label"]]
        out: Any = pipe(texts, batch_size=PIPELINE_BATCH, **kwargs)
        return [row[0]["label"] for row in out]

    return top1


def load_backend(
    name: str, model_dir: Path, mode: str = "throughput"
) -> tuple[Callable[[list[Case]], list[str]], Any]:
    """A ``cases -> top-1 labels`` function for the backend, and its underlying model."""
    if name == "pipeline":
        from dxkit.models.base import read_manifest

        manifest = read_manifest(model_dir)
        max_length = int(manifest["config"]["max_length"])
        return hf_pipeline(model_dir, list(manifest["labels"]), max_length), None
    if name == "torch":
        from dxkit.models.encoder import EncoderModel

        model: Any = EncoderModel.load(model_dir)
    else:
        from dxkit.inference.backends import OnnxEncoderModel

        model = OnnxEncoderModel.load(
            model_dir, name, mode="latency" if mode == "latency" else "throughput"
        )

    def top1(cases: list[Case]) -> list[str]:
        proba = model.predict_proba(cases)
        return [model.labels[i] for i in proba.argmax(axis=1)]

    return top1, model


def _latency(predict: Callable[[list[Case]], list[str]], case: Case, reps: int) -> list[float]:
    for _ in range(3):
        predict([case])
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        predict([case])
        times.append((time.perf_counter() - start) * 1000)
    return times


def _pct(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1], 1)


def _profile(name: str, predict: Callable[[list[Case]], list[str]], cases: list[Case]) -> str:
    """Where inference time goes: torch.profiler for torch, cProfile otherwise."""
    if name == "torch":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            predict(cases)
        table: str = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8)
        return table
    profiler = cProfile.Profile()
    profiler.enable()
    predict(cases)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(8)
    lines = [ln for ln in stream.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start:])


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    ``VmHWM`` of /proc where available: ``ru_maxrss`` can carry over the parent's peak
    into a child started by fork + exec, which would charge the benchmark's own memory
    to every backend.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_batch(args: argparse.Namespace) -> dict[str, Any]:
    """Throughput over all cases (after a warm-up), their top-1 labels, optional profile."""
    cases = read_cases(args.cases)
    predict, _ = load_backend(args.backend, args.model, "throughput")
    predict(cases[:16])  # warm-up: lazy initialisation, allocator
    start = time.perf_counter()
    top1 = predict(cases)
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {"cases_per_s": round(len(cases) / seconds, 1), "top1": top1}
    if args.profile:
        result["profile"] = _profile(args.backend, predict, cases[:64])
    return result


def run_single(args: argparse.Namespace) -> dict[str, Any]:
    """Single-case latency (p50/p95 in ms) of each latency case, as a service calls it."""
    predict, _ = load_backend(args.backend, args.model, "latency")
    result: dict[str, Any] = {}
    for case in read_cases(args.latency_cases):
        times = _latency(predict, case, args.reps)
        result[f"lat_{case.case_id}"] = {"p50": _pct(times, 50), "p95": _pct(times, 95)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="one backend of the speed benchmark")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--task", choices=("batch", "single"), required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--latency-cases", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    result = run_batch(args) if args.task == "batch" else run_single(args)
    import sys

    heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
    result.update(backend=args.backend, peak_rss_mb=peak_rss_mb(), imported=heavy)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

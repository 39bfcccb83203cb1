"""Speed benchmark: HF pipeline vs dxkit's torch path, ONNX fp32 and ONNX int8.

One run, one machine, the same cases for every backend. Reported per backend: batch
throughput (cases/s over the validation cases), single-case p50/p95 latency for a
~64- and a ~256-word-piece case, peak memory of the service (single cases) and of the
batch run, each the peak RSS of a fresh process of its own, the ratio to the Hugging Face
pipeline, and top-1 agreement with the torch path and accuracy on the validation cases.

Quiet machine: timings on a shared machine measure its other users. Before each
measurement the 1-minute load average is printed and, while it is above
``QUIET_LOAD``, the benchmark waits (at most ``QUIET_WAIT_S``); the load averages at the
start of each measurement are printed with the results. Also the training throughput of
the quick fine-tune and a profile of where inference time goes (torch.profiler for torch,
cProfile for int8).

Data: DDXPlus case text from the shared data folder when present (its ``patients_dev.csv``
subset), else the embedded synthetic generator. Without ``--model`` a MiniLM-L6 encoder is
fine-tuned for one epoch (4 of 6 layers frozen) and cached under ``--work`` (default: a
folder in the system temp dir), so a rerun measures inference only.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dxkit.cases.io import write_cases_jsonl
from dxkit.cases.schema import Case, LabeledCase
from dxkit.inference.bench_worker import PIPELINE_BATCH

BACKENDS = ("pipeline", "torch", "onnx", "int8")
MAX_TRAIN = 1400
QUIET_LOAD = 1.5
QUIET_WAIT_S = 120.0


def wait_for_quiet(limit: float = QUIET_LOAD, patience: float = QUIET_WAIT_S) -> tuple[float, ...]:
    """Wait (at most ``patience`` s) until the 1-min load average is <= ``limit``.

    Returns the load averages (1, 5, 15 min) when the wait ended, quiet or not.
    """
    deadline = time.monotonic() + patience
    load = os.getloadavg()
    while load[0] > limit and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()
    return tuple(round(x, 2) for x in load)


def shared_data() -> Path:
    """The shared public data folder (``DXKIT_SHARED_DATA`` or beside the repository)."""
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return Path(os.environ.get("DXKIT_SHARED_DATA", default))


def load_cases(n_val: int) -> tuple[str, list[LabeledCase], list[LabeledCase]]:
    """(data set name, training cases, validation cases), shuffled with a fixed seed."""
    from dxkit.pipeline import keep_valid

    ddxplus = shared_data() / "ddxplus" / "patients_dev.csv"
    if ddxplus.is_file():
        from dxkit.cases.benchmarks import load_ddxplus

        name, labeled = "ddxplus", load_ddxplus(ddxplus)
    else:
        from dxkit.cases.synthetic import CohortConfig, generate_cohort

        name, labeled = "synthetic", generate_cohort(CohortConfig(n=2000, seed=20261123))
    labeled, _ = keep_valid(labeled)
    random.Random(0).shuffle(labeled)
    val = labeled[:n_val]
    return name, labeled[n_val : n_val + MAX_TRAIN], val


def train_model(train: list[LabeledCase], directory: Path) -> float:
    """Fine-tune MiniLM-L6 for one epoch into ``directory``; returns training cases/s."""
    from dxkit.models.encoder import EncoderModel
    from dxkit.models.encoder_config import EncoderConfig

    config = EncoderConfig(epochs=1, freeze_layers=4, val_fraction=0.0, progress=False)
    start = time.perf_counter()
    model = EncoderModel(config).fit([lc.case for lc in train], [lc.label for lc in train])
    speed = len(train) / (time.perf_counter() - start)
    model.save(directory)
    return speed


def latency_cases(model_dir: Path, source: list[Case]) -> list[Case]:
    """Cases whose text is ~64 and ~256 word pieces (cut from a real long case)."""
    from transformers import AutoTokenizer

    from dxkit.features.text import case_to_text

    tokenizer = AutoTokenizer.from_pretrained(model_dir / "encoder")
    longest = max(source, key=lambda c: len(case_to_text(c, flag_keys=False)))
    ids = tokenizer(case_to_text(longest, flag_keys=False), add_special_tokens=False)["input_ids"]
    out = []
    for size in (64, 256):
        notes = str(tokenizer.decode(ids[: size - 2]))
        case = Case(case_id=f"{size}", notes=notes)
        while len(tokenizer(case_to_text(case, flag_keys=False))["input_ids"]) > size:
            notes = notes.rsplit(" ", 1)[0]
            case = Case(case_id=f"{size}", notes=notes)
        out.append(case)
    return out


def run_worker(
    backend: str, task: str, model_dir: Path, work: Path, profile: bool
) -> dict[str, Any]:
    """Measure one backend's ``task`` (batch | single) in a fresh process; its JSON result."""
    command = [
        sys.executable, "-m", "dxkit.inference.bench_worker", "--backend", backend,
        "--task", task,
        "--model", str(model_dir), "--cases", str(work / "val.jsonl"),
        "--latency-cases", str(work / "latency.jsonl"),
    ]  # fmt: skip
    if profile:
        command.append("--profile")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} {task} worker failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(
    results: dict[str, dict[str, Any]], val: list[LabeledCase], meta: dict[str, Any]
) -> None:
    """Print the comparison table, ratios, parity, load averages and profiles."""
    truth = [lc.label for lc in val]
    base = results["pipeline"]
    ref = results["torch"]["top1"]
    print(f"\n{'backend':9s} {'cases/s':>7s} {'x pipe':>6s} {'p50@64':>6s} {'p95@64':>6s} "
          f"{'p50@256':>7s} {'p95@256':>7s} {'x p95':>6s} {'svc MB':>6s} {'batch MB':>8s} "
          f"{'agree':>7s} {'top1':>5s}  load(batch; single)")  # fmt: skip
    for name, r in results.items():
        agree = sum(a == b for a, b in zip(r["top1"], ref, strict=True)) / len(ref)
        accuracy = sum(a == b for a, b in zip(r["top1"], truth, strict=True)) / len(truth)
        l64, l256 = r["lat_64"], r["lat_256"]
        loads = "; ".join(" ".join(f"{x:.2f}" for x in r[k]) for k in ("load_batch", "load_single"))
        print(
            f"{name:9s} {r['cases_per_s']:7.1f} {r['cases_per_s'] / base['cases_per_s']:5.2f}x "
            f"{l64['p50']:6.1f} {l64['p95']:6.1f} {l256['p50']:7.1f} {l256['p95']:7.1f} "
            f"{base['lat_256']['p95'] / l256['p95']:5.2f}x {r['peak_service_mb']:6.0f} "
            f"{r['peak_batch_mb']:8.0f} {agree:7.2%} {accuracy:5.3f}  {loads}"
        )
    print("latency: ms per single case; 'x p95': pipeline p95@256 / this p95@256; 'svc MB' / "
          "'batch MB': peak RSS of a fresh process answering single cases / scoring all cases; "
          "'agree': top-1 agreement with the dxkit torch path; load: 1/5/15-min load "
          "averages when each measurement started")  # fmt: skip
    print(
        f"pipeline: transformers pipeline('text-classification'), pipe(texts, "
        f"batch_size={PIPELINE_BATCH}) for cases/s, pipe(text) per case for latency"
    )
    speed, n_train = meta.get("train_cases_per_s", "n/a"), meta.get("n_train", "?")
    print(f"training throughput: {speed} cases/s "
          f"(1 epoch, MiniLM-L6, 4 of 6 layers frozen, {n_train} cases)")  # fmt: skip
    for name in ("torch", "int8"):
        if "profile" in results[name]:
            print(f"\nprofile of {name} on 64 cases:\n{results[name]['profile']}")


def measure(backend: str, model_dir: Path, work: Path) -> dict[str, Any]:
    """Both tasks of one backend, each in a fresh process started on a quiet machine."""
    result: dict[str, Any] = {}
    for task in ("batch", "single"):
        load = wait_for_quiet()
        print(f"  {backend} {task}: load average {load}", flush=True)
        profile = task == "batch" and backend in ("torch", "int8")
        out = run_worker(backend, task, model_dir, work, profile)
        result.update(out)
        result[f"load_{task}"] = load
        result[f"peak_{'service' if task == 'single' else task}_mb"] = out["peak_rss_mb"]
        if backend in ("onnx", "int8") and out["imported"]:
            raise RuntimeError(f"the {backend} worker imported {out['imported']}")
    return result


def run_benchmark(
    *, model_dir: Path | None = None, n_cases: int = 400, work: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Run the whole benchmark and print it; returns the per-backend results."""
    from dxkit.inference.export import export_onnx, read_sidecar
    from dxkit.models.shared import usable_cpus

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(work or Path(tempfile.gettempdir()) / "dxkit-bench")
    work.mkdir(parents=True, exist_ok=True)
    name, train, val = load_cases(n_cases)
    meta_file = work / "train.json"
    if model_dir is None:
        model_dir = work / f"encoder-{name}-{len(train)}"
        if not (model_dir / "dxkit-model.json").is_file():
            print(f"fine-tuning MiniLM-L6 on {len(train)} {name} cases (1 epoch)", flush=True)
            speed = train_model(train, model_dir)
            meta_file.write_text(json.dumps({"train_cases_per_s": round(speed, 1),
                                             "n_train": len(train)}))  # fmt: skip
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    try:
        sidecar = read_sidecar(model_dir)  # an export without "fused" predates fusion
        fresh = "model.int8.onnx" in sidecar["files"] and "fused" in sidecar
        from dxkit.inference.backends import OnnxEncoderModel

        OnnxEncoderModel.load(model_dir, "int8")
    except Exception:
        fresh = False
    if not fresh:
        start = time.perf_counter()
        export_onnx(model_dir, int8=True)
        print(f"exported fp32 + int8 in {time.perf_counter() - start:.1f} s", flush=True)
    write_cases_jsonl(work / "val.jsonl", [lc.case for lc in val])
    write_cases_jsonl(work / "latency.jsonl", latency_cases(model_dir, [lc.case for lc in val]))
    print(f"data: {name}, {len(val)} validation cases; {usable_cpus()} CPU cores; "
          f"model {model_dir}", flush=True)  # fmt: skip
    results = {}
    for backend in BACKENDS:
        start = time.perf_counter()
        results[backend] = measure(backend, model_dir, work)
        print(f"  measured {backend} in {time.perf_counter() - start:.0f} s", flush=True)
    report(results, val, meta)
    return results

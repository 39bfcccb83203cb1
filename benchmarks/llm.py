"""Top-1 / top-3 / DDF1 of a model with and without an LLM's re-ranking, and latency.

The model (TF-IDF) is trained on the training split; the LLM is asked about every
validation and test case; the combination weight is fitted on validation
(:func:`dxkit.llm.combine.fit_weight`, w = 0 allowed) and scored on test. A case the LLM
fails on keeps the model's probabilities, as dxkit does at run time.

    python benchmarks/llm.py --base-url http://127.0.0.1:8000/v1 --model NAME \
        [--data synthetic|ddxplus] [--n-val 50] [--n-test 50]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console

from dxkit.cases.schema import LabeledCase
from dxkit.evaluate.differential import differential_metrics
from dxkit.evaluate.metrics import top_k_accuracy
from dxkit.knowledge.loader import load_knowledge_base
from dxkit.llm.assist import AssessmentRejected, request_assessment
from dxkit.llm.combine import combine_probabilities, fit_weight, rank_distribution
from dxkit.models.llm import LLMClient, LLMSettings, LLMUnavailable
from dxkit.pipeline import fit_model, keep_valid
from dxkit.report.diagnose import diagnose

DDXPLUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ddxplus"


def load_splits(source: str, n_train: int, n_eval: int) -> list[list[LabeledCase]]:
    """Train / validation / test cases from the synthetic cohort or DDXPlus."""
    if source == "ddxplus":
        from dxkit.cases.io import load_labeled

        cases, _ = keep_valid(
            load_labeled(DDXPLUS / "patients_dev.csv", "ddxplus", limit=n_train + 2 * n_eval)
        )
        if not all(lc.case.deidentified for lc in cases):
            from dxkit.deid.cases import deidentify_cases

            cases, _ = deidentify_cases(cases)
        return [cases[:n_train], cases[n_train : n_train + n_eval], cases[n_train + n_eval :]]
    from dxkit.cases.synthetic import CohortConfig, generate_cohort

    return [
        generate_cohort(CohortConfig(n=n, seed=s))
        for s, n in ((0, n_train), (1, n_eval), (2, n_eval))
    ]


def llm_distributions(client: LLMClient, model: object, cases: list[LabeledCase], p: np.ndarray):  # type: ignore[no-untyped-def]
    """p_llm per case (the model's row where the LLM failed), latencies, failure counts."""
    kb = load_knowledge_base()
    labels: list[str] = model.labels  # type: ignore[attr-defined]
    index = {}
    for i, label in enumerate(labels):
        entry = kb.resolve(label)
        if entry is not None:
            index.setdefault(entry.id, i)
    answers = diagnose(model, [lc.case for lc in cases], top=5, strict=False)  # type: ignore[arg-type]
    q = p.copy()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    for row, (lc, answer) in enumerate(zip(cases, answers, strict=True)):
        started = time.perf_counter()
        try:
            found = request_assessment(client, lc.case, answer, kb=kb)
        except (LLMUnavailable, AssessmentRejected) as exc:
            failures[exc.kind] += 1
            continue
        finally:
            latencies.append(time.perf_counter() - started)
        ranking = [
            index[e.id] for e in [*found.ranking, *(a for a, _ in found.additions)] if e.id in index
        ]
        q[row] = rank_distribution(ranking, len(labels))
    return q, latencies, failures


def scores(proba: np.ndarray, labels: list[str], cases: list[LabeledCase]) -> dict[str, float]:
    """top-1, top-3 and (where references exist) DDF1."""
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index.get(lc.label, -1) for lc in cases])
    keep = y >= 0
    out = {
        "top1": top_k_accuracy(y[keep], proba[keep], 1),
        "top3": top_k_accuracy(y[keep], proba[keep], 3),
    }
    refs = [lc.differential for lc in cases]
    if any(refs):
        dd = differential_metrics(proba, labels, [lc.label for lc in cases], refs)
        out["ddf1"] = dd.get("ddf1", float("nan"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key", default=os.environ.get("DXKIT_LLM_API_KEY", ""))
    parser.add_argument("--data", choices=["synthetic", "ddxplus"], default="synthetic")
    parser.add_argument("--n-train", type=int, default=1500)
    parser.add_argument("--n-val", type=int, default=30)
    parser.add_argument("--n-test", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    console = Console()
    if args.data == "ddxplus" and not DDXPLUS.is_dir():
        raise SystemExit(f"DDXPlus not found at {DDXPLUS}")
    train, val, test = load_splits(args.data, args.n_train, args.n_val)
    test = test[: args.n_test]
    model, _ = fit_model("tfidf", train, seed=0, console=console, soft=False, calibrate=False)
    settings = LLMSettings(args.base_url, args.model, args.api_key, timeout_s=args.timeout)
    client = LLMClient(settings)
    results = {}
    all_latency: list[float] = []
    all_failures: Counter[str] = Counter()
    for name, cases in (("val", val), ("test", test)):
        p = model.predict_proba([lc.case for lc in cases])  # (n_cases, n_labels)
        q, latency, failures = llm_distributions(client, model, cases, p)
        results[name] = (cases, p, q)
        all_latency += latency
        all_failures += failures
    cases, p_val, q_val = results["val"]
    index = {label: i for i, label in enumerate(model.labels)}
    y_val = np.array([index.get(lc.label, 0) for lc in cases])
    fit = fit_weight(p_val, q_val, y_val)
    cases, p_test, q_test = results["test"]
    alone = scores(p_test, model.labels, cases)
    combined = scores(combine_probabilities(p_test, q_test, fit.weight), model.labels, cases)
    llm_only = scores(q_test, model.labels, cases)
    console.print(f"data: {args.data}; train {len(train)}, val {len(val)}, test {len(cases)} cases")
    console.print(
        f"LLM: {args.model} at {args.base_url}; "
        f"fitted weight w = {fit.weight:.2f} (val NLL {fit.nll:.3f})"
    )
    for title, row in (
        ("model alone", alone),
        ("LLM ranking only", llm_only),
        ("model + LLM", combined),
    ):
        console.print(f"{title:18s} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
    lat = np.array(all_latency) if all_latency else np.zeros(1)
    console.print(
        f"latency per LLM call: mean {lat.mean():.3f}s, p50 {np.median(lat):.3f}s, "
        f"p95 {np.quantile(lat, 0.95):.3f}s over {len(all_latency)} calls; "
        f"failures: {dict(all_failures) or 'none'}"
    )
    client.close()


if __name__ == "__main__":
    main()

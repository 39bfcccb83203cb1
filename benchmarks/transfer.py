"""How well the default model, trained only on the synthetic cohort, reads real text.

The default model never sees a public data set. This script scores it on the
human-written (Symptom2Disease), rendered-questionnaire (DDXPlus) and Chinese symptom
(Dxy / MZ-4 / MZ-10) sets by mapping each data-set label to its knowledge-base condition.
Only labels the knowledge base covers are scored. A random guess over the model's
labels is printed beside each figure as the peer measured in the same run.

    python benchmarks/transfer.py [--data-root ../shared/data] [--n 3000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from dxkit.cases.io import load_labeled
from dxkit.cases.synthetic import CohortConfig
from dxkit.knowledge import load_knowledge_base
from dxkit.models.default import DEFAULT_COHORT, train_default_model
from dxkit.pipeline import keep_valid

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETS = {
    "Symptom2Disease": ("symptom2disease/symptom2disease_dev.csv", "symptom2disease"),
    "DDXPlus": ("ddxplus/patients_dev.csv", "ddxplus"),
    "Dxy": ("zh_meddialog_diagnosis/dxy/train_set.json", "zh"),
    "MZ-4": ("zh_meddialog_diagnosis/mz4/train_set.json", "zh"),
    "MZ-10": ("zh_meddialog_diagnosis/mz10/train_set.json", "zh"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--n", type=int, default=DEFAULT_COHORT.n, help="synthetic cohort size")
    parser.add_argument("--out", type=Path, default=Path("dxkit-output/transfer-model"))
    args = parser.parse_args()
    if not args.data_root.is_dir():
        sys.exit(f"data root {args.data_root} not found; pass --data-root PATH")
    console = Console()
    started = time.perf_counter()
    config = CohortConfig(n=args.n, seed=DEFAULT_COHORT.seed, noise=DEFAULT_COHORT.noise)
    model = train_default_model(args.out, config)
    console.print(f"default model: {args.n} synthetic cases, {time.perf_counter() - started:.0f}s")
    kb = load_knowledge_base()
    position = {label: i for i, label in enumerate(model.labels)}
    rows = ["| data set | labels covered | cases scored | top-1 | top-3 | random top-1 |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for name, (rel, fmt) in SETS.items():
        labeled, _ = keep_valid(load_labeled(args.data_root / rel, fmt))
        mapped = []
        for lc in labeled:
            cond = kb.resolve(lc.label)
            if cond is not None and cond.name in position:
                mapped.append((lc.case, position[cond.name]))
        labels = {lc.label for lc in labeled}
        covered = {lab for lab in labels if kb.resolve(lab) is not None}
        if not mapped:
            rows.append(f"| {name} | 0/{len(labels)} | 0 | - | - | - |")
            continue
        proba = model.predict_proba([case for case, _ in mapped])  # (n, n_labels)
        truth = np.array([y for _, y in mapped])
        ranked = np.argsort(-proba, axis=1)
        top1 = float(np.mean(ranked[:, 0] == truth))
        top3 = float(np.mean((ranked[:, :3] == truth[:, None]).any(axis=1)))
        rows.append(
            f"| {name} | {len(covered)}/{len(labels)} | {len(mapped)} | {top1:.3f} | "
            f"{top3:.3f} | {1 / len(model.labels):.3f} |"
        )
    print("\n".join(rows))
    console.print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()

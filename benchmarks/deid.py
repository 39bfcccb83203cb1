"""De-identification: dxkit's detector against out-of-the-box Presidio, as measured.

Not a test: every figure comes from the run. Three parts:

1. Held-out labelled synthetic notes (seed 2026, never used while developing the
   recognizers): entity and token scores per kind for dxkit and for Presidio's predefined
   recognizers (no spaCy NER offline, so the peer finds no names or places), the share of
   protected clinical segments touched, speed, and the issue's targets.
2. Over-redaction on real clinical text without real identifiers: MTSamples
   transcriptions and the Chinese MedDialog diagnosis sets (symptom slots only, so each
   record is written out as a short complaint/inquiry text). Every flagged token there is
   clinical content lost; the most frequent flagged strings are printed as the evidence.
3. The three replacement policies: notes where a second pass changes the first pass's
   output, and whether surrogate dates keep the interval between a note's first two dates.

    python benchmarks/deid.py                   # n=2000, a few minutes on 2 cores
    python benchmarks/deid.py --n 300 --json deid.json
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dxkit.deid.dates import parse_date_text
from dxkit.deid.engine import MIN_SCORE, Detector
from dxkit.deid.evaluation import (
    HELD_OUT_SEED,
    EvaluationReport,
    compare_detectors,
    over_redaction,
    presidio_baseline,
)
from dxkit.deid.replace import Deidentifier, DeidResult, Policy
from dxkit.deid.synthetic import LabelledNote, generate_labelled_notes
from dxkit.deid.types import PhiKind, PhiSpan
from dxkit.models.base import atomic_write_text

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MTSAMPLES = "mtsamples_partial/mtsamples_first321.csv"
ZH_SETS = ("dxy", "mz4", "mz10")
Detect = Callable[[str], Sequence[PhiSpan]]


def mtsamples(root: Path) -> list[str]:
    """The ``transcription`` column of the MTSamples prefix (sample reports, no real PHI)."""
    with (root / MTSAMPLES).open(encoding="utf-8", newline="") as handle:
        return [row["transcription"] for row in csv.DictReader(handle) if row["transcription"]]


def _zh_text(record: dict[str, Any]) -> str:
    """A short Chinese complaint + inquiry note rebuilt from one record's symptom slots."""
    said = "、".join(s for s, v in record["exp_sxs"].items() if v == "1")
    asked = record["imp_sxs"]
    parts = [f"主诉：{said}。" if said else ""]
    for word, value in (("有", "1"), ("无", "0"), ("不确定", "2")):
        found = "、".join(s for s, v in asked.items() if v == value)
        parts.append(f"问诊{word}{found}。" if found else "")
    parts.append(f"诊断：{record['label']}。")
    return "".join(parts)


def meddialog(root: Path, per_set: int) -> list[str]:
    """The first ``per_set`` records of each Chinese diagnosis set, as texts."""
    texts = []
    for name in ZH_SETS:
        path = root / "zh_meddialog_diagnosis" / name / "train_set.json"
        records = json.loads(path.read_text(encoding="utf-8"))[:per_set]
        texts += [_zh_text(record) for record in records]
    return texts


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_table(reports: dict[str, EvaluationReport]) -> str:
    """Micro rows of several detectors side by side, as a Markdown table."""
    rows = [
        "| detector | ent P | ent R | ent F1 | tok P | tok R | tok F1 | protected touched "
        "| ms/note | targets met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, report in reports.items():
        e, t, s = report.scores.micro.entity, report.scores.micro.token, report.scores
        met = sum(ok for _, _, ok in report.targets.values())
        rows.append(
            f"| {name} | {_cell(e.precision)} | {_cell(e.recall)} | {_cell(e.f1)} "
            f"| {_cell(t.precision)} | {_cell(t.recall)} | {_cell(t.f1)} "
            f"| {s.protected_touched}/{s.protected_total} | {report.ms_per_note:.1f} "
            f"| {met}/{len(report.targets)} |"
        )
    return "\n".join(rows)


def print_over_redaction(name: str, result: dict[str, Any], unit: str) -> None:
    """One block: rates, counts by kind and the most frequent flagged strings."""
    print(
        f"{name}: {result['texts']} texts, {result['tokens']:,} {unit}; flagged "
        f"{result['flagged_tokens']:,} ({_cell(result['flagged_fraction'], 4)}); "
        f"{_cell(result['spans_per_1000_tokens'], 2)} spans per 1,000 {unit}"
    )
    print(f"  by kind: {result['by_kind'] or 'none'}")
    for kind, pairs in result["top"].items():
        shown = ", ".join(f"{json.dumps(value, ensure_ascii=False)}×{n}" for value, n in pairs)
        print(f"  {kind}: {shown}")


def _interval_kept(note: LabelledNote, deid: Deidentifier, out: DeidResult) -> bool | None:
    """Whether the days between the note's first two full dates survive; None: < 2 dates."""
    originals = [s.text(note.text) for s in out.spans if s.kind is PhiKind.DATE]
    full = [(text, day) for text in originals if (day := parse_date_text(text)) is not None][:2]
    if len(full) < 2:
        return None
    moved = [deid.book.replace(PhiKind.DATE, text) for text, _ in full]  # the issued ones
    new = [parse_date_text(text) for text in moved]
    if not all(text in out.text for text in moved) or new[0] is None or new[1] is None:
        return False
    return new[1] - new[0] == full[1][1] - full[0][1]


def policy_checks(notes: Sequence[LabelledNote], detector: Detector) -> dict[str, Any]:
    """Idempotency of each policy and interval survival under surrogate dates."""
    result: dict[str, Any] = {"notes": len(notes), "changed_by_second_pass": {}}
    kept: list[bool] = []
    with_dates = 0
    for policy in Policy:
        changed = 0
        for index, note in enumerate(notes):
            deid = Deidentifier(
                policy, key="benchmark-key-0123456789", patient_id=str(index), detector=detector
            )
            first = deid.deidentify(note.text)
            changed += deid.deidentify(first.text).text != first.text
            if policy is Policy.SURROGATE:
                with_dates += sum(s.kind is PhiKind.DATE for s in first.spans) >= 2
                verdict = _interval_kept(note, deid, first)
                kept += [] if verdict is None else [verdict]
        result["changed_by_second_pass"][policy.value] = changed
    result["date_intervals"] = {
        "notes_with_two_dates": with_dates,
        "notes_with_two_full_dates": len(kept),
        "interval_kept": sum(kept),
        "fraction": sum(kept) / len(kept) if kept else None,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="held-out labelled notes")
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--policy-notes", type=int, default=200)
    parser.add_argument("--zh-records", type=int, default=100, help="records per Chinese set")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    started = time.perf_counter()
    out: dict[str, Any] = {"n": args.n, "seed": args.seed}

    notes = generate_labelled_notes(args.n, seed=args.seed)
    detector = Detector()
    detectors: dict[str, Detect] = {
        "dxkit": detector.detect,
        "presidio (out of the box)": presidio_baseline(),
        f"presidio (score >= {MIN_SCORE})": presidio_baseline(MIN_SCORE),
    }
    reports = compare_detectors(detectors, notes, args.seed)
    out["held_out"] = {name: report.to_dict() for name, report in reports.items()}
    print(f"## 1. Held-out labelled notes: n={args.n}, seed {args.seed}, English and Chinese\n")
    for name in list(reports)[:2]:
        print(f"### {name}\n\n```\n{reports[name].render()}\n```\n")
    print(summary_table(reports))
    ratio = reports["presidio (out of the box)"].ms_per_note / reports["dxkit"].ms_per_note
    print(f"\nspeed: Presidio out of the box takes {ratio:.2f}x dxkit's time per note")
    out["speed_ratio_presidio_over_dxkit"] = ratio

    print("\n## 2. Over-redaction on real clinical text without real identifiers\n")
    if not args.data_root.is_dir():
        print(f"public data not found at {args.data_root}: part 2 skipped")
        out["over_redaction"] = None
    else:
        corpora = {
            "MTSamples transcriptions": (mtsamples(args.data_root), "words"),
            "MedDialog Dxy/MZ-4/MZ-10": (meddialog(args.data_root, args.zh_records), "tokens"),
        }
        out["over_redaction"] = {}
        for corpus, (texts, unit) in corpora.items():
            for name in list(detectors)[:2]:
                result = over_redaction(texts, detectors[name])
                out["over_redaction"][f"{corpus} / {name}"] = result
                print_over_redaction(f"{corpus} / {name}", result, unit)
                print()

    print(f"## 3. Policies on the first {args.policy_notes} held-out notes\n")
    checks = policy_checks(notes[: args.policy_notes], detector)
    out["policies"] = checks
    for policy, changed in checks["changed_by_second_pass"].items():
        note = ""
        if policy == "surrogate":
            note = " (expected: surrogates read as real values; cases carry a deidentified mark)"
        print(f"{policy}: second pass changed {changed} of {checks['notes']} notes{note}")
    kept = checks["date_intervals"]
    print(
        f"surrogate dates: {kept['notes_with_two_dates']} notes hold 2+ dates, "
        f"{kept['notes_with_two_full_dates']} of them 2+ with day, month and year; the days "
        f"between the first two of those kept in {kept['interval_kept']} "
        f"({_cell(kept['fraction'])})"
    )
    out["seconds"] = time.perf_counter() - started
    print(f"\ntotal {out['seconds']:.0f}s")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

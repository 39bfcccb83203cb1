"""``dxkit demo`` end to end on a small cohort: outputs written, figures honest."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from dxkit.demo import example_cases, run_demo


def test_examples_cover_chinese_and_out_of_range_device() -> None:
    cases = example_cases()
    assert len(cases) == 3
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in c.notes) for c in cases)
    assert any(o.code == "59408-5" and o.value < 85 for c in cases for o in c.observations)


def test_demo_writes_outputs_and_is_not_perfect(tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "log.txt", "w"), width=120)  # noqa: SIM115
    metrics = run_demo(tmp_path / "out", n=1200, console=console)
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {
        "cohort.jsonl", "model", "metrics.json", "differentials.jsonl",
    }  # fmt: skip
    assert len((out / "cohort.jsonl").read_text().splitlines()) == 1200
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n"] == metrics["n"] > 100
    # The synthetic cohort must be hard: bag-of-words is well above chance, below 100%.
    assert 1 / 50 < float(saved["top1"]) < 0.99
    answers = [json.loads(line) for line in (out / "differentials.jsonl").read_text().splitlines()]
    assert [a["case_id"] for a in answers] == [c.case_id for c in example_cases()]
    low_spo2 = answers[2]
    assert low_spo2["triage"]["level"] == "emergency"
    assert any(w["code"] == "unusual_value" for w in low_spo2["warnings"])
    log = (tmp_path / "log.txt").read_text()
    assert "Differential for case example-child-fever-zh" in log

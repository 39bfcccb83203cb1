"""Chinese symptom-slot sets (Dxy, MZ-4, MZ-10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dxkit.cases.benchmarks_zh import load_zh
from dxkit.cases.io import load_labeled
from dxkit.errors import DataNotFoundError, InputError

RECORDS = [
    {
        "pid": "train-1",
        "exp_sxs": {"咳嗽": "1", "发热": "1", "呕吐": "0"},
        "imp_sxs": {"流涕": "1", "腹泻": "2"},
        "label": "上呼吸道感染",
    },
    {"pid": "train-2", "exp_sxs": {"腹泻": "1"}, "imp_sxs": {}, "label": "小儿腹泻"},
]


def _write(tmp_path: Path, records: object) -> Path:
    folder = tmp_path / "mz10"
    folder.mkdir()
    (folder / "train_set.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    return folder


def test_renders_present_absent_unsure(tmp_path: Path) -> None:
    cases = load_labeled(_write(tmp_path, RECORDS), "zh")
    first = cases[0]
    assert first.case.notes == "主诉：咳嗽，发热，无呕吐。问诊：有流涕；不确定是否腹泻。"
    assert first.case.case_id == "mz10-train-1"
    assert first.case.patient_id == "train-1"
    assert first.label == "上呼吸道感染"
    assert cases[1].case.notes == "主诉：腹泻。"


def test_file_path_and_limit(tmp_path: Path) -> None:
    folder = _write(tmp_path, RECORDS)
    assert len(load_zh(folder / "train_set.json", limit=1)) == 1


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"zh_meddialog_diagnosis"):
        load_zh(tmp_path / "missing")
    folder = _write(tmp_path, [{"pid": "1", "exp_sxs": {"咳嗽": "yes"}, "label": "x"}])
    with pytest.raises(InputError, match=r"record 0 has another shape"):
        load_zh(folder)


def test_real_dxy(shared_data: Path) -> None:
    cases = load_labeled(shared_data / "zh_meddialog_diagnosis" / "dxy", "zh")
    assert len(cases) == 423
    assert len({c.label for c in cases}) == 5
    assert sum(not c.case.notes for c in cases) == 2  # two records list no symptoms at all

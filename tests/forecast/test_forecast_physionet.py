"""Loading PhysioNet-format records and the artefact checks on their series."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dxkit.cases.schema import Case, Observation
from dxkit.errors import DataNotFoundError, InputError
from dxkit.forecast.physionet import load_physionet, parse_record, read_outcomes
from dxkit.forecast.series import records_from_cases

Writer = Callable[..., Path]


def _codes(record: Any) -> dict[str, str]:
    return {w.code: w.field for w in record.warnings}


def test_directory_and_tarball_give_the_same_records(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, _ = cohort
    archive = tmp_path / "set-a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="set-a")
    from_dir, from_tar = load_physionet(folder, limit=5), load_physionet(archive, limit=5)
    assert [r.record_id for r in from_dir] == [r.record_id for r in from_tar]
    assert len(from_dir) == 5 and from_dir[0].record_id == "140000"
    first = from_tar[0]
    assert first.static["gender"] == 1.0 and np.isnan(first.static["height"])
    assert first.static["weight_admit"] == 80.0 and first.static["icu_type"] == 3.0
    assert first.signals["heart_rate"].times.size == 24


def test_artefacts_are_masked_and_named(record_writer: Writer, tmp_path: Path) -> None:
    rows = [("00:30", "HR", 80), ("01:00", "HR", 82), ("01:20", "HR", 230), ("01:40", "HR", 81),
            ("00:40", "Temp", 98.6), ("01:40", "Temp", 37.1), ("02:00", "pH", 735),
            ("02:10", "Foo", 3), ("02:20", "Lactate", -1), ("03:00", "SysABP", 0)]  # fmt: skip
    rows += [(f"{h:02d}:00", "MAP", 77) for h in range(4, 12)]  # frozen for 7 h
    rows += [("05:00", "Weight", 176.4), ("06:00", "Weight", 80)]  # 176.4 lb = 80 kg
    record = parse_record("x", record_writer(tmp_path, 150001, rows).read_text())
    codes = _codes(record)
    assert record.record_id == "150001"
    assert codes["spike"] == "150001.heart_rate"
    assert codes["unknown_signal"] == "150001.Foo"
    assert codes["missing_code"] == "150001.lactate"
    assert codes["no_usable_values"] == "150001.sbp_art"
    assert codes["flat_line"] == "150001.map_art"
    hr = record.signals["heart_rate"]
    assert hr.clean()[1].tolist() == [82.0 - 2, 82.0, 81.0] and not hr.usable[2]
    assert round(float(record.signals["temperature"].values[0]), 1) == 37.0  # degF fixed
    assert record.signals["ph"].values[0] == pytest.approx(7.35)
    assert record.signals["weight"].clean()[1] == pytest.approx([80.0, 80.0, 80.0], abs=0.1)
    mixups = [w.message for w in record.warnings if w.code == "unit_mixup"]
    assert any("[degF]" in m for m in mixups) and any("[lb_av]" in m for m in mixups)
    assert record.signals["map_art"].usable.sum() == 1
    assert all("150001" in w.message for w in record.warnings)


def test_unsorted_and_duplicated_times_are_reported(record_writer: Writer, tmp_path: Path) -> None:
    rows = [("02:00", "HR", 90), ("01:00", "HR", 80), ("01:00", "HR", 84)]
    record = parse_record("y", record_writer(tmp_path, 150002, rows).read_text())
    assert {"unsorted_times", "duplicate_times"} <= set(_codes(record))
    times, values = record.signals["heart_rate"].clean()
    assert times.tolist() == [1.0, 2.0] and values.tolist() == [82.0, 90.0]


def test_malformed_files_and_paths_fail_with_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="record r1, line 3: expected 'HH:MM,Parameter,number'"):
        parse_record("r1", "Time,Parameter,Value\n00:00,RecordID,1\n7 o'clock,HR,80\n")
    with pytest.raises(InputError, match="header line 'Time,Parameter,Value'"):
        parse_record("r2", "a,b,c\n")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_physionet(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match=r"record files named <RecordID>\.txt"):
        load_physionet(tmp_path)
    bad = tmp_path / "o.txt"
    bad.write_text("RecordID,SOFA\n1,2\n")
    with pytest.raises(InputError, match="missing SAPS-I, In-hospital_death"):
        read_outcomes(bad)


def test_cases_with_times_become_records() -> None:
    t0 = datetime(2026, 1, 1, 8, tzinfo=UTC)
    obs = [Observation(code="8867-4", value=88, unit="/min", time=t0),
           Observation(code="8867-4", value=96, unit="/min", time=t0 + timedelta(hours=2)),
           Observation(code="8310-5", value=101.3, unit="[degF]", time=t0 + timedelta(hours=1)),
           Observation(code="2160-0", value=1.4, unit="g", time=t0),
           Observation(code="99999-9", value=1, unit="1", time=t0),
           Observation(code="9279-1", value=18, unit="/min")]  # fmt: skip
    (record,) = records_from_cases([Case(case_id="c9", age=70, sex="f", observations=obs)])
    assert record.signals["heart_rate"].times.tolist() == [0.0, 2.0]
    assert record.signals["temperature"].values[0] == pytest.approx(38.5)
    codes = _codes(record)
    assert codes["unit"] == "c9.creatinine" and codes["no_usable_values"] == "c9.creatinine"
    assert codes["unknown_signal"] == "c9.LOINC 99999-9" and "untimed_observation" in codes
    grid = record.grid(3, ["heart_rate", "temperature"])
    assert grid.mask.tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    assert grid.delta[:, 1].tolist() == [1.0, 1.0, 2.0]
    assert record.static["gender"] == 0.0


def test_real_physionet_records_load(shared_data: Path) -> None:
    records = load_physionet(shared_data / "physionet2012_seta" / "set-a-dev.tar.gz", limit=50)
    outcomes = read_outcomes(shared_data / "physionet2012_seta" / "Outcomes-a-dev.txt")
    assert len(records) == 50 and all(r.record_id in outcomes for r in records)
    assert sum("heart_rate" in r.signals for r in records) >= 45
    assert all(np.isfinite(r.static["age"]) for r in records)

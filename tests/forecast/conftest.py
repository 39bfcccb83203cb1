"""Tiny PhysioNet-format records written into a temporary directory."""

from __future__ import annotations

import random
from pathlib import Path

import pytest


def write_record(
    directory: Path,
    rid: int,
    rows: list[tuple[str, str, float]],
    *,
    age: float = 60,
    gender: int = 1,
    icu: int = 3,
    weight: float = 80,
) -> Path:
    """Write one record file in the PhysioNet 2012 long format."""
    lines = [
        "Time,Parameter,Value",
        f"00:00,RecordID,{rid}",
        f"00:00,Age,{age:g}",
        f"00:00,Gender,{gender}",
        "00:00,Height,-1",
        f"00:00,ICUType,{icu}",
        f"00:00,Weight,{weight:g}",
    ]
    lines += [f"{t},{p},{v:g}" for t, p, v in rows]
    path = directory / f"{rid}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def synthetic_cohort(directory: Path, n: int = 80, seed: int = 0) -> Path:
    """``n`` stays where the sick ones (every 4th) have fast pulse, low BP and high lactate.

    Returns the outcomes file; records are ``directory/set-a/<id>.txt``.
    """
    rng = random.Random(seed)
    folder = directory / "set-a"
    folder.mkdir(parents=True, exist_ok=True)
    outcome_lines = ["RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"]
    for i in range(n):
        rid, sick = 140000 + i, i % 4 == 0
        rows = []
        for hour in range(0, 48, 2):
            stamp = f"{hour:02d}:{rng.randint(0, 59):02d}"
            hr = rng.gauss(118 if sick else 82, 8)
            sbp = rng.gauss(92 if sick else 128, 8)
            rows += [
                (stamp, "HR", round(hr)),
                (stamp, "NISysABP", round(sbp)),
                (stamp, "Temp", round(rng.gauss(37.2, 0.4), 1)),
            ]
        rows.append(("06:10", "Lactate", round(rng.gauss(4.5 if sick else 1.2, 0.4), 1)))
        rows.append(("06:10", "Creatinine", round(rng.gauss(1.0, 0.2), 2)))
        write_record(folder, rid, rows, age=rng.randint(30, 90))
        saps = rng.randint(14, 25) if sick else rng.randint(5, 18)
        outcome_lines.append(f"{rid},{saps},{rng.randint(0, 8)},5,-1,{int(sick)}")
    outcomes = directory / "Outcomes-a.txt"
    outcomes.write_text("\n".join(outcome_lines) + "\n", encoding="utf-8")
    return outcomes


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(records directory, outcomes file) of an 80-stay synthetic cohort."""
    root = tmp_path_factory.mktemp("physionet")
    outcomes = synthetic_cohort(root)
    return root / "set-a", outcomes


@pytest.fixture()
def record_writer() -> object:
    """The :func:`write_record` helper, for tests that build their own files."""
    return write_record

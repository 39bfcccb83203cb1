"""PhysioNet/CinC Challenge 2012 records and outcomes, from a directory or a tarball.

The files are long format ``Time,Parameter,Value`` with ``Time`` as ``HH:MM`` since ICU
admission; static descriptors come at ``00:00``; ``-1`` means "not measured" (Silva et
al., CinC 2012). Tarballs are streamed member by member with :mod:`tarfile`, so the
3,000-record archive is never unpacked to disk. Parameter names map to signals through
``resources/forecast/signals.yaml``; unknown names are reported, never guessed.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dxkit.errors import DataNotFoundError, InputError
from dxkit.forecast.checks import assemble_record
from dxkit.forecast.series import Reading, TimeSeriesRecord
from dxkit.forecast.signals import by_physionet, missing_code, record_id_parameter, static_specs

_RECORD = re.compile(r"(?:^|/)(\d+)\.txt$")
_TIME = re.compile(r"(\d+):(\d{2})")
_OUTCOME_COLUMNS = ("RecordID", "SAPS-I", "SOFA", "In-hospital_death")


@dataclass(frozen=True)
class Outcome:
    """A stay's outcome row: in-hospital death and the admission severity scores."""

    death: int
    saps: float
    sofa: float


def parse_record(name: str, text: str) -> TimeSeriesRecord:
    """Parse one record file's text; ``name`` (the file stem) is the fallback record id.

    Raises:
        InputError: a header other than ``Time,Parameter,Value``, a malformed time or a
            value that is not a number (the message names the record and line).
    """
    lines = text.splitlines()
    if not lines or lines[0].strip().replace(" ", "") != "Time,Parameter,Value":
        raise InputError(
            f"PhysioNet record {name}",
            expected="a header line 'Time,Parameter,Value'",
            found=repr(lines[0][:40]) if lines else "an empty file",
            fix="pass PhysioNet 2012 record files (set-a/<RecordID>.txt)",
        )
    statics = {s.physionet: s for s in static_specs().values()}
    signals, code = by_physionet(), missing_code()
    record_id, static = name, {key: math.nan for key in static_specs()}
    readings: list[Reading] = []
    unknown: dict[str, int] = {}
    missing: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        match = _TIME.fullmatch(parts[0].strip()) if len(parts) == 3 else None
        try:
            value = float(parts[2]) if match else math.nan
        except ValueError:
            match = None
        if match is None or not math.isfinite(value):
            raise InputError(
                f"PhysioNet record {name}, line {number}",
                expected="'HH:MM,Parameter,number'",
                found=f"{len(parts)} field(s), time {parts[0].strip()[:8]!r}",
                fix="repair or remove the line",
            )
        hours = int(match.group(1)) + int(match.group(2)) / 60.0
        param = parts[1].strip()
        if param == record_id_parameter():
            record_id = str(int(value)) if value.is_integer() else name
            continue
        if param in statics and hours == 0.0:
            spec = statics[param]
            low, high = spec.plausible
            if value != code and low <= value <= high and math.isnan(static[spec.key]):
                static[spec.key] = value
            if param not in signals:
                continue
        sig = signals.get(param)
        if sig is None:
            unknown[param] = unknown.get(param, 0) + 1
        elif value == code:
            missing[sig.key] = missing.get(sig.key, 0) + 1
        else:
            readings.append((hours, sig.key, value, None))
    return assemble_record(record_id, static, readings, unknown=unknown, missing=missing)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise DataNotFoundError(
            "PhysioNet data",
            expected="a directory of <RecordID>.txt files or a .tgz/.tar.gz of them",
            found=f"{path} does not exist",
            fix="pass --data ../shared/data/physionet2012_seta/set-a-dev.tar.gz",
        )


def iter_physionet(path: Path, *, limit: int | None = None) -> Iterator[TimeSeriesRecord]:
    """Yield records from a directory (searched recursively) or a tar archive, by name.

    Raises:
        DataNotFoundError: the path does not exist or holds no record files.
        InputError: a record file is malformed (see :func:`parse_record`).
    """
    path = Path(path)
    _check_path(path)
    count = 0
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if _RECORD.search(p.as_posix()))
        for file in files[:limit]:
            count += 1
            yield parse_record(file.stem, file.read_text(encoding="utf-8"))
    else:
        try:
            archive = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed by `with` below)
        except tarfile.TarError:
            raise InputError(
                "PhysioNet data",
                expected="a directory or a .tgz/.tar.gz/.tar archive",
                found=f"{path.name} is not a readable archive",
                fix="pass the record directory or the original archive",
            ) from None
        with archive:
            for member in archive:
                found = _RECORD.search(member.name)
                if not member.isfile() or found is None:
                    continue
                if limit is not None and count >= limit:
                    break
                handle = archive.extractfile(member)
                assert handle is not None  # regular files always have a payload
                count += 1
                yield parse_record(found.group(1), handle.read().decode("utf-8"))
    if count == 0:
        raise DataNotFoundError(
            "PhysioNet data",
            expected="record files named <RecordID>.txt",
            found=f"none in {path}",
            fix="pass the set-a directory or set-a-dev.tar.gz",
        )


def load_physionet(path: Path, *, limit: int | None = None) -> list[TimeSeriesRecord]:
    """All records of :func:`iter_physionet` as a list."""
    return list(iter_physionet(path, limit=limit))


def read_outcomes(path: Path) -> dict[str, Outcome]:
    """Read ``Outcomes-a.txt`` (RecordID, SAPS-I, SOFA, ..., In-hospital_death).

    Raises:
        DataNotFoundError: no such file.
        InputError: a required column is missing or a row is not numeric.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(
            "outcomes file",
            expected="a CSV like Outcomes-a.txt",
            found=f"{path} does not exist or is not a file",
            fix="pass --outcomes ../shared/data/physionet2012_seta/Outcomes-a-dev.txt",
        )
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    absent = [c for c in _OUTCOME_COLUMNS if c not in (reader.fieldnames or [])]
    if absent:
        raise InputError(
            f"outcomes file {path.name}",
            expected="columns " + ", ".join(_OUTCOME_COLUMNS),
            found="missing " + ", ".join(absent),
            fix="pass the PhysioNet 2012 Outcomes file",
        )
    outcomes = {}
    for number, row in enumerate(reader, start=2):
        try:
            death = int(float(row["In-hospital_death"]))
            saps, sofa = float(row["SAPS-I"]), float(row["SOFA"])
            rid = str(int(float(row["RecordID"])))
        except (TypeError, ValueError):
            raise InputError(
                f"outcomes file {path.name}, line {number}",
                expected="numbers in RecordID, SAPS-I, SOFA, In-hospital_death",
                found="a non-numeric or empty value",
                fix="repair or remove the line",
            ) from None
        if death not in (0, 1):
            raise InputError(
                f"outcomes file {path.name}, line {number}",
                expected="In-hospital_death 0 or 1",
                found=str(death),
                fix="repair the line",
            )
        outcomes[rid] = Outcome(
            death, math.nan if saps < 0 else saps, math.nan if sofa < 0 else sofa
        )
    return outcomes

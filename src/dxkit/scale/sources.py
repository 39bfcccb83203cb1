"""Find the input files of a run, check their columns, and commit outputs atomically.

Inputs are a file or a directory of ``.csv`` / ``.jsonl`` / ``.parquet`` files, as a local
path or any fsspec URL (``file://``, ``s3://``, ``memory://``...). Every file is checked
on the driver before an engine starts (a Parquet footer, a CSV header or a first JSON
line: cheap), so a wrong column is one clear error instead of a failed cluster job.

Atomic output: an engine writes Parquet part files into a hidden temporary directory
beside ``out``; only a complete run is renamed into place (JSONL is written from those
parts into a hidden temporary file, then renamed). A run that fails removes its temporary
output, and a run killed outright leaves only hidden ``.NAME.tmp-*`` siblings, which the
next run deletes first: a rerun **starts clean**, so it can never duplicate rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dxkit.cases.schema import AGE_CAP, Case
from dxkit.errors import InputError

SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_CASE_FIELDS = {
    "case_id",
    "patient_id",
    "age",
    "sex",
    "lifestyle",
    "history",
    "notes",
    "observations",
    "deidentified",
}
_IGNORED = {"diagnosis", "differential"}


@dataclass(frozen=True)
class Inputs:
    """The checked input files of a run: one format, one layout (see dxkit.scale.frame)."""

    fs: Any  # an fsspec filesystem
    paths: list[str]  # paths as the filesystem names them, sorted
    fmt: str  # csv | jsonl | parquet
    layout: str  # jsonl | records | flat
    columns: list[str]  # the columns of the first file
    local: bool  # plain local files (engines read them natively)
    nbytes: int


def _unreadable(source: str, found: str) -> InputError:
    return InputError(
        "input",
        expected="a readable case file, or a directory of .csv/.jsonl/.parquet files",
        found=found,
        fix=f"check the path or URL {source!r} and its permissions",
    )


def resolve_inputs(source: str | Path) -> Inputs:
    """The files under ``source`` with their format and layout, checked.

    Raises:
        InputError: a missing or unreadable path, no case files, mixed formats, or a
            column that does not fit the case format (named).
    """
    import fsspec  # type: ignore[import-untyped]

    text = str(source)
    try:
        fs, root = fsspec.core.url_to_fs(text)
    except (ImportError, ValueError) as exc:  # unknown protocol or its package missing
        raise _unreadable(text, f"a URL fsspec cannot open ({type(exc).__name__})") from None
    try:
        if not fs.exists(root):
            raise _unreadable(text, "no such file or directory")
        found = (
            [p for p in fs.find(root) if Path(p).suffix.lower() in SUFFIXES]
            if fs.isdir(root)
            else [root]
        )
        paths = sorted(p for p in found if not Path(p).name.startswith(("_", ".")))
        if not paths:
            raise _unreadable(text, "a directory without .csv, .jsonl or .parquet files")
        formats = {SUFFIXES.get(Path(p).suffix.lower(), "") for p in paths}
        if "" in formats:
            raise _unreadable(text, f"{Path(paths[0]).name!r}: an unknown extension")
        if len(formats) > 1:
            raise _unreadable(text, f"mixed formats {sorted(formats)} in one directory")
        fmt = formats.pop()
        layouts = [_check_file(fs, p, fmt) for p in paths]
        nbytes = sum(int(fs.size(p) or 0) for p in paths)
    except InputError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _unreadable(text, f"a file that cannot be read ({type(exc).__name__})") from None
    kinds = {layout for layout, _ in layouts}
    if len(kinds) > 1:
        raise _unreadable(text, "files of different column layouts in one directory")
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    return Inputs(fs, paths, fmt, kinds.pop(), layouts[0][1], local, nbytes)


def _check_file(fs: Any, path: str, fmt: str) -> tuple[str, list[str]]:
    """(layout, columns) of one file, after checking its columns fit the case format."""
    name = Path(path).name
    if fmt == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        with fs.open(path, "rb") as handle:
            try:
                columns = list(pq.read_schema(handle).names)
            except Exception:  # pyarrow's ArrowInvalid for a damaged file
                raise _unreadable(path, f"{name} is not a readable Parquet file") from None
    elif fmt == "csv":
        with fs.open(path, "rb") as handle:
            first = handle.readline().decode("utf-8-sig")
        columns = next(csv.reader(io.StringIO(first)), [])
    else:
        with fs.open(path, "rb") as handle:
            line = b""
            while not line.strip():
                line = handle.readline()
                if not line:
                    break
        try:
            record = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError as exc:
            raise InputError(
                "JSONL file",
                expected="one JSON object per line",
                found=f"{name} first line: {exc.msg}",
                fix="write one case object per line",
            ) from None
        columns = list(record) if isinstance(record, dict) else []
        _check_records(columns, name)
        return "jsonl", columns
    if fmt == "parquet" and "notes" in columns:  # the rule of dxkit.inference.readers
        _check_records(columns, name)
        return "records", columns
    _check_flat(columns, name)
    return "flat", columns


def _check_records(columns: list[str], name: str) -> None:
    unknown = [c for c in columns if c not in _CASE_FIELDS | _IGNORED]
    if unknown or "case_id" not in columns:
        column = unknown[0] if unknown else "case_id"
        raise InputError(
            "case columns",
            expected=f"case fields only ({', '.join(sorted(_CASE_FIELDS))})",
            found=f"{name}: column {column!r} "
            + ("is not a case field" if unknown else "is missing"),
            fix=f"rename or drop column {column!r}" if unknown else "add a case_id to every case",
        )


def _check_flat(columns: list[str], name: str) -> None:
    from dxkit.cases.io import ColumnMapping
    from dxkit.inference.readers import _mapping

    _mapping(columns, name)  # names the missing notes column
    if ColumnMapping.guess(columns).case_id is None:
        raise InputError(
            "case columns",
            expected="an id column (case_id, id or index) so answers can be joined back",
            found=f"{name}: no column 'case_id' among {columns[:20]}",
            fix="add a 'case_id' column",
        )


def stage_locally(inputs: Inputs, into: Path) -> list[str]:
    """Copy non-local inputs into ``into`` (for engines that cannot read the filesystem)."""
    if inputs.local:
        return [str(Path(p)) for p in inputs.paths]
    out = []
    for index, path in enumerate(inputs.paths):
        target = into / f"{index:06d}-{Path(path).name}"
        inputs.fs.get(path, str(target))
        out.append(str(target))
    return out


def output_kind(out: Path) -> str:
    """``parquet`` (a directory of part files) or ``jsonl`` (one file), from the name."""
    suffix = Path(out).suffix.lower()
    if suffix not in (".parquet", ".jsonl"):
        raise InputError(
            "--out",
            expected="a local path ending in .parquet (a directory of parts) or .jsonl",
            found=repr(Path(out).name),
            fix="name the output scores.parquet or scores.jsonl",
        )
    if "://" in str(out):
        raise InputError("--out", expected="a local path", found=str(out), fix="pass a path")
    return suffix[1:]


def start_output(out: Path, *, overwrite: bool) -> Path:
    """Clear leftovers of killed runs and return a fresh temporary parts directory."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()
    if out.exists() and not overwrite:
        raise InputError(
            "--out",
            expected="a new output path",
            found=f"{out.name} exists (a complete earlier run)",
            fix="delete it, pass another --out, or pass overwrite=True",
        )
    return out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"


def commit_output(parts: Path, out: Path, kind: str) -> int:
    """Move the complete parts into place as ``out``; the number of rows written."""
    import pyarrow.parquet as pq

    files = sorted(p for p in parts.rglob("*.parquet") if not p.name.startswith((".", "_")))
    for junk in [p for p in parts.rglob("*") if p.is_file() and p not in files]:
        junk.unlink()  # Spark's .crc and _SUCCESS files: the rename is the success marker
    rows = sum(int(pq.ParquetFile(p).metadata.num_rows) for p in files)
    if kind == "jsonl":
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.tmp-", suffix=".jsonl")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for part in files:
                for batch in pq.ParquetFile(part).iter_batches(batch_size=4096):
                    for row in batch.to_pylist():
                        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        _replace(Path(tmp), out)
        shutil.rmtree(parts, ignore_errors=True)
    else:
        _replace(parts, out)
    return rows


def _replace(new: Path, out: Path) -> None:
    """Rename ``new`` onto ``out``; an old ``out`` (overwrite) is moved aside first."""
    if out.exists():
        old = out.parent / f".{out.name}.tmp-old-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
        os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    else:
        os.replace(new, out)


def write_cases_parquet(cases: Sequence[Case], path: Path, *, row_group_size: int = 10_000) -> Path:
    """Cases as one Parquet file with nested columns (the ``records`` layout), for tests,
    benchmarks and exports; ages over 89 are written as 90, as the JSONL writer's ``90+``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = []
    for case in cases:
        data = case.model_dump(mode="json")
        if case.age is not None and case.age > AGE_CAP:
            data["age"] = float(AGE_CAP + 1)
        records.append(data)
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size)
    return Path(path)

"""Stream cases out of CSV, JSONL or Parquet files, a batch at a time.

Why streaming: a hospital backlog can be larger than memory, so no reader here ever holds
more than one batch of rows. JSONL lines and CSV rows are turned into cases by the same
code as :mod:`dxkit.cases.io` (so a file that trains also scores); Parquet is read one
record batch at a time with pyarrow (``iter_batches``), never as a whole table.

Rows are numbered from 0 in file order (blank JSONL lines are not rows). Errors name the
file and the row or line, never the notes text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dxkit.cases.io import ColumnMapping, _csv_case, _field_error, _json_lines
from dxkit.cases.schema import Case
from dxkit.errors import DataNotFoundError, InputError

INPUT_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
_LABEL_KEYS = ("diagnosis", "differential")
_NO_LABEL = "__dxkit_unlabeled__"


def input_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file name; anything else is refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise InputError(
            "case file",
            expected=f"a file ending in {', '.join(INPUT_SUFFIXES)}",
            found=f"{Path(path).name!r} (unknown extension {suffix or 'none'})",
            fix="convert the cases to CSV, JSONL or Parquet and name the file accordingly",
        )
    return "jsonl" if suffix == ".ndjson" else suffix[1:]


def count_rows(path: Path) -> int | None:
    """Rows of a Parquet file from its footer (free); None for text formats (unknown)."""
    if input_format(path) != "parquet":
        return None
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    return int(pq.ParquetFile(path).metadata.num_rows)


def _record_case(record: dict[str, Any], where: str) -> Case:
    """A case from a JSON-like record (labels, if any, are ignored)."""
    fields = {k: v for k, v in record.items() if k not in _LABEL_KEYS and v is not None}
    try:
        return Case(**fields)
    except ValidationError as exc:
        raise _field_error(exc, where) from None
    except TypeError:
        raise InputError(
            "case record",
            expected="a case object with string keys",
            found=f"{where}: an object that is not a case",
            fix="write each case as a JSON object (see dxkit.cases.schema.Case)",
        ) from None


def _mapping(header: list[str], name: str) -> ColumnMapping:
    """The column mapping guessed from the header, with the label made optional."""
    mapping = ColumnMapping.guess(header)
    text = [mapping.text] if isinstance(mapping.text, str) else mapping.text
    if not all(column in header for column in text):
        raise InputError(
            "case table",
            expected="a text column (text, notes, note, description or symptoms)",
            found=f"{name} columns {header[:20]}",
            fix="rename the column holding the notes to 'notes' or 'text'",
        )
    return mapping.model_copy(update={"label": _NO_LABEL})


def _row_case(row: dict[str, Any], mapping: ColumnMapping, index: int, where: str) -> Case:
    """A case from a flat row, converted by the CSV loader of :mod:`dxkit.cases.io`."""
    cells = {k: ("" if v is None else str(v)) for k, v in row.items()}
    cells[_NO_LABEL] = "-"  # the loader demands a label; scoring has none
    case_id = cells.get(mapping.case_id, "").strip() if mapping.case_id else ""
    return _csv_case(cells, mapping, case_id or f"row-{index}", where).case


def _jsonl_rows(path: Path, skip: int) -> Iterator[tuple[int, Case]]:
    for index, (line_no, record) in enumerate(_json_lines(path)):
        if index >= skip:
            yield index, _record_case(record, f"{path.name} line {line_no} (row {index})")


def _csv_rows(path: Path, skip: int) -> Iterator[tuple[int, Case]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        mapping = _mapping(list(reader.fieldnames or []), path.name)
        for index, row in enumerate(reader):
            if index >= skip:
                where = f"{path.name} row {index} (line {reader.line_num})"
                if None in row:  # more cells than header columns
                    raise InputError(
                        "CSV file",
                        expected=f"{len(reader.fieldnames or [])} cells per row",
                        found=f"{where}: more cells than columns",
                        fix="quote cells that contain commas, or fix the row",
                    )
                yield index, _row_case(row, mapping, index, where)


def _parquet_rows(path: Path, skip: int, batch_rows: int) -> Iterator[tuple[int, Case]]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception:  # pyarrow raises ArrowInvalid and friends for a damaged file
        raise InputError(
            "Parquet file",
            expected="a readable Parquet file",
            found=f"{path.name} cannot be read as Parquet",
            fix="check the file was completely written, or export it again",
        ) from None
    names = list(table.schema_arrow.names)
    mapping = None if "notes" in names else _mapping(names, path.name)
    index = 0
    for group in range(table.num_row_groups):
        rows_here = table.metadata.row_group(group).num_rows
        if index + rows_here <= skip:  # whole row group already scored: not even read
            index += rows_here
            continue
        for batch in table.iter_batches(batch_size=batch_rows, row_groups=[group]):
            for row in batch.to_pylist():
                if index >= skip:
                    where = f"{path.name} row {index}"
                    yield (
                        index,
                        (
                            _record_case(row, where)
                            if mapping is None
                            else _row_case(row, mapping, index, where)
                        ),
                    )
                index += 1


def iter_case_batches(
    path: Path, batch_size: int, *, skip: int = 0
) -> Iterator[tuple[list[int], list[Case]]]:
    """(row numbers, cases) in batches of ``batch_size``, starting at row ``skip``.

    Raises:
        DataNotFoundError: no such file.
        InputError: unknown extension, or a malformed row (named by its number).
    """
    path = Path(path)
    fmt = input_format(path)
    if not path.is_file():
        raise DataNotFoundError(
            "case file", expected=f"the file {path}", found="no such file", fix="check the path"
        )
    rows: Iterator[tuple[int, Case]]
    if fmt == "jsonl":
        rows = _jsonl_rows(path, skip)
    elif fmt == "csv":
        rows = _csv_rows(path, skip)
    else:
        rows = _parquet_rows(path, skip, batch_size)
    numbers: list[int] = []
    cases: list[Case] = []
    for number, case in rows:
        numbers.append(number)
        cases.append(case)
        if len(cases) >= batch_size:
            yield numbers, cases
            numbers, cases = [], []
    if cases:
        yield numbers, cases

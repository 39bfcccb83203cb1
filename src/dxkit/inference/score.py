"""``dxkit score``: score a file of cases in streaming batches, resumably.

Memory stays bounded by one batch: rows are read (:mod:`dxkit.inference.readers`),
validated, predicted and written a batch at a time, and each written chunk is flushed
and fsynced before the next batch is read.

Resuming: a restart counts the rows already *completely* written in ``--out`` and skips
that many input rows, so nothing is scored twice and nothing is duplicated.

* CSV / JSONL output: one line per row. A last line cut by a crash (no newline) is
  truncated away first. The last complete line must carry ``row == count - 1``, else the
  file belongs to another input and is refused.
* Parquet output: a footer is written only when a file is closed, so a crash would leave
  an unreadable file. Chunks are therefore written as part files (each renamed into
  place when complete) under ``OUT.parts/``, and merged row group by row group into
  ``OUT`` at the end.

Output columns: ``row`` (0-based input row), ``case_id``, ``diagnosis`` (top label),
``probability`` and ``top`` (the top labels with probabilities; a JSON string in CSV and
Parquet). Case ids in CSV have line breaks replaced by spaces, so one row is one line.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.inference.readers import count_rows, iter_case_batches
from dxkit.models.base import DiagnosisModel
from dxkit.quality.validate import validate_case

OUTPUT_SUFFIXES = (".csv", ".jsonl", ".parquet")
COLUMNS = ("row", "case_id", "diagnosis", "probability", "top")


@dataclass(frozen=True)
class ScoreSummary:
    """What one :func:`score_file` call did."""

    scored: int  # rows scored by this call
    skipped: int  # rows found complete in --out from an earlier, interrupted run
    out: Path


def _output_format(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(
            "--out",
            expected=f"a file ending in {', '.join(OUTPUT_SUFFIXES)}",
            found=f"{out.name!r}",
            fix="name the output file .csv, .jsonl or .parquet",
        )
    return suffix[1:]


def _stale(out: Path, found: str) -> InputError:
    return InputError(
        "--out",
        expected="an output of this input written by an earlier `dxkit score` run",
        found=f"{out.name}: {found}",
        fix="delete it or pass another --out to start afresh",
    )


def _resume_lines(out: Path, header: bool) -> int:
    """Cut a partial last line, then count complete rows (checking the row numbers)."""
    if not out.exists():
        return 0
    with out.open("r+b") as handle:
        data_end = handle.seek(0, os.SEEK_END)
        block = 1 << 16
        pos = data_end
        while pos > 0:  # find the last newline from the end, a block at a time
            start = max(0, pos - block)
            handle.seek(start)
            chunk = handle.read(pos - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                pos = start + cut + 1
                break
            pos = start
        if pos != data_end:
            handle.truncate(pos)
            handle.flush()
            os.fsync(handle.fileno())
        handle.seek(0)
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        last = _last_line(handle, pos) if pos else b""
    rows = lines - (1 if header and lines else 0)
    if rows:
        first = last.split(b",", 1)[0] if header else None
        try:
            number = int(first) if first is not None else int(json.loads(last)["row"])
        except (ValueError, KeyError, TypeError):
            raise _stale(out, "its last line is not a score row") from None
        if number != rows - 1:
            raise _stale(out, f"{rows} rows end with row {number}")
    return rows


def _last_line(handle: Any, end: int) -> bytes:
    start = max(0, end - (1 << 16))
    handle.seek(start)
    line: bytes = handle.read(end - start).rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return line


class _LineWriter:
    """Appends CSV or JSONL rows, fsyncing each chunk."""

    def __init__(self, out: Path, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        self.done = _resume_lines(out, header=fmt == "csv")
        self.handle = out.open("a", encoding="utf-8", newline="")
        if fmt == "csv" and self.handle.tell() == 0:
            self.handle.write(",".join(COLUMNS) + "\n")

    def write(self, rows: list[dict[str, Any]]) -> None:
        import csv
        import io

        buffer = io.StringIO()
        if self.fmt == "csv":
            writer = csv.writer(buffer, lineterminator="\n")
            for r in rows:
                case_id = " ".join(str(r["case_id"]).splitlines())
                top = json.dumps(r["top"], ensure_ascii=False)
                writer.writerow([r["row"], case_id, r["diagnosis"], r["probability"], top])
        else:
            for r in rows:
                buffer.write(json.dumps(r, ensure_ascii=False) + "\n")
        self.handle.write(buffer.getvalue())
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


class _ParquetWriter:
    """Complete part files under ``OUT.parts/``, merged into ``OUT`` by :meth:`close`."""

    def __init__(self, out: Path) -> None:

        self.out, self.parts = out, out.with_name(out.name + ".parts")
        if out.exists():
            # a finished earlier run: OUT only appears after every part was merged into it,
            # so parts still there are leftovers of a crash during the clean-up and OUT is
            # complete; its rows become the first part (a later merge rewrites it)
            shutil.rmtree(self.parts, ignore_errors=True)
            self.parts.mkdir(parents=True)
            os.replace(out, self.parts / _part_name(0))
        self.parts.mkdir(parents=True, exist_ok=True)
        self.done = 0
        for part in sorted(self.parts.glob("part-*.parquet")):
            if part.name != _part_name(self.done):
                raise _stale(self.parts, f"part {part.name} does not follow row {self.done}")
            meta = _part_meta(part, self.parts)
            rows = int(meta.num_rows)
            last = _last_row_number(part) if rows else self.done - 1
            if last != self.done + rows - 1:
                raise _stale(self.parts, f"part {part.name} ends with row {last}")
            self.done += rows

    def write(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        columns = {name: [r[name] for r in rows] for name in COLUMNS}
        columns["top"] = [json.dumps(t, ensure_ascii=False) for t in columns["top"]]
        target = self.parts / _part_name(int(rows[0]["row"]))
        tmp = target.with_suffix(".tmp")
        pq.write_table(pa.table(columns), tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        self.done += len(rows)

    def close(self) -> None:
        import pyarrow.parquet as pq

        parts = sorted(self.parts.glob("part-*.parquet"))
        if not parts:
            shutil.rmtree(self.parts, ignore_errors=True)
            return
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        with pq.ParquetWriter(tmp, pq.ParquetFile(parts[0]).schema_arrow) as writer:
            for part in parts:  # one part in memory at a time
                writer.write_table(pq.read_table(part))
        os.replace(tmp, self.out)
        shutil.rmtree(self.parts, ignore_errors=True)


def _part_name(first_row: int) -> str:
    return f"part-{first_row:012d}.parquet"


def _part_meta(part: Path, parts: Path) -> Any:
    """A part's footer; parts are renamed into place complete, so a bad one is foreign."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(part).metadata
    except Exception:  # pyarrow's ArrowInvalid and friends
        raise _stale(parts, f"part {part.name} is not a readable Parquet file") from None


def _last_row_number(part: Path) -> int:
    """The ``row`` value of a part's last row (the part's last row group only is read)."""
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(part)
    group = handle.read_row_group(handle.num_row_groups - 1, columns=["row"])
    return int(group.column("row")[-1].as_py())


def _rows(model: DiagnosisModel, numbers: list[int], cases: list[Case], top: int) -> list[Any]:
    clean = []
    for number, case in zip(numbers, cases, strict=True):
        try:
            clean.append(validate_case(case).case)
        except InputError as exc:
            raise InputError(
                f"row {number}: {exc.what}", expected=exc.expected, found=exc.found, fix=exc.fix
            ) from None
    proba = np.asarray(model.predict_proba(clean))
    order = np.argsort(-proba, axis=1, kind="stable")[:, :top]
    labels = list(model.labels)
    out = []
    for number, case, p, best in zip(numbers, clean, proba, order, strict=True):
        ranked = [[labels[i], round(float(p[i]), 6)] for i in best]
        out.append(
            {
                "row": number,
                "case_id": case.case_id,
                "diagnosis": ranked[0][0],
                "probability": ranked[0][1],
                "top": ranked,
            }
        )
    return out


def score_file(
    path: Path,
    out: Path,
    model: DiagnosisModel,
    *,
    batch_size: int = 256,
    top: int = 5,
    progress: bool = True,
) -> ScoreSummary:
    """Score every case of ``path`` into ``out``, resuming an interrupted earlier run.

    Raises:
        InputError: unknown extensions, a malformed row (named by number), an ``out``
            that does not continue this input, or bad settings.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    path, out = Path(path), Path(out)
    if batch_size < 1 or top < 1:
        raise InputError(
            "score settings",
            expected="--batch-size >= 1 and top >= 1",
            found=f"batch size {batch_size}, top {top}",
            fix="pass --batch-size 256",
        )
    fmt = _output_format(out)
    total = count_rows(path)  # also refuses an unknown input extension
    if out.resolve() == path.resolve():
        raise InputError("--out", expected="a new file", found="the input file", fix="rename")
    writer = _ParquetWriter(out) if fmt == "parquet" else _LineWriter(out, fmt)
    skipped = scored = 0
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        skipped = writer.done
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("scoring", total=total, completed=skipped)
            for numbers, cases in iter_case_batches(path, batch_size, skip=skipped):
                writer.write(_rows(model, numbers, cases, top))
                scored += len(cases)
                bar.advance(task, len(cases))
    finally:
        if isinstance(writer, _LineWriter):
            writer.close()
    if isinstance(writer, _ParquetWriter):
        writer.close()  # merge only after every row is scored
    return ScoreSummary(scored=scored, skipped=skipped, out=out)

"""Batch scoring of case files on one of three engines: local processes, Ray or Spark.

:func:`score_distributed` is the one entry point. It checks the input and the settings on
the driver, starts the engine, lets it score into a hidden temporary directory, and
renames the result into place only when every row is written (see
:mod:`dxkit.scale.sources`). All engines score with :func:`dxkit.scale.frame.score_frame`
and write the same columns, so their answers are the same (tests compare them).

* ``local``: this process (``workers=1``) or a pool of ``workers`` spawned processes, each
  loading the model once; the driver reads the input in batches and writes in order.
* ``ray``: Ray Data reads the files and runs an actor pool of ``workers`` actors, each
  loading the model once (:mod:`dxkit.scale.ray_engine`).
* ``spark``: a local Spark session with ``workers`` cores runs ``mapInPandas`` with the
  model directory shipped to the executors (:mod:`dxkit.scale.spark_engine`).

Ray and Spark are imported only when chosen; importing dxkit never imports them.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dxkit.errors import DxkitError, InputError
from dxkit.models.base import read_manifest
from dxkit.scale import frame as frames
from dxkit.scale.sources import Inputs, commit_output, output_kind, resolve_inputs, start_output

ENGINES = ("local", "ray", "spark")


@dataclass(frozen=True)
class ScaleSummary:
    """What one run did, with the time split the benchmark reports."""

    engine: str
    workers: int
    cases: int
    startup_s: float  # engine start (sessions, worker processes) before the first batch
    total_s: float  # the whole call, input checks and commit included
    out: Path

    @property
    def cases_per_s(self) -> float:
        """Throughput over the whole call (what a scheduled job experiences)."""
        return self.cases / self.total_s if self.total_s > 0 else 0.0


def check_settings(engine: str, workers: int, batch_size: int, top: int) -> None:
    """Refuse an unknown engine or non-positive sizes before anything starts."""
    if engine not in ENGINES:
        raise InputError(
            "--engine",
            expected=f"one of {', '.join(ENGINES)}",
            found=repr(engine),
            fix="pass --engine local, ray or spark",
        )
    if workers < 1 or batch_size < 1 or top < 1:
        raise InputError(
            "score settings",
            expected="workers, batch size and top all >= 1",
            found=f"workers {workers}, batch size {batch_size}, top {top}",
            fix="pass --workers 2 --batch-size 512",
        )


def score_distributed(
    source: str | Path,
    out: str | Path,
    model_dir: str | Path,
    *,
    engine: str = "local",
    workers: int = 1,
    batch_size: int = 512,
    top: int = 5,
    overwrite: bool = False,
    loader: frames.Loader | None = None,
) -> ScaleSummary:
    """Score every case under ``source`` into ``out`` on ``engine``; see module.

    ``out`` ending in ``.parquet`` becomes a directory of part files, ``.jsonl`` one file;
    rows are in input order on ``local`` only. ``loader`` (picklable) turns the model
    directory into a model in each worker (default: the fastest backend).

    Raises:
        InputError: bad settings, a missing or unreadable input, a column that does not
            fit the case format, an existing ``out`` without ``overwrite``, a malformed
            row (named by case id), or the engine's package is not installed.
        DxkitError: a worker failed; nothing partial is left at ``out``.
    """
    started = time.perf_counter()
    check_settings(engine, workers, batch_size, top)
    out, model_dir = Path(out), Path(model_dir)
    kind = output_kind(out)
    read_manifest(model_dir)  # a missing or damaged model fails before any engine starts
    inputs = resolve_inputs(source)
    parts = start_output(out, overwrite=overwrite)
    try:
        if engine == "local":
            startup = _run_local(inputs, parts, model_dir, workers, batch_size, top, loader)
        elif engine == "ray":
            from dxkit.scale.ray_engine import run_ray

            startup = run_ray(inputs, parts, model_dir, workers, batch_size, top, loader)
        else:
            from dxkit.scale.spark_engine import run_spark

            startup = run_spark(inputs, parts, model_dir, workers, batch_size, top, loader)
        rows = commit_output(parts, out, kind)
    except DxkitError:
        raise
    except Exception as exc:  # the engine's own wrapper around a worker's error
        raise frames.driver_error(exc, engine) from None
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    total = time.perf_counter() - started
    return ScaleSummary(engine, workers, rows, startup, total, out)


def local_batches(inputs: Inputs, batch_size: int) -> Iterator[Any]:
    """pandas frames of at most ``batch_size`` rows, read on the driver in file order."""
    import pandas as pd
    import pyarrow as pa  # type: ignore[import-untyped]

    for path in inputs.paths:
        with inputs.fs.open(path, "rb") as handle:
            if inputs.fmt == "parquet":
                import pyarrow.parquet as pq  # type: ignore[import-untyped]

                for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_size):
                    yield batch.to_pandas()
            elif inputs.fmt == "csv":
                from dxkit.scale.ray_engine import csv_options

                read, parse, convert = csv_options(inputs.columns)
                import pyarrow.csv as pcsv  # type: ignore[import-untyped]

                table = pcsv.read_csv(
                    handle, read_options=read, parse_options=parse, convert_options=convert
                )
                for batch in table.to_batches(max_chunksize=batch_size):
                    yield pa.Table.from_batches([batch]).to_pandas()
            else:
                lines: list[str] = []
                for raw in handle:
                    if raw.strip():
                        lines.append(raw.decode("utf-8"))
                    if len(lines) >= batch_size:
                        yield pd.DataFrame({"line": lines})
                        lines = []
                if lines:
                    yield pd.DataFrame({"line": lines})


_WORKER: dict[str, Any] = {}


def _init_worker(model_dir: Path, loader: frames.Loader | None) -> None:
    _WORKER["loaded"] = frames.load_cached(model_dir, loader)


def _score_in_worker(frame: Any, layout: str, top: int) -> Any:
    try:
        return frames.score_frame(_WORKER["loaded"], frame, layout=layout, top=top)
    except Exception as exc:
        raise frames.worker_error(exc) from None


def _run_local(
    inputs: Inputs,
    parts: Path,
    model_dir: Path,
    workers: int,
    batch_size: int,
    top: int,
    loader: frames.Loader | None,
) -> float:
    """Score in this process or a spawned pool; returns the start-up seconds."""
    import multiprocessing

    import pyarrow.parquet as pq

    begin = time.perf_counter()
    parts.mkdir(parents=True)
    pool = None
    if workers > 1:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(model_dir, loader)
        )
        list(pool.map(time.sleep, [0.0] * workers))  # start them now: start-up is measured
    else:
        _init_worker(model_dir, loader)
    startup = time.perf_counter() - begin
    pending: deque[Future[Any]] = deque()
    try:
        with pq.ParquetWriter(parts / "part-00000.parquet", frames.output_schema()) as writer:

            def write(result: Any) -> None:
                writer.write_table(frames.to_arrow(result))

            for batch in local_batches(inputs, batch_size):
                if pool is None:
                    write(_score_in_worker(batch, inputs.layout, top))
                    continue
                pending.append(pool.submit(_score_in_worker, batch, inputs.layout, top))
                while len(pending) > 2 * workers:  # bounded memory, output in input order
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return startup

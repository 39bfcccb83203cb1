"""The Spark engine: a local Spark session scores the files with ``mapInPandas``.

The model directory is shipped to the executors with ``SparkContext.addFile`` (recursive)
and found there with ``SparkFiles.get``; each Python worker loads it once and keeps it in
a module-level cache keyed by path and model id (:func:`dxkit.scale.frame.load_cached`),
and Spark reuses its Python workers across tasks, so a model is not reloaded per batch.
Before shipping, the directory is copied to a path named after its model id, because Spark
refuses two different directories under one name in a session (two models both saved as
``model/``), while adding the same path again is harmless.

The session is local only: ``local[workers]``, the web UI off, the driver bound to
127.0.0.1, Arrow transfer on (``spark.sql.execution.arrow.pyspark.enabled``). A session
already active in the process (a notebook, the tests) is used as it is and left running.
Nested case fields (lifestyle, history, observations) are handed to Python as JSON text
(``to_json``), which :func:`dxkit.scale.frame.frame_cases` reads back. Inputs on
filesystems other than local disk are copied to a local temporary directory first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dxkit.errors import InputError
from dxkit.scale import frame as frames
from dxkit.scale.sources import Inputs, stage_locally


def require_spark() -> Any:
    """The ``pyspark.sql`` module, or an error saying what to install (pyspark or Java)."""
    try:
        import pyspark.sql
    except ImportError:
        raise InputError(
            "spark engine",
            expected="PySpark installed",
            found="no module named pyspark",
            fix='pip install "pyspark>=4.3", or pick --engine local',
        ) from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise InputError(
            "spark engine",
            expected="a Java 17 (or newer) runtime for Spark",
            found="no java on PATH and JAVA_HOME unset",
            fix="install one (Debian: apt-get install openjdk-17-jre-headless)",
        )
    return pyspark.sql


def _session(sql: Any, workers: int) -> tuple[Any, bool]:
    """(session, started here): the active session, else a new local one (see module)."""
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        return active, False
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        sql.SparkSession.builder.master(f"local[{workers}]")
        .appName("dxkit-score")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session, True


def ship_model(context: Any, model_dir: Path) -> str:
    """Add the model directory to the job under a name unique to its model id."""
    model_id = frames.manifest_id(model_dir)
    staged = Path(tempfile.gettempdir()) / "dxkit-spark-models" / f"dxkit-model-{model_id}"
    if not staged.is_dir():
        staged.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=staged.parent, prefix=".copy-"))
        shutil.copytree(model_dir, tmp / "model")
        with contextlib.suppress(OSError):  # another run staged the same model meanwhile
            os.replace(tmp / "model", staged)
        shutil.rmtree(tmp, ignore_errors=True)
    context.addFile(str(staged), recursive=True)
    return staged.name


def scorer(
    name: str, layout: str, top: int, loader: frames.Loader | None
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInPandas`` function: load the shipped model once, score each batch."""

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        from pyspark import SparkFiles

        try:
            loaded = frames.load_cached(Path(SparkFiles.get(name)), loader)
            for batch in batches:
                yield frames.score_frame(loaded, batch, layout=layout, top=top)
        except Exception as exc:
            raise frames.worker_error(exc) from None

    return score


def _read(spark: Any, inputs: Inputs, paths: list[str]) -> Any:
    """A DataFrame over the inputs, nested columns as JSON text (see module)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType

    if inputs.fmt == "jsonl":
        lines = spark.read.text(paths)
        return lines.filter(F.trim(lines.value) != "")
    if inputs.fmt == "csv":
        options = {"header": "true", "multiLine": "true", "escape": '"', "inferSchema": "false"}
        return spark.read.options(**options).csv(paths)
    frame = spark.read.parquet(*paths)
    nested = (StructType, ArrayType, MapType)
    return frame.select(
        *[
            F.to_json(F.col(f.name)).alias(f.name)
            if isinstance(f.dataType, nested)
            else F.col(f.name)
            for f in frame.schema.fields
        ]
    )


def run_spark(
    inputs: Inputs,
    parts: Path,
    model_dir: Path,
    workers: int,
    batch_size: int,
    top: int,
    loader: frames.Loader | None,
) -> float:
    """Score ``inputs`` into Parquet parts under ``parts``; returns the start-up seconds."""
    sql = require_spark()
    begin = time.perf_counter()
    spark, started_here = _session(sql, workers)
    startup = time.perf_counter() - begin
    try:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_size))
        # several splits per core, so a single input file still keeps every core busy
        split = max(1 << 20, inputs.nbytes // (4 * workers) + 1)
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(split))
        name = ship_model(spark.sparkContext, model_dir)
        with tempfile.TemporaryDirectory(prefix="dxkit-spark-") as staged:
            frame = _read(spark, inputs, stage_locally(inputs, Path(staged)))
            scored = frame.mapInPandas(
                scorer(name, inputs.layout, top, loader), frames.SPARK_SCHEMA
            )
            scored.write.parquet(str(parts))
    finally:
        if started_here:
            spark.stop()
    return startup

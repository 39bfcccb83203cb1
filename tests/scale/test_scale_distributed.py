"""Ray and Spark give the answers the local engine gives; a dying worker is a clear error.

One local Ray (``num_cpus=3``: two actors and a planning slot) and one local Spark
session (``local[2]``) per module, both reused by the engine (it leaves a session it did
not start running); nothing leaves the machine. Skipped with a reason when ray, pyspark
or Java are missing.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dxkit.errors import DxkitError
from dxkit.scale.engines import score_distributed

sys.path.insert(0, str(Path(__file__).parent))

import scale_helpers as helpers
from scale_helpers import assert_same, failing_loader, read_scores, to_parquet


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ray[data]')")
    pytest.importorskip("ray.data", reason="ray.data is not installed")
    # 2 actors + 1 slot for Ray Data's planning tasks (see dxkit.scale.ray_engine)
    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(helpers)  # the failing loader, by value
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def spark_session() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark)")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark (apt-get install openjdk-17-jre-headless)")
    from pyspark import cloudpickle
    from pyspark.sql import SparkSession

    from dxkit.scale.spark_engine import _session

    spark, _ = _session(sys.modules["pyspark.sql"], 2)
    cloudpickle.register_pickle_by_value(helpers)
    assert SparkSession.getActiveSession() is spark
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def local_answers(
    scale_model: Path, scale_cases: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    score_distributed(scale_cases, out, scale_model, engine="local", batch_size=8)
    return read_scores(out)


def test_ray_matches_local(
    ray_session: Any,
    scale_model: Path,
    scale_cases: Path,
    local_answers: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    parquet = to_parquet(scale_cases, tmp_path / "cases.parquet")
    summary = score_distributed(
        parquet, tmp_path / "ray.parquet", scale_model, engine="ray", workers=2, batch_size=6
    )
    assert summary.cases == 50 and ray_session.is_initialized()  # a caller's Ray is kept
    assert_same(local_answers, read_scores(tmp_path / "ray.parquet"))


def test_ray_worker_failure_leaves_no_output(
    ray_session: Any, scale_model: Path, scale_cases: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ray.jsonl"
    with pytest.raises(DxkitError, match="a worker failed with ValueError"):
        score_distributed(
            scale_cases, out, scale_model, engine="ray", workers=2, loader=failing_loader
        )
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_spark_matches_local_on_jsonl_parquet_and_memory_urls(
    spark_session: Any,
    scale_model: Path,
    scale_cases: Path,
    local_answers: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    import fsspec

    score_distributed(scale_cases, tmp_path / "a.jsonl", scale_model, engine="spark", workers=2)
    assert_same(local_answers, read_scores(tmp_path / "a.jsonl"))
    parquet = to_parquet(scale_cases, tmp_path / "cases.parquet")
    memory = fsspec.filesystem("memory")
    memory.pipe("/dxkit-spark/cases.parquet", parquet.read_bytes())
    out = tmp_path / "b.parquet"
    score_distributed("memory://dxkit-spark", out, scale_model, engine="spark", workers=2)
    assert_same(local_answers, read_scores(out))
    assert not [p for p in out.iterdir() if p.name.endswith(".crc") or p.name == "_SUCCESS"]
    memory.rm("/dxkit-spark", recursive=True)


def test_spark_worker_failure_leaves_no_output(
    spark_session: Any, scale_model: Path, scale_cases: Path, tmp_path: Path
) -> None:
    out = tmp_path / "spark.parquet"
    with pytest.raises(DxkitError, match="a worker failed with ValueError"):
        score_distributed(
            scale_cases, out, scale_model, engine="spark", workers=2, loader=failing_loader
        )
    assert not out.exists() and not list(tmp_path.glob(".*"))
    assert spark_session.range(3).count() == 3  # the caller's session still works

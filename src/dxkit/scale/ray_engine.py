"""The Ray engine: Ray Data reads the files, an actor pool scores them, Parquet parts out.

Each actor of the pool loads the model once, in ``__init__`` (through
:func:`dxkit.scale.frame.load_cached`), and then scores every batch Ray hands it, so a
model is loaded ``workers`` times per run, not once per batch. The actors reserve
``workers`` CPUs and the Ray started here has ``workers + 1``: the one spare slot runs Ray
Data's planning tasks (file listing), which need a whole CPU and would otherwise wait for
ever behind an actor pool holding every CPU (the run hangs). Read and write tasks reserve
no CPU (they are I/O-bound and must not queue behind the actors either). A Ray started by
the caller needs at least ``workers + 1`` CPUs for the same reason. Ray runs on this machine
only: ``ray.init(address="local")`` starts a private cluster (never one named by
``RAY_ADDRESS``) without a dashboard, and it is shut down after the run. A Ray already
started by the caller (a notebook, the tests) is used as it is and left running.

Files on other filesystems are read through fsspec (Arrow's ``FSSpecHandler``), except
``memory://``, whose content lives in the driver process only: it is copied to a local
temporary directory first. On a multi-machine cluster the model directory must be on
storage every node can read (the same path everywhere).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from dxkit.errors import InputError
from dxkit.scale import frame as frames
from dxkit.scale.sources import Inputs, stage_locally


def csv_options(columns: list[str]) -> tuple[Any, Any, Any]:
    """Arrow CSV options shared by the local and Ray readers: every cell a string.

    Strings, because type guessing would turn ``case_id`` 007 into the number 7, and
    quoted line breaks allowed, because notes span lines.
    """
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.csv as pcsv  # type: ignore[import-untyped]

    return (
        pcsv.ReadOptions(encoding="utf-8"),
        pcsv.ParseOptions(newlines_in_values=True),
        pcsv.ConvertOptions(
            column_types={c: pa.string() for c in columns}, strings_can_be_null=False
        ),
    )


def require_ray() -> Any:
    """The ``ray`` module, or an error saying which package to install."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise InputError(
            "ray engine",
            expected="Ray with its Data library installed",
            found="no module named ray (or ray.data)",
            fix='pip install "ray[data]>=2.60", or pick --engine local',
        ) from None
    return ray


class ScorerActor:
    """One Ray actor: loads the model once, then scores pandas batches (see module)."""

    def __init__(self, model_dir: str, layout: str, top: int, loader: frames.Loader | None) -> None:
        self.loaded = frames.load_cached(Path(model_dir), loader)
        self.layout, self.top = layout, top

    def __call__(self, batch: Any) -> Any:
        try:
            result = frames.score_frame(self.loaded, batch, layout=self.layout, top=self.top)
        except Exception as exc:
            raise frames.worker_error(exc) from None
        return frames.to_arrow(result)


def _read(ray: Any, inputs: Inputs, staged: Path, blocks: int) -> Any:
    """A Ray dataset over the inputs (see module for the filesystem rules)."""
    filesystem = None
    protocols = (
        inputs.fs.protocol if isinstance(inputs.fs.protocol, tuple) else (inputs.fs.protocol,)
    )
    if inputs.local or "memory" in protocols:
        paths = stage_locally(inputs, staged)
    else:
        from pyarrow.fs import FSSpecHandler, PyFileSystem  # type: ignore[import-untyped]

        filesystem, paths = PyFileSystem(FSSpecHandler(inputs.fs)), inputs.paths
    if inputs.fmt == "parquet":
        return ray.data.read_parquet(
            paths,
            filesystem=filesystem,
            override_num_blocks=blocks,
            file_extensions=None,
            num_cpus=0,
        )
    if inputs.fmt == "csv":
        read, parse, convert = csv_options(inputs.columns)
        return ray.data.read_csv(
            paths,
            filesystem=filesystem,
            override_num_blocks=blocks,
            read_options=read,
            parse_options=parse,
            convert_options=convert,
            file_extensions=None,
            num_cpus=0,
        )
    return ray.data.read_text(paths, filesystem=filesystem, override_num_blocks=blocks, num_cpus=0)


def run_ray(
    inputs: Inputs,
    parts: Path,
    model_dir: Path,
    workers: int,
    batch_size: int,
    top: int,
    loader: frames.Loader | None,
) -> float:
    """Score ``inputs`` into Parquet parts under ``parts``; returns the start-up seconds."""
    ray = require_ray()
    begin = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address="local",
            num_cpus=workers + 1,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    elif ray.cluster_resources().get("CPU", 0) < workers + 1:
        raise InputError(
            "--workers",
            expected=f"a running Ray with at least {workers + 1} CPUs for {workers} workers",
            found=f"{ray.cluster_resources().get('CPU', 0):g} CPUs",
            fix=f"pass --workers {max(1, int(ray.cluster_resources().get('CPU', 2)) - 1)}",
        )
    ray.data.DataContext.get_current().enable_progress_bars = False
    startup = time.perf_counter() - begin
    try:
        with tempfile.TemporaryDirectory(prefix="dxkit-ray-") as staged:
            dataset = _read(ray, inputs, Path(staged), blocks=max(4 * workers, 8))
            scored = dataset.map_batches(
                ScorerActor,
                fn_constructor_args=(str(model_dir), inputs.layout, top, loader),
                compute=ray.data.ActorPoolStrategy(size=workers),
                batch_size=batch_size,
                batch_format="pandas",
                num_cpus=1,
            )
            scored.write_parquet(str(parts), ray_remote_args={"num_cpus": 0})
    finally:
        if started_here:
            ray.shutdown()
    return startup

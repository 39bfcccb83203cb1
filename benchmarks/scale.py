"""Scale benchmark: local processes vs Ray vs Spark, 1 and 2 workers, on generated cases.

Not a test. It generates ``--cases`` synthetic cases with the embedded cohort generator,
writes them as one Parquet file in a temporary directory (generation is not timed),
then scores that file with the default model (TF-IDF) on every engine and worker count,
each run starting its own engine (so start-up is part of what is measured) and writing
Parquet parts. Printed per run: start-up seconds, total seconds, cases/s over the whole
call, cases/s after start-up, and the overhead against the local engine with the same
number of workers (total time ratio; 1.00 = as fast as local).

    HF_HUB_OFFLINE=1 python benchmarks/scale.py                 # 200,000 cases
    HF_HUB_OFFLINE=1 python benchmarks/scale.py --cases 30000   # about 5 min on 2 cores
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from dxkit.cases.synthetic import CohortConfig, NoiseConfig, generate_cohort
from dxkit.models.default import default_model_dir, load_default_model
from dxkit.scale.engines import ENGINES, ScaleSummary, score_distributed
from dxkit.scale.sources import write_cases_parquet


def generate(n: int, into: Path) -> Path:
    """``n`` cases (ids unique across chunks) as one Parquet file, 10,000 rows a row group."""
    cases = []
    for seed, start in enumerate(range(0, n, 20_000)):
        size = min(20_000, n - start)
        config = CohortConfig(n=size, seed=1000 + seed, noise=NoiseConfig(implausible_rate=0.0))
        for lc in generate_cohort(config):
            cases.append(lc.case.model_copy(update={"case_id": f"b{seed}-{lc.case.case_id}"}))
    return write_cases_parquet(cases, into / "cases.parquet", row_group_size=10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200_000, help="cases to generate")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--engines", default=",".join(ENGINES), help="engines to run")
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()
    load_default_model()  # trained and cached on first use, outside the timings
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="dxkit-scale-bench-") as work:
        begin = time.perf_counter()
        source = generate(args.cases, Path(work))
        size = source.stat().st_size / 2**20
        print(
            f"generated {args.cases} cases ({size:.1f} MiB Parquet) in "
            f"{time.perf_counter() - begin:.0f} s (not counted)"
        )
        print(
            f"machine: {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"batch size {args.batch_size}; model {default_model_dir().name}"
        )
        results: dict[tuple[str, int], ScaleSummary] = {}
        for engine in args.engines.split(","):
            for count in workers:
                out = Path(work) / f"{engine}-{count}.parquet"
                results[engine, count] = score_distributed(
                    source,
                    out,
                    default_model_dir(),
                    engine=engine,
                    workers=count,
                    batch_size=args.batch_size,
                )
                summary = results[engine, count]
                assert summary.cases == args.cases, summary
                print(f"  done {engine} x{count}: {summary.total_s:.1f} s", flush=True)
    print()
    print(
        "| engine | workers | start-up s | total s | cases/s | cases/s after start-up "
        "| overhead vs local |"
    )
    print("|---|---|---|---|---|---|---|")
    for (engine, count), s in results.items():
        local = results.get(("local", count))
        ratio = f"{s.total_s / local.total_s:.2f}" if local else "n/a"
        steady = s.cases / max(s.total_s - s.startup_s, 1e-9)
        print(
            f"| {engine} | {count} | {s.startup_s:.1f} | {s.total_s:.1f} | "
            f"{s.cases_per_s:,.0f} | {steady:,.0f} | {ratio} |"
        )


if __name__ == "__main__":
    main()

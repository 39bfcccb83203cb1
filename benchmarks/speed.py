"""Inference speed: HF pipeline vs dxkit torch, ONNX fp32 and ONNX int8 (same run, same cases).

Not a test: it fine-tunes (or takes) a real MiniLM-L6 model and prints measured figures.
The same benchmark runs as ``dxkit bench``; see :mod:`dxkit.inference.bench`. Each
measurement runs in a fresh process and starts once the 1-minute load average is <= 1.5
(or after waiting 2 minutes); the load averages are printed beside the figures, since a
shared machine's other work shows up in every latency.

    HF_HUB_OFFLINE=1 python benchmarks/speed.py                  # train + cache a model
    HF_HUB_OFFLINE=1 python benchmarks/speed.py --model DIR      # a fine-tuned encoder
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dxkit.inference.bench import run_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="fine-tuned encoder dir")
    parser.add_argument("--cases", type=int, default=400, help="validation cases")
    parser.add_argument("--work", type=Path, default=None, help="cache folder (outside repo)")
    args = parser.parse_args()
    run_benchmark(model_dir=args.model, n_cases=args.cases, work=args.work)


if __name__ == "__main__":
    main()

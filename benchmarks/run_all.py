"""Run every benchmark in turn (``make bench``): each prints its table and writes
``benchmarks/results/<name>.json``. Run on a quiet machine: the timings are wall-clock.

    .venv/bin/python benchmarks/run_all.py [--only features,upload]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "simulate",
    "features",
    "upload",
    "scoring",
    "training",
    "early_warning",
    "what_is_possible",
    "list_target",
    "serving",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    failed = []
    for name in names:
        print(f"\n=== bench_{name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(HERE / f"bench_{name}.py")]).returncode
        print(f"=== bench_{name}: exit {code} after {time.perf_counter() - started:.0f} s ===")
        if code:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

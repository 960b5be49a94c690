"""Benchmark: simulate a 50,000-pupil authority over three academic years and write it.

Target (issue "pupils live through their year"): 50,000 pupils × 3 years (~57 million marks)
within twice the time of the budget model it replaced (21.7 s on this 2-core machine, measured
2026-12-01: 15.7 s simulating, 6.0 s writing) and in ≤ 4 GB. Runs in this process (the
simulator is the only thing measured), and times simulation and writing separately.

    python benchmarks/bench_simulate.py [--pupils 50000] [--schools 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
BEFORE_SECONDS = 21.7  # the budget model, benchmarks/results/simulate.json of 2026-12-01
TARGET_SECONDS = 2 * BEFORE_SECONDS
TARGET_RSS_MB = 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=50_000)
    parser.add_argument("--schools", type=int, default=None)
    parser.add_argument("--years", default="2022/23,2023/24,2024/25")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write here and keep it")
    args = parser.parse_args()

    from simulator import SimulationConfig, simulate_authority, write_authority
    from simulator.config import parse_years

    config = SimulationConfig(
        pupils=args.pupils, schools=args.schools, years=parse_years(args.years), seed=args.seed
    )
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    started = time.perf_counter()
    authority = simulate_authority(config)
    simulated = time.perf_counter()
    counts = write_authority(authority, out)
    written = time.perf_counter()
    parquet_mb = (out / "marks.parquet").stat().st_size / 2**20
    if args.keep is None:
        shutil.rmtree(out)

    total = written - started
    result = {
        "pupils": args.pupils,
        "schools": config.school_count,
        "years": list(config.years),
        "pupil_years": counts["pupils"],
        "marks": counts["marks"],
        "simulate_s": round(simulated - started, 2),
        "write_s": round(written - simulated, 2),
        "total_s": round(total, 2),
        "marks_per_s": round(counts["marks"] / total),
        "marks_parquet_mb": round(parquet_mb, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "episodes": counts["episodes"],
        "before_s": BEFORE_SECONDS,
        "target_s": TARGET_SECONDS,
        "target_rss_mb": TARGET_RSS_MB,
        "within_target": total <= TARGET_SECONDS
        and resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 <= TARGET_RSS_MB,
    }
    print(f"\nSimulator benchmark ({args.pupils:,} pupils, {len(config.years)} years)")
    width = max(len(k) for k in result)
    for name, value in result.items():
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        print(f"  {name:<{width}}  {shown}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "simulate.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

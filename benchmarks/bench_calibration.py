"""Benchmark: the simulator's calibration report on a calibration-size authority, both regimes.

The same authority as ``tests/simulator/test_simulate_calibration.py`` (16,000 pupils, 64
schools, two years, eight times the national share of special-school pupils; seed 2024) and
the same report as ``ews simulate --report``: every target simulated beside real, with its
tolerance, plus persistent absence *so far* through the year. Prints markdown tables (they
are docs/simulator.md's "Calibration, measured") and writes
``benchmarks/results/calibration.json``.

    python benchmarks/bench_calibration.py [--pupils 16000] [--seed 2024]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
YEARS = ("2023/24", "2024/25")


def _markdown(targets) -> str:  # type: ignore[no-untyped-def]
    from simulator.report import format_value as shown

    lines = ["| target | group | simulated | real | accepted | met |", "|---|---|---|---|---|---|"]
    for t in targets:
        span = f"{shown(t.low, t.unit)} – {shown(t.high, t.unit)}" if t.judged else "not judged"
        met = "" if not t.judged else ("yes" if t.passes else "**no**")
        lines.append(
            f"| {t.name} | {t.group} | {shown(t.simulated, t.unit)} | {shown(t.real, t.unit)} "
            f"| {span} | {met} |"
        )
    return "\n".join(lines)


def _plain(value):  # type: ignore[no-untyped-def]
    """NumPy scalars (the report's bools and floats) as Python's."""
    return value.item() if hasattr(value, "item") else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=16_000)
    parser.add_argument("--schools", type=int, default=64)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    from simulator import SimulationConfig, simulate_authority
    from simulator.report import calibration_report, pa_so_far_table

    results = {}
    for regime in ("2022/23", "2018/19"):
        config = SimulationConfig(
            pupils=args.pupils,
            schools=args.schools,
            years=YEARS,
            regime=regime,
            seed=args.seed,
            special_pupil_factor=8,
        )
        started = time.perf_counter()
        targets, outcomes = calibration_report(simulate_authority(config))
        seconds = time.perf_counter() - started
        judged = [t for t in targets if t.judged]
        met = sum(t.passes for t in judged)
        print(f"\n### Regime {regime}: {met} of {len(judged)} targets met ({seconds:.0f} s)\n")
        print(_markdown(targets))
        print("\n```\n" + pa_so_far_table(outcomes) + "\n```")
        results[regime] = {
            "targets": [asdict(t) | {"passes": t.passes if t.judged else None} for t in targets],
            "met": met,
            "judged": len(judged),
            "pa_so_far": pa_so_far_table(outcomes),
        }
    RESULTS.mkdir(exist_ok=True)
    payload = {"pupils": args.pupils, "schools": args.schools, "seed": args.seed} | results
    (RESULTS / "calibration.json").write_text(json.dumps(payload, indent=2, default=_plain) + "\n")


if __name__ == "__main__":
    main()

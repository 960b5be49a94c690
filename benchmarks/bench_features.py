"""Benchmark: marks → trajectories → snapshot features for every week of a year.

Target (issue 2): a 50,000-pupil authority × one full year (~19 million marks) in ≤ 20 s and
≤ 3 GB peak memory on a 2-core machine. The pipeline runs in a fresh child process so the peak
RSS is the pipeline's own (reading the Parquet file included), not the simulator's.

It also runs a straightforward per-pupil ``groupby().apply`` version of the same features on a
random sample of enrolments, checks that it agrees with the vectorised pipeline, and reports
the per-enrolment cost ratio (the reference is far too slow to run on 50,000 pupils).

    python benchmarks/bench_features.py [--pupils 50000] [--sample 500]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from authorities import simulated_authority

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache"
RESULTS = ROOT / "results"
YEAR = "2024/25"


def ensure_authority(pupils: int, seed: int) -> Path:
    """Simulate (once, cached) an authority of ``pupils`` pupils for one academic year."""
    return simulated_authority(f"authority-{pupils}-{seed}", pupils, YEAR, seed)


def run_pipeline(data_dir: Path) -> dict[str, float]:
    """Child process: time each stage and report peak RSS."""
    from features.snapshots import load_authority, snapshot_features
    from features.trajectory import build_trajectory

    t0 = time.perf_counter()
    schools, pupils, marks = load_authority(data_dir)
    t1 = time.perf_counter()
    trajectory = build_trajectory(marks)
    t2 = time.perf_counter()
    snapshots = snapshot_features(trajectory, pupils, schools)
    t3 = time.perf_counter()
    return {
        "marks": len(marks),
        "enrolments": int(snapshots[["school_urn", "upn"]].drop_duplicates().shape[0]),
        "snapshot_rows": len(snapshots),
        "weeks": int(snapshots["week"].max()),
        "read_s": t1 - t0,
        "trajectory_s": t2 - t1,
        "snapshots_s": t3 - t2,
        "total_s": t3 - t0,
        "compute_s": t3 - t1,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- the straightforward reference --------------------------------------------------------


def naive_enrolment_features(marks: pd.DataFrame) -> pd.DataFrame:
    """Per-enrolment features the obvious way: Python per mark and per week (the same
    definitions as :mod:`features.snapshots`, for the features listed in the result)."""
    from features.codes import Category, category_on

    marks = marks.sort_values(["date", "session"])
    cats = [
        category_on(str(c), d.date()) for c, d in zip(marks["code"], marks["date"], strict=True)
    ]
    counted_categories = (
        Category.PRESENT,
        Category.AEA,
        Category.AUTHORISED,
        Category.UNAUTHORISED,
        Category.COVID_X,
    )
    frame = marks.assign(
        counted=[c in counted_categories for c in cats],
        absent=[c in (Category.AUTHORISED, Category.UNAUTHORISED) for c in cats],
        authorised=[c == Category.AUTHORISED for c in cats],
        unauthorised=[c == Category.UNAUTHORISED for c in cats],
    )
    frame = frame[frame["counted"]]
    run, spells, longest = 0, 0, 0
    spell_rows, longest_rows = [], []
    for is_absent in frame["absent"]:
        if is_absent:
            spells += run == 0
            run += 1
            longest = max(longest, run)
        else:
            run = 0
        spell_rows.append(spells)
        longest_rows.append(longest)
    weekday = frame["date"].dt.day_of_week
    frame = frame.assign(
        spells=spell_rows,
        longest=longest_rows,
        illness=frame["absent"] & (frame["code"] == "I"),
        monday=frame["absent"] & (weekday == 0),
        monday_possible=weekday == 0,
        friday=frame["absent"] & (weekday == 4),
        friday_possible=weekday == 4,
        pm=frame["absent"] & (frame["session"] == "PM"),
        pm_possible=frame["session"] == "PM",
    )
    weekly = frame.groupby("week").agg(
        possible=("counted", "sum"),
        absence=("absent", "sum"),
        authorised=("authorised", "sum"),
        unauthorised=("unauthorised", "sum"),
        illness=("illness", "sum"),
        monday=("monday", "sum"),
        monday_possible=("monday_possible", "sum"),
        friday=("friday", "sum"),
        friday_possible=("friday_possible", "sum"),
        pm=("pm", "sum"),
        pm_possible=("pm_possible", "sum"),
        spells=("spells", "last"),
        longest=("longest", "last"),
    )
    weekly["any_absence"] = weekly["absence"] > 0
    weekly["on_roll"] = weekly["possible"] > 0
    cumulative = weekly.drop(columns=["spells", "longest"]).cumsum()
    out = pd.DataFrame(
        {
            "absence_rate_ytd": cumulative["absence"] / cumulative["possible"],
            "authorised_rate_ytd": cumulative["authorised"] / cumulative["possible"],
            "unauthorised_rate_ytd": cumulative["unauthorised"] / cumulative["possible"],
            "illness_rate_ytd": cumulative["illness"] / cumulative["possible"],
            "spells_ytd": weekly["spells"].astype(float),
            "longest_spell_days_ytd": weekly["longest"] / 2,
            "monday_absence_rate": cumulative["monday"] / cumulative["monday_possible"],
            "friday_absence_rate": cumulative["friday"] / cumulative["friday_possible"],
            "pm_absence_rate": cumulative["pm"] / cumulative["pm_possible"],
            "monday_absence_share": cumulative["monday"]
            / cumulative["absence"].where(cumulative["absence"] > 0),
            "absence_weeks_share_ytd": cumulative["any_absence"] / cumulative["on_roll"],
        }
    )
    for k in (2, 4, 8):
        # Windows of school weeks: the pupil's own weeks here, which are the school's weeks
        # for a pupil on roll all year (the sample keeps such pupils only).
        window = weekly[["possible", "absence"]].rolling(k, min_periods=1).sum()
        out[f"absence_rate_{k}w"] = window["absence"] / window["possible"]
        out[f"absence_change_{k}w"] = out[f"absence_rate_{k}w"] - out["absence_rate_ytd"]
    return out.astype(float)


def run_reference(data_dir: Path, sample: int, seed: int) -> dict[str, float]:
    from features.snapshots import load_authority, snapshot_features
    from features.trajectory import build_trajectory

    schools, pupils, marks = load_authority(data_dir)
    rng = np.random.default_rng(seed)
    # Pupils on roll in every school week of their school (the reference's windows count the
    # pupil's own weeks; see naive_enrolment_features).
    full_year = build_trajectory(marks).groupby(["school_urn", "upn"], observed=True)["week"]
    counts = full_year.count()
    last = full_year.max()
    whole = counts[counts == last].index.get_level_values("upn").astype(str).unique()
    upns = rng.choice(np.asarray(whole), size=sample, replace=False)
    subset = marks[marks["upn"].astype(str).isin(set(upns))].copy()
    subset["upn"] = subset["upn"].astype(str)

    t0 = time.perf_counter()
    vectorised = snapshot_features(build_trajectory(subset), pupils, schools)
    t1 = time.perf_counter()
    trajectory = build_trajectory(subset)  # week numbers, as the reference needs them too
    weeks = trajectory[["school_urn", "upn", "week_start", "week"]]
    subset["week_start"] = subset["date"] - pd.to_timedelta(subset["date"].dt.day_of_week, "D")
    subset = subset.merge(weeks, on=["school_urn", "upn", "week_start"], how="left")
    t2 = time.perf_counter()
    naive = subset.groupby(["school_urn", "upn"]).apply(naive_enrolment_features)
    t3 = time.perf_counter()

    naive = naive.reset_index().set_index(["school_urn", "upn", "week"])
    check = vectorised.set_index(["school_urn", "upn", "week"])[naive.columns].loc[naive.index]
    agree = bool(np.allclose(check.to_numpy(), naive.to_numpy(), equal_nan=True))
    return {
        "sample_enrolments": sample,
        "features_compared": list(naive.columns),
        "vectorised_s": t1 - t0,
        "groupby_apply_s": t3 - t2,
        "ratio": (t3 - t2) / (t1 - t0),
        "agree": agree,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        print(json.dumps(run_pipeline(args.child)))
        return

    data_dir = ensure_authority(args.pupils, args.seed)
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    pipeline = json.loads(child.stdout.strip().splitlines()[-1])
    reference = run_reference(data_dir, args.sample, args.seed)
    marks_per_s = pipeline["marks"] / pipeline["total_s"]

    rows = [
        ("pupils (enrolments)", f"{pipeline['enrolments']:,}"),
        ("marks", f"{pipeline['marks']:,}"),
        (
            "snapshot rows (every week)",
            f"{pipeline['snapshot_rows']:,} ({pipeline['weeks']} weeks)",
        ),
        ("read Parquet", f"{pipeline['read_s']:.1f} s"),
        ("marks → trajectory", f"{pipeline['trajectory_s']:.1f} s"),
        ("trajectory → snapshots", f"{pipeline['snapshots_s']:.1f} s"),
        ("total (target ≤ 20 s)", f"{pipeline['total_s']:.1f} s"),
        ("throughput", f"{marks_per_s / 1e6:.2f} M marks/s"),
        ("peak memory (target ≤ 3 GB)", f"{pipeline['peak_rss_mb'] / 1024:.2f} GB"),
        (
            f"groupby.apply on {reference['sample_enrolments']} enrolments",
            f"{reference['groupby_apply_s']:.1f} s vs {reference['vectorised_s']:.2f} s "
            f"vectorised: {reference['ratio']:.0f}× slower; same values: {reference['agree']} "
            f"({len(reference['features_compared'])} features compared)",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nFeature pipeline benchmark ({args.pupils:,} pupils, {YEAR})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    result = {
        "pupils": args.pupils,
        "year": YEAR,
        **pipeline,
        "marks_per_s": marks_per_s,
        "reference": reference,
        "targets": {"total_s": 20, "peak_rss_mb": 3 * 1024},
        "meets_targets": pipeline["total_s"] <= 20 and pipeline["peak_rss_mb"] <= 3 * 1024,
    }
    (RESULTS / "features.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

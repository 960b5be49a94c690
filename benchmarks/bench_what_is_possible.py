"""Benchmark: what could any early-warning list do on the simulated authorities?

The same authorities and test years as ``bench_early_warning.py`` (6,000 pupils, 2020/21–
2024/25, seeds 0, 1, 2; test years 2023/24 and 2024/25), no model. For the newly-PA pupils of
each test year:

* **reachable**: the share whom *some* extra list could surface ≥ 4 weeks ahead at all (off the
  school's list two weeks running early enough: ``training.early_warning.reachable``);
* **hindsight list**: the extra list of the same size (3% of the roll a week) drawn by a list
  that knows who becomes PA and when (``hindsight_score``): surfaced ≥ 4 weeks ahead, share of
  surfaced pupils who end PA, yield — how far the definitions allow a list to go;
* **what the registers could show**, from the simulator's ground truth (``episodes.parquet``,
  read here and never by a feature): the share whose first episode of the year (long illness,
  anxiety, family crisis, disengagement, holiday, suspension; not one carried over from last
  year) begins fewer than 4 weeks before they cross or after, the share with no new episode
  (PA through their own propensity and its drift), and when newly-PA pupils cross.

    python benchmarks/bench_what_is_possible.py [--seeds 0,1,2] [--pupils 6000]

Numbers, not a gate: they say which of the early-warning targets the simulated registers allow
(docs/modelling.md, "What is possible").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from authorities import ROLLING_TEST_YEARS, rolling_origin_authority, year_lists

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
LEAD_WEEKS = 4
SHARE = 0.03


def episode_timing(
    episodes: pd.DataFrame, rows: pd.DataFrame, crossing: pd.Series, enrolment: np.ndarray
) -> dict[str, float]:
    """Per newly-PA enrolment, when its first new episode of the year began against its
    crossing week (school weeks)."""
    weeks = rows.groupby("week")["as_of"].min().sort_values()
    ends = pd.to_datetime(weeks).to_numpy(dtype="datetime64[ns]")
    fresh = episodes[~episodes["carried_over"]].copy()
    fresh["start_week"] = np.searchsorted(ends, fresh["start"].to_numpy("datetime64[ns]")) + 1
    keys = rows[["academic_year", "school_urn", "upn"]].astype(str)
    ids = (
        pd.Series(enrolment, index=pd.MultiIndex.from_frame(keys)).groupby(level=[0, 1, 2]).first()
    )
    fresh_keys = pd.MultiIndex.from_frame(fresh[["academic_year", "school_urn", "upn"]].astype(str))
    fresh["enrolment"] = ids.reindex(fresh_keys).to_numpy()
    first = fresh.dropna(subset=["enrolment"]).groupby("enrolment")["start_week"].min()
    first = first.set_axis(first.index.astype(int)).reindex(crossing.index)
    ahead = crossing - first
    return {
        "no_new_episode": float(first.isna().mean()),
        "episode_under_4_weeks_before_crossing": float((ahead < LEAD_WEEKS).mean()),
        "episode_4_or_more_weeks_before": float((ahead >= LEAD_WEEKS).mean()),
    }


def one_year(snapshots: pd.DataFrame, episodes: pd.DataFrame, test_year: str) -> dict:
    from training.early_warning import (
        crossing_weeks,
        extra_list_summary,
        hindsight_score,
        reachable,
    )

    rows, lists = year_lists(snapshots, test_year)
    crossing = crossing_weeks(lists)
    hindsight = extra_list_summary(hindsight_score(lists, LEAD_WEEKS), lists, SHARE, LEAD_WEEKS)
    year_episodes = episodes[episodes["academic_year"].astype(str) == test_year]
    return {
        "test_year": test_year,
        "newly_pa": len(crossing),
        "reachable_share": float(reachable(lists, LEAD_WEEKS).mean()),
        "hindsight_surfaced_ahead_share": hindsight["surfaced_ahead_share"],
        "hindsight_surfaced_end_pa": hindsight["surfaced_end_pa"],
        "hindsight_yield": hindsight["yield"],
        "crossing_by_week_6": float((crossing <= 6).mean()),
        "crossing_median_week": float(crossing.median()),
        **episode_timing(year_episodes, rows, crossing, lists.frame.enrolment),
    }


SHOWN = [
    "newly_pa",
    "reachable_share",
    "hindsight_surfaced_ahead_share",
    "hindsight_surfaced_end_pa",
    "hindsight_yield",
    "crossing_by_week_6",
    "crossing_median_week",
    "no_new_episode",
    "episode_under_4_weeks_before_crossing",
    "episode_4_or_more_weeks_before",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--pupils", type=int, default=6000)
    args = parser.parse_args()

    started = time.perf_counter()
    records = []
    for seed in (int(s) for s in args.seeds.split(",")):
        snapshots, episodes = rolling_origin_authority(seed, args.pupils)
        for test_year in ROLLING_TEST_YEARS:
            records.append({"seed": seed, **one_year(snapshots, episodes, test_year)})
    table = pd.DataFrame(records)
    print(table[["seed", "test_year", *SHOWN]].to_string(index=False, float_format="%.3f"))
    summary = {c: {"mean": float(table[c].mean()), "sd": float(table[c].std())} for c in SHOWN}
    print("\nMean ± SD over seeds × test years")
    width = max(len(c) for c in SHOWN)
    for column, value in summary.items():
        print(f"  {column:<{width}}  {value['mean']:.3f} ± {value['sd']:.3f}")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "seeds": args.seeds,
        "pupils": args.pupils,
        "test_years": list(ROLLING_TEST_YEARS),
        "lead_weeks": LEAD_WEEKS,
        "extra_list_share": SHARE,
        "runs": json.loads(table.to_json(orient="records")),
        "summary": summary,
        "seconds": time.perf_counter() - started,
    }
    (RESULTS / "what_is_possible.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'what_is_possible.json'}")


if __name__ == "__main__":
    main()

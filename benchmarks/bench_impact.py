"""Benchmark: does the adjusted impact estimate find the true effect of support?

For each true effect (0, small, large) and each simulator seed: one small simulated authority
(``--pupils`` pupils, three schools, two years) with support applied by the documented
referral policy (``simulator.support``), then the impact report of ``ews impact`` on its marks
and referrals. Reported per effect: the true effect (mean over the referrals measured), the
naive before/after figure, the adjusted estimate, how often the adjusted 95% interval covers
the true effect, and how often it excludes 0.

    python benchmarks/bench_impact.py [--seeds 20] [--effects 0,3,8] [--pupils 1200] [--jobs 2]

``--compare-local-fit 20,30,40,60`` instead compares the sizes of the bias correction's local
fit side by side, on authorities with no effect drawn from seeds apart from the validation's
(``--first-seed``, default 5000): the choice of :data:`features.impact.LOCAL_FIT_PUPILS` is
made there, never on the validation's own authorities. Writes ``results/impact_local_fit.json``.

Targets (issue 11): coverage of the adjusted interval ≥ 90% per effect; at a true effect of 0
the naive figure shows regression to the mean and the adjusted one does not.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def _authority_with_support(effect: float, seed: int, pupils: int):  # type: ignore[no-untyped-def]
    from simulator.authority import simulate_authority
    from simulator.config import SimulationConfig, parse_years
    from simulator.support import SupportPolicy, add_support

    config = SimulationConfig(
        pupils=pupils, schools=3, years=parse_years("2023/24,2024/25"), seed=seed
    )
    authority, support = add_support(simulate_authority(config), SupportPolicy(effect_pts=effect))
    year_groups = authority.pupils[["school_urn", "upn", "academic_year", "year_group"]].assign(
        upn=lambda d: d["upn"].astype(str)
    )
    return authority, support, year_groups


def one_authority(args: tuple[float, int, int]) -> dict:
    from features.impact import impact_report, match_referrals

    effect, seed, pupils = args
    authority, support, year_groups = _authority_with_support(effect, seed, pupils)
    referrals = support.referrals[["school_urn", "upn", "referred_on"]]
    matched = match_referrals(authority.marks, referrals, year_groups)
    report = impact_report(authority.marks, referrals, year_groups, matched=matched, seed=seed)
    ids = support.referrals["referral_id"].to_numpy()[matched.referral]
    truth = support.truth.set_index("referral_id").reindex(ids)["effect_after_referral_pts"]
    true = float(truth.mean())
    adjusted = report["adjusted"]
    return {
        "effect_set": effect,
        "seed": seed,
        "referrals": report["referrals"],
        "true_effect": true,
        "naive": report["naive"]["estimate"],
        "share_improved": report["naive"]["share_improved"],
        "adjusted": adjusted["estimate"],
        "low": adjusted["low"],
        "high": adjusted["high"],
        "covers": bool(adjusted["low"] <= true <= adjusted["high"]),
        "naive_error": report["naive"]["estimate"] - true,
        "adjusted_error": adjusted["estimate"] - true,
        "excludes_zero": bool(adjusted["low"] > 0 or adjusted["high"] < 0),
    }


def local_fits(args: tuple[int, int, tuple[int, ...]]) -> list[dict]:
    """One authority with no effect: the adjusted estimate with each size of local fit."""
    from features.impact import adjusted_estimate, match_referrals, weekly_attendance

    seed, pupils, sizes = args
    authority, support, year_groups = _authority_with_support(0.0, seed, pupils)
    referrals = support.referrals[["school_urn", "upn", "referred_on"]]
    weekly = weekly_attendance(authority.marks)
    out = []
    for size in sizes:
        matched = match_referrals(
            authority.marks, referrals, year_groups, weekly=weekly, local_fit=size
        )
        estimate, low, high = adjusted_estimate(matched, seed=seed)
        out.append({"local_fit": size, "seed": seed, "estimate": estimate, "low": low,
                    "high": high, "covers": bool(low <= 0 <= high)})  # fmt: skip
    return out


def compare_local_fits(options: argparse.Namespace) -> None:
    sizes = tuple(int(s) for s in options.compare_local_fit.split(","))
    seeds = range(options.first_seed, options.first_seed + options.seeds)
    started = time.perf_counter()
    with ProcessPoolExecutor(options.jobs) as pool:
        rows = [r for rs in pool.map(local_fits, [(s, options.pupils, sizes) for s in seeds])
                for r in rs]  # fmt: skip
    runs = pd.DataFrame(rows)
    grouped = runs.groupby("local_fit")
    table = pd.DataFrame(
        {
            "authorities": grouped.size(),
            "mean_error": grouped["estimate"].mean(),
            "sd": grouped["estimate"].std(),
            "rmse": np.sqrt((runs["estimate"] ** 2).groupby(runs["local_fit"]).mean()),
            "width": (runs["high"] - runs["low"]).groupby(runs["local_fit"]).mean(),
            "coverage": grouped["covers"].mean(),
        }
    ).reset_index()
    elapsed = time.perf_counter() - started
    print(f"true effect 0, {len(seeds)} authorities (seeds {seeds.start}-{seeds.stop - 1}) "
          f"of {options.pupils} pupils in {elapsed:.0f} s")  # fmt: skip
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "impact_local_fit.json"
    record = {
        "pupils": options.pupils,
        "seeds": [seeds.start, seeds.stop - 1],
        "elapsed_s": round(elapsed, 1),
        "summary": json.loads(table.to_json(orient="records")),
        "runs": json.loads(runs.to_json(orient="records")),
    }
    out.write_text(json.dumps(record, indent=1))
    print(f"-> {out}")


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    grouped = runs.groupby("effect_set")
    return pd.DataFrame(
        {
            "authorities": grouped.size(),
            "referrals": grouped["referrals"].mean(),
            "true": grouped["true_effect"].mean(),
            "naive": grouped["naive"].mean(),
            "adjusted": grouped["adjusted"].mean(),
            "adj_sd": grouped["adjusted"].std(),
            "width": (runs["high"] - runs["low"]).groupby(runs["effect_set"]).mean(),
            "coverage": grouped["covers"].mean(),
            "excl_0": grouped["excludes_zero"].mean(),
        }
    ).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--effects", default="0,3,8")
    parser.add_argument("--pupils", type=int, default=1200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--compare-local-fit", default=None, help="e.g. 20,30,40,60")
    parser.add_argument("--first-seed", type=int, default=5000)
    options = parser.parse_args()
    if options.compare_local_fit:
        compare_local_fits(options)
        return
    effects = [float(e) for e in options.effects.split(",")]
    # Each effect gets its own authorities (seeds), so the rows are independent evidence.
    tasks = [
        (e, 1000 * i + seed, options.pupils)
        for i, e in enumerate(effects)
        for seed in range(options.seeds)
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(options.jobs) as pool:
        runs = pd.DataFrame(list(pool.map(one_authority, tasks)))
    elapsed = time.perf_counter() - started
    table = summary(runs)
    print(f"{len(runs)} authorities of {options.pupils} pupils in {elapsed:.0f} s")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "impact.json"
    out.write_text(
        json.dumps(
            {
                "pupils": options.pupils,
                "seeds": options.seeds,
                "elapsed_s": round(elapsed, 1),
                "summary": json.loads(table.to_json(orient="records")),
                "runs": json.loads(runs.replace({np.nan: None}).to_json(orient="records")),
            },
            indent=1,
        )
    )
    print(f"-> {out}")


if __name__ == "__main__":
    main()

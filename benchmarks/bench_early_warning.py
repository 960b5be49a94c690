"""Benchmark: is the early warning early? Rolling-origin evaluation over simulated authorities.

For each simulator seed, one authority (6,000 pupils, five years 2020/21–2024/25) and two
successive test years (2023/24, then 2024/25), each trained only on the years before it; for
each, the shipped training configuration in up to three designs — one booster for everyone
(``single``), a booster for pupils heading there apart (``segmented``), and that with a booster
of its own for the first six weeks (``first-weeks``, the shipped design) — with both feature
sets. Reported per run and as mean ± standard deviation over seeds × test years: the extra
list against the school's own (share of newly-PA pupils surfaced ≥ 4 weeks ahead, share of
surfaced pupils who end PA, yield) beside the best rule (plain, and with last year's absentees
last), per-week AUC on open outcomes, ECE in the first six weeks, and fairness breaches (and
which).

    python benchmarks/bench_early_warning.py [--seeds 0,1,2] [--pupils 6000]
        [--designs segmented,first-weeks]

Targets (issue "an early warning that is early"): surfaced ≥ 4 weeks ahead ≥ 30% (aim 40%),
≥ 45% of surfaced pupils end PA (aim 50%), yield ≥ 1.25× every rule's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from authorities import ROLLING_TEST_YEARS, rolling_origin_authority

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DESIGNS = {"single": (False, 0), "segmented": (True, 0), "first-weeks": (True, 6)}
"""design: (``[model] segmented``, ``[model] early_weeks``)."""


def one_run(snapshots: pd.DataFrame, test_year: str, design: str) -> list[dict]:
    from training.config import load_config
    from training.early_warning import KNOWN_LAST, RULES
    from training.fairness import fairness_breaches
    from training.metrics import metric_value
    from training.pipeline import run

    config = load_config()
    config = config.model_copy(
        update={
            "data": config.data.model_copy(update={"test_year": test_year}),
            "model": config.model.model_copy(
                update={"segmented": DESIGNS[design][0], "early_weeks": DESIGNS[design][1]}
            ),
        }
    )
    started = time.perf_counter()
    result = run(snapshots[snapshots["academic_year"] <= test_year], config, shipped=False)
    seconds = time.perf_counter() - started
    evaluation = result.evaluation
    lists = evaluation.early_warning.set_index("model")
    plain = lists.loc[list(RULES)]
    known = lists.loc[[r + KNOWN_LAST for r in RULES]]
    rows = []
    for key in result.models:
        own = lists.loc[key]
        fairness = evaluation.fairness[evaluation.fairness["model"] == key]
        calibration = evaluation.group_calibration[evaluation.group_calibration["model"] == key]
        rows.append(
            {
                "test_year": test_year,
                "model": key,
                "newly_pa": int(own["newly_pa"]),
                "surfaced_ahead_share": own["surfaced_ahead_share"],
                "surfaced_end_pa": own["surfaced_end_pa"],
                "yield": own["yield"],
                "best_rule_yield": plain["yield"].max(),
                "best_rule": plain["yield"].idxmax(),
                "yield_ratio": own["yield"] / plain["yield"].max(),
                "best_known_last_rule_yield": known["yield"].max(),
                "yield_ratio_known_last": own["yield"] / known["yield"].max(),
                "best_rule_surfaced_ahead_share": plain["surfaced_ahead_share"].max(),
                **{
                    f"open_auc_w{w}": metric_value(
                        evaluation.metrics, key, "roc_auc", population="open", week=w
                    )
                    for w in (2, 6, 12, 24)
                },
                "ece_weeks_1_6_max": max(
                    metric_value(evaluation.metrics, key, "ece", week=w) for w in range(1, 7)
                ),
                "fairness_breaches": len(breaches := fairness_breaches(fairness, calibration)),
                "breached": "; ".join(
                    f"{b.attribute}={b.group} {b.kind} {b.value:.3f} ({b.operating_point})"
                    for b in breaches.itertuples()
                ),
                "run_seconds": seconds,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--pupils", type=int, default=6000)
    parser.add_argument(
        "--designs",
        default="segmented,first-weeks",
        help=f"comma-separated subset of {list(DESIGNS)}",
    )
    args = parser.parse_args()

    records = []
    for seed in (int(s) for s in args.seeds.split(",")):
        snapshots, _ = rolling_origin_authority(seed, args.pupils)
        for test_year in ROLLING_TEST_YEARS:
            for design in args.designs.split(","):
                for row in one_run(snapshots, test_year, design):
                    records.append({"seed": seed, "design": design, **row})
                    print(
                        f"seed {seed} {test_year} {design:<9} {row['model']:<24} "
                        f"ahead {row['surfaced_ahead_share']:.3f} end PA "
                        f"{row['surfaced_end_pa']:.3f} yield {row['yield']:.3f} "
                        f"(best rule {row['best_rule_yield']:.3f}, x{row['yield_ratio']:.2f}; "
                        f"known-last x{row['yield_ratio_known_last']:.2f}) breaches "
                        f"{row['fairness_breaches']} {row['breached']}",
                        flush=True,
                    )
    table = pd.DataFrame(records)
    numeric = [c for c in table.columns if table[c].dtype.kind in "fi" and c != "seed"]
    summary = table.groupby(["design", "model"])[numeric].agg(["mean", "std"])
    print("\nMean ± SD over seeds × test years")
    shown = [
        "surfaced_ahead_share",
        "surfaced_end_pa",
        "yield",
        "yield_ratio",
        "yield_ratio_known_last",
        "open_auc_w6",
        "open_auc_w12",
        "ece_weeks_1_6_max",
        "fairness_breaches",
    ]
    width = max(len(c) for c in shown)
    for (design, model), row in summary.iterrows():
        print(f"\n{design} / {model}")
        for column in shown:
            print(f"  {column:<{width}}  {row[(column, 'mean')]:.3f} ± {row[(column, 'std')]:.3f}")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "seeds": args.seeds,
        "designs": args.designs,
        "pupils": args.pupils,
        "test_years": list(ROLLING_TEST_YEARS),
        "runs": json.loads(table.to_json(orient="records")),
        "summary": {
            f"{design}/{model}": {
                column: {"mean": float(row[(column, "mean")]), "sd": float(row[(column, "std")])}
                for column in numeric
            }
            for (design, model), row in summary.iterrows()
        },
        "targets": {"surfaced_ahead_share": 0.30, "surfaced_end_pa": 0.45, "yield_ratio": 1.25},
    }
    (RESULTS / "early_warning.json").write_text(
        json.dumps(out, indent=2, default=lambda v: None if v != v else v) + "\n"
    )
    print(f"\nwrote {RESULTS / 'early_warning.json'}")


if __name__ == "__main__":
    main()

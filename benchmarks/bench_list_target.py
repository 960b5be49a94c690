"""Benchmark: what should the extra list be ranked by? The year-end model against a target
trained for the list's own question.

The issue behind the early warning suggested training for the list's question: among
pupil-weeks still below 10% so far, "will this pupil cross 10% for good at least H weeks from
now (and become newly PA)?". This benchmark sets that target (H = 4 and 8) beside the shipped
model's year-end probability as the extra list's ranking, on the authorities and test years of
``bench_early_warning.py`` (6,000 pupils, 2020/21–2024/25, seeds 0, 1, 2; test years 2023/24
and 2024/25). Each alternative is one LightGBM booster with the shipped recipe (features,
trees by early stopping on a holdout of schools, monotone constraints), fitted on the same
fitting years' rows below 10% so far; both lists put last year's persistent absentees last.

    python benchmarks/bench_list_target.py [--seeds 0,1,2] [--pupils 6000] [--horizons 4,8]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from authorities import ROLLING_TEST_YEARS, rolling_origin_authority, year_lists

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
FEATURE_SET = "attendance+context"


def list_rows_of(snapshots: pd.DataFrame, year: str):
    """(rows, ListRows, each row's crossing week or NaN) of one year."""
    from training.early_warning import crossing_weeks

    rows, lists = year_lists(snapshots, year)
    crossing = crossing_weeks(lists).reindex(lists.frame.enrolment).to_numpy(dtype=float)
    return rows, lists, crossing


def one_run(snapshots: pd.DataFrame, test_year: str, horizons: list[int]) -> list[dict]:
    from training.config import load_config
    from training.early_warning import extra_list_summary, model_list_score
    from training.model import feature_matrix, fit_booster
    from training.pipeline import risk_model, train_models

    config = load_config()
    config = config.model_copy(
        update={
            "data": config.data.model_copy(update={"test_year": test_year}),
            "run": config.run.model_copy(update={"compare_feature_sets": [FEATURE_SET]}),
        }
    )
    snapshots = snapshots[snapshots["academic_year"] <= test_year]
    trained = train_models(snapshots, config)
    fitted = trained.fitted["lgbm_attendance_context"]
    model = risk_model(fitted, trained=trained)
    test, lists, _ = list_rows_of(snapshots, test_year)
    share, lead = config.evaluation.extra_list_share, config.evaluation.lead_weeks

    def summary(name: str, scores, trees: int | None = None) -> dict:
        numbers = extra_list_summary(model_list_score(scores, test), lists, share, lead)
        return {"test_year": test_year, "ranking": name, "trees": trees, **numbers}

    out = [summary("year-end probability (shipped)", model.predict_proba(test))]
    fit_years = [list_rows_of(snapshots, year) for year in trained.split.fit_years]
    for horizon in horizons:
        parts = [
            rows.assign(target=(lst.newly_pa & (crossing - lst.frame.week >= horizon)))[
                ~lst.on_school_list
            ]
            for rows, lst, crossing in fit_years
        ]
        fit = pd.concat(parts, ignore_index=True).astype({"target": float})
        booster = fit_booster(
            "target",
            fitted.features,
            fit,
            config.lightgbm,
            seed=config.run.seed,
            calibrate=False,
            label="target",
        )
        scores = booster.booster.predict(feature_matrix(test, fitted.features))
        out.append(summary(f"crosses for good ≥ {horizon} weeks later", scores, booster.num_trees))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--pupils", type=int, default=6000)
    parser.add_argument("--horizons", default="4,8")
    args = parser.parse_args()
    horizons = [int(h) for h in args.horizons.split(",")]

    started = time.perf_counter()
    records = []
    for seed in (int(s) for s in args.seeds.split(",")):
        snapshots, _ = rolling_origin_authority(seed, args.pupils)
        for test_year in ROLLING_TEST_YEARS:
            for row in one_run(snapshots, test_year, horizons):
                records.append({"seed": seed, **row})
                print(
                    f"seed {seed} {test_year} {row['ranking']:<34} ahead "
                    f"{row['surfaced_ahead_share']:.3f} end PA {row['surfaced_end_pa']:.3f} "
                    f"yield {row['yield']:.3f}",
                    flush=True,
                )
    table = pd.DataFrame(records)
    shown = ["surfaced_ahead_share", "surfaced_end_pa", "yield", "distinct_surfaced"]
    summary = table.groupby("ranking", sort=False)[shown].agg(["mean", "std"])
    print("\nMean ± SD over seeds × test years")
    for ranking, row in summary.iterrows():
        cells = ", ".join(f"{c} {row[(c, 'mean')]:.3f} ± {row[(c, 'std')]:.3f}" for c in shown)
        print(f"  {ranking:<34} {cells}")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "seeds": args.seeds,
        "pupils": args.pupils,
        "test_years": list(ROLLING_TEST_YEARS),
        "horizons": horizons,
        "runs": json.loads(table.to_json(orient="records")),
        "summary": {
            str(ranking): {c: {"mean": row[(c, "mean")], "sd": row[(c, "std")]} for c in shown}
            for ranking, row in summary.iterrows()
        },
        "seconds": time.perf_counter() - started,
    }
    (RESULTS / "list_target.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'list_target.json'}")


if __name__ == "__main__":
    main()

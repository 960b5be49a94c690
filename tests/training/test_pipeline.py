"""A real training run on a small simulated authority: split, calibration, metrics, and the
behaviour of the trained model (directional, invariance, minimum functionality)."""

from __future__ import annotations

import numpy as np
import pytest

from features.schema import FEATURE_SETS
from training.metrics import POOLED, metric_value
from training.pipeline import VERDICTS, model_key


def test_the_test_year_is_held_out_of_what_is_evaluated(run_result, snapshots) -> None:
    split = run_result.trained.split
    assert split.test_year == "2024/25"
    assert split.train_years == ["2022/23", "2023/24"]
    # 2022/23 has no history for anyone: trees and fit come from the year that has.
    assert split.fit_years == ["2023/24"]
    assert set(run_result.test_rows["academic_year"]) == {"2024/25"}
    window = run_result.trained.window
    assert window["test"]["years"] == ["2024/25"]
    assert window["train"]["enrolments"] > 1000
    metadata = run_result.registered_model.metadata
    assert metadata["test_year"] not in metadata["train_years"]


def test_the_shipped_model_is_the_same_recipe_fitted_with_the_test_year(run_result) -> None:
    shipped = run_result.shipped
    assert shipped is not None
    assert shipped.metadata["train_years"] == ["2023/24", "2024/25"]
    assert shipped.features == run_result.registered_model.features
    assert set(shipped.metadata["segments"]) == set(
        run_result.registered_model.metadata["segments"]
    )


def test_both_feature_sets_are_trained_and_only_context_uses_context(run_result) -> None:
    models = run_result.models
    assert set(models) == {"lgbm_attendance", "lgbm_attendance_context"}
    assert models["lgbm_attendance"].features == FEATURE_SETS["attendance"]
    assert {"fsm", "sen_provision", "eal"} <= set(models["lgbm_attendance_context"].features)
    for model in models.values():
        assert not {"sex", "ethnicity"} & set(model.features)
    assert run_result.trained.registered_key == model_key("attendance+context")


def test_calibration_is_chosen_out_of_fold_never_on_the_test_year(run_result) -> None:
    for fitted in run_result.trained.fitted.values():
        for booster in fitted.boosters:
            choice = booster.calibration_choice
            improved = choice["ece_out_of_fold_isotonic"] < choice["ece_out_of_fold_raw"]
            assert (choice["kept"] == "isotonic") == improved
            assert booster.calibration.method == ("isotonic" if improved else "identity")
    table = run_result.evaluation.calibration
    assert {"test_ece_raw", "test_ece_shipped"} <= set(table.columns)  # reported, not chosen


def test_the_first_weeks_segment_scores_every_pupil_in_weeks_1_to_6(run_result) -> None:
    model = run_result.registered_model
    assert model.early is not None and model.metadata["early_weeks"] == 6
    rows = run_result.test_rows
    early = rows[rows["weeks_into_year"] <= 6].sample(300, random_state=1)
    assert (early["absence_rate_ytd"].fillna(0) >= 0.10).any()  # on the list or not
    matrix = model.feature_matrix(early)
    expected = model.early.calibration.apply(model.early.booster.predict(matrix))
    np.testing.assert_allclose(model.predict_proba(early), expected)
    later = rows[rows["weeks_into_year"] > 6].sample(300, random_state=1)
    assert not np.allclose(
        model.predict_proba(later),
        model.early.calibration.apply(model.early.booster.predict(model.feature_matrix(later))),
    )
    fitted = run_result.trained.fitted["lgbm_attendance_context"]
    assert fitted.early is not None
    weeks = {b.segment: b.week_baseline["weeks"] for b in fitted.boosters}
    assert max(weeks["early"]) == 6 and min(weeks["heading"]) == min(weeks["school_list"]) == 7


def test_the_heading_there_segment_scores_pupils_not_on_the_schools_list(run_result) -> None:
    """After the first weeks, two boosters: rows below 10% so far are scored by the
    heading-there one; rows on the list by the larger of the two (so crossing 10% never
    lowers a score)."""
    model = run_result.registered_model
    assert model.heading is not None and model.metadata["heading_below"] == 0.10
    rows = run_result.test_rows
    rows = rows[rows["weeks_into_year"] > 6].sample(400, random_state=1)
    below = (rows["absence_rate_ytd"].fillna(0) < 0.10).to_numpy()
    assert 0 < below.sum() < len(rows)
    matrix = model.feature_matrix(rows)
    heading = model.heading.calibration.apply(model.heading.booster.predict(matrix))
    main = model.calibration.apply(model.booster.predict(matrix))
    expected = np.where(below, heading, np.maximum(main, heading))
    np.testing.assert_allclose(model.predict_proba(rows), expected)


def test_every_reported_week_and_population_is_evaluated(run_result, config) -> None:
    metrics = run_result.evaluation.metrics
    for population in ("all", "emerging", "open"):
        for model in run_result.evaluation.models:
            for week in [*config.evaluation.report_weeks, POOLED]:
                assert (
                    metric_value(metrics, model, "roc_auc", population=population, week=week) > 0.5
                )
    assert set(run_result.evaluation.models) == {
        "lgbm_attendance",
        "lgbm_attendance_context",
        "ytd_rule",
        "last_year",
        "rate_spells",
    }


def test_pooled_precision_sums_the_weekly_lists(run_result) -> None:
    metrics = run_result.evaluation.metrics
    weekly = metrics[(metrics["model"] == "lgbm_attendance") & (metrics["population"] == "all")]
    weekly = weekly[weekly["week"] != POOLED].pivot(index="week", columns="metric", values="value")
    hits = (weekly["precision_at_10"] * weekly["flagged_at_10"]).sum()
    expected = hits / weekly["flagged_at_10"].sum()
    assert metric_value(metrics, "lgbm_attendance", "precision_at_10") == pytest.approx(expected)


def test_the_model_ranks_better_than_the_year_to_date_rule_pooled(run_result) -> None:
    metrics = run_result.evaluation.metrics
    for population in ("all", "emerging"):
        model = metric_value(metrics, "lgbm_attendance", "roc_auc", population=population)
        rule = metric_value(metrics, "ytd_rule", "roc_auc", population=population)
        assert model > rule


def test_the_extra_lists_and_the_audit_are_reported(run_result) -> None:
    evaluation = run_result.evaluation
    lists = evaluation.early_warning.set_index("model")
    assert {"lgbm_attendance_context", "recent_4w", "ytd_just_under", "last_year"} <= set(
        lists.index
    )
    assert "recent_4w (known last)" in lists.index
    model = lists.loc["lgbm_attendance_context"]
    assert model["newly_pa"] > 20 and model["distinct_surfaced"] > 0
    assert 0 <= model["surfaced_ahead_share"] <= 1 and 0 <= model["yield"] <= 1
    assert model["surfaced_ahead"] == (evaluation.leads["lead"] >= 4).sum()
    audit = evaluation.fairness
    assert set(audit["attribute"]) == {"fsm", "sen", "sex", "eal", "ethnicity"}
    assert set(audit["operating_point"]) == {"extra list 3%", "top 10%", "caseload 10"}
    assert set(evaluation.group_calibration["week"]) == {0, 1, 2, 3, 4, 5, 6}
    assert not evaluation.importance.empty


def test_the_open_population_leaves_out_settled_outcomes(run_result) -> None:
    metrics = run_result.evaluation.metrics
    late = {
        population: metric_value(metrics, "ytd_rule", "rows", population=population, week=30)
        for population in ("all", "open")
    }
    assert 0 < late["open"] < late["all"]


def test_where_the_model_does_not_beat_a_baseline_the_report_says_why(run_result, config):
    table = run_result.evaluation.comparisons
    weeks = {*config.evaluation.report_weeks, POOLED}
    assert set(table["week"]) == weeks
    assert set(table["population"]) == {"all", "emerging"}
    assert set(table["verdict"]) <= set(VERDICTS)
    precision = table[table["metric"] == "precision_at_10"]
    assert (precision["low"] <= precision["difference"]).all()
    assert (precision["difference"] <= precision["high"]).all()
    assert (precision.loc[precision["verdict"] == "beats", "low"] > 0).all()
    assert ((table["verdict"] == "beats") == (table["why"] == "")).all()
    ahead = table["verdict"].isin(["beats", "ahead, within noise"])
    assert ((table["difference"] > 0) == ahead).all()


def test_each_segments_calibration_is_the_isotonic_of_its_out_of_fold_predictions(
    run_result, snapshots, config
) -> None:
    """The map is fitted for the recipe that is shipped (same parameters and trees, on folds
    of schools of the segment's fitting rows), not for the early-stopping model."""
    from training.data import rows_for
    from training.model import (
        _out_of_fold,
        feature_matrix,
        fit_isotonic,
        school_folds,
        segment_rows,
    )

    fitted = run_result.trained.fitted["lgbm_attendance_context"]
    rows = rows_for(snapshots, run_result.trained.split.fit_years)
    for booster in fitted.boosters:
        if booster.calibration.method != "isotonic":
            continue
        part = segment_rows(rows, booster.segment, fitted.heading_below, fitted.early_weeks)
        fold = school_folds(part, config.calibration.folds, int(booster.params["seed"]))
        again = _out_of_fold(
            feature_matrix(part, booster.features),
            part["pa_year_end"].to_numpy(dtype=float),
            fold,
            booster.features,
            booster.params,
            booster.num_trees,
        )
        expected = fit_isotonic(again, part["pa_year_end"].to_numpy())
        np.testing.assert_allclose(booster.calibration.x, expected.x)
        np.testing.assert_allclose(booster.calibration.y, expected.y)

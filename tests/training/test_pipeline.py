"""A real training run on a small simulated authority: split, calibration, metrics, and the
behaviour of the trained model (directional, invariance, minimum functionality)."""

from __future__ import annotations

import numpy as np
import pytest

from features.schema import FEATURE_SETS
from training.metrics import POOLED, metric_value
from training.pipeline import VERDICTS, model_key


def test_the_test_year_is_held_out_of_training(run_result, snapshots) -> None:
    split = run_result.trained.split
    assert split.test_year == "2024/25"
    assert split.train_years == ["2022/23", "2023/24"]
    assert split.validation_year == "2023/24"
    assert split.refit_years == ["2023/24"]  # 2022/23 has no history: early stopping only
    assert set(run_result.test_rows["academic_year"]) == {"2024/25"}
    window = run_result.trained.window
    assert window["test"]["years"] == ["2024/25"]
    assert window["train"]["enrolments"] > 1000
    metadata = run_result.registered_model.metadata
    assert metadata["test_year"] not in metadata["train_years"]


def test_both_feature_sets_are_trained_and_only_context_uses_context(run_result) -> None:
    models = run_result.models
    assert set(models) == {"lgbm_attendance", "lgbm_attendance_context"}
    assert models["lgbm_attendance"].features == FEATURE_SETS["attendance"]
    assert {"fsm", "sen_provision", "eal"} <= set(models["lgbm_attendance_context"].features)
    for model in models.values():
        assert not {"sex", "ethnicity"} & set(model.features)
    assert run_result.trained.registered_key == model_key("attendance")


def test_calibration_is_kept_only_where_it_lowers_test_ece(run_result) -> None:
    for row in run_result.evaluation.calibration.itertuples():
        improved = row.ece_calibrated < row.ece_raw
        assert (row.kept == "isotonic") == improved
        assert run_result.models[row.model].calibration.method == (
            "isotonic" if improved else "identity"
        )


def test_every_reported_week_and_population_is_evaluated(run_result, config) -> None:
    metrics = run_result.evaluation.metrics
    for population in ("all", "emerging"):
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


def test_lead_time_and_audit_are_reported(run_result) -> None:
    evaluation = run_result.evaluation
    lead = evaluation.lead_summary.set_index("model")
    assert lead.loc["ytd_rule", "median_lead_weeks"] == 0
    assert lead.loc["lgbm_attendance", "pa_pupils"] > 0
    audit = evaluation.fairness
    assert set(audit["attribute"]) == {"fsm", "sen", "sex", "eal", "ethnicity"}
    assert set(audit["operating_point"]) == {"top 10%", "caseload 10"}
    assert not evaluation.importance.empty


def test_calibration_is_fitted_on_out_of_fold_predictions_of_the_shipped_recipe(
    run_result, snapshots, config
) -> None:
    """The isotonic map is fitted for the refit model's recipe (same parameters and trees, on
    folds of schools of the refit rows), not for the early-stopping model."""
    from training.data import rows_for
    from training.model import fit_isotonic, out_of_fold_probability

    fitted = run_result.trained.fitted["lgbm_attendance"]
    refit = rows_for(snapshots, run_result.trained.split.refit_years)
    again = out_of_fold_probability(
        refit, fitted.features, fitted.params, fitted.num_trees, config.calibration.folds
    )
    expected = fit_isotonic(again, refit["pa_year_end"].to_numpy())
    np.testing.assert_allclose(fitted.calibration.x, expected.x)
    np.testing.assert_allclose(fitted.calibration.y, expected.y)


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

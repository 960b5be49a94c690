"""A real training run on a small simulated authority: split, calibration, metrics, and the
behaviour of the trained model (directional, invariance, minimum functionality)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schema import FEATURE_SETS
from training.metrics import POOLED, metric_value
from training.pipeline import model_key


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


# --- behavioural tests of the trained model -----------------------------------------------

MONOTONE = [
    "absence_rate_ytd",
    "absence_rate_2w",
    "absence_rate_4w",
    "absence_rate_8w",
    "absence_change_4w",
    "unauthorised_rate_ytd",
    "absence_rate_last_year",
]


@pytest.fixture(scope="module")
def sample(run_result) -> pd.DataFrame:
    rows = run_result.test_rows
    return rows.sample(400, random_state=0).reset_index(drop=True)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(feature=st.sampled_from(MONOTONE), rise=st.floats(0.01, 0.6))
def test_more_absence_never_lowers_risk(run_result, sample, feature, rise) -> None:
    for model in run_result.models.values():
        before = model.predict_proba(sample)
        more = sample.assign(**{feature: sample[feature] + rise})
        assert (model.predict_proba(more) >= before).all()


def test_a_recent_decline_raises_risk_consistently(run_result, sample) -> None:
    # Extra absence in the last two weeks moves the 2/4/8-week rates, the changes and the
    # year-to-date rate together (a window holds min(k, weeks so far) weeks); risk must not
    # fall for any pupil.
    model = run_result.registered_model
    extra = 0.3
    rows = sample[(sample["week"] >= 2) & (sample["absence_rate_2w"] <= 0.7)]
    week = rows["week"].to_numpy(dtype=float)
    declined = rows.copy()
    declined["absence_rate_ytd"] = rows["absence_rate_ytd"] + extra * 2 / week
    for k in (2, 4, 8):
        declined[f"absence_rate_{k}w"] = rows[f"absence_rate_{k}w"] + extra * 2 / np.minimum(
            k, week
        )
        declined[f"absence_change_{k}w"] = (
            declined[f"absence_rate_{k}w"] - declined["absence_rate_ytd"]
        )
    assert (model.predict_proba(declined) >= model.predict_proba(rows)).all()


def test_sex_and_ethnicity_never_change_a_score(run_result, sample) -> None:
    swapped = sample.assign(
        audit_sex=np.where(sample["audit_sex"] == "F", "M", "F"),
        audit_ethnicity="Any other",
        sex="M",
        ethnicity="White",
    )
    for model in run_result.models.values():
        np.testing.assert_array_equal(model.predict_proba(swapped), model.predict_proba(sample))
        pd.testing.assert_frame_equal(model.score(swapped), model.score(sample))


def test_minimum_functionality_a_pupil_missing_half_their_sessions_is_at_risk(
    run_result, sample
) -> None:
    model = run_result.registered_model
    base = sample[sample["week"] == sample["week"].median()].head(1)
    absent = base.assign(
        absence_rate_ytd=0.5,
        absence_rate_2w=0.6,
        absence_rate_4w=0.6,
        absence_rate_8w=0.5,
        authorised_rate_ytd=0.2,
        unauthorised_rate_ytd=0.3,
        spells_ytd=12,
        spells_4w=4,
    )
    present = base.assign(
        absence_rate_ytd=0.0,
        absence_rate_2w=0.0,
        absence_rate_4w=0.0,
        absence_rate_8w=0.0,
        authorised_rate_ytd=0.0,
        unauthorised_rate_ytd=0.0,
        spells_ytd=0,
        spells_4w=0,
    )
    assert model.predict_proba(absent)[0] > 0.5 > model.predict_proba(present)[0]
    reasons = model.score(absent)
    assert reasons["reason_1_domain"].iloc[0] in {
        "absence_so_far",
        "recent_decline",
        "spells",
        "unauthorised",
    }

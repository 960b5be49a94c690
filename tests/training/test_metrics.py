"""Evaluation metrics, pinned on small hand-computed examples, plus invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.metrics import (
    POOLED,
    EvaluationFrame,
    evaluate_scores,
    expected_calibration_error,
    metric_value,
    open_outcomes,
    reliability_table,
    top_n_flags,
    top_share_flags,
)


def frame_of(label, week, school, enrolment, emerging=None) -> EvaluationFrame:
    n = len(label)
    return EvaluationFrame(
        label=np.asarray(label),
        week=np.asarray(week),
        school=np.asarray(school),
        emerging=np.ones(n, bool) if emerging is None else np.asarray(emerging),
        tie_break=np.arange(n),
        enrolment=np.asarray(enrolment),
        open=np.ones(n, bool),
    )


def test_top_share_is_drawn_within_each_week() -> None:
    scores = np.array([0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.3])
    weeks = np.array([1, 1, 1, 1, 2, 2, 2])
    flags = top_share_flags(scores, weeks, 0.5, np.arange(7))
    # Week 1: k = ⌈0.5·4⌉ = 2 → 0.9, 0.7. Week 2: k = ⌈0.5·3⌉ = 2 → 0.8, 0.3.
    assert flags.tolist() == [True, False, False, True, False, True, True]


def test_ties_are_broken_by_the_shared_random_order_not_by_row_order() -> None:
    scores = np.zeros(4)
    weeks = np.ones(4, dtype=int)
    assert top_share_flags(scores, weeks, 0.25, np.array([3, 2, 0, 1])).tolist() == [
        False,
        False,
        True,
        False,
    ]


def test_caseload_flags_the_top_n_per_school_and_week() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.6, 0.5])
    groups = np.array([0, 0, 0, 1, 1, 1])
    assert top_n_flags(scores, groups, 2, np.arange(6)).tolist() == [
        True,
        True,
        False,
        False,
        True,
        True,
    ]


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.floats(0, 1), min_size=1, max_size=60),
    share=st.sampled_from([0.05, 0.1, 0.2, 0.5]),
    n_weeks=st.integers(1, 4),
)
def test_each_week_flags_ceil_share_of_its_rows_and_only_its_highest(
    scores, share, n_weeks
) -> None:
    scores = np.asarray(scores)
    weeks = np.arange(len(scores)) % n_weeks
    flags = top_share_flags(scores, weeks, share, np.random.default_rng(0).permutation(len(scores)))
    for week in np.unique(weeks):
        in_week = weeks == week
        assert flags[in_week].sum() == int(np.ceil(share * in_week.sum() - 1e-9))
        if flags[in_week].any() and (~flags[in_week]).any():
            assert scores[in_week & flags].min() >= scores[in_week & ~flags].max()


def test_expected_calibration_error_by_hand() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([0.05, 0.95, 0.85, 0.15])
    # One row per bin: (0.05 + 0.05 + 0.15 + 0.15) / 4.
    assert expected_calibration_error(y, p, 10) == pytest.approx(0.1)
    # Two rows in one bin: |mean y − mean p| = |0.5 − 0.35| weighted by 2/2.
    assert expected_calibration_error(
        np.array([0, 1]), np.array([0.31, 0.39]), 10
    ) == pytest.approx(0.15)
    assert expected_calibration_error(np.array([1.0]), np.array([1.0]), 10) == 0.0


def test_reliability_table_bins() -> None:
    table = reliability_table(np.array([0, 1, 1]), np.array([0.12, 0.18, 0.95]), bins=10)
    assert table["n"].tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert table.loc[1, "mean_predicted"] == pytest.approx(0.15)
    assert table.loc[1, "observed_rate"] == pytest.approx(0.5)


def test_evaluate_scores_golden() -> None:
    # Two weeks × five pupils at two schools; pupils 0 and 1 end the year PA.
    label = [1, 1, 0, 0, 0] * 2
    week = [1] * 5 + [2] * 5
    school = [0, 0, 0, 1, 1] * 2
    enrolment = [0, 1, 2, 3, 4] * 2
    frame = frame_of(label, week, school, enrolment)
    scores = {"m": np.array([0.9, 0.2, 0.8, 0.1, 0.3, 0.9, 0.8, 0.2, 0.1, 0.3])}
    metrics = evaluate_scores(frame, scores, probabilistic={"m"}, top_shares=[0.2, 0.4], caseload=1)

    def value(metric: str, week: int) -> float:
        return metric_value(metrics, "m", metric, week=week)

    # Week 1: top 20% = 1 pupil (0.9, PA); top 40% = 0.9 and 0.8 (one PA).
    assert value("precision_at_20", 1) == 1.0
    assert value("recall_at_20", 1) == 0.5
    assert value("precision_at_40", 1) == 0.5
    # Week 2: the model ranks both PA pupils first.
    assert value("precision_at_40", 2) == 1.0
    # Pooled lists are the weekly lists summed: 3 hits of 4 flagged, 3 of 4 PA pupil-weeks.
    assert value("precision_at_40", POOLED) == pytest.approx(0.75)
    assert value("recall_at_40", POOLED) == pytest.approx(0.75)
    assert value("flagged_at_40", POOLED) == 4
    # Caseload 1 per school per week: week 1 flags 0.9 (school 0) and 0.3 (school 1).
    assert value("precision_at_caseload", 1) == 0.5
    # AUC in week 1: PA scores {0.9, 0.2} vs others {0.8, 0.1, 0.3}: 4 of 6 pairs right.
    assert value("roc_auc", 1) == pytest.approx(4 / 6)
    assert value("roc_auc", 2) == 1.0
    assert value("prevalence", POOLED) == pytest.approx(0.4)
    y, p = np.array(label), scores["m"]
    assert value("brier", POOLED) == pytest.approx(np.mean((p - y) ** 2))


def test_emerging_lists_are_drawn_among_emerging_pupils_only() -> None:
    label = [1, 1, 0, 0]
    frame = frame_of(label, [1] * 4, [0] * 4, [0, 1, 2, 3], emerging=[False, True, True, True])
    metrics = evaluate_scores(
        frame,
        {"m": np.array([0.9, 0.5, 0.4, 0.1])},
        probabilistic=set(),
        top_shares=[0.3],
        caseload=1,
    )
    # Among the three emerging pupils the top ⌈0.9⌉ = 1 is the PA pupil scored 0.5.
    assert metric_value(metrics, "m", "precision_at_30", population="emerging") == 1.0
    assert metric_value(metrics, "m", "rows", population="emerging") == 3
    # Ranking rules have no calibration metrics.
    assert np.isnan(metric_value(metrics, "m", "ece"))


def test_open_outcomes_by_hand() -> None:
    """Two pupils, 20 possible sessions by the year's end (threshold 2 absences). At week 1
    both have 10 sessions so far: the one already absent 3 times is settled (PA whatever
    happens), the one absent once is open; at the last week both are settled."""
    rows = pd.DataFrame(
        {
            "possible_sessions_ytd": [10, 10, 20, 20],
            "absence_rate_ytd": [0.3, 0.1, 0.15, 0.05],
        }
    )
    enrolment = np.array([0, 1, 0, 1])
    assert open_outcomes(rows, enrolment).tolist() == [False, True, False, False]


def test_metric_value_of_missing_metric_is_nan() -> None:
    empty = pd.DataFrame(columns=["model", "population", "week", "metric", "value"])
    assert np.isnan(metric_value(empty, "m", "roc_auc"))

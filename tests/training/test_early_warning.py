"""The extra list beside the school's own, and lead time as practitioners mean it, pinned on
small hand-computed examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.early_warning import (
    ListRows,
    crossing_weeks,
    extra_list_summary,
    hindsight_score,
    leads,
    reachable,
    rule_scores,
    surfaced_weeks,
)
from training.metrics import EvaluationFrame


def list_rows(ytd: list[list[float]], label: list[int], pa_last_year=None) -> tuple:
    """Pupils × weeks of year-to-date rates for one school; returns (rows, ListRows)."""
    n_pupils, n_weeks = len(ytd), len(ytd[0])
    week = np.tile(np.arange(1, n_weeks + 1), n_pupils)
    pupil = np.repeat(np.arange(n_pupils), n_weeks)
    rows = pd.DataFrame(
        {
            "absence_rate_ytd": np.asarray(ytd, dtype=float).ravel(),
            "pa_last_year": np.repeat(pa_last_year or [0] * n_pupils, n_weeks).astype(float),
        }
    )
    frame = EvaluationFrame(
        label=np.repeat(label, n_weeks),
        week=week,
        school=np.zeros(len(week), dtype=int),
        emerging=np.ones(len(week), bool),
        tie_break=np.arange(len(week)),
        enrolment=pupil,
        open=np.ones(len(week), bool),
    )
    return rows, ListRows.from_rows(rows, frame)


def test_crossing_is_the_start_of_the_last_run_on_the_schools_list() -> None:
    _, rows = list_rows(
        [
            [0.12, 0.08, 0.11, 0.12, 0.13],  # on, off, then on for good from week 3
            [0.02, 0.03, 0.05, 0.09, 0.10],  # crosses in week 5
            [0.20, 0.20, 0.20, 0.20, 0.20],  # on from the start
            [0.01, 0.01, 0.01, 0.01, 0.01],  # never PA
        ],
        label=[1, 1, 1, 0],
    )
    assert crossing_weeks(rows).to_dict() == {0: 3, 1: 5, 2: 1}


def test_surfaced_means_on_the_extra_list_two_weeks_running() -> None:
    # 40 pupils, k = round(3% of 40) = 1 a week, among pupils below 10%.
    ytd = [[0.01] * 8 for _ in range(40)]
    ytd[0] = [0.02, 0.03, 0.04, 0.05, 0.07, 0.09, 0.11, 0.12]  # crosses in week 7
    _, rows = list_rows(ytd, label=[1] + [0] * 39)
    scores = np.zeros(len(rows.frame.week))
    # The model puts pupil 0 top in weeks 1 and 3-5, pupil 1 in week 2.
    for w in (1, 3, 4, 5):
        scores[0 * 8 + w - 1] = 1.0
    scores[1 * 8 + 2 - 1] = 1.0
    surfaced = surfaced_weeks(scores, rows, 0.03)
    # Pupil 0: week 1 alone does not count; weeks 3 and 4 do. Pupil 1 wins the ties in weeks
    # 7 and 8, once pupil 0 is on the school's list.
    assert surfaced.to_dict() == {0: 4, 1: 8}
    table = leads(surfaced, rows)
    assert table.loc[0, "crossing_week"] == 7 and table.loc[0, "lead"] == 3
    summary = extra_list_summary(scores, rows, 0.03, lead_weeks=3)
    assert summary["newly_pa"] == 1 and summary["surfaced_ahead"] == 1
    assert summary["distinct_surfaced"] == 2 and summary["surfaced_end_pa"] == 0.5
    assert summary["yield"] == 0.5
    assert extra_list_summary(scores, rows, 0.03, lead_weeks=4)["surfaced_ahead"] == 0


def test_only_pupils_off_the_list_two_weeks_running_early_enough_are_reachable() -> None:
    _, rows = list_rows(
        [
            [0.02, 0.03, 0.04, 0.05, 0.07, 0.11, 0.12, 0.12],  # off 1-5, crosses 6: by week 2
            [0.02, 0.03, 0.04, 0.05, 0.11, 0.12, 0.12, 0.12],  # crosses 5: 4 ahead = week 1
            [0.12, 0.05, 0.12, 0.05, 0.12, 0.05, 0.05, 0.12],  # never off two weeks by week 4
            [0.12, 0.12, 0.05, 0.05, 0.09, 0.09, 0.11, 0.12],  # off 3-6, crosses 7: week 4 ok
        ],
        label=[1, 1, 1, 1],
    )
    assert crossing_weeks(rows).to_dict() == {0: 6, 1: 5, 2: 8, 3: 7}
    assert reachable(rows, lead_weeks=4).to_dict() == {0: True, 1: False, 2: False, 3: False}
    assert reachable(rows, lead_weeks=3).to_dict() == {0: True, 1: True, 2: False, 3: True}


def test_the_hindsight_list_puts_who_becomes_pa_first_while_it_is_early_enough() -> None:
    ytd = [[0.01] * 8 for _ in range(40)]
    ytd[0] = [0.02, 0.03, 0.04, 0.05, 0.07, 0.09, 0.11, 0.12]  # newly PA, crosses in week 7
    ytd[1] = [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]  # never PA
    _, rows = list_rows(ytd, label=[1] + [0] * 39)
    score = hindsight_score(rows, lead_weeks=4).reshape(40, 8)
    assert (score[0, :3] > 2).all() and (score[0, 3:] == 1).all()  # week 3: 4 ahead, last
    assert (score[1:] == 0).all()
    surfaced = surfaced_weeks(score.ravel(), rows, 0.03)
    assert surfaced[0] == 2 and leads(surfaced, rows).loc[0, "lead"] == 5


def test_pupils_pa_last_year_are_not_newly_pa() -> None:
    _, rows = list_rows([[0.2, 0.2], [0.2, 0.2]], label=[1, 1], pa_last_year=[1, 0])
    assert crossing_weeks(rows).index.tolist() == [1]


def test_pupils_on_the_schools_list_are_never_on_the_extra_list() -> None:
    ytd = [[0.5, 0.5, 0.5]] + [[0.01, 0.01, 0.01]] * 39
    _, rows = list_rows(ytd, label=[1] + [0] * 39)
    scores = np.r_[np.ones(3), np.zeros(39 * 3)]  # the model likes pupil 0 best
    assert 0 not in surfaced_weeks(scores, rows, 0.03).index


def test_rules_plain_and_with_last_years_absentees_last() -> None:
    frame = pd.DataFrame(
        {
            "absence_rate_4w": [0.2, 0.1],
            "absence_rate_ytd": [0.05, 0.09],
            "absence_rate_last_year": [0.3, np.nan],
            "pa_last_year": [1.0, np.nan],
            "school_urn": [1, 1],
            "week": [5, 5],
            "year_group": [3, 3],
        }
    )
    scores = rule_scores(frame)
    assert scores["recent_4w"].tolist() == [0.2, 0.1]
    assert scores["ytd_just_under"].tolist() == [0.05, 0.09]
    # No history: the school and year group's median of those who have one (0.3 here).
    assert scores["last_year"].tolist() == pytest.approx([0.3, 0.3])
    assert scores["recent_4w (known last)"][0] < scores["recent_4w (known last)"][1]

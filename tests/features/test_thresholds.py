"""The penalty-notice threshold and severe absence, against figures worked out by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.thresholds import is_severe, penalty_threshold, rolling_unauthorised


def _weeks(starts: list[dt.date], unauthorised: list[int], upn: str, year: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "academic_year": year,
            "school_urn": 100,
            "upn": upn,
            "week_start": starts,
            "unauthorised": unauthorised,
        }
    )


def _trajectory() -> pd.DataFrame:
    # School weeks: 6 in summer 2024 (a gap for half-term is no school week), 6 in autumn 2024.
    summer = [dt.date(2024, 6, 3) + dt.timedelta(weeks=i) for i in range(6)]
    autumn = [dt.date(2024, 9, 2) + dt.timedelta(weeks=i) for i in range(6)]
    # Pupil A: 2 sessions in each of the last 4 summer weeks, 0 then 1 in autumn weeks.
    a_summer = _weeks(summer, [0, 0, 2, 2, 2, 2], "A", "2023/24")
    a_autumn = _weeks(autumn, [0, 0, 1, 0, 0, 1], "A", "2024/25")
    # Pupil B: only in autumn, 3 sessions in weeks 1, 2 and 6 (weeks 3-5 without marks).
    b = _weeks([autumn[0], autumn[1], autumn[5]], [3, 3, 3], "B", "2024/25")
    return pd.concat([a_summer, a_autumn, b], ignore_index=True)


def test_rolling_window_spans_years_by_hand() -> None:
    trajectory = _trajectory()
    rolled = rolling_unauthorised(trajectory)
    a = trajectory["upn"] == "A"
    # School weeks 0..11. A's windows (10 weeks ending at each): by hand.
    # week 9 (autumn 4th): summer weeks 0..5 + autumn 0..3 = 8 + 1 = 9.
    # week 10: weeks 1..10 = 8 + 1 = 9; week 11: weeks 2..11 = 8 + 2 = 10.
    assert rolled.loc[a, "window_unauthorised"].tolist() == [0, 0, 2, 4, 6, 8, 8, 8, 9, 9, 9, 10]
    b = trajectory["upn"] == "B"
    assert rolled.loc[b, "window_unauthorised"].tolist() == [3, 6, 9]


def test_threshold_flags_with_the_sessions_that_count() -> None:
    flags = penalty_threshold(_trajectory()).set_index("upn")
    assert flags.loc["A", "sessions"] == 10
    assert bool(flags.loc["A", "reached"]) is True
    # The window is school weeks 2..11: summer 17 Jun to 8 Jul, autumn 16 Sep and 7 Oct.
    assert flags.loc["A", "counted"] == [
        (dt.date(2024, 6, 17), 2),
        (dt.date(2024, 6, 24), 2),
        (dt.date(2024, 7, 1), 2),
        (dt.date(2024, 7, 8), 2),
        (dt.date(2024, 9, 16), 1),
        (dt.date(2024, 10, 7), 1),
    ]
    assert flags.loc["B", "sessions"] == 9
    assert bool(flags.loc["B", "reached"]) is False


def test_nine_weeks_are_not_enough_when_the_tenth_is_gone() -> None:
    # 10 sessions, but the first 5 fall 11 school weeks before the last: not within 10 weeks.
    starts = [dt.date(2024, 9, 2) + dt.timedelta(weeks=i) for i in range(12)]
    trajectory = _weeks(starts, [5] + [0] * 10 + [5], "A", "2024/25")
    flags = penalty_threshold(trajectory)
    assert flags["sessions"].tolist() == [5]
    assert not flags["reached"].any()


def test_severe_absence_is_half_or_more() -> None:
    assert is_severe(np.array([0.5, 0.4999, np.nan, 0.8])).tolist() == [True, False, False, True]

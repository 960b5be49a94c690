"""Snapshot features: golden values computed by hand, the leakage guarantee, labels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from features.schema import ALL_FEATURES, DESCRIPTIVE_COLUMNS, SNAPSHOT_COLUMNS
from features.snapshots import snapshot_features
from features.trajectory import build_trajectory
from tests.features.register_builders import PUPIL_A, PUPIL_B, URN, marks_from_days
from tests.features.test_trajectory import registers

PUPILS = pd.DataFrame(
    {
        "upn": ["A", "B"],
        "year_group": [8, 8],
        "fsm": [1, 0],
        "sen": ["K", "E"],
        "eal": [0, 1],
        "entry_date": ["2024-09-02", "2019-09-04"],
    }
)
SCHOOLS = pd.DataFrame({"school_urn": [URN], "phase": ["secondary"]})


@pytest.fixture
def snapshots() -> pd.DataFrame:
    trajectory = build_trajectory(marks_from_days({"A": PUPIL_A, "B": PUPIL_B}))
    return snapshot_features(trajectory, PUPILS, SCHOOLS).set_index(["upn", "week"])


def test_columns_follow_the_schema(snapshots):
    assert list(snapshots.reset_index()[SNAPSHOT_COLUMNS].columns) == SNAPSHOT_COLUMNS
    assert all(snapshots[c].dtype == np.float64 for c in ALL_FEATURES)
    assert snapshots.loc[("A", 2), "as_of"] == pd.Timestamp("2024-09-13")  # the Friday


def test_pupil_a_after_week_2_by_hand(snapshots):
    a = snapshots.loc[("A", 2)]
    # 12 possible sessions (8 + 4), absent 8: I x4, O x4.
    assert a["possible_sessions_ytd"] == 12
    assert a["absence_rate_ytd"] == pytest.approx(8 / 12)
    assert a["authorised_rate_ytd"] == pytest.approx(4 / 12)
    assert a["unauthorised_rate_ytd"] == pytest.approx(4 / 12)
    assert a["illness_rate_ytd"] == pytest.approx(4 / 12)
    assert a["absence_rate_2w"] == pytest.approx(8 / 12)
    assert a["absence_change_2w"] == pytest.approx(0.0)
    # Two weekly rates are not a trend: the slope needs three weeks with sessions.
    assert np.isnan(a["absence_slope_8w"])
    assert a["weeks_since_full_attendance"] == 2  # no full week yet
    # Spells: (Mon PM .. Thu AM) 4 sessions; (Fri AM .. Mon PM) 4 sessions.
    assert a["spells_ytd"] == 2
    assert a["mean_spell_days_ytd"] == pytest.approx(2.0)
    assert a["longest_spell_days_ytd"] == pytest.approx(2.0)
    assert a["spells_4w"] == 2
    # Absences on Mondays: week-1 PM, week-2 AM and PM; Fridays: 2; PM: 4 of 8.
    assert a["monday_absence_share"] == pytest.approx(3 / 8)
    assert a["friday_absence_share"] == pytest.approx(2 / 8)
    assert a["pm_absence_share"] == pytest.approx(4 / 8)
    assert a["unauthorised_share"] == pytest.approx(4 / 8)
    # Rates per possible session of the kind: Mondays 3 of 4, Fridays 2 of 2, PM 4 of 6.
    assert a["monday_absence_rate"] == pytest.approx(3 / 4)
    assert a["friday_absence_rate"] == pytest.approx(2 / 2)
    assert a["pm_absence_rate"] == pytest.approx(4 / 6)
    assert a["absence_weeks_share_ytd"] == pytest.approx(1.0)
    # Spell counts the model reads stop 4 weeks before the as-of week: none yet.
    assert (a["spells_before_4w"], a["mean_spell_days_before_4w"]) == (0, 0)
    assert (a["year_group"], a["phase_code"], a["weeks_into_year"]) == (8, 1, 2)
    assert (a["new_to_school"], a["fsm"], a["sen_provision"], a["eal"]) == (1, 1, 1, 0)


def test_pupil_b_by_hand(snapshots):
    b1, b2 = snapshots.loc[("B", 1)], snapshots.loc[("B", 2)]
    assert b1["absence_rate_ytd"] == pytest.approx(1 / 8)  # the U mark
    assert b1["late_rate_ytd"] == pytest.approx(1 / 8)  # the L mark
    assert b1["late_after_close_rate_ytd"] == pytest.approx(1 / 8)
    assert b2["aea_share_ytd"] == pytest.approx(2 / 12)
    assert b2["unresolved_sessions"] == 1
    assert b2["absence_rate_ytd"] == pytest.approx(2 / 12)
    assert b2["absence_rate_2w"] == pytest.approx(2 / 12)
    assert b2["absence_rate_4w"] == pytest.approx(2 / 12)
    assert np.isnan(b1["absence_slope_8w"])  # one week: no slope
    assert (b2["new_to_school"], b2["sen_provision"]) == (0, 2)


# Pupil C, six full school weeks from 2 September 2024 (10 sessions a week):
# week 1 present; week 2 ill on Monday; week 3 present; week 4 away (O) on Friday, the spell
# running on over the weekend into Monday of week 5; week 5 also away on Wednesday afternoon;
# week 6 ill on Thursday and Friday.
def _pupil_c() -> dict[str, tuple[str, str]]:
    days = {f"{d:%Y-%m-%d}": ("/", "\\") for d in pd.bdate_range("2024-09-02", "2024-10-11")}
    days |= {
        "2024-09-09": ("I", "I"),
        "2024-09-27": ("O", "O"),
        "2024-09-30": ("O", "O"),
        "2024-10-02": ("/", "O"),
        "2024-10-10": ("I", "I"),
        "2024-10-11": ("I", "I"),
    }
    return days


def test_six_weeks_of_windows_trend_and_spells_by_hand():
    snaps = snapshot_features(build_trajectory(marks_from_days({"C": _pupil_c()})))
    c = snaps.set_index("week").loc[6]
    # Weekly absences 0, 2, 0, 2, 3, 4 of 10 sessions: 11 of 60.
    assert c["possible_sessions_ytd"] == 60
    assert c["absence_rate_ytd"] == pytest.approx(11 / 60)
    assert c["absence_rate_2w"] == pytest.approx(7 / 20)
    assert c["absence_rate_4w"] == pytest.approx(9 / 40)
    assert c["absence_rate_8w"] == pytest.approx(11 / 60)  # only six weeks so far
    assert c["absence_change_2w"] == pytest.approx(7 / 20 - 11 / 60)
    assert c["absence_change_4w"] == pytest.approx(9 / 40 - 11 / 60)
    assert c["absence_change_8w"] == pytest.approx(0.0)
    # Least squares of 0, .2, 0, .2, .3, .4 on weeks 1..6: 1.25 / 17.5.
    assert c["absence_slope_8w"] == pytest.approx(1.25 / 17.5)
    assert c["weeks_since_full_attendance"] == 3  # week 3 was the last full week
    # Spells: Mon wk2 (2 sessions); Fri wk4 - Mon wk5 (4); Wed PM wk5 (1); Thu-Fri wk6 (4).
    assert c["spells_ytd"] == 4
    assert c["mean_spell_days_ytd"] == pytest.approx(11 / 4 / 2)
    assert c["longest_spell_days_ytd"] == pytest.approx(2.0)
    assert c["spells_4w"] == 3  # begun in weeks 3-6
    assert c["spells_before_4w"] == 1  # begun in weeks 1-2
    assert c["mean_spell_days_before_4w"] == pytest.approx(1.0)
    # Mondays 4 of 12 sessions, Fridays 4 of 12, afternoons 6 of 30.
    assert c["monday_absence_rate"] == pytest.approx(4 / 12)
    assert c["friday_absence_rate"] == pytest.approx(4 / 12)
    assert c["pm_absence_rate"] == pytest.approx(6 / 30)
    assert c["monday_absence_share"] == pytest.approx(4 / 11)
    assert c["pm_absence_share"] == pytest.approx(6 / 11)
    assert c["absence_weeks_share_ytd"] == pytest.approx(4 / 6)
    assert c["absence_weeks_share_8w"] == pytest.approx(4 / 6)
    assert c["unauthorised_rate_ytd"] == pytest.approx(5 / 60)
    assert c["illness_rate_ytd"] == pytest.approx(6 / 60)
    assert c["unauthorised_share"] == pytest.approx(5 / 11)
    # Four weeks earlier nothing had settled; at week 5 only week 1 had (no spell).
    w5 = snaps.set_index("week").loc[5]
    assert (w5["spells_before_4w"], w5["spells_4w"]) == (0, 3)
    assert w5["weeks_since_full_attendance"] == 2


def test_features_of_chosen_weeks_equal_those_of_every_week():
    """The service computes one week; training every week: the same numbers."""
    trajectory = build_trajectory(marks_from_days({"A": PUPIL_A, "B": PUPIL_B, "C": _pupil_c()}))
    every = snapshot_features(trajectory, PUPILS, SCHOOLS).set_index(["upn", "week"])
    for chosen in ([1], [5], [2, 6]):
        some = snapshot_features(trajectory, PUPILS, SCHOOLS, weeks=chosen)
        some = some.set_index(["upn", "week"])
        assert set(some.index.get_level_values("week")) == set(chosen)
        pd.testing.assert_frame_equal(some, every.loc[some.index])


def test_history_passed_in_as_stored_outcomes():
    """The service passes last year's stored totals, not last year's marks."""
    trajectory = build_trajectory(marks_from_days({"A": PUPIL_A, "B": PUPIL_B}))
    history = pd.DataFrame(
        {
            "academic_year": ["2023/24", "2023/24", "2023/24"],
            "upn": ["A", "A", "Z"],
            # A was at two schools last year: the rate is over both enrolments.
            "possible_sessions": [200, 100, 300],
            "absence": [10, 35, 3],
        }
    )
    snaps = snapshot_features(trajectory, PUPILS, SCHOOLS, history=history)
    snaps = snaps.set_index(["upn", "week"])
    assert snaps.loc[("A", 1), "absence_rate_last_year"] == pytest.approx(45 / 300)
    assert snaps.loc[("A", 1), "pa_last_year"] == 1
    assert snaps.loc[("B", 1), "on_roll_last_year"] == 0  # the year is known, B not in it
    assert np.isnan(snaps.loc[("B", 1), "absence_rate_last_year"])


def test_no_history_when_the_data_hold_no_previous_year(snapshots):
    assert snapshots[["absence_rate_last_year", "on_roll_last_year"]].isna().all().all()


def test_history_from_the_previous_year_and_year_end_labels():
    last_year = {f"{d:%Y-%m-%d}": ("I", "I") for d in pd.bdate_range("2023-09-04", "2023-09-08")}
    last_year |= {f"{d:%Y-%m-%d}": ("/", "/") for d in pd.bdate_range("2023-09-11", "2024-07-19")}
    this_year = {f"{d:%Y-%m-%d}": ("/", "/") for d in pd.bdate_range("2024-09-02", "2025-07-18")}
    this_year |= {f"{d:%Y-%m-%d}": ("O", "O") for d in pd.bdate_range("2025-06-02", "2025-07-18")}
    marks = marks_from_days({"A": last_year | this_year, "B": this_year})
    snaps = snapshot_features(build_trajectory(marks))
    current = snaps[snaps["academic_year"] == "2024/25"].set_index(["upn", "week"])
    days_last_year = len(pd.bdate_range("2023-09-04", "2024-07-19"))
    assert current.loc[("A", 1), "absence_rate_last_year"] == pytest.approx(5 / days_last_year)
    assert current.loc[("A", 1), "on_roll_last_year"] == 1
    assert current.loc[("B", 1), "on_roll_last_year"] == 0  # previous year known, B not in it
    absent_days = len(pd.bdate_range("2025-06-02", "2025-07-18"))
    days = len(pd.bdate_range("2024-09-02", "2025-07-18"))
    assert absent_days / days >= 0.10
    # The label is the whole year's outcome, the same at every week, even before the decline.
    assert (current["pa_year_end"] == 1).all()
    assert current.loc[("A", 1), "absence_rate_ytd"] == 0


def test_year_11_study_leave_after_the_may_half_term_does_not_count():
    """The DfE leaves out the second half of the summer term for pupils aged 15 on 31 August:
    Year 11 on study leave (S, authorised absence) from June is not persistently absent; the
    same register for a Year 10 pupil is."""
    weekdays = pd.bdate_range("2024-09-02", "2025-07-18")
    half_term = (weekdays >= "2025-05-26") & (weekdays <= "2025-05-30")
    after = weekdays >= "2025-06-02"
    days = {
        f"{d:%Y-%m-%d}": (("S", "S") if late else ("/", "\\"))
        for d, late, gap in zip(weekdays, after, half_term, strict=True)
        if not gap
    }
    roster = pd.DataFrame(
        {
            "upn": ["Y11", "Y10", "Y11NODOB"],
            "year_group": [11, 10, 11],
            "date_of_birth": ["2009-03-10", "2010-03-10", None],
        }
    )
    marks = marks_from_days({"Y11": days, "Y10": days, "Y11NODOB": days})
    snaps = snapshot_features(build_trajectory(marks), roster).set_index(["upn", "week"])
    share = after.sum() / (len(weekdays) - half_term.sum())
    assert share >= 0.10  # counted over the whole year, study leave would make PA
    assert snaps.loc[("Y10", 1), "pa_year_end"] == 1
    assert snaps.loc[("Y11", 1), "pa_year_end"] == 0
    assert snaps.loc[("Y11NODOB", 1), "pa_year_end"] == 0  # Year 11 taken as aged 15


def test_labels_unknown_while_the_year_is_in_progress(snapshots):
    assert snapshots["pa_year_end"].isna().all()


def test_every_and_as_of_select_weeks():
    last_year = {f"{d:%Y-%m-%d}": ("/", "/") for d in pd.bdate_range("2023-09-04", "2024-07-19")}
    days = {f"{d:%Y-%m-%d}": ("/", "/") for d in pd.bdate_range("2024-09-02", "2024-10-18")}
    trajectory = build_trajectory(marks_from_days({"A": last_year | days}))
    this_year = snapshot_features(trajectory, every=3).query("academic_year == '2024/25'")
    assert list(this_year["week"]) == [1, 4, 7]
    # As known on Thursday 26 September: that academic year only, at week 3 (week 4 ends on
    # Friday 27 September); nothing from last year's weeks.
    as_of = snapshot_features(trajectory, as_of=dt.date(2024, 9, 26))
    assert list(as_of["week"]) == [3]
    assert list(as_of["academic_year"]) == ["2024/25"]
    assert as_of["on_roll_last_year"].tolist() == [1.0]  # last year still feeds the history
    assert snapshot_features(trajectory, as_of=dt.date(2024, 8, 20)).empty
    with pytest.raises(ValueError, match="not both"):
        snapshot_features(trajectory, as_of=dt.date(2024, 9, 26), every=2)


# Found by Hypothesis: nobody has a possible session by the cut (C's only week is a closure).
_NOTHING_POSSIBLE_BY_THE_CUT = marks_from_days(
    {
        "A": {"2024-09-10": ("/", "/")},
        "B": {"2024-09-16": ("/", "/")},
        "C": {"2024-09-03": ("#", "#")},
    }
)


@settings(max_examples=60, deadline=None)
@given(registers(), st.integers(1, 4), st.data())
@example(_NOTHING_POSSIBLE_BY_THE_CUT, 1, None).via("discovered failure")
def test_marks_after_the_as_of_week_never_change_its_features(marks, cut_week, data):
    """The leakage guarantee: features at week w use only marks up to the end of week w."""
    week_of = marks["date"].dt.to_period("W-SUN")
    weeks = sorted(week_of.unique())
    cut = weeks[min(cut_week, len(weeks)) - 1]
    before = marks[week_of <= cut]
    # Later marks: change some codes and add a new pupil, all after the cut.
    later = marks[week_of > cut].copy()
    if len(later) and data is not None:  # (explicit examples have no data to draw from)
        flips = data.draw(st.lists(st.integers(0, len(later) - 1), max_size=10))
        later.iloc[flips, later.columns.get_loc("code")] = "O"
    newcomer = later.assign(upn="D")
    changed = pd.concat([before, later, newcomer], ignore_index=True)

    roster = pd.DataFrame(
        {
            "upn": ["A", "B", "C", "D"],
            "year_group": [3, 7, 10, 7],
            "fsm": [1, 0, 0, 1],
            "sen": ["K", "N", "E", "N"],
            "eal": [0, 0, 1, 0],
            "entry_date": ["2024-09-02", "2019-09-04", "2020-09-03", "2024-10-01"],
        }
    )
    schools = pd.DataFrame({"school_urn": [URN], "phase": ["secondary"]})
    columns = [*ALL_FEATURES, *DESCRIPTIVE_COLUMNS]

    def features_up_to_cut(frame: pd.DataFrame) -> pd.DataFrame:
        snaps = snapshot_features(build_trajectory(frame), roster, schools)
        snaps = snaps[snaps["as_of"] <= cut.end_time]
        return snaps.set_index(["upn", "week"]).sort_index()[columns]

    def features_as_of_cut(frame: pd.DataFrame) -> pd.DataFrame:
        snaps = snapshot_features(build_trajectory(frame), roster, schools, as_of=cut.end_time)
        return snaps.set_index(["upn", "week"]).sort_index()[columns]

    # (No pupil with a possible session by the cut: both are empty, whatever their index
    # dtype, which pandas infers from the empty input.)
    exact = not features_up_to_cut(before).empty
    pd.testing.assert_frame_equal(
        features_up_to_cut(changed), features_up_to_cut(before), check_index_type=exact
    )
    pd.testing.assert_frame_equal(
        features_as_of_cut(changed), features_as_of_cut(before), check_index_type=exact
    )

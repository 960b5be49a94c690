"""Trajectory counters: golden numbers computed by hand, and week-by-week updating."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.trajectory import append_weeks, build_trajectory
from tests.features.register_builders import PUPIL_A, PUPIL_B, marks_from_days


@pytest.fixture
def trajectory() -> pd.DataFrame:
    return build_trajectory(marks_from_days({"A": PUPIL_A, "B": PUPIL_B}))


def row(trajectory: pd.DataFrame, upn: str, week: int) -> pd.Series:
    found = trajectory[(trajectory["upn"] == upn) & (trajectory["week"] == week)]
    assert len(found) == 1
    return found.iloc[0]


def test_weeks_are_numbered_from_the_first_week_with_marks(trajectory):
    assert sorted(trajectory["week"].unique()) == [1, 2]
    assert set(trajectory["academic_year"]) == {"2024/25"}
    starts = trajectory.groupby("week")["week_start"].first()
    assert starts[1] == pd.Timestamp("2024-09-02") and starts[2] == pd.Timestamp("2024-09-09")


def test_pupil_a_week_1_by_hand(trajectory):
    a1 = row(trajectory, "A", 1)
    # 10 sessions, 2 closed (#): 8 possible; present Mon AM and Thu PM; I x4, O x2.
    assert a1["possible_sessions"] == 8
    assert (a1["present"], a1["authorised"], a1["unauthorised"]) == (2, 4, 2)
    assert (a1["absence"], a1["illness"]) == (6, 4)
    assert (a1["absence_am"], a1["absence_pm"]) == (3, 3)
    assert (a1["absence_monday"], a1["absence_friday"], a1["absence_tue_thu"]) == (1, 2, 3)
    # Spells: Mon PM-Tue PM-(closure)-Thu AM is one spell of 4 sessions; Fri AM-PM a second,
    # still open at the end of the week.
    assert (a1["spells_started"], a1["longest_run"], a1["run_at_week_end"]) == (2, 4, 2)


def test_spell_open_at_friday_continues_into_monday(trajectory):
    a2 = row(trajectory, "A", 2)
    assert a2["spells_started"] == 0  # Monday's O O continues Friday's spell
    assert a2["longest_run"] == 4  # Fri AM, Fri PM, Mon AM, Mon PM
    assert a2["run_at_week_end"] == 0  # present on Tuesday


def test_lateness_unresolved_and_aea(trajectory):
    b1, b2 = row(trajectory, "B", 1), row(trajectory, "B", 2)
    assert (b1["late_before_close"], b1["late_after_close"]) == (1, 1)
    assert b1["present"] == 7 and b1["unauthorised"] == 1  # U is unauthorised absence
    assert (b2["unresolved"], b2["aea"], b2["possible_sessions"]) == (1, 2, 4)


def test_codes_not_valid_on_their_date_are_not_counted():
    # C2 (part-time timetable) exists only from 19 August 2024.
    marks = marks_from_days({"A": {"2023-09-04": ("C2", "/"), "2024-09-02": ("C2", "/")}})
    traj = build_trajectory(marks).set_index("academic_year")
    assert traj.loc["2023/24", "possible_sessions"] == 1
    assert traj.loc["2024/25", "possible_sessions"] == 2


def test_append_refuses_a_week_already_present(trajectory):
    marks = marks_from_days({"A": {"2024-09-10": ("O", "O")}})
    with pytest.raises(ValueError, match="rebuild"):
        append_weeks(trajectory, marks)


CODES = ["/", "\\", "L", "I", "O", "G", "M", "U", "N", "V", "#", "-", "E"]
SCHOOL_DAYS = pd.bdate_range("2024-09-02", "2024-10-04")  # five school weeks


@st.composite
def registers(draw) -> pd.DataFrame:
    days = {}
    for upn in ("A", "B", "C"):
        first = draw(st.integers(0, 10))  # joiners
        last = draw(st.integers(first + 1, len(SCHOOL_DAYS)))  # leavers
        days[upn] = {
            f"{day:%Y-%m-%d}": (draw(st.sampled_from(CODES)), draw(st.sampled_from(CODES)))
            for day in SCHOOL_DAYS[first:last]
        }
    return marks_from_days(days)


@settings(max_examples=40, deadline=None)
@given(registers())
def test_appending_week_by_week_equals_building_at_once(marks):
    full = build_trajectory(marks)
    mondays = sorted(marks["date"].dt.to_period("W-SUN").unique())
    built = build_trajectory(marks[marks["date"].dt.to_period("W-SUN") == mondays[0]])
    for week in mondays[1:]:
        built = append_weeks(built, marks[marks["date"].dt.to_period("W-SUN") == week])
    pd.testing.assert_frame_equal(
        full.reset_index(drop=True), built.reset_index(drop=True), check_dtype=False
    )


def test_appending_one_schools_week_numbers_it_within_that_school():
    # School 100 has three weeks, school 200 one; a second week for school 200 alone is its
    # week 2, whatever school 100 holds.
    school_100 = marks_from_days(
        {"A": {"2024-09-02": ("/", "/"), "2024-09-09": ("/", "/"), "2024-09-16": ("/", "/")}},
        urn=100,
    )
    school_200 = marks_from_days({"B": {"2024-09-02": ("/", "/")}}, urn=200)
    week_2 = marks_from_days({"B": {"2024-09-09": ("I", "I")}}, urn=200)
    appended = append_weeks(build_trajectory(pd.concat([school_100, school_200])), week_2)
    b = appended[appended["school_urn"] == 200].set_index("week")
    assert list(b.index) == [1, 2]
    assert b.loc[2, "week_start"] == pd.Timestamp("2024-09-09")
    assert b.loc[2, "absence"] == 2


# Two schools, two academic years (the last fortnight of 2023/24, the first month of 2024/25).
TERM_DAYS = pd.bdate_range("2024-07-08", "2024-07-19").append(
    pd.bdate_range("2024-09-02", "2024-09-27")
)
TERM_WEEKS = sorted(set(TERM_DAYS.to_period("W-SUN")))


@st.composite
def authority_registers(draw) -> pd.DataFrame:
    frames = []
    for urn in (100, 200):
        # A school may have no marks in some weeks (a closure, or it joined the service late).
        open_weeks = draw(st.lists(st.sampled_from(TERM_WEEKS), min_size=1, unique=True))
        days = TERM_DAYS[TERM_DAYS.to_period("W-SUN").isin(open_weeks)]
        by_pupil = {}
        for upn in ("A", "B", "C"):  # A and B are in both schools: two enrolments each
            first = draw(st.integers(0, len(days) - 1))
            last = draw(st.integers(first + 1, len(days)))
            by_pupil[upn] = {
                f"{day:%Y-%m-%d}": (draw(st.sampled_from(CODES)), draw(st.sampled_from(CODES)))
                for day in days[first:last]
            }
        frames.append(marks_from_days(by_pupil, urn=urn))
    return pd.concat(frames, ignore_index=True)


@settings(max_examples=60, deadline=None)
@given(authority_registers(), st.randoms(use_true_random=False))
def test_appending_batches_of_some_schools_equals_building_at_once(marks, random):
    """Batches are (school, week) units in any order that keeps each school's weeks in order;
    consecutive units are sometimes sent together (several schools or weeks in one batch)."""
    full = build_trajectory(marks)
    week = marks["date"].dt.to_period("W-SUN")
    queues = {urn: sorted(week[marks["school_urn"] == urn].unique()) for urn in (100, 200)}
    batches: list[list[tuple[int, pd.Period]]] = []
    while any(queues.values()):
        urn = random.choice([u for u, q in queues.items() if q])
        unit = (urn, queues[urn].pop(0))
        if batches and random.random() < 0.3:
            batches[-1].append(unit)
        else:
            batches.append([unit])

    def batch_marks(units):
        keep = np.zeros(len(marks), dtype=bool)
        for urn, period in units:
            keep |= ((marks["school_urn"] == urn) & (week == period)).to_numpy()
        return marks[keep]

    built = build_trajectory(batch_marks(batches[0]))
    for units in batches[1:]:
        built = append_weeks(built, batch_marks(units))
    pd.testing.assert_frame_equal(
        full.reset_index(drop=True), built.reset_index(drop=True), check_dtype=False
    )


@settings(max_examples=40, deadline=None)
@given(registers())
def test_row_order_of_the_marks_does_not_matter(marks):
    shuffled = marks.sample(frac=1.0, random_state=7)
    pd.testing.assert_frame_equal(build_trajectory(marks), build_trajectory(shuffled))

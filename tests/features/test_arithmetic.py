"""DfE attendance arithmetic (DOMAIN.md §1.2), pinned to hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.arithmetic import PA_THRESHOLD, SEVERE_THRESHOLD, area_totals, enrolment_totals


def marks(rows: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    """(school, pupil, date, code) → canonical marks (session alternates AM/PM; unused here)."""
    frame = pd.DataFrame(rows, columns=["school_urn", "upn", "date", "code"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["session"] = np.where(np.arange(len(frame)) % 2 == 0, "AM", "PM")
    return frame[["school_urn", "upn", "date", "session", "code"]]


def pupil(school: int, upn: str, codes: str, day: str = "2024-09-02") -> list[tuple]:
    return [(school, upn, day, code) for code in codes.split()]


def test_enrolment_totals_golden():
    # a: / L V I G D - → possible 5 (D not counted, - no mark), attended 3, auth 1, unauth 1.
    # b: O O O Y1 → possible 3, unauthorised 3 → 100%.
    frame = marks(pupil(1, "a", "/ L V I G D -") + pupil(1, "b", "O O O Y1"))
    totals = enrolment_totals(frame).set_index("upn")
    assert totals.loc["a", "possible_sessions"] == 5
    assert totals.loc["a", "attendance_sessions"] == 3
    assert totals.loc["a", "authorised_absence"] == 1
    assert totals.loc["a", "unauthorised_absence"] == 1
    assert totals.loc["a", "overall_absence"] == 2
    assert totals.loc["a", "absence_rate"] == pytest.approx(0.4)
    assert totals.loc["b", "possible_sessions"] == 3
    assert totals.loc["b", "absence_rate"] == 1.0
    assert totals["persistent_absence"].tolist() == [True, True]
    assert totals["severe_absence"].tolist() == [False, True]


def test_possible_sessions_identity():
    """possible = present + AEA + authorised + unauthorised; attendance + absence = possible."""
    frame = marks(pupil(1, "a", "/ \\ L K V P W B C1 M J1 S C2 C T R I E G N O U D X Q Y1 Z # -"))
    row = enrolment_totals(frame).iloc[0]
    assert row["attendance_sessions"] == 8  # / \ L K V P W B
    assert row["authorised_absence"] == 10  # C1 M J1 S C2 C T R I E
    assert row["unauthorised_absence"] == 4  # G N O U
    assert row["possible_sessions"] == 22
    assert row["attendance_sessions"] + row["overall_absence"] == row["possible_sessions"]


def test_covid_x_is_possible_but_neither_attendance_nor_absence():
    frame = marks(pupil(1, "a", "/ X X I", day="2021-01-11"))
    row = enrolment_totals(frame).iloc[0]
    assert (row["possible_sessions"], row["attendance_sessions"], row["overall_absence"]) == (
        4, 1, 1,
    )  # fmt: skip
    assert row["absence_rate"] == 0.25
    # The same marks today: X is not counted.
    today = enrolment_totals(marks(pupil(1, "a", "/ X X I"))).iloc[0]
    assert (today["possible_sessions"], today["absence_rate"]) == (2, 0.5)


@pytest.mark.parametrize(
    ("absent", "possible", "pa", "severe"),
    [
        (1, 10, True, False),  # exactly 10%: persistent (≥, DfE)
        (9, 91, False, False),  # 9.89%
        (38, 380, True, False),  # 10% of a full year
        (37, 380, False, False),
        (5, 10, True, True),  # exactly 50%: severe
        (189, 380, True, False),  # 49.7%
    ],
)
def test_persistent_and_severe_thresholds_are_inclusive(absent, possible, pa, severe):
    codes = " ".join(["O"] * absent + ["/"] * (possible - absent))
    row = enrolment_totals(marks(pupil(1, "a", codes))).iloc[0]
    assert row["absence_rate"] == absent / possible
    assert (bool(row["persistent_absence"]), bool(row["severe_absence"])) == (pa, severe)
    assert (PA_THRESHOLD, SEVERE_THRESHOLD) == (0.10, 0.50)


def test_zero_possible_sessions_has_no_rate_and_is_left_out_of_area_rates():
    frame = marks(pupil(1, "a", "/ / O O") + pupil(1, "z", "Z Z D #"))
    enrolments = enrolment_totals(frame)
    z = enrolments.set_index("upn").loc["z"]
    assert z["possible_sessions"] == 0
    assert np.isnan(z["absence_rate"])
    assert not z["persistent_absence"] and not z["severe_absence"]
    school = area_totals(enrolments).iloc[0]
    assert school["enrolments"] == 1
    assert school["persistent_absence_rate"] == 1.0


def test_area_rate_is_a_ratio_of_sums_not_a_mean_of_rates():
    # a: 1 of 2 absent (50%); b: 1 of 18 absent (5.6%). Mean of rates 27.8%; DfE: 2/20 = 10%.
    frame = marks(pupil(1, "a", "O /") + pupil(1, "b", " ".join(["O"] + ["/"] * 17)))
    school = area_totals(enrolment_totals(frame)).iloc[0]
    assert school["absence_rate"] == pytest.approx(0.10)
    assert school["possible_sessions"] == 20
    assert school["persistent_absence_rate"] == 0.5  # a only (b is 5.6%)
    assert school["severe_absence_rate"] == 0.5


def test_a_pupil_who_moves_school_is_two_enrolments():
    frame = marks(pupil(1, "a", "O O /") + pupil(2, "a", "/ / / / / / / / / O"))
    enrolments = enrolment_totals(frame).set_index(["school_urn", "upn"])
    assert enrolments.loc[(1, "a"), "absence_rate"] == pytest.approx(2 / 3)
    assert enrolments.loc[(2, "a"), "absence_rate"] == pytest.approx(0.1)
    by_school = area_totals(enrolments.reset_index(), by=["school_urn"]).set_index("school_urn")
    assert by_school["enrolments"].tolist() == [1, 1]
    assert by_school.loc[1, "severe_absence_rate"] == 1.0
    assert by_school.loc[2, "persistent_absence_rate"] == 1.0


COUNTED = st.sampled_from(["/", "L", "V", "I", "M", "O", "G", "U", "D", "Z", "-", "Y1"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), COUNTED), min_size=1, max_size=60))
def test_school_totals_are_sums_of_enrolment_totals(rows):
    frame = marks([(1, f"p{p}", "2024-09-02", code) for p, code in rows])
    enrolments = enrolment_totals(frame)
    school = area_totals(enrolments).iloc[0]
    counted = enrolments[enrolments["possible_sessions"] > 0]
    for column in ("possible_sessions", "attendance_sessions", "authorised_absence"):
        assert school[column] == counted[column].sum() == enrolments[column].sum()
    assert (enrolments["attendance_sessions"] + enrolments["overall_absence"]).equals(
        enrolments["possible_sessions"]
    )
    if len(counted):
        assert school["absence_rate"] == pytest.approx(
            counted["overall_absence"].sum() / counted["possible_sessions"].sum()
        )

"""The risk list's two lists, group filters, search, sorting and rounded CSV; the model-change
marker of the pupil's risk chart."""

from __future__ import annotations

import csv
import io

import numpy as np

from features.lists import extra_list_flags
from serving.routes.pages import line_chart, model_changes
from serving.school_lists import list_flags
from tests.serving.helpers import SCHOOL, Service, load_weeks, make_school


def _get(service: Service, **params):
    response = service.client.get(
        f"/v1/schools/{SCHOOL}/risk",
        params={"limit": 100, **params},
        headers=service.auth("school"),
    )
    assert response.status_code == 200, response.text
    return response.json()["pupils"]


def test_lists_filters_search_sort_and_csv(service: Service) -> None:
    school = make_school(SCHOOL, n=40)
    load_weeks(service, school, range(1, 6))
    everyone = _get(service)
    knows = _get(service, view="school")
    assert {p["upn"] for p in knows} == {
        p["upn"] for p in everyone if p["attendance_ytd"] <= 0.9 + 1e-9
    }
    assert all(p["on_school_list"] for p in knows)
    heading = _get(service, view="heading")
    # 3% of 40 → one pupil, the highest-risk pupil not on the school's list.
    off_list = [p for p in everyone if not p["on_school_list"]]
    assert [p["upn"] for p in heading] == [off_list[0]["upn"]]
    assert heading[0]["heading_there"] and not heading[0]["on_school_list"]
    # Group filters follow the roster.
    fsm = set(school.roster.loc[school.roster["fsm"] == 1, "upn"])
    assert {p["upn"] for p in _get(service, fsm="true")} == fsm
    girls_k = school.roster[(school.roster["sex"] == "F") & (school.roster["sen"] == "K")]
    assert {p["upn"] for p in _get(service, sex="F", sen="K")} == set(girls_k["upn"])
    years = _get(service, year_group=[5, 6])
    assert len(years) == 40
    # Search by part of a name (any case) or the exact UPN.
    assert all("Khan" in p["name"] for p in _get(service, search="kHaN")) and _get(
        service, search="khan"
    )
    assert [p["upn"] for p in _get(service, search=school.upns[3])] == [school.upns[3]]
    assert _get(service, search="100%") == []  # a wildcard is text, not a pattern
    # Sorting by any column.
    by_attendance = [p["attendance_ytd"] for p in _get(service, sort="attendance_ytd")]
    assert by_attendance == sorted(by_attendance)
    by_risk = [p["risk"] for p in _get(service, sort="risk", descending="true")]
    assert by_risk == sorted(by_risk, reverse=True)
    # CSV: percentages rounded to one decimal place.
    export = service.client.get(
        f"/v1/schools/{SCHOOL}/risk", params={"format": "csv"}, headers=service.auth("school")
    )
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    first = everyone[0]
    assert rows[0]["attendance_ytd_pct"] == f"{first['attendance_ytd'] * 100:.1f}"
    assert rows[0]["risk_pct"] == f"{first['risk'] * 100:.1f}"
    assert rows[0]["school_list"] in ("yes", "no")


def test_surfaced_is_the_first_week_of_two_running() -> None:
    import pandas as pd

    # Three pupils, four weeks; the roll of 3 gives an extra list of one pupil (33%).
    scores = pd.DataFrame(
        {
            "upn": ["A", "B", "C"] * 4,
            "as_of": np.repeat(pd.date_range("2024-09-06", periods=4, freq="7D").date, 3),
            "week": np.repeat([1, 2, 3, 4], 3),
            "risk": [0.9, 0.5, 0.1, 0.4, 0.6, 0.1, 0.4, 0.6, 0.1, 0.4, 0.3, 0.8],
            "rank": [1, 2, 3, 2, 1, 3, 2, 1, 3, 2, 3, 1],
            "attendance_ytd": [0.95] * 12,
        }
    )
    flags = list_flags(scores, {}, share=0.34).set_index("upn")
    # A tops week 1 only; B tops weeks 2-3 (surfaced week 3); C tops week 4 only.
    assert (
        flags.loc["B", "surfaced_week"] == 3 and str(flags.loc["B", "surfaced_on"]) == "2024-09-20"
    )
    assert pd.isna(flags.loc["A", "surfaced_week"])
    assert bool(flags.loc["C", "heading_there"]) and not bool(flags.loc["B", "heading_there"])
    assert extra_list_flags(np.array([0.2]), np.array([False]), np.array([1]), np.array([1])).all()


def test_a_pupil_at_exactly_10_percent_absence_is_on_the_schools_list() -> None:
    """5 of 50 sessions missed is persistent absence (≥ 10%), as training counts it, though
    1 − 0.9 is 0.0999… in floating point."""
    import pandas as pd

    scores = pd.DataFrame(
        {
            "upn": ["A", "B"],
            "as_of": [pd.Timestamp("2024-09-06").date()] * 2,
            "week": [1, 1],
            "risk": [0.9, 0.1],
            "rank": [1, 2],
            "attendance_ytd": [1.0 - 5 / 50, 1.0 - 4 / 50],
        }
    )
    flags = list_flags(scores, {}, share=0.5).set_index("upn")
    assert bool(flags.loc["A", "on_school_list"]) and not bool(flags.loc["A", "heading_there"])
    assert not bool(flags.loc["B", "on_school_list"]) and bool(flags.loc["B", "heading_there"])


def test_a_new_model_is_marked_on_the_risk_chart() -> None:
    history = [
        {"model_name": "m", "model_version": "1", "as_of": "2024-09-06", "risk": 0.2},
        {"model_name": "m", "model_version": "1", "as_of": "2024-09-13", "risk": 0.3},
        {"model_name": "m", "model_version": "2", "as_of": "2024-09-20", "risk": 0.1},
    ]
    assert model_changes(history) == [(2, "model v2")]
    chart = line_chart(
        [("Risk", [h["risk"] for h in history])], ["6 Sep", "13 Sep", "20 Sep"],
        title="t", description="d", markers=model_changes(history),
    )  # fmt: skip
    assert chart.count('class="marker"') == 1 and "model v2" in chart

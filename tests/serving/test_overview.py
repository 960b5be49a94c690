"""The school overview: DfE figures recomputed from the uploaded marks, the authority, England,
groups with small-number suppression, lists and thresholds, scoping and audit."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from serving.models import AuditEvent
from serving.overview import SUPPRESS_BELOW, figures_of, groups_of
from tests.serving.helpers import OTHER_SCHOOL, SCHOOL, Service, load_weeks, make_school

WEEKS = range(1, 6)


def _expected(marks: pd.DataFrame) -> dict[str, float]:
    """Attendance, authorised and unauthorised absence and PA, by hand from the marks (every
    pupil of the fictional school is aged 9-10: all in the DfE cohort; I = authorised,
    O = unauthorised)."""
    absent = marks["mark"].isin(["I", "O"])
    per_pupil = absent.groupby(marks["upn"]).mean()
    return {
        "attendance": 1 - absent.mean(),
        "authorised_absence": (marks["mark"] == "I").mean(),
        "unauthorised_absence": (marks["mark"] == "O").mean(),
        "persistent_absence": (per_pupil >= 0.1).mean(),
        "severe_absence": (per_pupil >= 0.5).mean(),
    }


def test_overview_figures_equal_the_dfe_arithmetic_of_the_marks(service: Service) -> None:
    school, other = make_school(SCHOOL, n=40), make_school(OTHER_SCHOOL, n=24)
    load_weeks(service, school, WEEKS)
    load_weeks_as(service, other, WEEKS)
    response = service.client.get(f"/v1/schools/{SCHOOL}/overview", headers=service.auth("school"))
    assert response.status_code == 200, response.text
    body = response.json()
    mine = pd.concat([school.week_marks(w) for w in WEEKS])
    both = pd.concat([mine, *[other.week_marks(w) for w in WEEKS]])
    for name, value in _expected(mine).items():
        assert body["school"][name] == pytest.approx(value), name
    for name, value in _expected(both).items():
        assert body["authority"][name] == pytest.approx(value), name
    assert body["school"]["pupils"] == 40 and body["authority"]["pupils"] == 64
    assert body["authority_schools"] == 2
    # England: the DfE's primary figure for the latest published year before 2024/25.
    assert body["england"]["academic_year"] == "2023/24"
    assert body["england"]["same_year"] is False
    assert body["england"]["persistent_absence"] == pytest.approx(0.15184)
    # The trend: one point per school week, the school's weekly attendance.
    weekly = mine.assign(absent=mine["mark"].isin(["I", "O"]))
    monday = pd.to_datetime(weekly["date"]).dt.to_period("W-SUN").dt.start_time.dt.date
    by_week = 1 - weekly.groupby(monday)["absent"].mean()
    assert [t["school"] for t in body["trend"]] == pytest.approx(by_week.tolist())
    assert all(t["england_term"] == "autumn 2023/24" for t in body["trend"])
    counts = body["counts"]
    assert counts["high"] + counts["medium"] + counts["low"] == 40
    assert counts["heading_there"] == 1  # 3% of 40, at least one
    # Sex: 20 girls and 20 boys, both shown, gaps of opposite sign.
    sexes = {g["group"]: g for g in body["groups"] if g["dimension"] == "sex"}
    assert not sexes["Girls"]["suppressed"] and not sexes["Boys"]["suppressed"]
    gap = sexes["Girls"]["attendance_gap"]
    assert gap == pytest.approx(-sexes["Boys"]["attendance_gap"], abs=1e-12)
    with service.db.read_session() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "school.overview" in actions


def load_weeks_as(service: Service, school, weeks: range) -> None:
    """Upload another school's files with its own key."""
    from tests.serving.helpers import upload

    response = upload(service, "roster", school.urn, school.roster_csv(), "r.csv", "other_school")
    assert response.status_code == 200, response.text
    for week in weeks:
        data = school.week_csv(week)
        response = upload(service, "registers", school.urn, data, f"w{week}.csv", "other_school")
        assert response.status_code == 200, response.text


def test_overview_is_scoped(service: Service) -> None:
    load_weeks(service, make_school(SCHOOL, n=12), range(1, 3))
    url = f"/v1/schools/{SCHOOL}/overview"
    assert service.client.get(url, headers=service.auth("other_school")).status_code == 403
    assert service.client.get(url, headers=service.auth("admin")).status_code == 403
    assert service.client.get(url, headers=service.auth("practitioner")).status_code == 200
    missing = service.client.get(
        f"/v1/schools/{OTHER_SCHOOL}/overview", headers=service.auth("other_school")
    )
    assert missing.status_code == 404 and "registers" in missing.json()["detail"]["message"]


def test_a_kept_overview_follows_an_upload_anywhere_in_the_phase(service: Service) -> None:
    load_weeks(service, make_school(SCHOOL, n=12), range(1, 3))
    url = f"/v1/schools/{SCHOOL}/overview"
    first = service.client.get(url, headers=service.auth("school")).json()
    assert first["authority_schools"] == 1
    assert service.client.get(url, headers=service.auth("school")).json() == first  # kept
    load_weeks_as(service, make_school(OTHER_SCHOOL, n=24), range(1, 3))
    second = service.client.get(url, headers=service.auth("school")).json()
    assert second["authority_schools"] == 2 and second["authority"]["pupils"] == 36
    assert second["school"] == first["school"]


def _rows(sizes: dict[str, int]) -> pd.DataFrame:
    """One week per pupil, group ``g``; pupil i of a group misses i sessions of 10."""
    rows = []
    for group, n in sizes.items():
        for i in range(n):
            rows.append({"upn": f"{group}{i}", "g": group, "possible_sessions": 10,
                         "authorised": i % 10, "unauthorised": 0, "absence": i % 10})  # fmt: skip
    return pd.DataFrame(rows).rename(columns={"g": "sex"})


def test_small_groups_are_suppressed_and_so_is_their_complement() -> None:
    n = SUPPRESS_BELOW
    shown = {g.group: g for g in groups_of(_rows({"F": n, "M": n + 5}))}
    assert not shown["Girls"].suppressed and not shown["Boys"].suppressed
    assert shown["Girls"].figures is not None and shown["Girls"].figures.pupils == n
    small = {g.group: g for g in groups_of(_rows({"F": n - 1, "M": 40}))}
    assert small["Girls"].suppressed and small["Girls"].figures is None
    # The large group's figures would reveal the small one's by difference: suppressed too.
    assert small["Boys"].suppressed and small["Boys"].attendance_gap is None


def test_figures_by_hand() -> None:
    frame = _rows({"F": 3})  # absences 0, 1, 2 of 10 each
    figures = figures_of(frame)
    assert figures.attendance == pytest.approx(1 - 3 / 30)
    assert figures.persistent_absence == pytest.approx(2 / 3)
    assert figures.severe_absence == 0

"""The holes a probe of the service found (issue 10), one test each (both databases where the
store is touched). Each of them failed on the code before its fix."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.models import Mark, Pupil
from tests.serving.helpers import SCHOOL, Service, load_weeks, upload

HUGE = "99999999999999999999"  # past 64 bits
PAST_INT64 = "9223372036854775808"  # 2**63


def lenient(service: Service) -> TestClient:
    """A client that shows the answer the app gives (a 500 too) instead of re-raising."""
    return TestClient(service.client.app, raise_server_exceptions=False)


def count(service: Service, table) -> int:
    with service.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(table))


def sign_in(client: TestClient, key: str) -> None:
    response = client.post("/login", data={"key": key}, follow_redirects=False)
    assert response.status_code == 303, response.text


# --- integers past 64 bits --------------------------------------------------------------------


def test_integers_past_64_bits_are_a_422_not_a_500(service: Service, school) -> None:
    load_weeks(service, school, range(1, 3))
    client = lenient(service)
    school_key, admin = service.auth("school"), service.auth("admin")
    answers = {
        "offset": client.get(f"/v1/schools/{SCHOOL}/risk?offset={HUGE}", headers=school_key),
        "year group": client.get(
            f"/v1/schools/{SCHOOL}/risk?year_group={HUGE}", headers=school_key
        ),
        "urn in path": client.get(f"/v1/schools/{HUGE}/risk", headers=school_key),
        "school": client.get(f"/v1/pupils/{school.upns[0]}?school={HUGE}", headers=school_key),
        "referral": client.patch(
            f"/v1/referrals/{PAST_INT64}", json={"note": "x"}, headers=school_key
        ),
        "key": client.delete(f"/v1/keys/{PAST_INT64}", headers=admin),
        "key scope": client.post(
            "/v1/keys", json={"role": "school", "schools": [int(PAST_INT64)]}, headers=admin
        ),
        "referral school": client.post(
            "/v1/referrals",
            json={"school_urn": int(PAST_INT64), "upn": school.upns[0]},
            headers=school_key,
        ),
    }
    for what, response in answers.items():
        assert response.status_code == 422, (what, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json", what


def test_a_web_page_asked_for_with_a_huge_integer_answers_with_an_html_page(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 3))
    client = lenient(service)
    sign_in(client, service.keys["school"])
    for path in (
        f"/schools/{SCHOOL}?offset={HUGE}",
        f"/schools/{HUGE}",
        f"/schools/{HUGE}/pupils/{school.upns[0]}",
        f"/schools/{SCHOOL}/risk.csv?year_group={HUGE}",
    ):
        response = client.get(path)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith("text/html"), path
        assert "Not a valid request" in response.text


# --- a register that covers some of the pupils ------------------------------------------------


def test_a_new_week_covering_one_pupil_leaves_the_risk_list_as_it_was(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 3))

    def risk_list() -> dict:
        return service.client.get(
            f"/v1/schools/{SCHOOL}/risk", params={"limit": 100}, headers=service.auth("school")
        ).json()

    before = risk_list()
    assert (before["week"], before["total"]) == (2, 30)
    week3 = school.week_marks(3)
    one_pupil = week3[week3["upn"] == school.upns[0]]
    response = upload(
        service, "registers", SCHOOL, one_pupil.to_csv(index=False).encode(), "w3-part.csv"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["marks_new"] == 10  # stored: nothing the school sent is lost
    (gap,) = body["incomplete_weeks"]
    assert (gap["week"], gap["pupils_on_roll"], gap["pupils_marked"], gap["missing"]) == (
        3,
        30,
        1,
        29,
    )
    named = {p["upn"]: p["name"] for p in gap["missing_pupils"]}
    assert set(named) == set(school.upns[1:])
    assert named[school.upns[1]] == "Ben Smith1"
    assert "week 3" in body["message"] and "29 of the 30 pupils on roll" in body["message"]
    assert body["scoring"]["week"] == 2  # the list stays at the last complete week
    after = risk_list()
    assert (after["week"], after["total"]) == (2, 30)
    assert after["pupils"] == before["pupils"]

    # The rest of the week arrives: week 3 is scored, every pupil on it.
    rest = week3[week3["upn"] != school.upns[0]]
    response = upload(service, "registers", SCHOOL, rest.to_csv(index=False).encode(), "w3.csv")
    assert response.status_code == 200, response.text
    assert response.json()["incomplete_weeks"] == []
    assert response.json()["scoring"]["week"] == 3
    complete = risk_list()
    assert (complete["week"], complete["total"]) == (3, 30)


def test_pupils_who_left_are_not_waited_for(service: Service, school) -> None:
    load_weeks(service, school, range(1, 3))
    # Pupil 0 left after week 2: the school's next roster no longer lists them.
    assert upload(
        service, "roster", SCHOOL, school.roster.iloc[1:].to_csv(index=False).encode(), "r.csv"
    ).json()["changed"]
    week3 = school.week_marks(3)
    rest = week3[week3["upn"] != school.upns[0]].to_csv(index=False).encode()
    response = upload(service, "registers", SCHOOL, rest, "w3.csv")
    assert response.json()["incomplete_weeks"] == []
    assert response.json()["scoring"]["week"] == 3
    assert response.json()["scoring"]["pupils"] == 29


# --- values no pupil can have -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("date_of_birth", "year_group", "words"),
    [
        ((dt.date.today() + dt.timedelta(days=30)).isoformat(), 5, "in the future"),
        ("1800-01-01", 5, "too old for year group 5"),
        ((dt.date.today() - dt.timedelta(days=6 * 365)).isoformat(), 13, "too young"),
    ],
)
def test_a_date_of_birth_impossible_for_the_year_group_is_refused(
    service: Service, school, date_of_birth: str, year_group: int, words: str
) -> None:
    roster = school.roster.copy()
    roster.loc[3, ["date_of_birth", "year_group"]] = [date_of_birth, year_group]
    response = upload(service, "roster", SCHOOL, roster.to_csv(index=False).encode(), "r.csv")
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]["report"]["errors"]
    assert (error["row"], error["kind"]) == (5, "date_of_birth_impossible")
    assert words in error["message"] and error["value"] == date_of_birth
    assert count(service, Pupil) == 0


@pytest.mark.parametrize("minutes", ["inf", "-inf", "1e308", "nan", "100000"])
def test_minutes_late_that_are_no_number_of_minutes_are_refused(
    service: Service, school, minutes: str
) -> None:
    load_weeks(service, school, range(1, 1))
    week = school.week_marks(1)
    week.loc[4, ["mark", "minutes_late"]] = ["L", minutes]
    response = upload(service, "registers", SCHOOL, week.to_csv(index=False).encode(), "w1.csv")
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]["report"]["errors"]
    assert [(e["row"], e["kind"]) for e in errors] == [(6, "minutes_late_invalid")]
    assert count(service, Mark) == 0


# --- signing in -------------------------------------------------------------------------------


# --- headers ----------------------------------------------------------------------------------


def test_an_unknown_address_gets_an_html_page_in_a_browser(service: Service) -> None:
    page = service.client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no page at this address" in page.text
    api = service.client.get("/v1/no-such-thing")
    assert api.status_code == 404 and api.headers["content-type"] == "application/json"


# --- files on disk ----------------------------------------------------------------------------

"""The holes a probe of the service found (issue 10), one test each (both databases where the
store is touched). Each of them failed on the code before its fix."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

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


def test_a_sign_in_sent_from_another_site_is_refused(service: Service) -> None:
    key = service.keys["school"]
    for origin in ("http://evil.example", "null"):
        response = service.client.post(
            "/login", data={"key": key}, headers={"Origin": origin}, follow_redirects=False
        )
        assert response.status_code == 403, origin
        assert "set-cookie" not in response.headers
        assert "another site" in response.text
    from_here = service.client.post(
        "/login", data={"key": key}, headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert from_here.status_code == 303


def test_the_cookie_holds_a_session_id_not_the_key_and_signing_out_ends_it(
    service: Service,
) -> None:
    key = service.keys["practitioner"]
    response = service.client.post("/login", data={"key": key}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    session_id = service.client.cookies.get("ews_session")
    assert session_id and key not in cookie and key[4:20] not in cookie
    assert service.client.get("/", follow_redirects=False).status_code == 200
    assert service.client.post("/logout", follow_redirects=False).status_code == 303
    # The id is worthless once the session ended, even sent again by hand.
    service.client.cookies.set("ews_session", session_id)
    assert service.client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_a_revoked_key_ends_its_browser_sessions(service: Service) -> None:
    created = service.client.post(
        "/v1/keys", json={"role": "school", "schools": [SCHOOL]}, headers=service.auth("admin")
    ).json()
    sign_in(service.client, created["key"])
    assert service.client.get("/", follow_redirects=False).status_code == 200
    service.client.delete(f"/v1/keys/{created['id']}", headers=service.auth("admin"))
    refused = service.client.get("/", follow_redirects=False)
    assert refused.headers["location"] == "/login?key_refused=1"


def test_behind_a_tls_proxy_the_cookie_is_secure(db, tmp_path: Path) -> None:
    from serving.app import create_app
    from tests.serving.helpers import FakeSource, add_keys, make_settings

    keys = add_keys(db)
    for secure in (False, True):
        app = create_app(
            make_settings(tmp_path, cookie_secure=secure), db=db, model_source=FakeSource()
        )
        with TestClient(app) as client:
            response = client.post("/login", data={"key": keys["school"]}, follow_redirects=False)
        assert ("Secure" in response.headers["set-cookie"]) is secure


# --- headers ----------------------------------------------------------------------------------


def test_pupil_data_is_never_cached_and_pages_cannot_be_framed(service: Service, school) -> None:
    load_weeks(service, school, range(1, 3))
    upn = school.upns[0]
    api = [
        service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=service.auth("school")),
        service.client.get(f"/v1/schools/{SCHOOL}/risk?format=csv", headers=service.auth("school")),
        service.client.get(f"/v1/pupils/{upn}?school={SCHOOL}", headers=service.auth("school")),
        service.client.get("/v1/referrals", headers=service.auth("school")),
    ]
    sign_in(service.client, service.keys["school"])
    pages = [
        service.client.get("/"),
        service.client.get(f"/schools/{SCHOOL}"),
        service.client.get(f"/schools/{SCHOOL}/pupils/{upn}"),
        service.client.get(f"/schools/{SCHOOL}/risk.csv"),
        service.client.get("/login"),
    ]
    for response in api + pages:
        assert response.status_code == 200, response.url
        assert response.headers["cache-control"] == "no-store", response.url
    for response in pages:
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-content-type-options"] == "nosniff"
    # The page's own assets may be kept a while: they hold no pupil data.
    assert "max-age" in service.client.get("/static/style.css").headers["cache-control"]


def test_an_unknown_address_gets_an_html_page_in_a_browser(service: Service) -> None:
    page = service.client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no page at this address" in page.text
    api = service.client.get("/v1/no-such-thing")
    assert api.status_code == 404 and api.headers["content-type"] == "application/json"


# --- files on disk ----------------------------------------------------------------------------


def test_the_sqlite_database_and_its_directory_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    from serving.db import Database, upgrade

    directory = tmp_path / "new" / "data"
    url = f"sqlite:///{directory / 'ews.db'}"
    old = os.umask(0o022)  # the usual umask: files would be readable by everyone
    try:
        upgrade(url)
        db = Database(url)
        with db.write() as session:
            session.execute(select(func.count()).select_from(Pupil))
        db.dispose()
    finally:
        os.umask(old)
    for path in (directory, tmp_path / "new"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    files = [p for p in directory.iterdir() if p.name.startswith("ews.db")]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

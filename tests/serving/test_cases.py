"""The practitioner's workspace: case records, My cases, Refer and the impact of support (API
and pages)."""

from __future__ import annotations

import datetime as dt
import re

from serving.models import ApiKey
from tests.serving.helpers import OTHER_SCHOOL, SCHOOL, Service, load_weeks
from tests.serving.test_pages import login


def _refer(service: Service, upn: str, role: str = "school") -> int:
    response = service.client.post(
        "/v1/referrals",
        json={"school_urn": SCHOOL, "upn": upn, "reason": "mornings are hard"},
        headers=service.auth(role),
    )
    assert response.status_code == 201, response.text
    assert response.json()["reason"] == "mornings are hard"
    return response.json()["id"]


def _key_id(service: Service, role: str) -> int:
    from serving.auth import authenticate

    with service.db.read_session() as session:
        principal = authenticate(session, service.keys[role])
    assert principal is not None
    return principal.key_id


def test_a_case_record_with_typed_contacts_private_notes_and_a_structured_close(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 5))
    rid = _refer(service, school.upns[-1])
    patch = lambda body, role="practitioner": service.client.patch(  # noqa: E731
        f"/v1/referrals/{rid}", json=body, headers=service.auth(role)
    )
    contact = {"date": dt.date.today().isoformat(), "kind": "home_visit", "note": "mum unwell"}
    early = service.client.post(
        f"/v1/referrals/{rid}/contacts", json=contact, headers=service.auth("practitioner")
    )
    assert early.status_code == 409  # not accepted yet
    # assigning to a practitioner of another school is refused; to oneself works
    other = _key_id(service, "other_practitioner")
    assert patch({"status": "accepted", "assign_to": other}).status_code == 422
    accepted = patch({"status": "accepted", "assign_to": _key_id(service, "practitioner")})
    assert accepted.status_code == 200, accepted.text
    post = lambda body, role="practitioner": service.client.post(  # noqa: E731
        f"/v1/referrals/{rid}/contacts", json=body, headers=service.auth(role)
    )
    assert post(contact).status_code == 201
    shared = {**contact, "kind": "school_meeting", "note": "plan agreed", "shared": True}
    assert post(shared).status_code == 201
    assert post(contact, role="school").status_code == 403
    assert post({**contact, "kind": "séance"}).status_code == 422
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert post({**contact, "date": future}).status_code == 422
    assert patch({"barriers": ["housing", "mental_health_parent"]}).status_code == 200
    assert patch({"barriers": ["aliens"]}).status_code == 422

    practitioner_view = service.client.get(
        f"/v1/referrals/{rid}", headers=service.auth("practitioner")
    ).json()
    assert practitioner_view["referral"]["status"] == "active"  # the first contact
    assert [c["kind"] for c in practitioner_view["contacts"]] == ["home_visit", "school_meeting"]
    assert all(c["author"] for c in practitioner_view["contacts"])
    assert practitioner_view["barriers"] == ["housing", "mental_health_parent"]
    school_view = service.client.get(f"/v1/referrals/{rid}", headers=service.auth("school"))
    body = school_view.json()
    assert [c["note"] for c in body["contacts"]] == ["plan agreed"]
    assert body["private_contacts_hidden"] == 1
    assert "mum unwell" not in school_view.text
    assert (
        service.client.get(f"/v1/referrals/{rid}", headers=service.auth("other_school")).status_code
        == 404
    )
    assert patch({"status": "closed"}).status_code == 422  # needs an outcome
    assert patch({"status": "closed", "outcome_code": "improved"}).status_code == 200
    closed = service.client.get(f"/v1/referrals/{rid}", headers=service.auth("school")).json()
    assert closed["outcome_code"] == "improved" and closed["referral"]["status"] == "closed"


def test_my_cases_lists_mine_and_waiting_with_last_contact_and_next_action(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 5))
    mine, waiting = _refer(service, school.upns[-1]), _refer(service, school.upns[-2])
    service.client.patch(
        f"/v1/referrals/{mine}", json={"status": "accepted"}, headers=service.auth("practitioner")
    )
    service.client.post(
        f"/v1/referrals/{mine}/contacts",
        json={"date": dt.date.today().isoformat(), "kind": "phone_call", "action": "bus pass"},
        headers=service.auth("practitioner"),
    )
    cases = service.client.get("/v1/cases", headers=service.auth("practitioner")).json()
    assert [c["id"] for c in cases["mine"]] == [mine]
    assert [c["id"] for c in cases["waiting"]] == [waiting]
    row = cases["mine"][0]
    assert row["last_contact"] == dt.date.today().isoformat()
    assert row["next_action"] == "bus pass"
    assert row["current_risk"] is not None and row["attendance_before"] is not None
    assert service.client.get("/v1/cases", headers=service.auth("school")).status_code == 403
    other = service.client.get("/v1/cases", headers=service.auth("other_practitioner")).json()
    assert other["mine"] == [] and other["waiting"] == []


def test_impact_is_scoped_like_every_read(service: Service, school) -> None:
    load_weeks(service, school, range(1, 5))
    _refer(service, school.upns[-1])
    get = lambda role, **params: service.client.get(  # noqa: E731
        "/v1/impact", params=params, headers=service.auth(role)
    )
    mine = get("practitioner", scope="mine")
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert set(body["adjusted"]) == {"estimate", "low", "high", "method"}
    assert body["referrals"] == 0  # four weeks of registers: no follow-up yet
    assert get("school", scope="school").status_code == 200
    assert get("school", scope="school", school=OTHER_SCHOOL).status_code == 403
    assert get("school", scope="authority").status_code == 403
    assert get("analyst", scope="authority").status_code == 200
    assert get("admin", scope="school", school=SCHOOL).status_code == 403


def test_pages_refer_accept_record_and_close(service: Service, school) -> None:
    load_weeks(service, school, range(1, 5))
    upn = school.upns[-1]
    login(service, "school")
    risk_list = service.client.get(f"/schools/{SCHOOL}").text
    assert f'href="/schools/{SCHOOL}/pupils/{upn}/refer">Refer</a>' in risk_list
    form = service.client.get(f"/schools/{SCHOOL}/pupils/{upn}/refer")
    assert form.status_code == 200 and "Reason for the referral" in form.text
    blank = service.client.post(f"/schools/{SCHOOL}/pupils/{upn}/refer", data={"reason": " "})
    assert blank.status_code == 422
    sent = service.client.post(
        f"/schools/{SCHOOL}/pupils/{upn}/refer",
        data={"reason": "late most mornings"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    rid = int(re.search(r"/cases/(\d+)", sent.headers["location"]).group(1))
    assert "Referral suggested" in service.client.get(f"/schools/{SCHOOL}").text
    pupil_page = service.client.get(f"/schools/{SCHOOL}/pupils/{upn}").text
    assert f'href="/cases/{rid}">suggested</a>' in pupil_page

    service.client.post("/logout")
    login(service, "practitioner")
    cases = service.client.get("/cases").text
    assert "Waiting to be taken on (1)" in cases
    case = service.client.get(f"/cases/{rid}").text
    assert "Accept and assign" in case and "late most mornings" in case
    me = _key_id(service, "practitioner")
    service.client.post(f"/cases/{rid}/move", data={"status": "accepted", "assign_to": str(me)})
    saved = service.client.post(
        f"/cases/{rid}/contacts",
        data={"date": dt.date.today().isoformat(), "kind": "home_visit", "note": "private words",
              "action": "alarm clock"},
    )  # fmt: skip
    assert saved.status_code == 200 and "private words" in saved.text
    service.client.post(
        f"/cases/{rid}/move", data={"barriers_sent": "1", "barriers": ["housing", "poverty"]}
    )
    closed = service.client.post(
        f"/cases/{rid}/move", data={"status": "closed", "outcome_code": "partly_improved"}
    )
    assert "Partly improved" in closed.text and "Housing; Poverty" in closed.text
    assert service.client.get("/impact").status_code == 200

    service.client.post("/logout")
    login(service, "school")
    seen = service.client.get(f"/cases/{rid}").text
    assert "private words" not in seen and "private to the support service" in seen
    with service.db.read_session() as session:
        assert session.get(ApiKey, me) is not None

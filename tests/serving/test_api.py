"""The API as schools, practitioners, analysts and admins use it (both databases)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
import sqlite3
import threading

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from serving.app import create_app
from serving.db import Database
from serving.models import AuditEvent, Mark, Referral, Score, ScoreRun, Upload
from tests.serving.helpers import (
    OTHER_SCHOOL,
    SCHOOL,
    FakeSource,
    Service,
    add_keys,
    live_server,
    load_weeks,
    make_school,
    make_settings,
    upload,
)


def audit_actions(service: Service) -> list[tuple[str, int | None, str | None]]:
    with service.db.read_session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.key_id, AuditEvent.upn).order_by(AuditEvent.id)
        ).all()
    return [tuple(r) for r in rows]


# --- access -----------------------------------------------------------------------------------


def test_no_key_or_a_bad_key_is_401(service: Service) -> None:
    assert service.client.get(f"/v1/schools/{SCHOOL}/risk").status_code == 401
    bad = {"Authorization": "Bearer ews_not-a-real-key"}
    response = service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=bad)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_key_stops_working_at_once(service: Service, school) -> None:
    load_weeks(service, school, range(1, 2))
    created = service.client.post(
        "/v1/keys", json={"role": "school", "schools": [SCHOOL]}, headers=service.auth("admin")
    )
    assert created.status_code == 201
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    assert service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=key).status_code == 200
    listed = service.client.get("/v1/keys", headers=service.auth("admin")).json()
    assert all("key" not in k and "key_hash" not in k for k in listed)
    revoke = service.client.delete(
        f"/v1/keys/{created.json()['id']}", headers=service.auth("admin")
    )
    assert revoke.status_code == 200
    assert service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=key).status_code == 401


def test_keys_never_reach_another_schools_pupils(service: Service, school) -> None:
    load_weeks(service, school, range(1, 3))
    upn = school.upns[0]
    for role in ("other_school", "other_practitioner", "admin"):
        headers = service.auth(role)
        assert service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=headers).status_code == 403
        page = service.client.get(f"/v1/pupils/{upn}", params={"school": SCHOOL}, headers=headers)
        assert page.status_code == 403
    # A pupil of SCHOOL asked for under OTHER_SCHOOL (which the key may read) is not found.
    page = service.client.get(
        f"/v1/pupils/{upn}", params={"school": OTHER_SCHOOL}, headers=service.auth("other_school")
    )
    assert page.status_code == 404
    for role in ("school", "practitioner", "analyst"):
        response = service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=service.auth(role))
        assert response.status_code == 200, role
    schools = service.client.get("/v1/schools", headers=service.auth("other_school")).json()
    assert [s["urn"] for s in schools] == [OTHER_SCHOOL]


def test_only_admins_register_schools_and_manage_keys(service: Service) -> None:
    body = {"urn": 111111, "name": "New School", "phase": "secondary"}
    assert (
        service.client.post("/v1/schools", json=body, headers=service.auth("school")).status_code
        == 403
    )
    assert (
        service.client.post("/v1/schools", json=body, headers=service.auth("admin")).status_code
        == 201
    )
    assert (
        service.client.post("/v1/schools", json=body, headers=service.auth("admin")).status_code
        == 409
    )
    assert service.client.get("/v1/keys", headers=service.auth("analyst")).status_code == 403
    typo = service.client.post(
        "/v1/keys", json={"role": "school", "schools": [999999]}, headers=service.auth("admin")
    )
    assert typo.status_code == 422
    assert "school 999999 is not registered" in typo.json()["detail"]["message"]
    assert "register the school first" in typo.json()["detail"]["message"]


# --- risk list and pupil page -----------------------------------------------------------------


def test_risk_list_is_ranked_with_reasons_and_model_version(service: Service, school) -> None:
    load_weeks(service, school, range(1, 6))
    response = service.client.get(
        f"/v1/schools/{SCHOOL}/risk", params={"limit": 100}, headers=service.auth("school")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == "attendance-risk" and body["model_version"] == "1"
    assert body["as_of"] == "2024-10-04" and body["week"] == 5
    assert body["total"] == 30
    pupils = body["pupils"]
    risks = [p["risk"] for p in pupils]
    assert risks == sorted(risks, reverse=True)
    assert [p["rank"] for p in pupils] == list(range(1, 31))
    top = pupils[0]
    assert set(top) >= {
        "upn", "name", "year_group", "risk", "tier", "tier_label", "attendance_ytd",
        "attendance_change_4w", "emerging", "reasons", "model_version", "as_of",
    }  # fmt: skip
    # The decliners (last fifth of the roster) lead the list, with a falling trend.
    decliners = set(school.upns[24:])
    assert {p["upn"] for p in pupils[:6]} == decliners
    assert top["attendance_change_4w"] < 0
    assert top["tier"] == "high" and top["tier_label"].startswith("High risk")
    assert top["reasons"][0]["text"].startswith("Absence")
    assert all(p["emerging"] == (round(1 - p["attendance_ytd"], 9) < 0.10) for p in pupils)


def test_risk_list_filters_paging_and_csv(service: Service, school) -> None:
    load_weeks(service, school, range(1, 6))
    get = lambda **params: service.client.get(  # noqa: E731
        f"/v1/schools/{SCHOOL}/risk", params=params, headers=service.auth("practitioner")
    ).json()
    full = get(limit=100)["pupils"]
    page = get(offset=5, limit=5)
    assert [p["upn"] for p in page["pupils"]] == [p["upn"] for p in full[5:10]]
    assert page["total"] == 30
    year5 = get(year_group=5, limit=100)
    assert year5["total"] == 15 and all(p["year_group"] == 5 for p in year5["pupils"])
    high = get(tier="high", limit=100)
    assert high["total"] == sum(p["tier"] == "high" for p in full)
    emerging = get(emerging="true", limit=100)
    assert emerging["total"] == sum(p["emerging"] for p in full)
    response = service.client.get(
        f"/v1/schools/{SCHOOL}/risk", params={"format": "csv"}, headers=service.auth("school")
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 30
    assert rows[0]["upn"] == full[0]["upn"] and rows[0]["model_version"] == "1"


def test_the_risk_list_cache_is_bounded_in_bytes_and_keeps_no_exports(db, tmp_path, school):
    bound = 10_000
    app = create_app(
        make_settings(tmp_path, page_cache_bytes=bound), db=db, model_source=FakeSource("1")
    )
    with TestClient(app) as client:
        service = Service(client, db, None, add_keys(db))
        load_weeks(service, school, range(1, 3))
        cache = app.state.page_cache
        get = lambda **params: client.get(  # noqa: E731
            f"/v1/schools/{SCHOOL}/risk", params=params, headers=service.auth("school")
        )
        first = get(offset=0, limit=5).json()
        for offset in range(30):  # 30 different pages of ~2.5 kB each
            assert get(offset=offset, limit=5).status_code == 200
        assert 0 < cache.bytes <= bound
        assert 1 < len(cache) < 30
        assert get(offset=0, limit=5).json() == first  # dropped or kept, the answer is right
        held = (len(cache), cache.bytes)
        export = get(format="csv")
        assert export.status_code == 200 and export.content.count(b"\r\n") == 31
        whole = get(limit=100)  # one page larger than the whole bound
        assert whole.status_code == 200 and len(whole.json()["pupils"]) == 30
        assert len(whole.content) > bound
        assert (len(cache), cache.bytes) == held  # neither the export nor the big page kept


def test_pupil_page_has_weeks_risk_history_and_reasons(service: Service, school) -> None:
    load_weeks(service, school, range(1, 5))
    upn = school.upns[-1]
    response = service.client.get(
        f"/v1/pupils/{upn}", params={"school": SCHOOL}, headers=service.auth("school")
    )
    assert response.status_code == 200
    body = response.json()
    assert [w["week"] for w in body["weeks"]] == [1, 2, 3, 4]
    assert all(w["possible_sessions"] == 10 for w in body["weeks"])
    # Risk history: one score per uploaded week, each with its model version.
    assert [h["week"] for h in body["risk_history"]] == [1, 2, 3, 4]
    assert body["risk_history"][-1]["risk"] > body["risk_history"][0]["risk"]
    assert body["latest"]["reasons"] and body["latest"]["model_version"] == "1"


def test_reads_of_pupil_data_are_audited_and_never_logged(service: Service, school, caplog):
    caplog.set_level(logging.DEBUG)
    load_weeks(service, school, range(1, 3))
    upn = school.upns[3]
    service.client.get(
        f"/v1/schools/{SCHOOL}/risk?tier=high&year_group=5&offset=10&limit=20",
        headers=service.auth("school"),
    )
    service.client.get(f"/v1/schools/{SCHOOL}/risk?format=csv", headers=service.auth("analyst"))
    service.client.get(f"/v1/pupils/{upn}?school={SCHOOL}", headers=service.auth("practitioner"))
    service.client.get(f"/v1/pupils/{upn}?school={SCHOOL}", headers=service.auth("other_school"))
    bad = school.week_marks(3)
    bad.loc[0, "mark"] = "ZZ"
    upload(service, "registers", SCHOOL, bad.to_csv(index=False).encode(), "bad.csv")
    actions = [a for a, _, _ in audit_actions(service)]
    # Two weeks applied and the refused file (who tried it is on record too).
    assert actions.count("registers.upload") == 3 and actions.count("roster.upload") == 1
    assert {"risk_list.read", "risk_list.export", "pupil.read"} <= set(actions)
    assert ("pupil.read", upn) in [(a, u) for a, _, u in audit_actions(service)]
    # A risk-list record says which page and filters were read (so which pupils were seen).
    with service.db.read_session() as session:
        (read,) = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "risk_list.read")
        ).all()
    assert {k: read[k] for k in ("offset", "limit", "year_group", "tier")} == {
        "offset": 10,
        "limit": 20,
        "year_group": [5],
        "tier": ["high"],
    }
    # Everything the service logs (the test's own HTTP client logs its URLs: not the service).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "GET /v1/pupils/{upn} 200" in logged  # the route template, not the path
    for row in school.roster.itertuples():
        assert row.upn not in logged
        assert row.surname not in logged
        assert row.date_of_birth not in logged


# --- the model --------------------------------------------------------------------------------


def test_without_a_model_the_service_starts_and_says_why(no_model_service: Service, school):
    service = no_model_service
    assert service.client.get("/health").json() == {"status": "ok"}
    ready = service.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["database"]["ok"] is True
    assert "champion" in ready.json()["model"]["reason"]
    risk = service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=service.auth("school"))
    assert risk.status_code == 503 and "champion" in risk.json()["detail"]["reason"]
    score = service.client.post(
        "/v1/score",
        params={"school_urn": SCHOOL},
        files={"registers": ("w1.csv", school.week_csv(1), "text/csv")},
        headers=service.auth("school"),
    )
    assert score.status_code == 503
    # Uploads are still stored (and scored once a model arrives).
    load_weeks(service, school, range(1, 2))
    with service.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Mark)) == 300


def test_ready_says_plainly_when_the_registry_cannot_be_reached(db, tmp_path) -> None:
    class DownRegistry(FakeSource):
        def resolve(self) -> str | None:
            raise ConnectionError(
                "HTTPConnectionPool(host='10.1.2.3', port=5000): Max retries exceeded with url: "
                "http://mlflow:s3cret@10.1.2.3:5000/api/2.0/mlflow/registered-models/alias"
            )

    app = create_app(make_settings(tmp_path), db=db, model_source=DownRegistry())
    with TestClient(app) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    reason = ready.json()["model"]["reason"]
    assert reason.startswith("the model registry (MLflow) could not be reached")
    for leaked in ("s3cret", "10.1.2.3", "HTTPConnectionPool", "ConnectionError", "Max retries"):
        assert leaked not in ready.text


def test_model_switch_without_restart_rescores_and_keeps_requests_whole(
    service: Service, school, monkeypatch
) -> None:
    load_weeks(service, school, range(1, 3))
    holder = service.client.app.state.holder
    # A stateless scoring request is in flight inside version 1 when the alias moves.
    version_1 = holder.current.model
    real_score = version_1.score
    inside, go_on = threading.Event(), threading.Event()

    def held_score(frame, top=3):
        inside.set()
        assert go_on.wait(30)
        return real_score(frame, top)

    monkeypatch.setattr(version_1, "score", held_score)
    answers = {}

    def score_request(name: str) -> None:
        answers[name] = service.client.post(
            "/v1/score",
            params={"school_urn": SCHOOL},
            files={"registers": ("w1.csv", school.week_csv(1), "text/csv")},
            headers=service.auth("school"),
        )

    in_flight = threading.Thread(target=score_request, args=("in_flight",))
    in_flight.start()
    assert inside.wait(30)
    service.source.version = "2"
    assert holder.refresh() is True  # swapped and every school re-scored, request still open
    go_on.set()
    in_flight.join(30)
    score_request("after")
    before, after = answers["in_flight"].json(), answers["after"].json()
    assert answers["in_flight"].status_code == 200 and answers["after"].status_code == 200
    # The request that was in flight is answered whole by the model it started with.
    assert before["model_version"] == "1"
    assert {p["model_version"] for p in before["pupils"]} == {"1"}
    assert after["model_version"] == "2"
    assert {p["model_version"] for p in after["pupils"]} == {"2"}
    risk_1 = {p["upn"]: p["risk"] for p in before["pupils"]}
    risk_2 = {p["upn"]: p["risk"] for p in after["pupils"]}
    assert all(risk_2[upn] > risk_1[upn] for upn in risk_1)  # version 2 differs: shift 0.5

    assert holder.refresh() is False  # no MLflow load when the alias has not moved
    assert service.source.loads == 2
    body = service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=service.auth("school")).json()
    assert body["model_version"] == "2"
    assert {p["model_version"] for p in body["pupils"]} == {"2"}
    ready = service.client.get("/ready").json()
    assert ready["model"]["version"] == "2"


def test_stateless_score_stores_nothing(service: Service, school) -> None:
    def counts() -> list[int]:
        with service.db.read_session() as session:
            return [
                session.scalar(select(func.count()).select_from(t))
                for t in (Mark, Score, ScoreRun, Upload)
            ]

    before = counts()
    response = service.client.post(
        "/v1/score",
        params={"school_urn": SCHOOL, "phase": "primary"},
        files={
            "registers": (
                "w.csv",
                school.week_csv(1) + school.week_csv(2)[school.week_csv(2).index(b"\n") + 1 :],
                "text/csv",
            ),
            "roster": ("roster.csv", school.roster_csv(), "text/csv"),
        },
        headers=service.auth("practitioner"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "1" and body["week"] == 2 and len(body["pupils"]) == 30
    assert all(p["model_version"] == "1" for p in body["pupils"])
    assert counts() == before


def test_stateless_scoring_never_holds_up_other_requests(
    service: Service, school, monkeypatch
) -> None:
    from serving import audit

    writing, release = threading.Event(), threading.Event()
    real_record = audit.record

    def slow_record(db, principal, action, **kwargs):
        if action == "score.stateless":  # a slow audit commit (a busy database)
            writing.set()
            release.wait(20)
        return real_record(db, principal, action, **kwargs)

    monkeypatch.setattr(audit, "record", slow_record)
    answers: dict[str, object] = {}

    def score() -> None:
        answers["score"] = service.client.post(
            "/v1/score",
            params={"school_urn": SCHOOL},
            files={"registers": ("w1.csv", school.week_csv(1), "text/csv")},
            headers=service.auth("school"),
        )

    def health() -> None:
        answers["health"] = service.client.get("/health")

    scoring = threading.Thread(target=score)
    scoring.start()
    try:
        assert writing.wait(20)
        checking = threading.Thread(target=health)
        checking.start()
        checking.join(5)
        # /health was answered while the scoring request was still waiting for its commit.
        answered_meanwhile = not checking.is_alive() and "score" not in answers
    finally:
        release.set()
        scoring.join(30)
    checking.join(30)
    assert answered_meanwhile
    assert answers["health"].status_code == 200
    assert answers["score"].status_code == 200


def test_stateless_scoring_is_for_schools_the_key_may_read(service: Service, school) -> None:
    def score(role: str, urn: int) -> int:
        return service.client.post(
            "/v1/score",
            params={"school_urn": urn},
            files={"registers": ("w1.csv", school.week_csv(1), "text/csv")},
            headers=service.auth(role),
        ).status_code

    assert score("other_school", SCHOOL) == 403
    assert score("other_practitioner", SCHOOL) == 403
    assert score("admin", SCHOOL) == 403
    assert score("school", SCHOOL) == 200
    assert score("analyst", SCHOOL) == 200


def test_model_page_for_analysts(service: Service) -> None:
    assert service.client.get("/v1/model", headers=service.auth("school")).status_code == 403
    body = service.client.get("/v1/model", headers=service.auth("analyst")).json()
    assert body["name"] == "attendance-risk" and body["version"] == "1"
    assert body["metrics"]["test_auc"] == 0.8


# --- referrals --------------------------------------------------------------------------------


def test_referral_lifecycle_and_caseload(service: Service, school) -> None:
    load_weeks(service, school, range(1, 6))
    risky, calm = school.upns[-1], school.upns[0]
    ids = {}
    for upn in (calm, risky):
        response = service.client.post(
            "/v1/referrals",
            json={"school_urn": SCHOOL, "upn": upn, "note": "attendance worry"},
            headers=service.auth("school"),
        )
        assert response.status_code == 201
        assert response.json()["status"] == "suggested"
        assert response.json()["risk_at_referral"] is not None
        assert response.json()["model_version_at_referral"] == "1"
        ids[upn] = response.json()["id"]
    duplicate = service.client.post(
        "/v1/referrals", json={"school_urn": SCHOOL, "upn": risky}, headers=service.auth("school")
    )
    assert duplicate.status_code == 409
    patch = lambda rid, body, role="practitioner": service.client.patch(  # noqa: E731
        f"/v1/referrals/{rid}", json=body, headers=service.auth(role)
    )
    assert patch(ids[risky], {"status": "active"}).status_code == 409  # must be accepted first
    assert patch(ids[risky], {"status": "accepted"}).status_code == 200
    assert patch(ids[risky], {"status": "active"}).status_code == 200
    assert patch(ids[risky], {"status": "closed"}).status_code == 422  # needs an outcome
    closed = patch(ids[risky], {"status": "closed", "outcome": "attending again"})
    assert closed.status_code == 200 and closed.json()["closed_at"]
    assert patch(ids[calm], {"status": "accepted"}, "other_practitioner").status_code == 404
    caseload = service.client.get(
        "/v1/referrals", params={"include_closed": "true"}, headers=service.auth("practitioner")
    ).json()
    items = caseload["referrals"]
    assert [i["upn"] for i in items] == [risky, calm]  # ordered by current risk
    assert items[0]["current_reasons"] and "expectation without support" in caseload["impact_note"]
    other = service.client.get("/v1/referrals", headers=service.auth("other_practitioner")).json()
    assert other["referrals"] == []
    open_only = service.client.get(
        "/v1/referrals", params={"status": "suggested"}, headers=service.auth("practitioner")
    ).json()
    assert [i["upn"] for i in open_only["referrals"]] == [calm]
    with service.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Referral)) == 2


def test_schools_suggest_referrals_and_practitioners_decide(service: Service, school) -> None:
    load_weeks(service, school, range(1, 3))
    made = service.client.post(
        "/v1/referrals",
        json={"school_urn": SCHOOL, "upn": school.upns[-1]},
        headers=service.auth("school"),
    )
    rid = made.json()["id"]

    def patch(body, role):
        return service.client.patch(f"/v1/referrals/{rid}", json=body, headers=service.auth(role))

    def stored_status() -> str:
        with service.db.read_session() as session:
            return session.get(Referral, rid).status

    # The school that suggested it may not accept, start or close its own suggestion.
    for body in (
        {"status": "accepted"},
        {"status": "active"},
        {"status": "closed", "outcome": "resolved by the school"},
        {"outcome": "resolved by the school"},
    ):
        refused = patch(body, "school")
        assert refused.status_code == 403, body
        assert "practitioner" in refused.json()["detail"]["message"]
        assert stored_status() == "suggested"
    # It may add to the note.
    noted = patch({"note": "mum called: ill for a week"}, "school")
    assert noted.status_code == 200 and noted.json()["note"] == "mum called: ill for a week"
    # The practitioner decides.
    assert patch({"status": "accepted"}, "practitioner").json()["status"] == "accepted"
    assert patch({"status": "closed"}, "school").status_code == 403
    assert patch({"status": "active"}, "practitioner").json()["status"] == "active"
    # An admin may close it (a practitioner left), and sees no pupil-level data doing so.
    closed = patch({"status": "closed", "outcome": "caseload closed"}, "admin")
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and "upn" not in closed.json()
    assert "risk_at_referral" not in closed.json()
    assert stored_status() == "closed"
    assert patch({"note": "x"}, "admin").status_code == 403
    assert patch({"status": "accepted"}, "analyst").status_code == 403  # reads, never changes


def test_the_caseload_leaves_closed_referrals_out_and_ranks_a_zero_risk_above_none(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 3))
    # A model under which every pupil's risk rounds to 0.0 (version -20: shift -10.5).
    service.source.version = "-20"
    assert service.client.app.state.holder.refresh() is True
    # A pupil joins the roll: no score until the next scoring.
    joined = school.roster.iloc[[0]].assign(upn="A380345619999", surname="New")
    roster = pd.concat([school.roster, joined]).to_csv(index=False).encode()
    assert upload(service, "roster", SCHOOL, roster, "roster.csv").status_code == 200

    def refer(upn: str) -> int:
        made = service.client.post(
            "/v1/referrals", json={"school_urn": SCHOOL, "upn": upn}, headers=service.auth("school")
        )
        assert made.status_code == 201, made.text
        return made.json()["id"]

    unscored, calm, closed = refer("A380345619999"), refer(school.upns[0]), refer(school.upns[1])
    patch = lambda rid, body: service.client.patch(  # noqa: E731
        f"/v1/referrals/{rid}", json=body, headers=service.auth("practitioner")
    )
    assert patch(closed, {"status": "closed", "outcome": "declined: no concern"}).status_code == 200

    def caseload(**params) -> list[tuple[int, float | None]]:
        body = service.client.get(
            "/v1/referrals", params=params, headers=service.auth("practitioner")
        ).json()
        return [(r["id"], r["current_risk"]) for r in body["referrals"]]

    assert caseload() == [(calm, 0.0), (unscored, None)]
    assert [rid for rid, _ in caseload(include_closed="true")] == [calm, closed, unscored]
    assert [rid for rid, _ in caseload(status="closed")] == [closed]


def test_a_blank_outcome_closes_nothing_and_notes_are_added_not_replaced(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 3))
    made = service.client.post(
        "/v1/referrals",
        json={"school_urn": SCHOOL, "upn": school.upns[-1], "note": "mum called: ill"},
        headers=service.auth("school"),
    )
    rid = made.json()["id"]

    def patch(body, role="practitioner"):
        return service.client.patch(f"/v1/referrals/{rid}", json=body, headers=service.auth(role))

    assert patch({"status": "accepted"}).status_code == 200
    refused = patch({"status": "suggested"})
    assert refused.status_code == 409
    assert refused.json()["detail"]["message"] == (
        "this referral is accepted: it cannot become suggested"
    )
    # What the practitioner did is added to what the school wrote, not written over it.
    noted = patch({"status": "active", "note": "home visit: family need transport"})
    assert noted.json()["note"] == "mum called: ill\n\nhome visit: family need transport"
    assert patch({"note": "   "}).json()["note"] == noted.json()["note"]  # a blank adds nothing
    # Spaces are not an outcome: the referral stays open.
    for blank in ("   ", "\n\t"):
        refused = patch({"status": "closed", "outcome": blank})
        assert refused.status_code == 422, blank
        assert refused.json()["detail"]["message"] == "closing a referral needs an outcome"
    assert patch({"outcome": "  "}).json()["outcome"] is None
    closed = patch({"status": "closed", "outcome": " bus pass arranged; attending again "})
    assert closed.status_code == 200
    assert closed.json()["outcome"] == "bus pass arranged; attending again"
    with service.db.read_session() as session:
        stored = session.get(Referral, rid)
        assert stored.status == "closed" and stored.outcome == "bus pass arranged; attending again"


def test_a_caseload_read_is_audited_with_its_schools_and_referrals(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 3))
    made = service.client.post(
        "/v1/referrals",
        json={"school_urn": SCHOOL, "upn": school.upns[-1]},
        headers=service.auth("school"),
    )
    caseload = service.client.get("/v1/referrals", headers=service.auth("practitioner"))
    assert caseload.status_code == 200 and len(caseload.json()["referrals"]) == 1
    with service.db.read_session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "referrals.read")
        ).one()
    assert event.records == 1
    assert event.detail == {"schools": [SCHOOL], "referral_ids": [made.json()["id"]]}


def test_referrals_changed_at_the_same_moment_are_applied_one_after_the_other(
    service: Service, school
) -> None:
    """Over real HTTP (a thread each): on PostgreSQL two requests ran their checks at once, so
    a pupil got several open referrals, and a referral closed meanwhile was made active again."""
    load_weeks(service, school, range(1, 3))

    def at_once(client: httpx.Client, requests: list[tuple[str, str, dict]]) -> list[int]:
        barrier = threading.Barrier(len(requests))
        codes: list[int] = []

        def send(method: str, path: str, body: dict) -> None:
            barrier.wait()
            headers = service.auth("school" if method == "POST" else "practitioner")
            codes.append(client.request(method, path, json=body, headers=headers).status_code)

        threads = [threading.Thread(target=send, args=r) for r in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(codes)

    with live_server(service.client.app) as base, httpx.Client(base_url=base, timeout=30) as client:
        for upn in school.upns[:12]:
            body = {"school_urn": SCHOOL, "upn": upn}
            assert at_once(client, [("POST", "/v1/referrals", body)] * 4) == [201, 409, 409, 409]
            with service.db.read_session() as session:
                rid = session.scalars(select(Referral.id).where(Referral.upn == upn)).one()
            path = f"/v1/referrals/{rid}"
            accepted = client.patch(
                path, json={"status": "accepted"}, headers=service.auth("practitioner")
            )
            assert accepted.status_code == 200
            closing = {"status": "closed", "outcome": "moved away"}
            at_once(client, [("PATCH", path, {"status": "active"}), ("PATCH", path, closing)])
            with service.db.read_session() as session:
                referral = session.get(Referral, rid)
                assert referral.status == "closed" and referral.closed_at is not None


# --- faults -----------------------------------------------------------------------------------


def _drive(app, path: str, headers: dict[str, str], chunks) -> tuple[int, int]:
    """Send a streamed request straight to the ASGI app; returns (status, bytes consumed)."""
    consumed = 0
    iterator = iter(chunks)
    messages = []

    async def receive():
        nonlocal consumed
        try:
            chunk = next(iterator)
        except StopIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    return messages[0]["status"], consumed


@pytest.mark.parametrize("form", [False, True])
def test_a_file_of_hundreds_of_mb_is_refused_without_reading_it(
    service: Service, school, form: bool
) -> None:
    load_weeks(service, school, range(1, 1))
    megabyte = b"K380345619000,2024-09-02,AM,/\n" * (1024 * 1024 // 30)
    boundary = "ewsboundary"

    def body():  # 300 MB, generated, never held in memory
        if form:
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\nupn,date,session,mark\n'
            ).encode()
        for _ in range(300):
            yield megabyte

    content_type = f"multipart/form-data; boundary={boundary}" if form else "text/csv"
    headers = {**service.auth("school"), "content-type": content_type}
    status, consumed = _drive(
        service.client.app, f"/v1/schools/{SCHOOL}/registers", headers, body()
    )
    limit = service.client.app.state.settings.max_upload_bytes
    assert status == 413
    assert consumed <= limit + 2 * len(megabyte)
    with service.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 1  # the roster only


def test_database_unreachable_gives_503_and_a_retry(tmp_path, db_url) -> None:
    if db_url.startswith("sqlite"):
        (tmp_path / "not-a-directory").write_text("")
        unreachable = Database(f"sqlite:///{tmp_path}/not-a-directory/ews.db")
    else:
        unreachable = Database("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    app = create_app(make_settings(tmp_path), db=unreachable, use_mlflow=False)
    client = TestClient(app, raise_server_exceptions=False)
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["database"]["ok"] is False
    response = client.get(f"/v1/schools/{SCHOOL}/risk", headers={"Authorization": "Bearer x"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "retry" in response.json()["detail"]["fix"]


def test_a_briefly_locked_sqlite_database_loses_nothing(tmp_path, sqlite_template, school):
    import shutil

    path = tmp_path / "ews.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}", busy_timeout_ms=300)
    app = create_app(make_settings(tmp_path), db=db, use_mlflow=False)
    service = Service(TestClient(app), db, None, add_keys(db))
    upload(service, "roster", SCHOOL, school.roster_csv(), "roster.csv")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database
    response = upload(service, "registers", SCHOOL, school.week_csv(1), "w1.csv")
    assert response.status_code == 503
    other.execute("ROLLBACK")
    other.close()
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Mark)) == 0
    retry = upload(service, "registers", SCHOOL, school.week_csv(1), "w1.csv")
    assert retry.status_code == 200 and retry.json()["marks_new"] == 300
    db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_connections_dropped_by_a_restart_are_replaced(service: Service, school, db_url):
    load_weeks(service, school, range(1, 2))
    admin = create_engine(db_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = db_url.rsplit("/", 1)[1]
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    admin.dispose()
    response = service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=service.auth("school"))
    assert response.status_code == 200
    again = upload(service, "registers", SCHOOL, school.week_csv(2), "w2.csv")
    assert again.status_code == 200 and again.json()["marks_new"] == 300


def test_openapi_documents_every_route(service: Service) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/schools/{urn}/roster", "/v1/schools/{urn}/registers", "/v1/schools/{urn}/risk",
        "/v1/pupils/{upn}", "/v1/score", "/v1/model", "/v1/referrals",
        "/v1/referrals/{referral_id}", "/health", "/ready",
    } <= set(paths)  # fmt: skip
    assert paths["/v1/schools/{urn}/risk"]["get"]["description"]
    assert service.client.get("/docs").status_code == 200


def test_a_restart_with_a_new_champion_rescores_stored_lists(service: Service, school, tmp_path):
    load_weeks(service, school, range(1, 3))
    restarted = create_app(make_settings(tmp_path), db=service.db, model_source=FakeSource("2"))
    with TestClient(restarted) as client:
        # The stale schools are re-scored in the background: wait for that pass to end.
        rescoring = restarted.state.stale_rescoring
        assert rescoring is not None
        rescoring.join(30)
        assert not rescoring.is_alive()
        body = client.get(f"/v1/schools/{SCHOOL}/risk", headers=service.auth("school")).json()
    assert body["model_version"] == "2"
    assert {p["model_version"] for p in body["pupils"]} == {"2"}


def test_the_schools_list_counts_the_pupils_on_roll_in_the_latest_scored_week(
    service: Service,
) -> None:
    # The roster holds one pupil more than the registers mark (a pupil who left in the
    # summer): the rosters' count includes them, the latest scored week does not.
    roster = make_school(n=31)
    roster.roster.loc[30, "leaving_date"] = "2024-07-19"
    marked = make_school(n=30)
    assert marked.upns == roster.upns[:30]
    response = upload(service, "roster", SCHOOL, roster.roster_csv(), "roster.csv")
    assert response.status_code == 200, response.text
    for week in (1, 2):
        response = upload(service, "registers", SCHOOL, marked.week_csv(week), f"w{week}.csv")
        assert response.status_code == 200, response.text
    listed = service.client.get("/v1/schools", headers=service.auth("school")).json()
    (entry,) = [s for s in listed if s["urn"] == SCHOOL]
    risk = service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=service.auth("school")).json()
    assert entry["pupils"] == 31
    assert entry["latest_scores"]["pupils"] == risk["total"] == 30
    login = service.client.post("/login", data={"key": service.keys["school"]})
    assert login.status_code == 200, login.text
    page = service.client.get("/")
    assert "Pupils on roll (latest scored week)" in page.text
    assert '<td class="num">30</td>' in page.text


def test_timestamps_carry_their_utc_offset_on_every_database(service: Service, school) -> None:
    # SQLite keeps no time zone: without the UTC type, keys read back came without an offset
    # (a client would read them as local time) while a referral just written had one.
    def utc(text: str) -> bool:
        return dt.datetime.fromisoformat(text).utcoffset() == dt.timedelta(0)

    load_weeks(service, school, range(1, 3))
    keys = service.client.get("/v1/keys", headers=service.auth("admin")).json()
    assert keys and all(utc(k["created_at"]) for k in keys), keys[0]["created_at"]
    body = {"school_urn": SCHOOL, "upn": school.upns[0], "note": "worried"}
    created = service.client.post("/v1/referrals", json=body, headers=service.auth("school"))
    assert created.status_code == 201, created.text
    listed = service.client.get("/v1/referrals", headers=service.auth("practitioner")).json()
    (referral,) = listed["referrals"]
    assert utc(referral["created_at"])
    assert referral["created_at"] == created.json()["created_at"]

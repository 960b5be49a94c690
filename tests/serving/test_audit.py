"""The audit trail of changes: an upload or a referral and its audit record are committed
together or not at all, and refused uploads are recorded too (both databases)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.models import AuditEvent, Mark, Referral, Upload
from tests.serving.helpers import OTHER_SCHOOL, SCHOOL, Service, load_weeks, upload


def count(service: Service, table) -> int:
    with service.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(table))


def audit_rows(service: Service, action: str) -> list[AuditEvent]:
    with service.db.read_session() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def test_an_upload_whose_audit_record_fails_stores_nothing(
    service: Service, school, request
) -> None:
    load_weeks(service, school, range(1, 2))
    before = (count(service, Mark), count(service, Upload))
    request.getfixturevalue("broken_audit")
    client = TestClient(service.client.app, raise_server_exceptions=False)
    response = client.post(
        f"/v1/schools/{SCHOOL}/registers",
        files={"file": ("w2.csv", school.week_csv(2), "text/csv")},
        headers=service.auth("school"),
    )
    assert response.status_code == 500
    assert "nothing was changed" in response.json()["detail"]["message"]
    # True: the marks and the upload went with the audit record.
    assert (count(service, Mark), count(service, Upload)) == before
    changed_roster = school.roster.assign(year_group=6)
    response = client.post(
        f"/v1/schools/{SCHOOL}/roster",
        files={"file": ("roster.csv", changed_roster.to_csv(index=False), "text/csv")},
        headers=service.auth("school"),
    )
    assert response.status_code == 500
    assert count(service, Upload) == before[1]


def test_an_upload_and_its_audit_record_are_one_transaction(service: Service, school) -> None:
    load_weeks(service, school, range(1, 3))
    rows = audit_rows(service, "registers.upload")
    with service.db.read_session() as session:
        uploads = session.scalars(
            select(Upload).where(Upload.kind == "registers").order_by(Upload.id)
        ).all()
    assert [r.detail["upload_id"] for r in rows] == [u.id for u in uploads]
    assert [r.records for r in rows] == [300, 300]
    assert all(r.detail["outcome"] == "applied" and r.school_urn == SCHOOL for r in rows)


def test_a_referral_whose_audit_record_fails_is_not_made(service: Service, school, request) -> None:
    load_weeks(service, school, range(1, 3))
    made = service.client.post(
        "/v1/referrals",
        json={"school_urn": SCHOOL, "upn": school.upns[0]},
        headers=service.auth("school"),
    )
    assert made.status_code == 201
    request.getfixturevalue("broken_audit")
    client = TestClient(service.client.app, raise_server_exceptions=False)
    second = client.post(
        "/v1/referrals",
        json={"school_urn": SCHOOL, "upn": school.upns[1]},
        headers=service.auth("school"),
    )
    assert second.status_code == 500
    moved = client.patch(
        f"/v1/referrals/{made.json()['id']}",
        json={"status": "accepted"},
        headers=service.auth("practitioner"),
    )
    assert moved.status_code == 500
    with service.db.read_session() as session:
        referrals = session.scalars(select(Referral)).all()
    assert [(r.upn, r.status) for r in referrals] == [(school.upns[0], "suggested")]


def test_refused_uploads_are_audited_with_who_tried_what(service: Service, school) -> None:
    # A register before any roster: 409.
    assert upload(service, "registers", SCHOOL, school.week_csv(1), "w1.csv").status_code == 409
    load_weeks(service, school, range(1, 2))
    bad = school.week_marks(2)
    bad.loc[3, "mark"] = "QQ"
    bad_csv = bad.to_csv(index=False).encode()
    assert upload(service, "registers", SCHOOL, bad_csv, "w2.csv").status_code == 422
    assert upload(service, "registers", SCHOOL, b"  \r\n", "blank.csv").status_code == 422
    # Someone else's school: 403.
    assert (
        upload(service, "registers", OTHER_SCHOOL, school.week_csv(2), "w2.csv").status_code == 403
    )
    rows = audit_rows(service, "registers.upload")
    outcomes = [(r.detail["outcome"], r.detail.get("status"), r.school_urn) for r in rows]
    assert outcomes == [
        ("rejected", 409, SCHOOL),
        ("applied", None, SCHOOL),
        ("rejected", 422, SCHOOL),
        ("rejected", 422, SCHOOL),
        ("forbidden", 403, OTHER_SCHOOL),
    ]
    keys = {r.key_id for r in rows}
    assert len(keys) == 1 and None not in keys  # the school's own key, every time
    invalid = rows[2]
    assert invalid.detail["filename"] == "w2.csv" and invalid.detail["errors"] == 1
    assert invalid.detail["size_bytes"] == len(bad_csv)


def test_the_roster_contradiction_reply_is_audited(service: Service, school) -> None:
    load_weeks(service, school, range(1, 1))
    changed = school.roster.copy()
    changed.loc[[3, 7], "date_of_birth"] = "2010-01-01"
    response = upload(service, "roster", SCHOOL, changed.to_csv(index=False).encode(), "r2.csv")
    assert response.status_code == 409
    # The reply quotes the stored dates of birth of two pupils: that read is on record.
    assert len(response.json()["detail"]["contradictions"]) == 2
    last = audit_rows(service, "roster.upload")[-1]
    assert (last.detail["outcome"], last.detail["status"], last.records) == ("rejected", 409, 2)

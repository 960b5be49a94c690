"""A school's display codes in the service (DOMAIN.md §1.1: SIMS can show ``9`` for the
statutory ``Y``): set and read over HTTP, who may, audit, and registers read through them
(both databases)."""

from __future__ import annotations

import datetime as dt
import io

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, inspect, select

from serving.db import downgrade, upgrade
from serving.models import AuditEvent, Mark, School, Upload, utcnow
from tests.serving.helpers import (
    OTHER_SCHOOL,
    SCHOOL,
    SchoolData,
    Service,
    make_school,
    upload,
)

MONDAY_2023 = dt.date(2023, 9, 4)  # a 2023/24 week: the 2006 code set, with its single Y
MAPPING = b"display_code,statutory_code\n9,Y\n"


def put_codes(service: Service, data: bytes, role: str = "school", urn: int = SCHOOL, **kw):
    return service.client.put(
        f"/v1/schools/{urn}/display-codes",
        files={"file": ("codes.csv", io.BytesIO(data), kw.get("content_type", "text/csv"))},
        headers=service.auth(role),
    )


def get_codes(service: Service, role: str = "school", urn: int = SCHOOL):
    return service.client.get(f"/v1/schools/{urn}/display-codes", headers=service.auth(role))


def register_with_nines(school: SchoolData) -> bytes:
    """Week 1 of 2023/24 with the first pupil's Monday marked 9 (rows 2 and 3), as SIMS
    shows a statutory Y."""
    week = school.week_marks(1, first_monday=MONDAY_2023)
    first = (week["upn"] == school.upns[0]) & (week["date"] == MONDAY_2023.isoformat())
    assert week.index[first].tolist() == [0, 1]  # rows 2 and 3 of the file
    week.loc[first, "mark"] = "9"
    return week.to_csv(index=False).encode()


def count(service: Service, table) -> int:
    with service.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(table))


def audit_rows(service: Service, action: str) -> list[AuditEvent]:
    with service.db.read_session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def stored_codes(service: Service, upn: str, day: dt.date) -> list[str]:
    with service.db.read_session() as session:
        return list(
            session.scalars(
                select(Mark.code)
                .where(Mark.school_urn == SCHOOL, Mark.upn == upn, Mark.date == day)
                .order_by(Mark.session)
            )
        )


def test_a_register_with_display_codes_uploads_once_the_school_has_set_them(
    service: Service, school
) -> None:
    assert upload(service, "roster", SCHOOL, school.roster_csv(), "roster.csv").status_code == 200
    nines = register_with_nines(school)
    refused = upload(service, "registers", SCHOOL, nines, "w1.csv")
    assert refused.status_code == 422
    errors = refused.json()["detail"]["report"]["errors"]
    assert [(e["kind"], e["row"], e["value"]) for e in errors] == [
        ("unknown_code", 2, "9"),
        ("unknown_code", 3, "9"),
    ]
    assert count(service, Mark) == 0

    response = put_codes(service, MAPPING)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["display_codes"] == {"9": "Y"} and body["codes"] == 1 and body["changed"] is True
    assert get_codes(service).json() == {
        "school_urn": SCHOOL,
        "display_codes": {"9": "Y"},
        "codes": 1,
    }

    accepted = upload(service, "registers", SCHOOL, nines, "w1.csv")
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["display_codes_mapped"] == 2 and body["marks_new"] == 300
    assert body["report"]["summary"]["w1.csv"]["display_codes_used"] == [
        {"display_code": "9", "statutory_code": "Y", "marks": 2}
    ]
    assert stored_codes(service, school.upns[0], MONDAY_2023) == ["Y", "Y"]  # AM, PM

    # The mapping is the school's own: another school's register with 9 is still refused.
    other = make_school(OTHER_SCHOOL)
    roster = upload(service, "roster", OTHER_SCHOOL, other.roster_csv(), "r.csv", "other_school")
    assert roster.status_code == 200
    theirs = upload(
        service, "registers", OTHER_SCHOOL, register_with_nines(other), "w1.csv", "other_school"
    )
    assert theirs.status_code == 422
    assert {e["kind"] for e in theirs.json()["detail"]["report"]["errors"]} == {"unknown_code"}


def test_a_register_without_display_codes_says_none_were_mapped(service: Service, school) -> None:
    upload(service, "roster", SCHOOL, school.roster_csv(), "roster.csv")
    response = upload(service, "registers", SCHOOL, school.week_csv(1), "w1.csv")
    assert response.status_code == 200 and response.json()["display_codes_mapped"] == 0


def test_a_mapping_file_with_errors_is_a_422_by_row_and_changes_nothing(
    service: Service,
) -> None:
    assert put_codes(service, MAPPING).status_code == 200
    bad = b"display_code,statutory_code\n9,I\n7,Q9\n8,\n"
    response = put_codes(service, bad)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["message"] == "codes.csv has errors; nothing was changed"
    located = [(e["kind"], e["row"], e["column"], e["value"]) for e in detail["report"]["errors"]]
    assert located == [
        ("unknown_code", 3, "statutory_code", "Q9"),
        ("value_missing", 4, "statutory_code", ""),
    ]
    assert get_codes(service).json()["display_codes"] == {"9": "Y"}  # as before
    refused = audit_rows(service, "display_codes.upload")[-1]
    assert refused.detail["outcome"] == "rejected" and refused.detail["status"] == 422
    assert refused.detail["errors"] == 2 and refused.detail["filename"] == "codes.csv"
    # An empty file, or one that is not a mapping, is refused the same way.
    assert put_codes(service, b"\xef\xbb\xbf \r\n").status_code == 422
    not_a_mapping = put_codes(service, b"upn,forename\n")
    assert not_a_mapping.status_code == 422
    kinds = {e["kind"] for e in not_a_mapping.json()["detail"]["report"]["errors"]}
    assert kinds == {"missing_column"}
    assert get_codes(service).json()["display_codes"] == {"9": "Y"}


def test_a_header_only_file_clears_the_mapping(service: Service, school) -> None:
    upload(service, "roster", SCHOOL, school.roster_csv(), "roster.csv")
    assert put_codes(service, b"display_code,statutory_code\n9,Y\n+,I\n").json()["codes"] == 2
    response = put_codes(service, b"display_code,statutory_code\r\n")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["display_codes"], body["codes"], body["previous_codes"]) == ({}, 0, 2)
    assert body["changed"] is True and "no display codes now" in body["message"]
    assert get_codes(service).json() == {"school_urn": SCHOOL, "display_codes": {}, "codes": 0}
    with service.db.read_session() as session:
        assert session.get(School, SCHOOL).display_codes is None
    refused = upload(service, "registers", SCHOOL, register_with_nines(school), "w.csv")
    assert refused.status_code == 422  # 9 is an unknown code again


def test_the_same_mapping_twice_changes_nothing_and_says_so(service: Service) -> None:
    assert put_codes(service, MAPPING).json()["changed"] is True
    again = put_codes(service, MAPPING).json()
    assert again["changed"] is False and "already set" in again["message"]
    with service.db.read_session() as session:
        outcomes = session.scalars(
            select(Upload.outcome).where(Upload.kind == "display_codes").order_by(Upload.id)
        ).all()
    assert outcomes == ["applied", "unchanged"]


def test_who_may_set_and_read_the_display_codes(service: Service) -> None:
    for role in ("other_school", "practitioner", "analyst"):
        response = put_codes(service, MAPPING, role)
        assert response.status_code == 403, role
        assert "may not set the display codes" in response.json()["detail"]["message"]
    assert get_codes(service).json()["display_codes"] == {}
    forbidden = audit_rows(service, "display_codes.upload")
    assert [r.detail["outcome"] for r in forbidden] == ["forbidden"] * 3
    assert put_codes(service, MAPPING, "admin").status_code == 200
    for role in ("school", "practitioner", "analyst", "admin"):
        response = get_codes(service, role)
        assert response.status_code == 200, role
        assert response.json()["display_codes"] == {"9": "Y"}
    for role in ("other_school", "other_practitioner"):
        assert get_codes(service, role).status_code == 403, role
    assert put_codes(service, MAPPING, "admin", urn=999999).status_code == 404
    assert get_codes(service, "admin", urn=999999).status_code == 404


def test_display_code_changes_and_reads_are_audited(service: Service) -> None:
    put_codes(service, MAPPING)
    (written,) = audit_rows(service, "display_codes.upload")
    with service.db.read_session() as session:
        stored = session.scalars(select(Upload).where(Upload.kind == "display_codes")).one()
    assert written.school_urn == SCHOOL and written.role == "school"
    assert written.detail["upload_id"] == stored.id and written.detail["codes"] == 1
    assert stored.filename == "codes.csv" and stored.summary["display_codes"] == {"9": "Y"}
    get_codes(service, "practitioner")
    (read,) = audit_rows(service, "display_codes.read")
    assert (read.school_urn, read.role, read.records) == (SCHOOL, "practitioner", 1)


def test_a_mapping_whose_audit_record_fails_is_not_set(service: Service, request) -> None:
    request.getfixturevalue("broken_audit")  # the audit table refuses every insert
    client = TestClient(service.client.app, raise_server_exceptions=False)
    response = client.put(
        f"/v1/schools/{SCHOOL}/display-codes",
        files={"file": ("codes.csv", MAPPING, "text/csv")},
        headers=service.auth("school"),
    )
    assert response.status_code == 500
    assert "nothing was changed" in response.json()["detail"]["message"]
    with service.db.read_session() as session:
        assert session.get(School, SCHOOL).display_codes is None
        assert session.scalar(select(func.count()).select_from(Upload)) == 0


def test_the_mapping_is_sent_like_the_other_uploads(service: Service) -> None:
    raw = service.client.put(
        f"/v1/schools/{SCHOOL}/display-codes",
        params={"filename": "codes.csv"},
        content=MAPPING,
        headers={**service.auth("school"), "Content-Type": "text/csv"},
    )
    assert raw.status_code == 200 and raw.json()["filename"] == "codes.csv"
    assert put_codes(service, MAPPING, content_type="image/png").status_code == 415
    workbook = put_codes(service, b"PK\x03\x04" + b"\x00" * 100)
    assert workbook.status_code == 415
    too_large = put_codes(service, MAPPING + b"8,I\n" * (3 * 1024 * 1024 // 4))
    assert too_large.status_code == 413


def test_stateless_scoring_reads_the_register_through_the_schools_mapping(
    service: Service, school
) -> None:
    def score(urn: int, role: str, data: bytes):
        return service.client.post(
            "/v1/score",
            params={"school_urn": urn},
            files={"registers": ("w1.csv", data, "text/csv")},
            headers=service.auth(role),
        )

    nines = register_with_nines(school)
    assert score(SCHOOL, "school", nines).status_code == 422
    put_codes(service, MAPPING)
    response = score(SCHOOL, "school", nines)
    assert response.status_code == 200, response.text
    assert response.json()["display_codes_mapped"] == 2
    assert len(response.json()["pupils"]) == 30
    other = make_school(OTHER_SCHOOL)
    assert score(OTHER_SCHOOL, "other_school", register_with_nines(other)).status_code == 422


def test_the_migration_adds_display_codes_to_existing_schools(db_url: str) -> None:
    downgrade(db_url, "0002")
    engine = create_engine(db_url)
    assert "display_codes" not in {c["name"] for c in inspect(engine).get_columns("schools")}
    with engine.begin() as connection:
        connection.execute(
            School.__table__.insert(),
            [{"urn": SCHOOL, "name": "A", "phase": "primary", "data_version": 3,
              "created_at": utcnow()}],
        )  # fmt: skip
    upgrade(db_url)
    with engine.connect() as connection:
        row = connection.execute(School.__table__.select()).one()
    assert (row.urn, row.data_version, row.display_codes) == (SCHOOL, 3, None)
    engine.dispose()

"""A practitioner's work: My cases, the case record (typed contacts, barriers, actions,
shared and private notes) and the impact of support.

Permissions: a practitioner (or admin, for moves) works cases of the schools assigned to the
key; a school reads its own pupils' case records but never the notes private to the support
service; every read is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pandas as pd
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from features.casework import CONTACT_KINDS, ContactKind
from serving import audit
from serving.auth import Principal, Role
from serving.db import Database
from serving.errors import Conflict, Forbidden, Invalid, NotFound
from serving.models import ApiKey, ApiKeySchool, Pupil, Referral, ReferralContact, Score, utcnow
from serving.pipeline import trajectory_from_bytes
from serving.referrals import IMPACT_NOTE, _as_dict
from serving.schemas import ReferralOut
from serving.store.trajectories import latest_trajectory


def _blank_is_none(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


Text = Annotated[str | None, Field(max_length=4000), AfterValidator(_blank_is_none)]


class ContactIn(BaseModel):
    """A contact with the family or about them."""

    date: dt.date
    kind: ContactKind
    note: Text = None
    action: Annotated[Text, Field(description="the action agreed, if any")] = None
    shared: Annotated[
        bool, Field(description="shared with the school (otherwise private to the service)")
    ] = False


class ContactOut(BaseModel):
    """A contact in a case record."""

    id: int
    date: dt.date
    kind: str
    kind_label: str
    author: str
    note: str | None
    action: str | None
    shared: bool


class CaseRecord(BaseModel):
    """A referral with its pupil, barriers, contacts (a school sees the shared ones only) and
    attendance since the referral."""

    referral: ReferralOut
    name: str
    year_group: int | None
    reason: str | None
    barriers: list[str]
    outcome_code: str | None
    practitioner: str | None
    contacts: list[ContactOut]
    private_contacts_hidden: int
    attendance_before: float | None
    attendance_since: float | None
    current_risk: float | None
    previous_risk: float | None
    can_work: bool
    colleagues: list[tuple[int, str]]


class CaseRow(BaseModel):
    """One line of My cases."""

    id: int
    school_urn: int
    upn: str
    name: str
    status: str
    referred_on: dt.date
    practitioner: str | None
    current_risk: float | None
    risk_change: float | None
    attendance_before: float | None
    attendance_since: float | None
    last_contact: dt.date | None
    next_action: str | None


class MyCases(BaseModel):
    """My cases: open referrals assigned to this key, and those waiting in its schools."""

    mine: list[CaseRow]
    waiting: list[CaseRow]
    others: list[CaseRow]
    impact_note: str


def _check_reader(principal: Principal, school_urn: int) -> None:
    if not principal.may_read_pupils(school_urn):
        raise NotFound("no such referral")


def _is_worker(principal: Principal, school_urn: int) -> bool:
    return principal.role is Role.PRACTITIONER and school_urn in principal.schools


def _attendance(session: Session, referrals: list[Referral]) -> dict[int, tuple[Any, Any]]:
    """Per referral: attendance so far before the referral's week and since it (fractions),
    from each school's latest weekly trajectory."""
    out: dict[int, tuple[Any, Any]] = {}
    for urn in {r.school_urn for r in referrals}:
        trajectory = latest_trajectory(session, urn)
        if trajectory is None:
            continue
        frame = trajectory_from_bytes(trajectory.payload)
        frame = frame.assign(upn=frame["upn"].astype(str))
        for r in (r for r in referrals if r.school_urn == urn):
            mine = frame[frame["upn"] == r.upn]
            start = pd.Timestamp(r.created_at.date()) - pd.Timedelta(days=r.created_at.weekday())
            when = pd.to_datetime(mine["week_start"])
            before, since = mine[when < start], mine[when >= start]

            def rate(part: pd.DataFrame) -> float | None:
                possible = float(part["possible_sessions"].sum())
                return None if possible == 0 else round(1 - part["absence"].sum() / possible, 4)

            out[r.id] = (rate(before), rate(since))
    return out


def _risks(session: Session, referrals: list[Referral]) -> dict[int, tuple[Any, Any]]:
    """Per referral: the latest risk and the one before it (the trend)."""
    out: dict[int, tuple[Any, Any]] = {}
    for r in referrals:
        rows = session.execute(
            select(Score.risk)
            .where(Score.school_urn == r.school_urn, Score.upn == r.upn)
            .order_by(Score.as_of.desc())
            .limit(2)
        ).all()
        out[r.id] = (
            rows[0].risk if rows else None,
            rows[1].risk if len(rows) > 1 else None,
        )
    return out


def _key_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(ids))).all())


def my_cases(db: Database, principal: Principal) -> MyCases:
    """Open referrals across the key's schools: assigned to this key, waiting (suggested, not
    yet taken on) and assigned to colleagues; audited with the referrals returned."""
    if principal.role is not Role.PRACTITIONER:
        raise Forbidden("My cases is a practitioner's page: sign in with a practitioner key")
    with db.read_session() as session:
        referrals = list(
            session.scalars(
                select(Referral).where(
                    Referral.school_urn.in_(principal.schools), Referral.status != "closed"
                )
            ).all()
        )
        attendance = _attendance(session, referrals)
        risks = _risks(session, referrals)
        names = {
            (p.school_urn, p.upn): f"{p.forename} {p.surname}".strip()
            for p in session.execute(
                select(Pupil.school_urn, Pupil.upn, Pupil.forename, Pupil.surname).where(
                    Pupil.upn.in_([r.upn for r in referrals])
                )
            )
        }
        keys = _key_names(
            session, {r.practitioner_key_id for r in referrals if r.practitioner_key_id}
        )
        last: dict[int, Any] = {}
        for c in session.scalars(
            select(ReferralContact)
            .where(ReferralContact.referral_id.in_([r.id for r in referrals]))
            .order_by(ReferralContact.date, ReferralContact.id)
        ):
            previous = last.get(c.referral_id, (None, None))
            last[c.referral_id] = (c.date, c.action or previous[1])
    rows = []
    for r in referrals:
        now, before = risks[r.id]
        att = attendance.get(r.id, (None, None))
        rows.append(
            CaseRow(
                id=r.id,
                school_urn=r.school_urn,
                upn=r.upn,
                name=names.get((r.school_urn, r.upn), ""),
                status=r.status,
                referred_on=r.created_at.date(),
                practitioner=keys.get(r.practitioner_key_id) if r.practitioner_key_id else None,
                current_risk=None if now is None else round(now, 4),
                risk_change=None if now is None or before is None else round(now - before, 4),
                attendance_before=att[0],
                attendance_since=att[1],
                last_contact=last.get(r.id, (None, None))[0],
                next_action=last.get(r.id, (None, None))[1],
            )
        )
    rows.sort(key=lambda c: (c.current_risk is None, -(c.current_risk or 0.0), c.id))
    assigned = {r.id: r.practitioner_key_id for r in referrals}
    mine = [c for c in rows if c.status != "suggested" and assigned[c.id] == principal.key_id]
    waiting = [c for c in rows if c.status == "suggested"]
    others = [c for c in rows if c not in mine and c not in waiting]
    audit.record(
        db,
        principal,
        "cases.read",
        records=len(rows),
        detail={"referral_ids": [c.id for c in rows]},
    )
    return MyCases(mine=mine, waiting=waiting, others=others, impact_note=IMPACT_NOTE)


def case_record(db: Database, principal: Principal, referral_id: int) -> CaseRecord:
    """One referral's case record (a school key never reads the private notes)."""
    with db.read_session() as session:
        referral = session.get(Referral, referral_id)
        if referral is None or not principal.may_read_pupils(referral.school_urn):
            raise NotFound(f"no referral {referral_id}")
        pupil = session.get(Pupil, (referral.school_urn, referral.upn))
        contacts = session.scalars(
            select(ReferralContact)
            .where(ReferralContact.referral_id == referral_id)
            .order_by(ReferralContact.date, ReferralContact.id)
        ).all()
        support_side = principal.role is Role.PRACTITIONER
        visible = [c for c in contacts if support_side or c.shared]
        att = _attendance(session, [referral]).get(referral.id, (None, None))
        now, before = _risks(session, [referral])[referral.id]
        keys = _key_names(
            session, {referral.practitioner_key_id} if referral.practitioner_key_id else set()
        )
        colleagues = []
        if _is_worker(principal, referral.school_urn):
            colleagues = [
                (row.id, row.name)
                for row in session.execute(
                    select(ApiKey.id, ApiKey.name)
                    .join(ApiKeySchool, ApiKeySchool.key_id == ApiKey.id)
                    .where(
                        ApiKeySchool.school_urn == referral.school_urn,
                        ApiKey.role == Role.PRACTITIONER.value,
                        ApiKey.revoked_at.is_(None),
                    )
                    .order_by(ApiKey.name)
                )
            ]
        out = CaseRecord(
            referral=ReferralOut.model_validate(_as_dict(referral)),
            name="" if pupil is None else f"{pupil.forename} {pupil.surname}".strip(),
            year_group=None if pupil is None else pupil.year_group,
            reason=referral.reason,
            barriers=list(referral.barriers or []),
            outcome_code=referral.outcome_code,
            practitioner=keys.get(referral.practitioner_key_id)
            if referral.practitioner_key_id
            else None,
            contacts=[
                ContactOut(
                    id=c.id,
                    date=c.date,
                    kind=c.kind,
                    kind_label=CONTACT_KINDS.get(c.kind, c.kind),
                    author=c.author,
                    note=c.note,
                    action=c.action,
                    shared=c.shared,
                )
                for c in visible
            ],
            private_contacts_hidden=len(contacts) - len(visible),
            attendance_before=att[0],
            attendance_since=att[1],
            current_risk=now,
            previous_risk=before,
            can_work=_is_worker(principal, referral.school_urn),
            colleagues=colleagues,
        )
    audit.record(
        db,
        principal,
        "referral.read",
        school_urn=referral.school_urn,
        upn=referral.upn,
        records=1,
        detail={"referral_id": referral_id, "contacts": len(visible)},
    )
    return out


def add_contact(
    db: Database, principal: Principal, referral_id: int, body: ContactIn
) -> ContactOut:
    """Record a contact (the practitioner's key, for an accepted or active referral)."""
    if body.date > dt.date.today():
        raise Invalid("a contact's date cannot be in the future", fix="give the day it happened")
    with db.write() as session:
        referral = session.get(Referral, referral_id, with_for_update=True)
        if referral is None or not principal.may_read_pupils(referral.school_urn):
            raise NotFound(f"no referral {referral_id}")
        if not _is_worker(principal, referral.school_urn):
            raise Forbidden("contacts are recorded by the support service's practitioners")
        if referral.status not in ("accepted", "active"):
            raise Conflict(
                f"this referral is {referral.status}: contacts are recorded once it is accepted "
                "and until it is closed"
            )
        contact = ReferralContact(
            referral_id=referral_id,
            date=body.date,
            kind=body.kind,
            author_key_id=principal.key_id,
            author=principal.name,
            note=body.note,
            action=body.action,
            shared=body.shared,
        )
        session.add(contact)
        if referral.status == "accepted":
            referral.status = "active"  # the first contact makes the case active
        referral.updated_at = utcnow()
        session.flush()
        audit.record_in(
            session,
            principal,
            "referral.contact",
            school_urn=referral.school_urn,
            upn=referral.upn,
            records=1,
            detail={"referral_id": referral_id, "contact_id": contact.id, "kind": body.kind},
        )
        return ContactOut(
            id=contact.id,
            date=contact.date,
            kind=contact.kind,
            kind_label=CONTACT_KINDS[contact.kind],
            author=contact.author,
            note=contact.note,
            action=contact.action,
            shared=contact.shared,
        )


def referral_statuses(db: Database, principal: Principal, school_urn: int) -> dict[str, Any]:
    """Per UPN of the school: its latest referral's id and status (for the risk list's column;
    the list's own read is the audited one)."""
    if not principal.may_read_pupils(school_urn):
        return {}
    with db.read_session() as session:
        rows = session.execute(
            select(Referral.upn, Referral.id, Referral.status)
            .where(Referral.school_urn == school_urn)
            .order_by(Referral.id)
        ).all()
    return {row.upn: {"id": row.id, "status": row.status} for row in rows}

"""Referrals: suggested → accepted → active → closed (with an outcome), and caseloads.

Schools suggest (and add notes); accepting, activating and closing is a practitioner's decision
(or an admin's). The model's risk, reasons, week and version at referral time are kept: the
expectation without support that any impact figure must be compared with.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from features.casework import Barrier, Outcome
from serving import audit
from serving.auth import Principal, Role
from serving.db import Database
from serving.errors import Conflict, Forbidden, Invalid, NotFound
from serving.models import ApiKey, ApiKeySchool, Pupil, Referral, Score, utcnow
from serving.schemas import UPN, URN, Caseload, ReferralMoved, ReferralOut
from serving.store.rows import latest_run

Status = Literal["suggested", "accepted", "active", "closed"]
TRANSITIONS: dict[str, frozenset[str]] = {
    "suggested": frozenset({"accepted", "closed"}),
    "accepted": frozenset({"active", "closed"}),
    "active": frozenset({"closed"}),
    "closed": frozenset(),
}
"""Allowed moves. Closing needs an outcome (a suggestion may be closed as declined)."""

IMPACT_NOTE = (
    "risk_at_referral is the model's own prediction when the pupil was referred: the "
    "expectation without support. Compare any outcome with it, never with attendance before "
    "referral alone (pupils referred for low attendance tend to improve anyway)."
)


def _blank_is_none(value: str | None) -> str | None:
    """A blank note or outcome is none: it closes no referral and adds nothing."""
    if value is None:
        return None
    return value.strip() or None


Text = Annotated[str | None, Field(max_length=4000), AfterValidator(_blank_is_none)]
"""A note or an outcome: free text, stripped; blank is none."""


class ReferralIn(BaseModel):
    """A pupil to refer for support."""

    school_urn: URN
    upn: UPN
    note: Text = None
    reason: Annotated[Text, Field(description="why the school refers")] = None


class ReferralPatch(BaseModel):
    """A change of status (and the outcome when closing), or a note to add."""

    status: Status | None = None
    note: Annotated[Text, Field(description="added after the notes already there")] = None
    outcome: Text = None
    outcome_code: Annotated[
        Outcome | None, Field(description="the structured outcome when closing")
    ] = None
    barriers: Annotated[
        list[Barrier] | None, Field(description="barriers identified (replaces the list)")
    ] = None
    assign_to: Annotated[
        int | None,
        Field(ge=1, description="the practitioner key taking the case (default: the caller)"),
    ] = None


def _latest_score(session: Any, school_urn: int, upn: str) -> Any:
    return session.execute(
        select(Score.risk, Score.as_of, Score.model_name, Score.model_version, Score.reasons)
        .where(Score.school_urn == school_urn, Score.upn == upn)
        .order_by(Score.as_of.desc())
        .limit(1)
    ).first()


def _check_refer(principal: Principal, school_urn: int) -> None:
    if not principal.may_refer(school_urn):
        raise Forbidden(
            f"this {principal.role.value} key may not manage referrals for school {school_urn}"
        )


def _as_dict(r: Referral) -> dict[str, Any]:
    """A referral as the API answers it (:class:`ReferralOut`)."""
    return {
        "id": r.id,
        "school_urn": r.school_urn,
        "upn": r.upn,
        "status": r.status,
        "note": r.note,
        "outcome": r.outcome,
        "risk_at_referral": r.risk_at_referral,
        "as_of_at_referral": r.as_of_at_referral.isoformat() if r.as_of_at_referral else None,
        "model_name_at_referral": r.model_name_at_referral,
        "model_version_at_referral": r.model_version_at_referral,
        "reasons_at_referral": r.reasons_at_referral,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "closed_at": r.closed_at.isoformat() if r.closed_at else None,
        "reason": r.reason,
        "barriers": r.barriers,
        "outcome_code": r.outcome_code,
        "practitioner_key_id": r.practitioner_key_id,
    }


def create_referral(db: Database, principal: Principal, body: ReferralIn) -> ReferralOut:
    """Refer a pupil (status ``suggested``), recording the model's risk at referral time; a
    pupil has at most one open referral (:class:`Conflict`)."""
    _check_refer(principal, body.school_urn)
    with db.write() as session:
        # The pupil's row is locked (PostgreSQL; SQLite writers queue anyway) until the commit:
        # two referrals of one pupil at the same moment cannot both find none open.
        if session.get(Pupil, (body.school_urn, body.upn), with_for_update=True) is None:
            raise NotFound(f"no pupil with this UPN at school {body.school_urn}")
        open_one = session.scalar(
            select(Referral.id).where(
                Referral.school_urn == body.school_urn,
                Referral.upn == body.upn,
                Referral.status != "closed",
            )
        )
        if open_one is not None:
            raise Conflict(f"this pupil already has an open referral ({open_one})")
        latest = _latest_score(session, body.school_urn, body.upn)
        referral = Referral(
            school_urn=body.school_urn,
            upn=body.upn,
            status="suggested",
            note=body.note,
            reason=body.reason,
            risk_at_referral=None if latest is None else latest.risk,
            as_of_at_referral=None if latest is None else latest.as_of,
            model_name_at_referral=None if latest is None else latest.model_name,
            model_version_at_referral=None if latest is None else latest.model_version,
            reasons_at_referral=None if latest is None else latest.reasons,
            created_by_key_id=principal.key_id,
            practitioner_key_id=principal.key_id if principal.role is Role.PRACTITIONER else None,
        )
        session.add(referral)
        session.flush()
        # In the same transaction: the referral exists only if its audit record does.
        audit.record_in(
            session,
            principal,
            "referral.create",
            school_urn=body.school_urn,
            upn=body.upn,
            records=1,
            detail={"referral_id": referral.id},
        )
        out = ReferralOut.model_validate(_as_dict(referral))
    return out


def caseload(
    db: Database,
    principal: Principal,
    *,
    statuses: list[Status] | None = None,
    school: int | None = None,
    include_closed: bool = False,
) -> Caseload:
    """Open referrals within this key's schools, by current risk (a practitioner's caseload);
    ``statuses`` or ``include_closed`` for the others. The read is audited with the schools
    and referrals it returned."""
    if principal.role not in (Role.SCHOOL, Role.PRACTITIONER, Role.ANALYST):
        raise Forbidden(f"an {principal.role.value} key may not read referrals")
    if school is not None and not principal.may_read_pupils(school):
        raise Forbidden(f"this key may not read referrals of school {school}")
    with db.read_session() as session:
        items = _caseload_items(session, principal, statuses, school, include_closed)
    # A caseload spans schools: the record says which, and which referrals (so whose data).
    audit.record(
        db,
        principal,
        "referrals.read",
        school_urn=school,
        records=len(items),
        detail={
            "schools": sorted({item["school_urn"] for item in items}),
            "referral_ids": [item["id"] for item in items],
        },
    )
    return Caseload.model_validate({"referrals": items, "impact_note": IMPACT_NOTE})


def _caseload_items(
    session: Session,
    principal: Principal,
    statuses: list[Status] | None,
    school: int | None,
    include_closed: bool,
) -> list[dict[str, Any]]:
    query = select(Referral)
    if principal.role is not Role.ANALYST:
        query = query.where(Referral.school_urn.in_(principal.schools))
    if school is not None:
        query = query.where(Referral.school_urn == school)
    if statuses:
        query = query.where(Referral.status.in_(statuses))
    elif not include_closed:
        query = query.where(Referral.status != "closed")
    referrals = session.scalars(query).all()
    runs = {urn: latest_run(session, urn) for urn in {r.school_urn for r in referrals}}
    current: dict[tuple[int, str], Any] = {}
    for urn, run in runs.items():
        if run is None:
            continue
        upns = [r.upn for r in referrals if r.school_urn == urn]
        for row in session.execute(
            select(Score.upn, Score.risk, Score.tier, Score.reasons, Score.model_version).where(
                and_(Score.school_urn == urn, Score.as_of == run.as_of, Score.upn.in_(upns))
            )
        ):
            current[(urn, row.upn)] = row
    names = {
        (p.school_urn, p.upn): f"{p.forename} {p.surname}".strip()
        for p in session.execute(
            select(Pupil.school_urn, Pupil.upn, Pupil.forename, Pupil.surname).where(
                Pupil.upn.in_([r.upn for r in referrals])
            )
        )
    }
    items = []
    for r in referrals:
        now = current.get((r.school_urn, r.upn))
        items.append(
            {
                **_as_dict(r),
                "name": names.get((r.school_urn, r.upn), ""),
                "current_risk": None if now is None else round(now.risk, 4),
                "current_tier": None if now is None else now.tier,
                "current_reasons": None if now is None else now.reasons,
                "current_model_version": None if now is None else now.model_version,
            }
        )
    # Highest current risk first; pupils without a current score last (a risk of 0.0 is a
    # score, not a missing one).
    items.sort(
        key=lambda item: (item["current_risk"] is None, -(item["current_risk"] or 0.0), item["id"])
    )
    return items


def _check_colleague(session: Session, school_urn: int, key_id: int) -> None:
    """A case is assigned only to a live practitioner key of the referral's school."""
    row = session.execute(
        select(ApiKey.id)
        .join(ApiKeySchool, ApiKeySchool.key_id == ApiKey.id)
        .where(
            ApiKey.id == key_id,
            ApiKey.role == Role.PRACTITIONER.value,
            ApiKey.revoked_at.is_(None),
            ApiKeySchool.school_urn == school_urn,
        )
    ).first()
    if row is None:
        raise Invalid(
            f"key {key_id} is not a practitioner of school {school_urn}",
            fix="assign the case to a practitioner whose key covers this school",
        )


def update_referral(
    db: Database, principal: Principal, referral_id: int, body: ReferralPatch
) -> ReferralOut | ReferralMoved:
    """Move a referral on (practitioners: suggested → accepted → active → closed) or add a note
    (the school or the practitioner). An admin is answered without pupil-level data."""
    with db.write() as session:
        # Locked until the commit (as in create_referral): two moves at once are checked one
        # after the other, so a referral closed meanwhile is never made active again.
        referral = session.get(Referral, referral_id, with_for_update=True)
        if referral is None or not (
            principal.may_refer(referral.school_urn)
            or principal.may_move_referrals(referral.school_urn)
        ):
            # Same answer for "absent" and "not yours": ids of other schools stay private.
            if referral is not None and principal.may_read_pupils(referral.school_urn):
                raise Forbidden("this key may read but not change this referral")
            raise NotFound(f"no referral {referral_id}")
        urn = referral.school_urn
        moving = body.status is not None and body.status != referral.status
        working = body.outcome_code is not None or body.barriers is not None
        if (moving or working or body.assign_to is not None or body.outcome is not None) and (
            not principal.may_move_referrals(urn)
        ):
            raise Forbidden(
                "a school suggests referrals; accepting, activating and closing one (with its "
                "outcome) is for the practitioner's key"
            )
        if body.note is not None and not principal.may_refer(urn):
            raise Forbidden(f"an {principal.role.value} key moves referrals on but adds no notes")
        if moving:
            assert body.status is not None
            allowed = TRANSITIONS[referral.status]
            if body.status not in allowed:
                raise Conflict(
                    f"this referral is {referral.status}: it cannot become {body.status}",
                    allowed=sorted(allowed),
                )
            if body.status == "closed" and not (
                body.outcome or referral.outcome or body.outcome_code
            ):
                raise Invalid(
                    "closing a referral needs an outcome",
                    fix='send the outcome with the move: {"status": "closed", "outcome_code": '
                    '"improved", "outcome": "…"}',
                )
            referral.status = body.status
            if body.status == "closed":
                referral.closed_at = utcnow()
            if principal.role is Role.PRACTITIONER and body.assign_to is None:
                referral.practitioner_key_id = principal.key_id
        if body.assign_to is not None:
            _check_colleague(session, urn, body.assign_to)
            referral.practitioner_key_id = body.assign_to
        if body.outcome_code is not None:
            referral.outcome_code = body.outcome_code
        if body.barriers is not None:
            referral.barriers = sorted(set(body.barriers))
        if body.note is not None:  # added, never replacing what the school or others wrote
            referral.note = f"{referral.note}\n\n{body.note}" if referral.note else body.note
        if body.outcome is not None:
            referral.outcome = body.outcome
        referral.updated_at = utcnow()
        session.flush()
        audit.record_in(
            session,
            principal,
            "referral.update",
            school_urn=referral.school_urn,
            upn=referral.upn,
            records=1,
            detail={"referral_id": referral.id, "status": referral.status},
        )
        out = _as_dict(referral)
    if principal.role is Role.ADMIN:  # admins see no pupil-level data: only what they did
        return ReferralMoved.model_validate(out)
    return ReferralOut.model_validate(out)

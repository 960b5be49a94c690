"""Referrals: suggested → accepted → active → closed (with an outcome), and caseloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from serving import referrals
from serving.deps import CurrentKey, DatabaseDep
from serving.referrals import ReferralIn, ReferralPatch, Status
from serving.schemas import MAX_DB_INT, Caseload, ReferralMoved, ReferralOut, errors

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReferralOut,
    responses=errors(400, 401, 403, 404, 409, 422, 503),
)
def create_referral(body: ReferralIn, principal: CurrentKey, db: DatabaseDep) -> ReferralOut:
    """Refer a pupil (status `suggested`), recording the model's risk at referral time."""
    return referrals.create_referral(db, principal, body)


@router.get("", response_model=Caseload, responses=errors(401, 403, 422, 503))
def list_referrals(
    principal: CurrentKey,
    db: DatabaseDep,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    school: Annotated[
        int | None, Query(ge=100000, le=999999, description="only this school")
    ] = None,
    include_closed: Annotated[
        bool, Query(description="also closed referrals (without `status`, they are left out)")
    ] = False,
) -> Caseload:
    """Open referrals within this key's schools, by current risk (a practitioner's caseload)."""
    return referrals.caseload(
        db, principal, statuses=status_, school=school, include_closed=include_closed
    )


@router.patch(
    "/{referral_id}",
    response_model=ReferralOut | ReferralMoved,
    responses=errors(400, 401, 403, 404, 409, 422, 503),
)
def update_referral(
    referral_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)],
    body: ReferralPatch,
    principal: CurrentKey,
    db: DatabaseDep,
) -> ReferralOut | ReferralMoved:
    """Move a referral on (practitioners: suggested → accepted → active → closed) or add a note
    (the school or the practitioner)."""
    return referrals.update_referral(db, principal, referral_id, body)

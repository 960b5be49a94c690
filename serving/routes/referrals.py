"""Referrals: suggested → accepted → active → closed (with an outcome), and caseloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from serving import caseload, impact, referrals
from serving.caseload import CaseRecord, ContactIn, ContactOut, MyCases
from serving.deps import CurrentKey, DatabaseDep
from serving.impact import ImpactOut, Scope
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


@router.get(
    "/{referral_id}",
    response_model=CaseRecord,
    responses=errors(401, 404, 422, 503),
)
def read_case(
    referral_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)],
    principal: CurrentKey,
    db: DatabaseDep,
) -> CaseRecord:
    """A referral's case record (a school key sees the contacts shared with it only)."""
    return caseload.case_record(db, principal, referral_id)


@router.post(
    "/{referral_id}/contacts",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactOut,
    responses=errors(400, 401, 403, 404, 409, 422, 503),
)
def add_contact(
    referral_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)],
    body: ContactIn,
    principal: CurrentKey,
    db: DatabaseDep,
) -> ContactOut:
    """Record a dated, typed contact (the practitioner's key)."""
    return caseload.add_contact(db, principal, referral_id, body)


cases_router = APIRouter(prefix="/v1", tags=["referrals"])


@cases_router.get("/cases", response_model=MyCases, responses=errors(401, 403, 503))
def my_cases(principal: CurrentKey, db: DatabaseDep) -> MyCases:
    """My cases: open referrals assigned to this practitioner, and those waiting."""
    return caseload.my_cases(db, principal)


@cases_router.get("/impact", response_model=ImpactOut, responses=errors(400, 401, 403, 422, 503))
def read_impact(
    principal: CurrentKey,
    db: DatabaseDep,
    scope: Annotated[Scope, Query(description="mine, school or authority")] = "school",
    school: Annotated[int | None, Query(ge=100000, le=999999)] = None,
) -> ImpactOut:
    """The impact of support: naive before/after and adjusted against pupils alike."""
    return impact.impact(db, principal, scope, school)

"""``GET /v1/impact``: the impact of support for a practitioner's cases, a school or the whole
authority, against regression to the mean (:mod:`features.impact`)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sqlalchemy import select

from serving import audit
from serving.auth import Principal, Role
from serving.db import Database
from serving.errors import Forbidden, Invalid
from serving.models import Mark, Pupil, Referral

Scope = Literal["mine", "school", "authority"]


class NaiveImpact(BaseModel):
    """Before/after, as charities publish it (points; share; weeks per pupil)."""

    estimate: float | None
    before: float | None
    after: float | None
    share_improved: float | None
    extra_weeks_in_school: float | None


class AdjustedImpact(BaseModel):
    """Against pupils alike who were not (yet) referred, with a bootstrap interval."""

    estimate: float | None
    low: float | None
    high: float | None
    method: str


class Comparison(BaseModel):
    """The comparison group's attendance before and after (percent)."""

    pupils: int
    before: float | None
    after: float | None


class ImpactOut(BaseModel):
    """The impact of support over the 10 school weeks after referral (percentage points)."""

    scope: Scope
    school_urn: int | None
    naive: NaiveImpact
    adjusted: AdjustedImpact
    referrals: int
    referrals_without_follow_up: int
    comparison: Comparison
    weeks_after: int


def _schools(principal: Principal, scope: Scope, school: int | None) -> list[int]:
    if principal.role not in (Role.SCHOOL, Role.PRACTITIONER, Role.ANALYST):
        raise Forbidden(f"an {principal.role.value} key reads no pupil-level data")
    if scope == "school":
        if school is None:
            if principal.role is Role.SCHOOL:
                return sorted(principal.schools)
            raise Invalid("scope=school needs the school", fix="add &school=URN")
        if not principal.may_read_pupils(school):
            raise Forbidden(f"this key may not read school {school}")
        return [school]
    if scope == "mine" and principal.role is not Role.PRACTITIONER:
        raise Invalid("scope=mine is a practitioner's own cases", fix="use scope=school")
    if principal.role is Role.ANALYST:
        return []  # every school
    if scope == "authority" and principal.role is not Role.ANALYST:
        raise Forbidden("the whole authority's impact is for an analyst key")
    return sorted(principal.schools)


def impact(
    db: Database, principal: Principal, scope: Scope = "school", school: int | None = None
) -> ImpactOut:
    """The impact report for the referrals in scope (audited with their count)."""
    from features.impact import impact_report

    urns = _schools(principal, scope, school)
    with db.read_session() as session:
        query = select(Referral.school_urn, Referral.upn, Referral.created_at).where(
            Referral.status != "suggested"
        )
        marks_query = select(Mark.school_urn, Mark.upn, Mark.date, Mark.session, Mark.code)
        pupils_query = select(Pupil.school_urn, Pupil.upn, Pupil.year_group)
        if urns:
            query = query.where(Referral.school_urn.in_(urns))
            marks_query = marks_query.where(Mark.school_urn.in_(urns))
            pupils_query = pupils_query.where(Pupil.school_urn.in_(urns))
        if scope == "mine":
            query = query.where(Referral.practitioner_key_id == principal.key_id)
        referrals = pd.DataFrame(
            session.execute(query).all(), columns=["school_urn", "upn", "created_at"]
        )
        marks = pd.DataFrame(
            session.execute(marks_query).all(),
            columns=["school_urn", "upn", "date", "session", "code"],
        )
        pupils = pd.DataFrame(
            session.execute(pupils_query).all(), columns=["school_urn", "upn", "year_group"]
        )
    marks["date"] = pd.to_datetime(marks["date"])
    marks["school_urn"] = marks["school_urn"].astype(np.int64)
    referrals["referred_on"] = pd.to_datetime(referrals["created_at"]).dt.tz_localize(None)
    referrals["school_urn"] = referrals["school_urn"].astype(np.int64)
    if marks.empty:
        from features.calendar import academic_years_of

        years = pd.DataFrame(columns=["school_urn", "upn", "academic_year", "year_group"])
    else:
        from features.calendar import academic_years_of

        years = (
            marks[["school_urn", "upn"]]
            .assign(academic_year=academic_years_of(marks["date"]).astype(str).to_numpy())
            .drop_duplicates()
            .merge(pupils.assign(school_urn=pupils["school_urn"].astype(np.int64)), how="left")
        )
    report = impact_report(marks, referrals[["school_urn", "upn", "referred_on"]], years)
    audit.record(
        db,
        principal,
        "impact.read",
        school_urn=school,
        records=int(report["referrals"]),
        detail={"scope": scope, "schools": urns or "all"},
    )
    return ImpactOut.model_validate({**report, "scope": scope, "school_urn": school})

"""Schools: registering one with the service, and the schools a key may see."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from features.schema import PHASES
from serving.auth import Principal, Role
from serving.db import Database
from serving.errors import Conflict, Forbidden, Invalid
from serving.models import Pupil, School
from serving.schemas import LatestScores, SchoolIn, SchoolSummary
from serving.store.rows import latest_run


def register_school(db: Database, principal: Principal, school: SchoolIn) -> SchoolIn:
    """Register a school (admin keys); a URN already held is a :class:`Conflict`."""
    if principal.role is not Role.ADMIN:
        raise Forbidden("only an admin key may register schools")
    if school.phase not in PHASES:
        raise Invalid(
            f"phase {school.phase!r} is not one of {', '.join(PHASES)}",
            fix=f"send one of {', '.join(PHASES)}",
        )
    with db.write() as session:
        if session.get(School, school.urn) is not None:
            raise Conflict(f"school {school.urn} already exists")
        session.add(School(urn=school.urn, name=school.name, phase=school.phase, la=school.la))
    return school


def schools_in_scope(session: Session, principal: Principal) -> list[SchoolSummary]:
    """The schools this key may see, with the latest scoring and its pupils.

    ``pupils`` counts every pupil the school's rosters hold, earlier years' included;
    ``latest_scores.pupils`` counts the pupils on roll in the latest scored week."""
    query = select(School).order_by(School.urn)
    if not principal.all_schools:
        query = query.where(School.urn.in_(principal.schools))
    schools = session.scalars(query).all()
    counts = dict(
        session.execute(select(Pupil.school_urn, func.count()).group_by(Pupil.school_urn)).all()
    )
    out = []
    for school in schools:
        run = latest_run(session, school.urn)
        out.append(
            SchoolSummary(
                urn=school.urn,
                name=school.name,
                phase=school.phase,
                la=school.la,
                pupils=int(counts.get(school.urn, 0)),
                latest_scores=None
                if run is None
                else LatestScores(
                    as_of=run.as_of,
                    week=run.week,
                    model_name=run.model_name,
                    model_version=run.model_version,
                    pupils=run.pupils,
                ),
            )
        )
    return out

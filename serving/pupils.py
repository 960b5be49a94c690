"""Reading a pupil's record: weekly attendance this year, risk over the weeks, the latest
reasons and referrals (the API and the web pages both call this; every read is audited)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving import audit
from serving.auth import Principal
from serving.db import Database
from serving.errors import NotFound
from serving.models import Pupil, Referral, Score
from serving.pipeline import TIER_WORDING, trajectory_from_bytes
from serving.risk_lists import require_pupil_access
from serving.schemas import PupilRecord
from serving.store.trajectories import latest_trajectory


def pupil_record(db: Database, principal: Principal, school: int, upn: str) -> PupilRecord:
    """A pupil's weekly attendance this year, risk over the weeks and latest reasons, with the
    audit record of the read written first."""
    require_pupil_access(principal, school)
    with db.read_session() as session:
        pupil = session.get(Pupil, (school, upn))
        if pupil is None:
            raise NotFound(f"no pupil with this UPN on the roll of school {school}")
        audit.record(db, principal, "pupil.read", school_urn=school, upn=upn, records=1)
        return _record(session, pupil, school, upn)


def _record(session: Session, pupil: Pupil, school: int, upn: str) -> PupilRecord:
    trajectory = latest_trajectory(session, school)
    weeks: list[dict[str, Any]] = []
    if trajectory is not None:
        frame = trajectory_from_bytes(trajectory.payload)
        mine = frame[frame["upn"].astype(str) == upn].sort_values("week")
        possible = mine["possible_sessions"].to_numpy(dtype=float)
        absence = mine["absence"].to_numpy(dtype=float)
        cum_possible, cum_absence = possible.cumsum(), absence.cumsum()
        for i, row in enumerate(mine.itertuples(index=False)):
            weeks.append(
                {
                    "week": int(row.week),
                    "week_start": pd.Timestamp(row.week_start).date().isoformat(),
                    "possible_sessions": int(row.possible_sessions),
                    "absence": int(row.absence),
                    "authorised": int(row.authorised),
                    "unauthorised": int(row.unauthorised),
                    "late_before_close": int(row.late_before_close),
                    "attendance_rate": None
                    if possible[i] == 0
                    else round(1 - absence[i] / possible[i], 4),
                    "attendance_ytd": None
                    if cum_possible[i] == 0
                    else round(1 - cum_absence[i] / cum_possible[i], 4),
                }
            )
    scores = session.execute(
        select(
            Score.as_of,
            Score.week,
            Score.risk,
            Score.tier,
            Score.rank,
            Score.reasons,
            Score.model_name,
            Score.model_version,
        )
        .where(
            Score.school_urn == school,
            Score.upn == upn,
            # The year the page shows (scores of an earlier year are not this year's history).
            *([Score.academic_year == trajectory.academic_year] if trajectory else []),
        )
        .order_by(Score.as_of)
    ).all()
    history = [
        {
            "as_of": s.as_of.isoformat(),
            "week": s.week,
            "risk": round(s.risk, 4),
            "tier": s.tier,
            "rank": s.rank,
            "model_name": s.model_name,
            "model_version": s.model_version,
        }
        for s in scores
    ]
    latest = scores[-1] if scores else None
    referrals = session.execute(
        select(Referral.id, Referral.status, Referral.created_at)
        .where(Referral.school_urn == school, Referral.upn == upn)
        .order_by(Referral.id)
    ).all()
    return PupilRecord.model_validate(
        {
            "upn": upn,
            "school_urn": school,
            "name": f"{pupil.forename} {pupil.surname}".strip(),
            "year_group": pupil.year_group,
            "academic_year": trajectory.academic_year if trajectory else None,
            "weeks": weeks,
            "risk_history": history,
            "latest": None
            if latest is None
            else {
                "as_of": latest.as_of.isoformat(),
                "risk": round(latest.risk, 4),
                "tier": latest.tier,
                "tier_label": TIER_WORDING[latest.tier],
                "reasons": latest.reasons,
                "model_name": latest.model_name,
                "model_version": latest.model_version,
            },
            "referrals": [
                {"id": r.id, "status": r.status, "created_at": r.created_at.isoformat()}
                for r in referrals
            ],
        }
    )

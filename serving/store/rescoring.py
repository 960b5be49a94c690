"""Re-scoring: a school's stored scores brought up to date after its marks, its roster or the
champion changed.

The school is scored for the latest school week that is complete (its Friday reached or
passed) and whose register covers every pupil on roll: a register for a new week that marks
only some of the pupils leaves the risk list as it was, until the rest arrive. After marks
changed, every stored week the change reaches is scored again in the same pass.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from serving.db import Database
from serving.models import EnrolmentTotal, Pupil, School, Score, ScoreRun, Trajectory, utcnow
from serving.modelstore import LoadedModel
from serving.pipeline import ScoringConfig, latest_complete_week, score_weeks
from serving.schemas import IncompleteWeek, MissingPupil, ScoringOutcome
from serving.store.rows import (
    insert_rows,
    latest_run,
    lock_school,
    on_roll,
    put_row,
    roster_frame,
    school_lock,
    to_int,
)
from serving.store.trajectories import current_trajectory, latest_trajectory

log = logging.getLogger("ews.serving.store")

MISSING_NAMED = 50
"""How many missing pupils an incomplete week names (the count says how many in all)."""


def history(session: Session, school_urn: int, academic_year: str) -> pd.DataFrame:
    """Last year's outcomes of the pupils on this school's roster, at every school.

    A total from *another* school counts only if that school's own record of the pupil has the
    same date of birth as this school's: a school that really has the pupil (a Year 6 → Year 7
    transfer) knows it, while a UPN typed onto a roster by mistake — or on purpose — does not
    hand over another school's figures. This school's own totals need no such check."""
    from sqlalchemy import and_, or_
    from sqlalchemy.orm import aliased

    from features.calendar import previous_academic_year

    previous = previous_academic_year(academic_year)
    here = aliased(Pupil)
    there = aliased(Pupil)
    rows = session.execute(
        select(
            EnrolmentTotal.academic_year,
            EnrolmentTotal.upn,
            EnrolmentTotal.possible_sessions,
            EnrolmentTotal.absence_sessions,
        )
        .join(here, and_(here.upn == EnrolmentTotal.upn, here.school_urn == school_urn))
        .outerjoin(
            there,
            and_(there.upn == EnrolmentTotal.upn, there.school_urn == EnrolmentTotal.school_urn),
        )
        .where(
            EnrolmentTotal.academic_year == previous,
            or_(
                EnrolmentTotal.school_urn == school_urn,
                and_(
                    here.date_of_birth.is_not(None),
                    there.date_of_birth == here.date_of_birth,
                ),
            ),
        )
    ).all()
    return pd.DataFrame(rows, columns=["academic_year", "upn", "possible_sessions", "absence"])


def incomplete_week(
    trajectory: pd.DataFrame, pupils_on_roll: pd.DataFrame, week: int
) -> IncompleteWeek | None:
    """Whether school week ``week`` of ``trajectory`` lacks pupils on roll (``None``: it does
    not). A pupil is expected in a week when the latest roster lists them, they entered by its
    Friday and had not left before its Monday; a pupil with any mark that week is marked."""
    rows = trajectory[trajectory["week"].to_numpy() == week]
    if rows.empty:
        return None
    monday = pd.Timestamp(rows["week_start"].iloc[0]).date()
    friday = monday + dt.timedelta(days=4)
    entry = pupils_on_roll["entry_date"]
    leaving = pupils_on_roll["leaving_date"]
    entered = entry.isna().to_numpy() | (entry.fillna(friday) <= friday).to_numpy(bool)
    staying = leaving.isna().to_numpy() | (leaving.fillna(monday) >= monday).to_numpy(bool)
    expected = pupils_on_roll[entered & staying]
    marked = set(rows["upn"].astype(str))
    missing = expected[~expected["upn"].isin(marked)]
    if missing.empty:
        return None
    return IncompleteWeek(
        week=week,
        week_start=monday,
        pupils_on_roll=len(expected),
        pupils_marked=len(expected) - len(missing),
        missing=len(missing),
        missing_pupils=[
            MissingPupil(upn=r.upn, name=r.name)
            for r in missing.head(MISSING_NAMED).itertuples(index=False)
        ],
    )


@dataclass(frozen=True)
class Target:
    """The week a school's risk list should show, and the later complete weeks that cannot be
    scored yet because their registers do not cover every pupil on roll."""

    week: int
    incomplete: list[IncompleteWeek]


def scoring_target(
    trajectory: pd.DataFrame, pupils_on_roll: pd.DataFrame, last_mark: dt.date, today: dt.date
) -> Target:
    """The latest complete school week whose register covers the pupils on roll (0: none)."""
    incomplete = []
    week = latest_complete_week(trajectory, last_mark, today)
    while week > 0:
        gap = incomplete_week(trajectory, pupils_on_roll, week)
        if gap is None:
            break
        incomplete.append(gap)
        week -= 1
    return Target(week, incomplete[::-1])


def rescore_school(
    session: Session,
    school_urn: int,
    model: LoadedModel,
    scoring: ScoringConfig,
    *,
    today: dt.date | None = None,
    trajectories: dict[str, pd.DataFrame] | None = None,
    changed_from: dt.date | None = None,
    changed_year: str | None = None,
) -> ScoringOutcome:
    """Score every pupil of a school for its scoring target (:func:`scoring_target`) in its
    latest year — and, after marks changed, every week with stored scores the change reaches.

    Runs in the caller's transaction, under the school's lock. ``changed_from`` is the earliest
    date whose marks changed, in ``changed_year``. A change in the latest year reaches its
    stored weeks from that date's week on (a correction to week 3 changes the year-to-date
    figures of weeks 3, 4, 5…: their stored scores, which the pupil page shows as risk history,
    are re-scored); a change in an earlier year reaches every stored week of the latest year
    (last year's absence is a feature). Each week's scores are replaced (one row per pupil) and
    its run recorded with the model's name and version. Says what was done (the latest week),
    or why nothing was.
    """
    today = today or dt.date.today()
    latest = latest_trajectory(session, school_urn)
    if latest is None:
        return ScoringOutcome(scored=False, reason="no registers uploaded yet")
    trajectory = (trajectories or {}).get(latest.academic_year)
    if trajectory is None:
        trajectory = current_trajectory(session, latest)
    target = scoring_target(trajectory, on_roll(session, school_urn), latest.last_mark_date, today)
    reached = _stored_weeks_reached(
        session, school_urn, latest.academic_year, trajectory, target.week, changed_from,
        changed_year,
    )  # fmt: skip
    weeks = ({target.week} if target.week else set()) | reached
    if not weeks:
        reason = (
            "no complete school week yet"
            if not target.incomplete
            else "no complete school week covers every pupil on roll yet"
        )
        return ScoringOutcome(scored=False, reason=reason)
    school = session.get(School, school_urn)
    assert school is not None
    school.data_version += 1
    pupils = roster_frame(session, school_urn)
    scored = score_weeks(
        trajectory,
        pupils,
        school_urn=school_urn,
        phase=school.phase,
        weeks=sorted(weeks),
        model=model,
        config=scoring,
        history=history(session, school_urn, latest.academic_year),
    )
    if scored.empty:
        return ScoringOutcome(
            scored=False, reason=f"no pupil had possible sessions in week {target.week}"
        )
    scored["year_group"] = scored["upn"].map(pupils.set_index("upn")["year_group"])
    _replace_scores(session, school_urn, latest.academic_year, scored, model)
    last = scored.iloc[-1]
    per_week = scored.groupby("week").size()
    return ScoringOutcome(
        scored=True,
        as_of=last["as_of"],
        week=int(last["week"]),
        pupils=int(per_week[last["week"]]),
        model_name=model.name,
        model_version=model.version,
        weeks_rescored=[int(w) for w in per_week.index] if len(per_week) > 1 else None,
    )


def _replace_scores(
    session: Session,
    school_urn: int,
    academic_year: str,
    scored: pd.DataFrame,
    model: LoadedModel,
) -> None:
    """Replace the stored scores of each scored week and record its run."""
    as_ofs = sorted(set(scored["as_of"]))
    session.execute(delete(Score).where(Score.school_urn == school_urn, Score.as_of.in_(as_ofs)))
    sqlite_dates = session.get_bind().dialect.name == "sqlite"
    score_columns = [
        "school_urn", "as_of", "upn", "academic_year", "week", "year_group", "rank", "risk",
        "tier", "attendance_ytd", "attendance_change_4w", "emerging", "reasons", "model_name",
        "model_version",
    ]  # fmt: skip
    rows = [
        (
            school_urn,
            row["as_of"].isoformat() if sqlite_dates else row["as_of"],
            row["upn"],
            academic_year,
            int(row["week"]),
            to_int(row["year_group"]),
            int(row["rank"]),
            float(row["risk"]),
            row["tier"],
            _finite(row["attendance_ytd"]),
            _finite(row["attendance_change_4w"]),
            bool(row["emerging"]),
            json.dumps(row["reasons"]),
            model.name,
            model.version,
        )
        for row in scored.to_dict(orient="records")
    ]
    insert_rows(session, "scores", score_columns, rows)
    weeks = scored.groupby("as_of")["week"].first()
    pupils = scored.groupby("as_of").size()
    for as_of in as_ofs:
        run = session.get(ScoreRun, (school_urn, as_of))
        values = {
            "academic_year": academic_year,
            "week": int(weeks[as_of]),
            "model_name": model.name,
            "model_version": model.version,
            "pupils": int(pupils[as_of]),
            "scored_at": utcnow(),
        }
        put_row(
            session, run, functools.partial(ScoreRun, school_urn=school_urn, as_of=as_of), values
        )
    session.flush()


def _stored_weeks_reached(
    session: Session,
    school_urn: int,
    academic_year: str,
    trajectory: pd.DataFrame,
    latest_week: int,
    changed_from: dt.date | None,
    changed_year: str | None,
) -> set[int]:
    """The school weeks of ``academic_year`` with stored scores that a change of marks from
    ``changed_from`` (in ``changed_year``) reaches (see :func:`rescore_school`)."""
    if changed_from is None or changed_year is None or changed_year > academic_year:
        return set()
    stored = set(
        session.scalars(
            select(ScoreRun.as_of).where(
                ScoreRun.school_urn == school_urn, ScoreRun.academic_year == academic_year
            )
        )
    )
    if not stored:
        return set()
    weeks = trajectory[["week", "week_start"]].drop_duplicates()
    mondays = pd.to_datetime(weeks["week_start"]).dt.date
    fridays = mondays + dt.timedelta(days=4)
    first_monday = changed_from - dt.timedelta(days=changed_from.weekday())
    reached = fridays.isin(stored).to_numpy() & (weeks["week"].to_numpy() <= latest_week)
    if changed_year == academic_year:
        reached &= (mondays >= first_monday).to_numpy()
    return {int(w) for w in weeks["week"].to_numpy()[reached]}


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def rescore_all(
    db: Database,
    model: LoadedModel,
    scoring: ScoringConfig,
    *,
    still_current: Callable[[], bool] | None = None,
) -> int:
    """Re-score every school with ``model`` (after the champion moved, once it is the current
    model). Returns how many schools were scored.

    One transaction per school, each under the school's lock. Every registered school is
    visited — also one whose first upload is still in progress — so an upload that took the old
    model before the swap has committed by the time its school is re-scored here.
    ``still_current`` (checked under each school's lock) stops the pass once a newer model has
    been swapped in: that one has its own pass, and this one must not overwrite it."""
    return _rescore_where(db, model, scoring, only_stale=False, still_current=still_current)


def rescore_stale(
    db: Database,
    model: LoadedModel,
    scoring: ScoringConfig,
    *,
    still_current: Callable[[], bool] | None = None,
) -> int:
    """Re-score the schools whose latest scores came from another model version (the champion
    moved while the service was stopped). Returns how many schools were re-scored."""
    return _rescore_where(db, model, scoring, only_stale=True, still_current=still_current)


def _rescore_where(
    db: Database,
    model: LoadedModel,
    scoring: ScoringConfig,
    *,
    only_stale: bool,
    still_current: Callable[[], bool] | None,
) -> int:
    with db.read_session() as session:
        urns: Iterable[int] = session.scalars(select(School.urn).order_by(School.urn)).all()
    done = 0
    for urn in urns:
        with school_lock(urn):
            if still_current is not None and not still_current():
                log.info("model version %s was replaced while re-scoring: stopped", model.version)
                break
            with db.read_session() as session:
                has_marks = (
                    session.scalar(
                        select(Trajectory.school_urn).where(Trajectory.school_urn == urn).limit(1)
                    )
                    is not None
                )
                run = latest_run(session, urn) if only_stale else None
            if not has_marks:
                continue
            if run is not None and (run.model_name, run.model_version) == (
                model.name,
                model.version,
            ):
                continue
            with db.write() as session:
                lock_school(session, urn)
                if rescore_school(session, urn, model, scoring).scored:
                    done += 1
    return done

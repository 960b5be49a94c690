"""Trajectories: each school-year's weekly trajectory, kept in step with its stored marks,
and the year totals next year's features read.

A new week after the stored ones is appended; anything else (a correction, a first upload in
mid-year, a trajectory an older feature schema built) rebuilds the school-year from its stored
marks, so a stored trajectory always equals the one today's feature code builds from every mark.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from serving.models import EnrolmentTotal, Mark, Trajectory, utcnow
from serving.pipeline import trajectory_from_bytes, trajectory_to_bytes
from serving.store.rows import insert_rows, put_row

log = logging.getLogger("ews.serving.store")


def _stored_marks(session: Session, school_urn: int, first: dt.date, last: dt.date) -> pd.DataFrame:
    rows = session.execute(
        select(Mark.upn, Mark.date, Mark.session, Mark.code).where(
            Mark.school_urn == school_urn, Mark.date >= first, Mark.date <= last
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["upn", "date", "session", "code"])
    frame.insert(0, "school_urn", np.int64(school_urn))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _marks_frame_for_features(school_urn: int, marks: pd.DataFrame) -> pd.DataFrame:
    frame = marks[["upn", "date", "session", "code"]].copy()
    frame.insert(0, "school_urn", np.int64(school_urn))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _is_current(row: Trajectory) -> bool:
    """Whether a stored trajectory was built by today's feature code: the same feature schema
    version and exactly today's columns (a new counter, a renamed one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import features.schema
    from features.trajectory import TRAJECTORY_COLUMNS

    if row.feature_schema_version != features.schema.FEATURE_SCHEMA_VERSION:
        return False
    columns = pq.read_schema(pa.BufferReader(row.payload)).names  # the footer only
    return list(columns) == list(TRAJECTORY_COLUMNS)


def _rebuild(session: Session, school_urn: int, academic_year: str) -> pd.DataFrame:
    from features.calendar import academic_year_bounds
    from features.trajectory import build_trajectory

    start, end = academic_year_bounds(academic_year)
    return build_trajectory(_stored_marks(session, school_urn, start, end))


def _save_trajectory(
    session: Session,
    school_urn: int,
    academic_year: str,
    stored: Trajectory | None,
    trajectory: pd.DataFrame,
    last_mark: dt.date,
) -> None:
    import features.schema

    values = {
        "weeks": int(trajectory["week"].max()),
        "first_week_start": pd.Timestamp(trajectory["week_start"].min()).date(),
        "last_week_start": pd.Timestamp(trajectory["week_start"].max()).date(),
        "last_mark_date": last_mark,
        "feature_schema_version": features.schema.FEATURE_SCHEMA_VERSION,
        "payload": trajectory_to_bytes(trajectory),
        "updated_at": utcnow(),
    }
    new = functools.partial(Trajectory, school_urn=school_urn, academic_year=academic_year)
    put_row(session, stored, new, values)
    session.flush()


@dataclass(frozen=True)
class TrajectoryUpdate:
    """A school-year's trajectory after an upload, and how it was brought up to date."""

    frame: pd.DataFrame
    mode: Literal["built", "appended", "rebuilt"]


def update_trajectory(
    session: Session, school_urn: int, academic_year: str, file_marks: pd.DataFrame
) -> TrajectoryUpdate:
    """Bring the stored trajectory of a school-year up to date after marks were written.

    New weeks after the stored ones are appended (cheap: only the file's marks are read);
    anything else — a correction to an earlier week, a first upload in the middle of a year, a
    stored trajectory built by an older feature schema (another version or other columns) —
    rebuilds the school-year from all its stored marks, so the result always equals the
    trajectory today's code builds from every mark at once.
    """
    from features.trajectory import append_weeks, build_trajectory

    stored = session.get(Trajectory, (school_urn, academic_year))
    file_frame = _marks_frame_for_features(school_urn, file_marks)
    first_monday = file_frame["date"].min() - pd.Timedelta(days=file_frame["date"].min().weekday())
    if stored is None:
        trajectory = build_trajectory(file_frame)
        mode: Literal["built", "appended", "rebuilt"] = "built"
    elif first_monday.date() > stored.last_week_start and _is_current(stored):
        trajectory = append_weeks(trajectory_from_bytes(stored.payload), file_frame)
        mode = "appended"
    else:
        trajectory = _rebuild(session, school_urn, academic_year)
        mode = "rebuilt"
    last_mark = max(
        file_frame["date"].max().date(), stored.last_mark_date if stored else dt.date.min
    )
    _save_trajectory(session, school_urn, academic_year, stored, trajectory, last_mark)
    return TrajectoryUpdate(trajectory, mode)


def current_trajectory(session: Session, row: Trajectory) -> pd.DataFrame:
    """The stored trajectory of a school-year, rebuilt from its stored marks (and stored
    again, in the session's transaction) if an older feature schema built it."""
    if _is_current(row):
        return trajectory_from_bytes(row.payload)
    log.info("rebuilding a %s trajectory stored under an older feature schema", row.academic_year)
    trajectory = _rebuild(session, row.school_urn, row.academic_year)
    _save_trajectory(
        session, row.school_urn, row.academic_year, row, trajectory, row.last_mark_date
    )
    return trajectory


def latest_trajectory(session: Session, school_urn: int) -> Trajectory | None:
    """The stored trajectory of the school's latest academic year (``None``: no marks yet)."""
    return session.scalar(
        select(Trajectory)
        .where(Trajectory.school_urn == school_urn)
        .order_by(Trajectory.academic_year.desc())
        .limit(1)
    )


def update_enrolment_totals(
    session: Session, school_urn: int, academic_year: str, trajectory: pd.DataFrame
) -> None:
    """Replace the school-year's per-pupil totals (the history next year's features read)."""
    from features.snapshots import year_outcomes

    outcomes = year_outcomes(trajectory)
    session.execute(
        delete(EnrolmentTotal).where(
            EnrolmentTotal.school_urn == school_urn, EnrolmentTotal.academic_year == academic_year
        )
    )
    rows = list(
        zip(
            [school_urn] * len(outcomes),
            outcomes["upn"].astype(str).tolist(),
            [academic_year] * len(outcomes),
            outcomes["possible_sessions"].astype(int).tolist(),
            outcomes["absence"].astype(int).tolist(),
            strict=True,
        )
    )
    insert_rows(
        session,
        "enrolment_totals",
        ["school_urn", "upn", "academic_year", "possible_sessions", "absence_sessions"],
        rows,
    )

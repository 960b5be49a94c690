"""What the service does with uploads, and how it reads back what it stored.

Every upload runs in ONE database transaction: marks, trajectory, year totals, scores and the
upload record are all written or none is. Uploads for one school are serialised (a lock in the
process, plus ``SELECT … FOR UPDATE`` on the school's row for PostgreSQL and ``BEGIN IMMEDIATE``
for SQLite), so two files arriving at the same moment are applied one after the other.

Idempotency: a file's marks are compared with what is stored, cell by cell (pupil × date ×
session). Only new or changed cells are written; a file that changes nothing says so and
changes nothing. A corrected file for a week therefore replaces exactly the marks it covers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import String, delete, select
from sqlalchemy.orm import Session

from features.schema import ROSTER_COLUMNS
from serving import audit
from serving.auth import Principal
from serving.db import Database
from serving.models import (
    EnrolmentTotal,
    Mark,
    Pupil,
    School,
    Score,
    ScoreRun,
    Trajectory,
    Upload,
    utcnow,
)
from serving.modelstore import LoadedModel
from serving.pipeline import (
    ScoringConfig,
    latest_complete_week,
    score_snapshot,
    trajectory_from_bytes,
    trajectory_to_bytes,
)

log = logging.getLogger("ews.serving.store")

IDENTITY_COLUMNS = ("date_of_birth", "sex")
"""Roster columns that do not change for a pupil: a new value means a mistyped UPN or a
different child, so the roster is refused until someone confirms it."""


class UploadRejected(Exception):
    """An upload that changes nothing, with the HTTP status and the body to answer."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status_code = status_code
        self.body = body


_school_locks: defaultdict[int, threading.RLock] = defaultdict(threading.RLock)
_school_locks_guard = threading.Lock()


def school_lock(urn: int) -> threading.RLock:
    """The in-process lock serialising writes for one school (re-entrant: the upload path
    holds it from validation to commit, and the store takes it again inside)."""
    with _school_locks_guard:
        return _school_locks[urn]


def sha256_hex(data: bytes) -> str:
    """Content hash of an uploaded file."""
    return hashlib.sha256(data).hexdigest()


def add_upload(
    session: Session,
    school_urn: int,
    kind: str,
    filename: str | None,
    data: bytes,
    digest: str,
    outcome: str,
    principal: Principal | None,
) -> Upload:
    """Record a file received (its summary is filled in once known), flushed so it has its id."""
    upload = Upload(
        school_urn=school_urn,
        kind=kind,
        filename=filename,
        sha256=digest,
        size_bytes=len(data),
        outcome=outcome,
        summary={},
        key_id=principal.key_id if principal else None,
    )
    session.add(upload)
    session.flush()
    return upload


# --- schools ----------------------------------------------------------------------------------


def get_school(session: Session, urn: int) -> School | None:
    """The school with this URN, if the service holds it."""
    return session.get(School, urn)


def _lock_school(session: Session, urn: int) -> School:
    school = session.scalar(select(School).where(School.urn == urn).with_for_update())
    if school is None:
        raise UploadRejected(404, {"message": f"school {urn} is not registered with the service"})
    return school


def roster_frame(session: Session, urn: int) -> pd.DataFrame:
    """The stored roster of a school with ``ROSTER_COLUMNS`` (and ``school_urn``)."""
    rows = session.execute(
        select(*(getattr(Pupil, c) for c in ROSTER_COLUMNS)).where(Pupil.school_urn == urn)
    ).all()
    frame = pd.DataFrame(rows, columns=ROSTER_COLUMNS)
    frame["upn"] = frame["upn"].astype(str)
    frame.insert(0, "school_urn", np.int64(urn))
    return frame


# --- roster upload ----------------------------------------------------------------------------


def _to_date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    return pd.Timestamp(text).date()


def _to_bool(value: Any) -> bool | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, str):
        return value.strip().upper() in ("1", "Y", "YES", "TRUE", "T")
    return bool(value)


def _to_int(value: Any) -> int | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(value)


def _to_str(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _roster_records(roster: pd.DataFrame) -> list[dict[str, Any]]:
    """Roster rows as plain Python values in the shape of the ``pupils`` table."""
    records = []
    for row in roster.to_dict(orient="records"):
        records.append(
            {
                "upn": str(row["upn"]),
                "forename": _to_str(row.get("forename")) or "",
                "surname": _to_str(row.get("surname")) or "",
                "date_of_birth": _to_date(row.get("date_of_birth")),
                "sex": _to_str(row.get("sex")),
                "year_group": _to_int(row.get("year_group")),
                "fsm": _to_bool(row.get("fsm")),
                "sen": _to_str(row.get("sen")),
                "eal": _to_bool(row.get("eal")),
                "ethnicity": _to_str(row.get("ethnicity")),
                "entry_date": _to_date(row.get("entry_date")),
                "leaving_date": _to_date(row.get("leaving_date")),
            }
        )
    return records


def _too_long(
    records: list[dict[str, Any]], rows: list[Any], filename: str
) -> list[dict[str, Any]]:
    """Row-level errors for values longer than the ``pupils`` columns hold.

    The roster reader checks the same limits (``features.limits``); this is the service's own
    guard, so a field the reader does not know about yet is a 422 naming the row, never a
    database error half-way through (PostgreSQL refuses it, SQLite would store it whole)."""
    limits = {
        c.name: c.type.length
        for c in Pupil.__table__.columns
        if isinstance(c.type, String) and c.type.length
    }
    errors = []
    for row, record in zip(rows, records, strict=True):
        for column, limit in limits.items():
            value = record.get(column)
            if isinstance(value, str) and len(value) > limit:
                errors.append(
                    {
                        "kind": "value_too_long",
                        "file": filename,
                        "row": row,
                        "column": column,
                        "value": value[:40] + "…",
                        "message": f"the {column} has {len(value)} characters; at most "
                        f"{limit} can be stored",
                        "fix": f"shorten the {column} to {limit} characters or fewer",
                    }
                )
    return errors


def apply_roster(
    db: Database,
    *,
    school_urn: int,
    roster: pd.DataFrame,
    data: bytes,
    filename: str,
    principal: Principal | None,
    accept_changes: bool = False,
    model: LoadedModel | None = None,
    scoring: ScoringConfig | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Store a validated roster: add new pupils, update changed ones, keep the rest.

    Pupils missing from this roster are kept (they may have left; their marks and history
    stay). A pupil whose date of birth or sex differs from the stored one is a contradiction:
    the whole roster is refused (409) unless ``accept_changes``. Re-scores the school when
    anything the features use changed. The audit record is written in the same transaction.
    Returns the summary of what changed.
    """
    digest = sha256_hex(data)
    records = _roster_records(roster)
    # The file's row numbers (as a spreadsheet shows them) when the reader kept them.
    rows = [int(r) for r in roster.index] if roster.index.name == "row" else []
    rows = rows or list(range(2, len(records) + 2))
    too_long = _too_long(records, rows, filename)
    if too_long:
        raise UploadRejected(
            422,
            {
                "message": f"{filename} has errors; nothing was stored",
                "report": {"ok": False, "files": [filename], "errors": too_long[:50],
                           "warnings": [], "counts": {"errors": len(too_long), "warnings": 0}},
            },
        )  # fmt: skip
    with school_lock(school_urn), db.write() as session:
        school = _lock_school(session, school_urn)
        stored = {
            p.upn: p
            for p in session.scalars(select(Pupil).where(Pupil.school_urn == school_urn)).all()
        }
        contradictions = []
        for line, record in zip(rows, records, strict=True):
            before = stored.get(record["upn"])
            if before is None:
                continue
            for column in IDENTITY_COLUMNS:
                old, new = getattr(before, column), record[column]
                if old is not None and new is not None and old != new:
                    contradictions.append(
                        {
                            "file": filename,
                            "row": line,
                            "column": column,
                            "value": str(new),
                            "stored": str(old),
                            "message": f"{column} differs from the roster stored earlier",
                            "fix": "check the UPN on this row: it may belong to another pupil. "
                            "If the earlier roster was wrong, send this file again with "
                            "?accept_changes=true",
                        }
                    )
        if contradictions and not accept_changes:
            raise UploadRejected(
                409,
                {
                    "message": f"{len(contradictions)} row(s) contradict the roster stored "
                    "earlier; nothing was changed",
                    "contradictions": contradictions[:50],
                    "total_contradictions": len(contradictions),
                },
            )
        added, updated, unchanged = 0, 0, 0
        features_changed = False
        upload = add_upload(
            session, school_urn, "roster", filename, data, digest, "applied", principal
        )
        now = utcnow()
        for record in records:
            before = stored.get(record["upn"])
            if before is None:
                session.add(
                    Pupil(
                        school_urn=school_urn,
                        roster_upload_id=upload.id,
                        updated_at=now,
                        **record,
                    )
                )
                added += 1
                continue
            diff = {k: v for k, v in record.items() if getattr(before, k) != v}
            if not diff:
                unchanged += 1
                continue
            for key, value in diff.items():
                setattr(before, key, value)
            before.roster_upload_id = upload.id
            before.updated_at = now
            updated += 1
            features_changed |= bool(set(diff) & {"year_group", "fsm", "sen", "eal", "entry_date"})
        in_file = {r["upn"] for r in records}
        summary: dict[str, Any] = {
            "kind": "roster",
            "filename": filename,
            "changed": bool(added or updated),
            "pupils_in_file": len(records),
            "added": added,
            "updated": updated,
            "unchanged": unchanged,
            "not_in_this_roster_kept": sum(1 for upn in stored if upn not in in_file),
            "contradictions_accepted": len(contradictions),
        }
        if added or updated:
            school.data_version += 1
        if not (added or updated):
            upload.outcome = "unchanged"
            summary["message"] = "This roster changes nothing: every pupil is already stored."
        elif features_changed and model is not None:
            summary["scoring"] = rescore_school(
                session, school_urn, model, scoring or ScoringConfig(), today=today
            )
        upload.summary = summary
        _audit_upload(session, principal, "roster.upload", school_urn, upload, len(records))
        return {"upload_id": upload.id, **summary}


def _audit_upload(
    session: Session,
    principal: Principal | None,
    action: str,
    school_urn: int,
    upload: Upload,
    records: int,
) -> None:
    audit.record_in(
        session,
        principal,
        action,
        school_urn=school_urn,
        records=records,
        detail={
            "upload_id": upload.id,
            "outcome": upload.outcome,
            "filename": upload.filename,
            "sha256": upload.sha256,
        },
    )


# --- register upload --------------------------------------------------------------------------


@dataclass
class MarkDiff:
    """How a file's marks compare with the stored ones (cells = pupil × date × session)."""

    to_write: pd.DataFrame
    new: int
    changed: int
    unchanged: int


def _canonical_marks(marks: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "upn": marks["upn"].astype(str).to_numpy(),
            "date": pd.to_datetime(marks["date"]).dt.date.to_numpy(),
            "session": marks["session"].astype(str).str.upper().to_numpy(),
            "code": marks["code"].astype(str).to_numpy(),
            "minutes_late": (
                pd.to_numeric(marks["minutes_late"], errors="coerce").to_numpy(dtype=float)
                if "minutes_late" in marks.columns
                else np.full(len(marks), np.nan)
            ),
        }
    )
    return out


def diff_marks(session: Session, school_urn: int, marks: pd.DataFrame) -> MarkDiff:
    """Compare a file's canonical marks with the stored marks for the same dates."""
    first, last = marks["date"].min(), marks["date"].max()
    stored = pd.DataFrame(
        session.execute(
            select(Mark.upn, Mark.date, Mark.session, Mark.code, Mark.minutes_late).where(
                Mark.school_urn == school_urn, Mark.date >= first, Mark.date <= last
            )
        ).all(),
        columns=["upn", "date", "session", "code_stored", "minutes_stored"],
    )
    if stored.empty:
        return MarkDiff(marks, new=len(marks), changed=0, unchanged=0)
    stored["upn"] = stored["upn"].astype(str)
    merged = marks.merge(stored, on=["upn", "date", "session"], how="left")
    is_new = merged["code_stored"].isna().to_numpy()
    late_new = merged["minutes_late"].to_numpy(dtype=float)
    late_old = pd.to_numeric(merged["minutes_stored"], errors="coerce").to_numpy(dtype=float)
    same_late = (late_new == late_old) | (np.isnan(late_new) & np.isnan(late_old))
    same = (
        merged["code"].astype(str).to_numpy() == merged["code_stored"].astype(str).to_numpy()
    ) & (same_late)
    changed = ~is_new & ~same
    return MarkDiff(
        to_write=marks[is_new | changed],
        new=int(is_new.sum()),
        changed=int(changed.sum()),
        unchanged=int((~is_new & same).sum()),
    )


def _upsert_marks(
    session: Session, school_urn: int, marks: pd.DataFrame, upload_id: int, *, new_only: bool
) -> None:
    """Insert new cells and overwrite changed ones (``ON CONFLICT`` on the cell's key).

    ``new_only``: the caller found none of the cells stored (under the school's lock, in this
    transaction), so nothing can conflict — on PostgreSQL the marks are then copied straight
    into the table. Plain DB-API ``executemany`` with tuples on SQLite: a week is 15,000 rows
    and a year half a million, and building SQLAlchemy parameter dicts per row would cost more
    than the database does."""
    if marks.empty:
        return
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):  # pragma: no cover - the two tested databases
        raise RuntimeError(f"unsupported database {dialect}")
    placeholder = "?" if dialect == "sqlite" else "%s"
    # In key order, the B-tree is appended to instead of written all over.
    marks = marks.sort_values(["date", "session", "upn"], kind="stable")
    dates = pd.to_datetime(pd.Series(marks["date"].to_numpy()))
    # SQLite stores dates as ISO text (as SQLAlchemy's Date type does); psycopg takes dates.
    date_values = (
        dates.dt.strftime("%Y-%m-%d").tolist() if dialect == "sqlite" else dates.dt.date.tolist()
    )
    late = marks["minutes_late"].to_numpy(dtype=float)
    rows = list(
        zip(
            [school_urn] * len(marks),
            date_values,
            marks["session"].tolist(),
            marks["upn"].tolist(),
            marks["code"].tolist(),
            [None if v != v else v for v in late.tolist()],  # NaN -> NULL
            [upload_id] * len(marks),
            strict=True,
        )
    )
    columns = "school_urn, date, session, upn, code, minutes_late, upload_id"
    conflict = (
        "ON CONFLICT (school_urn, date, session, upn) DO UPDATE SET code = excluded.code, "
        "minutes_late = excluded.minutes_late, upload_id = excluded.upload_id"
    )
    if dialect == "postgresql" and new_only:
        copy_rows(session, None, f"COPY marks ({columns}) FROM STDIN", rows)
        return
    if dialect == "postgresql":
        # COPY into a temporary table, then one INSERT … SELECT: far faster than executemany.
        copy_rows(
            session,
            "CREATE TEMPORARY TABLE marks_in (LIKE marks INCLUDING DEFAULTS) ON COMMIT DROP",
            f"COPY marks_in ({columns}) FROM STDIN",
            rows,
        )
        session.connection().exec_driver_sql(
            f"INSERT INTO marks ({columns}) SELECT {columns} FROM marks_in {conflict}"
        )
        return
    sql = f"INSERT INTO marks ({columns}) VALUES ({', '.join([placeholder] * 7)}) {conflict}"
    connection = session.connection()
    batch = 20_000
    for start in range(0, len(rows), batch):
        connection.exec_driver_sql(sql, rows[start : start + batch])


def copy_rows(
    session: Session, prepare: str | None, copy_sql: str, rows: list[tuple[Any, ...]]
) -> None:
    """PostgreSQL ``COPY … FROM STDIN`` of ``rows`` on the session's own connection (so it is
    part of the session's transaction)."""
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        if prepare:
            cursor.execute(prepare)
        with cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)


def _insert_rows(
    session: Session, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """Bulk insert: COPY on PostgreSQL, ``executemany`` on SQLite."""
    if not rows:
        return
    names = ", ".join(columns)
    if session.get_bind().dialect.name == "postgresql":
        copy_rows(session, None, f"COPY {table} ({names}) FROM STDIN", rows)
        return
    placeholders = ", ".join("?" * len(columns))
    session.connection().exec_driver_sql(
        f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows
    )


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
    if stored is None:
        session.add(Trajectory(school_urn=school_urn, academic_year=academic_year, **values))
    else:
        for key, value in values.items():
            setattr(stored, key, value)
    session.flush()


def update_trajectory(
    session: Session, school_urn: int, academic_year: str, file_marks: pd.DataFrame
) -> pd.DataFrame:
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
        mode = "built"
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
    trajectory.attrs["mode"] = mode
    return trajectory


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
    _insert_rows(
        session,
        "enrolment_totals",
        ["school_urn", "upn", "academic_year", "possible_sessions", "absence_sessions"],
        rows,
    )


def apply_registers(
    db: Database,
    *,
    school_urn: int,
    marks: pd.DataFrame,
    data: bytes,
    filename: str,
    principal: Principal | None,
    model: LoadedModel | None,
    scoring: ScoringConfig,
    warnings: int = 0,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Store a validated register file (see the module docstring) and re-score the school.

    Returns the summary: pupils, sessions, weeks covered, new/changed/unchanged marks and the
    scoring done (or why not). The audit record is written in the same transaction.
    """
    from features.calendar import academic_year_of

    digest = sha256_hex(data)
    file_marks = _canonical_marks(marks)
    if file_marks.empty:
        raise UploadRejected(422, {"message": "the file holds no register marks"})
    years = {academic_year_of(d) for d in (file_marks["date"].min(), file_marks["date"].max())}
    if len(years) != 1:
        raise UploadRejected(
            422,
            {
                "message": "the file spans two academic years",
                "fix": "send one file per academic year (1 August to 31 July)",
            },
        )
    academic_year = years.pop()
    mondays = sorted({d - dt.timedelta(days=d.weekday()) for d in pd.unique(file_marks["date"])})
    with school_lock(school_urn), db.write() as session:
        school = _lock_school(session, school_urn)
        diff = diff_marks(session, school_urn, file_marks)
        summary: dict[str, Any] = {
            "kind": "registers",
            "filename": filename,
            "academic_year": academic_year,
            "pupils": int(file_marks["upn"].nunique()),
            "sessions": len(file_marks),
            "weeks_covered": [m.isoformat() for m in mondays],
            "marks_new": diff.new,
            "marks_changed": diff.changed,
            "marks_unchanged": diff.unchanged,
            "warnings": warnings,
            "changed": bool(diff.new or diff.changed),
        }
        earlier = session.scalar(
            select(Upload.id)
            .where(
                Upload.school_urn == school_urn,
                Upload.kind == "registers",
                Upload.sha256 == digest,
            )
            .order_by(Upload.id)
            .limit(1)
        )
        outcome = "applied" if summary["changed"] else "unchanged"
        upload = add_upload(
            session, school_urn, "registers", filename, data, digest, outcome, principal
        )
        if not summary["changed"]:
            summary["message"] = (
                "This file changes nothing: every mark in it is already stored"
                + (f" (the same file was uploaded before as upload {earlier})" if earlier else "")
                + "."
            )
            upload.summary = summary
            _audit_upload(
                session, principal, "registers.upload", school_urn, upload, len(file_marks)
            )
            return {"upload_id": upload.id, **summary}
        school.data_version += 1
        _upsert_marks(session, school_urn, diff.to_write, upload.id, new_only=not diff.changed)
        trajectory = update_trajectory(session, school_urn, academic_year, file_marks)
        summary["trajectory"] = trajectory.attrs.get("mode")
        week_numbers = (
            trajectory.loc[pd.to_datetime(trajectory["week_start"]).dt.date.isin(mondays), "week"]
            .drop_duplicates()
            .sort_values()
            .astype(int)
            .tolist()
        )
        summary["school_weeks_covered"] = week_numbers
        update_enrolment_totals(session, school_urn, academic_year, trajectory)
        if model is None:
            summary["scoring"] = {"scored": False, "reason": "no model is loaded"}
        else:
            summary["scoring"] = rescore_school(
                session,
                school_urn,
                model,
                scoring,
                today=today,
                trajectories={academic_year: trajectory},
                changed_from=min(diff.to_write["date"]),
                changed_year=academic_year,
            )
        upload.summary = summary
        _audit_upload(session, principal, "registers.upload", school_urn, upload, len(file_marks))
        return {"upload_id": upload.id, **summary}


# --- scoring ----------------------------------------------------------------------------------


def _history(session: Session, school_urn: int, academic_year: str) -> pd.DataFrame:
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
) -> dict[str, Any]:
    """Score every pupil of a school for the latest complete week of its latest year — and,
    after marks changed, every week with stored scores that the change reaches.

    ``changed_from`` is the earliest date whose marks changed, in ``changed_year``. A change in
    the latest year reaches its stored weeks from that date's week on (a correction to week 3
    changes the year-to-date figures of weeks 3, 4, 5…: their stored scores, which the pupil
    page shows as risk history, are re-scored); a change in an earlier year reaches every stored
    week of the latest year (last year's absence is a feature). Each week's scores are replaced
    (one row per pupil) and its run recorded with the model's name and version. Returns what was
    done (the latest week), or why nothing was.
    """
    from features.snapshots import snapshot_features

    today = today or dt.date.today()
    latest = session.scalar(
        select(Trajectory)
        .where(Trajectory.school_urn == school_urn)
        .order_by(Trajectory.academic_year.desc())
        .limit(1)
    )
    if latest is None:
        return {"scored": False, "reason": "no registers uploaded yet"}
    trajectory = (trajectories or {}).get(latest.academic_year)
    if trajectory is None:
        trajectory = current_trajectory(session, latest)
    week = latest_complete_week(trajectory, latest.last_mark_date, today)
    if week == 0:
        return {"scored": False, "reason": "no complete school week yet"}
    weeks = {week} | _stored_weeks_reached(
        session, school_urn, latest.academic_year, trajectory, week, changed_from, changed_year
    )
    school = session.get(School, school_urn)
    assert school is not None
    school.data_version += 1
    pupils = roster_frame(session, school_urn)
    schools = pd.DataFrame({"school_urn": [school_urn], "phase": [school.phase]})
    history = _history(session, school_urn, latest.academic_year)
    snapshot = snapshot_features(
        trajectory,
        pupils,
        schools,
        history=history if not history.empty else None,
        weeks=sorted(weeks),
    )
    if snapshot.empty:
        return {"scored": False, "reason": f"no pupil had possible sessions in week {week}"}
    scored = score_snapshot(snapshot, model, scoring)
    scored["as_of"] = pd.to_datetime(scored["as_of"]).dt.date
    week_of = dict(
        zip(
            pd.to_datetime(snapshot["as_of"]).dt.date,
            snapshot["week"].astype(int),
            strict=True,
        )
    )
    year_groups = pupils.set_index("upn")["year_group"]
    scored["year_group"] = scored["upn"].map(year_groups)
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
            latest.academic_year,
            week_of[row["as_of"]],
            _to_int(row["year_group"]),
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
    _insert_rows(session, "scores", score_columns, rows)
    pupils_per_week = scored.groupby("as_of").size()
    for as_of in as_ofs:
        run = session.get(ScoreRun, (school_urn, as_of))
        values = {
            "academic_year": latest.academic_year,
            "week": week_of[as_of],
            "model_name": model.name,
            "model_version": model.version,
            "pupils": int(pupils_per_week[as_of]),
            "scored_at": utcnow(),
        }
        if run is None:
            session.add(ScoreRun(school_urn=school_urn, as_of=as_of, **values))
        else:
            for key, value in values.items():
                setattr(run, key, value)
    session.flush()
    last = as_ofs[-1]
    summary: dict[str, Any] = {
        "scored": True,
        "as_of": last.isoformat(),
        "week": week_of[last],
        "pupils": int(pupils_per_week[last]),
        "model_name": model.name,
        "model_version": model.version,
    }
    if len(as_ofs) > 1:
        summary["weeks_rescored"] = [week_of[a] for a in as_ofs]
    return summary


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
                _lock_school(session, urn)
                if rescore_school(session, urn, model, scoring).get("scored"):
                    done += 1
    return done


def latest_run(session: Session, school_urn: int) -> ScoreRun | None:
    """The most recent scoring of a school (the risk list shows it)."""
    return session.scalar(
        select(ScoreRun)
        .where(ScoreRun.school_urn == school_urn)
        .order_by(ScoreRun.as_of.desc())
        .limit(1)
    )

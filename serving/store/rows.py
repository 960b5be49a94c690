"""Rows: schools, pupils, uploads and marks as the store holds them.

Every function takes the session of the caller's transaction; the use cases
(:mod:`serving.ingest`) open it, take the school's lock and decide. Nothing here knows HTTP.

Idempotency: a file's marks are compared with what is stored, cell by cell (pupil × date ×
session). Only new or changed cells are written, so a corrected file for a week replaces
exactly the marks it covers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import String, select
from sqlalchemy.orm import Session

from features.schema import ROSTER_COLUMNS
from serving import audit
from serving.auth import Principal
from serving.errors import NotFound
from serving.models import Mark, Pupil, School, ScoreRun, Upload, utcnow

IDENTITY_COLUMNS = ("date_of_birth", "sex")
"""Roster columns that do not change for a pupil: a new value means a mistyped UPN or a
different child, so the roster is refused until someone confirms it."""

FEATURE_COLUMNS = frozenset({"year_group", "fsm", "sen", "eal", "entry_date"})
"""Roster columns the features read: a change to one of them re-scores the school."""

_school_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_school_locks_guard = threading.Lock()


def school_lock(urn: int) -> threading.Lock:
    """The in-process lock serialising writes for one school. A use case takes it once, from
    reading what a file is checked against to the commit; nothing below takes it again."""
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


def lock_school(session: Session, urn: int) -> School:
    """The school's row, locked until the commit (``SELECT … FOR UPDATE`` on PostgreSQL: other
    processes' writes for the school wait); :class:`NotFound` if the service does not hold it."""
    school = session.scalar(select(School).where(School.urn == urn).with_for_update())
    if school is None:
        raise NotFound(f"school {urn} is not registered with the service")
    return school


def stored_display_codes(session: Session, urn: int) -> dict[str, str]:
    """The school's display code → statutory code mapping (empty if it has none)."""
    return dict(session.scalar(select(School.display_codes).where(School.urn == urn)) or {})


def latest_run(session: Session, school_urn: int) -> ScoreRun | None:
    """The most recent scoring of a school (the risk list shows it)."""
    return session.scalar(
        select(ScoreRun)
        .where(ScoreRun.school_urn == school_urn)
        .order_by(ScoreRun.as_of.desc())
        .limit(1)
    )


# --- pupils -----------------------------------------------------------------------------------


def roster_frame(session: Session, urn: int) -> pd.DataFrame:
    """The stored roster of a school with ``ROSTER_COLUMNS`` (and ``school_urn``)."""
    rows = session.execute(
        select(*(getattr(Pupil, c) for c in ROSTER_COLUMNS)).where(Pupil.school_urn == urn)
    ).all()
    frame = pd.DataFrame(rows, columns=ROSTER_COLUMNS)
    frame["upn"] = frame["upn"].astype(str)
    frame.insert(0, "school_urn", np.int64(urn))
    return frame


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


def to_int(value: Any) -> int | None:
    """An integer, or ``None`` for a missing value (NaN, NA, None)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(value)


def _to_str(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def roster_records(roster: pd.DataFrame) -> list[dict[str, Any]]:
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
                "year_group": to_int(row.get("year_group")),
                "fsm": _to_bool(row.get("fsm")),
                "sen": _to_str(row.get("sen")),
                "eal": _to_bool(row.get("eal")),
                "ethnicity": _to_str(row.get("ethnicity")),
                "entry_date": _to_date(row.get("entry_date")),
                "leaving_date": _to_date(row.get("leaving_date")),
            }
        )
    return records


def too_long(records: list[dict[str, Any]], rows: list[Any], filename: str) -> list[dict[str, Any]]:
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


def stored_pupils(session: Session, urn: int) -> dict[str, Pupil]:
    """The school's stored pupils by UPN (ORM rows, to update in place)."""
    rows = session.scalars(select(Pupil).where(Pupil.school_urn == urn)).all()
    return {p.upn: p for p in rows}


@dataclass(frozen=True)
class RosterWrite:
    """What writing a roster changed."""

    added: int
    updated: int
    unchanged: int
    left_roll: int
    """Stored pupils on roll until now that this roster does not list."""
    features_changed: bool
    """A column the features read changed (a re-score is due)."""

    @property
    def changed(self) -> bool:
        """Whether anything stored changed."""
        return bool(self.added or self.updated or self.left_roll)


def write_roster(
    session: Session,
    urn: int,
    records: list[dict[str, Any]],
    stored: dict[str, Pupil],
    upload_id: int,
) -> RosterWrite:
    """Add the roster's new pupils and update the changed ones (``records`` from
    :func:`roster_records`). Pupils it does not list are kept, no longer on roll; a pupil it
    lists again is on roll again (both count as updates of that pupil)."""
    added, updated, unchanged = 0, 0, 0
    features_changed = False
    now = utcnow()
    for record in records:
        before = stored.get(record["upn"])
        if before is None:
            session.add(Pupil(school_urn=urn, roster_upload_id=upload_id, updated_at=now, **record))
            added += 1
            continue
        diff = {k: v for k, v in record.items() if getattr(before, k) != v}
        if not before.on_roll:
            diff["on_roll"] = True
        if not diff:
            unchanged += 1
            continue
        for key, value in diff.items():
            setattr(before, key, value)
        before.roster_upload_id = upload_id
        before.updated_at = now
        updated += 1
        features_changed |= bool(set(diff) & FEATURE_COLUMNS)
    listed = {r["upn"] for r in records}
    left = [p for upn, p in stored.items() if upn not in listed and p.on_roll]
    for pupil in left:
        pupil.on_roll = False
        pupil.updated_at = now
    return RosterWrite(added, updated, unchanged, len(left), features_changed)


def on_roll(session: Session, urn: int) -> pd.DataFrame:
    """The pupils the school's latest roster lists: ``upn, name, entry_date, leaving_date``
    (dates as ``datetime.date`` or ``None``)."""
    rows = session.execute(
        select(Pupil.upn, Pupil.forename, Pupil.surname, Pupil.entry_date, Pupil.leaving_date)
        .where(Pupil.school_urn == urn, Pupil.on_roll.is_(True))
        .order_by(Pupil.upn)
    ).all()
    return pd.DataFrame(
        {
            "upn": [r.upn for r in rows],
            "name": [f"{r.forename or ''} {r.surname or ''}".strip() for r in rows],
            "entry_date": [r.entry_date for r in rows],
            "leaving_date": [r.leaving_date for r in rows],
        }
    )


def audit_upload(
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


# --- marks ------------------------------------------------------------------------------------


@dataclass
class MarkDiff:
    """How a file's marks compare with the stored ones (cells = pupil × date × session)."""

    to_write: pd.DataFrame
    new: int
    changed: int
    unchanged: int


def canonical_marks(marks: pd.DataFrame) -> pd.DataFrame:
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


def put_row(session: Session, row: Any, new: Any, values: dict[str, Any]) -> None:
    """Set ``values`` on the stored ``row``, or add ``new()`` built with them if there is none."""
    if row is None:
        session.add(new(**values))
        return
    for key, value in values.items():
        setattr(row, key, value)


def earlier_upload(session: Session, urn: int, kind: str, digest: str) -> int | None:
    """The id of the first upload of the same file (same content hash) for the school."""
    return session.scalar(
        select(Upload.id)
        .where(Upload.school_urn == urn, Upload.kind == kind, Upload.sha256 == digest)
        .order_by(Upload.id)
        .limit(1)
    )


def upsert_marks(
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


def insert_rows(
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

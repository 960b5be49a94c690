"""The service's tables (SQLAlchemy 2 ORM). The schema is created by the Alembic migrations
under ``serving/migrations``; a test checks the two agree.

Personal data (names, dates of birth, UPNs) lives only in ``pupils``, ``marks``, ``scores``,
``referrals`` and ``audit_events`` — never in logs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import true

# The readers refuse longer values with a row-level error: one source for both.
from features.limits import ROSTER_FIELD_LIMITS, UPN_LENGTH

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Timestamps are stored in UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A UTC timestamp, always timezone-aware when read: PostgreSQL keeps the zone
    (``timestamptz``), SQLite keeps none, so its values are UTC by construction."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class School(Base):
    """A school the service holds registers for."""

    __tablename__ = "schools"

    urn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(20))
    la: Mapped[str | None] = mapped_column(String(100))
    data_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped whenever the school's pupils or scores change: readers may cache what they
    rendered for a version (every process sees the same number, unlike an in-memory flag)."""
    display_codes: Mapped[dict[str, str] | None] = mapped_column(JSON)
    """The school's own display codes → statutory codes (SIMS may show ``9`` for ``Y``), set
    by ``PUT /v1/schools/{urn}/display-codes`` and applied to every register it uploads;
    NULL when it has none (migration 0003)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Pupil(Base):
    """A pupil on (or once on) a school's roll, as the latest roster upload described them."""

    __tablename__ = "pupils"

    school_urn: Mapped[int] = mapped_column(ForeignKey("schools.urn"), primary_key=True)
    upn: Mapped[str] = mapped_column(String(UPN_LENGTH), primary_key=True)
    forename: Mapped[str] = mapped_column(String(ROSTER_FIELD_LIMITS["forename"]))
    surname: Mapped[str] = mapped_column(String(ROSTER_FIELD_LIMITS["surname"]))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    year_group: Mapped[int | None] = mapped_column(SmallInteger)
    fsm: Mapped[bool | None] = mapped_column(Boolean)
    sen: Mapped[str | None] = mapped_column(String(1))
    eal: Mapped[bool | None] = mapped_column(Boolean)
    ethnicity: Mapped[str | None] = mapped_column(String(ROSTER_FIELD_LIMITS["ethnicity"]))
    entry_date: Mapped[dt.date | None] = mapped_column(Date)
    leaving_date: Mapped[dt.date | None] = mapped_column(Date)
    roster_upload_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    on_roll: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """Whether the school's latest roster lists the pupil: the registers must mark them
    (migration 0005)."""


class Upload(Base):
    """One file received: what it was, who sent it, and what it changed."""

    __tablename__ = "uploads"
    __table_args__ = (
        Index("ix_uploads_school_kind_sha", "school_urn", "kind", "sha256"),
        # The target of the marks' (school, upload) key.
        UniqueConstraint("school_urn", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_urn: Mapped[int] = mapped_column(ForeignKey("schools.urn"))
    kind: Mapped[str] = mapped_column(String(20))  # roster | registers | display_codes
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(20))  # applied | unchanged
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mark(Base):
    """One canonical register mark: a pupil's statutory code for one session."""

    __tablename__ = "marks"
    # One key, checked once per mark: the upload a mark came from, of the mark's own school
    # (the upload's key guarantees the school). Two separate keys doubled the cost of storing
    # a week on PostgreSQL.
    __table_args__ = (
        ForeignKeyConstraint(["school_urn", "upload_id"], ["uploads.school_urn", "uploads.id"]),
    )

    # Key order (school, date, session, pupil): an upload reads and writes a school's date
    # range, so the primary key alone serves it (no second index to maintain per mark).
    school_urn: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    session: Mapped[str] = mapped_column(String(2), primary_key=True)
    upn: Mapped[str] = mapped_column(String(13), primary_key=True)
    code: Mapped[str] = mapped_column(String(2))
    minutes_late: Mapped[float | None] = mapped_column(Float)
    upload_id: Mapped[int] = mapped_column(Integer)


class Trajectory(Base):
    """A school-year's weekly trajectory (features.trajectory), derived from its marks.

    Stored as one Parquet blob per school-year: it is rebuilt or extended as a whole at upload
    time and read as a whole to compute features, so rows would only add cost. ``weeks`` and
    ``last_week_start`` let the service reason about it without reading the blob."""

    __tablename__ = "trajectories"

    school_urn: Mapped[int] = mapped_column(ForeignKey("schools.urn"), primary_key=True)
    academic_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    weeks: Mapped[int] = mapped_column(SmallInteger)
    first_week_start: Mapped[dt.date] = mapped_column(Date)
    last_week_start: Mapped[dt.date] = mapped_column(Date)
    last_mark_date: Mapped[dt.date] = mapped_column(Date)
    feature_schema_version: Mapped[str] = mapped_column(String(10))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnrolmentTotal(Base):
    """A pupil's year totals at one school (DfE arithmetic): the history the next year's
    features read ("last year's absence rate"), across every school the service holds."""

    __tablename__ = "enrolment_totals"
    __table_args__ = (Index("ix_enrolment_totals_upn_year", "upn", "academic_year"),)

    school_urn: Mapped[int] = mapped_column(ForeignKey("schools.urn"), primary_key=True)
    upn: Mapped[str] = mapped_column(String(13), primary_key=True)
    academic_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    possible_sessions: Mapped[int] = mapped_column(Integer)
    absence_sessions: Mapped[int] = mapped_column(Integer)


class ScoreRun(Base):
    """One scoring of a school's pupils for one as-of week, with the model that did it."""

    __tablename__ = "score_runs"

    school_urn: Mapped[int] = mapped_column(ForeignKey("schools.urn"), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    academic_year: Mapped[str] = mapped_column(String(7))
    week: Mapped[int] = mapped_column(SmallInteger)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(20))
    pupils: Mapped[int] = mapped_column(Integer)
    scored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Score(Base):
    """A pupil's risk as of one school week, with the figures the risk list shows."""

    __tablename__ = "scores"
    __table_args__ = (Index("ix_scores_list", "school_urn", "as_of", "rank"),)

    school_urn: Mapped[int] = mapped_column(ForeignKey("schools.urn"), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    upn: Mapped[str] = mapped_column(String(13), primary_key=True)
    academic_year: Mapped[str] = mapped_column(String(7))
    week: Mapped[int] = mapped_column(SmallInteger)
    year_group: Mapped[int | None] = mapped_column(SmallInteger)
    rank: Mapped[int] = mapped_column(Integer)
    """1 = the highest risk in the school that week."""
    risk: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(10))
    attendance_ytd: Mapped[float | None] = mapped_column(Float)
    attendance_change_4w: Mapped[float | None] = mapped_column(Float)
    emerging: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(20))


class Referral(Base):
    """A pupil referred for support: suggested → accepted → active → closed (with an outcome).

    The model's risk at referral time is kept: it is the expectation *without* support that
    any later impact figure must be compared with (MODELLING.md §7)."""

    __tablename__ = "referrals"
    __table_args__ = (Index("ix_referrals_school_status", "school_urn", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_urn: Mapped[int] = mapped_column(ForeignKey("schools.urn"))
    upn: Mapped[str] = mapped_column(String(13))
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    risk_at_referral: Mapped[float | None] = mapped_column(Float)
    as_of_at_referral: Mapped[dt.date | None] = mapped_column(Date)
    model_name_at_referral: Mapped[str | None] = mapped_column(String(100))
    model_version_at_referral: Mapped[str | None] = mapped_column(String(20))
    reasons_at_referral: Mapped[list[Any] | None] = mapped_column(JSON)
    created_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    practitioner_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    """Why the school refers (migration 0007)."""
    barriers: Mapped[list[str] | None] = mapped_column(JSON)
    """Barriers identified, from :data:`features.casework.BARRIERS`."""
    outcome_code: Mapped[str | None] = mapped_column(String(20))
    """The structured close outcome, from :data:`features.casework.OUTCOMES`."""


class ReferralContact(Base):
    """A dated, typed contact in a case record, with its author, the action agreed and a note
    shared with the school or private to the support service (migration 0007)."""

    __tablename__ = "referral_contacts"
    __table_args__ = (Index("ix_referral_contacts_referral", "referral_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(30))
    author_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    author: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApiKeySchool(Base):
    """The schools a ``school`` or ``practitioner`` key may touch."""

    __tablename__ = "api_key_schools"

    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    school_urn: Mapped[int] = mapped_column(ForeignKey("schools.urn"), primary_key=True)


class WebSession(Base):
    """A browser signed in with a key: the cookie holds a random id, only its SHA-256 is kept
    (migration 0006)."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who read or wrote pupil-level data, what, and when."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    key_id: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    school_urn: Mapped[int | None] = mapped_column(Integer)
    upn: Mapped[str | None] = mapped_column(String(13))
    records: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

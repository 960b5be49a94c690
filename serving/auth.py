"""API keys and what each role may touch.

A key is ``ews_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored (a fast hash is enough for a high-entropy secret: there is nothing to brute-force), with
its first characters as a ``prefix`` so a person can tell keys apart in ``ews keys list``.

Roles:

============  =========================================================================
``school``    its own school: uploads, risk list, pupils, suggesting referrals
``practitioner`` the schools assigned to the key: risk lists, pupils, referrals (caseload):
              accepting, activating and closing them
``analyst``   every school (read only) and the model page
``admin``     keys and schools; moving a referral on (no pupil-level data in the answer)
============  =========================================================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from serving.models import ApiKey, ApiKeySchool, School, WebSession, utcnow

KEY_PREFIX = "ews_"


class Role(StrEnum):
    """What a key is for (see the module docstring)."""

    SCHOOL = "school"
    PRACTITIONER = "practitioner"
    ANALYST = "analyst"
    ADMIN = "admin"


PUPIL_DATA_ROLES = frozenset({Role.SCHOOL, Role.PRACTITIONER, Role.ANALYST})
"""Roles that may read pupil-level data (each within its scope)."""


@dataclass(frozen=True)
class Principal:
    """The caller, as its key describes it."""

    key_id: int
    name: str
    role: Role
    schools: frozenset[int]

    @property
    def all_schools(self) -> bool:
        """Analysts see every school; admins manage every school (but not its pupils)."""
        return self.role in (Role.ANALYST, Role.ADMIN)

    def may_read_pupils(self, school_urn: int) -> bool:
        """Whether this key may read pupil-level data of ``school_urn``."""
        if self.role not in PUPIL_DATA_ROLES:
            return False
        return self.role is Role.ANALYST or school_urn in self.schools

    def may_upload(self, school_urn: int) -> bool:
        """Rosters and registers come from the school itself."""
        return self.role is Role.SCHOOL and school_urn in self.schools

    def may_refer(self, school_urn: int) -> bool:
        """Schools suggest referrals (and add notes); practitioners too, for their schools."""
        return self.role in (Role.SCHOOL, Role.PRACTITIONER) and school_urn in self.schools

    def may_move_referrals(self, school_urn: int) -> bool:
        """Accepting, activating and closing a referral is the practitioner's decision (for
        their schools), or an admin's (e.g. closing the caseload of someone who left); never
        the school's, which suggests."""
        if self.role is Role.ADMIN:
            return True
        return self.role is Role.PRACTITIONER and school_urn in self.schools


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new random key (shown once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class CreatedKey:
    """A key just created: the only time the secret itself is available."""

    id: int
    name: str
    role: Role
    schools: tuple[int, ...]
    key: str


def create_key(
    session: Session, *, role: Role | str, schools: Iterable[int] = (), name: str = ""
) -> CreatedKey:
    """Store a new key for ``role`` scoped to ``schools`` and return it with its secret.

    ``school`` keys need exactly one school, ``practitioner`` keys at least one, each registered
    with the service; ``analyst`` and ``admin`` keys are not scoped. Raises ``ValueError``
    otherwise (with the message to show).
    """
    role = Role(role)
    urns = tuple(sorted(set(int(s) for s in schools)))
    if role is Role.SCHOOL and len(urns) != 1:
        raise ValueError(
            "a school key is for exactly one school: give its URN once (ews keys create "
            '--school URN; the API: "schools": [URN])'
        )
    if role is Role.PRACTITIONER and not urns:
        raise ValueError(
            "a practitioner key needs the schools assigned (ews keys create --school URN "
            '--school URN ...; the API: "schools": [URN, ...])'
        )
    if role in (Role.ANALYST, Role.ADMIN) and urns:
        raise ValueError(f"an {role.value} key covers every school: give no schools")
    known = set(session.scalars(select(School.urn).where(School.urn.in_(urns))))
    unknown = [urn for urn in urns if urn not in known]
    if unknown:
        listed = ", ".join(map(str, unknown))
        raise ValueError(
            f"school {listed} is not registered with the service, so a key cannot be scoped to "
            "it: check the URN, or register the school first (POST /v1/schools with an admin key)"
        )
    key = generate_key()
    row = ApiKey(
        name=name or f"{role.value} key",
        prefix=key[: len(KEY_PREFIX) + 6],
        key_hash=hash_key(key),
        role=role.value,
    )
    session.add(row)
    session.flush()
    session.add_all(ApiKeySchool(key_id=row.id, school_urn=urn) for urn in urns)
    session.flush()
    return CreatedKey(id=row.id, name=row.name, role=role, schools=urns, key=key)


_KEY_LOOKUP = (
    select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKeySchool.school_urn)
    .outerjoin(ApiKeySchool, ApiKeySchool.key_id == ApiKey.id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)
"""The one query that authenticates a key: the key joined to its schools. Built once (it runs
on every request; building the expression costs more than SQLite takes to answer it)."""


def key_lookup(key: str) -> tuple[Any, dict[str, str]]:
    """The statement and parameters that look up a presented key."""
    return _KEY_LOOKUP, {"key_hash": hash_key(key)}


def authenticate(session: Session, key: str) -> Principal | None:
    """The principal for a presented key, or ``None`` if it is unknown or revoked."""
    return principal_of(session.execute(*key_lookup(key)).all())


def principal_of(rows: Sequence[Any]) -> Principal | None:
    """The principal from the rows of :func:`key_lookup` (``None``: no such key)."""
    if not rows:
        return None
    first = rows[0]
    urns = frozenset(r.school_urn for r in rows if r.school_urn is not None)
    return Principal(key_id=first.id, name=first.name, role=Role(first.role), schools=urns)


# --- browser sessions -------------------------------------------------------------------------


def start_web_session(session: Session, principal: Principal, hours: float) -> str:
    """A new browser session for ``principal`` lasting ``hours``: returns the id for the
    cookie (shown once; only its hash is stored, like a key's)."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            id_hash=hash_key(session_id),
            key_id=principal.key_id,
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
    )
    return session_id


_SESSION_LOOKUP = (
    select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKeySchool.school_urn)
    .join(WebSession, WebSession.key_id == ApiKey.id)
    .outerjoin(ApiKeySchool, ApiKeySchool.key_id == ApiKey.id)
    .where(
        WebSession.id_hash == bindparam("id_hash"),
        WebSession.expires_at > bindparam("now"),
        ApiKey.revoked_at.is_(None),
    )
)
"""A live session's key and its schools: the key's own lookup, through the session."""


def session_principal(session: Session, session_id: str) -> Principal | None:
    """The principal of a browser session (``None``: unknown, ended, expired, or its key was
    revoked)."""
    rows = session.execute(
        _SESSION_LOOKUP, {"id_hash": hash_key(session_id), "now": utcnow()}
    ).all()
    return principal_of(rows)


def end_web_session(session: Session, session_id: str) -> None:
    """Sign a browser out: its session id stops working at once."""
    row = session.get(WebSession, hash_key(session_id))
    if row is not None:
        session.delete(row)


def list_keys(session: Session) -> list[dict[str, Any]]:
    """Every key (never the secret): id, name, prefix, role, schools, created, revoked."""
    rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    scopes: dict[int, list[int]] = {}
    for key_id, urn in session.execute(select(ApiKeySchool.key_id, ApiKeySchool.school_urn)):
        scopes.setdefault(key_id, []).append(urn)
    return [
        {
            "id": r.id,
            "name": r.name,
            "prefix": r.prefix,
            "role": r.role,
            "schools": sorted(scopes.get(r.id, [])),
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
        }
        for r in rows
    ]


def revoke_key(session: Session, key_id: int, *, when: dt.datetime | None = None) -> bool:
    """Revoke a key by id; ``False`` if there is no such key (revoking twice is harmless)."""
    row = session.get(ApiKey, key_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = when or utcnow()
    return True

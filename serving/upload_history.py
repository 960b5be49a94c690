"""A school's upload history: what came in, when, and what changed (no pupil data)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from serving import audit
from serving.auth import Principal
from serving.db import Database
from serving.errors import Forbidden
from serving.models import Upload

HISTORY_SHOWN = 50


class UploadEntry(BaseModel):
    """One upload the service accepted (refusals change nothing and are in the audit trail)."""

    id: int
    kind: str
    filename: str
    received_at: dt.datetime
    outcome: str
    size_bytes: int
    changes: str


_COUNTS = {
    "pupils_in_file": "pupils in the file", "added": "added", "updated": "updated",
    "unchanged": "unchanged", "sessions": "sessions", "marks_new": "new marks",
    "marks_changed": "marks changed", "marks_unchanged": "marks unchanged", "codes": "codes",
}  # fmt: skip


def _changes(summary: dict[str, Any]) -> str:
    """The summary's counts in words (``"30 pupils in the file, 3 added"``), else its message."""
    words = [f"{summary[k]} {w}" for k, w in _COUNTS.items() if isinstance(summary.get(k), int)]
    return ", ".join(words) or str(summary.get("message") or "–")


def upload_history(db: Database, principal: Principal, urn: int) -> list[UploadEntry]:
    """The school's latest uploads, newest first: for the school's own key (which sends them)
    and the keys that may read its pupils."""
    if not (principal.may_upload(urn) or principal.may_read_pupils(urn)):
        raise Forbidden(f"this {principal.role.value} key may not see the uploads of school {urn}")
    with db.read_session() as session:
        rows = session.scalars(
            select(Upload).where(Upload.school_urn == urn)
            .order_by(Upload.received_at.desc(), Upload.id.desc()).limit(HISTORY_SHOWN)
        ).all()  # fmt: skip
        entries = [
            UploadEntry(
                id=r.id,
                kind=r.kind,
                filename=r.filename,
                received_at=r.received_at,
                outcome=r.outcome,
                size_bytes=r.size_bytes,
                changes=_changes(r.summary or {}),
            )  # fmt: skip
            for r in rows
        ]
    audit.record(db, principal, "uploads.read", school_urn=urn, records=len(entries))
    return entries

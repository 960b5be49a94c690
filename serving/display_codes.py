"""A school's display codes: the school-local marks its MIS shows for statutory codes.

SIMS can show a display code that differs from the statutory code (``9`` for ``Y``, DOMAIN.md
§1.1). A school sends its mapping as a CSV (``display_code,statutory_code``, read by
:func:`features.registers.read_display_codes`); it is kept on the school's row
(``schools.display_codes``) and every register the school uploads, or sends for stateless
scoring, is read through it. Marks are stored as statutory codes, so a new mapping changes
nothing already stored: it applies to the files that come after it.

Setting the mapping replaces it as a whole; a file with the header and no rows clears it.
A file with any error changes nothing (422 with the row-level report). The change, the upload
record and the audit record are committed in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from features.validation import ValidationReport
from serving import audit, store
from serving.auth import Principal
from serving.db import Database
from serving.models import School


def stored_display_codes(session: Session, urn: int) -> dict[str, str]:
    """The school's display code → statutory code mapping (empty if it has none)."""
    return dict(session.scalar(select(School.display_codes).where(School.urn == urn)) or {})


def display_codes_mapped(report: ValidationReport, filename: str) -> int:
    """How many of a register file's marks were read through the school's display codes
    (:func:`features.registers.read_register` counts them in the report's summary)."""
    return int((report.summary.get(filename) or {}).get("display_codes_mapped") or 0)


def apply_display_codes(
    db: Database,
    *,
    school_urn: int,
    display_codes: dict[str, str],
    data: bytes,
    filename: str,
    principal: Principal | None,
) -> dict[str, Any]:
    """Replace the school's mapping with ``display_codes`` (validated; empty: clear it) and
    record the upload and its audit record in the same transaction. Returns the summary."""
    digest = store.sha256_hex(data)
    with store.school_lock(school_urn), db.write() as session:
        # The school's lock and row lock: a register upload reads the mapping under the same
        # lock, so it uses the mapping from before this change or the one after, never a mix.
        school = session.scalar(select(School).where(School.urn == school_urn).with_for_update())
        if school is None:
            raise store.UploadRejected(
                404, {"message": f"school {school_urn} is not registered with the service"}
            )
        before = dict(school.display_codes or {})
        changed = before != display_codes
        outcome = "applied" if changed else "unchanged"
        upload = store.add_upload(
            session, school_urn, "display_codes", filename, data, digest, outcome, principal
        )
        school.display_codes = dict(display_codes) or None
        if not display_codes:
            message = (
                "The school has no display codes now: register marks are read as statutory "
                "codes (and Capita One symbols)."
                if before
                else "The school had no display codes; it still has none."
            )
        elif changed:
            message = (
                f"{len(display_codes)} display code(s) set: the school's register uploads are "
                "read through them from now on (marks already stored are not changed)."
            )
        else:
            message = "These display codes are already set: nothing changed."
        summary: dict[str, Any] = {
            "kind": "display_codes",
            "filename": filename,
            "changed": changed,
            "display_codes": dict(display_codes),
            "codes": len(display_codes),
            "previous_codes": len(before),
            "message": message,
        }
        upload.summary = summary
        audit.record_in(
            session,
            principal,
            "display_codes.upload",
            school_urn=school_urn,
            records=len(display_codes),
            detail={
                "upload_id": upload.id,
                "outcome": upload.outcome,
                "filename": filename,
                "sha256": digest,
                "codes": len(display_codes),
            },
        )
        return {"upload_id": upload.id, **summary}

"""A school's display codes: the school-local marks its MIS shows for statutory codes.

SIMS can show a display code that differs from the statutory code (``9`` for ``Y``, DOMAIN.md
§1.1). A school sends its mapping as a CSV (``display_code,statutory_code``, read by
:func:`features.registers.read_display_codes`); it is kept on the school's row
(``schools.display_codes``) and every register the school uploads, or sends for stateless
scoring, is read through it. Marks are stored as statutory codes, so a new mapping changes
nothing already stored: it applies to the files that come after it.

Setting the mapping replaces it as a whole; a file with the header and no rows clears it.
A file with any error changes nothing (422 with the row-level report). The change, the upload
record and the audit record are committed in one transaction
(:func:`serving.ingest.upload_display_codes`); registers read the mapping with
:func:`serving.store.rows.stored_display_codes`.
"""

from __future__ import annotations

from features.validation import ValidationReport


def display_codes_mapped(report: ValidationReport, filename: str) -> int:
    """How many of a register file's marks were read through the school's display codes
    (:func:`features.registers.read_register` counts them in the report's summary)."""
    return int((report.summary.get(filename) or {}).get("display_codes_mapped") or 0)

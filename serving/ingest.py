"""Uploads, one use case each: a school's roster, its registers and its display codes.

Each use case checks the key's permission once (:func:`permit`, before the file is read, so a
refused key never has 50 MB read for it), takes the school's lock once, does the work in one
transaction (the change, the upload record and its audit record are committed together or not
at all) and answers with a typed result, which is also the route's response model. A file
refused is a :class:`serving.errors.ServiceError` (the app answers it), audited here first.

Under the school's lock, from reading what a file is checked against to the commit:

* the file is checked against the roster and display codes as they are when it is stored;
* the model is taken then, not when the request arrived. A new champion is swapped in *before*
  every school is re-scored with it, one school at a time under this lock, so an upload either
  finishes first (and is re-scored) or takes the new model: stored scores never end on the old
  version.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from features import registers as readers
from features.validation import ValidationReport
from serving import audit
from serving.auth import Principal, Role
from serving.db import Database
from serving.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError, http_status
from serving.modelstore import LoadedModel, ModelHolder
from serving.pipeline import ScoringConfig
from serving.schemas import (
    DisplayCodesUploadResult,
    IncompleteWeek,
    RegisterUploadResult,
    RosterUploadResult,
    ScoringOutcome,
)
from serving.schemas import ValidationReport as ValidationReportOut
from serving.store import rescoring, rows, trajectories
from serving.uploads import ReceivedFile

Kind = Literal["roster", "registers", "display_codes"]


@dataclass(frozen=True)
class UploadPermit:
    """A key's permission to send one kind of file for one school, as :func:`permit` granted
    it: the use cases take a permit, so none can run unchecked and none checks again."""

    principal: Principal
    urn: int
    kind: Kind

    @property
    def action(self) -> str:
        """The audit action of this kind of upload (``registers.upload``…)."""
        return f"{self.kind}.upload"


def _may_send(principal: Principal, urn: int, kind: Kind) -> bool:
    """Rosters and registers come from the school's own key; display codes from it or an
    admin's."""
    if kind == "display_codes" and principal.role is Role.ADMIN:
        return True
    return principal.may_upload(urn)


def permit(db: Database, principal: Principal, urn: int, kind: Kind) -> UploadPermit:
    """Check once that ``principal`` may send ``kind`` for school ``urn`` and that the service
    holds the school. A refused key is audited (who tried what) and refused (:class:`Forbidden`);
    an unknown school is :class:`NotFound`."""
    if not _may_send(principal, urn, kind):
        refusal = Forbidden(
            f"this {principal.role.value} key may not upload for school {urn}: rosters and "
            "registers come from the school's own key"
            if kind != "display_codes"
            else f"this {principal.role.value} key may not set the display codes of school "
            f"{urn}: they come from the school's own key (or an admin key)"
        )
        audit.record(
            db,
            principal,
            f"{kind}.upload",
            school_urn=urn,
            detail={"outcome": "forbidden", "status": http_status(refusal)},
        )
        raise refusal
    with db.read_session() as session:
        if rows.get_school(session, urn) is None:
            raise NotFound(f"school {urn} is not registered with the service")
    return UploadPermit(principal, urn, kind)


ModelSupply = ModelHolder | LoadedModel | None
"""Where an upload takes its model from: the app's holder (read under the school's lock), a
model given (tests, tools), or none (stored unscored)."""


def current_model(model: ModelSupply) -> LoadedModel | None:
    """The model to score with now: a holder's current model, or the one given."""
    if isinstance(model, ModelHolder):
        return model.current
    return model


_NOT_BLANK = re.compile(rb"\S")
_BOM = b"\xef\xbb\xbf"


def _check_not_empty(file: ReceivedFile) -> None:
    """A file of nothing but blanks (and a byte-order mark) is refused. The search stops at
    the first character that is not blank: no copy of a 50 MB upload is made to find out."""
    start = len(_BOM) if file.data.startswith(_BOM) else 0
    if _NOT_BLANK.search(file.data, start) is None:
        raise Invalid(
            f"{file.filename} is empty; nothing was stored",
            fix="export the file again from your MIS",
        )


def report_of(report: ValidationReport) -> ValidationReportOut:
    """A reader's validation report as the API answers it."""
    return ValidationReportOut.model_validate(report.to_dict())


def _has_errors(file: ReceivedFile, report: ValidationReport, changed: str = "stored") -> None:
    if not report.ok:
        raise Invalid(f"{file.filename} has errors; nothing was {changed}", report=report.to_dict())


@contextmanager
def _refusals_audited(db: Database, permit: UploadPermit, file: ReceivedFile) -> Iterator[None]:
    """Audit any refusal of the upload (:func:`_audit_refusal`) on its way out."""
    try:
        yield
    except ServiceError as exc:
        _audit_refusal(db, permit, file, exc)
        raise


def _audit_refusal(
    db: Database, permit: UploadPermit, file: ReceivedFile, exc: ServiceError
) -> None:
    """Record a refused upload (who tried what, and the answer) before the answer is sent:
    a 409 about a contradicting roster quotes stored dates of birth, a 422 report quotes the
    file's values."""
    report = exc.details.get("report") or {}
    audit.record(
        db,
        permit.principal,
        permit.action,
        school_urn=permit.urn,
        records=int(exc.details.get("total_contradictions") or 0),
        detail={
            "outcome": "rejected",
            "status": http_status(exc),
            "filename": file.filename,
            "sha256": rows.sha256_hex(file.data),
            "size_bytes": len(file.data),
            "errors": int(
                (report.get("counts") or {}).get("errors", len(report.get("errors", [])))
            ),
            "message": exc.message,
        },
    )


# --- rosters ----------------------------------------------------------------------------------


def upload_roster(
    db: Database,
    permit: UploadPermit,
    file: ReceivedFile,
    model: ModelSupply,
    scoring: ScoringConfig,
    *,
    accept_changes: bool = False,
    today: dt.date | None = None,
) -> RosterUploadResult:
    """Store a roster: add new pupils, update changed ones, keep the rest (no longer on roll).

    A pupil whose date of birth or sex differs from the stored one is a contradiction: the
    whole roster is refused (:class:`Conflict`) unless ``accept_changes``. Re-scores the school
    when anything the features read changed, or pupils left the roll."""
    with _refusals_audited(db, permit, file):
        return _roster(db, permit, file, model, scoring, accept_changes, today)


def _roster(
    db: Database,
    permit: UploadPermit,
    file: ReceivedFile,
    model: ModelSupply,
    scoring: ScoringConfig,
    accept_changes: bool,
    today: dt.date | None,
) -> RosterUploadResult:
    _check_not_empty(file)
    roster, report = readers.read_roster(file.data, filename=file.filename)
    _has_errors(file, report)
    records = rows.roster_records(roster)
    # The file's row numbers (as a spreadsheet shows them) when the reader kept them.
    lines = [int(r) for r in roster.index] if roster.index.name == "row" else []
    lines = lines or list(range(2, len(records) + 2))
    too_long = rows.too_long(records, lines, file.filename)
    if too_long:
        raise Invalid(
            f"{file.filename} has errors; nothing was stored",
            report={"ok": False, "files": [file.filename], "errors": too_long[:50],
                    "warnings": [], "counts": {"errors": len(too_long), "warnings": 0,
                                               "errors_by_kind": {"value_too_long": len(too_long)},
                                               "warnings_by_kind": {}},
                    "summary": {}},
        )  # fmt: skip
    urn = permit.urn
    with rows.school_lock(urn):
        scoring_model = current_model(model)
        with db.write() as session:
            school = rows.lock_school(session, urn)
            stored = rows.stored_pupils(session, urn)
            contradictions = _contradictions(stored, records, lines, file.filename)
            if contradictions and not accept_changes:
                raise Conflict(
                    f"{len(contradictions)} row(s) contradict the roster stored earlier; "
                    "nothing was changed",
                    contradictions=contradictions[:50],
                    total_contradictions=len(contradictions),
                )
            upload = rows.add_upload(
                session, urn, "roster", file.filename, file.data,
                rows.sha256_hex(file.data), "applied", permit.principal,
            )  # fmt: skip
            written = rows.write_roster(session, urn, records, stored, upload.id)
            listed = {r["upn"] for r in records}
            outcome: ScoringOutcome | None = None
            message = None
            if written.changed:
                school.data_version += 1
            else:
                upload.outcome = "unchanged"
                message = "This roster changes nothing: every pupil is already stored."
            if (written.features_changed or written.left_roll) and scoring_model is not None:
                outcome = rescoring.rescore_school(
                    session, urn, scoring_model, scoring, today=today
                )
            result = RosterUploadResult(
                upload_id=upload.id,
                filename=file.filename,
                changed=written.changed,
                pupils_in_file=len(records),
                added=written.added,
                updated=written.updated,
                unchanged=written.unchanged,
                not_in_this_roster_kept=sum(1 for upn in stored if upn not in listed),
                contradictions_accepted=len(contradictions),
                message=message,
                scoring=outcome,
                report=report_of(report),
            )
            upload.summary = result.model_dump(mode="json", exclude={"upload_id", "report"})
            rows.audit_upload(session, permit.principal, permit.action, urn, upload, len(records))
    if written.added:
        db.analyze(["pupils"])
    return result


def _contradictions(
    stored: dict[str, Any], records: list[dict[str, Any]], lines: list[int], filename: str
) -> list[dict[str, Any]]:
    """Rows whose date of birth or sex differs from the stored pupil's (a mistyped UPN?)."""
    found = []
    for line, record in zip(lines, records, strict=True):
        before = stored.get(record["upn"])
        if before is None:
            continue
        for column in rows.IDENTITY_COLUMNS:
            old, new = getattr(before, column), record[column]
            if old is not None and new is not None and old != new:
                found.append(
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
    return found


# --- registers --------------------------------------------------------------------------------


def upload_registers(
    db: Database,
    permit: UploadPermit,
    file: ReceivedFile,
    model: ModelSupply,
    scoring: ScoringConfig,
    *,
    today: dt.date | None = None,
) -> RegisterUploadResult:
    """Validate a register against the stored roster, store its new and changed marks, bring
    the trajectory and year totals up to date and re-score — in one transaction.

    A week whose register does not cover every pupil on roll is stored but not scored: the
    result names the missing pupils (``incomplete_weeks``) and the risk list stays as it was
    until their marks arrive."""
    with _refusals_audited(db, permit, file):
        return _registers(db, permit, file, model, scoring, today)


def _registers(
    db: Database,
    permit: UploadPermit,
    file: ReceivedFile,
    model: ModelSupply,
    scoring: ScoringConfig,
    today: dt.date | None,
) -> RegisterUploadResult:
    _check_not_empty(file)
    urn = permit.urn
    # (Pupils are never removed from a roster, so another process adding some between this
    # read and the transaction's row lock cannot make a valid file invalid.)
    with rows.school_lock(urn):
        scoring_model = current_model(model)
        with db.read_session() as session:
            roster = rows.roster_frame(session, urn)
            display_codes = rows.stored_display_codes(session, urn)
        if roster.empty:
            raise Conflict(
                f"school {urn} has no roster yet; nothing was stored",
                fix=f"upload the roster first: POST /v1/schools/{urn}/roster",
            )
        marks, report = readers.read_register(
            file.data,
            school_urn=urn,
            roster=roster,
            display_codes=display_codes or None,
            filename=file.filename,
        )
        _has_errors(file, report)
        result = _store_registers(db, permit, file, marks, report, scoring_model, scoring, today)
    if result.trajectory == "built":  # a school-year's first load: bulk change
        db.analyze(["marks", "scores", "score_runs", "enrolment_totals", "pupils"])
    return result


def _academic_year(marks: pd.DataFrame) -> str:
    from features.calendar import academic_year_of

    if marks.empty:
        raise Invalid("the file holds no register marks")
    years = {academic_year_of(d) for d in (marks["date"].min(), marks["date"].max())}
    if len(years) != 1:
        raise Invalid(
            "the file spans two academic years",
            fix="send one file per academic year (1 August to 31 July)",
        )
    return years.pop()


def _store_registers(
    db: Database,
    permit: UploadPermit,
    file: ReceivedFile,
    marks: pd.DataFrame,
    report: ValidationReport,
    model: LoadedModel | None,
    scoring: ScoringConfig,
    today: dt.date | None,
) -> RegisterUploadResult:
    """The write of :func:`upload_registers` (the school's lock is held)."""
    from serving.display_codes import display_codes_mapped

    urn = permit.urn
    digest = rows.sha256_hex(file.data)
    file_marks = rows.canonical_marks(marks)
    academic_year = _academic_year(file_marks)
    mondays = sorted({d - dt.timedelta(days=d.weekday()) for d in pd.unique(file_marks["date"])})
    with db.write() as session:
        school = rows.lock_school(session, urn)
        diff = rows.diff_marks(session, urn, file_marks)
        changed = bool(diff.new or diff.changed)
        earlier = rows.earlier_upload(session, urn, "registers", digest)
        upload = rows.add_upload(
            session, urn, "registers", file.filename, file.data, digest,
            "applied" if changed else "unchanged", permit.principal,
        )  # fmt: skip
        result = RegisterUploadResult(
            upload_id=upload.id,
            filename=file.filename,
            academic_year=academic_year,
            pupils=int(file_marks["upn"].nunique()),
            sessions=len(file_marks),
            weeks_covered=mondays,
            marks_new=diff.new,
            marks_changed=diff.changed,
            marks_unchanged=diff.unchanged,
            warnings=len(report.warnings),
            changed=changed,
            display_codes_mapped=display_codes_mapped(report, file.filename),
            report=report_of(report),
        )
        if not changed:
            result.message = (
                "This file changes nothing: every mark in it is already stored"
                + (f" (the same file was uploaded before as upload {earlier})" if earlier else "")
                + "."
            )
        else:
            school.data_version += 1
            rows.upsert_marks(session, urn, diff.to_write, upload.id, new_only=not diff.changed)
            updated = trajectories.update_trajectory(session, urn, academic_year, file_marks)
            trajectories.update_enrolment_totals(session, urn, academic_year, updated.frame)
            result.trajectory = updated.mode
            result.school_weeks_covered = _school_weeks(updated.frame, mondays)
            result.incomplete_weeks = _incomplete(
                session, urn, updated.frame, result.school_weeks_covered
            )
            result.message = _incomplete_message(result.incomplete_weeks)
            if model is None:
                result.scoring = ScoringOutcome(scored=False, reason="no model is loaded")
            else:
                result.scoring = rescoring.rescore_school(
                    session,
                    urn,
                    model,
                    scoring,
                    today=today,
                    trajectories={academic_year: updated.frame},
                    changed_from=min(diff.to_write["date"]),
                    changed_year=academic_year,
                )
        upload.summary = result.model_dump(
            mode="json", exclude={"upload_id", "report", "display_codes_mapped"}
        )
        rows.audit_upload(session, permit.principal, permit.action, urn, upload, len(file_marks))
    return result


def _school_weeks(trajectory: pd.DataFrame, mondays: list[dt.date]) -> list[int]:
    """The school week numbers of the file's weeks."""
    starts = pd.to_datetime(trajectory["week_start"]).dt.date
    return sorted({int(w) for w in trajectory.loc[starts.isin(mondays), "week"]})


def _incomplete(
    session: Any, urn: int, trajectory: pd.DataFrame, weeks: list[int]
) -> list[IncompleteWeek]:
    """The file's weeks whose register does not cover every pupil on roll."""
    pupils = rows.on_roll(session, urn)
    gaps = (rescoring.incomplete_week(trajectory, pupils, week) for week in weeks)
    return [gap for gap in gaps if gap is not None]


def _incomplete_message(gaps: list[IncompleteWeek]) -> str | None:
    """The warning a school reads when its register leaves pupils on roll without marks."""
    if not gaps:
        return None
    parts = [
        f"week {g.week} (from {g.week_start.isoformat()}) has no marks for {g.missing} of the "
        f"{g.pupils_on_roll} pupils on roll"
        for g in gaps
    ]
    return (
        "The register was stored, but "
        + "; ".join(parts)
        + ". A week is scored only once its register covers every pupil on roll, so the risk "
        "list stays as it was: send the missing pupils' marks (incomplete_weeks names them), "
        "or a roster without the pupils who have left."
    )


# --- display codes ----------------------------------------------------------------------------


def upload_display_codes(
    db: Database, permit: UploadPermit, file: ReceivedFile
) -> DisplayCodesUploadResult:
    """Replace the school's display codes with the file's mapping (a header without rows
    clears it); a file with errors changes nothing. See :mod:`serving.display_codes`."""
    with _refusals_audited(db, permit, file):
        return _display_codes(db, permit, file)


def _display_codes(
    db: Database, permit: UploadPermit, file: ReceivedFile
) -> DisplayCodesUploadResult:
    _check_not_empty(file)
    display_codes, report = readers.read_display_codes(
        file.data, filename=file.filename, allow_no_rows=True
    )
    _has_errors(file, report, changed="changed")
    urn = permit.urn
    digest = rows.sha256_hex(file.data)
    # The school's lock and row lock: a register upload reads the mapping under the same lock,
    # so it uses the mapping from before this change or the one after, never a mix.
    with rows.school_lock(urn), db.write() as session:
        school = rows.lock_school(session, urn)
        before = dict(school.display_codes or {})
        changed = before != display_codes
        upload = rows.add_upload(
            session, urn, "display_codes", file.filename, file.data, digest,
            "applied" if changed else "unchanged", permit.principal,
        )  # fmt: skip
        school.display_codes = dict(display_codes) or None
        result = DisplayCodesUploadResult(
            upload_id=upload.id,
            filename=file.filename,
            changed=changed,
            display_codes=dict(display_codes),
            codes=len(display_codes),
            previous_codes=len(before),
            message=_display_codes_message(before, display_codes, changed),
            report=report_of(report),
        )
        upload.summary = result.model_dump(mode="json", exclude={"upload_id", "report"})
        audit.record_in(
            session,
            permit.principal,
            permit.action,
            school_urn=urn,
            records=len(display_codes),
            detail={
                "upload_id": upload.id,
                "outcome": upload.outcome,
                "filename": file.filename,
                "sha256": digest,
                "codes": len(display_codes),
            },
        )
    return result


def _display_codes_message(before: dict[str, str], after: dict[str, str], changed: bool) -> str:
    if not after:
        return (
            "The school has no display codes now: register marks are read as statutory codes "
            "(and Capita One symbols)."
            if before
            else "The school had no display codes; it still has none."
        )
    if changed:
        return (
            f"{len(after)} display code(s) set: the school's register uploads are read through "
            "them from now on (marks already stored are not changed)."
        )
    return "These display codes are already set: nothing changed."

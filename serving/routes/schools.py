"""Schools, and the uploads schools send: rosters, registers and display codes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from features.schema import PHASES
from serving import audit, store
from serving.auth import Principal, Role
from serving.db import Database
from serving.deps import CurrentKey, DatabaseDep, HolderDep, SessionDep, SettingsDep, forbidden
from serving.display_codes import (
    apply_display_codes,
    display_codes_mapped,
    stored_display_codes,
)
from serving.models import Pupil, School
from serving.modelstore import LoadedModel, ModelHolder
from serving.pipeline import ScoringConfig
from serving.uploads import read_upload

router = APIRouter(prefix="/v1/schools", tags=["schools"])


class SchoolIn(BaseModel):
    """A school to register with the service."""

    urn: int = Field(ge=100000, le=999999, description="Unique reference number (6 digits)")
    name: str = Field(min_length=1, max_length=200)
    phase: str = Field(description="primary, secondary or special")
    la: str | None = Field(default=None, max_length=100)


def _scoring(settings: Any) -> ScoringConfig:
    return ScoringConfig(
        high_risk_threshold=settings.high_risk_threshold,
        medium_risk_threshold=settings.medium_risk_threshold,
        emerging_below=settings.emerging_below,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_school(body: SchoolIn, principal: CurrentKey, db: DatabaseDep) -> dict[str, Any]:
    """Register a school (admin keys)."""
    if principal.role is not Role.ADMIN:
        raise forbidden("only an admin key may register schools")
    if body.phase not in PHASES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"message": f"phase {body.phase!r} is not one of {', '.join(PHASES)}"},
        )
    with db.write() as session:
        if session.get(School, body.urn) is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail={"message": f"school {body.urn} already exists"}
            )
        session.add(School(urn=body.urn, name=body.name, phase=body.phase, la=body.la))
    return body.model_dump()


@router.get("")
def list_schools(principal: CurrentKey, session: SessionDep) -> list[dict[str, Any]]:
    """The schools this key may see, with the latest scoring and its pupils.

    ``pupils`` counts every pupil the school's rosters hold, earlier years' included;
    ``latest_scores.pupils`` counts the pupils on roll in the latest scored week."""
    query = select(School).order_by(School.urn)
    if not principal.all_schools:
        query = query.where(School.urn.in_(principal.schools))
    schools = session.scalars(query).all()
    counts = dict(
        session.execute(select(Pupil.school_urn, func.count()).group_by(Pupil.school_urn)).all()
    )
    out = []
    for school in schools:
        run = store.latest_run(session, school.urn)
        out.append(
            {
                "urn": school.urn,
                "name": school.name,
                "phase": school.phase,
                "la": school.la,
                "pupils": int(counts.get(school.urn, 0)),
                "latest_scores": None
                if run is None
                else {
                    "as_of": run.as_of.isoformat(),
                    "week": run.week,
                    "model_name": run.model_name,
                    "model_version": run.model_version,
                    "pupils": run.pupils,
                },
            }
        )
    return out


def _refuse(principal: Principal, db: Database, urn: int, action: str, message: str) -> None:
    """Audit a refused upload (who tried what) and answer 403."""
    audit.record(
        db, principal, action, school_urn=urn, detail={"outcome": "forbidden", "status": 403}
    )
    raise forbidden(message)


def _check_upload_scope(principal: Principal, db: Database, urn: int, kind: str) -> None:
    if not principal.may_upload(urn):
        _refuse(
            principal,
            db,
            urn,
            f"{kind}.upload",
            f"this {principal.role.value} key may not upload for school {urn}: "
            "rosters and registers come from the school's own key",
        )
    _check_registered(db, urn)


def _check_registered(db: Database, urn: int) -> None:
    with db.read_session() as session:
        if session.get(School, urn) is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail={"message": f"school {urn} is not registered with the service"},
            )


def _may_set_display_codes(principal: Principal, urn: int) -> bool:
    """A school's display codes come from its own key, or an admin's."""
    return principal.role is Role.ADMIN or principal.may_upload(urn)


def _check_display_codes_scope(principal: Principal, db: Database, urn: int) -> None:
    if not _may_set_display_codes(principal, urn):
        _refuse(
            principal,
            db,
            urn,
            "display_codes.upload",
            f"this {principal.role.value} key may not set the display codes of school {urn}: "
            "they come from the school's own key (or an admin key)",
        )
    _check_registered(db, urn)


def _rejected(exc: store.UploadRejected) -> JSONResponse:
    return JSONResponse({"detail": exc.body}, status_code=exc.status_code)


_NOT_BLANK = re.compile(rb"\S")
_BOM = b"\xef\xbb\xbf"


def _check_not_empty(data: bytes, filename: str) -> None:
    """422 for a file of nothing but blanks (and a byte-order mark). The search stops at the
    first character that is not blank: no copy of a 50 MB upload is made to find out."""
    if _NOT_BLANK.search(data, len(_BOM) if data.startswith(_BOM) else 0) is None:
        raise store.UploadRejected(
            422,
            {
                "message": f"{filename} is empty; nothing was stored",
                "fix": "export the file again from your MIS",
            },
        )


@router.post("/{urn}/roster")
async def upload_roster(
    urn: int,
    request: Request,
    principal: CurrentKey,
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
    accept_changes: Annotated[
        bool, Query(description="accept rows whose date of birth or sex contradicts the stored")
    ] = False,
) -> Any:
    """Upload the school's roster CSV (pupils on roll); answers with what changed."""
    await run_in_threadpool(_check_upload_scope, principal, db, urn, "roster")
    received = await read_upload(request, settings.max_upload_bytes)
    try:
        return await run_in_threadpool(
            roster_upload,
            db,
            principal,
            urn,
            received.data,
            received.filename,
            holder,  # the model is taken inside the school's lock (see register_upload)
            _scoring(settings),
            accept_changes,
        )
    except store.UploadRejected as exc:
        return _rejected(exc)


@router.post("/{urn}/registers")
async def upload_registers(
    urn: int,
    request: Request,
    principal: CurrentKey,
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
) -> Any:
    """Upload a register CSV (long or wide); answers with the validation report and changes."""
    await run_in_threadpool(_check_upload_scope, principal, db, urn, "registers")
    received = await read_upload(request, settings.max_upload_bytes)
    try:
        return await run_in_threadpool(
            register_upload,
            db,
            principal,
            urn,
            received.data,
            received.filename,
            holder,  # the model is taken inside the school's lock (see register_upload)
            _scoring(settings),
        )
    except store.UploadRejected as exc:
        return _rejected(exc)


@router.put("/{urn}/display-codes")
async def put_display_codes(
    urn: int,
    request: Request,
    principal: CurrentKey,
    db: DatabaseDep,
    settings: SettingsDep,
) -> Any:
    """Set the school's display codes: a CSV `display_code,statutory_code`, one row per code
    its MIS shows (e.g. `9,Y`), as the form field `file` or the raw body (`text/csv`,
    `?filename=`). Replaces the whole mapping; a header without rows clears it; a file with
    errors changes nothing (422 with the row-level report). School key or admin key."""
    await run_in_threadpool(_check_display_codes_scope, principal, db, urn)
    received = await read_upload(request, settings.max_upload_bytes)
    try:
        return await run_in_threadpool(
            display_codes_upload, db, principal, urn, received.data, received.filename
        )
    except store.UploadRejected as exc:
        return _rejected(exc)


@router.get("/{urn}/display-codes")
def get_display_codes(urn: int, principal: CurrentKey, db: DatabaseDep) -> dict[str, Any]:
    """The school's display codes (display code → statutory code) its registers are read
    through; `{}` when it has none."""
    if not (principal.all_schools or urn in principal.schools):
        raise forbidden(
            f"this {principal.role.value} key may not read the display codes of school {urn}"
        )
    _check_registered(db, urn)
    with db.read_session() as session:
        display_codes = stored_display_codes(session, urn)
    audit.record(db, principal, "display_codes.read", school_urn=urn, records=len(display_codes))
    return {"school_urn": urn, "display_codes": display_codes, "codes": len(display_codes)}


def display_codes_upload(
    db: Database, principal: Principal, urn: int, data: bytes, filename: str
) -> dict[str, Any]:
    """The path behind ``PUT /v1/schools/{urn}/display-codes`` (refusals audited)."""
    from features.registers import read_display_codes

    try:
        if not _may_set_display_codes(principal, urn):
            raise store.UploadRejected(
                403, {"message": f"this key may not set the display codes of school {urn}"}
            )
        _check_not_empty(data, filename)
        display_codes, report = read_display_codes(data, filename=filename, allow_no_rows=True)
        if not report.ok:
            raise store.UploadRejected(
                422,
                {
                    "message": f"{filename} has errors; nothing was changed",
                    "report": report.to_dict(),
                },
            )
        summary = apply_display_codes(
            db,
            school_urn=urn,
            display_codes=display_codes,
            data=data,
            filename=filename,
            principal=principal,
        )
    except store.UploadRejected as exc:
        audit_rejection(db, principal, "display_codes.upload", urn, filename, data, exc)
        raise
    summary["report"] = report.to_dict()
    return summary


def audit_rejection(
    db: Database,
    principal: Principal,
    action: str,
    urn: int,
    filename: str,
    data: bytes,
    exc: store.UploadRejected,
) -> None:
    """Record a refused upload (who tried what, and the answer) before the answer is sent:
    a 409 about a contradicting roster quotes stored dates of birth, a 422 report quotes the
    file's values."""
    report = exc.body.get("report") or {}
    audit.record(
        db,
        principal,
        action,
        school_urn=urn,
        records=int(exc.body.get("total_contradictions") or 0),
        detail={
            "outcome": "rejected",
            "status": exc.status_code,
            "filename": filename,
            "sha256": store.sha256_hex(data),
            "size_bytes": len(data),
            "errors": int(
                (report.get("counts") or {}).get("errors", len(report.get("errors", [])))
            ),
            "message": exc.body.get("message"),
        },
    )


def register_upload(
    db: Database,
    principal: Principal,
    urn: int,
    data: bytes,
    filename: str,
    model: ModelHolder | LoadedModel | None,
    scoring: ScoringConfig,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The register upload path behind ``POST /v1/schools/{urn}/registers``.

    Validates against the stored roster, stores the marks atomically (with the audit record),
    updates the trajectory and re-scores; raises :class:`serving.store.UploadRejected` for a
    file that changes nothing because it is wrong (after auditing the refusal)."""
    try:
        return _register_upload(db, principal, urn, data, filename, model, scoring, today)
    except store.UploadRejected as exc:
        audit_rejection(db, principal, "registers.upload", urn, filename, data, exc)
        raise


def current_model(model: ModelHolder | LoadedModel | None) -> LoadedModel | None:
    """The model to score with now: a holder's current model, or the one given."""
    if isinstance(model, ModelHolder):
        return model.current
    return model


def _register_upload(
    db: Database,
    principal: Principal,
    urn: int,
    data: bytes,
    filename: str,
    model: ModelHolder | LoadedModel | None,
    scoring: ScoringConfig,
    today: dt.date | None,
) -> dict[str, Any]:
    from features.registers import read_register

    if not principal.may_upload(urn):
        raise store.UploadRejected(403, {"message": f"this key may not upload for school {urn}"})
    _check_not_empty(data, filename)
    # Everything from reading the roster to the commit happens under the school's lock:
    # * the file is checked against the roster as it is when the marks are stored;
    # * the model is taken here, not when the request arrived. A new champion is swapped in
    #   *before* every school is re-scored with it, one school at a time under this lock, so an
    #   upload either finishes first (and is re-scored) or takes the new model: the stored
    #   scores never end on the old version.
    # (Pupils are never removed from a roster, so another process adding some between this
    # read and the transaction's row lock cannot make a valid file invalid.)
    with store.school_lock(urn):
        scoring_model = current_model(model)
        with db.read_session() as session:
            roster = store.roster_frame(session, urn)
            display_codes = stored_display_codes(session, urn)
        if roster.empty:
            raise store.UploadRejected(
                409,
                {
                    "message": f"school {urn} has no roster yet; nothing was stored",
                    "fix": f"upload the roster first: POST /v1/schools/{urn}/roster",
                },
            )
        marks, report = read_register(
            data,
            school_urn=urn,
            roster=roster,
            display_codes=display_codes or None,
            filename=filename,
        )
        if not report.ok:
            raise store.UploadRejected(
                422,
                {
                    "message": f"{filename} has errors; nothing was stored",
                    "report": report.to_dict(),
                },
            )
        summary = store.apply_registers(
            db,
            school_urn=urn,
            marks=marks,
            data=data,
            filename=filename,
            principal=principal,
            model=scoring_model,
            scoring=scoring,
            warnings=len(getattr(report, "warnings", []) or []),
            today=today,
        )
    if summary.get("trajectory") == "built":  # a school-year's first load: bulk change
        db.analyze(["marks", "scores", "score_runs", "enrolment_totals", "pupils"])
    summary["display_codes_mapped"] = display_codes_mapped(report, filename)
    summary["report"] = report.to_dict()
    return summary


def roster_upload(
    db: Database,
    principal: Principal,
    urn: int,
    data: bytes,
    filename: str,
    model: ModelHolder | LoadedModel | None,
    scoring: ScoringConfig,
    accept_changes: bool = False,
) -> dict[str, Any]:
    """The roster upload path behind ``POST /v1/schools/{urn}/roster`` (refusals audited)."""
    try:
        return _roster_upload(db, principal, urn, data, filename, model, scoring, accept_changes)
    except store.UploadRejected as exc:
        audit_rejection(db, principal, "roster.upload", urn, filename, data, exc)
        raise


def _roster_upload(
    db: Database,
    principal: Principal,
    urn: int,
    data: bytes,
    filename: str,
    model: ModelHolder | LoadedModel | None,
    scoring: ScoringConfig,
    accept_changes: bool,
) -> dict[str, Any]:
    from features.registers import read_roster

    if not principal.may_upload(urn):
        raise store.UploadRejected(403, {"message": f"this key may not upload for school {urn}"})
    _check_not_empty(data, filename)
    roster, report = read_roster(data, filename=filename)
    if not report.ok:
        raise store.UploadRejected(
            422,
            {"message": f"{filename} has errors; nothing was stored", "report": report.to_dict()},
        )
    with store.school_lock(urn):  # the model is taken under the lock: see _register_upload
        summary = store.apply_roster(
            db,
            school_urn=urn,
            roster=roster,
            data=data,
            filename=filename,
            principal=principal,
            accept_changes=accept_changes,
            model=current_model(model),
            scoring=scoring,
        )
    if summary.get("added"):
        db.analyze(["pupils"])
    summary["report"] = report.to_dict()
    return summary

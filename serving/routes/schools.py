"""Schools, and the uploads schools send: rosters, registers and display codes.

Each upload route checks the key (:func:`serving.ingest.permit`) before it reads the file, then
streams the file (:mod:`serving.uploads`) and hands it to its use case in the thread pool: only
the streamed read runs on the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from serving import audit, ingest
from serving.deps import CurrentKey, DatabaseDep, HolderDep, SessionDep, SettingsDep, forbidden
from serving.errors import NotFound
from serving.schemas import (
    DisplayCodes,
    DisplayCodesUploadResult,
    RegisterUploadResult,
    RosterUploadResult,
    SchoolIn,
    SchoolSummary,
    errors,
    file_body,
)
from serving.schools import register_school, schools_in_scope
from serving.store import rows
from serving.uploads import read_upload

router = APIRouter(prefix="/v1/schools", tags=["schools"])

UrnPath = Annotated[int, Path(ge=100000, le=999999, description="The school's URN (6 digits)")]
_UPLOAD_ERRORS = errors(400, 401, 403, 404, 409, 413, 415, 422, 503)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SchoolIn,
    responses=errors(400, 401, 403, 409, 422, 503),
)
def create_school(body: SchoolIn, principal: CurrentKey, db: DatabaseDep) -> SchoolIn:
    """Register a school (admin keys)."""
    return register_school(db, principal, body)


@router.get("", response_model=list[SchoolSummary], responses=errors(401, 503))
def list_schools(principal: CurrentKey, session: SessionDep) -> list[SchoolSummary]:
    """The schools this key may see, with the latest scoring and its pupils.

    ``pupils`` counts every pupil the school's rosters hold, earlier years' included;
    ``latest_scores.pupils`` counts the pupils on roll in the latest scored week."""
    return schools_in_scope(session, principal)


@router.post(
    "/{urn}/roster",
    response_model=RosterUploadResult,
    responses=_UPLOAD_ERRORS,
    openapi_extra=file_body("file"),
)
async def upload_roster(
    urn: UrnPath,
    request: Request,
    principal: CurrentKey,
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
    accept_changes: Annotated[
        bool, Query(description="accept rows whose date of birth or sex contradicts the stored")
    ] = False,
) -> RosterUploadResult:
    """Upload the school's roster CSV (pupils on roll); answers with what changed."""
    permit = await run_in_threadpool(ingest.permit, db, principal, urn, "roster")
    received = await read_upload(request, settings.max_upload_bytes)
    return await run_in_threadpool(
        lambda: ingest.upload_roster(
            db, permit, received, holder, settings.scoring, accept_changes=accept_changes
        )
    )


@router.post(
    "/{urn}/registers",
    response_model=RegisterUploadResult,
    responses=_UPLOAD_ERRORS,
    openapi_extra=file_body("file"),
)
async def upload_registers(
    urn: UrnPath,
    request: Request,
    principal: CurrentKey,
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
) -> RegisterUploadResult:
    """Upload a register CSV (long or wide); answers with the validation report and changes.

    A week is scored once its register covers every pupil on roll: ``incomplete_weeks`` names
    the pupils still without marks, and the risk list stays as it was until they arrive."""
    permit = await run_in_threadpool(ingest.permit, db, principal, urn, "registers")
    received = await read_upload(request, settings.max_upload_bytes)
    # The model is taken inside the school's lock (serving.ingest), not here.
    return await run_in_threadpool(
        ingest.upload_registers, db, permit, received, holder, settings.scoring
    )


@router.put(
    "/{urn}/display-codes",
    response_model=DisplayCodesUploadResult,
    responses=_UPLOAD_ERRORS,
    openapi_extra=file_body("file"),
)
async def put_display_codes(
    urn: UrnPath,
    request: Request,
    principal: CurrentKey,
    db: DatabaseDep,
    settings: SettingsDep,
) -> DisplayCodesUploadResult:
    """Set the school's display codes: a CSV `display_code,statutory_code`, one row per code
    its MIS shows (e.g. `9,Y`), as the form field `file` or the raw body (`text/csv`,
    `?filename=`). Replaces the whole mapping; a header without rows clears it; a file with
    errors changes nothing (422 with the row-level report). School key or admin key."""
    permit = await run_in_threadpool(ingest.permit, db, principal, urn, "display_codes")
    received = await read_upload(request, settings.max_upload_bytes)
    return await run_in_threadpool(ingest.upload_display_codes, db, permit, received)


@router.get(
    "/{urn}/display-codes", response_model=DisplayCodes, responses=errors(401, 403, 404, 422, 503)
)
def get_display_codes(urn: UrnPath, principal: CurrentKey, db: DatabaseDep) -> DisplayCodes:
    """The school's display codes (display code → statutory code) its registers are read
    through; `{}` when it has none."""
    if not (principal.all_schools or urn in principal.schools):
        raise forbidden(
            f"this {principal.role.value} key may not read the display codes of school {urn}"
        )
    with db.read_session() as session:
        if rows.get_school(session, urn) is None:
            raise NotFound(f"school {urn} is not registered with the service")
        display_codes = rows.stored_display_codes(session, urn)
    audit.record(db, principal, "display_codes.read", school_urn=urn, records=len(display_codes))
    return DisplayCodes(school_urn=urn, display_codes=display_codes, codes=len(display_codes))

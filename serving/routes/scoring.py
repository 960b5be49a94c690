"""Stateless scoring for integrators, and what the service says about its model."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from serving import scoring
from serving.deps import CurrentKey, DatabaseDep, HolderDep, ModelDep, SettingsDep
from serving.modelstore import no_model
from serving.schemas import ModelDescription, StatelessScores, errors, file_body
from serving.uploads import read_form_files

router = APIRouter(prefix="/v1", tags=["model"])


@router.post(
    "/score",
    response_model=StatelessScores,
    responses=errors(400, 401, 403, 413, 415, 422, 503),
    openapi_extra=file_body("registers", "roster", required=("registers",)),
)
async def score(
    request: Request,
    principal: CurrentKey,
    db: DatabaseDep,
    model: ModelDep,
    settings: SettingsDep,
    school_urn: Annotated[int, Query(ge=100000, le=999999, description="URN the marks belong to")],
    phase: Annotated[str, Query(description="primary, secondary or special")] = "primary",
) -> StatelessScores:
    """Score register marks sent in the request (`registers`, optional `roster`); stores nothing."""
    scoring.check_may_score(principal, school_urn, phase)
    files = await read_form_files(request, settings.max_upload_bytes, ("registers", "roster"))
    # Only the streamed read of the request runs on the event loop; validating, scoring and
    # the audit write (a database commit) go to the thread pool, so other requests never wait.
    asked = scoring.ScoreRequest(files, school_urn, phase, dt.date.today())
    return await run_in_threadpool(
        scoring.score_request, db, principal, asked, model, settings.scoring
    )


@router.get("/model", response_model=ModelDescription, responses=errors(401, 403, 503))
def model_page(principal: CurrentKey, holder: HolderDep) -> ModelDescription:
    """The champion: name, version, training window, metrics beside baselines, fairness."""
    scoring.check_may_read_model(principal)
    model = holder.current
    if model is None:
        raise no_model(holder)
    return scoring.describe_model(model)

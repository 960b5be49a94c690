"""The school's own pages beside the risk list: the overview (its home), groups, and uploads
from the browser. Same sessions, scoping, audit and origin check as :mod:`serving.routes.pages`;
the data comes from the same use cases as the API (:func:`serving.overview.school_overview`,
:func:`serving.ingest.upload_roster` / :func:`~serving.ingest.upload_registers`)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from serving import ingest, overview
from serving.deps import DatabaseDep, HolderDep, SettingsDep
from serving.errors import Invalid
from serving.routes.overview import get_england, get_frame_cache
from serving.routes.pages import (
    OTHER_SITE,
    UrnPath,
    _error_page,
    _from_this_site,
    _principal,
    line_chart,
    percent,
    templates,
    uk_date,
)
from serving.store.rows import get_school
from serving.upload_history import upload_history
from serving.uploads import read_upload

router = APIRouter(tags=["pages"], include_in_schema=False)


def _figure_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline table: one row per measure, school / authority / England."""
    england = data["england"] or {}
    rows = []
    for key, words in (
        ("attendance", "Attendance"),
        ("authorised_absence", "Authorised absence"),
        ("unauthorised_absence", "Unauthorised absence"),
        ("persistent_absence", "Persistent absence (pupils missing 10% or more)"),
        ("severe_absence", "Severe absence (pupils missing 50% or more)"),
    ):
        rows.append({"measure": words, "key": key, "school": data["school"][key],
                     "authority": data["authority"][key], "england": england.get(key)})  # fmt: skip
    return rows


def trend_chart(trend: list[dict[str, Any]]) -> Any:
    """School vs authority (weekly) vs England (one level per term, drawn flat over it)."""
    keys = ("school", "authority", "england")
    values = [t[k] for t in trend for k in keys if t[k] is not None]
    low = min(values or [0.8])
    return line_chart(
        [
            ("This school (each week)", [t["school"] for t in trend]),
            ("Authority (each week)", [t["authority"] for t in trend]),
            ("England (term figure)", [t["england"] for t in trend]),
        ],
        [uk_date(t["week_start"]) for t in trend],
        title="Attendance each week: the school, the authority and England",
        description=(
            f"Attendance in each of {len(trend)} school weeks at this school and across the "
            "authority's schools of the same phase; England's published figure is for a whole "
            "term, so it is drawn flat across the weeks of that term. Latest week: school "
            f"{percent(trend[-1]['school']) if trend else '–'}."
        ),
        y_min=max(0.0, math.floor(low * 20) / 20 - 0.05),
    )


@router.get("/schools/{urn}/overview", response_class=HTMLResponse)
def overview_page(request: Request, urn: UrnPath, db: DatabaseDep, settings: SettingsDep) -> Any:
    """The school's home: headline figures against the authority and England, and the trend."""
    principal = _principal(request, db)
    data = overview.school_overview(
        db, principal, get_frame_cache(request), get_england(request), urn,
        settings.extra_list_share,
    ).model_dump(mode="json")  # fmt: skip
    return templates.TemplateResponse(
        request,
        "overview.html",
        {
            "title": f"Overview: {data['name']}",
            "me": principal,
            "urn": urn,
            "data": data,
            "rows": _figure_rows(data),
            "chart": trend_chart(data["trend"]) if data["trend"] else None,
            "may_upload": principal.may_upload(urn),
        },
    )


@router.get("/schools/{urn}/groups", response_class=HTMLResponse)
def groups_page(request: Request, urn: UrnPath, db: DatabaseDep, settings: SettingsDep) -> Any:
    """The same figures by year group, FSM, SEN, EAL, sex and ethnicity, with the gaps."""
    principal = _principal(request, db)
    data = overview.school_overview(
        db, principal, get_frame_cache(request), get_england(request), urn,
        settings.extra_list_share,
    ).model_dump(mode="json")  # fmt: skip
    dimensions: dict[str, list[dict[str, Any]]] = {}
    for group in data["groups"]:
        dimensions.setdefault(group["dimension"], []).append(group)
    return templates.TemplateResponse(
        request,
        "groups.html",
        {
            "title": f"Groups: {data['name']}",
            "me": principal,
            "urn": urn,
            "data": data,
            "dimensions": dimensions,
            "names": DIMENSION_NAMES,
        },  # fmt: skip
    )


DIMENSION_NAMES = {
    "year_group": "Year group", "fsm": "Free school meals", "sen": "Special educational needs",
    "eal": "English as an additional language", "sex": "Sex", "ethnicity": "Ethnicity",
}  # fmt: skip


def _uploads_context(request: Request, db: Any, principal: Any, urn: int) -> dict[str, Any]:
    with db.read_session() as session:
        school = get_school(session, urn)
    return {
        "title": f"Uploads: {school.name if school else urn}",
        "me": principal,
        "urn": urn,
        "school": school,
        "history": [e.model_dump(mode="json") for e in upload_history(db, principal, urn)],
        "may_upload": principal.may_upload(urn),
    }


@router.get("/schools/{urn}/uploads", response_class=HTMLResponse)
def uploads_page(request: Request, urn: UrnPath, db: DatabaseDep) -> Any:
    """Forms to upload the roster and registers, and the school's upload history."""
    principal = _principal(request, db)
    context = _uploads_context(request, db, principal, urn)
    return templates.TemplateResponse(request, "uploads.html", context)


@router.post("/schools/{urn}/uploads/{kind}", response_class=HTMLResponse)
async def upload_page(
    request: Request,
    urn: UrnPath,
    kind: Annotated[Literal["roster", "registers"], PathParam()],
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
) -> Any:
    """An upload from the form: the API's use case; a refused file answers with its
    validation report as a page (422), an accepted one with what changed."""
    if not _from_this_site(request):
        return _error_page(request, status.HTTP_403_FORBIDDEN, OTHER_SITE)
    principal = await run_in_threadpool(_principal, request, db)
    permit = await run_in_threadpool(ingest.permit, db, principal, urn, kind)
    received = await read_upload(request, settings.max_upload_bytes)
    try:
        if kind == "roster":
            result: Any = await run_in_threadpool(
                lambda: ingest.upload_roster(db, permit, received, holder, settings.scoring)
            )
        else:
            result = await run_in_threadpool(
                ingest.upload_registers, db, permit, received, holder, settings.scoring
            )
    except Invalid as exc:
        context = await run_in_threadpool(_uploads_context, request, db, principal, urn)
        context.update(refused=exc.message, fix=exc.fix, report=exc.details.get("report"))
        return templates.TemplateResponse(
            request, "upload_refused.html", context,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )  # fmt: skip
    context = await run_in_threadpool(_uploads_context, request, db, principal, urn)
    context.update(result=result.model_dump(mode="json", exclude={"report"}), kind=kind)
    return templates.TemplateResponse(request, "upload_done.html", context)

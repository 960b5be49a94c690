"""A school's overview: figures against the authority and England, groups and the trend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from serving import overview
from serving.deps import CurrentKey, DatabaseDep, SettingsDep
from serving.national import EnglandFigure, load_figures
from serving.overview import SchoolOverview
from serving.schemas import errors
from serving.school_lists import FrameCache

router = APIRouter(prefix="/v1", tags=["schools"])
UrnPath = Annotated[int, Path(ge=100000, le=999999, description="The school's URN (6 digits)")]


def get_frame_cache(request: Request) -> FrameCache:
    """The app's cache of computed figures and lists (keyed by data versions)."""
    state = request.app.state
    if getattr(state, "frame_cache", None) is None:
        state.frame_cache = FrameCache()
    cache: FrameCache = state.frame_cache
    return cache


def get_england(request: Request) -> list[EnglandFigure]:
    """England's figures in force (read once, from the data directory or the package)."""
    state = request.app.state
    if getattr(state, "england", None) is None:
        state.england = load_figures(state.settings.data_dir)
    figures: list[EnglandFigure] = state.england
    return figures


FrameCacheDep = Annotated[FrameCache, Depends(get_frame_cache)]
EnglandDep = Annotated[list[EnglandFigure], Depends(get_england)]


@router.get(
    "/schools/{urn}/overview",
    response_model=SchoolOverview,
    responses=errors(401, 403, 404, 422, 503),
)
def school_overview(
    urn: UrnPath,
    principal: CurrentKey,
    db: DatabaseDep,
    settings: SettingsDep,
    cache: FrameCacheDep,
    england: EnglandDep,
) -> Response:
    """Year to date in DfE arithmetic for the DfE cohort, beside the authority (schools of the
    same phase in the service) and England, by group, with tier and list counts and the
    weekly trend."""
    body = overview.school_overview(
        db, principal, cache, england, urn, settings.extra_list_share, as_json=True
    )
    # Serialised once when computed (the response model documents it in OpenAPI).
    return Response(body, media_type="application/json")

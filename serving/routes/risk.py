"""Risk lists and pupil records: read from the store (precomputed at upload time)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from serving import pupils, risk_lists
from serving.deps import (
    CurrentKey,
    DatabaseDep,
    HolderDep,
    PresentedKey,
    SettingsDep,
    principal_for,
)
from serving.risk_lists import PageCache, RiskQuery, Sort, Tier, View
from serving.routes.overview import FrameCacheDep
from serving.schemas import MAX_DB_INT, PupilRecord, RiskList, YearGroup, errors

router = APIRouter(prefix="/v1", tags=["risk"])


def get_page_cache(request: Request) -> PageCache:
    """The app's risk-list page cache."""
    cache: PageCache = request.app.state.page_cache
    return cache


PageCacheDep = Annotated[PageCache, Depends(get_page_cache)]
UrnPath = Annotated[int, Path(ge=100000, le=999999, description="The school's URN (6 digits)")]

_CSV_RESPONSE = {
    "description": "The list as CSV (`format=csv`), one row per pupil",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@router.get(
    "/schools/{urn}/risk",
    response_model=RiskList,
    responses={**errors(401, 403, 404, 422, 503), 200: _CSV_RESPONSE},
)
def risk_list(
    urn: UrnPath,
    key: PresentedKey,
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    frames: FrameCacheDep,
    year_group: Annotated[
        list[YearGroup] | None, Query(description="only these year groups")
    ] = None,
    tier: Annotated[list[Tier] | None, Query()] = None,
    emerging: Annotated[bool, Query(description="only pupils not yet persistently absent")] = False,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=5000)] = None,
    format: Annotated[Literal["json", "csv"], Query(description="csv: download the list")] = "json",
    view: Annotated[
        View, Query(description="school: below 90% so far; heading: this week's extra list")
    ] = "all",
    fsm: Annotated[bool | None, Query(description="only pupils eligible (or not) for FSM")] = None,
    sen: Annotated[
        list[Literal["N", "K", "E"]] | None, Query(description="SEN provision: N, K, E")
    ] = None,
    eal: Annotated[bool | None, Query(description="only pupils with (or without) EAL")] = None,
    sex: Annotated[list[Literal["F", "M"]] | None, Query()] = None,
    search: Annotated[str, Query(max_length=100, description="part of a name, or a UPN")] = "",
    sort: Annotated[Sort, Query()] = "rank",
    descending: Annotated[bool, Query()] = False,
) -> Response:
    """The school's pupils ranked by risk, with tier, attendance, trend and reasons, the two
    lists (below 90% so far; heading there, with the week first surfaced), severe absence and
    the penalty-notice threshold."""
    query = RiskQuery(
        tuple(year_group or ()), tuple(tier or ()), emerging, offset, limit, view, fsm,
        tuple(sen or ()), eal, tuple(sex or ()), search, sort, descending,
    )  # fmt: skip
    # The most frequent request of the service: authenticated here rather than by a dependency
    # (one thread hop per request, not two), on the connection that then finds the scoring.
    with db.autocommit() as connection:
        principal = principal_for(db, key, connection)
        run = risk_lists.latest_scoring(db, urn, connection)
    if format == "csv":
        export = risk_lists.export(
            db, principal, holder, urn, query, frames, settings.extra_list_share
        )
        return Response(
            export.content,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
        )
    page = risk_lists.read_page(
        db, principal, holder, cache, urn, query, page_size=settings.default_page_size,
        max_page_size=settings.max_page_size, run=run, frames=frames,
        share=settings.extra_list_share,
    )  # fmt: skip
    return Response(page.json, media_type="application/json")


@router.get("/pupils/{upn}", response_model=PupilRecord, responses=errors(401, 403, 404, 422, 503))
def pupil_record(
    upn: Annotated[str, Path(min_length=1, max_length=13, description="The pupil's UPN")],
    principal: CurrentKey,
    db: DatabaseDep,
    school: Annotated[
        int, Query(ge=100000, le=999999, description="URN of the school the pupil is on roll at")
    ],
) -> PupilRecord:
    """A pupil's weekly trajectory, risk over the weeks and latest reasons."""
    return pupils.pupil_record(db, principal, school, upn)

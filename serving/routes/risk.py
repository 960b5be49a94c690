"""Risk lists and pupil pages: read from the store (precomputed at upload time)."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import and_, bindparam, func, select

from serving import audit
from serving.auth import Principal
from serving.deps import (
    CurrentKey,
    DatabaseDep,
    HolderDep,
    PresentedKey,
    SessionDep,
    SettingsDep,
    principal_for,
    require_pupil_access,
)
from serving.models import Pupil, Referral, School, Score, ScoreRun, Trajectory
from serving.pipeline import TIER_WORDING, csv_safe, trajectory_from_bytes

router = APIRouter(prefix="/v1", tags=["risk"])


class Reason(BaseModel):
    """One reason pushing a pupil's risk up (from the model's TreeSHAP contributions)."""

    text: str
    domain: str | None = None
    contribution: float | None = None


class RiskRow(BaseModel):
    """A pupil in the risk list."""

    rank: int
    upn: str
    name: str
    year_group: int | None
    risk: float
    tier: str
    tier_label: str
    attendance_ytd: float | None
    attendance_change_4w: float | None
    emerging: bool
    reasons: list[Reason]
    model_name: str
    model_version: str
    as_of: str


class RiskList(BaseModel):
    """A school's pupils ranked by risk of ending the year persistently absent."""

    school_urn: int
    academic_year: str
    week: int
    as_of: str
    model_name: str
    model_version: str
    total: int
    offset: int
    limit: int
    tiers: dict[str, str]
    pupils: list[RiskRow]


_COLUMNS = (
    Score.rank,
    Score.upn,
    Pupil.forename,
    Pupil.surname,
    Score.year_group,
    Score.risk,
    Score.tier,
    Score.attendance_ytd,
    Score.attendance_change_4w,
    Score.emerging,
    Score.reasons,
    Score.model_name,
    Score.model_version,
)


_RUN_COLUMNS = (
    ScoreRun.school_urn,
    ScoreRun.as_of,
    ScoreRun.academic_year,
    ScoreRun.week,
    ScoreRun.model_name,
    ScoreRun.model_version,
    ScoreRun.pupils,
)
"""What a risk list needs of a school's scoring (a row, not an ORM object)."""
_LATEST_RUN = (
    select(*_RUN_COLUMNS, School.data_version)
    .join(School, School.urn == ScoreRun.school_urn)
    .where(ScoreRun.school_urn == bindparam("urn"))
    .order_by(ScoreRun.as_of.desc())
    .limit(1)
)
"""A school's latest scoring and its data version, built once (every risk-list request)."""


def _no_scores(urn: int, holder: Any) -> HTTPException:
    if holder.current is None:
        return HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"message": "no risk model is loaded", "reason": holder.reason},
            headers={"Retry-After": "30"},
        )
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail={
            "message": f"no scores for school {urn} yet",
            "fix": "upload the roster and at least one complete week of registers",
        },
    )


@router.get("/schools/{urn}/risk", response_model=RiskList)
def risk_list(
    urn: int,
    key: PresentedKey,
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
    cache: PageCacheDep,
    year_group: Annotated[list[int] | None, Query(description="only these year groups")] = None,
    tier: Annotated[list[Literal["high", "medium", "low"]] | None, Query()] = None,
    emerging: Annotated[bool, Query(description="only pupils not yet persistently absent")] = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=5000)] = None,
    format: Annotated[Literal["json", "csv"], Query(description="csv: download the list")] = "json",
) -> Any:
    """The school's pupils ranked by risk, with tier, attendance, trend and reasons."""
    # The most frequent request of the service: authenticated here rather than by a dependency
    # (one thread hop per request, not two), on the connection that then finds the scoring.
    with db.autocommit() as connection:
        principal = principal_for(db, key, connection)
        require_pupil_access(principal, urn)
        latest = connection.execute(_LATEST_RUN, {"urn": urn}).all()
    return read_risk_list(
        urn, principal, db, holder, settings, cache,
        year_group=year_group, tier=tier, emerging=emerging, offset=offset, limit=limit,
        format=format, latest=latest,
    )  # fmt: skip


def read_risk_list(
    urn: int,
    principal: Principal,
    db: Any,
    holder: Any,
    settings: Any,
    cache: PageCache,
    *,
    year_group: list[int] | None,
    tier: list[Any] | None,
    emerging: bool,
    offset: int,
    limit: int | None,
    format: Literal["json", "csv"],
    latest: list[Any] | None = None,
) -> Response:
    """The risk list for a principal already authenticated (the API and the web pages);
    ``latest``: the school's latest scoring (:data:`_LATEST_RUN`) if already read."""
    require_pupil_access(principal, urn)
    if format == "csv":
        limit = limit or 100_000
    else:
        limit = min(limit or settings.default_page_size, settings.max_page_size)
    # The latest scoring and the school's data version: one statement, no transaction.
    if latest is None:
        latest = db.query(_LATEST_RUN, {"urn": urn})
    if not latest:
        raise _no_scores(urn, holder)
    run = latest[0]
    page: _Page | None = None
    if format == "csv":
        # An export (up to a whole school) is read when asked for and never cached: it is rare,
        # and one would take the room of hundreds of pages.
        with db.read_session() as session:
            pupils, _ = _read_rows(session, run, year_group, tier, emerging, offset, limit)
    else:
        # The store's identity is part of the key: one process may serve several.
        cache_key = (db.instance_id, urn, run.data_version, run.as_of, tuple(year_group or ()),
                     tuple(tier or ()), emerging, offset, limit)  # fmt: skip
        page = cache.get(cache_key)
        if page is None:
            with db.read_session() as session:
                page = _render_page(session, run, year_group, tier, emerging, offset, limit)
            cache.put(cache_key, page)
    audit.record(
        db,
        principal,
        "risk_list.export" if format == "csv" else "risk_list.read",
        school_urn=urn,
        records=len(pupils) if page is None else page.pupils,
        # What was asked for, so the record says which pupils were seen (filters, page).
        detail={
            "as_of": run.as_of.isoformat(),
            "offset": offset,
            "limit": limit,
            **({"year_group": year_group} if year_group else {}),
            **({"tier": list(tier)} if tier else {}),
            **({"emerging": True} if emerging else {}),
        },
    )
    if page is None:
        return _csv_response(urn, run.as_of.isoformat(), pupils)
    return Response(page.json, media_type="application/json")


@dataclass(frozen=True)
class _Page:
    """A rendered page of the risk list: its JSON and how many pupils it holds."""

    json: bytes
    pupils: int


class PageCache:
    """Rendered risk-list pages, keyed by the school's ``data_version`` (so a new upload,
    roster or scoring anywhere — any process — makes old pages unreachable), bounded by the
    bytes they hold (least recently used pages go first; a page larger than the bound is not
    kept at all)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._pages: OrderedDict[tuple[Any, ...], _Page] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: tuple[Any, ...]) -> _Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple[Any, ...], page: _Page) -> None:
        size = len(page.json)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self.bytes -= len(old.json)
            self._pages[key] = page
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self.bytes -= len(dropped.json)


def get_page_cache(request: Request) -> PageCache:
    """The app's risk-list page cache."""
    cache: PageCache = request.app.state.page_cache
    return cache


PageCacheDep = Annotated[PageCache, Depends(get_page_cache)]


def _read_rows(
    session: Any,
    run: Any,
    year_group: list[int] | None,
    tier: list[Any] | None,
    emerging: bool,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the risk list as rows, and the number of pupils the filters match."""
    conditions = [Score.school_urn == run.school_urn, Score.as_of == run.as_of]
    if year_group:
        conditions.append(Score.year_group.in_(year_group))
    if tier:
        conditions.append(Score.tier.in_(tier))
    if emerging:
        conditions.append(Score.emerging.is_(True))
    where = and_(*conditions)
    filtered = bool(year_group or tier or emerging)
    total = (
        session.scalar(select(func.count()).select_from(Score).where(where)) or 0
        if filtered
        else run.pupils
    )
    rows = session.execute(
        select(*_COLUMNS)
        .outerjoin(Pupil, and_(Pupil.school_urn == Score.school_urn, Pupil.upn == Score.upn))
        .where(where)
        .order_by(Score.rank)
        .offset(offset)
        .limit(limit)
    ).all()
    as_of = run.as_of.isoformat()
    pupils = [
        {
            "rank": r.rank,
            "upn": r.upn,
            "name": f"{r.forename or ''} {r.surname or ''}".strip(),
            "year_group": r.year_group,
            "risk": round(r.risk, 4),
            "tier": r.tier,
            "tier_label": TIER_WORDING[r.tier],
            "attendance_ytd": r.attendance_ytd,
            "attendance_change_4w": r.attendance_change_4w,
            "emerging": r.emerging,
            "reasons": r.reasons,
            "model_name": r.model_name,
            "model_version": r.model_version,
            "as_of": as_of,
        }
        for r in rows
    ]
    return pupils, total


def _render_page(
    session: Any,
    run: Any,
    year_group: list[int] | None,
    tier: list[Any] | None,
    emerging: bool,
    offset: int,
    limit: int,
) -> _Page:
    """Query and render one page of the risk list."""
    pupils, total = _read_rows(session, run, year_group, tier, emerging, offset, limit)
    body = {
        "school_urn": run.school_urn,
        "academic_year": run.academic_year,
        "week": run.week,
        "as_of": run.as_of.isoformat(),
        "model_name": run.model_name,
        "model_version": run.model_version,
        "total": total,
        "offset": offset,
        "limit": limit,
        "tiers": TIER_WORDING,
        "pupils": pupils,
    }
    # Built from typed columns already: sent as JSON directly (the response model documents it
    # in OpenAPI; validating 1,500 rows again would only cost time).
    return _Page(json.dumps(body, separators=(",", ":")).encode(), len(pupils))


def _csv_response(urn: int, as_of: str, pupils: list[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    columns = [
        "rank",
        "upn",
        "name",
        "year_group",
        "risk",
        "tier",
        "tier_label",
        "attendance_ytd",
        "attendance_change_4w",
        "emerging",
        "reasons",
        "model_name",
        "model_version",
        "as_of",
    ]
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for pupil in pupils:
        reasons = "; ".join(r["text"] for r in pupil["reasons"])
        row = {**pupil, "reasons": reasons}
        writer.writerow([csv_safe(row[c]) for c in columns])
    return Response(
        content=buffer.getvalue().encode("utf-8-sig"),  # BOM: Excel opens UTF-8 correctly
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="risk-{urn}-{as_of}.csv"'},
    )


@router.get("/pupils/{upn}")
def pupil_page(
    upn: str,
    principal: CurrentKey,
    db: DatabaseDep,
    session: SessionDep,
    school: Annotated[int, Query(description="URN of the school the pupil is on roll at")],
) -> dict[str, Any]:
    """A pupil's weekly trajectory, risk over the weeks and latest reasons."""
    require_pupil_access(principal, school)
    pupil = session.get(Pupil, (school, upn))
    if pupil is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail={"message": f"no pupil with this UPN on the roll of school {school}"},
        )
    audit.record(db, principal, "pupil.read", school_urn=school, upn=upn, records=1)
    trajectory = session.scalar(
        select(Trajectory)
        .where(Trajectory.school_urn == school)
        .order_by(Trajectory.academic_year.desc())
        .limit(1)
    )
    weeks: list[dict[str, Any]] = []
    if trajectory is not None:
        frame = trajectory_from_bytes(trajectory.payload)
        mine = frame[frame["upn"].astype(str) == upn].sort_values("week")
        possible = mine["possible_sessions"].to_numpy(dtype=float)
        absence = mine["absence"].to_numpy(dtype=float)
        cum_possible, cum_absence = possible.cumsum(), absence.cumsum()
        for i, row in enumerate(mine.itertuples(index=False)):
            weeks.append(
                {
                    "week": int(row.week),
                    "week_start": pd.Timestamp(row.week_start).date().isoformat(),
                    "possible_sessions": int(row.possible_sessions),
                    "absence": int(row.absence),
                    "authorised": int(row.authorised),
                    "unauthorised": int(row.unauthorised),
                    "late_before_close": int(row.late_before_close),
                    "attendance_rate": None
                    if possible[i] == 0
                    else round(1 - absence[i] / possible[i], 4),
                    "attendance_ytd": None
                    if cum_possible[i] == 0
                    else round(1 - cum_absence[i] / cum_possible[i], 4),
                }
            )
    scores = session.execute(
        select(
            Score.as_of,
            Score.week,
            Score.risk,
            Score.tier,
            Score.rank,
            Score.reasons,
            Score.model_name,
            Score.model_version,
        )
        .where(
            Score.school_urn == school,
            Score.upn == upn,
            # The year the page shows (scores of an earlier year are not this year's history).
            *([Score.academic_year == trajectory.academic_year] if trajectory else []),
        )
        .order_by(Score.as_of)
    ).all()
    history = [
        {
            "as_of": s.as_of.isoformat(),
            "week": s.week,
            "risk": round(s.risk, 4),
            "tier": s.tier,
            "rank": s.rank,
            "model_name": s.model_name,
            "model_version": s.model_version,
        }
        for s in scores
    ]
    latest = scores[-1] if scores else None
    referrals = session.execute(
        select(Referral.id, Referral.status, Referral.created_at)
        .where(Referral.school_urn == school, Referral.upn == upn)
        .order_by(Referral.id)
    ).all()
    return {
        "upn": upn,
        "school_urn": school,
        "name": f"{pupil.forename} {pupil.surname}".strip(),
        "year_group": pupil.year_group,
        "academic_year": trajectory.academic_year if trajectory else None,
        "weeks": weeks,
        "risk_history": history,
        "latest": None
        if latest is None
        else {
            "as_of": latest.as_of.isoformat(),
            "risk": round(latest.risk, 4),
            "tier": latest.tier,
            "tier_label": TIER_WORDING[latest.tier],
            "reasons": latest.reasons,
            "model_name": latest.model_name,
            "model_version": latest.model_version,
        },
        "referrals": [
            {"id": r.id, "status": r.status, "created_at": r.created_at.isoformat()}
            for r in referrals
        ],
    }

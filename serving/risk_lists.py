"""Reading a school's risk list: ranked pupils with tier, attendance, trend and reasons, read
from the scores stored at upload time (the API and the web pages both call this).

A rendered page is cached in the process under the school's ``data_version``, so any upload,
roster change or re-scoring — in any process — makes it unreachable at once. CSV exports are
read when asked for and never cached. Every read writes its audit record before it returns.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, bindparam, func, or_, select

from features.lists import EXTRA_LIST_SHARE
from serving import audit, school_lists
from serving.auth import Principal
from serving.db import Database
from serving.errors import Forbidden, NotFound, ServiceError
from serving.models import Pupil, School, Score, ScoreRun
from serving.modelstore import ModelHolder, no_model
from serving.pipeline import TIER_WORDING, csv_safe

Tier = Literal["high", "medium", "low"]
View = Literal["all", "school", "heading"]
"""``school``: pupils below 90% so far (the school knows them); ``heading``: this week's extra
list (heading there, :mod:`serving.school_lists`); ``all``: everyone."""
Sort = Literal["rank", "name", "year_group", "risk", "attendance_ytd", "attendance_change_4w"]
SORTS = {
    "rank": (Score.rank,),
    "name": (Pupil.surname, Pupil.forename),
    "year_group": (Score.year_group,),
    "risk": (Score.risk,),
    "attendance_ytd": (Score.attendance_ytd,),
    "attendance_change_4w": (Score.attendance_change_4w,),
}
SHORT_TIER = {"high": "High", "medium": "Some", "low": "Low"}

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
LATEST_RUN = (
    select(*_RUN_COLUMNS, School.data_version)
    .join(School, School.urn == ScoreRun.school_urn)
    .where(ScoreRun.school_urn == bindparam("urn"))
    .order_by(ScoreRun.as_of.desc())
    .limit(1)
)
"""A school's latest scoring and its data version, built once (every risk-list request)."""

CSV_COLUMNS = (
    "rank", "upn", "name", "year_group", "risk_pct", "tier", "attendance_ytd_pct",
    "attendance_change_4w_pts", "school_list", "heading_there", "surfaced_on", "severe",
    "penalty_sessions_10_weeks", "reasons", "model_name", "model_version", "as_of",
)  # fmt: skip
"""The export: percentages rounded to one decimal place, as a person reads them."""


@dataclass(frozen=True)
class RiskQuery:
    """What a reader asks of a school's risk list: filters and a page."""

    year_group: tuple[int, ...] = ()
    tier: tuple[Tier, ...] = ()
    emerging: bool = False
    offset: int = 0
    limit: int | None = None
    view: View = "all"
    fsm: bool | None = None
    sen: tuple[str, ...] = ()
    eal: bool | None = None
    sex: tuple[str, ...] = ()
    search: str = ""
    sort: Sort = "rank"
    descending: bool = False

    @property
    def filtered(self) -> bool:
        """Whether any filter narrows the list (else the total is the scoring's roll)."""
        return bool(self.year_group or self.tier or self.emerging or self.view != "all"
                    or self.fsm is not None or self.sen or self.eal is not None or self.sex
                    or self.search)  # fmt: skip

    def audit_detail(self, as_of: str, limit: int) -> dict[str, Any]:
        """What was asked for, so the audit record says which pupils were seen."""
        return {
            "as_of": as_of,
            "offset": self.offset,
            "limit": limit,
            **({"year_group": list(self.year_group)} if self.year_group else {}),
            **({"tier": list(self.tier)} if self.tier else {}),
            **({"emerging": True} if self.emerging else {}),
            **({"view": self.view} if self.view != "all" else {}),
            **({"fsm": self.fsm} if self.fsm is not None else {}),
            **({"sen": list(self.sen)} if self.sen else {}),
            **({"eal": self.eal} if self.eal is not None else {}),
            **({"sex": list(self.sex)} if self.sex else {}),
            # Whether a search narrowed the list, never what was searched for (a name).
            **({"search": True} if self.search else {}),
            **({"sort": self.sort, "descending": self.descending} if self.sort != "rank" else {}),
        }


@dataclass(frozen=True)
class Page:
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
        self._pages: OrderedDict[tuple[Any, ...], Page] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: tuple[Any, ...]) -> Page | None:
        """The page stored under ``key`` (now the most recently used), if any."""
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple[Any, ...], page: Page) -> None:
        """Keep ``page``, dropping the least recently used pages past the bound."""
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


def require_pupil_access(principal: Principal, school_urn: int) -> None:
    """Refuse (:class:`Forbidden`) unless the key may read pupil-level data of this school."""
    if not principal.may_read_pupils(school_urn):
        raise Forbidden(
            f"this {principal.role.value} key may not see pupils of school {school_urn}"
        )


def _no_scores(urn: int, holder: ModelHolder) -> ServiceError:
    if holder.current is None:
        return no_model(holder)
    return NotFound(
        f"no scores for school {urn} yet",
        fix="upload the roster and at least one complete week of registers",
    )


def latest_scoring(db: Database, urn: int, connection: Any = None) -> Any | None:
    """The school's latest scoring and data version (:data:`LATEST_RUN`), one statement
    without a transaction (on ``connection`` if given), or ``None`` before any."""
    found = (
        db.query(LATEST_RUN, {"urn": urn})
        if connection is None
        else connection.execute(LATEST_RUN, {"urn": urn}).all()
    )
    return found[0] if found else None


def read_page(
    db: Database,
    principal: Principal,
    holder: ModelHolder,
    cache: PageCache,
    urn: int,
    query: RiskQuery,
    *,
    page_size: int,
    max_page_size: int,
    run: Any | None = None,
    frames: school_lists.FrameCache | None = None,
    share: float = EXTRA_LIST_SHARE,
) -> Page:
    """One page of the school's risk list as JSON (:class:`serving.schemas.RiskList`), from
    the cache when it holds it; ``run`` is the school's latest scoring if already read."""
    require_pupil_access(principal, urn)
    limit = min(query.limit or page_size, max_page_size)
    run = run if run is not None else latest_scoring(db, urn)
    if run is None:
        raise _no_scores(urn, holder)
    # The store's identity is part of the key: one process may serve several.
    key = (db.instance_id, urn, run.data_version, run.as_of, query, limit, share)
    page = cache.get(key)
    if page is None:
        with db.read_session() as session:
            flags = school_lists.school_flags(
                session, frames or _FRAMES, db.instance_id, run, share
            )
            page = _render_page(session, run, query, limit, flags)
        cache.put(key, page)
    audit.record(
        db,
        principal,
        "risk_list.read",
        school_urn=urn,
        records=page.pupils,
        detail=query.audit_detail(run.as_of.isoformat(), limit),
    )
    return page


@dataclass(frozen=True)
class Export:
    """A risk list as a CSV file."""

    filename: str
    content: bytes


_FRAMES = school_lists.FrameCache()
"""The lists' frames when a caller passes no cache of its own (keyed by store and version)."""


def export(
    db: Database,
    principal: Principal,
    holder: ModelHolder,
    urn: int,
    query: RiskQuery,
    frames: school_lists.FrameCache | None = None,
    share: float = EXTRA_LIST_SHARE,
) -> Export:
    """The school's risk list as CSV (all pupils the filters match unless ``query.limit``),
    read when asked for and never cached: it is rare, and one would take the room of hundreds
    of pages."""
    require_pupil_access(principal, urn)
    limit = query.limit or 100_000
    run = latest_scoring(db, urn)
    if run is None:
        raise _no_scores(urn, holder)
    with db.read_session() as session:
        flags = school_lists.school_flags(session, frames or _FRAMES, db.instance_id, run, share)
        pupils, _ = _read_rows(session, run, query, limit, flags)
    audit.record(
        db,
        principal,
        "risk_list.export",
        school_urn=urn,
        records=len(pupils),
        detail=query.audit_detail(run.as_of.isoformat(), limit),
    )
    as_of = run.as_of.isoformat()
    return Export(f"risk-{urn}-{as_of}.csv", _csv(pupils))


def _conditions(query: RiskQuery, run: Any, flags: Any) -> list[Any]:
    """The WHERE clauses of the query's filters."""
    conditions = [Score.school_urn == run.school_urn, Score.as_of == run.as_of]
    if query.year_group:
        conditions.append(Score.year_group.in_(query.year_group))
    if query.tier:
        conditions.append(Score.tier.in_(query.tier))
    if query.emerging:
        conditions.append(Score.emerging.is_(True))
    if query.view == "school":
        conditions.append(Score.upn.in_(school_lists.school_list_upns(flags)))
    if query.view == "heading":
        conditions.append(Score.upn.in_(school_lists.heading_upns(flags)))
    if query.fsm is not None:
        conditions.append(Pupil.fsm.is_(query.fsm))
    if query.sen:
        conditions.append(Pupil.sen.in_(query.sen))
    if query.eal is not None:
        conditions.append(Pupil.eal.is_(query.eal))
    if query.sex:
        conditions.append(Pupil.sex.in_(query.sex))
    if query.search.strip():
        text = query.search.strip()
        full_name = func.lower(Pupil.forename + " " + Pupil.surname)
        conditions.append(
            or_(Score.upn == text.upper(), full_name.contains(text.lower(), autoescape=True))
        )
    return conditions


_NO_FLAGS = {
    "on_school_list": False, "heading_there": False, "surfaced_week": None,
    "surfaced_on": None, "severe": False, "penalty_sessions": 0, "penalty_reached": False,
}  # fmt: skip


def _read_rows(
    session: Any, run: Any, query: RiskQuery, limit: int, flags: Any
) -> tuple[list[dict[str, Any]], int]:
    """One page of the risk list as rows, and the number of pupils the filters match."""
    where = and_(*_conditions(query, run, flags))
    joined = and_(Pupil.school_urn == Score.school_urn, Pupil.upn == Score.upn)
    total = (
        session.scalar(
            select(func.count()).select_from(Score).outerjoin(Pupil, joined).where(where)
        )
        or 0
        if query.filtered
        else run.pupils
    )
    order = [c.desc() if query.descending else c.asc() for c in SORTS[query.sort]]
    rows = session.execute(
        select(*_COLUMNS)
        .outerjoin(Pupil, joined)
        .where(where)
        .order_by(*order, Score.rank)
        .offset(query.offset)
        .limit(limit)
    ).all()
    as_of = run.as_of.isoformat()
    by_upn = school_lists.as_records(flags)
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
            **by_upn.get(r.upn, _NO_FLAGS),
        }
        for r in rows
    ]
    return pupils, total


def _render_page(session: Any, run: Any, query: RiskQuery, limit: int, flags: Any) -> Page:
    """Query and render one page of the risk list."""
    pupils, total = _read_rows(session, run, query, limit, flags)
    body = {
        "school_urn": run.school_urn,
        "academic_year": run.academic_year,
        "week": run.week,
        "as_of": run.as_of.isoformat(),
        "model_name": run.model_name,
        "model_version": run.model_version,
        "total": total,
        "offset": query.offset,
        "limit": limit,
        "tiers": TIER_WORDING,
        "pupils": pupils,
    }
    # Built from typed columns already: sent as JSON directly (the response model documents it
    # in OpenAPI; validating 1,500 rows again would only cost time).
    return Page(json.dumps(body, separators=(",", ":")).encode(), len(pupils))


def _rounded(fraction: float | None) -> str:
    """A fraction as a percentage to one decimal place (``0.92345`` → ``"92.3"``)."""
    return "" if fraction is None else f"{fraction * 100:.1f}"


def _csv(pupils: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for pupil in pupils:
        reasons = "; ".join(r["text"] for r in pupil["reasons"])
        row = {
            **pupil,
            "reasons": reasons,
            "risk_pct": _rounded(pupil["risk"]),
            "attendance_ytd_pct": _rounded(pupil["attendance_ytd"]),
            "attendance_change_4w_pts": _rounded(pupil["attendance_change_4w"]),
            "school_list": "yes" if pupil["on_school_list"] else "no",
            "heading_there": "yes" if pupil["heading_there"] else "no",
            "severe": "yes" if pupil["severe"] else "no",
            "penalty_sessions_10_weeks": pupil["penalty_sessions"],
        }
        writer.writerow([csv_safe(row[c]) for c in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")  # BOM: Excel opens UTF-8 correctly

"""A school's overview: its year-to-date figures beside the authority's and England's, groups,
tiers and the weekly trend (the API's ``GET /v1/schools/{urn}/overview`` and the school's page).

The arithmetic is the DfE's (DOMAIN.md §1): rates are sessions over possible sessions summed
over the cohort; persistent absence is the share of pupils with absence ≥ 10% of their possible
sessions, severe absence ≥ 50%. The **DfE cohort**: pupils of compulsory school age (5–15 on
31 August, else Years 1–11 by year group); pupils aged 15 leave it in the second half of the
summer term (taken from the first school week on or after the Monday after the spring bank
holiday week).

The **authority** is every school in the service of the same phase, for the same academic year.
**England** is the DfE's published figure for that phase (:mod:`serving.national`), for the
same academic year if published, else the latest published year (the answer says which).

**Small numbers** (:data:`SUPPRESS_BELOW`): a group of fewer than 10 pupils in the cohort gets
no figures and no gap (shown as suppressed), and neither does a group whose *other* pupils are
fewer than 10 (its figures would reveal theirs). This follows the DfE's practice of
suppressing figures built on small counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from features.arithmetic import pupil_cohorts
from serving import audit, school_lists
from serving.auth import Principal
from serving.db import Database
from serving.errors import NotFound
from serving.models import School, Score, Trajectory
from serving.national import EnglandFigure, england_for
from serving.risk_lists import latest_scoring, require_pupil_access
from serving.school_lists import FrameCache
from serving.store.rows import roster_frame
from serving.store.trajectories import current_trajectory

SUPPRESS_BELOW = 10
"""No figure for a group of fewer pupils than this (nor for a group whose other pupils are)."""
SUPPRESSION_RULE = (
    f"Figures for a group of fewer than {SUPPRESS_BELOW} pupils are not shown, nor are a "
    f"group's figures when the school's other pupils number fewer than {SUPPRESS_BELOW}."
)
GROUP_COLUMNS = ("year_group", "fsm", "sen", "eal", "sex", "ethnicity")
SEN_WORDS = {"N": "No SEN", "K": "SEN support", "E": "EHC plan"}
_SUMS = ["possible_sessions", "authorised", "unauthorised", "absence"]


class Figures(BaseModel):
    """Year-to-date figures of a set of pupils (fractions; ``None`` when there are none)."""

    pupils: int = Field(description="pupils of the DfE cohort with possible sessions")
    attendance: float | None
    authorised_absence: float | None
    unauthorised_absence: float | None
    persistent_absence: float | None = Field(description="share of pupils at ≥ 10% absence")
    severe_absence: float | None = Field(description="share of pupils at ≥ 50% absence")


class England(BaseModel):
    """England's published figures (no severe absence: the DfE file has none)."""

    academic_year: str
    period: str
    same_year: bool = Field(description="whether it is the school's own academic year")
    attendance: float | None
    authorised_absence: float | None
    unauthorised_absence: float | None
    persistent_absence: float | None
    source: str


class TrendWeek(BaseModel):
    """One school week: attendance that week (school, authority) and England's for its term."""

    week_start: dt.date
    school: float | None
    authority: float | None
    england: float | None
    england_term: str | None


class Group(BaseModel):
    """A group's figures and its gap to the school's other pupils (``None`` when suppressed)."""

    dimension: str
    group: str
    suppressed: bool
    figures: Figures | None
    attendance_gap: float | None = Field(description="attendance minus the other pupils'")
    persistent_absence_gap: float | None


class Counts(BaseModel):
    """Pupils of the latest scoring by tier and list."""

    high: int
    medium: int
    low: int
    school_list: int = Field(description="below 90% so far: the pupils the school knows")
    heading_there: int = Field(description="on this week's extra list")
    severe: int
    penalty_threshold: int = Field(description="≥ 10 unauthorised sessions in 10 school weeks")


class SchoolOverview(BaseModel):
    """The school's overview (``GET /v1/schools/{urn}/overview``)."""

    school_urn: int
    name: str
    phase: str
    academic_year: str
    latest_week: dt.date
    school: Figures
    authority: Figures
    authority_schools: int
    england: England | None
    counts: Counts | None
    as_of: dt.date | None = Field(description="the latest scoring the counts are from")
    trend: list[TrendWeek]
    groups: list[Group]
    suppression_rule: str = SUPPRESSION_RULE


# --- pure arithmetic --------------------------------------------------------------------------


def _summer_cutoff(start_year: int) -> dt.date:
    """The Monday after the spring bank holiday week (last Monday of May + 7 days)."""
    may_31 = dt.date(start_year + 1, 5, 31)
    return may_31 - dt.timedelta(days=may_31.weekday()) + dt.timedelta(days=7)


def dfe_rows(trajectory: pd.DataFrame, roster: pd.DataFrame, academic_year: str) -> pd.DataFrame:
    """The trajectory rows that count in the DfE's figures (see the module docstring), with
    the roster's group columns joined on."""
    start_year = int(academic_year[:4])
    pupils = roster.drop_duplicates("upn", keep="last").reset_index(drop=True)
    cohorts = pupil_cohorts(pupils, start_year)
    pupils = pupils.assign(
        in_cohort=(cohorts["cohort"] == "dfe").to_numpy(),
        summer_excluded=cohorts["summer_excluded"].to_numpy(),
    )
    keep = [c for c in ("upn", "in_cohort", "summer_excluded", *GROUP_COLUMNS) if c in pupils]
    rows = trajectory.merge(pupils[keep], on="upn", how="inner")
    week = pd.to_datetime(rows["week_start"]).dt.date
    late = rows["summer_excluded"].to_numpy(dtype=bool) & (week >= _summer_cutoff(start_year))
    return rows[rows["in_cohort"].to_numpy(dtype=bool) & ~late.to_numpy()]


def _rate(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else float(numerator) / float(denominator)


def figures_of(rows: pd.DataFrame) -> Figures:
    """The DfE figures of ``rows`` (trajectory rows of the cohort)."""
    per_pupil = rows.groupby("upn")[_SUMS].sum()
    per_pupil = per_pupil[per_pupil["possible_sessions"] > 0]
    totals = per_pupil.sum()
    possible = float(totals.get("possible_sessions", 0))
    rate = per_pupil["absence"] / per_pupil["possible_sessions"]
    n = len(per_pupil)
    absence = _rate(totals.get("absence", 0), possible)
    return Figures(
        pupils=n,
        attendance=None if absence is None else 1.0 - absence,
        authorised_absence=_rate(totals.get("authorised", 0), possible),
        unauthorised_absence=_rate(totals.get("unauthorised", 0), possible),
        persistent_absence=float((rate >= 0.10).mean()) if n else None,
        severe_absence=float((rate >= 0.50).mean()) if n else None,
    )


def weekly_attendance(rows: pd.DataFrame) -> pd.Series:
    """Attendance in each school week (sessions attended over possible), by week start."""
    weeks = rows.groupby(pd.to_datetime(rows["week_start"]).dt.date)[_SUMS].sum()
    weeks = weeks[weeks["possible_sessions"] > 0]
    return 1.0 - weeks["absence"] / weeks["possible_sessions"]


def _group_label(dimension: str, value: Any) -> str:
    if dimension == "year_group":
        return "Reception" if value == 0 else f"Year {int(value)}"
    if dimension in ("fsm", "eal"):
        name = "FSM" if dimension == "fsm" else "EAL"
        return name if bool(value) else f"Not {name}"
    if dimension == "sen":
        return SEN_WORDS.get(str(value), str(value))
    if dimension == "sex":
        return {"F": "Girls", "M": "Boys"}.get(str(value), str(value))
    return str(value)


def _gap(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def groups_of(rows: pd.DataFrame) -> list[Group]:
    """Figures per group of each roster dimension, with the gap to the other pupils and the
    small-number rule (:data:`SUPPRESS_BELOW`) applied."""
    out: list[Group] = []
    pupils = rows.drop_duplicates("upn").set_index("upn")
    for dimension in GROUP_COLUMNS:
        if dimension not in pupils or pupils[dimension].isna().all():
            continue
        values = pupils[dimension].dropna()
        for value in sorted(values.unique(), key=str):
            members = set(values.index[values == value])
            inside = rows["upn"].isin(members).to_numpy()
            n_in, n_out = len(members), rows.loc[~inside, "upn"].nunique()
            if n_in < SUPPRESS_BELOW or n_out < SUPPRESS_BELOW:
                out.append(Group(dimension=dimension, group=_group_label(dimension, value),
                                 suppressed=True, figures=None, attendance_gap=None,
                                 persistent_absence_gap=None))  # fmt: skip
                continue
            mine, others = figures_of(rows[inside]), figures_of(rows[~inside])
            out.append(
                Group(
                    dimension=dimension,
                    group=_group_label(dimension, value),
                    suppressed=False,
                    figures=mine,
                    attendance_gap=_gap(mine.attendance, others.attendance),
                    persistent_absence_gap=_gap(mine.persistent_absence, others.persistent_absence),
                )
            )
    return out


def term_of(day: dt.date) -> str:
    """The term a school week falls in, as the DfE's term figures cut the year: autumn
    (August–December), spring (January–March), summer (April–July)."""
    if day.month >= 8:
        return "autumn"
    return "spring" if day.month <= 3 else "summer"


def england_model(whole: EnglandFigure, academic_year: str) -> England:
    return England(
        academic_year=whole.academic_year,
        period=whole.period,
        same_year=whole.academic_year == academic_year,
        attendance=None if whole.absence is None else 1.0 - whole.absence,
        authorised_absence=whole.authorised,
        unauthorised_absence=whole.unauthorised,
        persistent_absence=whole.persistent_absence,
        source="DfE, Pupil attendance in schools (official statistics)",
    )


def trend_of(
    school: pd.Series, authority: pd.Series, terms: list[EnglandFigure]
) -> list[TrendWeek]:
    """The school's weeks, with the authority's same weeks and England's term figure."""
    by_term = {t.period: t for t in terms}
    out = []
    for week, value in school.items():
        term = by_term.get(term_of(week))
        england = None if term is None or term.absence is None else 1.0 - term.absence
        out.append(
            TrendWeek(
                week_start=week,
                school=float(value),
                authority=None if week not in authority.index else float(authority[week]),
                england=england,
                england_term=None if term is None else f"{term.period} {term.academic_year}",
            )
        )
    return out


# --- reading the store ------------------------------------------------------------------------


def _cohort_rows(session: Session, row: Trajectory) -> pd.DataFrame:
    return dfe_rows(current_trajectory(session, row), roster_frame(session, row.school_urn),
                    row.academic_year)  # fmt: skip


def _authority(
    session: Session, cache: FrameCache, key: tuple[Any, ...], phase: str, academic_year: str
) -> tuple[Figures, pd.Series, int]:
    """The authority's figures, weekly attendance and number of schools, cached under the
    data versions of every school of the phase (``key``)."""
    found = cache.get(key)
    if found is None:
        rows = session.scalars(
            select(Trajectory)
            .join(School, School.urn == Trajectory.school_urn)
            .where(School.phase == phase, Trajectory.academic_year == academic_year)
        ).all()
        frames = [_cohort_rows(session, r) for r in rows]
        everyone = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if everyone.empty:
            found = (figures_of(_empty()), pd.Series(dtype=float), 0)
        else:
            everyone["upn"] = everyone["school_urn"].astype(str) + "|" + everyone["upn"]
            found = (figures_of(everyone), weekly_attendance(everyone), len(rows))
        cache.put(key, found)
    return found


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in ["upn", *_SUMS]})


def _counts(session: Session, cache: FrameCache, db: Database, run: Any, share: float) -> Any:
    if run is None:
        return None
    tiers = dict(
        session.execute(
            select(Score.tier, func.count())
            .where(Score.school_urn == run.school_urn, Score.as_of == run.as_of)
            .group_by(Score.tier)
        ).all()
    )
    flags = school_lists.school_flags(session, cache, db.instance_id, run, share)
    return Counts(
        high=int(tiers.get("high", 0)),
        medium=int(tiers.get("medium", 0)),
        low=int(tiers.get("low", 0)),
        school_list=int(flags["on_school_list"].sum()),
        heading_there=int(flags["heading_there"].sum()),
        severe=int(flags["severe"].sum()),
        penalty_threshold=int(flags["penalty_reached"].sum()),
    )


_PHASE_OF = select(School.phase).where(School.urn == bindparam("urn")).scalar_subquery()
_LATEST_YEAR = (
    select(func.max(Trajectory.academic_year))
    .where(Trajectory.school_urn == bindparam("urn"))
    .scalar_subquery()
)
OVERVIEW_VERSIONS = (
    select(School.urn, School.data_version, _LATEST_YEAR.label("academic_year"))
    .join(Trajectory, Trajectory.school_urn == School.urn)
    .where(School.phase == _PHASE_OF, Trajectory.academic_year == _LATEST_YEAR)
    .order_by(School.urn)
)
"""What an overview is kept under, in one statement: ``(urn, data_version)`` of every school of
the school's phase with registers in the school's latest year, and that year (no rows when the
school is unknown or has no registers yet)."""


def school_overview(
    db: Database,
    principal: Principal,
    cache: FrameCache,
    england_figures: list[EnglandFigure],
    urn: int,
    share: float,
    as_json: bool = False,
) -> Any:
    """The school's overview (scoped to keys that may read its pupils; audited): a
    :class:`SchoolOverview`, or its JSON (``as_json``: serialised once, when computed).

    The answer is kept under the data versions of every school of the phase and the school's
    latest scoring, so a request after the first makes two small reads on one connection,
    outside any transaction, and writes its audit record; any upload anywhere in the phase
    makes it unreachable."""
    require_pupil_access(principal, urn)
    with db.autocommit() as connection:
        rows = connection.execute(OVERVIEW_VERSIONS, {"urn": urn}).all()
        run = latest_scoring(db, urn, connection)
    if not rows:
        _refuse_missing(db, urn)
    year = rows[0].academic_year
    versions = tuple((r.urn, r.data_version) for r in rows)
    scored = None if run is None else (run.as_of, run.data_version)
    key = ("overview", db.instance_id, urn, year, versions, scored, share,
           id(england_figures))  # fmt: skip
    found = cache.get(key)
    if found is None:
        with db.read_session() as session:
            school = session.get(School, urn)
            if school is None:  # removed since the key was read
                raise NotFound(f"no school {urn}")
            answer = _compute(session, db, cache, school, year, versions, run, england_figures,
                              share)  # fmt: skip
        found = (answer, answer.model_dump_json().encode())
        cache.put(key, found)
    audit.record(db, principal, "school.overview", school_urn=urn, records=found[0].school.pupils,
                 detail={"academic_year": year})  # fmt: skip
    return found[0] if not as_json else found[1]


def _refuse_missing(db: Database, urn: int) -> NoReturn:
    """Why a school has no overview: unknown, or no registers yet."""
    with db.read_session() as session:
        if session.get(School, urn) is None:
            raise NotFound(f"no school {urn}")
    raise NotFound(f"no registers for school {urn} yet",
                   fix="upload the roster and at least one week of registers")  # fmt: skip


def _compute(
    session: Session,
    db: Database,
    cache: FrameCache,
    school: School,
    year: str,
    versions: tuple[Any, ...],
    run: Any,
    england_figures: list[EnglandFigure],
    share: float,
) -> SchoolOverview:
    """The overview from the store (the school's part cached under its own data version)."""
    key = ("school", db.instance_id, school.urn, school.data_version, year)
    mine = cache.get(key)
    if mine is None:
        latest = session.get(Trajectory, (school.urn, year))
        assert latest is not None  # the year was read from this table in the same session
        rows = _cohort_rows(session, latest)
        weekly = weekly_attendance(rows)
        mine = (figures_of(rows), weekly, groups_of(rows), latest.last_week_start)
        cache.put(key, mine)
    figures, weekly, groups, last_week = mine
    authority_key = ("authority", db.instance_id, school.phase, year, versions)
    authority, authority_weekly, n_schools = _authority(
        session, cache, authority_key, school.phase, year
    )
    whole, terms = england_for(england_figures, school.phase, year)
    return SchoolOverview(
        school_urn=school.urn,
        name=school.name,
        phase=school.phase,
        academic_year=year,
        latest_week=last_week,
        school=figures,
        authority=authority,
        authority_schools=n_schools,
        england=None if whole is None else england_model(whole, year),
        counts=_counts(session, cache, db, run, share),
        as_of=None if run is None else run.as_of,
        trend=trend_of(weekly, authority_weekly, terms),
        groups=groups,
    )

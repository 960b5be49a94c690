"""What a simulated authority's marks say, measured the way the DfE measures: per enrolment,
per academic year and per term, and week by week (persistent absence *so far*).

Used by the fit (:mod:`simulator.fit`), the calibration report (:mod:`simulator.report`) and the
tests. Everything is computed from the marks with :func:`features.codes.categories`; the truth
is joined only for the fit (each enrolment's percentile and its DfE cell's rate) and for
grouping (phase, FSM, SEN...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.arithmetic import AUTH_ID, UNAUTH_ID, category_counts, dfe_cohort
from features.calendar import academic_years_of
from features.codes import categories

PERIODS = ("autumn", "spring", "summer")
"""The DfE's terms: autumn (half-terms 1-2), spring (3-4), summer (5-6)."""


@dataclass
class Outcomes:
    """Per enrolment (academic year × school × pupil): characteristics, the year's totals
    (``possible, absent, unauthorised, illness, rate``; ``rate_census`` over the DfE cohort's
    sessions, as the school census counts), each term's
    (``possible_autumn``, ``absent_autumn``...), and ``weekly_possible`` /
    ``weekly_absent`` (enrolments × school weeks, cumulative from the first week)."""

    enrolments: pd.DataFrame
    weekly_possible: np.ndarray
    weekly_absent: np.ndarray

    def pa_so_far(self, rows: np.ndarray | pd.Series | None = None) -> np.ndarray:
        """Per school week, the share of enrolments with sessions so far that are at or above
        10% absence so far (the DfE's 'persistent absence so far')."""
        keep = np.ones(len(self.enrolments), bool) if rows is None else np.asarray(rows)
        possible = self.weekly_possible[keep]
        absent = self.weekly_absent[keep]
        counted = possible > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            pa = counted & (absent >= 0.1 * possible)
        return pa.sum(axis=0) / np.maximum(counted.sum(axis=0), 1)


def _period_of_dates(
    dates: np.ndarray, calendars: dict[str, object]
) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct school day: its half-term (0-5) and its school week within the year."""
    period = np.full(len(dates), -1)
    week = np.full(len(dates), -1)
    for _, calendar in calendars.items():
        days = calendar.school_days()  # type: ignore[attr-defined]
        half = calendar.half_term_of_days()  # type: ignore[attr-defined]
        position = np.searchsorted(days, dates)
        inside = (position < len(days)) & (days[np.minimum(position, len(days) - 1)] == dates)
        period[inside] = half[position[inside]]
        weekday = (days.astype("int64") - 4) % 7
        mondays = days - weekday.astype("timedelta64[D]")
        week_of_day = np.unique(mondays, return_inverse=True)[1]
        week[inside] = week_of_day[position[inside]]
    return period, week


def measure(authority, n_weeks: int = 40) -> Outcomes:  # type: ignore[no-untyped-def]
    """Outcomes of a :class:`~simulator.authority.SimulatedAuthority` (from its marks)."""
    marks = authority.marks
    config = authority.config
    calendars = {year: config.calendar(year) for year in config.years}
    dates = marks["date"].to_numpy().astype("datetime64[D]")
    distinct, day_index = np.unique(dates, return_inverse=True)
    half_term_of_day, week_of_day = _period_of_dates(distinct, calendars)
    year = academic_years_of(pd.Series(distinct)).astype(str).to_numpy()[day_index]

    keys = pd.MultiIndex.from_arrays(
        [year, marks["school_urn"].to_numpy(), marks["upn"].cat.codes.to_numpy()]
    )
    enrolment, unique = keys.factorize()
    n = len(unique)
    ids = categories(marks["code"], marks["date"])
    totals = category_counts(ids, enrolment, n)
    absent = np.isin(ids, [AUTH_ID, UNAUTH_ID])
    counted = _counted(ids)
    illness = (marks["code"] == "I").to_numpy()
    frame = pd.DataFrame(
        {
            "academic_year": unique.get_level_values(0).astype(str),
            "school_urn": unique.get_level_values(1).astype(np.int64),
            "upn": np.asarray(marks["upn"].cat.categories)[unique.get_level_values(2)],
            "possible": totals["possible_sessions"].to_numpy(),
            "absent": (totals["authorised_absence"] + totals["unauthorised_absence"]).to_numpy(),
            "unauthorised": totals["unauthorised_absence"].to_numpy(),
            "illness": np.bincount(enrolment[illness], minlength=n),
        }
    )
    period = half_term_of_day[day_index] // 2
    # The school census (the DfE's annual figures) counts the DfE cohort: without the second
    # half of the summer term for pupils aged 15 (features.arithmetic.dfe_cohort); the
    # register figures count every session.
    census = dfe_cohort(marks, authority.pupils)["in_dfe_cohort"].to_numpy()
    frame["possible_census"] = np.bincount(enrolment[census & counted], minlength=n)
    frame["absent_census"] = np.bincount(enrolment[census & absent], minlength=n)
    for p, name in enumerate(PERIODS):
        in_period = period == p
        frame[f"possible_{name}"] = np.bincount(enrolment[in_period & counted], minlength=n)
        frame[f"absent_{name}"] = np.bincount(enrolment[in_period & absent], minlength=n)
        frame[f"illness_{name}"] = np.bincount(enrolment[in_period & illness], minlength=n)
    week = np.minimum(week_of_day[day_index], n_weeks - 1)
    cell = enrolment.astype(np.int64) * n_weeks + week
    weekly_possible = np.bincount(cell[counted], minlength=n * n_weeks).reshape(n, n_weeks)
    weekly_absent = np.bincount(cell[absent], minlength=n * n_weeks).reshape(n, n_weeks)
    frame["rate"] = frame["absent"] / frame["possible"].where(frame["possible"] > 0)

    pupils = authority.pupils.assign(
        upn=lambda p: p["upn"].astype(str), sen_any=lambda p: (p["sen"] != "N").astype(int)
    )
    key = ["academic_year", "school_urn", "upn"]
    frame = frame.merge(
        pupils[[*key, "fsm", "sen_any", "sex", "year_group", "eal", "ethnicity"]],
        on=key,
        how="left",
    )
    truth = authority.truth.assign(upn=lambda t: t["upn"].astype(str))
    frame = frame.merge(
        truth[[*key, "percentile", "target_rate", "unclassified"]], on=key, how="left"
    )
    phase = authority.schools.set_index("school_urn")["phase"]
    frame["phase"] = frame["school_urn"].map(phase).to_numpy()
    frame["rate_census"] = frame["absent_census"] / frame["possible_census"].where(
        frame["possible_census"] > 0
    )
    return Outcomes(
        enrolments=frame,
        weekly_possible=np.cumsum(weekly_possible, axis=1),
        weekly_absent=np.cumsum(weekly_absent, axis=1),
    )


def _counted(ids: np.ndarray) -> np.ndarray:
    """Sessions that are possible sessions (present, AEA, authorised, unauthorised)."""
    from features.arithmetic import AEA_ID, PRESENT_ID

    return np.isin(ids, [PRESENT_ID, AEA_ID, AUTH_ID, UNAUTH_ID])


def period_pa(enrolments: pd.DataFrame, period: str) -> float:
    """Share of enrolments with sessions in ``period`` (``year`` or a term) at ≥ 10% absence
    over that period."""
    if period == "year":
        possible, absent = enrolments["possible"], enrolments["absent"]
    else:
        possible, absent = enrolments[f"possible_{period}"], enrolments[f"absent_{period}"]
    counted = possible > 0
    return float((absent[counted] >= 0.1 * possible[counted]).mean())


def period_absence(enrolments: pd.DataFrame, period: str, what: str = "absent") -> float:
    """Overall absence rate (sessions missed ÷ possible) over ``period``; with ``what`` =
    ``illness``, the illness rate."""
    if period == "year":
        return float(enrolments[what].sum() / enrolments["possible"].sum())
    return float(enrolments[f"{what}_{period}"].sum() / enrolments[f"possible_{period}"].sum())

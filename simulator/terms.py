"""Term dates of the simulated local authority.

An English school year has three terms (autumn, spring, summer), each split by a one-week
half-term holiday, so six *half-terms*; two weeks at Christmas and at Easter; about 39 school
weeks and 190 pupil days (380 sessions). Local authorities set their own dates, so the dates are
a setting: :class:`TermDates` can be given per academic year in
:class:`simulator.config.SimulationConfig`; otherwise :func:`default_term_dates` builds a
typical calendar from rules that match most English LAs' published dates:

* autumn starts on the first weekday on or after 1 September (staff days first), half-term is
  the week starting on the Monday on or after 22 October, the term ends on the last weekday on
  or before 20 December;
* spring starts on 3 January (the next Monday when 3 January falls on a Thursday to Sunday),
  half-term is the week starting on the Monday on or after 12 February, the term ends before
  the two-week Easter holiday (the week before and the week after Easter Sunday);
* summer starts after Easter, the early-May bank holiday is a closure, half-term is the week of
  the spring bank holiday (last Monday of May), the term ends on the last weekday on or before
  22 July;
* every English bank holiday in term time (:func:`features.calendar.bank_holidays`: the early
  May bank holiday, a New Year substitute day on 3 January, one-off days such as the Queen's
  funeral on 19 September 2022 and the Coronation on 8 May 2023) is a closure;
* INSET (staff training) days make up the difference to exactly 190 pupil days: the first
  days of the autumn term, then the first day of the spring and summer terms.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from features.calendar import (
    academic_year_bounds,
    bank_holidays,
    easter_sunday,
    parse_academic_year,
)

PUPIL_DAYS = 190
"""Schools meet for at least 190 days (380 sessions) a year."""


@dataclass(frozen=True)
class TermDates:
    """The pupil days of one academic year.

    ``half_terms`` are the six (first day, last day) pairs, inclusive, in date order;
    ``closures`` are weekdays inside a half-term when pupils do not attend (bank holidays,
    INSET days). School days are the weekdays in the half-terms minus the closures.
    """

    half_terms: tuple[tuple[dt.date, dt.date], ...]
    closures: frozenset[dt.date] = frozenset()

    def validate(self, academic_year: str) -> None:
        """Raise ``ValueError`` (saying what to fix) unless the dates fit ``academic_year``."""
        first, last = academic_year_bounds(academic_year)
        if len(self.half_terms) != 6:
            raise ValueError(
                f"term dates for {academic_year}: give six half-terms (first day, last day), "
                f"not {len(self.half_terms)}"
            )
        previous_end: dt.date | None = None
        for number, (start, end) in enumerate(self.half_terms, start=1):
            if not first <= start <= end <= last:
                raise ValueError(
                    f"term dates for {academic_year}: half-term {number} ({start} to {end}) "
                    f"must run forwards inside the academic year {first} to {last}"
                )
            if previous_end is not None and start <= previous_end:
                raise ValueError(
                    f"term dates for {academic_year}: half-term {number} starts on {start}, "
                    f"before the previous one ends ({previous_end})"
                )
            previous_end = end
        if len(self.school_days()) < 100:
            raise ValueError(
                f"term dates for {academic_year} give only {len(self.school_days())} school "
                f"days; a school year has about {PUPIL_DAYS}"
            )

    def school_days(self) -> np.ndarray:
        """The pupil days, ascending (``datetime64[D]``)."""
        days = [
            np.arange(np.datetime64(start), np.datetime64(end) + 1, dtype="datetime64[D]")
            for start, end in self.half_terms
        ]
        all_days = np.concatenate(days)
        weekday = (all_days.astype("int64") - 4) % 7  # 1970-01-01 was a Thursday; Monday = 0
        closed = np.isin(all_days, np.array(sorted(self.closures), dtype="datetime64[D]"))
        return all_days[(weekday < 5) & ~closed]

    def half_term_of_days(self) -> np.ndarray:
        """For each school day (as :meth:`school_days`), its half-term number 0–5."""
        days = self.school_days()
        starts = np.array([s for s, _ in self.half_terms], dtype="datetime64[D]")
        return np.searchsorted(starts, days, side="right") - 1


def _weekday_on_or_after(day: dt.date, weekday: int = 0) -> dt.date:
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


def _first_weekday_on_or_after(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _last_weekday_on_or_before(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def _last_monday(year: int, month: int) -> dt.date:
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last = next_month - dt.timedelta(days=1)
    return last - dt.timedelta(days=last.weekday())


def default_term_dates(academic_year: str) -> TermDates:
    """A typical English LA calendar for ``academic_year`` with exactly 190 pupil days."""
    start_year = parse_academic_year(academic_year)
    end_year = start_year + 1
    week = dt.timedelta(days=7)
    day = dt.timedelta(days=1)

    autumn_start = _first_weekday_on_or_after(dt.date(start_year, 9, 1))
    october_half_term = _weekday_on_or_after(dt.date(start_year, 10, 22))
    autumn_end = _last_weekday_on_or_before(dt.date(start_year, 12, 20))

    january_3 = dt.date(end_year, 1, 3)
    spring_start = january_3 if january_3.weekday() <= 2 else _weekday_on_or_after(january_3)
    february_half_term = _weekday_on_or_after(dt.date(end_year, 2, 12))
    easter = easter_sunday(end_year)
    easter_holiday = easter - dt.timedelta(days=6)  # Monday before Easter Sunday
    summer_start = easter_holiday + 2 * week
    may_half_term = _last_monday(end_year, 5)
    summer_end = _last_weekday_on_or_before(dt.date(end_year, 7, 22))

    half_terms = (
        (autumn_start, october_half_term - 3 * day),
        (october_half_term + week, autumn_end),
        (spring_start, february_half_term - 3 * day),
        (february_half_term + week, easter_holiday - 3 * day),
        (summer_start, may_half_term - 3 * day),
        (may_half_term + week, summer_end),
    )
    holidays = bank_holidays([start_year, end_year])["date"].dt.date
    closed = {d for d in holidays if autumn_start <= d <= summer_end}
    calendar = TermDates(half_terms, frozenset(closed))

    surplus = len(calendar.school_days()) - PUPIL_DAYS
    if surplus < 0:
        # Too few days (only for unusual Easter dates): extend the summer term.
        end = summer_end
        while surplus < 0:
            end = _first_weekday_on_or_after(end + day)
            surplus += 1
        half_terms = (*half_terms[:5], (half_terms[5][0], end))
        return TermDates(half_terms, frozenset(closed))
    # INSET days: the first days of the autumn term, then the first school day of spring and
    # of summer (after any bank holiday), then — rarely needed — the last days of the year.
    days = calendar.school_days()
    spring_first = days[days >= np.datetime64(spring_start)][0]
    summer_first = days[days >= np.datetime64(summer_start)][0]
    candidates = [*days[:3].tolist(), spring_first.item(), summer_first.item()]
    candidates += [d for d in days[::-1].tolist() if d not in candidates]
    inset = set(candidates[:surplus])
    return TermDates(half_terms, frozenset(closed | inset))

"""Term dates of the simulated local authority.

An English school year has three terms (autumn, spring, summer), each split by a one-week
half-term holiday, so six *half-terms*; two weeks at Christmas and at Easter; about 39 school
weeks and 190 pupil days (380 sessions). Local authorities set their own dates, so the dates are
a setting: :class:`TermDates` can be given per academic year in
:class:`features.simulate.config.SimulationConfig`; otherwise :func:`default_term_dates` builds a
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
* one-off bank holidays in term time (the Queen's funeral on 19 September 2022, the
  Coronation on 8 May 2023) are closures;
* INSET (staff training) days make up the difference to exactly 190 pupil days: the first
  days of the autumn term, then the first day of the spring and summer terms.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from features.calendar import academic_year_bounds, parse_academic_year

PUPIL_DAYS = 190
"""Schools meet for at least 190 days (380 sessions) a year."""

_ONE_OFF_BANK_HOLIDAYS = (dt.date(2022, 9, 19), dt.date(2023, 5, 8))


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


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday (Gregorian calendar; the anonymous algorithm of Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


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
    bank_holidays = {_weekday_on_or_after(dt.date(end_year, 5, 1))}  # early May
    bank_holidays |= {d for d in _ONE_OFF_BANK_HOLIDAYS if autumn_start <= d <= summer_end}
    calendar = TermDates(half_terms, frozenset(bank_holidays))

    surplus = len(calendar.school_days()) - PUPIL_DAYS
    if surplus < 0:
        # Too few days (only for unusual Easter dates): extend the summer term.
        end = summer_end
        while surplus < 0:
            end = _first_weekday_on_or_after(end + day)
            surplus += 1
        half_terms = (*half_terms[:5], (half_terms[5][0], end))
        return TermDates(half_terms, frozenset(bank_holidays))
    inset: set[dt.date] = set()
    # INSET days: the first days of the autumn term, then the first day of spring and summer.
    candidates = [*calendar.school_days()[:3].tolist(), spring_start, summer_start]
    for candidate in candidates:
        if len(inset) == surplus:
            break
        inset.add(candidate)
    extra = calendar.school_days()[::-1].tolist()  # rare: more than five surplus days
    while len(inset) < surplus:
        inset.add(extra.pop(0))
    return TermDates(half_terms, frozenset(bank_holidays | inset))

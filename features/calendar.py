"""Academic years and school weeks.

An academic year runs from 1 August to 31 July and is written ``"2023/24"``. A **school week**
is a Monday-to-Sunday week in which the school recorded at least one register mark; weeks are
numbered 1, 2, … within an academic year per school, so holidays and half-terms never count.
The as-of date of a school week is its Friday.

English bank holidays (:func:`bank_holidays`, :func:`bank_holiday_names`) follow the Banking
and Financial Dealings Act 1971 and the royal proclamations listed on gov.uk/bank-holidays:
New Year's Day, Good Friday, Easter Monday, the early May, spring and summer bank holidays,
Christmas Day and Boxing Day, with a substitute weekday when one falls at a weekend, plus the
one-off and moved days in :data:`ONE_OFF_BANK_HOLIDAYS` and :data:`MOVED_BANK_HOLIDAYS`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

_YEAR_RE = re.compile(r"^(\d{4})/(\d{2})$")


def parse_academic_year(label: str) -> int:
    """The calendar year an academic year starts in: ``"2023/24"`` → 2023.

    Raises ``ValueError`` with the expected form for anything else.
    """
    match = _YEAR_RE.match(label.strip())
    if not match:
        raise ValueError(f"academic year {label!r} is not of the form YYYY/YY, e.g. 2023/24")
    start = int(match.group(1))
    if int(match.group(2)) != (start + 1) % 100:
        raise ValueError(f"academic year {label!r}: the second part must be the next year")
    return start


def academic_year_label(start_year: int) -> str:
    """``2023`` → ``"2023/24"``."""
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def academic_year_of(day: dt.date) -> str:
    """The academic year (1 August – 31 July) a date falls in."""
    return academic_year_label(day.year if day.month >= 8 else day.year - 1)


def academic_year_bounds(label: str) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of an academic year."""
    start = parse_academic_year(label)
    return dt.date(start, 8, 1), dt.date(start + 1, 7, 31)


def academic_years_of(dates: pd.Series) -> pd.Series:
    """Vectorised :func:`academic_year_of` (returns a categorical of labels)."""
    d = pd.to_datetime(dates)
    start = d.dt.year - (d.dt.month < 8).astype(int)
    uniq = np.unique(start.to_numpy())
    labels = {int(y): academic_year_label(int(y)) for y in uniq}
    return start.map(labels).astype("category")


def previous_academic_year(label: str) -> str:
    """``"2023/24"`` → ``"2022/23"``."""
    return academic_year_label(parse_academic_year(label) - 1)


def week_start(dates: pd.Series) -> pd.Series:
    """The Monday of each date's week (datetime64)."""
    d = pd.to_datetime(dates)
    return (d - pd.to_timedelta(d.dt.day_of_week, unit="D")).dt.normalize()


# --- English bank holidays --------------------------------------------------------------------

ONE_OFF_BANK_HOLIDAYS: dict[dt.date, str] = {
    dt.date(1999, 12, 31): "Millennium Eve bank holiday",
    dt.date(2002, 6, 3): "Golden Jubilee bank holiday",
    dt.date(2011, 4, 29): "royal wedding bank holiday",
    dt.date(2012, 6, 5): "Diamond Jubilee bank holiday",
    dt.date(2022, 6, 3): "Platinum Jubilee bank holiday",
    dt.date(2022, 9, 19): "bank holiday for the State Funeral of Queen Elizabeth II",
    dt.date(2023, 5, 8): "bank holiday for the coronation of King Charles III",
}
"""Extra bank holidays proclaimed for one year (gov.uk/bank-holidays)."""

MOVED_BANK_HOLIDAYS: dict[tuple[int, str], dt.date] = {
    (1995, "early May bank holiday"): dt.date(1995, 5, 8),  # VE Day, 50 years
    (2002, "spring bank holiday"): dt.date(2002, 6, 4),
    (2012, "spring bank holiday"): dt.date(2012, 6, 4),
    (2020, "early May bank holiday"): dt.date(2020, 5, 8),  # VE Day, 75 years
    (2022, "spring bank holiday"): dt.date(2022, 6, 2),
}
"""Regular bank holidays moved by proclamation in a given year."""


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


def _first_monday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(-first.weekday()) % 7)


def _last_monday(year: int, month: int) -> dt.date:
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=last.weekday())


@functools.cache
def _bank_holidays_of(year: int) -> tuple[tuple[dt.date, str], ...]:
    day = dt.timedelta(days=1)
    easter = easter_sunday(year)
    regular = {
        "early May bank holiday": _first_monday(year, 5),
        "spring bank holiday": _last_monday(year, 5),
        "summer bank holiday": _last_monday(year, 8),
    }
    found: dict[dt.date, str] = {
        easter - 2 * day: "Good Friday",
        easter + day: "Easter Monday",
    }
    for name, date in regular.items():
        found[MOVED_BANK_HOLIDAYS.get((year, name), date)] = name
    new_year = dt.date(year, 1, 1)
    if new_year.weekday() >= 5:  # Saturday or Sunday: the next Monday instead
        found[new_year + dt.timedelta(days=7 - new_year.weekday())] = (
            "New Year's Day (substitute day)"
        )
    else:
        found[new_year] = "New Year's Day"
    christmas, boxing = dt.date(year, 12, 25), dt.date(year, 12, 26)
    if christmas.weekday() == 5:  # Saturday: Monday and Tuesday instead
        found[christmas + 2 * day] = "Christmas Day (substitute day)"
        found[christmas + 3 * day] = "Boxing Day (substitute day)"
    elif christmas.weekday() == 6:  # Sunday: Boxing Day on Monday, Christmas on Tuesday
        found[boxing] = "Boxing Day"
        found[christmas + 2 * day] = "Christmas Day (substitute day)"
    else:
        found[christmas] = "Christmas Day"
        if boxing.weekday() == 5:  # Christmas on a Friday: Boxing Day on Monday
            found[boxing + 2 * day] = "Boxing Day (substitute day)"
        else:
            found[boxing] = "Boxing Day"
    found |= {d: name for d, name in ONE_OFF_BANK_HOLIDAYS.items() if d.year == year}
    return tuple(sorted(found.items()))


def bank_holidays(years: Iterable[int]) -> pd.DataFrame:
    """English bank holidays of the calendar ``years``: ``date`` (datetime64) and ``name``,
    sorted by date."""
    rows = [pair for year in sorted(set(int(y) for y in years)) for pair in _bank_holidays_of(year)]
    return pd.DataFrame(
        {
            "date": pd.to_datetime([d for d, _ in rows]).astype("datetime64[us]"),
            "name": pd.Series([n for _, n in rows], dtype="object"),
        }
    )


def bank_holiday_names(dates: pd.Series) -> pd.Series:
    """Vectorised: the bank holiday each date falls on (its name), ``None`` where none does
    (and where the date is missing). Indexed like ``dates``."""
    days = pd.to_datetime(dates).dt.normalize()
    codes, uniques = pd.factorize(days)
    names = np.full(len(uniques) + 1, None, dtype=object)  # last slot: missing dates
    if len(uniques):
        table = bank_holidays(pd.DatetimeIndex(uniques).year.unique())
        lookup = pd.Series(table["name"].to_numpy(), index=pd.DatetimeIndex(table["date"]))
        found = lookup.reindex(pd.DatetimeIndex(uniques)).astype(object)
        names[:-1] = found.where(found.notna(), None).to_numpy(dtype=object)
    return pd.Series(names[codes], index=dates.index, dtype="object")

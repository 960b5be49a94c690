"""Academic years and school weeks.

An academic year runs from 1 August to 31 July and is written ``"2023/24"``. A **school week**
is a Monday-to-Sunday week in which the school recorded at least one register mark; weeks are
numbered 1, 2, … within an academic year per school, so holidays and half-terms never count.
The as-of date of a school week is its Friday.
"""

from __future__ import annotations

import datetime as dt
import re

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

"""Academic years, and English bank holidays checked against gov.uk/bank-holidays."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.calendar import bank_holiday_names, bank_holidays, easter_sunday
from simulator.terms import default_term_dates

D = dt.date


def holidays(year: int) -> dict[dt.date, str]:
    table = bank_holidays([year])
    return dict(zip(table["date"].dt.date, table["name"], strict=True))


def test_bank_holidays_of_2024_by_hand():
    assert holidays(2024) == {
        D(2024, 1, 1): "New Year's Day",
        D(2024, 3, 29): "Good Friday",
        D(2024, 4, 1): "Easter Monday",
        D(2024, 5, 6): "early May bank holiday",
        D(2024, 5, 27): "spring bank holiday",
        D(2024, 8, 26): "summer bank holiday",
        D(2024, 12, 25): "Christmas Day",
        D(2024, 12, 26): "Boxing Day",
    }


def test_substitute_days_when_christmas_or_new_year_fall_at_a_weekend():
    # 2021: Christmas on a Saturday → Monday 27 and Tuesday 28. 2022: Christmas on a Sunday →
    # Boxing Day on Monday 26, Christmas on Tuesday 27; New Year's Day on a Saturday → Monday 3.
    # 2020: Christmas on a Friday → Boxing Day on Monday 28.
    assert {d: n for d, n in holidays(2021).items() if d.month == 12} == {
        D(2021, 12, 27): "Christmas Day (substitute day)",
        D(2021, 12, 28): "Boxing Day (substitute day)",
    }
    december_2022 = {d: n for d, n in holidays(2022).items() if d.month == 12}
    assert december_2022 == {
        D(2022, 12, 26): "Boxing Day",
        D(2022, 12, 27): "Christmas Day (substitute day)",
    }
    assert holidays(2022)[D(2022, 1, 3)] == "New Year's Day (substitute day)"
    assert D(2022, 1, 1) not in holidays(2022)
    assert holidays(2020)[D(2020, 12, 28)] == "Boxing Day (substitute day)"
    assert D(2020, 12, 26) not in holidays(2020)


def test_one_off_and_moved_bank_holidays():
    h2022 = holidays(2022)
    assert h2022[D(2022, 6, 2)] == "spring bank holiday"  # moved from 30 May for the Jubilee
    assert D(2022, 5, 30) not in h2022
    assert h2022[D(2022, 6, 3)] == "Platinum Jubilee bank holiday"
    assert "Queen Elizabeth II" in h2022[D(2022, 9, 19)]
    assert "coronation" in holidays(2023)[D(2023, 5, 8)]
    assert holidays(2020)[D(2020, 5, 8)] == "early May bank holiday"  # VE Day, a Friday
    assert len(holidays(2022)) == 10 and len(holidays(2023)) == 9


def test_easter_sunday_matches_the_calendar():
    assert easter_sunday(2024) == D(2024, 3, 31)
    assert easter_sunday(2025) == D(2025, 4, 20)
    assert easter_sunday(2019) == D(2019, 4, 21)


def test_bank_holiday_names_is_vectorised_and_keeps_the_index():
    dates = pd.Series(
        pd.to_datetime(["2024-12-25", "2024-12-24", None, "2025-04-18", "2024-12-25"]),
        index=[10, 11, 12, 13, 14],
    )
    names = bank_holiday_names(dates)
    assert list(names.index) == [10, 11, 12, 13, 14]
    assert names.tolist() == ["Christmas Day", None, None, "Good Friday", "Christmas Day"]


@pytest.mark.parametrize("start", range(2010, 2035))
def test_the_simulators_calendar_never_opens_on_a_bank_holiday(start):
    days = default_term_dates(f"{start}/{(start + 1) % 100:02d}").school_days()
    assert len(days) == 190
    on_holiday = np.isin(days, bank_holidays([start, start + 1])["date"].to_numpy())
    assert not on_holiday.any(), days[on_holiday]

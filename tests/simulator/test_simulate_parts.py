"""Building blocks of the simulator: DfE bands and quantiles, budgets, term dates, UPNs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.upn import is_valid_upn
from simulator.calibration import (
    BAND_COLUMNS,
    RateDistributions,
    band_of,
    characteristic_shares,
    load_absence_bands,
)
from simulator.config import parse_years
from simulator.model import _budget_in_band
from simulator.population import UpnAllocator
from simulator.terms import TermDates, default_term_dates


def test_band_of_puts_edges_in_the_upper_band_as_the_dfe_does():
    rates = np.array([0.0, 0.0499, 0.05, 38 / 380, 37 / 380, 0.4999, 0.5, 1.0])
    np.testing.assert_array_equal(band_of(rates), [0, 0, 1, 2, 1, 9, 10, 10])


def test_band_data_reproduces_the_published_national_figures():
    # SOURCE.md: PA 10.86% and 21.22%, severe 0.85% and 2.03% (2018/19, 2022/23).
    for year, pa, severe in (("2018/19", 0.1086, 0.0085), ("2022/23", 0.2122, 0.0203)):
        bands = load_absence_bands(year)
        total = bands["enrolments"].sum()
        assert bands[BAND_COLUMNS[2:]].sum().sum() / total == pytest.approx(pa, abs=5e-5)
        assert bands["band_50_plus"].sum() / total == pytest.approx(severe, abs=5e-5)


def test_quantiles_of_a_cell_reproduce_its_dfe_bands_exactly():
    bands = load_absence_bands("2022/23")
    cell = bands[
        (bands["phase"] == "secondary")
        & (bands["fsm"] == 1)
        & (bands["sen_any"] == 0)
        & (bands["sex"] == "M")
        & (bands["year_group"] == 9)
    ]
    expected = cell[BAND_COLUMNS].to_numpy()[0] / cell["enrolments"].iloc[0]
    n = 100_000
    u = (np.arange(n) + 0.5) / n
    rates = RateDistributions("2022/23").rates(
        u,
        np.full(n, "secondary"),
        np.ones(n, int),
        np.zeros(n, int),
        np.full(n, "M"),
        np.full(n, 9),
    )
    observed = np.bincount(band_of(rates), minlength=11) / n
    np.testing.assert_allclose(observed, expected, atol=2e-5)
    assert np.all(np.diff(rates) >= 0)  # a quantile function
    assert rates.min() >= 0 and rates.max() <= 1


@settings(max_examples=60, deadline=None)
@given(
    u=st.lists(st.floats(1e-6, 1 - 1e-6), min_size=1, max_size=50),
    phase=st.sampled_from(["primary", "secondary", "special"]),
    year_group=st.integers(1, 11),
)
def test_rates_are_valid_fractions_and_rise_with_the_percentile(u, phase, year_group):
    u = np.sort(np.array(u))
    n = len(u)
    rates = RateDistributions("2018/19").rates(
        u,
        np.full(n, phase),
        np.zeros(n, int),
        np.ones(n, int),
        np.full(n, "F"),
        np.full(n, year_group),
    )
    assert np.all((rates >= 0) & (rates <= 1))
    assert np.all(np.diff(rates) >= -1e-12)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0, 1),
    possible=st.integers(2, 380),
    seed=st.integers(0, 2**32 - 1),
)
def test_budget_stays_within_a_session_of_the_rate_and_in_its_band(rate, possible, seed):
    budget = _budget_in_band(np.array([rate]), np.array([possible]), np.random.default_rng(seed))
    assert 0 <= budget[0] <= possible
    assert abs(budget[0] - rate * possible) <= 1.0 + 1e-9
    # When a whole session fits inside the rate's band, the budget never leaves it.
    lower, upper = np.floor(rate / 0.05 + 1e-9) * 0.05, np.floor(rate / 0.05 + 1e-9) * 0.05 + 0.05
    if rate < 0.5 and np.ceil(lower * possible) < upper * possible:
        assert band_of(budget / possible)[0] == band_of(np.array([rate]))[0]


def test_budget_rounding_is_nearly_unbiased():
    # Only rates within a session below a band edge are always rounded down: with 380
    # sessions that is 1/19 of the pupils, each half a session on average → -0.026 sessions.
    rng = np.random.default_rng(0)
    rate = rng.uniform(0, 0.3, size=200_000)
    budget = _budget_in_band(rate, np.full(len(rate), 380), rng)
    assert budget.mean() - (rate * 380).mean() == pytest.approx(-0.5 / 19, abs=0.01)


def test_characteristic_shares_sum_to_one_per_phase_and_year_group():
    shares = characteristic_shares("2022/23")
    totals = shares.groupby(["phase", "year_group"])["share"].sum()
    np.testing.assert_allclose(totals.to_numpy(), 1.0)
    fsm = shares[shares["fsm"] == 1].groupby("phase")["share"].sum() / 11
    assert 0.2 < fsm["primary"] < 0.3  # DfE 2022/23: about a quarter eligible for FSM


# --- term dates -------------------------------------------------------------------------------


def test_default_calendar_for_2024_25_by_hand():
    days = pd.DatetimeIndex(default_term_dates("2024/25").school_days())
    assert len(days) == 190
    # 1 Sept 2024 is a Sunday: staff start Monday 2nd, three INSET days, pupils Thursday 5th.
    assert days[0].date() == dt.date(2024, 9, 5)
    assert days[-1].date() == dt.date(2025, 7, 21)
    dates = set(days.date)
    assert dt.date(2024, 10, 28) not in dates  # October half-term (Monday on/after 22 Oct)
    assert dt.date(2024, 10, 25) in dates and dt.date(2024, 11, 4) in dates
    assert dt.date(2024, 12, 20) in dates and dt.date(2025, 1, 6) not in dates  # INSET
    assert dt.date(2025, 2, 17) not in dates  # February half-term
    assert dt.date(2025, 4, 11) in dates and dt.date(2025, 4, 14) not in dates  # Easter
    assert dt.date(2025, 5, 5) not in dates  # early May bank holiday
    assert dt.date(2025, 5, 26) not in dates  # spring bank holiday, May half-term


@pytest.mark.parametrize("year", ["2016/17", "2018/19", "2021/22", "2022/23", "2025/26"])
def test_every_default_calendar_has_190_weekdays(year):
    calendar = default_term_dates(year)
    days = pd.DatetimeIndex(calendar.school_days())
    assert len(days) == 190 and (days.day_of_week < 5).all()
    assert len(set(calendar.half_term_of_days())) == 6


def test_custom_term_dates_are_checked():
    good = default_term_dates("2024/25")
    good.validate("2024/25")
    backwards = TermDates(((dt.date(2024, 10, 1), dt.date(2024, 9, 1)), *good.half_terms[1:]))
    with pytest.raises(ValueError, match="half-term 1"):
        backwards.validate("2024/25")
    with pytest.raises(ValueError, match="six half-terms"):
        TermDates(good.half_terms[:3]).validate("2024/25")


# --- UPNs and years -----------------------------------------------------------------------------


def test_upn_allocator_gives_unique_valid_upns_even_past_999_per_school():
    allocator = UpnAllocator()
    n = 2500
    upns = allocator.allocate(np.full(n, 990), np.full(n, 2001), np.full(n, 2018))
    upns = np.concatenate(
        [upns, allocator.allocate(np.full(10, 990), np.full(10, 2001), np.full(10, 2018))]
    )
    assert len(set(upns)) == len(upns)
    assert all(is_valid_upn(u) for u in upns)
    assert upns[0][1:] == "990200118000"  # LA 990, establishment 2001, 2018, serial 000
    assert upns[1000][1:5] == "9909"  # overflow: pseudo establishment 9000


def test_parse_years_takes_labels_or_a_count():
    assert parse_years("2022/23,2023/24") == ("2022/23", "2023/24")
    assert parse_years("3") == ("2022/23", "2023/24", "2024/25")
    with pytest.raises(ValueError, match="YYYY/YY"):
        parse_years("2022-23")

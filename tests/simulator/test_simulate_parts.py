"""Building blocks of the simulator: DfE bands and quantiles, episodes, drift, the calendar's
shape, the fitted background, term dates, UPNs."""

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
    EPIDEMICS,
    FIT_KNOTS,
    REGIMES,
    BaselineFit,
    RateDistributions,
    band_of,
    baseline_fit,
    characteristic_shares,
    load_absence_bands,
)
from simulator.config import Dynamics, parse_years
from simulator.episodes import DEFAULT_EPISODES, SEASONS, weekly_season
from simulator.model import Episodes, PupilYear, draw_episodes, weekly_drift
from simulator.population import UpnAllocator
from simulator.shapes import DayShapes
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


# --- episodes, drift and the calendar's shape ------------------------------------------------


def _episodes(onset, ramp_end, plateau_end, recovery_end) -> Episodes:
    as_array = lambda v: np.array([[v]])  # noqa: E731 - one person, one kind
    return Episodes(
        onset=as_array(onset),
        precursor_start=as_array(-1),
        ramp_end=as_array(ramp_end),
        plateau_end=as_array(plateau_end),
        recovery_end=as_array(recovery_end),
        intensity=as_array(0.3),
        carried=as_array(False),
    )


def test_an_episode_ramps_up_holds_and_recovers_by_hand():
    # Onset on day 2, full by day 5 (a 3-day ramp), plateau to day 7, recovered by day 9.
    profile = _episodes(2, 5, 7, 9).profile(0, np.array([0]), 11)[0]
    np.testing.assert_allclose(profile, [0, 0, 1 / 3, 2 / 3, 1, 1, 1, 1, 0.5, 0, 0], atol=1e-6)


def test_no_episode_has_no_profile():
    assert not _episodes(-1, -1, -1, -1).profile(0, np.array([0]), 20).any()


def _shapes() -> DayShapes:
    return DayShapes(default_term_dates("2024/25"), Dynamics(), "2022/23")


def test_calendar_shapes_have_mean_one_and_their_peaks_where_the_dfe_sees_them():
    shapes = _shapes()
    assert shapes.illness.mean() == pytest.approx(1.0)
    assert shapes.other.mean(axis=1) == pytest.approx([1.0, 1.0, 1.0])
    december = (shapes.days >= np.datetime64("2024-12-01")) & (
        shapes.days <= np.datetime64("2024-12-20")
    )
    june = (shapes.days >= np.datetime64("2025-06-01")) & (
        shapes.days <= np.datetime64("2025-06-30")
    )
    assert shapes.illness[december].mean() > 1.4 * shapes.illness[june].mean()
    secondary = shapes.other[1]
    assert secondary[shapes.half_term >= 4].mean() > 1.3 * secondary[shapes.half_term <= 1].mean()
    # Year 7: a quiet first half-term, then more absence than the year's average by summer.
    assert shapes.year7[shapes.half_term == 0].mean() < 0.85 < 1.1 < shapes.year7[-20:].mean()
    assert shapes.epidemic.sum() == pytest.approx(EPIDEMICS["2022/23"].attack, rel=0.05)


@pytest.mark.parametrize("season", SEASONS)
def test_every_season_has_mean_one(season):
    shapes = _shapes()
    weekly = weekly_season(season, shapes.week_illness, shapes.week_after_break)
    assert weekly.mean() == pytest.approx(1.0)
    if season == "term_start":
        assert weekly[0] == weekly.max()  # most onsets in the first weeks of the year


def test_the_weekly_drift_has_mean_one_and_moves_slowly():
    shapes = _shapes()
    drift = weekly_drift(20_000, shapes, Dynamics(), np.random.default_rng(0))
    assert drift.mean() == pytest.approx(1.0, abs=0.01)
    log = np.log(drift[:, shapes.week_first_day])
    next_week = np.corrcoef(log[:, 10], log[:, 11])[0, 1]
    a_term_later = np.corrcoef(log[:, 10], log[:, 25])[0, 1]
    assert next_week > 0.8 > 0.3 > a_term_later


def test_onsets_of_an_average_pupil_happen_at_the_kinds_yearly_rate():
    shapes = _shapes()
    n = 40_000
    zeros = np.zeros(n)
    pupils = PupilYear(
        person=np.arange(n),
        phase=np.full(n, 1),
        year_group=np.full(n, 9),
        female=zeros.astype(bool),
        fsm=zeros.astype(bool),
        sen_any=zeros.astype(bool),
        school=zeros.astype(int),
        start=zeros.astype(int),
        end=np.full(n, shapes.n_days - 1),
        base_rate=np.full(n, 0.05),
        z=zeros,
        style=zeros,
        late_trait=zeros,
        observant=zeros.astype(bool),
        carried=np.zeros((n, len(DEFAULT_EPISODES)), dtype=np.float32),
    )
    episodes = draw_episodes(pupils, n, shapes, Dynamics(), np.random.default_rng(1))
    for k, kind in enumerate(DEFAULT_EPISODES):
        # The hazard scales with the year group's factor: Year 9's chance of an onset.
        hazard = -np.log1p(-kind.yearly_onset["secondary"]) * kind.year_group_factor[8]
        observed = (episodes.onset[:, k] >= 0).mean()
        assert observed == pytest.approx(1 - np.exp(-hazard), rel=0.1), kind.name
    # Onsets are spread over the whole year, not decided in September.
    onsets = episodes.onset[episodes.onset >= 0]
    assert (onsets > shapes.n_days // 2).mean() > 0.3


def test_the_shipped_fit_is_interpolated_between_its_knots_and_neutral_without_one():
    fit = BaselineFit(
        regime="2022/23",
        factors={"primary|fsm=0|sen=0": tuple(np.linspace(1.0, 0.5, len(FIT_KNOTS)))},
        other_intercept={},
        provenance={},
    )
    u = np.array([FIT_KNOTS[1], (FIT_KNOTS[1] + FIT_KNOTS[2]) / 2, 0.5])
    step = 0.5 / (len(FIT_KNOTS) - 1)
    factor = fit.factor(u, np.array(["primary"] * 3), np.zeros(3), np.zeros(3), np.zeros(3, bool))
    assert factor[0] == pytest.approx(1.0 - step)
    assert factor[1] == pytest.approx(1.0 - 1.5 * step)
    other = fit.factor(u, np.array(["secondary"] * 3), np.zeros(3), np.zeros(3), np.zeros(3, bool))
    np.testing.assert_array_equal(other, 1.0)  # a group the fit never saw is not deflated
    assert BaselineFit.neutral("2018/19").factors == {}


def test_every_regime_ships_a_fit():
    for regime in REGIMES:
        fit = baseline_fit(regime)
        assert fit.provenance.get("fitted"), regime
        assert all(len(v) == len(FIT_KNOTS) for v in fit.factors.values())
        assert set(fit.other_intercept) == {"primary", "secondary", "special"}


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

"""Behaviour of the simulator that the calibration figures do not show: differences between
schools, life events and recoveries, and the rise in absence before each half-term — each
checked against the generated marks (and the hidden truth that says who had what)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from features.arithmetic import enrolment_totals
from features.codes import CATEGORY_ID, Category, categories
from simulator import SimulationConfig, simulate_authority

YEAR = "2024/25"
CONFIG = SimulationConfig(pupils=4000, schools=20, years=(YEAR,), seed=3)


@dataclass
class Days:
    """Per enrolment (rows of ``truth``) × school day: absent and possible days (½ a day per
    session)."""

    absent: np.ndarray
    possible: np.ndarray
    truth: pd.DataFrame
    half_term: np.ndarray  # half-term number 0–5 of each school day
    event_day: np.ndarray  # school-day index of each enrolment's life event (n_days if none)


@pytest.fixture(scope="module")
def authority():
    return simulate_authority(CONFIG)


@pytest.fixture(scope="module")
def days(authority) -> Days:
    marks = authority.marks
    ids = categories(marks["code"], marks["date"])
    absent = np.isin(ids, [CATEGORY_ID[Category.AUTHORISED], CATEGORY_ID[Category.UNAUTHORISED]])
    calendar = CONFIG.calendar(YEAR)
    school_days = calendar.school_days()
    day = np.searchsorted(school_days, marks["date"].to_numpy().astype("datetime64[D]"))
    truth = authority.truth.assign(upn=lambda t: t["upn"].astype(str))
    enrolment = pd.MultiIndex.from_frame(truth[["school_urn", "upn"]]).get_indexer(
        pd.MultiIndex.from_arrays(
            [marks["school_urn"].to_numpy(), marks["upn"].astype(str).to_numpy()]
        )
    )
    n_enrol, n_days = len(truth), len(school_days)
    cell = enrolment * n_days + day
    shape = (n_enrol, n_days)
    event = truth["event_date"].to_numpy().astype("datetime64[D]")
    event_day = np.where(np.isnat(event), n_days, np.searchsorted(school_days, event))
    return Days(
        absent=np.bincount(cell, weights=absent, minlength=n_enrol * n_days).reshape(shape) / 2,
        possible=np.bincount(cell, minlength=n_enrol * n_days).reshape(shape) / 2,
        truth=truth,
        half_term=calendar.half_term_of_days(),
        event_day=event_day,
    )


def _rate(days: Days, window: np.ndarray) -> np.ndarray:
    """Each enrolment's absence rate over a (enrolments × days) window (NaN if empty)."""
    possible = (days.possible * window).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(possible > 0, (days.absent * window).sum(axis=1) / possible, np.nan)


# --- differences between schools ---------------------------------------------------------------


@pytest.fixture(scope="module")
def schools(authority) -> pd.DataFrame:
    totals = enrolment_totals(authority.marks)
    marks = authority.marks
    late = (marks["code"] == "L").groupby(marks["school_urn"], observed=True).sum()
    mornings = (marks["session"] == "AM").groupby(marks["school_urn"], observed=True).sum()
    per_school = totals.groupby("school_urn")[
        ["overall_absence", "unauthorised_absence", "possible_sessions"]
    ].sum()
    return per_school.assign(
        absence_rate=lambda s: s["overall_absence"] / s["possible_sessions"],
        unauthorised_share=lambda s: s["unauthorised_absence"] / s["overall_absence"],
        late_rate=(late / mornings).reindex(per_school.index),
        phase=authority.schools.set_index("school_urn")["phase"],
    ).join(authority.school_truth.set_index("school_urn"))


def test_schools_differ_more_than_their_pupils_alone_would_make_them(authority):
    """Between-school variance of the absence rate among primaries, against the same pupils
    dealt to the schools at random (keeping school sizes): 200 permutations."""
    totals = enrolment_totals(authority.marks)
    phase = totals["school_urn"].map(authority.schools.set_index("school_urn")["phase"])
    primary = totals[(phase == "primary").to_numpy() & (totals["possible_sessions"] > 0)]
    school_codes = pd.factorize(primary["school_urn"])[0]
    absent = primary["overall_absence"].to_numpy(float)
    possible = primary["possible_sessions"].to_numpy(float)

    def between_school_variance(codes: np.ndarray) -> float:
        return float(np.var(np.bincount(codes, absent) / np.bincount(codes, possible)))

    observed = between_school_variance(school_codes)
    rng = np.random.default_rng(0)
    shuffled = [between_school_variance(rng.permutation(school_codes)) for _ in range(200)]
    assert observed > 2 * max(shuffled)


def test_a_schools_absence_effect_raises_its_absence_rate(schools):
    primary = schools[schools["phase"] == "primary"]
    assert len(primary) >= 10
    assert spearmanr(primary["absence_rate"], primary["absence_effect"])[0] > 0.7


def test_a_schools_coding_culture_leans_its_absence_to_unauthorised(schools):
    mainstream = schools[schools["phase"] != "special"]
    # Within phase (secondaries record more unauthorised absence whatever their culture).
    ranks = mainstream.groupby("phase")[["unauthorised_share", "coding_effect"]].rank()
    assert spearmanr(ranks["unauthorised_share"], ranks["coding_effect"])[0] > 0.4


def test_a_schools_late_effect_raises_its_lateness(schools):
    assert spearmanr(schools["late_rate"], schools["late_effect"])[0] > 0.7


# --- life events and recoveries ------------------------------------------------------------------


def test_pupils_with_a_life_event_miss_more_after_it_starts_than_before(days):
    n_days = days.absent.shape[1]
    full_year = days.possible.sum(axis=1) == n_days
    event = full_year & (days.event_day < n_days)
    assert event.sum() >= 200
    t = np.arange(n_days)[None, :]
    before = _rate(days, t < days.event_day[:, None])[event]
    after = _rate(days, t >= days.event_day[:, None])[event]
    assert np.nanmean(after) > 2.5 * np.nanmean(before)
    assert np.nanmean(after > before) > 0.8  # for most of them, not on average only
    # Pupils without an event have no such break: their second half is like their first.
    none = full_year & (days.event_day == n_days)
    half = t < n_days // 2
    first, second = _rate(days, half)[none], _rate(days, ~half)[none]
    assert np.nanmean(second) < 1.4 * np.nanmean(first)


def test_some_pupils_recover_from_a_life_event_and_the_others_do_not(days):
    n_days = days.absent.shape[1]
    full_year = days.possible.sum(axis=1) == n_days
    # Events early enough for a recovery (after 20–60 school days, over 15 days) to be seen.
    early = full_year & (days.event_day < n_days - 110)
    recovers = days.truth["event_recovers"].to_numpy()
    t = np.arange(n_days)[None, :]
    peak = _rate(days, (t >= days.event_day[:, None] + 10) & (t < days.event_day[:, None] + 20))
    late = _rate(days, t >= days.event_day[:, None] + 80)
    recovered, stayed = early & recovers, early & ~recovers
    assert recovered.sum() >= 40 and stayed.sum() >= 40
    assert np.nanmean(late[recovered]) < 0.6 * np.nanmean(peak[recovered])
    assert np.nanmean(late[stayed]) > 0.8 * np.nanmean(peak[stayed])


# --- the rise before half-term ---------------------------------------------------------------


def test_absence_rises_in_the_last_week_of_each_half_term(days, authority):
    """The LA's absence in each half-term's last five school days against the ten before."""
    rate_by_day = days.absent.sum(axis=0) / days.possible.sum(axis=0)
    # The same without term-time holidays (G, H), which sit next to the breaks too.
    marks = authority.marks
    holiday = marks["code"].isin(["G", "H"]).to_numpy()
    school_days = CONFIG.calendar(YEAR).school_days()
    day = np.searchsorted(school_days, marks["date"].to_numpy().astype("datetime64[D]"))
    holiday_by_day = np.bincount(day, weights=holiday, minlength=len(school_days)) / 2
    other_by_day = rate_by_day - holiday_by_day / days.possible.sum(axis=0)
    ratios, other_ratios = [], []
    for half_term in range(6):
        position = np.flatnonzero(days.half_term == half_term)
        last_week, before = position[-5:], position[-15:-5]
        ratios.append(rate_by_day[last_week].mean() / rate_by_day[before].mean())
        other_ratios.append(other_by_day[last_week].mean() / other_by_day[before].mean())
    assert min(ratios) > 1.05, ratios
    assert np.mean(ratios) > 1.2
    assert np.mean(other_ratios) > 1.1, other_ratios

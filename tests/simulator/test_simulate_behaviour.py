"""Behaviour of the simulator that the calibration figures do not show: differences between
schools, episodes that begin, last and end during the year (and their precursors, where the
evidence says there are any), and the rise in absence before each half-term — each checked
against the generated marks (and the episodes, the truth that says who had what when)."""

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
    session), late mornings; and the year's episodes with the row of their enrolment and
    their days (``start_day``, ``end_day``: ``n_days`` when they run on)."""

    absent: np.ndarray
    possible: np.ndarray
    late: np.ndarray
    truth: pd.DataFrame
    half_term: np.ndarray  # half-term number 0–5 of each school day
    episodes: pd.DataFrame


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
    keys = pd.MultiIndex.from_frame(truth[["school_urn", "upn"]])
    enrolment = keys.get_indexer(
        pd.MultiIndex.from_arrays(
            [marks["school_urn"].to_numpy(), marks["upn"].astype(str).to_numpy()]
        )
    )
    n_enrol, n_days = len(truth), len(school_days)
    cell = enrolment * n_days + day
    shape = (n_enrol, n_days)
    late = (marks["code"] == "L").to_numpy()
    episodes = authority.episodes.assign(upn=lambda e: e["upn"].astype(str))
    episodes["row"] = keys.get_indexer(pd.MultiIndex.from_frame(episodes[["school_urn", "upn"]]))
    start = episodes["start"].to_numpy().astype("datetime64[D]")
    end = episodes["end"].to_numpy().astype("datetime64[D]")
    episodes["start_day"] = np.searchsorted(school_days, start)
    episodes["end_day"] = np.where(np.isnat(end), n_days, np.searchsorted(school_days, end))
    return Days(
        absent=np.bincount(cell, weights=absent, minlength=n_enrol * n_days).reshape(shape) / 2,
        possible=np.bincount(cell, minlength=n_enrol * n_days).reshape(shape) / 2,
        late=np.bincount(cell, weights=late, minlength=n_enrol * n_days).reshape(shape),
        truth=truth,
        half_term=calendar.half_term_of_days(),
        episodes=episodes[episodes["row"] >= 0],
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
    dealt to the schools at random (keeping school sizes): larger than in every one of 200
    permutations (p < 0.005). (Much of every pupil's absence — colds, the winter's epidemic,
    episodes — owes nothing to the school, as in real schools.)"""
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
    assert observed > max(shuffled)


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


# --- episodes begin, last and end during the year -------------------------------------------

DIFFICULTIES = ["long illness", "anxiety", "family crisis", "disengagement"]


def _new(days: Days, kinds: list[str]) -> pd.DataFrame:
    """Episodes of these kinds that began this year, for enrolments on roll all year."""
    n_days = days.absent.shape[1]
    full_year = days.possible.sum(axis=1) == n_days
    episodes = days.episodes
    chosen = episodes["kind"].isin(kinds) & ~episodes["carried_over"]
    return episodes[chosen & full_year[episodes["row"].to_numpy()]]


def _window_rate(days: Days, rows: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    t = np.arange(days.absent.shape[1])[None, :]
    window = (t >= first[:, None]) & (t < last[:, None])
    possible = (days.possible[rows] * window).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (days.absent[rows] * window).sum(axis=1) / possible


def test_episodes_begin_in_every_term_not_only_in_september(days):
    onsets = _new(days, DIFFICULTIES)
    term = days.half_term[np.minimum(onsets["start_day"].to_numpy(), len(days.half_term) - 1)] // 2
    shares = np.bincount(term, minlength=3) / len(term)
    assert len(onsets) >= 300
    assert shares.min() > 0.2, shares


@pytest.mark.parametrize(
    ("kind", "window"),
    [
        ("long illness", (0, 10)),  # sudden and short
        ("family crisis", (0, 25)),  # sudden
        ("anxiety", (20, 60)),  # builds up over weeks
        ("disengagement", (20, 60)),
    ],
)
def test_pupils_miss_more_once_an_episode_has_begun(days, kind, window):
    onsets = _new(days, [kind])
    onsets = onsets[onsets["start_day"].between(40, 120)]
    assert len(onsets) >= 20
    rows, start = onsets["row"].to_numpy(), onsets["start_day"].to_numpy()
    before = _window_rate(days, rows, np.zeros_like(start), start)
    end = np.minimum(start + window[1], onsets["end_day"].to_numpy() + 1)
    after = _window_rate(days, rows, start + window[0], end)
    # Episodes add to what the pupil missed anyway: at least 5 points more absence on average.
    assert np.nanmean(after - before) > 0.05
    assert np.nanmean(after > before) > 0.7  # for most of them, not on average only


def test_an_onset_in_spring_adds_absence_that_september_did_not_decide(days):
    """Pupils whose difficulty begins in spring had an autumn like their peers of the same
    background propensity (same decile of the background rate), and end the year absent far
    more."""
    onsets = _new(days, ["anxiety", "family crisis", "disengagement"])
    spring = onsets[np.isin(days.half_term[np.minimum(onsets["start_day"], 189)], (2, 3))]
    # ... and nothing else before it (no earlier episode, holiday or suspension this year).
    first_start = days.episodes.groupby("row")["start_day"].min()
    spring = spring[first_start.reindex(spring["row"]).to_numpy() >= spring["start_day"].to_numpy()]
    rows = np.unique(spring["row"].to_numpy())
    n_days = days.absent.shape[1]
    untouched = np.ones(len(days.truth), dtype=bool)
    untouched[days.episodes["row"].to_numpy()] = False
    untouched &= days.possible.sum(axis=1) == n_days
    background = days.truth["base_rate"].rank(pct=True).to_numpy()
    decile = np.minimum((background * 10).astype(int), 9)
    autumn = days.half_term <= 1
    autumn_rate = (days.absent * autumn).sum(axis=1) / (days.possible * autumn).sum(axis=1)
    year_rate = days.absent.sum(axis=1) / np.maximum(days.possible.sum(axis=1), 1)
    expected_autumn = pd.Series(autumn_rate[untouched]).groupby(decile[untouched]).mean()
    expected_year = pd.Series(year_rate[untouched]).groupby(decile[untouched]).mean()
    assert len(rows) >= 50
    autumn_ratio = autumn_rate[rows].mean() / expected_autumn.reindex(decile[rows]).mean()
    year_ratio = year_rate[rows].mean() / expected_year.reindex(decile[rows]).mean()
    assert autumn_ratio < 1.3
    assert year_ratio > 1.5 * autumn_ratio


def test_episodes_that_end_leave_absence_lower_than_while_they_ran(days):
    onsets = _new(days, ["anxiety", "family crisis", "disengagement"])
    ended = onsets[(onsets["end_day"] < 150) & (onsets["end_day"] - onsets["start_day"] > 20)]
    assert len(ended) >= 30
    rows = ended["row"].to_numpy()
    start, end = ended["start_day"].to_numpy(), ended["end_day"].to_numpy()
    during = _window_rate(days, rows, start + 10, end - 5)
    afterwards = _window_rate(days, rows, end + 5, end + 40)
    assert np.nanmean(afterwards) < 0.6 * np.nanmean(during)


def _late_rate(days: Days, rows: np.ndarray, first: np.ndarray, last: np.ndarray) -> float:
    t = np.arange(days.late.shape[1])[None, :]
    window = (t >= first[:, None]) & (t < last[:, None])
    return float((days.late[rows] * window).sum() / (days.possible[rows] * window).sum())


def test_anxiety_has_a_modest_precursor_and_a_family_crisis_none(days):
    """Late arrivals rise in the weeks before an anxiety episode (EBSA guidance: lateness
    and odd days come first), modestly; a family crisis strikes without warning."""
    ratios = {}
    for kind in ("anxiety", "family crisis"):
        onsets = _new(days, [kind])
        onsets = onsets[onsets["start_day"] >= 70]
        rows, start = onsets["row"].to_numpy(), onsets["start_day"].to_numpy()
        earlier = _late_rate(days, rows, np.zeros_like(start), start - 35)
        just_before = _late_rate(days, rows, start - 10, start)
        ratios[kind] = just_before / earlier
    assert 1.2 < ratios["anxiety"] < 3.0, ratios
    assert ratios["family crisis"] < 1.2, ratios


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

"""The generative model: each pupil's year, lived day by day.

Nothing decides a pupil's year in September. Every school day, a pupil who is in school may
start an absence spell, and a pupil who is absent may stay away the next day too; what changes
those chances over the year is written below. Annual rates are what comes out, not what goes
in.

**1. A stable propensity, carried and drifting.** Each pupil has a latent absence level
``eta`` that follows an AR(1) process across years (``eta_t = ρ eta_{t-1} + sqrt(1-ρ²) ε_t``,
``ρ`` = ``SimulationConfig.persistence``); an enrolment's score ``z`` mixes in a school random
effect. Within each stratum of phase × year group × FSM, ``z`` becomes a percentile ``u`` by its
rank, and the pupil's *background rate* is ``u``'s quantile of the DfE distribution of their
cell (phase × FSM × any SEN × sex × year group, :class:`~simulator.calibration.RateDistributions`)
times a *deflation* ``k(u)`` per phase × FSM × SEN (:mod:`simulator.fit`), which leaves room for
the episodes: the deflation is fitted so that background plus episodes plus day-to-day chance
reproduce the DfE's distribution of annual rates. Within the year the background drifts: its
log-hazard follows a weekly Ornstein-Uhlenbeck process (``Dynamics.drift_sd``, ``drift_weeks``).

**2. Background spells.** The background rate is turned into a daily chance of starting a spell
(``a = r / (L (1 - r))`` for mean spell length ``L``), split into illness-type (winter peak,
Friday, codes I, M, C) and other absence (rising to the summer, Monday and Friday, codes O, C,
C2, N) by the pupil's *other share* (logit: a phase intercept fitted to the DfE's unauthorised
absence, plus slopes on the latent level and a persistent style, plus the school's coding
culture). The calendar's shape (:class:`~simulator.shapes.DayShapes`) multiplies both: the last
week of each half-term and of each term, a quiet first fortnight, and for Year 7 a low first
half-term followed by a rise.

**3. Episodes begin during the year** (:mod:`simulator.episodes`): long illness, anxiety /
emotionally-based school avoidance, family crisis, disengagement — each with an onset hazard by
phase, year group, time of year and pupil group (and the latent level), a course (precursor,
ramp, plateau, recovery, or none within the year), an intensity added to the background, its own
spell lengths, codes, half days and lateness. Episodes still running in July may carry into the
next year. Term-time holidays (G; H when agreed before 2024) sit next to a school holiday,
suspensions (E) come in clusters for few pupils, and raise the chance of disengagement;
religious observance (R) takes two festival days.

**4. The day.** A two-state chain per pupil: present pupils start a spell with the summed
chance of every source (the source is drawn in proportion), absent pupils continue with their
spell's continuation chance. The spell's code is drawn once at its start. Holidays,
suspensions and festivals override. Some absence days are half days (per source), the other
session present. ``L`` marks present mornings (a persistent trait, a school effect, more during
anxiety and family crises and before an anxiety episode), ``V`` trip days per school and year
group, ``B``/``K`` a weekday of off-site provision for a few pupils.

Everything is vectorised over enrolments (in blocks of :data:`BLOCK_ROWS`); the only loops are
over the school days of a year, the kinds of episode and small code tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.codes import CODE_SET_2024_FROM
from simulator.calibration import EPISODE_SCALE
from simulator.config import Dynamics
from simulator.episodes import (
    EPISODE_KIND_NAMES,
    Codes,
    EpisodeKind,
    weekly_season,
)
from simulator.shapes import PHASES, DayShapes

CODES = ("/", "\\", "L", "V", "B", "K", "I", "M", "C", "C2", "R", "E", "H", "G", "O", "N", "U")
"""Every code the simulator writes; marks store them as a categorical in this order."""
CODE_ID = {code: np.int8(i) for i, code in enumerate(CODES)}
OFF_ROLL = np.int8(-1)
PRESENT = np.int8(-1)  # kind of a day without absence

# Background spells' codes, per phase: (code, probability). Shares follow the DfE's reasons
# for absence (2024/25 national: I 3.24%, O 1.59%, G 0.46%, C 0.41%, M 0.32%, C2 0.24%, U 0.22%,
# E 0.16%, R 0.10%, N 0.06% of sessions; "other unauthorised" 0.7% of sessions in primary, 2.6%
# in secondary).
ILLNESS_SPELL_CODES: dict[str, Codes] = {
    "primary": (("I", 0.92), ("M", 0.03), ("C", 0.05)),
    "secondary": (("I", 0.90), ("M", 0.04), ("C", 0.06)),
    "special": (("I", 0.70), ("M", 0.15), ("C", 0.15)),
}
OTHER_SPELL_CODES: dict[str, Codes] = {
    "primary": (("O", 0.80), ("C2", 0.04), ("C", 0.12), ("N", 0.04)),
    "secondary": (("O", 0.84), ("C2", 0.05), ("C", 0.08), ("N", 0.03)),
    "special": (("O", 0.70), ("C2", 0.14), ("C", 0.13), ("N", 0.03)),
}
ILLNESS_HALF_DAY_CODES: Codes = (("M", 0.6), ("I", 0.4))
OTHER_HALF_DAY_CODES: Codes = (("U", 0.40), ("O", 0.45), ("C2", 0.15))
PM_SHARE = {"M": 0.5, "I": 0.7, "O": 0.6, "U": 0.0, "C2": 1.0, "C": 0.5}
"""Chance that a half-day absence with this code is the afternoon session."""

U_SHARE_OF_LATE = 0.11
AGREED_HOLIDAY_SHARE = 0.05  # holiday blocks recorded as H (agreed) under the 2006 code set
HOLIDAY_BREAK_WEIGHTS = np.array([1.0, 1.5, 1.0, 1.5, 1.0, 2.0])
"""Relative chance that a term-time holiday sits next to the break after each half-term."""
BLOCK_ROWS = 8192
BACKGROUND_SOURCES = 3  # illness-type, other, the winter epidemic; episodes follow
LUT_BINS = 256  # resolution of the code lookup tables


@dataclass(frozen=True)
class PupilYear:
    """Per-enrolment draws of one academic year (arrays of equal length).

    ``person`` is the pupil's row in the year's population: a pupil who moves school has two
    enrolments and one life, so episodes and drift are drawn per person.
    """

    person: np.ndarray
    phase: np.ndarray  # index into simulator.shapes.PHASES
    year_group: np.ndarray
    female: np.ndarray
    fsm: np.ndarray
    sen_any: np.ndarray
    school: np.ndarray  # row index into the schools frame
    start: np.ndarray  # first school-day index on roll
    end: np.ndarray  # last school-day index on roll (inclusive)
    base_rate: np.ndarray  # background absence rate (share of sessions)
    z: np.ndarray  # latent score (standardised)
    style: np.ndarray  # persistent lean to other (unauthorised) absence
    late_trait: np.ndarray
    observant: np.ndarray
    carried: np.ndarray  # persons × episode kinds: intensity carried from last year (0 = none)


@dataclass(frozen=True)
class Episodes:
    """Per person × episode kind: the course of this year's episode (day indices; -1 = none)."""

    onset: np.ndarray
    precursor_start: np.ndarray
    ramp_end: np.ndarray
    plateau_end: np.ndarray
    recovery_end: np.ndarray
    intensity: np.ndarray
    carried: np.ndarray  # the episode began last year

    def profile(self, kind: int, persons: np.ndarray, n_days: int) -> np.ndarray:
        """Intensity profile (persons × days, 0..1): ramp up, plateau, recovery."""
        t = np.arange(n_days)[None, :]
        onset = self.onset[persons, kind][:, None]
        ramp = np.maximum(self.ramp_end[persons, kind][:, None] - onset, 1)
        up = np.clip((t - onset + 1) / ramp, 0.0, 1.0)
        plateau_end = self.plateau_end[persons, kind][:, None]
        recovery = np.maximum(self.recovery_end[persons, kind][:, None] - plateau_end, 1)
        down = 1.0 - np.clip((t - plateau_end) / recovery, 0.0, 1.0)
        return np.where((onset >= 0) & (t >= onset), up * down, 0.0).astype(np.float32)

    def in_precursor(self, kind: int, persons: np.ndarray, n_days: int) -> np.ndarray:
        t = np.arange(n_days)[None, :]
        start = self.precursor_start[persons, kind][:, None]
        return (start >= 0) & (t >= start) & (t < self.onset[persons, kind][:, None])


@dataclass
class YearOutput:
    """Session codes (enrolments × school days × AM/PM, ids into :data:`CODES`, -1 off roll),
    the hidden truth per enrolment, and the year's episodes (one row per person and episode:
    ``person, kind, start, end, severity`` with day indices; ``end`` -1 when it runs on)."""

    codes: np.ndarray
    truth: pd.DataFrame
    episodes: pd.DataFrame
    carry: np.ndarray  # persons × kinds: intensity carried into next year


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _lookup(table: Codes) -> np.ndarray:
    """A code table as :data:`LUT_BINS` code ids, so ``lut[floor(u * bins)]`` draws a code."""
    codes = np.array([CODE_ID[c] for c, _ in table], dtype=np.int8)
    cum = np.cumsum([p for _, p in table])
    bins = (np.arange(LUT_BINS) + 0.5) / LUT_BINS
    return codes[np.minimum(np.searchsorted(cum / cum[-1], bins, side="right"), len(codes) - 1)]


def _draw(table: Codes, u: np.ndarray) -> np.ndarray:
    return _lookup(table)[np.minimum((u * LUT_BINS).astype(np.int64), LUT_BINS - 1)]


@dataclass(frozen=True)
class Sources:
    """What can start an absence spell: the two background kinds and every episode kind,
    with their continuation chances, half-day shares and code lookups (source × phase ×
    bins)."""

    names: tuple[str, ...]
    continuation: np.ndarray
    half_day_share: np.ndarray
    full_codes: np.ndarray
    half_codes: np.ndarray

    @classmethod
    def build(cls, dynamics: Dynamics, shapes: DayShapes) -> Sources:
        kinds = dynamics.episodes
        names = ("illness", "other", "epidemic", *(k.name for k in kinds))
        continuation = [
            dynamics.illness_continuation,
            dynamics.other_continuation,
            shapes.epidemic_continuation,
            *(k.continuation for k in kinds),
        ]
        half = [dynamics.half_day_probability] * 2 + [0.05] + [k.half_day_share for k in kinds]
        illness_codes = [_lookup(ILLNESS_SPELL_CODES[p]) for p in PHASES]
        full = [
            illness_codes,
            [_lookup(OTHER_SPELL_CODES[p]) for p in PHASES],
            [_lookup((("I", 1.0),))] * 3,
            *([_lookup(k.codes[p]) for p in PHASES] for k in kinds),
        ]
        half_codes = [
            [_lookup(ILLNESS_HALF_DAY_CODES)] * 3,
            [_lookup(OTHER_HALF_DAY_CODES)] * 3,
            [_lookup(ILLNESS_HALF_DAY_CODES)] * 3,
            *([_lookup(k.half_day_codes)] * 3 for k in kinds),
        ]
        return cls(
            names=names,
            continuation=np.array(continuation, dtype=np.float32),
            half_day_share=np.array(half, dtype=np.float32),
            full_codes=np.array(full, dtype=np.int8),
            half_codes=np.array(half_codes, dtype=np.int8),
        )


def first_enrolment_of_person(person: np.ndarray, n_persons: int) -> np.ndarray:
    """For each person, the index of their first enrolment (-1 if none this year)."""
    first = np.full(n_persons, -1)
    order = np.argsort(person, kind="stable")[::-1]
    first[person[order]] = order
    return first


def _onset_days(
    kind: EpisodeKind,
    who: _Persons,
    shapes: DayShapes,
    rng: np.random.Generator,
    extra_hazard: np.ndarray | None,
) -> np.ndarray:
    """Day of each person's onset of ``kind`` this year (``n_days`` or more: none)."""
    n_weeks = shapes.n_weeks
    season = weekly_season(kind.season, shapes.week_illness, shapes.week_after_break)
    scale = EPISODE_SCALE[shapes.regime].get(kind.name, 1.0)
    yearly = scale * np.array([kind.yearly_onset[p] for p in PHASES])[who.phase]
    base = -np.log1p(-np.minimum(yearly, 0.99)) / n_weeks
    factor = (
        np.array(kind.year_group_factor)[np.clip(who.year_group, 1, 11) - 1]
        * np.where(who.fsm, kind.fsm_factor, 1.0)
        * np.where(who.sen_any, kind.sen_factor, 1.0)
        * np.where(who.female, kind.female_factor, 1.0)
        * np.exp(kind.level_slope * who.z)
    )
    hazard = (base * factor)[:, None] * season[None, :]
    if extra_hazard is not None:
        hazard = hazard * extra_hazard
    threshold = rng.exponential(size=len(who.z))
    week = (np.cumsum(hazard, axis=1) < threshold[:, None]).sum(axis=1)
    first_day = shapes.week_first_day[np.minimum(week, n_weeks - 1)]
    days_in_week = shapes.week_days[np.minimum(week, n_weeks - 1)]
    day = first_day + (rng.random(len(who.z)) * days_in_week).astype(int)
    return np.where(week < n_weeks, day, shapes.n_days)


@dataclass(frozen=True)
class _Persons:
    """Each person's attributes this year (from their first enrolment)."""

    has: np.ndarray  # on roll this year
    phase: np.ndarray
    year_group: np.ndarray
    fsm: np.ndarray
    sen_any: np.ndarray
    female: np.ndarray
    z: np.ndarray
    carried: np.ndarray  # persons × kinds: intensity carried from last year

    @classmethod
    def of(cls, pupils: PupilYear, n_persons: int, n_kinds: int) -> _Persons:
        first = first_enrolment_of_person(pupils.person, n_persons)
        idx = np.where(first >= 0, first, 0)
        carried = np.zeros((n_persons, n_kinds), dtype=np.float32)
        carried[pupils.person] = pupils.carried
        return cls(
            has=first >= 0,
            phase=pupils.phase[idx],
            year_group=pupils.year_group[idx],
            fsm=pupils.fsm[idx],
            sen_any=pupils.sen_any[idx],
            female=pupils.female[idx],
            z=pupils.z[idx],
            carried=carried,
        )


def draw_episodes(
    pupils: PupilYear,
    n_persons: int,
    shapes: DayShapes,
    dynamics: Dynamics,
    rng: np.random.Generator,
    extra_hazard: np.ndarray | None = None,
) -> Episodes:
    """Onset and course of each episode kind for every person (see :mod:`.episodes`).

    Onsets follow a discrete-time hazard over school weeks: the person's weekly hazard is the
    kind's base (solved so that an average pupil's chance of an onset in the year is its
    ``yearly_onset``) × year group × group factors × ``exp(level_slope · z)`` × the season's
    weekly shape; the onset is the first week whose cumulative hazard passes an exponential
    draw. ``extra_hazard`` (persons × kinds × weeks) multiplies the hazard (suspensions raise
    disengagement). Episodes carried from last year start on the first day, at their plateau,
    and take no new onset of their kind.
    """
    kinds = dynamics.episodes
    who = _Persons.of(pupils, n_persons, len(kinds))
    shape = (n_persons, len(kinds))
    onset, precursor = np.full(shape, -1), np.full(shape, -1)
    ramp_end, plateau_end, recovery_end = (np.full(shape, -1) for _ in range(3))
    intensity = np.zeros(shape, dtype=np.float32)
    carried_now = np.zeros(shape, dtype=bool)
    for k, kind in enumerate(kinds):
        extra = None if extra_hazard is None else extra_hazard[:, k, :]
        day = _onset_days(kind, who, shapes, rng, extra)
        carried = who.has & (who.carried[:, k] > 0)
        starts = who.has & (day < shapes.n_days) & ~carried
        onset[:, k] = np.where(starts, day, np.where(carried, 0, -1))
        ramp = 5 * rng.integers(kind.ramp_weeks[0], kind.ramp_weeks[1] + 1, size=n_persons)
        mean_weeks = np.where(carried, kind.carried_mean_weeks or kind.mean_weeks, kind.mean_weeks)
        plateau = np.ceil(5 * rng.exponential(mean_weeks)).astype(int)
        low, high = kind.recovery_weeks
        recovery = 5 * rng.integers(low, high + 1, size=n_persons)
        ramp_end[:, k] = onset[:, k] + np.where(carried, 0, ramp)
        plateau_end[:, k] = ramp_end[:, k] + plateau
        recovery_end[:, k] = plateau_end[:, k] + recovery
        low_i, high_i = np.log(kind.intensity[0]), np.log(kind.intensity[1])
        fresh = np.exp(rng.uniform(low_i, high_i, size=n_persons)).astype(np.float32)
        intensity[:, k] = np.where(carried, who.carried[:, k], np.where(starts, fresh, 0.0))
        carried_now[:, k] = carried
        if kind.precursor_weeks is not None:
            low, high = kind.precursor_weeks
            lead = 5 * rng.integers(low, high + 1, n_persons)
            precursor[:, k] = np.where(starts, np.maximum(day - lead, 0), -1)
    return Episodes(onset, precursor, ramp_end, plateau_end, recovery_end, intensity, carried_now)


def draw_suspensions(
    pupils: PupilYear, n_persons: int, shapes: DayShapes, dynamics: Dynamics, rng
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Suspensions per person: (person, first day, days) arrays, one entry per suspension.

    A person's yearly rate is the phase's rate × group factors × ``exp(level_slope · z)`` ×
    a gamma draw of mean 1 (a few pupils get most suspensions); the count is Poisson; days
    are spread over the year, lengths from ``Suspensions.days``.
    """
    spec = dynamics.suspensions
    first = first_enrolment_of_person(pupils.person, n_persons)
    has = first >= 0
    idx = np.where(has, first, 0)
    phase = pupils.phase[idx]
    z = pupils.z[idx]
    rate = (
        np.array([spec.per_100_pupils[p] / 100 for p in PHASES])[phase]
        * np.where(pupils.fsm[idx], spec.fsm_factor, 1.0)
        * np.where(~pupils.female[idx], spec.boy_factor, 1.0)
        * np.where(pupils.sen_any[idx], spec.sen_factor, 1.0)
        * np.exp(spec.level_slope * z)
        * np.where(pupils.year_group[idx] <= 2, 0.2, 1.0)  # rare in the infant years
    )
    # Normalise the group factors so that each phase keeps its published rate.
    scale = EPISODE_SCALE[shapes.regime].get("suspension", 1.0)
    for p in range(len(PHASES)):
        rows = has & (phase == p)
        if rows.any():
            rate[rows] *= scale * spec.per_100_pupils[PHASES[p]] / 100 / rate[rows].mean()
    frailty = rng.gamma(spec.clustering_shape, 1 / spec.clustering_shape, size=n_persons)
    count = np.where(has, rng.poisson(rate * frailty), 0)
    person = np.repeat(np.arange(n_persons), count)
    start = rng.integers(0, shapes.n_days, size=len(person))
    days = rng.choice(np.array(spec.days), size=len(person))
    return person, start, days


def draw_holidays(
    pupils: PupilYear, shapes: DayShapes, dynamics: Dynamics, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term-time holiday blocks per enrolment: (taken, first day, days)."""
    n = len(pupils.person)
    holiday_p = np.array([dynamics.holiday_probability[p] for p in PHASES])[pupils.phase]
    taken = rng.random(n) < holiday_p * np.clip(0.5 + 10 * pupils.base_rate, 0.5, 2.0)
    length = rng.choice(np.array(dynamics.holiday_days), size=n)
    which = rng.choice(6, size=n, p=HOLIDAY_BREAK_WEIGHTS / HOLIDAY_BREAK_WEIGHTS.sum())
    after_break = (rng.random(n) < 0.4) & (which < 5)
    first = np.where(
        after_break, shapes.resume_after[which], shapes.break_before[which] - length + 1
    )
    return taken, first, length


def background_hazards(
    pupils: PupilYear,
    rows: np.ndarray,
    other_share: np.ndarray,
    drift: np.ndarray,
    shapes: DayShapes,
    dynamics: Dynamics,
) -> tuple[np.ndarray, np.ndarray]:
    """Daily chance of starting an illness-type and an other spell (rows × days)."""
    rate = np.clip(pupils.base_rate[rows], 0.0, 0.95)
    d = other_share[rows]
    c_ill, c_oth = dynamics.illness_continuation, dynamics.other_continuation
    mean_spell = (1 - d) / (1 - c_ill) + d / (1 - c_oth)
    onset = rate / (mean_spell * (1 - rate))
    colds = np.array([dynamics.common_illness_rate[p] for p in PHASES])[pupils.phase[rows]]
    colds = colds * shapes.illness_level
    colds = colds * (1 - c_ill) / (1 - colds)
    y7 = np.where((pupils.year_group[rows] == 7)[:, None], shapes.year7[None, :], 1.0)
    personal = onset[:, None] * y7 * drift
    illness = (personal * (1 - d)[:, None] + colds[:, None]) * shapes.illness[None, :]
    other = personal * d[:, None] * shapes.other[pupils.phase[rows]]
    return illness.astype(np.float32), other.astype(np.float32)


def weekly_drift(n_persons: int, shapes: DayShapes, dynamics: Dynamics, rng) -> np.ndarray:
    """Mean-one multipliers (persons × days) from a weekly Ornstein-Uhlenbeck log-process."""
    phi = np.exp(-1.0 / dynamics.drift_weeks)
    sd = dynamics.drift_sd
    x = np.empty((n_persons, shapes.n_weeks), dtype=np.float32)
    x[:, 0] = sd * rng.standard_normal(n_persons)
    noise = sd * np.sqrt(1 - phi**2) * rng.standard_normal((n_persons, shapes.n_weeks))
    for w in range(1, shapes.n_weeks):
        x[:, w] = phi * x[:, w - 1] + noise[:, w]
    return np.exp(x - sd**2 / 2)[:, shapes.week]


def simulate_year(
    pupils: PupilYear,
    n_persons: int,
    shapes: DayShapes,
    schools: pd.DataFrame,
    dynamics: Dynamics,
    rng: np.random.Generator,
    other_intercept: Mapping[str, float],
) -> YearOutput:
    """Session codes for every enrolment of one academic year (see the module docstring).

    ``other_intercept`` is the phase's intercept of the logit of the background's other share
    (fitted to the DfE's unauthorised absence; :mod:`simulator.fit`).
    """
    n = len(pupils.person)
    n_days = shapes.n_days
    code_set_2024 = bool(shapes.days[0] >= np.datetime64(CODE_SET_2024_FROM))
    coding = schools["coding_effect"].to_numpy()[pupils.school]
    logit = (
        np.array([other_intercept[p] for p in PHASES])[pupils.phase]
        + dynamics.other_level_slope * pupils.z
        + dynamics.other_style_slope * pupils.style
        + 0.3 * coding
    )
    other_share = _sigmoid(logit)

    sus_person, sus_start, sus_days = draw_suspensions(pupils, n_persons, shapes, dynamics, rng)
    kind_index = {k.name: i for i, k in enumerate(dynamics.episodes)}
    extra = None
    if "disengagement" in kind_index:
        extra = np.ones((n_persons, len(dynamics.episodes), shapes.n_weeks), dtype=np.float32)
        first_suspension = np.full(n_persons, shapes.n_days)
        np.minimum.at(first_suspension, sus_person, sus_start)
        after = shapes.week[np.minimum(first_suspension, n_days - 1)]
        weeks = np.arange(shapes.n_weeks)[None, :]
        raised = (first_suspension < n_days)[:, None] & (weeks >= after[:, None])
        extra[:, kind_index["disengagement"], :] = np.where(
            raised, dynamics.suspensions.disengagement_factor, 1.0
        )
    episodes = draw_episodes(pupils, n_persons, shapes, dynamics, rng, extra)
    drift = weekly_drift(n_persons, shapes, dynamics, rng)
    holiday, holiday_first, holiday_days = draw_holidays(pupils, shapes, dynamics, rng)
    festivals = np.sort(rng.choice(np.arange(10, n_days - 10), size=2, replace=False))
    suspended = np.zeros((n_persons, n_days), dtype=bool)
    for offset in range(max(dynamics.suspensions.days)):
        day = sus_start + offset
        ok = (offset < sus_days) & (day < n_days)
        suspended[sus_person[ok], day[ok]] = True

    late_p = np.exp(
        0.9 * pupils.late_trait + 0.3 * pupils.z + schools["late_effect"].to_numpy()[pupils.school]
    )
    late_p = np.minimum(late_p * dynamics.late_share_of_am_present / late_p.mean(), 0.5)
    sources = Sources.build(dynamics, shapes)
    trips = _trip_days(pupils, shapes, dynamics, rng)
    provision = _off_site_provision(pupils, shapes, dynamics, rng)

    codes = np.full((n, n_days, 2), OFF_ROLL, dtype=np.int8)
    days_by_source = np.zeros((n, len(sources.names)), dtype=np.int32)
    for lo in range(0, n, BLOCK_ROWS):
        rows = np.arange(lo, min(lo + BLOCK_ROWS, n))
        persons = pupils.person[rows]
        illness, other = background_hazards(
            pupils, rows, other_share, drift[persons], shapes, dynamics
        )
        epidemic = np.broadcast_to(shapes.epidemic.astype(np.float32), illness.shape)
        hazards = [illness, other, epidemic]
        late_factor = np.ones((len(rows), n_days), dtype=np.float32)
        for k, kind in enumerate(dynamics.episodes):
            profile = episodes.profile(k, persons, n_days)
            weekday = (
                shapes.illness if kind.season == "winter" else shapes.other[pupils.phase[rows]]
            )
            hazards.append(episodes.intensity[persons, k][:, None] * profile * weekday)
            late_factor = np.where(
                profile > 0, np.maximum(late_factor, kind.late_factor), late_factor
            )
            if kind.precursor_weeks is not None:
                before = episodes.in_precursor(k, persons, n_days)
                odd_day = np.isin(shapes.weekday, (0, 4))[None, :] & before
                hazards[1] = np.where(
                    odd_day, hazards[1] * kind.precursor_odd_day_factor, hazards[1]
                )
                late_factor = np.where(
                    before, np.maximum(late_factor, kind.precursor_late_factor), late_factor
                )
        in_holiday = (
            holiday[rows][:, None]
            & (np.arange(n_days)[None, :] >= holiday_first[rows][:, None])
            & (np.arange(n_days)[None, :] < (holiday_first + holiday_days)[rows][:, None])
        )
        codes[rows], days_by_source[rows] = _block_codes(
            _BlockInputs(
                pupils=pupils,
                rows=rows,
                hazards=np.stack(hazards, axis=-1),
                late_p=late_p[rows][:, None] * late_factor,
                holiday=in_holiday,
                agreed=(~np.array(code_set_2024)) & (rng.random(len(rows)) < AGREED_HOLIDAY_SHARE),
                festival=pupils.observant[rows][:, None]
                & np.isin(np.arange(n_days), festivals)[None, :],
                suspended=suspended[persons],
                trips=trips[rows],
                provision=provision[rows],
                code_set_2024=code_set_2024,
            ),
            sources,
            shapes,
            rng,
        )

    carry = _carry_over(episodes, dynamics, n_days, rng)
    truth = pd.DataFrame(
        {
            "person": pupils.person,
            "base_rate": pupils.base_rate,
            "other_share": other_share,
            "off_site_provision": provision.any(axis=1),
            "holiday_block": holiday,
            "background_days": days_by_source[:, :BACKGROUND_SOURCES].sum(axis=1),
            "episode_days": days_by_source[:, BACKGROUND_SOURCES:].sum(axis=1),
        }
    )
    return YearOutput(
        codes=codes,
        truth=truth,
        episodes=_episode_rows(
            episodes,
            dynamics,
            n_days,
            sus_person,
            sus_start,
            sus_days,
            pupils,
            holiday,
            holiday_first,
            holiday_days,
        ),
        carry=carry,
    )


def _carry_over(episodes: Episodes, dynamics: Dynamics, n_days: int, rng) -> np.ndarray:
    """Intensity each person carries into next year, per kind (0 = none)."""
    carry = np.zeros(episodes.intensity.shape, dtype=np.float32)
    running = (episodes.onset >= 0) & (episodes.recovery_end > n_days - 1)
    for k, kind in enumerate(dynamics.episodes):
        goes_on = running[:, k] & (rng.random(len(carry)) < kind.carry_over)
        carry[:, k] = np.where(goes_on, episodes.intensity[:, k] * kind.carry_intensity, 0.0)
    return carry


def _episode_rows(
    episodes: Episodes,
    dynamics: Dynamics,
    n_days: int,
    sus_person: np.ndarray,
    sus_start: np.ndarray,
    sus_days: np.ndarray,
    pupils: PupilYear,
    holiday: np.ndarray,
    holiday_first: np.ndarray,
    holiday_days: np.ndarray,
) -> pd.DataFrame:
    """One row per episode: ``person, kind, start, end, severity`` (day indices; ``end`` -1
    when the episode runs past the year's last day). Severity: the episode's daily chance of
    starting an absence spell at its plateau (1 for suspensions and holidays)."""
    parts = []
    for k, kind in enumerate(dynamics.episodes):
        person = np.flatnonzero(episodes.onset[:, k] >= 0)
        end = episodes.recovery_end[person, k]
        parts.append(
            pd.DataFrame(
                {
                    "person": person,
                    "kind": kind.name,
                    "start": episodes.onset[person, k],
                    "end": np.where(end > n_days - 1, -1, end),
                    "severity": episodes.intensity[person, k],
                    "carried": episodes.carried[person, k],
                }
            )
        )
    parts.append(
        pd.DataFrame(
            {
                "person": sus_person,
                "kind": "suspension",
                "start": sus_start,
                "end": np.minimum(sus_start + sus_days - 1, n_days - 1),
                "severity": 1.0,
                "carried": False,
            }
        )
    )
    taken = np.flatnonzero(holiday)
    parts.append(
        pd.DataFrame(
            {
                "person": pupils.person[taken],
                "kind": "term-time holiday",
                "start": np.clip(holiday_first[taken], 0, n_days - 1),
                "end": np.clip(holiday_first[taken] + holiday_days[taken] - 1, 0, n_days - 1),
                "severity": 1.0,
                "carried": False,
            }
        )
    )
    frame = pd.concat(parts, ignore_index=True)
    frame["kind"] = pd.Categorical(frame["kind"], categories=list(EPISODE_KIND_NAMES))
    return frame


def _trip_days(pupils: PupilYear, shapes: DayShapes, dynamics: Dynamics, rng) -> np.ndarray:
    """Trip days (V) per enrolment (enrolments × days): 1-2 a year per school and year group,
    more in the summer term."""
    n, n_days = len(pupils.person), shapes.n_days
    key = pupils.school * 12 + pupils.year_group
    n_keys = (int(key.max()) + 1) if n else 1
    weight = np.where(shapes.half_term >= 4, 2.0, 1.0)
    counts = rng.poisson(dynamics.trip_days_per_year_group, size=n_keys)
    trips = np.zeros((n_keys, n_days), dtype=bool)
    for k in np.flatnonzero(counts):
        chosen = rng.choice(
            n_days, size=min(counts[k], n_days), replace=False, p=weight / weight.sum()
        )
        trips[k, chosen] = True
    return trips[key]


def _off_site_provision(pupils: PupilYear, shapes: DayShapes, dynamics: Dynamics, rng):
    """Days of off-site provision (B, or K from 2024) per enrolment: one weekday a week for a
    run of weeks, for a few pupils (mostly secondary, high latent level)."""
    n, n_days = len(pupils.person), shapes.n_days
    share = np.array([dynamics.off_site_provision_share[p] for p in PHASES])[pupils.phase]
    chance = np.minimum(share * 4 * _sigmoid(1.5 * pupils.z - 1.5), 0.9)
    attends = rng.random(n) < chance
    weekday = rng.integers(0, 5, size=n)
    first = rng.integers(0, n_days // 2, size=n)
    last = first + rng.integers(40, 120, size=n)
    t = np.arange(n_days)[None, :]
    return (
        attends[:, None]
        & (shapes.weekday[None, :] == weekday[:, None])
        & (t >= first[:, None])
        & (t < last[:, None])
    )


@dataclass(frozen=True)
class _BlockInputs:
    pupils: PupilYear
    rows: np.ndarray
    hazards: np.ndarray  # rows × days × sources: daily chance of starting a spell
    late_p: np.ndarray  # rows × days
    holiday: np.ndarray
    agreed: np.ndarray
    festival: np.ndarray
    suspended: np.ndarray
    trips: np.ndarray
    provision: np.ndarray
    code_set_2024: bool


def _run_days(block: _BlockInputs, sources: Sources, rng) -> tuple[np.ndarray, np.ndarray]:
    """The day-by-day chain: which source keeps each pupil away each day (-1 = present) and
    the code of each absence day (rows × days)."""
    hazards = block.hazards
    m, n_days, _ = hazards.shape
    phase = block.pupils.phase[block.rows]
    start = block.pupils.start[block.rows]
    end = block.pupils.end[block.rows]
    source = np.full((m, n_days), PRESENT, dtype=np.int8)
    code = np.full((m, n_days), OFF_ROLL, dtype=np.int8)
    previous = np.full(m, PRESENT, dtype=np.int8)
    previous_code = np.full(m, OFF_ROLL, dtype=np.int8)
    draws = rng.random((n_days, 4, m), dtype=np.float32)
    for t in range(n_days):
        u_stay, u_start, u_which, u_code = draws[t]
        on_roll = (start <= t) & (t <= end)
        cont = np.where(previous >= 0, sources.continuation[np.maximum(previous, 0)], 0.0)
        stays = (previous >= 0) & (u_stay < cont)
        h = hazards[:, t, :]
        cumulative = np.cumsum(h, axis=1)
        total = np.minimum(cumulative[:, -1], 0.97)
        starts = ~stays & (u_start < total)
        which = (cumulative < (u_which * cumulative[:, -1])[:, None]).sum(axis=1)
        which = np.minimum(which, h.shape[1] - 1).astype(np.int8)
        bins = np.minimum((u_code * LUT_BINS).astype(np.int64), LUT_BINS - 1)
        new_code = sources.full_codes[which, phase, bins]
        today = np.where(stays, previous, np.where(starts, which, PRESENT))
        today = np.where(on_roll, today, PRESENT).astype(np.int8)
        today_code = np.where(stays, previous_code, np.where(starts, new_code, OFF_ROLL))
        source[:, t] = today
        code[:, t] = np.where(today >= 0, today_code, OFF_ROLL)
        previous, previous_code = today, code[:, t]
    return source, code


def _block_codes(
    block: _BlockInputs, sources: Sources, shapes: DayShapes, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Session codes (rows × days × AM/PM) for one block of enrolments, and the absence days
    each source gave each row (rows × sources, before holidays and suspensions override)."""
    source, day_code = _run_days(block, sources, rng)
    pupils, rows = block.pupils, block.rows
    m, n_days = source.shape
    t = np.arange(n_days)[None, :]
    on_roll = (t >= pupils.start[rows][:, None]) & (t <= pupils.end[rows][:, None])
    absent = (source >= 0) & on_roll
    phase = pupils.phase[rows]

    # Half days: one session of the day, a code of the source's half-day table.
    half_share = np.where(absent, sources.half_day_share[np.maximum(source, 0)], 0.0)
    half = absent & (rng.random((m, n_days)) < half_share)
    bins = np.minimum((rng.random((m, n_days)) * LUT_BINS).astype(np.int64), LUT_BINS - 1)
    half_code = sources.half_codes[np.maximum(source, 0), phase[:, None], bins]
    pm_share = np.zeros(len(CODES))
    for name, share in PM_SHARE.items():
        pm_share[CODE_ID[name]] = share
    half_pm = rng.random((m, n_days)) < pm_share[half_code]

    # Forced days override the chain: holidays, festivals, suspensions.
    holiday_code = np.where(block.agreed, CODE_ID["H"], CODE_ID["G"])[:, None]
    forced = on_roll & (block.holiday | block.festival | block.suspended)
    day_code = np.where(on_roll & block.holiday, holiday_code, day_code)
    day_code = np.where(on_roll & block.festival, CODE_ID["R"], day_code)
    day_code = np.where(on_roll & block.suspended, CODE_ID["E"], day_code)
    half &= ~forced
    full = (absent | forced) & ~half

    am = np.where(on_roll, CODE_ID["/"], OFF_ROLL).astype(np.int8)
    pm = np.where(on_roll, CODE_ID["\\"], OFF_ROLL).astype(np.int8)
    am = np.where(full, day_code, am)
    pm = np.where(full, day_code, pm)
    am = np.where(half & ~half_pm, half_code, am)
    pm = np.where(half & half_pm, half_code, pm)

    late = (am == CODE_ID["/"]) & (rng.random((m, n_days)) < block.late_p)
    # About one late arrival in nine comes after the register has closed: U, an unauthorised
    # absence (DfE 2024/25: U 0.22% and L 1.87% of sessions).
    after_close = late & (rng.random((m, n_days)) < U_SHARE_OF_LATE)
    am = np.where(late, np.where(after_close, CODE_ID["U"], CODE_ID["L"]), am)

    present_day = on_roll & ~absent & ~forced
    on_trip = present_day & block.trips & (rng.random((m, n_days)) < 0.92)
    off_site = present_day & block.provision & ~on_trip
    am = np.where(on_trip, CODE_ID["V"], am)
    pm = np.where(on_trip, CODE_ID["V"], pm)
    if block.code_set_2024:
        provision_code = np.where(rng.random(m) < 0.5, CODE_ID["K"], CODE_ID["B"])[:, None]
    else:
        provision_code = np.full((m, 1), CODE_ID["B"])
    am = np.where(off_site, provision_code, am)
    pm = np.where(off_site, provision_code, pm)

    if not block.code_set_2024:
        # The 2006 set had no reduced-timetable or LA-provision codes: such leave was "C".
        am = np.where(am == CODE_ID["C2"], CODE_ID["C"], am)
        pm = np.where(pm == CODE_ID["C2"], CODE_ID["C"], pm)
    else:
        am = np.where(am == CODE_ID["H"], CODE_ID["G"], am)
        pm = np.where(pm == CODE_ID["H"], CODE_ID["G"], pm)
    n_sources = len(sources.names)
    by_source = np.stack([((source == k) & on_roll).sum(axis=1) for k in range(n_sources)], 1)
    return np.stack([am, pm], axis=-1).astype(np.int8), by_source

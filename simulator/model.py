"""The generative model of the simulated local authority.

What it reproduces: the DfE's distribution of pupils' annual absence rates (5% bands per phase
× FSM × SEN × sex × year group, so persistent and severe absence by group follow), and the
within-year dynamics described in DOMAIN.md §3, so that a pupil's trajectory carries signal
about their year-end outcome beyond the rate so far — but not a perfect one.

**1. Latent level.** Each pupil has a latent absence propensity ``eta`` that follows an AR(1)
process across years, ``eta_t = ρ eta_{t-1} + sqrt(1-ρ²) ε_t`` (``ρ`` =
``SimulationConfig.persistence``; ``ε_t`` is the year's *innovation*). An enrolment's latent
score mixes in a school random effect, ``z = sqrt(1-w) eta + sqrt(w) s_school``. Movers are
drawn towards high ``eta`` (leavers are sampled with weight ``exp(κ eta)``, joiners arrive with
``eta`` shifted by ``κ``).

**2. Annual rate (Gaussian copula).** Within each stratum of phase × year group × FSM, ``z``
is turned into a percentile by its rank among the year's enrolments (``u = (rank + v) / n``,
``v`` uniform in [0, 1): a stratified sample, so the LA reproduces the national distribution
rather than a noisy draw from it, and the selection of movers or the school effects cannot
shift a stratum's marginal). The enrolment's annual absence rate is the ``u``-quantile
of the DfE distribution of its cell (regime year × phase × FSM × any SEN × sex × year group;
see :mod:`simulator.calibration` for the shape within bands). Of the enrolments of
pupils who come from or leave to outside the LA and are not on roll on the spring census day,
as many per phase as the DfE's *Unclassified* share get its *Unclassified* distribution
instead (mostly short enrolments, a third of them severe), ranked separately. Persistence
across years comes from ``eta``; the Year 6 → 7 move widens gaps because the same percentile
maps to the wider secondary distribution.

**3. Exact budget.** The enrolment's absence budget in sessions is its rate × its possible
sessions (2 per school day on roll), rounded stochastically, so the annual rate of every
enrolment is on target and the band distribution needs no variance correction. A few absences
are half-days (``Dynamics.half_day_probability`` per absence day): the budget becomes ``f``
full days and ``h`` half days.

**4. When absence happens.** A per-day intensity ``λ(t)`` mixes two shapes, each normalised
to mean 1 over the year, and two pupil-specific changes::

    λ(t) = [(1 - d) · illness(t) + d · disengaged_phase(t)] · exp(β (p(t) - ½)) · event(t)

* ``illness(t)``: winter peak (cosine with peak mid-January), Friday highest and Monday above
  midweek, uplift in the last week of each half-term (more before Christmas, Easter and the
  summer), a quiet first fortnight of September;
* ``disengaged(t)``: rises through the year to a summer peak (most in secondary), stronger
  Monday and Friday effects, the same end-of-term uplifts;
* ``d``: the pupil's share of disengagement-type absence, ``logit d = α_phase + 0.9 z + 0.8
  style + 0.3 coding_school`` — heavier absentees and some pupils/schools lean to
  unauthorised absence; ``α_phase`` is solved each year so that the phase's share of
  disengagement-type absence matches the regime's ``calibration.DISENGAGED_SHARE`` (tuned to
  the DfE's unauthorised absence by phase);
* ``β``, the *drift* (``p(t)`` = fraction of the school year elapsed): ``0.9 ε_t + 1.5 d +
  noise``, centred on the phase's absence-weighted mean. A pupil whose level rose this year
  (``ε_t > 0``) gets worse *during* the year rather than overnight in September, and
  disengagement escalates, while the LA's absence by month keeps the seasonal shapes;
* ``event(t)``: a *life event* (long illness, anxiety or bullying, family crisis such as
  bereavement or domestic violence, housing) starts on a random school day for a pupil-year
  with probability ``sigmoid(-3 + ε_t + 0.8 z)`` (about 11% of pupil-years, 29% of those who
  end the year persistently absent). From the event, intensity ramps up over two weeks to
  ``1 + A`` (``A`` in 3–8) and ``d`` changes with the event's type (an illness makes absence
  authorised, anxiety and housing make it unauthorised); 40% recover after 4–12 weeks.
  Because the budget is fixed, an event concentrates the year's absence after it: many pupils
  who end the year persistently absent were below 10% before the event.

The days are chosen by a Gumbel-top-k draw, which samples without replacement with
probabilities proportional to ``λ`` — but with the Gumbel noise shared by *segments* of
consecutive school days (segment lengths geometric with a pupil-specific mean around 1.45 days,
3 days after an illness event, occasionally a 4–10 day segment), so absence comes in spells,
mostly of one or two days. Some days are forced into the budget first: an acute illness
episode (3–10 days, in ~24% of pupil-years, mostly illness-type pupils, winter-weighted: an
early one inflates the rate so far without raising the rest of the year), a term-time holiday
(a block of 2–10 days next to a school holiday, probability by phase and rising with the
budget) and religious observance (two festival days a year for ~7% of pupils).

**5. Codes.** Each spell gets a kind from the posterior of the intensity mix at its first day
(``d · disengaged(t)`` against ``(1-d) · illness(t)``), then a code by kind and phase:
illness-type → ``I`` mostly, ``M``, ``C``; disengagement-type → ``O`` mostly, ``E``
(suspensions: secondary, more often boys), ``C2`` (reduced timetable, 2024 code set; ``C``
before), ``C``, ``N`` (a few unresolved). Half-days are ``M`` (appointments), ``U`` (arrived
after the register closed, AM), ``I`` (sent home, mostly PM), ``O`` (mostly PM) and ``C2``
(PM). Holiday blocks are ``G`` (before 2024 a few are ``H``, agreed), observance days ``R``.

**6. Attendance.** Present sessions are ``/`` (AM) and ``\\`` (PM). ``L`` (late before the
register closed) marks about 4% of present mornings, with a persistent pupil trait correlated
with the latent level and a school effect. Approved educational activities count as attendance:
``V`` on 1–2 trip days per school and year group a year, and ``B`` (``K`` for LA-arranged
provision from 2024) on one weekday a week for a run of weeks, for a few pupils (mostly
secondary, high latent level) attending off-site provision.

Everything is vectorised over enrolments × school days; the only loops are over blocks of
enrolments (to bound memory) and over small code tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.codes import CODE_SET_2024_FROM
from simulator.config import Dynamics
from simulator.terms import TermDates

CODES = ("/", "\\", "L", "V", "B", "K", "I", "M", "C", "C2", "R", "E", "H", "G", "O", "N", "U")
"""Every code the simulator writes; marks store them as a categorical in this order."""
CODE_ID = {code: np.int8(i) for i, code in enumerate(CODES)}
OFF_ROLL = np.int8(-1)

PHASE_INDEX = {"primary": 0, "secondary": 1, "special": 2}

# Codes of full-day spells, per kind and phase: (code, probability). "C2" is written as "C"
# before the 2024 code set. Shares follow the DfE's reasons for absence (2024/25 national:
# I 3.24%, O 1.59%, G 0.46%, C 0.41%, M 0.32%, C2 0.24%, U 0.22%, E 0.16%, R 0.10%, N 0.06% of
# sessions; "other unauthorised" 0.7% of sessions in primary, 2.6% in secondary).
ILLNESS_SPELL_CODES = {
    "primary": (("I", 0.92), ("M", 0.03), ("C", 0.05)),
    "secondary": (("I", 0.90), ("M", 0.04), ("C", 0.06)),
    "special": (("I", 0.82), ("M", 0.08), ("C", 0.10)),
}
DISENGAGED_SPELL_CODES = {
    "primary": (("O", 0.78), ("E", 0.02), ("C2", 0.06), ("C", 0.10), ("N", 0.04)),
    "secondary": (("O", 0.76), ("E", 0.10), ("C2", 0.07), ("C", 0.05), ("N", 0.02)),
    "special": (("O", 0.66), ("E", 0.04), ("C2", 0.16), ("C", 0.11), ("N", 0.03)),
}
ILLNESS_HALF_DAY_CODES = (("M", 0.6), ("I", 0.4))
DISENGAGED_HALF_DAY_CODES = (("U", 0.60), ("O", 0.28), ("C2", 0.12))
PM_SHARE = {"M": 0.5, "I": 0.7, "O": 0.6, "U": 0.0, "C2": 1.0}
"""Chance that a half-day absence with this code is the afternoon session."""

EVENT_TYPES = ("long illness", "anxiety or bullying", "family crisis", "housing")
EVENT_TYPE_SHARES = np.array([0.25, 0.35, 0.20, 0.20])
AGREED_HOLIDAY_SHARE = 0.05  # holiday blocks recorded as H (agreed) under the 2006 code set
HOLIDAY_BREAK_WEIGHTS = np.array([1.0, 1.5, 1.0, 1.5, 1.0, 2.0])
"""Relative chance that a term-time holiday sits next to the break after each half-term."""
BLOCK_ROWS = 8192


@dataclass
class YearInputs:
    """Per-enrolment inputs of :func:`simulate_year` (arrays of equal length)."""

    phase: np.ndarray  # "primary" / "secondary" / "special"
    sex: np.ndarray  # "F" / "M"
    year_group: np.ndarray
    school: np.ndarray  # row index into the schools frame
    start: np.ndarray  # first school-day index on roll
    end: np.ndarray  # last school-day index on roll (inclusive)
    rate: np.ndarray  # target annual absence rate
    z: np.ndarray  # latent score (standard normal)
    style: np.ndarray  # persistent style (standard normal): leaning to disengagement
    innovation: np.ndarray  # this year's AR(1) innovation
    late_trait: np.ndarray  # persistent lateness trait (standard normal)
    observant: np.ndarray  # takes religious-observance days


@dataclass
class YearOutput:
    """Session codes (enrolments × school days × AM/PM, ids into :data:`CODES`, -1 off
    roll) and the hidden truth per enrolment (for documentation and tests)."""

    codes: np.ndarray
    truth: pd.DataFrame


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw(table: tuple[tuple[str, float], ...], u: np.ndarray) -> np.ndarray:
    """Codes (ids) drawn from a (code, probability) table with uniforms ``u``."""
    codes = np.array([CODE_ID[c] for c, _ in table], dtype=np.int8)
    cum = np.cumsum([p for _, p in table])
    return codes[np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(codes) - 1)]


def _budget_in_band(rate: np.ndarray, possible: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sessions of absence: ``rate × possible`` rounded up or down at random, but never across
    a DfE band edge — otherwise rounding alone would push pupils just under 10% into
    persistent absence (about 0.7 points too many PA in primary). The cost is a bias of half a
    session for the rates within a session below an edge (-0.03 sessions per pupil)."""
    exact = rate * possible
    low = np.floor(exact)
    budget = low + (rng.random(len(rate)) < exact - low)
    band = np.minimum(np.floor(rate / 0.05 + 1e-9), 10)
    other = np.where(budget > low, low, low + 1)
    realised = np.minimum(np.floor(budget / np.maximum(possible, 1) / 0.05 + 1e-9), 10)
    budget = np.where(realised != band, other, budget)
    return np.clip(budget, 0, possible).astype(np.int64)


class DayShapes:
    """Calendar-driven intensity shapes over the school days of one year."""

    def __init__(self, calendar: TermDates, dynamics: Dynamics) -> None:
        days = calendar.school_days()
        self.days = days
        n = len(days)
        self.n_days = n
        self.weekday = ((days.astype("int64") - 4) % 7).astype(np.int64)  # Monday = 0
        half_term = calendar.half_term_of_days()
        self.half_term = half_term
        position = np.arange(n)
        last_of_half = np.array([position[half_term == h].max() for h in range(6)])
        to_end = last_of_half[half_term] - position
        last_week = to_end < 5
        term_end = np.isin(half_term, (1, 3, 5)) & last_week
        uplift = np.where(
            term_end,
            1 + dynamics.term_end_uplift,
            np.where(last_week, 1 + dynamics.half_term_end_uplift, 1.0),
        )
        september = np.where(position < 10, dynamics.september_start_factor, 1.0)
        day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64)
        season = 1 + dynamics.illness_season_amplitude * np.cos(
            2 * np.pi * (day_of_year - dynamics.illness_season_peak_day) / 365.25
        )
        illness = season * np.array(dynamics.weekday_illness)[self.weekday] * uplift * september
        self.illness = illness / illness.mean()
        progress = position / max(n - 1, 1)
        disengaged = []
        for phase in PHASE_INDEX:
            shape = (
                (1 + dynamics.disengaged_rise[phase] * (progress - 0.5))
                * np.array(dynamics.weekday_disengaged)[self.weekday]
                * uplift
                * september
            )
            disengaged.append(shape / shape.mean())
        self.disengaged = np.stack(disengaged)  # phase × day
        # Where each half-term's break starts and the next half-term resumes (day indices).
        self.break_before = last_of_half
        first_of_half = np.array([position[half_term == h].min() for h in range(6)])
        self.resume_after = np.append(first_of_half[1:], n)


def solve_disengaged_intercept(
    base: np.ndarray, weight: np.ndarray, target: float, lo: float = -12.0, hi: float = 12.0
) -> float:
    """``α`` such that the ``weight``-weighted mean of ``sigmoid(α + base)`` is ``target``."""
    if weight.sum() <= 0:
        return 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        share = np.average(_sigmoid(mid + base), weights=weight)
        lo, hi = (mid, hi) if share < target else (lo, mid)
    return (lo + hi) / 2


def simulate_year(
    inputs: YearInputs,
    shapes: DayShapes,
    schools: pd.DataFrame,
    dynamics: Dynamics,
    rng: np.random.Generator,
    disengaged_share: Mapping[str, float],
) -> YearOutput:
    """Session codes for every enrolment of one academic year (see the module docstring).

    ``disengaged_share`` is the phase's share of disengagement-type absence (the regime's
    :data:`~simulator.calibration.DISENGAGED_SHARE` unless the dynamics override it).
    """
    n = len(inputs.rate)
    n_days = shapes.n_days
    code_set_2024 = shapes.days[0] >= np.datetime64(CODE_SET_2024_FROM)
    phase = np.array([PHASE_INDEX[p] for p in inputs.phase], dtype=np.int64)

    # Budget: sessions of absence, as full days and half days.
    on_roll_days = inputs.end - inputs.start + 1
    possible = 2 * on_roll_days
    budget = _budget_in_band(inputs.rate, possible, rng)
    pairs, odd = budget // 2, budget % 2
    half_pairs = rng.binomial(pairs, dynamics.half_day_probability)
    half_pairs = np.minimum(half_pairs, np.maximum(on_roll_days - pairs - odd, 0))
    half_days = odd + 2 * half_pairs
    absence_days = pairs + half_pairs + odd

    # Disengagement share before and after a life event.
    coding = schools["coding_effect"].to_numpy()[inputs.school]
    base = (
        dynamics.disengaged_level_slope * inputs.z
        + dynamics.disengaged_style_slope * inputs.style
        + 0.3 * coding
    )
    d_before = np.empty(n)
    for name, index in PHASE_INDEX.items():
        rows = phase == index
        alpha = solve_disengaged_intercept(
            base[rows], budget[rows].astype(float), disengaged_share[name]
        )
        d_before[rows] = _sigmoid(alpha + base[rows])

    event = rng.random(n) < _sigmoid(
        dynamics.life_event_intercept
        + dynamics.life_event_slope * inputs.innovation
        + dynamics.life_event_level_slope * inputs.z
    )
    event_type = np.where(event, rng.choice(len(EVENT_TYPES), size=n, p=EVENT_TYPE_SHARES), -1)
    event_day = np.where(event, rng.integers(15, max(n_days - 25, 16), size=n), n_days + 1)
    amplitude = rng.uniform(*dynamics.life_event_amplitude, size=n)
    recovers = rng.random(n) < dynamics.life_event_recovery_probability
    recovery_day = np.where(
        recovers,
        event_day + rng.integers(*dynamics.life_event_recovery_after_days, size=n),
        n_days * 10,
    )
    d_after = d_before.copy()
    d_after = np.where(event_type == 0, d_before * 0.3, d_after)
    d_after = np.where(event_type == 1, np.maximum(d_before, 0.65), d_after)
    d_after = np.where(event_type == 2, np.maximum(d_before, 0.5), d_after)
    d_after = np.where(event_type == 3, np.maximum(d_before, 0.75), d_after)

    drift = (
        dynamics.drift_innovation_slope * inputs.innovation
        + dynamics.drift_disengaged_slope * d_before
        + dynamics.drift_noise * rng.standard_normal(n)
    )
    # Centre the drift on the phase's absence-weighted mean: the LA's absence by month keeps
    # the seasonal shapes; pupils drift up or down relative to them.
    for index in range(len(PHASE_INDEX)):
        rows = phase == index
        if budget[rows].sum() > 0:
            drift[rows] -= np.average(drift[rows], weights=budget[rows])
    mean_spell = dynamics.mean_spell_days * np.exp(0.3 * rng.standard_normal(n))
    mean_spell = np.where(event_type == 0, 3.0, np.maximum(mean_spell, 1.0))

    # Forced days: a term-time holiday block, religious festivals.
    holiday_p = np.array([dynamics.holiday_probability[p] for p in PHASE_INDEX])[phase]
    holiday = rng.random(n) < holiday_p * np.clip(absence_days / 6, 0.1, 1.0)
    holiday_days = rng.choice(np.array(dynamics.holiday_days), size=n)
    holiday_break = rng.choice(6, size=n, p=HOLIDAY_BREAK_WEIGHTS / HOLIDAY_BREAK_WEIGHTS.sum())
    after_break = (rng.random(n) < 0.4) & (holiday_break < 5)
    holiday_start = np.where(
        after_break,
        shapes.resume_after[holiday_break],
        shapes.break_before[holiday_break] - holiday_days + 1,
    )
    agreed = (~code_set_2024) & (rng.random(n) < AGREED_HOLIDAY_SHARE)
    festivals = np.sort(rng.choice(np.arange(10, n_days - 10), size=2, replace=False))
    episode = rng.random(n) < dynamics.illness_episode_probability * 2 * (1 - d_before)
    episode_days = rng.integers(
        dynamics.illness_episode_days[0], dynamics.illness_episode_days[1] + 1, size=n
    )
    season = shapes.illness / shapes.illness.sum()
    episode_start = rng.choice(n_days, size=n, p=season)

    late_p = np.exp(
        0.9 * inputs.late_trait + 0.3 * inputs.z + schools["late_effect"].to_numpy()[inputs.school]
    )
    late_p = np.minimum(late_p * dynamics.late_share_of_am_present / late_p.mean(), 0.5)

    # Approved educational activities: trip days per school and year group; off-site
    # provision on one weekday for a run of weeks.
    trip_key = inputs.school * 12 + inputs.year_group
    n_keys = (int(trip_key.max()) + 1) if n else 1
    trip_weight = np.where(shapes.half_term >= 4, 2.0, 1.0)
    trip_counts = rng.poisson(dynamics.trip_days_per_year_group, size=n_keys)
    trips = np.zeros((n_keys, n_days), dtype=bool)
    for key in np.flatnonzero(trip_counts):
        chosen = rng.choice(
            n_days,
            size=min(trip_counts[key], n_days),
            replace=False,
            p=trip_weight / trip_weight.sum(),
        )
        trips[key, chosen] = True
    provision_p = np.array([dynamics.off_site_provision_share[p] for p in PHASE_INDEX])[phase]
    provision_p = np.minimum(provision_p * 4 * _sigmoid(1.5 * inputs.z - 1.5), 0.9)
    provision = rng.random(n) < provision_p
    provision_weekday = rng.integers(0, 5, size=n)
    provision_from = rng.integers(0, n_days // 2, size=n)
    provision_to = provision_from + rng.integers(40, 120, size=n)

    codes = np.full((n, n_days, 2), OFF_ROLL, dtype=np.int8)
    for lo in range(0, n, BLOCK_ROWS):
        rows = np.arange(lo, min(lo + BLOCK_ROWS, n))
        codes[rows] = _block_codes(
            rows,
            shapes,
            rng,
            phase=phase,
            inputs=inputs,
            absence_days=absence_days,
            half_days=half_days,
            d_before=d_before,
            d_after=d_after,
            event_day=event_day,
            amplitude=amplitude,
            recovery_day=recovery_day,
            drift=drift,
            ramp_days=dynamics.life_event_ramp_days,
            mean_spell=mean_spell,
            long_spell_p=dynamics.long_illness_spell_probability,
            long_spell_days=dynamics.long_illness_spell_days,
            holiday=holiday,
            holiday_start=holiday_start,
            holiday_days=holiday_days,
            episode=episode,
            episode_start=episode_start,
            episode_days=episode_days,
            agreed=agreed,
            festivals=festivals,
            late_p=late_p,
            trips=trips[trip_key[rows]],
            provision=provision,
            provision_weekday=provision_weekday,
            provision_from=provision_from,
            provision_to=provision_to,
            code_set_2024=bool(code_set_2024),
        )

    truth = pd.DataFrame(
        {
            "target_rate": inputs.rate,
            "budget_sessions": budget,
            "possible_sessions": possible,
            "disengaged_share": d_before,
            "drift": drift,
            "event_type": pd.Categorical.from_codes(event_type, categories=list(EVENT_TYPES)),
            "event_date": np.where(
                event,
                shapes.days[np.minimum(event_day, n_days - 1)],
                np.datetime64("NaT"),
            ),
            "event_recovers": event & recovers,
            "holiday_block": holiday,
            "illness_episode": episode,
            "off_site_provision": provision,
        }
    )
    return YearOutput(codes=codes, truth=truth)


def _block_codes(
    rows: np.ndarray,
    shapes: DayShapes,
    rng: np.random.Generator,
    *,
    phase: np.ndarray,
    inputs: YearInputs,
    absence_days: np.ndarray,
    half_days: np.ndarray,
    d_before: np.ndarray,
    d_after: np.ndarray,
    event_day: np.ndarray,
    amplitude: np.ndarray,
    recovery_day: np.ndarray,
    drift: np.ndarray,
    ramp_days: int,
    mean_spell: np.ndarray,
    long_spell_p: float,
    long_spell_days: tuple[int, int],
    holiday: np.ndarray,
    holiday_start: np.ndarray,
    holiday_days: np.ndarray,
    episode: np.ndarray,
    episode_start: np.ndarray,
    episode_days: np.ndarray,
    agreed: np.ndarray,
    festivals: np.ndarray,
    late_p: np.ndarray,
    trips: np.ndarray,
    provision: np.ndarray,
    provision_weekday: np.ndarray,
    provision_from: np.ndarray,
    provision_to: np.ndarray,
    code_set_2024: bool,
) -> np.ndarray:
    """Session codes for one block of enrolments (``rows``)."""
    m = len(rows)
    n_days = shapes.n_days
    t = np.arange(n_days)[None, :]
    start = inputs.start[rows][:, None]
    end = inputs.end[rows][:, None]
    on_roll = (t >= start) & (t <= end)
    ph = phase[rows]

    # Intensity: the pupil's mix of the two shapes, then the life event.
    after = t >= event_day[rows][:, None]
    d = np.where(after, d_after[rows][:, None], d_before[rows][:, None])
    illness = shapes.illness[None, :]
    disengaged = shapes.disengaged[ph]
    mix = (1 - d) * illness + d * disengaged
    ramp = np.clip((t - event_day[rows][:, None] + 1) / ramp_days, 0.0, 1.0)
    recovery = np.clip((t - recovery_day[rows][:, None]) / 15.0, 0.0, 1.0)
    event = 1.0 + amplitude[rows][:, None] * ramp * (1.0 - recovery)
    progress = np.arange(n_days)[None, :] / max(n_days - 1, 1) - 0.5
    intensity = mix * event * np.exp(drift[rows][:, None] * progress)

    # Segments of consecutive days share their Gumbel noise, so absence comes in spells.
    lengths = rng.geometric(1.0 / mean_spell[rows][:, None], size=(m, n_days))
    long_spell = rng.random((m, n_days)) < long_spell_p * (1 - d_before[rows][:, None])
    lengths = np.where(
        long_spell,
        rng.integers(long_spell_days[0], long_spell_days[1] + 1, size=(m, n_days)),
        lengths,
    )
    seg_start = np.cumsum(lengths, axis=1) - lengths
    first_of_segment = np.zeros((m, n_days), dtype=bool)
    valid = seg_start < n_days
    first_of_segment[np.nonzero(valid)[0], seg_start[valid]] = True
    segment = np.cumsum(first_of_segment, axis=1) - 1
    gumbel = -np.log(-np.log(rng.random((m, n_days)) * (1 - 1e-12) + 1e-300))
    score = np.log(intensity) + np.take_along_axis(gumbel, segment, axis=1)
    score += 1e-3 * rng.random((m, n_days))

    in_holiday = (
        holiday[rows][:, None]
        & (t >= holiday_start[rows][:, None])
        & (t < holiday_start[rows][:, None] + holiday_days[rows][:, None])
    )
    festival = inputs.observant[rows][:, None] & np.isin(t, festivals)
    in_episode = (
        episode[rows][:, None]
        & (t >= episode_start[rows][:, None])
        & (t < episode_start[rows][:, None] + episode_days[rows][:, None])
    )
    score = score + 40.0 * in_episode + 50.0 * in_holiday + 60.0 * festival
    score = np.where(on_roll, score, -np.inf)

    order = np.argsort(-score, axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n_days), (m, n_days)), axis=1)
    absent = rank < absence_days[rows][:, None]

    # Half days: preferably isolated absence days that are not forced.
    previous = np.zeros_like(absent)
    previous[:, 1:] = absent[:, :-1]
    following = np.zeros_like(absent)
    following[:, :-1] = absent[:, 1:]
    isolated = absent & ~previous & ~following
    forced = in_holiday | festival | in_episode
    half_score = rng.random((m, n_days)) + 1.0 * isolated - 5.0 * forced
    half_score = np.where(absent, half_score, -np.inf)
    half_order = np.argsort(-half_score, axis=1)
    half_rank = np.empty_like(half_order)
    np.put_along_axis(
        half_rank, half_order, np.broadcast_to(np.arange(n_days), (m, n_days)), axis=1
    )
    half = absent & (half_rank < half_days[rows][:, None])

    # Spells: runs of absence days; one kind and one code per spell.
    spell_start = absent & ~previous
    spell_row, spell_day = np.nonzero(spell_start)
    spell_id = np.cumsum(spell_start.ravel()).reshape(m, n_days) - 1
    phase_of_spell = ph[spell_row]

    def disengaged_posterior(row: np.ndarray, day: np.ndarray) -> np.ndarray:
        dd = np.where(day >= event_day[rows][row], d_after[rows][row], d_before[rows][row])
        dis = dd * shapes.disengaged[ph[row], day]
        ill = (1 - dd) * shapes.illness[day]
        return dis / (dis + ill)

    spell_disengaged = rng.random(len(spell_row)) < disengaged_posterior(spell_row, spell_day)
    spell_code = np.empty(len(spell_row), dtype=np.int8)
    u = rng.random(len(spell_row))
    for name, index in PHASE_INDEX.items():
        ill_rows = (phase_of_spell == index) & ~spell_disengaged
        dis_rows = (phase_of_spell == index) & spell_disengaged
        spell_code[ill_rows] = _draw(ILLNESS_SPELL_CODES[name], u[ill_rows])
        spell_code[dis_rows] = _draw(DISENGAGED_SPELL_CODES[name], u[dis_rows])
    # Suspensions: rare in the infant years, twice as likely for boys.
    suspension = spell_code == CODE_ID["E"]
    young = inputs.year_group[rows][spell_row] <= 2
    girl = inputs.sex[rows][spell_row] == "F"
    demote = suspension & (young | (girl & (rng.random(len(spell_row)) < 0.5)))
    spell_code[demote] = CODE_ID["O"]

    day_code = np.full((m, n_days), OFF_ROLL, dtype=np.int8)
    day_code[absent] = spell_code[spell_id[absent]]
    holiday_code = np.where(agreed[rows], CODE_ID["H"], CODE_ID["G"])
    take_holiday = absent & in_holiday
    day_code[take_holiday] = np.broadcast_to(holiday_code[:, None], (m, n_days))[take_holiday]
    day_code[absent & in_episode & ~in_holiday] = CODE_ID["I"]
    day_code[absent & festival] = CODE_ID["R"]

    # Half-day codes and which session they fall on.
    half_row, half_day = np.nonzero(half)
    half_disengaged = rng.random(len(half_row)) < disengaged_posterior(half_row, half_day)
    uh = rng.random(len(half_row))
    half_code = np.where(
        half_disengaged,
        _draw(DISENGAGED_HALF_DAY_CODES, uh),
        _draw(ILLNESS_HALF_DAY_CODES, uh),
    )
    pm_share = np.zeros(len(CODES))
    for code, share in PM_SHARE.items():
        pm_share[CODE_ID[code]] = share
    half_pm = rng.random(len(half_row)) < pm_share[half_code]

    am = np.where(on_roll, CODE_ID["/"], OFF_ROLL).astype(np.int8)
    pm = np.where(on_roll, CODE_ID["\\"], OFF_ROLL).astype(np.int8)
    full = absent & ~half
    am[full] = day_code[full]
    pm[full] = day_code[full]
    am[half_row[~half_pm], half_day[~half_pm]] = half_code[~half_pm]
    pm[half_row[half_pm], half_day[half_pm]] = half_code[half_pm]

    # Lateness before the register closed, on present mornings.
    late = (am == CODE_ID["/"]) & (rng.random((m, n_days)) < late_p[rows][:, None])
    am[late] = CODE_ID["L"]

    # Approved educational activities on present sessions (they count as attendance).
    present_day = ~absent & on_roll
    on_trip = present_day & trips & (rng.random((m, n_days)) < 0.92)
    weekday = shapes.weekday[None, :]
    off_site = (
        present_day
        & provision[rows][:, None]
        & (weekday == provision_weekday[rows][:, None])
        & (t >= provision_from[rows][:, None])
        & (t < provision_to[rows][:, None])
        & ~on_trip
    )
    am[on_trip] = CODE_ID["V"]
    pm[on_trip] = CODE_ID["V"]
    if code_set_2024:
        la_arranged = rng.random(m) < 0.5
        provision_code = np.where(la_arranged, CODE_ID["K"], CODE_ID["B"])[:, None]
    else:
        provision_code = np.full((m, 1), CODE_ID["B"])
    provision_codes = np.broadcast_to(provision_code, (m, n_days))
    am[off_site] = provision_codes[off_site]
    pm[off_site] = provision_codes[off_site]

    if not code_set_2024:
        # The 2006 set had no reduced-timetable or LA-provision codes: such leave was "C".
        for matrix in (am, pm):
            matrix[matrix == CODE_ID["C2"]] = CODE_ID["C"]
    else:
        for matrix in (am, pm):
            matrix[matrix == CODE_ID["H"]] = CODE_ID["G"]
    return np.stack([am, pm], axis=-1)

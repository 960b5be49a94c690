"""Episodes: difficulties that begin during the year, last some weeks and end (or do not).

Each kind of episode has an onset hazard (by phase, year group, time of year and pupil group,
and rising with the pupil's latent absence level), a course (a precursor phase for some kinds,
a ramp up, a plateau, a recovery, or no recovery within the year), an intensity (a daily chance
of starting an absence spell, added to the pupil's background) and its own marks (codes, half
days, lateness). :data:`DEFAULT_EPISODES` lists the kinds and where each number comes from;
``docs/simulator.md`` gathers the sources. Numbers marked *assumption* have no published figure
behind them: they were set to plausible values and then, where a calibration target depends on
them (the within-year persistent-absence figures), adjusted to it — never to a model's results.

Short illness spells (a day or two with a cold) are not episodes: they are the background of
every pupil's absence (:mod:`simulator.model`). Term-time holidays, religious observance and
suspensions are placed as blocks of days (:func:`draw_holidays`, :func:`draw_suspensions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

Codes = tuple[tuple[str, float], ...]
"""A code table: (statutory code, probability) pairs; ``C2`` is written ``C`` before 2024."""


@dataclass(frozen=True)
class EpisodeKind:
    """One kind of episode. Durations are in school weeks, intensities are daily chances of
    starting an absence spell (added to the background), hazards are per school week."""

    name: str
    # Chance that a pupil of average latent level, without any of the group factors, has an
    # onset during one school year, per phase.
    yearly_onset: Mapping[str, float]
    # Relative onset hazard by year group 1..11 (index 0 = Year 1).
    year_group_factor: tuple[float, ...]
    # Time of year: "flat", "winter" (the illness season), "term_start" (four times as
    # likely in the first two weeks of the year, twice after every other holiday), "rising"
    # (half at the start of the year, 1.5 times at the end).
    season: str
    # Hazard multipliers for pupils eligible for free school meals, with any SEN, and girls.
    fsm_factor: float = 1.0
    sen_factor: float = 1.0
    female_factor: float = 1.0
    # Log-hazard per standard deviation of the pupil's latent absence level: episodes are
    # more likely for pupils who already miss more.
    level_slope: float = 0.0
    # Weeks of a precursor phase before the onset (lateness and odd days), or None.
    precursor_weeks: tuple[int, int] | None = None
    precursor_late_factor: float = 1.0
    precursor_odd_day_factor: float = 1.0
    ramp_weeks: tuple[int, int] = (1, 1)
    # Mean length of the plateau in school weeks (exponential: most end within weeks, some
    # run for months), then a recovery over ``recovery_weeks``.
    mean_weeks: float = 6.0
    recovery_weeks: tuple[int, int] = (1, 3)
    # Daily chance of starting an absence spell at the plateau: log-uniform in this range, so
    # mild episodes are more common than severe ones.
    intensity: tuple[float, float] = (0.05, 0.3)
    # Chance that an absence day of the episode is followed by another (spell length).
    continuation: float = 0.4
    # Chance that an episode still running at the end of the year goes on into the next, and
    # the share of its intensity it keeps after the summer.
    carry_over: float = 0.0
    carry_intensity: float = 0.8
    # Mean remaining plateau of an episode carried over the summer (None = ``mean_weeks``):
    # schools put support in place for pupils who ended the year badly.
    carried_mean_weeks: float | None = None
    # Lateness (L before the register closes) multiplier while the episode runs.
    late_factor: float = 1.0
    # Marks of its full days and of its half days, per phase; share of absence days that are
    # half days.
    codes: Mapping[str, Codes] = field(default_factory=dict)
    half_day_share: float = 0.1
    half_day_codes: Codes = (("I", 1.0),)


def _per_phase(primary: Codes, secondary: Codes, special: Codes) -> dict[str, Codes]:
    return {"primary": primary, "secondary": secondary, "special": special}


LONG_ILLNESS = EpisodeKind(
    # Glandular fever, an operation, a broken leg, a flare of a long-term condition. Assumption:
    # ~3% of pupil-years (no published rate of illness absences of two weeks or more), winter
    # weighted like all illness; coded I (and M for appointments), a phased return on a reduced
    # timetable (C2) for some.
    name="long illness",
    yearly_onset={"primary": 0.025, "secondary": 0.03, "special": 0.04},
    year_group_factor=(1.0,) * 11,
    season="winter",
    sen_factor=1.5,
    level_slope=0.3,
    ramp_weeks=(0, 0),
    mean_weeks=2.5,
    recovery_weeks=(1, 3),
    intensity=(0.3, 0.9),
    continuation=0.85,
    codes=_per_phase(
        (("I", 0.9), ("M", 0.08), ("C2", 0.02)),
        (("I", 0.88), ("M", 0.08), ("C2", 0.04)),
        (("I", 0.8), ("M", 0.12), ("C2", 0.08)),
    ),
    half_day_share=0.15,
    half_day_codes=(("M", 0.5), ("C2", 0.3), ("I", 0.2)),
)

ANXIETY = EpisodeKind(
    # Emotionally-based school avoidance (EBSA), anxiety, low mood, bullying. School refusal
    # affects 1-5% of school-age children (Elliott 1999; Kearney 2008) and rises in secondary,
    # most in Years 8-10 (the ages 11-14 of most onsets, King & Bernstein 2001); onsets cluster
    # after holidays and illness (King & Bernstein 2001) and after the move to secondary
    # (Year 7, once the first half-term has passed); girls report more anxiety (NHS Mental
    # Health of Children and Young People 2023: 11-16-year-old girls 1.3 times boys' rate of
    # emotional disorders); autistic pupils and others with SEN are over-represented (Totsika
    # et al. 2020, about twice). Precursors: late arrivals and odd days (Mondays, Fridays)
    # before absence becomes regular (West Sussex EBSA guidance 2018; Thambirajah et al. 2008)
    # — the guidance describes them but gives no size, so they are modest here (assumption).
    # Course: absence grows over weeks and often does not end within the year; recovery is
    # slow (assumption: episodes last about half a year on average, and three in four still
    # running in July carry on after the summer). Coded first as illness, then as
    # other unauthorised absence, with part-time timetables (C2) and late arrivals (U).
    name="anxiety",
    yearly_onset={"primary": 0.01, "secondary": 0.04, "special": 0.05},
    year_group_factor=(0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.4, 1.3, 1.1),
    season="term_start",
    fsm_factor=1.3,
    sen_factor=2.0,
    female_factor=1.3,
    level_slope=0.5,
    precursor_weeks=(2, 6),
    precursor_late_factor=2.0,
    precursor_odd_day_factor=1.5,
    ramp_weeks=(3, 10),
    mean_weeks=12.0,
    recovery_weeks=(4, 10),
    intensity=(0.03, 0.7),
    continuation=0.55,
    carry_over=0.8,
    carried_mean_weeks=8.0,
    carry_intensity=0.8,
    late_factor=2.0,
    codes=_per_phase(
        (("I", 0.55), ("O", 0.25), ("C", 0.1), ("C2", 0.05), ("N", 0.05)),
        (("I", 0.25), ("O", 0.55), ("C", 0.08), ("C2", 0.08), ("N", 0.04)),
        (("I", 0.35), ("O", 0.35), ("C", 0.1), ("C2", 0.16), ("N", 0.04)),
    ),
    half_day_share=0.25,
    half_day_codes=(("U", 0.4), ("O", 0.3), ("I", 0.2), ("C2", 0.1)),
)

FAMILY_CRISIS = EpisodeKind(
    # Housing (eviction, temporary accommodation), bereavement, parental ill health, domestic
    # abuse: the circumstances family-support practitioners meet beyond the school gate. About
    # 650,000 referrals reach children's social care each year in England, ~5% of children
    # (DfE, Characteristics of children in need 2023); ~1% of children live in temporary
    # accommodation (DLUHC 2023); each child-year has a ~0.3% chance of losing a parent or
    # sibling (Childhood Bereavement Network: 1 in 29 by 16). Assumption: ~5% of pupil-years
    # have a crisis that reaches attendance, 2.5 times as often with FSM (poverty and housing
    # insecurity). Sudden, with no precursor in attendance; absence mixed authorised
    # (exceptional circumstances C, illness) and unauthorised (O, N), more late arrivals
    # (housing far from school); most recover within weeks to months.
    name="family crisis",
    yearly_onset={"primary": 0.03, "secondary": 0.03, "special": 0.04},
    year_group_factor=(1.0,) * 11,
    season="flat",
    fsm_factor=2.5,
    sen_factor=1.3,
    level_slope=0.4,
    ramp_weeks=(0, 1),
    mean_weeks=10.0,
    recovery_weeks=(2, 6),
    intensity=(0.03, 0.4),
    continuation=0.4,
    carry_over=0.4,
    carry_intensity=0.6,
    late_factor=2.0,
    codes=_per_phase(
        (("O", 0.4), ("C", 0.25), ("I", 0.25), ("N", 0.1)),
        (("O", 0.45), ("C", 0.2), ("I", 0.25), ("N", 0.1)),
        (("O", 0.35), ("C", 0.3), ("I", 0.3), ("N", 0.05)),
    ),
    half_day_share=0.15,
    half_day_codes=(("U", 0.5), ("O", 0.3), ("C", 0.2)),
)

DISENGAGEMENT = EpisodeKind(
    # Drifting away from school in the secondary years: truancy, post-registration absence,
    # the consequences of exclusion (reduced timetables, alternative provision) — unauthorised
    # absence peaks in the summer term and in Years 9-11 (DfE, Pupil absence 2022/23: "other
    # unauthorised" 2.6% of secondary sessions against 0.7% in primary; PA 29-31% in Years
    # 9-11). Boys, FSM and pupils with SEN more often (as for suspensions, DfE Suspensions and
    # permanent exclusions 2022/23). Onsets rise through the year; after a suspension the
    # hazard triples (assumption). Grows slowly; rarely recovers within the year (assumption).
    name="disengagement",
    yearly_onset={"primary": 0.004, "secondary": 0.04, "special": 0.03},
    year_group_factor=(0.3, 0.3, 0.4, 0.5, 0.6, 0.8, 0.6, 0.9, 1.2, 1.4, 1.4),
    season="rising",
    fsm_factor=1.6,
    sen_factor=1.4,
    female_factor=0.8,
    level_slope=0.6,
    ramp_weeks=(4, 12),
    mean_weeks=12.0,
    recovery_weeks=(4, 8),
    intensity=(0.03, 0.4),
    continuation=0.3,
    carry_over=0.7,
    carried_mean_weeks=8.0,
    carry_intensity=0.9,
    late_factor=1.5,
    codes=_per_phase(
        (("O", 0.8), ("N", 0.05), ("C2", 0.15)),
        (("O", 0.82), ("N", 0.04), ("C2", 0.14)),
        (("O", 0.7), ("N", 0.05), ("C2", 0.25)),
    ),
    half_day_share=0.25,
    half_day_codes=(("O", 0.6), ("U", 0.3), ("C2", 0.1)),
)

DEFAULT_EPISODES: tuple[EpisodeKind, ...] = (LONG_ILLNESS, ANXIETY, FAMILY_CRISIS, DISENGAGEMENT)
"""The kinds of episode of the default simulator, in the order of their kind ids."""

EPISODE_KIND_NAMES = (
    *(kind.name for kind in DEFAULT_EPISODES),
    "term-time holiday",
    "suspension",
)
"""Every ``kind`` written to ``episodes.parquet``."""


@dataclass(frozen=True)
class Suspensions:
    """Suspensions (fixed-period exclusions, code E). DfE, Suspensions and permanent
    exclusions in England 2022/23: 9.3 suspensions per 100 pupils (primary 1.8, secondary
    18.9, special 11.0 — about 1 pupil in 20 in secondary has at least one, many have
    several); FSM pupils about 4 times, boys about 2.5 times, pupils with SEN 3-4 times the
    rate of others. Most last one or two days (assumption from the DfE's "most suspensions are
    short"); each suspension raises the chance of another (they cluster on few pupils)."""

    per_100_pupils: Mapping[str, float] = field(
        default_factory=lambda: {"primary": 1.8, "secondary": 18.9, "special": 11.0}
    )
    fsm_factor: float = 3.0
    boy_factor: float = 2.3
    sen_factor: float = 2.5
    level_slope: float = 0.6
    # Spread of the pupil's rate (gamma-distributed, shape): a few pupils get most suspensions.
    clustering_shape: float = 0.3
    days: tuple[int, ...] = (1, 1, 1, 1, 2, 2, 2, 3, 3, 5)
    # After a suspension, the hazard of disengagement rises (assumption).
    disengagement_factor: float = 3.0


SEASONS = ("flat", "winter", "term_start", "rising")


def weekly_season(
    season: str, week_illness: np.ndarray, week_after_break: np.ndarray
) -> np.ndarray:
    """The relative onset hazard of each school week for a season name (mean 1)."""
    n = len(week_illness)
    if season == "flat":
        shape = np.ones(n)
    elif season == "winter":
        shape = week_illness.astype(float)
    elif season == "term_start":
        # Most onsets at the start of the school year, more after every holiday.
        shape = np.where(week_after_break, 2.0, 1.0)
        shape[:2] = 4.0
    elif season == "rising":
        shape = 0.5 + np.linspace(0.0, 1.0, n)
    else:
        raise ValueError(f"unknown season {season!r}; use one of {', '.join(SEASONS)}")
    return shape / shape.mean()

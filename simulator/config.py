"""Every parameter of the simulated local authority, in one frozen object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from features.calendar import academic_year_label, parse_academic_year
from simulator.calibration import REGIMES
from simulator.terms import TermDates, default_term_dates

DEFAULT_YEARS = ("2022/23", "2023/24", "2024/25")
PUPILS_PER_SCHOOL = 500
"""Without ``schools``, the LA has one school per this many pupils (at least three)."""


@dataclass(frozen=True)
class Dynamics:
    """Within-year dynamics: how a pupil's annual absence is spread over the year.

    The defaults are tuned against the DfE figures listed in ``docs/simulator.md``.
    """

    # Day of week (Monday..Friday) multipliers of the intensity, for illness-type and for
    # disengagement-type absence (normalised to mean 1 over the school days).
    weekday_illness: tuple[float, ...] = (0.98, 0.98, 0.97, 0.98, 1.08)
    weekday_disengaged: tuple[float, ...] = (1.03, 0.97, 0.96, 0.97, 1.12)
    # Illness peaks in winter: 1 + amplitude * cos(2π (day of year - peak) / 365).
    illness_season_amplitude: float = 0.22
    illness_season_peak_day: int = 15  # mid-January
    # Disengagement rises through the year (summer peak), most in secondary:
    # intensity = 1 + rise * (fraction of the school year elapsed - 0.5), per phase.
    disengaged_rise: Mapping[str, float] = field(
        default_factory=lambda: {"primary": 0.4, "secondary": 0.7, "special": 0.4}
    )
    # Absence rises in the last week of each half-term, most before Christmas and summer.
    half_term_end_uplift: float = 0.15
    term_end_uplift: float = 0.25
    # The first two weeks of September have less absence (fresh start).
    september_start_factor: float = 0.85
    # Spells: mean spell length (school days) of a pupil's "segments"; see model.py.
    mean_spell_days: float = 1.45
    long_illness_spell_probability: float = 0.02
    long_illness_spell_days: tuple[int, int] = (4, 10)
    # Acute illness episodes (flu, chickenpox, an operation): a block of 3-10 days for some
    # pupil-years, more likely in winter and for illness-type pupils; part of the year's
    # budget, so an early episode inflates the rate so far without raising the rest of the year.
    illness_episode_probability: float = 0.15
    illness_episode_days: tuple[int, int] = (3, 10)
    # Half-day absences (medical appointments, arriving after the register closed, sent
    # home ill): probability that an absence day is only half a day.
    half_day_probability: float = 0.10
    # Share of absence that is disengagement-type (unauthorised, suspensions, reduced
    # timetables) rather than illness-type, by phase; None = the regime's
    # calibration.DISENGAGED_SHARE (tuned to the DfE's unauthorised absence by phase).
    disengaged_share: Mapping[str, float] | None = None
    # How strongly a pupil's latent absence level, and a persistent style, tilt them towards
    # disengagement-type absence (log-odds per standard deviation).
    disengaged_level_slope: float = 0.9
    disengaged_style_slope: float = 0.8
    # Term-time holidays (G; H before 2024 when agreed) in a block next to a school holiday.
    holiday_probability: Mapping[str, float] = field(
        default_factory=lambda: {"primary": 0.32, "secondary": 0.18, "special": 0.10}
    )
    holiday_days: tuple[int, ...] = (2, 3, 4, 5, 5, 5, 5, 6, 7, 8, 10)
    # Religious observance (R): share of pupils who observe two festival days a year.
    observance_share: float = 0.07
    # Gradual change within the year: intensity × exp(drift × (fraction of year - ½)), with
    # drift = slope × the year's latent innovation + noise — a pupil whose level rises (or
    # falls) this year changes during the year, not overnight in September.
    drift_innovation_slope: float = 0.9
    drift_noise: float = 0.4
    # Disengagement escalates: drift also rises with the pupil's disengagement share, so
    # unauthorised absence early on foreshadows more later (drift is centred per phase).
    drift_disengaged_slope: float = 1.5
    # Life events (bereavement, anxiety, housing, long illness...): log-odds rise with the
    # year's latent innovation and with the latent level (so events mostly explain a bad
    # year); intensity after the event is multiplied by 1 + amplitude.
    life_event_intercept: float = -3.0
    life_event_slope: float = 1.0
    life_event_level_slope: float = 0.8
    life_event_amplitude: tuple[float, float] = (3.0, 8.0)
    life_event_ramp_days: int = 10
    life_event_recovery_probability: float = 0.4
    life_event_recovery_after_days: tuple[int, int] = (20, 60)
    # Lateness: L (before the register closed) on about 1.9% of sessions.
    late_share_of_am_present: float = 0.040
    # Approved educational activities (attendance): trips (V), off-site provision (B; K
    # from 2024).
    trip_days_per_year_group: float = 1.6
    off_site_provision_share: Mapping[str, float] = field(
        default_factory=lambda: {"primary": 0.003, "secondary": 0.025, "special": 0.03}
    )


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of :func:`simulator.simulate_authority`.

    ``years`` are consecutive academic years (labels and calendars only: the *regime* sets the
    absence level and distribution of every year). ``term_dates`` overrides the default
    calendar for some years.
    """

    pupils: int = 6000
    schools: int | None = None
    years: tuple[str, ...] = DEFAULT_YEARS
    regime: str = "2022/23"
    seed: int = 0
    la_name: str = "Northvale"
    la_code: int = 990  # not a real LA code
    term_dates: Mapping[str, TermDates] = field(default_factory=dict)
    # Share of each year group in special schools, as a multiple of the DfE's (~1.8% of
    # pupils aged 5-15); more special pupils make special-school figures less noisy.
    special_pupil_factor: float = 1.0
    # Phase mix of the schools: about a quarter secondary, one in fifteen special.
    secondary_school_share: float = 0.25
    special_school_share: float = 1 / 15
    # Pupil movement.
    feeder_share: float = 0.75  # Year 6 pupils going to their primary's usual secondary
    between_year_move_rate: float = 0.02  # change of school within a phase over the summer
    mid_year_leaver_rate: float = 0.02  # share of pupils leaving during the year
    internal_move_share: float = 0.5  # of those, moving to another school of the LA
    mover_latent_shift: float = 0.8  # movers are drawn towards higher absence (log-weight/SD)
    # Latent absence propensity.
    persistence: float = 0.72  # AR(1) coefficient of a pupil's latent level between years
    school_effect_share: float = 0.06  # variance share of the school random effect
    dynamics: Dynamics = field(default_factory=Dynamics)

    def __post_init__(self) -> None:
        if self.pupils < 200:
            raise ValueError(f"pupils must be at least 200 (got {self.pupils})")
        if self.schools is not None and self.schools < 3:
            raise ValueError(
                f"schools must be at least 3 (a primary, a secondary and a special school); "
                f"got {self.schools}"
            )
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {', '.join(REGIMES)}, not {self.regime!r}")
        if not self.years:
            raise ValueError("give at least one academic year")
        starts = [parse_academic_year(y) for y in self.years]
        if starts != list(range(starts[0], starts[0] + len(starts))):
            raise ValueError(
                f"years must be consecutive academic years in order, e.g. 2022/23,2023/24; "
                f"got {','.join(self.years)}"
            )
        if not 0 <= self.persistence < 1:
            raise ValueError(f"persistence must be in [0, 1), not {self.persistence}")
        if not 0 <= self.school_effect_share < 1:
            raise ValueError("school_effect_share must be in [0, 1)")
        if not 0 < self.la_code < 1000:
            raise ValueError(f"la_code is a 3-digit LA number, not {self.la_code}")
        for year, dates in self.term_dates.items():
            if year not in self.years:
                raise ValueError(f"term dates given for {year}, which is not simulated")
            dates.validate(year)

    @property
    def school_count(self) -> int:
        """Number of schools (``schools``, or one per :data:`PUPILS_PER_SCHOOL` pupils)."""
        if self.schools is not None:
            return self.schools
        return max(3, round(self.pupils / PUPILS_PER_SCHOOL))

    def calendar(self, academic_year: str) -> TermDates:
        """The term dates used for ``academic_year``."""
        return self.term_dates.get(academic_year) or default_term_dates(academic_year)


_YEARS_RE = re.compile(r"^\d+$")


def parse_years(text: str, last: str = DEFAULT_YEARS[-1]) -> tuple[str, ...]:
    """``"2022/23,2023/24"`` → the labels; a bare count ``"3"`` → that many years ending with
    ``last``. Raises ``ValueError`` saying the expected forms."""
    text = text.strip()
    if _YEARS_RE.match(text):
        count = int(text)
        if not 1 <= count <= 20:
            raise ValueError(f"--years {text}: give 1 to 20 years")
        end = parse_academic_year(last)
        return tuple(academic_year_label(y) for y in range(end - count + 1, end + 1))
    labels = tuple(part.strip() for part in text.split(",") if part.strip())
    if not labels:
        raise ValueError("--years: give academic years like 2022/23,2023/24 or a count like 3")
    for label in labels:
        parse_academic_year(label)
    return labels

"""Every parameter of the simulated local authority, in one frozen object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from features.calendar import academic_year_label, parse_academic_year
from simulator.calibration import REGIMES, BaselineFit
from simulator.episodes import DEFAULT_EPISODES, EpisodeKind, Suspensions
from simulator.terms import TermDates, default_term_dates

DEFAULT_YEARS = ("2022/23", "2023/24", "2024/25")
PUPILS_PER_SCHOOL = 500
"""Without ``schools``, the LA has one school per this many pupils (at least three)."""


@dataclass(frozen=True)
class Dynamics:
    """How absence unfolds in time: the calendar's shape, each pupil's background spells and
    slow drift, and the episodes that begin during the year (:mod:`simulator.episodes`).

    Every number says where it comes from; *assumption* marks those with no published figure
    behind them (``docs/simulator.md`` lists them all).
    """

    # Day of week (Monday..Friday) multipliers of illness-type and other absence. DfE, Pupil
    # attendance in schools 2024/25: Friday about 0.8-1 point above midweek (mainly illness,
    # also unauthorised), Monday slightly above midweek (mainly unauthorised).
    weekday_illness: tuple[float, ...] = (0.98, 0.97, 0.96, 0.97, 1.12)
    weekday_other: tuple[float, ...] = (1.06, 0.95, 0.94, 0.95, 1.18)
    # Illness peaks in winter: 1 + amplitude * cos(2π (day of year - peak) / 365); None = the
    # regime's season (calibration.ILLNESS_SEASON, from the year's surveillance reports).
    illness_season_amplitude: float | None = None
    illness_season_peak_day: int | None = None
    # Everyone catches colds: a common illness-type background per phase (share of sessions)
    # on top of each pupil's own propensity (assumption; illness is 3.1-3.7% of sessions in
    # the DfE's figures, spread over most pupils, while unauthorised absence is concentrated).
    # These are 2022/23's; other regimes scale them by their published illness rate.
    common_illness_rate: Mapping[str, float] = field(
        default_factory=lambda: {"primary": 0.010, "secondary": 0.007, "special": 0.010}
    )
    # Other (non-illness) absence by term, relative to the autumn term: flat into spring,
    # then a summer rise (term-time holidays before the summer, disengagement). DfE term
    # figures, absence other than illness, 2022/23 and 2023/24 alike: primary 2.1% / 2.1% /
    # ~3.1% of sessions in autumn / spring / summer, secondary 4.2% / 4.9% / ~6.5% (summer
    # derived from the year). Episodes that begin during the year add to spring and summer on
    # their own, so the background's spring factor is 1.
    other_by_term: Mapping[str, tuple[float, float, float]] = field(
        default_factory=lambda: {
            "primary": (1.0, 1.0, 1.7),
            "secondary": (1.0, 1.0, 2.1),
            "special": (1.0, 1.0, 1.6),
        }
    )
    # Absence rises in the last week of each half-term and more before a holiday (DfE weekly
    # figures: the last week of autumn 2024 reached 9.4%). Sizes are assumptions.
    half_term_end_uplift: float = 0.15
    term_end_uplift: float = 0.25
    # The first two weeks of September have less absence (DfE weekly figures; size assumed).
    september_start_factor: float = 0.85
    # Year 7: low absence in the first half-term at secondary, then rising (FFT Education
    # Datalab, attendance tracker: Year 7 absence climbs through the year). Relative to the
    # year group's own mean; the sizes are assumptions.
    year7_first_half_term: float = 0.75
    year7_summer: float = 1.2
    # Background spells: the chance that an absence day is followed by another, for
    # illness-type (a cold lasts a day or three) and other absence (odd days). With the
    # episodes this gives spells of mostly one or two days (FFT Education Datalab).
    illness_continuation: float = 0.45
    other_continuation: float = 0.2
    # Half days (medical appointments, arriving after the register closed, sent home ill):
    # share of background absence days that are one session only (assumption; the DfE's M and
    # U are 0.32% and 0.22% of sessions).
    half_day_probability: float = 0.10
    # Slow drift of each pupil's background absence within the year: a weekly
    # Ornstein-Uhlenbeck process on the log-hazard (assumption: standard deviation and
    # correlation time; real weekly attendance is autocorrelated beyond what spells explain).
    drift_sd: float = 0.25
    drift_weeks: float = 8.0
    # Share of a pupil's background absence that is other (mostly unauthorised) rather than
    # illness-type: logit = phase intercept (fitted to the DfE's unauthorised absence by phase,
    # simulator/data/baseline_fit.csv) + slopes per SD of the latent level and of a persistent
    # style (assumption: heavier absentees lean to unauthorised absence).
    other_level_slope: float = 0.9
    other_style_slope: float = 0.8
    # Term-time holidays (G; H before 2024 when agreed) in a block next to a school holiday,
    # by phase (G is 0.46% of sessions, DfE 2024/25, more in primary).
    holiday_probability: Mapping[str, float] = field(
        default_factory=lambda: {"primary": 0.20, "secondary": 0.12, "special": 0.06}
    )
    holiday_days: tuple[int, ...] = (2, 3, 4, 5, 5, 5, 5, 6, 7, 8, 10)
    # Religious observance (R): share of pupils who observe two festival days a year (R is
    # 0.10% of sessions, DfE 2024/25).
    observance_share: float = 0.07
    # Lateness: L (before the register closed) on about 1.9% of sessions (DfE 2024/25: 1.87%).
    late_share_of_am_present: float = 0.040
    # Approved educational activities (attendance): trips (V, 0.78% of sessions), off-site
    # provision (B, 0.25%; K from 2024).
    trip_days_per_year_group: float = 1.6
    off_site_provision_share: Mapping[str, float] = field(
        default_factory=lambda: {"primary": 0.003, "secondary": 0.025, "special": 0.03}
    )
    episodes: tuple[EpisodeKind, ...] = DEFAULT_EPISODES
    suspensions: Suspensions = field(default_factory=Suspensions)


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
    urn_base: int = 100_000  # schools' URNs are drawn from [urn_base, urn_base + 50,000)
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
    persistence: float = 0.90  # AR(1) coefficient of a pupil's latent level between years
    school_effect_share: float = 0.06  # variance share of the school random effect
    dynamics: Dynamics = field(default_factory=Dynamics)
    # The background's fitted deflation and other-share intercepts; None = the shipped fit of
    # the regime (simulator/data/baseline_fit.json). simulator.fit passes its own while fitting.
    baseline: BaselineFit | None = None

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
        if not 100_000 <= self.urn_base <= 950_000:
            raise ValueError(
                f"urn_base must leave 6-digit URNs (100000-950000), not {self.urn_base}"
            )
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

"""The calendar's shape: how the chance of absence moves with the day of the week, the season,
the approach of a holiday and, for Year 7, the first year at secondary school."""

from __future__ import annotations

import numpy as np

from simulator.calibration import EPIDEMICS, ILLNESS_SEASON, PUBLISHED
from simulator.config import Dynamics
from simulator.terms import TermDates

PHASE_INDEX = {"primary": 0, "secondary": 1, "special": 2}
PHASES = tuple(PHASE_INDEX)


class DayShapes:
    """Calendar-driven multipliers over the school days of one year (each mean 1).

    * ``illness[t]``: the illness season (a cosine with its peak at
      ``Dynamics.illness_season_peak_day``), Friday highest, an uplift in the last week of
      each half-term and more in the last week of a term, a quiet first fortnight;
    * ``other[phase, t]``: other (mostly unauthorised) absence, by term and phase (a summer
      rise), with stronger Monday and Friday effects and the same uplifts;
    * ``epidemic[t]``: the daily chance of catching the winter's epidemic
      (:data:`~simulator.calibration.EPIDEMICS`; sums to its attack rate over the year);
    * ``year7[t]``: Year 7's absence relative to its year's average — low in the first
      half-term, then rising (the move to secondary);
    * weeks: ``week[t]`` (school-week number from 0), ``week_first_day``, ``week_days``,
      ``week_after_break`` (the first two school weeks after a holiday).
    """

    def __init__(self, calendar: TermDates, dynamics: Dynamics, regime: str) -> None:
        self.regime = regime
        # Colds are as common as the regime's illness absence allows (Dynamics gives 2022/23's).
        self.illness_level = PUBLISHED[regime].illness_rate / PUBLISHED["2022/23"].illness_rate
        days = calendar.school_days()
        self.days = days
        n = len(days)
        self.n_days = n
        self.weekday = ((days.astype("int64") - 4) % 7).astype(np.int64)  # Monday = 0
        half_term = calendar.half_term_of_days()
        self.half_term = half_term
        position = np.arange(n)
        last_of_half = np.array([position[half_term == h].max() for h in range(6)])
        first_of_half = np.array([position[half_term == h].min() for h in range(6)])
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
        peak, amplitude = ILLNESS_SEASON[regime]
        if dynamics.illness_season_peak_day is not None:
            peak = dynamics.illness_season_peak_day
        if dynamics.illness_season_amplitude is not None:
            amplitude = dynamics.illness_season_amplitude
        season = 1 + amplitude * np.cos(2 * np.pi * (day_of_year - peak) / 365.25)
        illness = season * np.array(dynamics.weekday_illness)[self.weekday] * uplift * september
        self.illness = illness / illness.mean()
        wave = EPIDEMICS[regime]
        offset = (day_of_year - wave.peak_day + 182) % 365 - 182
        density = np.exp(-0.5 * (offset / wave.sd_days) ** 2)
        self.epidemic = wave.attack * density / max(density.sum(), 1e-12)
        self.epidemic_continuation = wave.continuation
        progress = position / max(n - 1, 1)
        other = []
        term = half_term // 2
        for phase in PHASES:
            shape = (
                np.array(dynamics.other_by_term[phase])[term]
                * np.array(dynamics.weekday_other)[self.weekday]
                * uplift
                * september
            )
            other.append(shape / shape.mean())
        self.other = np.stack(other)  # phase × day
        first_half, summer = dynamics.year7_first_half_term, dynamics.year7_summer
        year7 = np.where(half_term == 0, first_half, first_half + (summer - first_half) * progress)
        self.year7 = year7 / year7.mean()

        mondays = days - self.weekday.astype("timedelta64[D]")
        _, self.week_first_day, self.week = np.unique(
            mondays, return_index=True, return_inverse=True
        )
        self.n_weeks = len(self.week_first_day)
        self.week_days = np.bincount(self.week, minlength=self.n_weeks)
        weeks_into_half = self.week - self.week[first_of_half][half_term]
        after_break = np.zeros(self.n_weeks, dtype=bool)
        after_break[self.week[weeks_into_half < 2]] = True
        self.week_after_break = after_break
        self.week_illness = np.bincount(self.week, weights=self.illness) / self.week_days
        # Where each half-term's break starts and the next half-term resumes (day indices).
        self.break_before = last_of_half
        self.resume_after = np.append(first_of_half[1:], n)

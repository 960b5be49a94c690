"""Simulate a whole local authority over several academic years (see :mod:`.model`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

from features.arithmetic import area_totals, enrolment_totals
from features.calendar import academic_year_bounds
from features.schema import MARK_COLUMNS, PUPIL_COLUMNS, SCHOOL_COLUMNS, SESSIONS
from simulator.calibration import BaselineFit, RateDistributions, baseline_fit
from simulator.config import SimulationConfig
from simulator.episodes import EPISODE_KIND_NAMES
from simulator.model import (
    CODES,
    PupilYear,
    YearOutput,
    _carry_over,
    draw_episodes,
    simulate_year,
)
from simulator.population import (
    Cohort,
    UpnAllocator,
    initial_population,
    make_schools,
    next_year,
    rebalance_characteristics,
    year_enrolments,
)
from simulator.shapes import PHASE_INDEX, DayShapes

CODE_DTYPE = pd.CategoricalDtype(list(CODES))
SESSION_DTYPE = pd.CategoricalDtype(list(SESSIONS))
SCHOOL_EFFECTS = ["absence_effect", "coding_effect", "late_effect"]
"""The school random effects (:func:`~simulator.population.make_schools`)."""
TRUTH_COLUMNS = [
    "academic_year",
    "school_urn",
    "upn",
    "latent_score",
    "percentile",
    "target_rate",
    "base_rate",
    "other_share",
    "holiday_block",
    "off_site_provision",
    "unclassified",
    "background_days",
    "episode_days",
]
"""Hidden per-enrolment draws (``truth``): the latent score and its percentile in the stratum,
the DfE cell's rate at that percentile (``target_rate``), the background rate after the fitted
deflation (``base_rate``), the background's share of other absence."""
EPISODE_COLUMNS = [
    "academic_year",
    "school_urn",
    "upn",
    "kind",
    "start",
    "end",
    "severity",
    "carried_over",
]
"""``episodes.parquet``: one row per episode of a pupil's year (``end`` empty while it runs
on at the year's end; ``severity`` its daily chance of starting an absence spell at its
plateau, 1 for suspensions and holidays)."""


@dataclass
class SimulatedAuthority:
    """A simulated LA: ``schools`` (:data:`~features.schema.SCHOOL_COLUMNS`), ``pupils``
    (:data:`~features.schema.PUPIL_COLUMNS`, one row per academic year × school × pupil),
    canonical ``marks`` (:data:`~features.schema.MARK_COLUMNS`; int32 URN, categorical UPN,
    session and code, ``datetime64`` date) and the hidden ``truth`` per enrolment (the
    generative parameters: target rate, life event...) and per school (``school_truth``:
    ``school_urn, absence_effect, coding_effect, late_effect``) — never written, never a
    feature."""

    config: SimulationConfig
    schools: pd.DataFrame
    pupils: pd.DataFrame
    marks: pd.DataFrame
    truth: pd.DataFrame
    episodes: pd.DataFrame
    school_truth: pd.DataFrame | None = None


def _rank_percentiles(
    score: np.ndarray, groups: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Per group, ``(rank + v) / n`` of ``score`` with ``v`` uniform in [0, 1): percentiles
    spread evenly over (0, 1) (a stratified sample: even a group of five can reach the tail)
    in the order of the scores."""
    u = np.empty(len(score))
    jitter = rng.random(len(score))
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        ranks = np.empty(len(rows))
        ranks[np.argsort(score[rows], kind="stable")] = np.arange(len(rows))
        u[rows] = (ranks + jitter[rows]) / len(rows)
    return np.clip(u, 1e-9, 1 - 1e-9)


def _year_marks(
    codes: np.ndarray,
    urn: np.ndarray,
    pid: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    days: np.ndarray,
) -> dict[str, np.ndarray]:
    """Flatten session codes into mark columns, enrolments ordered by school then pupil."""
    order = np.lexsort((pid, urn))
    sessions_on_roll = 2 * (end[order] - start[order] + 1)
    offsets = np.concatenate([[0], np.cumsum(sessions_on_roll)])
    total = int(offsets[-1])
    enrolment = np.repeat(order.astype(np.int32), sessions_on_roll)
    within = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1], sessions_on_roll)
    day = (start[enrolment] + within // 2).astype(np.int32)
    session = (within % 2).astype(np.int8)
    code = codes[enrolment, day, session]
    if (code < 0).any():  # pragma: no cover - a bug in the model, not in the input
        raise RuntimeError("simulated an on-roll session without a mark")
    return {
        "school_urn": urn[enrolment].astype(np.int32),
        "pid": pid[enrolment].astype(np.int32),
        "date": days[day],
        "session": session,
        "code": code,
    }


def _carry_columns(kinds: int) -> list[str]:
    return [f"carry_{k}" for k in range(kinds)]


def _pupil_year(
    pupils: pd.DataFrame,
    enrolments: pd.DataFrame,
    schools: pd.DataFrame,
    config: SimulationConfig,
    distributions: RateDistributions,
    fit: BaselineFit,
    rng: np.random.Generator,
) -> tuple[PupilYear, np.ndarray]:
    """The year's per-enrolment draws, and each enrolment's latent score ``z`` (unscaled)."""
    rows = enrolments["row"].to_numpy()
    school = enrolments["school"].to_numpy()
    phase = schools["phase"].to_numpy()[school]
    person = pupils.iloc[rows]
    w = config.school_effect_share
    eta = person["eta"].to_numpy()
    z = np.sqrt(1 - w) * eta + np.sqrt(w) * schools["absence_effect"].to_numpy()[school]
    unclassified = enrolments["unclassified"].to_numpy()
    year_group = enrolments["year_group"].to_numpy()
    fsm = person["fsm"].to_numpy().astype(int)
    sen_any = (person["sen"].to_numpy() != "N").astype(int)
    sex = person["sex"].to_numpy()
    # Percentiles within phase × year group × FSM (× unclassified): each stratum's background
    # follows its DfE distribution, whatever the selection of movers or the school effects.
    strata = pd.MultiIndex.from_arrays([phase, year_group, fsm, unclassified]).factorize()[0]
    u = _rank_percentiles(z, strata, rng)
    target = distributions.rates(u, phase, fsm, sen_any, sex, year_group, unclassified)
    base = target * fit.factor(u, phase, fsm, sen_any, unclassified)
    carried = person[_carry_columns(len(config.dynamics.episodes))].to_numpy(dtype=np.float32)
    year = PupilYear(
        person=rows,
        phase=np.array([PHASE_INDEX[p] for p in phase], dtype=np.int64),
        year_group=year_group,
        female=sex == "F",
        fsm=fsm == 1,
        sen_any=sen_any == 1,
        school=school,
        start=enrolments["start"].to_numpy(),
        end=enrolments["end"].to_numpy(),
        base_rate=base,
        # The percentile's normal score: what follows from the latent level (episodes,
        # lateness, the other share) is as common in every LA, whatever its schools' draws.
        z=ndtri(u),
        style=person["style"].to_numpy(),
        late_trait=person["late_trait"].to_numpy(),
        observant=person["observant"].to_numpy(),
        carried=carried,
    )
    return year, np.column_stack([z, u, target])


def _episode_table(
    output: YearOutput,
    year: PupilYear,
    urns: np.ndarray,
    upns: np.ndarray,
    days: np.ndarray,
    academic_year: str,
) -> pd.DataFrame:
    """The year's episodes with the pupil's UPN, the school they were on roll at when it
    began (a mover's second school from the day they joined it) and dates."""
    episodes = output.episodes
    person = episodes["person"].to_numpy()
    n_persons = len(upns)
    first = np.full(n_persons, -1)
    last = np.full(n_persons, -1)
    order = np.arange(len(year.person))
    first[year.person[::-1]] = order[::-1]
    last[year.person] = order
    start = episodes["start"].to_numpy()
    later = year.start[last[person]] <= start
    enrolment = np.where(later, last[person], first[person])
    end = episodes["end"].to_numpy()
    return pd.DataFrame(
        {
            "academic_year": academic_year,
            "school_urn": urns[year.school[enrolment]].astype(np.int32),
            "upn": upns[person],
            "kind": episodes["kind"].to_numpy(),
            "start": days[start].astype("datetime64[us]"),
            "end": np.where(end >= 0, days[np.maximum(end, 0)], np.datetime64("NaT")).astype(
                "datetime64[us]"
            ),
            "severity": episodes["severity"].to_numpy().astype(float),
            "carried_over": episodes["carried"].to_numpy().astype(bool),
        }
    )


def _initial_carry(
    pupils: pd.DataFrame,
    enrolments: pd.DataFrame,
    schools: pd.DataFrame,
    config: SimulationConfig,
    distributions: RateDistributions,
    fit: BaselineFit,
    calendar_shapes: DayShapes,
    rng: np.random.Generator,
) -> np.ndarray:
    """Episodes already running when the first simulated year begins: a year of onsets drawn
    for the same pupils (no marks), and what of it would carry over — so the first year starts
    with about as many running episodes as later years."""
    year, _ = _pupil_year(pupils, enrolments, schools, config, distributions, fit, rng)
    episodes = draw_episodes(year, len(pupils), calendar_shapes, config.dynamics, rng)
    return _carry_over(episodes, config.dynamics, calendar_shapes.n_days, rng)


def simulate_authority(
    config: SimulationConfig | None = None, upns: UpnAllocator | None = None
) -> SimulatedAuthority:
    """Simulate the LA described by ``config`` (deterministic for its seed). ``upns``: an
    allocator shared with other authorities (:mod:`simulator.region`), so that no two pupils
    of a region share a UPN."""
    config = config or SimulationConfig()
    rng = np.random.default_rng(config.seed)
    distributions = RateDistributions(config.regime)
    fit = config.baseline or baseline_fit(config.regime)
    schools = make_schools(config, rng)
    cohort = Cohort(config, upns)
    urns = schools["school_urn"].to_numpy()
    rho = config.persistence
    carry_columns = _carry_columns(len(config.dynamics.episodes))

    marks_parts: list[dict[str, np.ndarray]] = []
    pupil_parts: list[pd.DataFrame] = []
    truth_parts: list[pd.DataFrame] = []
    episode_parts: list[pd.DataFrame] = []
    upn_by_pid: dict[int, str] = {}
    pupils = pd.DataFrame()
    for index, year in enumerate(config.years):
        if index == 0:
            pupils = initial_population(config, schools, cohort, rng)
        else:
            pupils = next_year(pupils, config, schools, cohort, year, rng)
            pupils = rebalance_characteristics(pupils, schools, cohort, rng)
        innovation = rng.standard_normal(len(pupils))
        pupils["eta"] = rho * pupils["eta"].to_numpy() + np.sqrt(1 - rho**2) * innovation
        pupils["innovation"] = innovation

        calendar = config.calendar(year)
        days = calendar.school_days()
        shapes = DayShapes(calendar, config.dynamics, config.regime)
        enrolments, pupils = year_enrolments(pupils, config, schools, cohort, year, days, rng)
        for column in carry_columns:
            if column not in pupils:
                pupils[column] = 0.0
        pupils[carry_columns] = pupils[carry_columns].fillna(0.0)
        if index == 0:
            pupils[carry_columns] = _initial_carry(
                pupils, enrolments, schools, config, distributions, fit, shapes, rng
            )
        upn_by_pid.update(zip(pupils["pid"].to_numpy(), pupils["upn"].to_numpy(), strict=True))
        school = enrolments["school"].to_numpy()
        person = pupils.iloc[enrolments["row"].to_numpy()]
        inputs, latent = _pupil_year(pupils, enrolments, schools, config, distributions, fit, rng)
        output = simulate_year(
            inputs, len(pupils), shapes, schools, config.dynamics, rng, fit.other_intercept
        )
        pupils[carry_columns] = output.carry
        marks_parts.append(
            _year_marks(
                output.codes,
                urns[school],
                enrolments["pid"].to_numpy(),
                inputs.start,
                inputs.end,
                days,
            )
        )
        del output.codes
        episode_parts.append(
            _episode_table(output, inputs, urns, pupils["upn"].to_numpy(), days, year)
        )

        roster = pd.DataFrame(
            {
                "academic_year": year,
                "school_urn": urns[school].astype(np.int32),
                "upn": person["upn"].to_numpy(),
                "forename": person["forename"].to_numpy(),
                "surname": person["surname"].to_numpy(),
                "date_of_birth": person["date_of_birth"].to_numpy().astype("datetime64[us]"),
                "sex": person["sex"].to_numpy(),
                "year_group": enrolments["year_group"].to_numpy(),
                "fsm": person["fsm"].to_numpy().astype(np.int8),
                "sen": person["sen"].to_numpy(),
                "eal": person["eal"].to_numpy().astype(np.int8),
                "ethnicity": person["ethnicity"].to_numpy(),
                "entry_date": enrolments["entry_date"].to_numpy(),
                "leaving_date": enrolments["leaving_date"].to_numpy(),
            }
        )
        pupil_parts.append(roster[PUPIL_COLUMNS])
        truth = output.truth.drop(columns="person")
        truth.insert(0, "academic_year", year)
        truth.insert(1, "school_urn", roster["school_urn"].to_numpy())
        truth.insert(2, "upn", roster["upn"].to_numpy())
        truth.insert(3, "latent_score", latent[:, 0])
        truth.insert(4, "percentile", latent[:, 1])
        truth.insert(5, "target_rate", latent[:, 2])
        truth["unclassified"] = enrolments["unclassified"].to_numpy()
        truth_parts.append(truth[TRUTH_COLUMNS])

    pid_order = np.array(sorted(upn_by_pid))
    upn_categories = [upn_by_pid[p] for p in pid_order]
    position = np.full(int(pid_order.max()) + 1, -1, dtype=np.int32)
    position[pid_order] = np.arange(len(pid_order), dtype=np.int32)
    marks = pd.DataFrame(
        {
            "school_urn": np.concatenate([p["school_urn"] for p in marks_parts]),
            "upn": pd.Categorical.from_codes(
                np.concatenate([position[p["pid"]] for p in marks_parts]),
                categories=upn_categories,
            ),
            "date": np.concatenate([p["date"] for p in marks_parts]).astype("datetime64[us]"),
            "session": pd.Categorical.from_codes(
                np.concatenate([p["session"] for p in marks_parts]), dtype=SESSION_DTYPE
            ),
            "code": pd.Categorical.from_codes(
                np.concatenate([p["code"] for p in marks_parts]), dtype=CODE_DTYPE
            ),
        }
    )[MARK_COLUMNS]
    marks_parts.clear()
    public_schools = schools[SCHOOL_COLUMNS].copy()
    episodes = pd.concat(episode_parts, ignore_index=True)
    episodes["kind"] = pd.Categorical(episodes["kind"], categories=list(EPISODE_KIND_NAMES))
    return SimulatedAuthority(
        config=config,
        schools=public_schools,
        pupils=pd.concat(pupil_parts, ignore_index=True),
        marks=marks,
        truth=pd.concat(truth_parts, ignore_index=True),
        episodes=episodes[EPISODE_COLUMNS],
        school_truth=schools[["school_urn", *SCHOOL_EFFECTS]].copy(),
    )


def year_enrolments_totals(authority: SimulatedAuthority) -> pd.DataFrame:
    """:func:`~features.arithmetic.enrolment_totals` of each simulated year's marks, with
    ``academic_year`` and the school's ``phase``: what :func:`headline_figures` sums (one row
    per enrolment, so several authorities' can be summed together)."""
    phase_of = authority.schools.set_index("school_urn")["phase"]
    parts = []
    dates = authority.marks["date"]
    for year in authority.config.years:
        first, last = academic_year_bounds(year)
        in_year = ((dates >= pd.Timestamp(first)) & (dates <= pd.Timestamp(last))).to_numpy()
        enrolments = enrolment_totals(authority.marks[in_year])
        enrolments["phase"] = enrolments["school_urn"].map(phase_of).to_numpy()
        enrolments.insert(0, "academic_year", year)
        parts.append(enrolments)
    return pd.concat(parts, ignore_index=True)


def figures_of_enrolments(enrolments: pd.DataFrame) -> pd.DataFrame:
    """Per academic year and phase (and ``all``) of :func:`year_enrolments_totals`' rows:
    ``enrolments, overall_absence, persistent_absence, severe_absence`` (rates as
    fractions)."""
    rows = []
    for year, of_year in enrolments.groupby("academic_year", sort=True):
        by_phase = area_totals(of_year, by=["phase"])
        overall = area_totals(of_year)
        overall["phase"] = "all"
        for frame in (by_phase, overall):
            for record in frame.to_dict("records"):
                rows.append(
                    {
                        "academic_year": year,
                        "phase": record["phase"],
                        "enrolments": int(record["enrolments"]),
                        "overall_absence": float(record["absence_rate"]),
                        "persistent_absence": float(record["persistent_absence_rate"]),
                        "severe_absence": float(record["severe_absence_rate"]),
                    }
                )
    return pd.DataFrame(rows)


def headline_figures(authority: SimulatedAuthority) -> pd.DataFrame:
    """Per academic year and phase (and ``all``), computed from the marks with
    :mod:`features.arithmetic`: ``enrolments, overall_absence, persistent_absence,
    severe_absence`` (rates as fractions)."""
    return figures_of_enrolments(year_enrolments_totals(authority))

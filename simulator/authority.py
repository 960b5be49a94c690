"""Simulate a whole local authority over several academic years (see :mod:`.model`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.arithmetic import area_totals, enrolment_totals
from features.calendar import academic_year_bounds
from features.schema import MARK_COLUMNS, PUPIL_COLUMNS, SCHOOL_COLUMNS, SESSIONS
from simulator.calibration import DISENGAGED_SHARE, RateDistributions
from simulator.config import SimulationConfig
from simulator.model import CODES, DayShapes, YearInputs, simulate_year
from simulator.population import (
    Cohort,
    initial_population,
    make_schools,
    next_year,
    rebalance_characteristics,
    year_enrolments,
)

CODE_DTYPE = pd.CategoricalDtype(list(CODES))
SESSION_DTYPE = pd.CategoricalDtype(list(SESSIONS))
SCHOOL_EFFECTS = ["absence_effect", "coding_effect", "late_effect"]
"""The school random effects (:func:`~simulator.population.make_schools`)."""
TRUTH_COLUMNS = [
    "academic_year",
    "school_urn",
    "upn",
    "latent_score",
    "target_rate",
    "budget_sessions",
    "possible_sessions",
    "disengaged_share",
    "drift",
    "event_type",
    "event_date",
    "event_recovers",
    "holiday_block",
    "illness_episode",
    "off_site_provision",
    "unclassified",
]


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


def simulate_authority(config: SimulationConfig | None = None) -> SimulatedAuthority:
    """Simulate the LA described by ``config`` (deterministic for its seed)."""
    config = config or SimulationConfig()
    rng = np.random.default_rng(config.seed)
    distributions = RateDistributions(config.regime)
    schools = make_schools(config, rng)
    cohort = Cohort(config)
    urns = schools["school_urn"].to_numpy()
    school_phase = schools["phase"].to_numpy()
    absence_effect = schools["absence_effect"].to_numpy()
    disengaged_share = config.dynamics.disengaged_share or DISENGAGED_SHARE[config.regime]
    w = config.school_effect_share
    rho = config.persistence

    marks_parts: list[dict[str, np.ndarray]] = []
    pupil_parts: list[pd.DataFrame] = []
    truth_parts: list[pd.DataFrame] = []
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
        enrolments, pupils = year_enrolments(pupils, config, schools, cohort, year, days, rng)
        upn_by_pid.update(zip(pupils["pid"].to_numpy(), pupils["upn"].to_numpy(), strict=True))
        rows = enrolments["row"].to_numpy()
        school = enrolments["school"].to_numpy()
        phase = school_phase[school]
        person = pupils.iloc[rows]

        # Latent score → percentile within phase (and within the unclassified group) → rate.
        eta = person["eta"].to_numpy()
        z = np.sqrt(1 - w) * eta + np.sqrt(w) * absence_effect[school]
        unclassified = enrolments["unclassified"].to_numpy()
        # Percentiles within phase × year group × FSM (× unclassified): each stratum reproduces
        # its DfE distribution, whatever the selection of movers or the school effects.
        strata = pd.MultiIndex.from_arrays(
            [phase, enrolments["year_group"].to_numpy(), person["fsm"].to_numpy(), unclassified]
        ).factorize()[0]
        u = _rank_percentiles(z, strata, rng)
        sen = person["sen"].to_numpy()
        rate = distributions.rates(
            u,
            phase,
            person["fsm"].to_numpy(),
            (sen != "N").astype(int),
            person["sex"].to_numpy(),
            enrolments["year_group"].to_numpy(),
            unclassified=unclassified,
        )
        inputs = YearInputs(
            phase=phase,
            sex=person["sex"].to_numpy(),
            year_group=enrolments["year_group"].to_numpy(),
            school=school,
            start=enrolments["start"].to_numpy(),
            end=enrolments["end"].to_numpy(),
            rate=rate,
            z=(z - z.mean()) / z.std() if len(z) > 1 else z,
            style=person["style"].to_numpy(),
            innovation=person["innovation"].to_numpy(),
            late_trait=person["late_trait"].to_numpy(),
            observant=person["observant"].to_numpy(),
        )
        output = simulate_year(
            inputs,
            DayShapes(calendar, config.dynamics),
            schools,
            config.dynamics,
            rng,
            disengaged_share,
        )
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
                "sen": sen,
                "eal": person["eal"].to_numpy().astype(np.int8),
                "ethnicity": person["ethnicity"].to_numpy(),
                "entry_date": enrolments["entry_date"].to_numpy(),
                "leaving_date": enrolments["leaving_date"].to_numpy(),
            }
        )
        pupil_parts.append(roster[PUPIL_COLUMNS])
        truth = output.truth
        truth.insert(0, "academic_year", year)
        truth.insert(1, "school_urn", roster["school_urn"].to_numpy())
        truth.insert(2, "upn", roster["upn"].to_numpy())
        truth.insert(3, "latent_score", z)
        truth["unclassified"] = unclassified
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
    return SimulatedAuthority(
        config=config,
        schools=public_schools,
        pupils=pd.concat(pupil_parts, ignore_index=True),
        marks=marks,
        truth=pd.concat(truth_parts, ignore_index=True),
        school_truth=schools[["school_urn", *SCHOOL_EFFECTS]].copy(),
    )


def headline_figures(authority: SimulatedAuthority) -> pd.DataFrame:
    """Per academic year and phase (and ``all``), computed from the marks with
    :mod:`features.arithmetic`: ``enrolments, overall_absence, persistent_absence,
    severe_absence`` (rates as fractions)."""
    phase_of = authority.schools.set_index("school_urn")["phase"]
    rows = []
    dates = authority.marks["date"]
    for year in authority.config.years:
        first, last = academic_year_bounds(year)
        in_year = ((dates >= pd.Timestamp(first)) & (dates <= pd.Timestamp(last))).to_numpy()
        enrolments = enrolment_totals(authority.marks[in_year])
        enrolments["phase"] = enrolments["school_urn"].map(phase_of).to_numpy()
        by_phase = area_totals(enrolments, by=["phase"])
        overall = area_totals(enrolments)
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

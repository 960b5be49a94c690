"""Snapshot features: what is known about each pupil at the end of school week *w*.

One row per enrolment (academic year × school × pupil) per as-of school week in which the
pupil is on roll (has a mark that week). Features use only the trajectory up to and including
week *w* and earlier years' outcomes; the labels use the whole year (MODELLING.md §1–2). The
feature names and their groups are listed in :mod:`features.schema`.

Definitions (all rates are per possible session, as the DfE computes them):

* ``*_ytd``: from week 1 to *w*; ``absence_rate_{2,4,8}w``: over the last 2/4/8 school weeks
  (fewer if the pupil joined later; NaN where there were no possible sessions in the window);
  ``absence_change_kw`` = ``absence_rate_kw`` − ``absence_rate_ytd``.
* ``absence_slope_8w``: least-squares slope of the weekly absence rate over the last 8 school
  weeks with possible sessions (rate per week; NaN with fewer than 3 such weeks, so that more
  absence in either of the last two weeks can only raise it).
* ``weeks_since_full_attendance``: school weeks since the last week with possible sessions and
  no absence (*w* itself if there has been none).
* spells (see :mod:`features.trajectory`): the longest so far in days (2 sessions = 1 day); the
  number of spells and their mean length up to 4 weeks before *w* (``spells_before_4w``,
  ``mean_spell_days_before_4w``). A spell still open at *w* counts with its length so far.
* pattern: absence rates on Mondays, on Fridays and in afternoon sessions (absent sessions of
  that kind per possible session of that kind); the share of school weeks on roll with any
  absence, so far and over the last 8 weeks; ``unresolved_sessions``: ``N`` marks so far.
* descriptive (written, used in reasons and the rate + spells baseline, not model inputs; see
  :data:`features.schema.DESCRIPTIVE_COLUMNS`): spells so far, their mean length, spells begun
  in the last 4 weeks; Monday, Friday and PM shares of absent sessions and the unauthorised
  share of absence (NaN where there has been no absence).
* history: last academic year's absence rate and PA status over all the pupil's enrolments
  that year; ``on_roll_last_year`` is 1/0, and all three are NaN when the data hold no
  previous year at all (so a model never mistakes "unknown" for "not on roll").
* stage: year group, phase (0 primary, 1 secondary, 2 special), weeks into the year (= *w*),
  ``new_to_school`` (entry date on or after 1 August of this academic year).
* context: FSM (0/1), SEN provision (0 none, 1 SEN support, 2 EHC plan), EAL (0/1).

Labels: ``pa_year_end`` (1 if the enrolment's absence over the whole year is ≥ 10% of its own
possible sessions) and ``severe_year_end`` (≥ 50%). A pupil who leaves mid-year is labelled on
the possible sessions of their enrolment, as the DfE counts enrolments; for a pupil aged 15 on
31 August the second half of the summer term is left out, as the DfE does (Year 11 study leave
would otherwise count as absence). Labels are NaN when
the year is not complete: the school has no marks on or after 1 July of that academic year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.arithmetic import (
    PA_THRESHOLD,
    SEVERE_THRESHOLD,
    pupil_cohorts,
    second_half_summer_starts,
)
from features.calendar import previous_academic_year
from features.schema import (
    KEY_COLUMNS,
    PHASE_CODE,
    SEN_PROVISION_CODE,
    SNAPSHOT_COLUMNS,
)
from features.trajectory import ENROLMENT_KEYS, build_trajectory

_DENSE_COUNTERS = [
    "possible_sessions",
    "absence",
    "authorised",
    "unauthorised",
    "illness",
    "late_before_close",
    "late_after_close",
    "aea",
    "unresolved",
    "absence_pm",
    "possible_pm",
    "absence_monday",
    "possible_monday",
    "absence_friday",
    "possible_friday",
    "spells_started",
]
_C = {name: i for i, name in enumerate(_DENSE_COUNTERS)}
YEAR_COMPLETE_FROM = (7, 1)  # (month, day): marks on or after this date close the year

HISTORY_COLUMNS = ["academic_year", "upn", "possible_sessions", "absence"]
"""Prior years' outcomes (per enrolment or per pupil), for :func:`snapshot_features`."""


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def year_outcomes(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Whole-year totals per enrolment: ``academic_year, school_urn, upn, possible_sessions,
    absence, absence_rate``."""
    totals = (
        trajectory.groupby(ENROLMENT_KEYS, observed=True, sort=False)[
            ["possible_sessions", "absence"]
        ]
        .sum()
        .reset_index()
    )
    totals["absence_rate"] = _ratio(
        totals["absence"].to_numpy(float), totals["possible_sessions"].to_numpy(float)
    )
    return totals


def _history_features(
    enrolments: pd.DataFrame, trajectory: pd.DataFrame, history: pd.DataFrame | None
) -> pd.DataFrame:
    """``absence_rate_last_year, pa_last_year, on_roll_last_year`` per enrolment."""
    years = enrolments["academic_year"].astype(str)
    prev = years.map({y: previous_academic_year(y) for y in years.unique()})
    # This trajectory's own years matter only where they are some enrolment's last year (not
    # when the service scores one school-year).
    own_years = set(trajectory["academic_year"].astype(str).unique())
    if own_years & set(prev.unique()):
        outcomes = year_outcomes(trajectory)[HISTORY_COLUMNS]
    else:
        outcomes = pd.DataFrame(columns=HISTORY_COLUMNS)
    if history is not None and not history.empty:
        outcomes = pd.concat([history[HISTORY_COLUMNS], outcomes], ignore_index=True)
    known_years = set(outcomes["academic_year"].astype(str))
    per_pupil = (
        outcomes.groupby(["academic_year", "upn"], observed=True)[["possible_sessions", "absence"]]
        .sum()
        .reset_index()
    )
    per_pupil = per_pupil[per_pupil["possible_sessions"] > 0]
    rate = per_pupil["absence"].to_numpy(float) / per_pupil["possible_sessions"].to_numpy(float)
    last_year = pd.DataFrame(
        {
            "prev_year": per_pupil["academic_year"].astype(str).to_numpy(),
            "upn": per_pupil["upn"].to_numpy(),
            "absence_rate_last_year": rate,
            "pa_last_year": (rate >= 0.10).astype(float),
            "on_roll_last_year": 1.0,
        }
    )
    frame = pd.DataFrame({"prev_year": prev.to_numpy(), "upn": enrolments["upn"].to_numpy()})
    merged = frame.merge(last_year, on=["prev_year", "upn"], how="left")
    prev_known = merged["prev_year"].isin(known_years).to_numpy()
    merged.loc[prev_known & merged["on_roll_last_year"].isna(), "on_roll_last_year"] = 0.0
    return merged[["absence_rate_last_year", "pa_last_year", "on_roll_last_year"]]


def _enrolment_roster(enrolments: pd.DataFrame, pupils: pd.DataFrame | None) -> pd.DataFrame:
    """The roster row of each enrolment (matched on as many of ``ENROLMENT_KEYS`` as the
    roster has), indexed like ``enrolments``; no columns without a roster."""
    if pupils is None or pupils.empty:
        return pd.DataFrame(index=enrolments.index)
    keys = [k for k in ENROLMENT_KEYS if k in pupils.columns]
    wanted = ["year_group", "fsm", "sen", "eal", "entry_date", "date_of_birth"]
    roster = pupils[keys + [c for c in wanted if c in pupils.columns]].copy()
    roster["upn"] = roster["upn"].astype(str)
    if "school_urn" in keys:
        roster["school_urn"] = roster["school_urn"].astype(np.int64)
    if "academic_year" in keys:
        roster["academic_year"] = roster["academic_year"].astype(str)
    roster = roster.drop_duplicates(keys, keep="last")
    joined = enrolments[ENROLMENT_KEYS].merge(roster, on=keys, how="left")
    joined.index = enrolments.index
    return joined


def _enrolment_attributes(
    enrolments: pd.DataFrame, joined: pd.DataFrame, schools: pd.DataFrame | None
) -> pd.DataFrame:
    """Stage and context columns per enrolment from its roster row (:func:`_enrolment_roster`)
    and the schools table."""
    out = pd.DataFrame(index=enrolments.index)
    out["year_group"] = pd.to_numeric(joined.get("year_group"), errors="coerce")
    out["fsm"] = pd.to_numeric(joined.get("fsm"), errors="coerce")
    out["eal"] = pd.to_numeric(joined.get("eal"), errors="coerce")
    sen = joined.get("sen")
    out["sen_provision"] = sen.map(SEN_PROVISION_CODE).astype(float) if sen is not None else np.nan
    entry = joined.get("entry_date")
    if entry is not None:
        entry_dates = pd.to_datetime(entry, errors="coerce")
        year_start = pd.to_datetime(
            enrolments["academic_year"].astype(str).str[:4] + "-08-01", format="%Y-%m-%d"
        )
        new = (entry_dates >= year_start.to_numpy()).astype(float)
        out["new_to_school"] = new.where(entry_dates.notna().to_numpy(), np.nan)
    else:
        out["new_to_school"] = np.nan
    if schools is not None and not schools.empty:
        phase = schools.set_index(schools["school_urn"].astype(np.int64))["phase"]
        out["phase_code"] = (
            enrolments["school_urn"].map(phase).map(PHASE_CODE).astype(float).to_numpy()
        )
    else:
        out["phase_code"] = np.nan
    return out


def snapshot_features(
    trajectory: pd.DataFrame,
    pupils: pd.DataFrame | None = None,
    schools: pd.DataFrame | None = None,
    *,
    history: pd.DataFrame | None = None,
    weeks: Iterable[int] | None = None,
    every: int = 1,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Snapshot features and labels for every enrolment on roll at each selected week.

    Parameters
    ----------
    trajectory:
        From :func:`features.trajectory.build_trajectory` (any schools and years).
    pupils:
        Roster rows with ``upn`` and, where known, ``academic_year``, ``school_urn``,
        ``year_group, fsm, sen, eal, entry_date`` (the simulator's ``pupils.csv`` or a
        school's roster). Missing attributes give NaN features.
    schools:
        ``school_urn, phase``.
    history:
        Outcomes of years before those in ``trajectory`` (``HISTORY_COLUMNS``), e.g. the
        service's stored outcomes of last year.
    weeks:
        School weeks to snapshot (default: all, thinned by ``every``).
    every:
        Keep weeks 1, 1 + every, 1 + 2·every, … (ignored when ``weeks`` is given).
    as_of:
        Keep only the academic year containing this date, at each school's last school week
        whose as-of date (its Friday) is on or before it: what was known on that day. Cannot be
        combined with ``weeks`` or ``every``.

    Returns
    -------
    DataFrame with ``SNAPSHOT_COLUMNS`` (float64 features; labels NaN where unknown).
    """
    if as_of is not None and (weeks is not None or every > 1):
        raise ValueError("give an as-of date or a choice of weeks (weeks / every), not both")
    if trajectory.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in SNAPSHOT_COLUMNS})

    traj = trajectory
    enrol_codes, enrolments = _factorize_enrolments(traj)
    n_enrol = len(enrolments)
    n_weeks = int(traj["week"].max())
    week_idx = traj["week"].to_numpy(np.int64) - 1
    flat = enrol_codes * n_weeks + week_idx

    flat_counters = np.zeros((n_enrol * n_weeks, len(_DENSE_COUNTERS)), dtype=np.float64)
    flat_counters[flat] = traj[_DENSE_COUNTERS].to_numpy(np.float64)
    dense = flat_counters.reshape(n_enrol, n_weeks, len(_DENSE_COUNTERS))
    flat_on_roll = np.zeros(n_enrol * n_weeks, dtype=bool)
    flat_on_roll[flat] = True
    on_roll = flat_on_roll.reshape(n_enrol, n_weeks)

    # Cumulative sums with a leading zero week: window (w-k, w] = cum[w] - cum[w-k].
    cum = np.concatenate([np.zeros((n_enrol, 1, dense.shape[2])), np.cumsum(dense, axis=1)], axis=1)

    # Which (enrolment, week) rows to emit; features are computed at those weeks only (one
    # week when the service scores a school, every week for training).
    wanted = on_roll & (cum[:, 1:, _C["possible_sessions"]] > 0)
    # The school weeks (a few dozen per school-year), from the distinct ones only.
    school_weeks = traj[["academic_year", "school_urn", "week", "week_start"]].drop_duplicates(
        ["academic_year", "school_urn", "week"]
    )
    school_year_weeks = school_weeks.groupby(["academic_year", "school_urn"], observed=True).agg(
        last_week=("week", "max"), last_start=("week_start", "max")
    )
    week_starts = school_weeks.set_index(["academic_year", "school_urn", "week"])[
        "week_start"
    ].sort_index()
    all_weeks = np.arange(1, n_weeks + 1)
    if weeks is not None:
        keep = np.zeros(n_weeks, dtype=bool)
        chosen = np.array([w for w in weeks if 1 <= w <= n_weeks], dtype=np.int64)
        keep[chosen - 1] = True
        wanted &= keep[None, :]
    elif every > 1:
        wanted &= ((all_weeks - 1) % every == 0)[None, :]
    if as_of is not None:
        wanted &= _as_of_mask(enrolments, week_starts, n_weeks, as_of)
    columns = np.flatnonzero(wanted.any(axis=0))
    at = columns + 1  # the week numbers features are computed at

    def ytd(name: str) -> np.ndarray:
        return cum[:, at, _C[name]]

    def window(name: str, k: int) -> np.ndarray:
        return cum[:, at, _C[name]] - cum[:, np.maximum(at - k, 0), _C[name]]

    possible, absence = ytd("possible_sessions"), ytd("absence")
    f: dict[str, np.ndarray] = {}
    f["possible_sessions_ytd"] = possible
    f["absence_rate_ytd"] = _ratio(absence, possible)
    f["authorised_rate_ytd"] = _ratio(ytd("authorised"), possible)
    f["unauthorised_rate_ytd"] = _ratio(ytd("unauthorised"), possible)
    f["illness_rate_ytd"] = _ratio(ytd("illness"), possible)
    f["late_rate_ytd"] = _ratio(ytd("late_before_close"), possible)
    f["late_after_close_rate_ytd"] = _ratio(ytd("late_after_close"), possible)
    f["aea_share_ytd"] = _ratio(ytd("aea"), possible)
    for k in (2, 4, 8):
        f[f"absence_rate_{k}w"] = _ratio(window("absence", k), window("possible_sessions", k))
    for k in (2, 4, 8):
        f[f"absence_change_{k}w"] = f[f"absence_rate_{k}w"] - f["absence_rate_ytd"]
    f["absence_slope_8w"] = _rolling_slope(dense[:, :, _C["absence"]], dense[:, :, 0], 8, at)
    f["weeks_since_full_attendance"] = _weeks_since_full(dense[:, :, 0], dense[:, :, 1])[:, columns]
    spells = ytd("spells_started")
    f["spells_ytd"] = spells
    f["mean_spell_days_ytd"] = np.where(spells > 0, _ratio(absence, spells) / 2, 0.0)
    longest_week = np.zeros(n_enrol * n_weeks, dtype=np.float64)
    longest_week[flat] = traj["longest_run"].to_numpy(np.float64)
    longest_so_far = np.maximum.accumulate(longest_week.reshape(n_enrol, n_weeks), axis=1)
    f["longest_spell_days_ytd"] = longest_so_far[:, columns] / 2
    f["spells_4w"] = window("spells_started", 4)
    lag4 = np.maximum(at - 4, 0)
    spells_settled = cum[:, lag4, _C["spells_started"]]
    f["spells_before_4w"] = spells_settled
    f["mean_spell_days_before_4w"] = np.where(
        spells_settled > 0, _ratio(cum[:, lag4, _C["absence"]], spells_settled) / 2, 0.0
    )
    f["monday_absence_share"] = _ratio(ytd("absence_monday"), absence)
    f["friday_absence_share"] = _ratio(ytd("absence_friday"), absence)
    f["pm_absence_share"] = _ratio(ytd("absence_pm"), absence)
    f["unauthorised_share"] = _ratio(ytd("unauthorised"), absence)
    f["monday_absence_rate"] = _ratio(ytd("absence_monday"), ytd("possible_monday"))
    f["friday_absence_rate"] = _ratio(ytd("absence_friday"), ytd("possible_friday"))
    f["pm_absence_rate"] = _ratio(ytd("absence_pm"), ytd("possible_pm"))
    # Weeks on roll (with possible sessions) and weeks with any absence, cumulated with a
    # leading zero week like ``cum``.
    weekly = np.stack([dense[:, :, 0] > 0, dense[:, :, _C["absence"]] > 0], axis=2)
    weeks_cum = np.concatenate(
        [np.zeros((n_enrol, 1, 2)), np.cumsum(weekly, axis=1, dtype=np.float64)], axis=1
    )
    lag8 = np.maximum(at - 8, 0)
    f["absence_weeks_share_ytd"] = _ratio(weeks_cum[:, at, 1], weeks_cum[:, at, 0])
    f["absence_weeks_share_8w"] = _ratio(
        weeks_cum[:, at, 1] - weeks_cum[:, lag8, 1],
        weeks_cum[:, at, 0] - weeks_cum[:, lag8, 0],
    )
    f["unresolved_sessions"] = ytd("unresolved")
    f["weeks_into_year"] = np.broadcast_to(at.astype(float), possible.shape)

    roster_rows = _enrolment_roster(enrolments, pupils)
    per_enrolment = pd.concat(
        [
            _enrolment_attributes(enrolments, roster_rows, schools),
            _history_features(enrolments, traj, history),
            pd.DataFrame(_labels(enrolments, cum, school_year_weeks, roster_rows, week_starts)),
        ],
        axis=1,
    )
    # Done with the dense arrays: let them go before the output is built (peak memory).
    del dense, flat_counters, weeks_cum, weekly
    cum = np.empty((0, 0, 0))  # (ytd and window above read it; they are not called again)

    rows_e, rows_w = np.nonzero(wanted[:, columns])
    week = at[rows_w].astype(np.int64)
    out: dict[str, Any] = {
        "academic_year": enrolments["academic_year"].to_numpy()[rows_e],
        "school_urn": enrolments["school_urn"].to_numpy()[rows_e],
        "upn": enrolments["upn"].to_numpy()[rows_e],
        "as_of": _as_of_dates(enrolments, week_starts, n_weeks)[rows_e, week],
        "week": week,
    }
    for name in list(f):  # each feature's dense array is let go once its rows are taken
        out[name] = f.pop(name)[rows_e, rows_w].astype(np.float64, copy=False)
    for column in per_enrolment.columns:
        out[column] = per_enrolment[column].to_numpy(np.float64)[rows_e]
    return pd.DataFrame({c: out[c] for c in SNAPSHOT_COLUMNS}, copy=False)


def _as_of_dates(enrolments: pd.DataFrame, week_starts: pd.Series, n_weeks: int) -> np.ndarray:
    """Per enrolment and school week (columns 1..n_weeks), the week's as-of date (its Friday);
    NaT where the school has no such week."""
    school_year, pairs = pd.MultiIndex.from_frame(
        enrolments[["academic_year", "school_urn"]]
    ).factorize()
    table = np.full((len(pairs), n_weeks + 1), np.datetime64("NaT"), dtype="datetime64[ns]")
    index = week_starts.index
    pair_of = pairs.get_indexer(
        pd.MultiIndex.from_arrays(
            [index.get_level_values("academic_year"), index.get_level_values("school_urn")]
        )
    )
    known = pair_of >= 0
    table[pair_of[known], index.get_level_values("week").to_numpy()[known]] = (
        week_starts.to_numpy()[known] + np.timedelta64(4, "D")
    )
    return table[school_year]


def _factorize_enrolments(traj: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Per trajectory row, the code of its enrolment (academic year × school × pupil), and the
    enrolments in order of first appearance (each key factorised alone, then combined: much
    faster than factorising the tuples)."""
    parts = [pd.factorize(traj[key], sort=False) for key in ENROLMENT_KEYS]
    sizes = [len(values) for _, values in parts]
    combined = np.zeros(len(traj), dtype=np.int64)
    for (codes, _), size in zip(parts, sizes, strict=True):
        combined = combined * size + codes
    enrol_codes, first = pd.factorize(combined, sort=False)
    columns = {}
    for (_, values), key, size, below in zip(
        parts, ENROLMENT_KEYS, sizes, [sizes[1] * sizes[2], sizes[2], 1], strict=True
    ):
        columns[key] = np.asarray(values)[(first // below) % size]
    enrolments = pd.DataFrame(columns)
    enrolments["school_urn"] = enrolments["school_urn"].astype(np.int64)
    return enrol_codes.astype(np.int64), enrolments


def _rolling_slope(absence: np.ndarray, possible: np.ndarray, k: int, at: np.ndarray) -> np.ndarray:
    """Least-squares slope of weekly absence rate over the last ``k`` weeks with sessions,
    at weeks ``at`` (1-based)."""
    n_enrol, n_weeks = absence.shape
    has = possible > 0
    rate = np.where(has, _ratio(absence, possible), 0.0)
    t = np.broadcast_to(np.arange(1, n_weeks + 1, dtype=float), absence.shape)
    m = has.astype(float)
    terms = np.stack([m, m * t, m * rate, m * t * t, m * t * rate], axis=2)
    cum = np.concatenate([np.zeros((n_enrol, 1, 5)), np.cumsum(terms, axis=1)], axis=1)
    sums = cum[:, at, :] - cum[:, np.maximum(at - k, 0), :]
    n, sx, sy, sxx, sxy = (sums[:, :, i] for i in range(5))
    denominator = n * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (n * sxy - sx * sy) / denominator
    return np.where((n >= 3) & (denominator > 0), slope, np.nan)


def _weeks_since_full(possible: np.ndarray, absence: np.ndarray) -> np.ndarray:
    """School weeks since the last week with possible sessions and no absence."""
    n_weeks = possible.shape[1]
    weeks_1 = np.arange(1, n_weeks + 1, dtype=float)
    full = (possible > 0) & (absence == 0)
    last_full = np.maximum.accumulate(np.where(full, weeks_1, 0.0), axis=1)
    return weeks_1 - last_full


def _as_of_mask(
    enrolments: pd.DataFrame, week_starts: pd.Series, n_weeks: int, as_of: dt.date
) -> np.ndarray:
    """Per enrolment of ``as_of``'s academic year, only the last school week whose Friday is on
    or before ``as_of`` (nothing for other years)."""
    from features.calendar import academic_year_of

    fridays = week_starts + pd.Timedelta(days=4)
    fridays = fridays[fridays.index.get_level_values("academic_year") == academic_year_of(as_of)]
    eligible = fridays[fridays <= pd.Timestamp(as_of)].reset_index()
    last = eligible.groupby(["academic_year", "school_urn"], observed=True)["week"].max()
    target = (
        last.reindex(pd.MultiIndex.from_frame(enrolments[["academic_year", "school_urn"]]))
        .fillna(0)
        .to_numpy(np.int64)
    )
    return np.arange(1, n_weeks + 1)[None, :] == target[:, None]


def _labels(
    enrolments: pd.DataFrame,
    cum: np.ndarray,
    school_year_weeks: pd.DataFrame,
    roster_rows: pd.DataFrame,
    week_starts: pd.Series,
) -> dict[str, np.ndarray]:
    """Year-end PA and severe absence per enrolment; NaN where the year is not complete.

    As the DfE counts (DOMAIN.md §1.2): for a pupil aged 15 on 31 August (Year 11 when the
    roster has no date of birth) the second half of the summer term is left out — the weeks
    from the school's first week after the May half-term
    (:func:`features.arithmetic.second_half_summer_starts`)."""
    info = school_year_weeks.reindex(
        pd.MultiIndex.from_frame(enrolments[["academic_year", "school_urn"]])
    )
    end_year = enrolments["academic_year"].astype(str).str[:4].astype(int) + 1
    month, day = YEAR_COMPLETE_FROM
    closes = pd.to_datetime(
        {"year": end_year, "month": month, "day": day}
    ).to_numpy() - np.timedelta64(4, "D")
    complete = info["last_start"].to_numpy() >= closes
    if not complete.any():  # a year in progress (the service scoring this week)
        unknown = np.full(len(enrolments), np.nan)
        return {"pa_year_end": unknown, "severe_year_end": unknown.copy()}
    last_week = _last_counted_week(enrolments, roster_rows, week_starts, cum.shape[1] - 1)
    rows = np.arange(len(enrolments))
    total_possible = cum[rows, last_week, _C["possible_sessions"]]
    total_absence = cum[rows, last_week, _C["absence"]]
    rate = _ratio(total_absence, total_possible)
    known = complete & np.isfinite(rate)
    return {
        "pa_year_end": np.where(known, (rate >= PA_THRESHOLD).astype(float), np.nan),
        "severe_year_end": np.where(known, (rate >= SEVERE_THRESHOLD).astype(float), np.nan),
    }


def _last_counted_week(
    enrolments: pd.DataFrame, roster_rows: pd.DataFrame, week_starts: pd.Series, n_weeks: int
) -> np.ndarray:
    """Per enrolment, how many school weeks count towards its year's outcome: all of them,
    but for a pupil aged 15 only those before the second half of the summer term."""
    out = np.full(len(enrolments), n_weeks, dtype=np.int64)
    if roster_rows.empty or not ({"date_of_birth", "year_group"} & set(roster_rows.columns)):
        return out
    start_year = enrolments["academic_year"].astype(str).str[:4].astype(int).to_numpy()
    excluded = pupil_cohorts(roster_rows.reset_index(drop=True), start_year)["summer_excluded"]
    excluded = excluded.to_numpy(dtype=bool)
    if not excluded.any():
        return out
    # The school's weekdays, from the weeks it has marks in, are enough to find the half-term.
    weeks = week_starts.reset_index()
    days = pd.DataFrame(
        {
            "school_urn": np.repeat(weeks["school_urn"].to_numpy(np.int64), 5),
            "date": np.repeat(weeks["week_start"].to_numpy(), 5)
            + np.tile(np.arange(5) * np.timedelta64(1, "D"), len(weeks)),
        }
    )
    cut = second_half_summer_starts(days).set_index(["academic_year_start", "school_urn"])["start"]
    weeks["cut"] = cut.reindex(
        pd.MultiIndex.from_arrays(
            [
                weeks["academic_year"].astype(str).str[:4].astype(int),
                weeks["school_urn"].astype(np.int64),
            ]
        )
    ).to_numpy()
    counted = (
        weeks[weeks["week_start"] < weeks["cut"]]
        .groupby(["academic_year", "school_urn"], observed=True)["week"]
        .max()
    )
    per_enrolment = counted.reindex(
        pd.MultiIndex.from_frame(enrolments[["academic_year", "school_urn"]])
    ).to_numpy(dtype=float)
    return np.where(excluded & ~np.isnan(per_enrolment), np.nan_to_num(per_enrolment), out).astype(
        np.int64
    )


# --- files ------------------------------------------------------------------------------------


def load_authority(
    data_dir: Path, years: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read ``schools.csv``, ``pupils.csv`` and ``marks.parquet`` written by ``ews simulate``."""
    data_dir = Path(data_dir)
    missing = [
        name
        for name in ("schools.csv", "pupils.csv", "marks.parquet")
        if not (data_dir / name).exists()
    ]
    if missing:
        raise FileNotFoundError(
            f"{data_dir} lacks {', '.join(missing)}: create it with `ews simulate --out {data_dir}`"
        )
    schools = pd.read_csv(data_dir / "schools.csv")
    pupils = pd.read_csv(data_dir / "pupils.csv", dtype={"upn": str, "academic_year": str})
    marks = pd.read_parquet(data_dir / "marks.parquet")
    if years is not None:
        from features.calendar import academic_year_bounds

        wanted = set(years) | {previous_academic_year(y) for y in years}
        bounds = [academic_year_bounds(y) for y in wanted]
        dates = marks["date"]
        keep = np.zeros(len(marks), dtype=bool)
        for start, end in bounds:
            keep |= ((dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))).to_numpy()
        marks = marks[keep]
    return schools, pupils, marks


def snapshots_from_directory(
    data_dir: Path,
    *,
    every: int = 1,
    as_of: dt.date | None = None,
    years: list[str] | None = None,
) -> pd.DataFrame:
    """Snapshot features for the authority in ``data_dir`` (see :func:`snapshot_features`).

    ``years`` limits the rows to those academic years (their previous years are still read,
    for the history features); with ``as_of`` it defaults to that date's academic year.
    """
    if as_of is not None and years is None:
        from features.calendar import academic_year_of

        years = [academic_year_of(as_of)]
    schools, pupils, marks = load_authority(data_dir, years)
    trajectory = build_trajectory(marks)
    snapshots = snapshot_features(trajectory, pupils, schools, every=every, as_of=as_of)
    if years is not None:
        snapshots = snapshots[snapshots["academic_year"].isin(years)].reset_index(drop=True)
    return snapshots


__all__ = [
    "HISTORY_COLUMNS",
    "KEY_COLUMNS",
    "load_authority",
    "snapshot_features",
    "snapshots_from_directory",
    "year_outcomes",
]

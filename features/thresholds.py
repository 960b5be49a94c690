"""Thresholds people act on, computed from the weekly trajectory (vectorised).

* **Severe absence**: absence so far ≥ 50% of possible sessions (:data:`SEVERE_ABSENCE`).
* **The national framework's penalty-notice threshold**: 10 sessions of unauthorised absence
  (codes G, N, O, U: the trajectory's ``unauthorised`` counter) within a rolling period of
  10 school weeks, which may span terms and academic years. At that point the DfE's guidance
  (*Working together to improve school attendance*) asks the school to consider a penalty
  notice, and to have offered support first: the service flags it as the point where support
  is due, not as a sanction.

School weeks are counted per school: every week in which the school recorded any mark (so
holidays, which have no marks, do not count), in date order across academic years.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEVERE_ABSENCE = 0.50
PENALTY_SESSIONS = 10
PENALTY_WEEKS = 10


def is_severe(absence_rate_ytd: np.ndarray) -> np.ndarray:
    """Absence so far ≥ 50% (unknown → not severe)."""
    rate = np.nan_to_num(np.asarray(absence_rate_ytd, dtype=float), nan=0.0)
    return rate >= SEVERE_ABSENCE


def school_week_ordinals(trajectory: pd.DataFrame) -> np.ndarray:
    """Per row: the school week's position (0, 1, …) among the school's weeks with any mark,
    in date order across every academic year of ``trajectory``."""
    school = trajectory["school_urn"].to_numpy(np.int64)
    start = pd.to_datetime(trajectory["week_start"]).to_numpy().astype("datetime64[D]")
    weeks = pd.DataFrame({"school": school, "start": start.astype(np.int64)})
    distinct = weeks.drop_duplicates().sort_values(["school", "start"])
    distinct["ordinal"] = distinct.groupby("school").cumcount().to_numpy()
    return weeks.merge(distinct, on=["school", "start"], how="left")["ordinal"].to_numpy(np.int64)


def rolling_unauthorised(trajectory: pd.DataFrame, weeks: int = PENALTY_WEEKS) -> pd.DataFrame:
    """Per trajectory row: ``ordinal`` (school week) and ``window_unauthorised``, the pupil's
    unauthorised sessions in the ``weeks`` school weeks ending with that row's week (weeks in
    which the pupil has no row count as zero). Indexed like ``trajectory``."""
    ordinal = school_week_ordinals(trajectory)
    school = trajectory["school_urn"].to_numpy(np.int64)
    pupil = pd.factorize(
        pd.Series(school).astype(str) + "|" + trajectory["upn"].astype(str).to_numpy()
    )[0].astype(np.int64)
    unauthorised = trajectory["unauthorised"].to_numpy(np.int64)
    span = int(ordinal.max()) + weeks + 1 if len(ordinal) else 1
    key = pupil * span + ordinal
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    cumulative = np.concatenate([[0], np.cumsum(unauthorised[order])])
    low = pupil[order] * span + np.maximum(ordinal[order] - (weeks - 1), 0)
    first = np.searchsorted(sorted_key, low, side="left")
    window = np.empty(len(order), dtype=np.int64)
    window[order] = cumulative[np.arange(1, len(order) + 1)] - cumulative[first]
    return pd.DataFrame({"ordinal": ordinal, "window_unauthorised": window}, index=trajectory.index)


def penalty_threshold(trajectory: pd.DataFrame, weeks: int = PENALTY_WEEKS) -> pd.DataFrame:
    """Per pupil (``school_urn, upn``) in the school's latest school week: the unauthorised
    sessions of the last ``weeks`` school weeks (``sessions``), whether that reaches
    :data:`PENALTY_SESSIONS` (``reached``), and the weeks that count (``counted``: a list of
    ``(week_start, sessions)`` for the weeks of the window with unauthorised absence)."""
    columns = ["school_urn", "upn", "sessions", "reached", "counted"]
    if trajectory.empty:
        return pd.DataFrame(columns=columns)
    rolled = rolling_unauthorised(trajectory, weeks)
    frame = pd.DataFrame(
        {
            "school_urn": trajectory["school_urn"].to_numpy(np.int64),
            "upn": trajectory["upn"].astype(str).to_numpy(),
            "week_start": pd.to_datetime(trajectory["week_start"]).dt.date.to_numpy(),
            "unauthorised": trajectory["unauthorised"].to_numpy(np.int64),
            "ordinal": rolled["ordinal"].to_numpy(),
        }
    )
    latest = frame.groupby("school_urn")["ordinal"].transform("max").to_numpy()
    in_window = (frame["ordinal"].to_numpy() > latest - weeks) & (frame["unauthorised"] > 0)
    window = frame[in_window].sort_values(["school_urn", "upn", "week_start"])
    sessions = window.groupby(["school_urn", "upn"])["unauthorised"].sum()
    counted = window.groupby(["school_urn", "upn"])[["week_start", "unauthorised"]].apply(
        lambda g: list(zip(g["week_start"], g["unauthorised"].astype(int), strict=True))
    )
    out = frame[["school_urn", "upn"]].drop_duplicates().set_index(["school_urn", "upn"])
    out["sessions"] = sessions.reindex(out.index).fillna(0).astype(int)
    out["reached"] = out["sessions"] >= PENALTY_SESSIONS
    out["counted"] = counted.reindex(out.index)
    out["counted"] = out["counted"].apply(lambda v: v if isinstance(v, list) else [])
    return out.reset_index()[columns]

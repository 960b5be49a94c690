"""Per pupil of a school's latest scoring: the two lists and the thresholds people act on.

* ``on_school_list``: below 90% attendance so far (:func:`features.lists.on_school_list`) —
  the pupils "the school knows".
* ``heading_there``: on this week's extra list (:func:`features.lists.extra_list_flags`: the
  top 3% of the roll, a setting, among pupils not on the school's list, ranked by
  :func:`features.lists.heading_score`), and ``surfaced_week`` / ``surfaced_on``: the first
  school week (and its date) they were on the extra list two school weeks running.
* ``severe``: absence so far ≥ 50% (:func:`features.thresholds.is_severe`).
* ``penalty_sessions``, ``penalty_reached``, ``penalty_counted``: unauthorised sessions in the
  last 10 school weeks, across terms and years (:func:`features.thresholds.penalty_threshold`).

Computed from the stored scores of the school's academic year and its stored trajectories,
once per ``data_version`` (any upload or re-scoring makes an old entry unreachable).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from features.lists import EXTRA_LIST_SHARE, extra_list_flags, heading_score, on_school_list
from features.thresholds import is_severe, penalty_threshold
from serving.models import EnrolmentTotal, Score, Trajectory
from serving.store.trajectories import current_trajectory

COLUMNS = [
    "upn", "on_school_list", "heading_there", "surfaced_week", "surfaced_on", "severe",
    "penalty_sessions", "penalty_reached", "penalty_counted",
]  # fmt: skip


class FrameCache:
    """Small in-process cache of computed frames, keyed by the store and data version (old
    keys simply stop being asked for; the least recently used go past ``size``)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def previous_year(academic_year: str) -> str:
    """``"2024/25"`` → ``"2023/24"``."""
    start = int(academic_year[:4]) - 1
    return f"{start}/{(start + 1) % 100:02d}"


def _pa_last_year(session: Session, urn: int, academic_year: str) -> dict[str, bool]:
    rows = session.execute(
        select(
            EnrolmentTotal.upn, EnrolmentTotal.possible_sessions, EnrolmentTotal.absence_sessions
        )
        .where(EnrolmentTotal.school_urn == urn)
        .where(EnrolmentTotal.academic_year == previous_year(academic_year))
    ).all()
    return {r.upn: r.possible_sessions > 0 and r.absence_sessions >= 0.1 * r.possible_sessions
            for r in rows}  # fmt: skip


def absence_so_far(attendance_ytd: np.ndarray) -> np.ndarray:
    """Absence so far from the stored attendance so far, rounded so that 5 of 50 sessions is
    exactly 10% (``1 - 0.9`` is 0.0999…, which would keep a pupil at 10% off the school's list
    that training puts on it)."""
    return np.round(1.0 - np.asarray(attendance_ytd, dtype=float), 9)


def list_flags(
    scores: pd.DataFrame, pa_last_year: dict[str, bool], share: float = EXTRA_LIST_SHARE
) -> pd.DataFrame:
    """From a school-year's scores (``upn, as_of, week, risk, rank, attendance_ytd``, every
    scored week) to the latest week's ``upn, on_school_list, heading_there, surfaced_week,
    surfaced_on``."""
    from features.lists import surfaced_weeks

    if scores.empty:
        return pd.DataFrame(columns=COLUMNS[:5])
    absence = absence_so_far(scores["attendance_ytd"].to_numpy(dtype=float))
    on_list = on_school_list(absence)
    was_pa = scores["upn"].isin([u for u, pa in pa_last_year.items() if pa]).to_numpy(dtype=float)
    order = heading_score(scores["risk"].to_numpy(dtype=float), was_pa)
    flags = extra_list_flags(
        order, on_list, scores["as_of"].to_numpy(), scores["rank"].to_numpy(), share
    )
    surfaced = surfaced_weeks(flags, scores["upn"].to_numpy(), scores["week"].to_numpy())
    week_dates = scores.drop_duplicates("week").set_index("week")["as_of"]
    latest = scores["as_of"].to_numpy() == scores["as_of"].max()
    out = pd.DataFrame(
        {
            "upn": scores["upn"].to_numpy()[latest],
            "on_school_list": on_list[latest],
            "heading_there": flags[latest],
        }
    )
    out["surfaced_week"] = out["upn"].map(surfaced).astype("Int64")
    out["surfaced_on"] = out["surfaced_week"].map(week_dates)
    return out


def _trajectories(session: Session, urn: int, academic_year: str) -> pd.DataFrame:
    """This year's and last year's stored trajectories (the rolling window spans years)."""
    rows = session.scalars(
        select(Trajectory)
        .where(Trajectory.school_urn == urn)
        .where(Trajectory.academic_year.in_([academic_year, previous_year(academic_year)]))
    ).all()
    frames = [current_trajectory(session, row) for row in rows]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def compute(session: Session, run: Any, share: float = EXTRA_LIST_SHARE) -> pd.DataFrame:
    """The frame of :data:`COLUMNS` for the school's latest scoring ``run``."""
    scores = pd.DataFrame(
        session.execute(
            select(
                Score.upn, Score.as_of, Score.week, Score.risk, Score.rank, Score.attendance_ytd
            )  # fmt: skip
            .where(Score.school_urn == run.school_urn)
            .where(Score.academic_year == run.academic_year)
            .where(Score.as_of <= run.as_of)
        ).all(),
        columns=["upn", "as_of", "week", "risk", "rank", "attendance_ytd"],
    )
    flags = list_flags(scores, _pa_last_year(session, run.school_urn, run.academic_year), share)
    latest = scores[scores["as_of"] == run.as_of]
    flags["severe"] = is_severe(
        absence_so_far(latest.set_index("upn")["attendance_ytd"].reindex(flags["upn"]).to_numpy())
    )
    trajectory = _trajectories(session, run.school_urn, run.academic_year)
    if trajectory.empty:
        penalty = pd.DataFrame(columns=["upn", "sessions", "reached", "counted"])
    else:
        penalty = penalty_threshold(trajectory[pd.to_datetime(trajectory["week_start"]).dt.date
                                               <= run.as_of])  # fmt: skip
    penalty = penalty.set_index("upn").reindex(flags["upn"])
    flags["penalty_sessions"] = penalty["sessions"].fillna(0).astype(int).to_numpy()
    flags["penalty_reached"] = penalty["reached"].fillna(False).astype(bool).to_numpy()
    flags["penalty_counted"] = [v if isinstance(v, list) else [] for v in penalty["counted"]]
    return flags[COLUMNS].reset_index(drop=True)


def school_flags(
    session: Session, cache: FrameCache, instance_id: str, run: Any, share: float
) -> pd.DataFrame:
    """:func:`compute`, cached under the school's data version and scoring."""
    key = ("flags", instance_id, run.school_urn, run.data_version, run.as_of, share)
    found = cache.get(key)
    if found is None:
        found = compute(session, run, share)
        cache.put(key, found)
    return found


def as_records(flags: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per UPN, the flags as JSON-ready values."""
    out: dict[str, dict[str, Any]] = {}
    for row in flags.itertuples(index=False):
        surfaced_on = row.surfaced_on
        out[row.upn] = {
            "on_school_list": bool(row.on_school_list),
            "heading_there": bool(row.heading_there),
            "surfaced_week": None if pd.isna(row.surfaced_week) else int(row.surfaced_week),
            "surfaced_on": surfaced_on.isoformat() if isinstance(surfaced_on, dt.date) else None,
            "severe": bool(row.severe),
            "penalty_sessions": int(row.penalty_sessions),
            "penalty_reached": bool(row.penalty_reached),
        }
    return out


def counted_weeks(flags: pd.DataFrame, upn: str) -> list[tuple[dt.date, int]]:
    """The weeks with unauthorised sessions that count towards the penalty-notice threshold."""
    match = flags.loc[flags["upn"] == upn, "penalty_counted"]
    return list(match.iloc[0]) if len(match) else []


def heading_upns(flags: pd.DataFrame) -> list[str]:
    """The pupils on this week's extra list."""
    return flags.loc[flags["heading_there"].to_numpy(dtype=bool), "upn"].tolist()


def school_list_upns(flags: pd.DataFrame) -> list[str]:
    """The pupils on the school's own list this week (absence so far ≥ 10%)."""
    return flags.loc[flags["on_school_list"].to_numpy(dtype=bool), "upn"].tolist()

"""From a school's stored trajectory to scores: the pure (database-free) part of scoring.

The same feature code as training (features.trajectory, features.snapshots) and the same model
code (features.riskmodel) run here; this module only chooses the week, shapes the inputs and
turns the model's output into what the risk list shows.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from serving.modelstore import LoadedModel

TIER_WORDING = {
    "high": "High risk: likely to end the year persistently absent without support",
    "medium": "Some risk: worth a conversation with the family soon",
    "low": "Low risk: no sign so far of ending the year persistently absent",
}
"""Plain wording of each tier, as the risk list shows it."""

REASONS_SHOWN = 3


def trajectory_to_bytes(trajectory: pd.DataFrame) -> bytes:
    """Serialise a trajectory (Parquet)."""
    buffer = io.BytesIO()
    trajectory.to_parquet(buffer, index=False)
    return buffer.getvalue()


def trajectory_from_bytes(payload: bytes) -> pd.DataFrame:
    """Read a trajectory written by :func:`trajectory_to_bytes`."""
    return pd.read_parquet(io.BytesIO(payload))


def latest_complete_week(trajectory: pd.DataFrame, last_mark_date: dt.date, today: dt.date) -> int:
    """The latest school week of the trajectory that is complete.

    A week is complete once the school's marks reach its Friday, or once its Friday has passed
    (``today`` is later): a week cut short by a holiday is complete when it is over. A week the
    school is still in the middle of is not: its risk would swing on half a week. Returns 0 when
    no week is complete.
    """
    weeks = trajectory[["week", "week_start"]].drop_duplicates().sort_values("week")
    fridays = pd.to_datetime(weeks["week_start"]).dt.date + dt.timedelta(days=4)
    complete = (fridays <= last_mark_date) | (fridays < today)
    # Every week before the last one with marks is over by construction.
    complete.iloc[:-1] = True
    done = weeks["week"][complete.to_numpy()]
    return int(done.max()) if len(done) else 0


def tier_of(risk: np.ndarray, high: float, medium: float) -> np.ndarray:
    """``high`` / ``medium`` / ``low`` for each probability."""
    return np.where(risk >= high, "high", np.where(risk >= medium, "medium", "low"))


@dataclass(frozen=True)
class ScoringConfig:
    """Thresholds the risk list uses: ``ServingSettings.scoring`` builds it from the settings,
    where the values are defined."""

    high_risk_threshold: float
    medium_risk_threshold: float
    emerging_below: float


def score_snapshot(
    snapshot: pd.DataFrame, model: LoadedModel, config: ScoringConfig
) -> pd.DataFrame:
    """Score a snapshot frame: one row per pupil with what the risk list shows.

    Columns: ``upn, as_of, risk, rank, tier, attendance_ytd, attendance_change_4w, emerging,
    absence_rate_ytd, reasons`` (a list of ``{"text", "domain", "contribution"}``), sorted by
    ``as_of`` and rank (1 = highest risk that week: a snapshot of several weeks is ranked week
    by week, from one pass of the model). ``attendance_change_4w`` is attendance over the last
    4 school weeks minus attendance over the year so far (negative = getting worse).
    """
    scored = model.model.score(snapshot, top=REASONS_SHOWN)  # type: ignore[attr-defined]
    risk = scored["risk_probability"].to_numpy(dtype=float)
    absence_ytd = snapshot["absence_rate_ytd"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "upn": snapshot["upn"].astype(str).to_numpy(),
            "as_of": pd.to_datetime(snapshot["as_of"]).to_numpy(),
            "risk": risk,
            "tier": tier_of(risk, config.high_risk_threshold, config.medium_risk_threshold),
            "attendance_ytd": 1.0 - absence_ytd,
            "attendance_change_4w": -snapshot["absence_change_4w"].to_numpy(dtype=float),
            "emerging": np.nan_to_num(absence_ytd, nan=0.0) < config.emerging_below,
            "absence_rate_ytd": absence_ytd,
            "reasons": _reason_lists(scored),
        }
    )
    out = out.sort_values(["as_of", "risk", "upn"], ascending=[True, False, True], kind="stable")
    out["rank"] = out.groupby("as_of").cumcount().to_numpy() + 1
    return out.reset_index(drop=True)


def score_weeks(
    trajectory: pd.DataFrame,
    roster: pd.DataFrame | None,
    *,
    school_urn: int,
    phase: str,
    weeks: list[int],
    model: LoadedModel,
    config: ScoringConfig,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Trajectory → snapshot features as of each of ``weeks`` → scores: the one chain behind
    stored scoring and ``POST /v1/score``.

    ``roster`` is the school's roster (``ROSTER_COLUMNS``, ``None``: unknown), ``history``
    last year's outcomes (:func:`features.snapshots.snapshot_features`). Returns the columns of
    :func:`score_snapshot`, with ``as_of`` as a date and the school ``week`` of each row; no
    rows when no pupil had possible sessions in those weeks."""
    from features.snapshots import snapshot_features

    schools = pd.DataFrame({"school_urn": [school_urn], "phase": [phase]})
    snapshot = snapshot_features(
        trajectory,
        roster,
        schools,
        history=history if history is not None and not history.empty else None,
        weeks=sorted(weeks),
    )
    if snapshot.empty:
        return pd.DataFrame(columns=[*_SCORED_COLUMNS, "week"])
    scored = score_snapshot(snapshot, model, config)
    week_of = dict(
        zip(pd.to_datetime(snapshot["as_of"]).dt.date, snapshot["week"].astype(int), strict=True)
    )
    scored["as_of"] = pd.to_datetime(scored["as_of"]).dt.date
    scored["week"] = scored["as_of"].map(week_of).astype(int)
    return scored


_SCORED_COLUMNS = (
    "upn", "as_of", "risk", "tier", "attendance_ytd", "attendance_change_4w", "emerging",
    "absence_rate_ytd", "reasons", "rank",
)  # fmt: skip


def _reason_lists(scored: pd.DataFrame) -> list[list[dict[str, Any]]]:
    """The model's reason columns as one list of reasons per row (empty slots dropped)."""
    columns = []
    i = 1
    while f"reason_{i}" in scored.columns:
        columns.append(
            (
                scored[f"reason_{i}"].to_numpy(dtype=object),
                scored.get(f"reason_{i}_domain", pd.Series([None] * len(scored))).to_numpy(
                    dtype=object
                ),
                scored.get(f"reason_{i}_contribution", pd.Series([np.nan] * len(scored))).to_numpy(
                    dtype=float
                ),
            )
        )
        i += 1
    out: list[list[dict[str, Any]]] = []
    for row in range(len(scored)):
        reasons = []
        for text, domain, contribution in columns:
            if text[row] is None or (isinstance(text[row], float) and np.isnan(text[row])):
                continue
            reasons.append(
                {
                    "text": str(text[row]),
                    "domain": None if domain[row] is None else str(domain[row]),
                    "contribution": None
                    if not np.isfinite(contribution[row])
                    else round(float(contribution[row]), 4),
                }
            )
        out.append(reasons)
    return out


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text exported to CSV (``=``, ``+``, ``-``, ``@``…).

    A name such as ``=HYPERLINK(...)`` in a roster must not run when a school opens the export
    in Excel (OWASP "CSV injection")."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value

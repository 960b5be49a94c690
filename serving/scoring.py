"""Stateless scoring: the pupils of a register sent in a request scored by the champion,
stored nowhere; and what the service says about its model.

The marks go through the same chain as stored scoring (:func:`serving.pipeline.score_weeks`):
trajectory, snapshot features of the latest complete week, the model and its reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from features.schema import PHASES
from serving import audit
from serving.auth import PUPIL_DATA_ROLES, Principal, Role
from serving.db import Database
from serving.display_codes import display_codes_mapped
from serving.errors import Forbidden, Invalid
from serving.modelstore import LoadedModel
from serving.pipeline import TIER_WORDING, ScoringConfig, latest_complete_week, score_weeks
from serving.schemas import ModelDescription, StatelessScores
from serving.store.rows import stored_display_codes
from serving.uploads import ReceivedFile


def check_may_score(principal: Principal, school_urn: int, phase: str) -> None:
    """Refuse a key that may not read the school's pupils, or a phase the model does not
    know; checked before the files are read."""
    if principal.role not in PUPIL_DATA_ROLES:
        raise Forbidden(f"a {principal.role.value} key may not score pupils")
    if not principal.may_read_pupils(school_urn):
        raise Forbidden(
            f"this {principal.role.value} key may not score pupils of school {school_urn}"
        )
    if phase not in PHASES:
        raise Invalid(
            f"phase {phase!r} is not one of {', '.join(PHASES)}",
            fix=f"send one of {', '.join(PHASES)}",
        )


@dataclass(frozen=True)
class ScoreRequest:
    """What a stateless scoring request sends: the files (``registers``, optional
    ``roster``), the school they belong to and its phase, and the day it is asked."""

    files: dict[str, ReceivedFile]
    school_urn: int
    phase: str
    today: dt.date


def score_request(
    db: Database,
    principal: Principal,
    request: ScoreRequest,
    model: LoadedModel,
    config: ScoringConfig,
) -> StatelessScores:
    """Score the files (read through the school's display codes, if it has any), then record
    who scored how many pupils before the answer goes out."""
    if "registers" not in request.files:
        raise Invalid(
            "send the register CSV as the form field 'registers'",
            fix="a multipart/form-data request with the field 'registers' (and 'roster')",
        )
    urn = request.school_urn
    with db.read_session() as session:
        display_codes = stored_display_codes(session, urn)
    result = score_files(request, model, config, display_codes)
    audit.record(db, principal, "score.stateless", school_urn=urn, records=len(result.pupils))
    return result


def score_files(
    request: ScoreRequest,
    model: LoadedModel,
    config: ScoringConfig,
    display_codes: Mapping[str, str] | None = None,
) -> StatelessScores:
    """Validate (marks read through ``display_codes``, the school's own), build the trajectory
    and score its latest complete week — all in memory."""
    import pandas as pd

    from features import registers as readers
    from features.trajectory import build_trajectory

    files, school_urn, phase, today = (
        request.files, request.school_urn, request.phase, request.today
    )  # fmt: skip
    roster = None
    if "roster" in files:
        roster, report = readers.read_roster(
            files["roster"].data, filename=files["roster"].filename
        )
        if not report.ok:
            raise Invalid("the roster has errors", report=report.to_dict())
        roster = roster.assign(school_urn=school_urn)
    registers = files["registers"]
    marks, report = readers.read_register(
        registers.data,
        school_urn=school_urn,
        roster=roster,
        display_codes=display_codes or None,
        filename=registers.filename,
    )
    if not report.ok:
        raise Invalid("the register has errors", report=report.to_dict())
    trajectory = build_trajectory(marks)
    week = latest_complete_week(trajectory, pd.Timestamp(marks["date"].max()).date(), today)
    if week == 0:
        raise Invalid(
            "the marks cover no complete school week yet",
            fix="send the register up to a Friday (or a week whose Friday has passed)",
        )
    scored = score_weeks(
        trajectory, roster, school_urn=school_urn, phase=phase, weeks=[week], model=model,
        config=config,
    )  # fmt: skip
    if scored.empty:
        raise Invalid(f"no pupil had possible sessions in week {week}")
    as_of = scored["as_of"].iloc[0]
    return StatelessScores.model_validate(
        {
            "school_urn": school_urn,
            "as_of": as_of,
            "week": week,
            "model_name": model.name,
            "model_version": model.version,
            "history": "none: a stateless request carries no earlier years",
            "display_codes_mapped": display_codes_mapped(report, registers.filename),
            "tiers": TIER_WORDING,
            "pupils": [
                {
                    "rank": int(r["rank"]),
                    "upn": r["upn"],
                    "risk": round(float(r["risk"]), 4),
                    "tier": r["tier"],
                    "attendance_ytd": _num(r["attendance_ytd"]),
                    "attendance_change_4w": _num(r["attendance_change_4w"]),
                    "emerging": bool(r["emerging"]),
                    "reasons": r["reasons"],
                    "model_name": model.name,
                    "model_version": model.version,
                    "as_of": as_of,
                }
                for r in scored.to_dict(orient="records")
            ],
        }
    )


def _num(value: Any) -> float | None:
    value = float(value)
    return None if value != value else round(value, 4)


def check_may_read_model(principal: Principal) -> None:
    """The model page is for analysts and admins."""
    if principal.role not in (Role.ANALYST, Role.ADMIN):
        raise Forbidden("the model page is for analyst and admin keys")


def _median_lead(summary: dict[str, Any]) -> float | None:
    """The registered model's median lead (weeks before crossing) on its extra list."""
    for row in summary.get("early_warning") or []:
        if row.get("model") == summary.get("registered_model"):
            lead = row.get("lead_median")
            # NaN (nobody surfaced ahead) is no number a JSON answer can carry.
            return float(lead) if isinstance(lead, int | float) and lead == lead else None
    return None


def describe_model(model: LoadedModel) -> ModelDescription:
    """What the model page shows, from what was read when the model was loaded (training's
    evaluation summary when there is one: pooled test-year metrics of the model beside the
    baselines, for all pupils and for the emerging group)."""
    info = model.info
    metadata = info.get("metadata", {}) or {}
    summary = info.get("summary") or {}
    metrics: dict[str, float] = info.get("metrics", {}) or {}
    gates = summary.get("gates", {}) or {}
    return ModelDescription.model_validate(
        {
            "name": model.name,
            "version": model.version,
            "loaded_at": model.loaded_at,
            "description": info.get("description"),
            "feature_set": metadata.get("feature_set") or info.get("tags", {}).get("feature_set"),
            "feature_schema_version": metadata.get("feature_schema_version"),
            "registered_model": summary.get("registered_model"),
            "test_year": summary.get("test_year"),
            "training_window": summary.get("data_window") or metadata.get("training_window"),
            "metrics_beside_baselines": summary.get("pooled")
            or {k: v for k, v in metrics.items() if k.startswith("test_")},
            "median_lead_weeks": _median_lead(summary),
            "fairness": {
                "bounds": {
                    "recall_ratio_min": gates.get("recall_ratio_min"),
                    "calibration_gap_max": gates.get("calibration_gap_max"),
                }
                if gates
                else None,
                "metrics": ["recall within bands of final absence", "calibration within groups"]
                if gates
                else None,
                "breaches": gates.get("fairness_breaches"),
                "flagged_ratios": metrics.get("fairness.flagged_ratios"),
            },
            "metrics": {k: v for k, v in metrics.items() if k.startswith("test_")},
            "tags": info.get("tags", {}),
            "run_id": info.get("run_id"),
        }
    )

"""Stateless scoring for integrators, and what the service says about its model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from features.schema import PHASES
from serving import audit
from serving.auth import PUPIL_DATA_ROLES, Role
from serving.deps import CurrentKey, DatabaseDep, HolderDep, ModelDep, SettingsDep, forbidden
from serving.display_codes import display_codes_mapped, stored_display_codes
from serving.modelstore import LoadedModel
from serving.pipeline import TIER_WORDING, ScoringConfig, latest_complete_week, score_snapshot
from serving.uploads import read_form_files

router = APIRouter(prefix="/v1", tags=["model"])


@router.post("/score")
async def score(
    request: Request,
    principal: CurrentKey,
    db: DatabaseDep,
    model: ModelDep,
    settings: SettingsDep,
    school_urn: Annotated[int, Query(description="URN the marks belong to")],
    phase: Annotated[str, Query(description="primary, secondary or special")] = "primary",
) -> dict[str, Any]:
    """Score register marks sent in the request (`registers`, optional `roster`); stores nothing."""
    if principal.role not in PUPIL_DATA_ROLES:
        raise forbidden(f"a {principal.role.value} key may not score pupils")
    if not principal.may_read_pupils(school_urn):
        raise forbidden(
            f"this {principal.role.value} key may not score pupils of school {school_urn}"
        )
    if phase not in PHASES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"message": f"phase {phase!r} is not one of {', '.join(PHASES)}"},
        )
    files = await read_form_files(request, settings.max_upload_bytes, ("registers", "roster"))
    if "registers" not in files:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"message": "send the register CSV as the form field 'registers'"},
        )
    config = ScoringConfig(
        settings.high_risk_threshold, settings.medium_risk_threshold, settings.emerging_below
    )
    # Only the streamed read of the request runs on the event loop; validating, scoring and
    # the audit write (a database commit) go to the thread pool, so other requests never wait.
    return await run_in_threadpool(
        score_and_audit, db, principal, files, school_urn, phase, model, config, dt.date.today()
    )


def score_and_audit(
    db: Any,
    principal: Any,
    files: dict[str, Any],
    school_urn: int,
    phase: str,
    model: LoadedModel,
    config: ScoringConfig,
    today: dt.date,
) -> dict[str, Any]:
    """Score the files (read through the school's display codes, if it has any), then record
    who scored how many pupils before the answer goes out."""
    with db.read_session() as session:
        display_codes = stored_display_codes(session, school_urn)
    result = score_files(files, school_urn, phase, model, config, today, display_codes)
    audit.record(
        db,
        principal,
        "score.stateless",
        school_urn=school_urn,
        records=len(result.get("pupils", [])),
    )
    return result


def score_files(
    files: dict[str, Any],
    school_urn: int,
    phase: str,
    model: LoadedModel,
    config: ScoringConfig,
    today: dt.date,
    display_codes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validate (marks read through ``display_codes``, the school's own), build the trajectory
    and features, and score — all in memory."""
    import pandas as pd

    from features.registers import read_register, read_roster
    from features.snapshots import snapshot_features
    from features.trajectory import build_trajectory

    roster = None
    if "roster" in files:
        roster, report = read_roster(files["roster"].data, filename=files["roster"].filename)
        if not report.ok:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail={"message": "the roster has errors", "report": report.to_dict()},
            )
        roster = roster.assign(school_urn=school_urn)
    registers = files["registers"]
    marks, report = read_register(
        registers.data,
        school_urn=school_urn,
        roster=roster,
        display_codes=display_codes or None,
        filename=registers.filename,
    )
    if not report.ok:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"message": "the register has errors", "report": report.to_dict()},
        )
    trajectory = build_trajectory(marks)
    last_mark = pd.Timestamp(marks["date"].max()).date()
    week = latest_complete_week(trajectory, last_mark, today)
    if week == 0:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"message": "the marks cover no complete school week yet"},
        )
    schools = pd.DataFrame({"school_urn": [school_urn], "phase": [phase]})
    snapshot = snapshot_features(trajectory, roster, schools, weeks=[week])
    scored = score_snapshot(snapshot, model, config)
    as_of = pd.Timestamp(snapshot["as_of"].iloc[0]).date().isoformat()
    return {
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


def _num(value: Any) -> float | None:
    value = float(value)
    return None if value != value else round(value, 4)


@router.get("/model")
def model_page(principal: CurrentKey, holder: HolderDep) -> dict[str, Any]:
    """The champion: name, version, training window, metrics beside baselines, fairness."""
    if principal.role not in (Role.ANALYST, Role.ADMIN):
        raise forbidden("the model page is for analyst and admin keys")
    model = holder.current
    if model is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"message": "no risk model is loaded", "reason": holder.reason},
        )
    return describe_model(model)


def describe_model(model: LoadedModel) -> dict[str, Any]:
    """What the model page shows, from what was read when the model was loaded (training's
    evaluation summary when there is one: pooled test-year metrics of the model beside the
    baselines, for all pupils and for the emerging group)."""
    info = model.info
    metadata = info.get("metadata", {}) or {}
    summary = info.get("summary") or {}
    metrics: dict[str, float] = info.get("metrics", {}) or {}
    gates = summary.get("gates", {}) or {}
    return {
        "name": model.name,
        "version": model.version,
        "loaded_at": model.loaded_at.isoformat(),
        "description": info.get("description"),
        "feature_set": metadata.get("feature_set") or info.get("tags", {}).get("feature_set"),
        "feature_schema_version": metadata.get("feature_schema_version"),
        "registered_model": summary.get("registered_model"),
        "test_year": summary.get("test_year"),
        "training_window": summary.get("data_window") or metadata.get("training_window"),
        "metrics_beside_baselines": summary.get("pooled")
        or {k: v for k, v in metrics.items() if k.startswith("test_")},
        "median_lead_weeks": summary.get("median_lead_weeks"),
        "fairness": {
            "bounds": gates.get("fairness_bounds"),
            "metrics": gates.get("fairness_metrics"),
            "breaches": gates.get("fairness_breaches"),
            "flagged_ratios": metrics.get("fairness.flagged_ratios"),
        },
        "metrics": {k: v for k, v in metrics.items() if k.startswith("test_")},
        "tags": info.get("tags", {}),
        "run_id": info.get("run_id"),
    }

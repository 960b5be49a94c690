"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.deps import DatabaseDep, HolderDep
from serving.schemas import Health, Readiness

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: the checks say why"}},
)
def ready(db: DatabaseDep, holder: HolderDep) -> JSONResponse:
    """Ready to score: the database answers and a model is loaded (503 says which is missing)."""
    checks: dict[str, object] = {}
    ok = True
    try:
        db.ping()
        checks["database"] = {"ok": True}
    except Exception as exc:  # any failure to reach the database means not ready
        ok = False
        checks["database"] = {"ok": False, "reason": f"database unreachable ({type(exc).__name__})"}
    model = holder.current
    if model is None:
        ok = False
        checks["model"] = {"ok": False, "reason": holder.reason}
    else:
        checks["model"] = {"ok": True, "name": model.name, "version": model.version}
    return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

"""FastAPI dependencies: settings, database, model, and the caller's key.

Dependencies that do no I/O are ``async def`` so FastAPI runs them on the event loop instead of
sending each to the thread pool (a hop per dependency adds up under concurrent load)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from serving.auth import Principal, key_lookup, principal_of
from serving.db import Database
from serving.modelstore import LoadedModel, ModelHolder
from serving.settings import ServingSettings

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


async def get_settings(request: Request) -> ServingSettings:
    """The settings the app was built with."""
    return request.app.state.settings


async def get_db(request: Request) -> Database:
    """The service's database."""
    return request.app.state.db


async def get_holder(request: Request) -> ModelHolder:
    """The model holder."""
    return request.app.state.holder


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    """A read session for the request."""
    with db.read_session() as session:
        yield session


async def get_credentials(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The presented API key (no I/O, so on the event loop); 401 without one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={
                "message": "an API key is required",
                "fix": "send the header `Authorization: Bearer <key>`; "
                "an administrator creates keys with `ews keys create`",
            },
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials


def principal_for(db: Database, key: str, connection: Any = None) -> Principal:
    """The principal of a presented key (one statement, no transaction, on ``connection`` if
    given, from :meth:`Database.autocommit`); 401 if it is unknown or revoked. Blocking: call
    it from the thread pool."""
    statement, parameters = key_lookup(key)
    rows = (
        db.query(statement, parameters)
        if connection is None
        else connection.execute(statement, parameters).all()
    )
    principal = principal_of(rows)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"message": "this API key is not valid or has been revoked"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def get_principal(
    db: Annotated[Database, Depends(get_db)], key: Annotated[str, Depends(get_credentials)]
) -> Principal:
    """The caller's key; 401 without a valid one."""
    return principal_for(db, key)


async def require_model(holder: Annotated[ModelHolder, Depends(get_holder)]) -> LoadedModel:
    """The current model (taken once per request); 503 with the reason if there is none."""
    model = holder.current
    if model is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"message": "no risk model is loaded", "reason": holder.reason},
            headers={"Retry-After": "30"},
        )
    return model


SettingsDep = Annotated[ServingSettings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
SessionDep = Annotated[Session, Depends(get_session)]
CurrentKey = Annotated[Principal, Depends(get_principal)]
PresentedKey = Annotated[str, Depends(get_credentials)]
"""The key as presented, not yet checked: for a hot route that authenticates in its own
thread-pool call (:func:`principal_for`), saving a thread hop per request."""
ModelDep = Annotated[LoadedModel, Depends(require_model)]


def forbidden(message: str) -> HTTPException:
    """403 with a message saying what the key may not do."""
    return HTTPException(status.HTTP_403_FORBIDDEN, detail={"message": message})


def require_pupil_access(principal: Principal, school_urn: int) -> None:
    """403 unless the key may read pupil-level data of this school."""
    if not principal.may_read_pupils(school_urn):
        raise forbidden(
            f"this {principal.role.value} key may not read pupils of school {school_urn}"
        )

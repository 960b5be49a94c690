"""FastAPI dependencies: settings, database, model, and the caller's key.

Dependencies that do no I/O are ``async def`` so FastAPI runs them on the event loop instead of
sending each to the thread pool (a hop per dependency adds up under concurrent load)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from serving.auth import Principal, key_lookup, principal_of
from serving.db import Database
from serving.errors import Forbidden, Unauthenticated
from serving.modelstore import LoadedModel, ModelHolder, no_model
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
    """The presented API key (no I/O, so on the event loop); refused without one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated(
            "an API key is required",
            fix="send the header `Authorization: Bearer <key>`; "
            "an administrator creates keys with `ews keys create`",
        )
    return credentials.credentials


def principal_for(db: Database, key: str, connection: Any = None) -> Principal:
    """The principal of a presented key (one statement, no transaction, on ``connection`` if
    given, from :meth:`Database.autocommit`); :class:`Unauthenticated` if it is unknown or
    revoked. Blocking: call it from the thread pool."""
    statement, parameters = key_lookup(key)
    rows = (
        db.query(statement, parameters)
        if connection is None
        else connection.execute(statement, parameters).all()
    )
    principal = principal_of(rows)
    if principal is None:
        raise Unauthenticated("this API key is not valid or has been revoked")
    return principal


def get_principal(
    db: Annotated[Database, Depends(get_db)], key: Annotated[str, Depends(get_credentials)]
) -> Principal:
    """The caller's key; refused without a valid one."""
    return principal_for(db, key)


async def require_model(holder: Annotated[ModelHolder, Depends(get_holder)]) -> LoadedModel:
    """The current model (taken once per request); refused with the reason if there is none."""
    model = holder.current
    if model is None:
        raise no_model(holder)
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


def forbidden(message: str) -> Forbidden:
    """The refusal saying what the key may not do."""
    return Forbidden(message)

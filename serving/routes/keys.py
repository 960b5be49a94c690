"""API keys over HTTP (admin keys); ``ews keys`` does the same from the command line."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from serving import auth
from serving.auth import Principal, Role
from serving.deps import CurrentKey, DatabaseDep, SessionDep, forbidden
from serving.errors import Invalid, NotFound
from serving.schemas import MAX_DB_INT, URN, CreatedKeyOut, KeyOut, Revoked, errors

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyIn(BaseModel):
    """A key to create."""

    role: Role
    schools: list[URN] = Field(default_factory=list, max_length=1000)
    name: str = Field(default="", max_length=100)


def _admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise forbidden("only an admin key may manage keys")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CreatedKeyOut,
    responses=errors(400, 401, 403, 422, 503),
)
def create_key(body: KeyIn, principal: CurrentKey, db: DatabaseDep) -> CreatedKeyOut:
    """Create a key; the secret is in this answer only."""
    _admin(principal)
    try:
        with db.write() as session:
            created = auth.create_key(session, role=body.role, schools=body.schools, name=body.name)
    except ValueError as exc:  # the scope does not fit the role, or names unknown schools
        raise Invalid(str(exc)) from None
    return CreatedKeyOut(
        id=created.id,
        name=created.name,
        role=created.role.value,
        schools=list(created.schools),
        key=created.key,
    )


@router.get("", response_model=list[KeyOut], responses=errors(401, 403, 503))
def list_keys(principal: CurrentKey, session: SessionDep) -> list[KeyOut]:
    """Every key (never the secret)."""
    _admin(principal)
    return [KeyOut.model_validate(k) for k in auth.list_keys(session)]


@router.delete("/{key_id}", response_model=Revoked, responses=errors(401, 403, 404, 422, 503))
def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)], principal: CurrentKey, db: DatabaseDep
) -> Revoked:
    """Revoke a key: it stops working at once."""
    _admin(principal)
    with db.write() as session:
        if not auth.revoke_key(session, key_id):
            raise NotFound(f"no key {key_id}")
    return Revoked(id=key_id, revoked=True)

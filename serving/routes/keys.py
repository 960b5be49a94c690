"""API keys over HTTP (admin keys); ``ews keys`` does the same from the command line."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from serving import auth
from serving.auth import Principal, Role
from serving.deps import CurrentKey, DatabaseDep, SessionDep, forbidden

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyIn(BaseModel):
    """A key to create."""

    role: Role
    schools: list[int] = Field(default_factory=list)
    name: str = Field(default="", max_length=100)


def _admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise forbidden("only an admin key may manage keys")


@router.post("", status_code=status.HTTP_201_CREATED)
def create_key(body: KeyIn, principal: CurrentKey, db: DatabaseDep) -> dict[str, Any]:
    """Create a key; the secret is in this answer only."""
    _admin(principal)
    try:
        with db.write() as session:
            created = auth.create_key(session, role=body.role, schools=body.schools, name=body.name)
    except ValueError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail={"message": str(exc)}
        ) from None
    return {
        "id": created.id,
        "name": created.name,
        "role": created.role.value,
        "schools": list(created.schools),
        "key": created.key,
    }


@router.get("")
def list_keys(principal: CurrentKey, session: SessionDep) -> list[dict[str, Any]]:
    """Every key (never the secret)."""
    _admin(principal)
    return auth.list_keys(session)


@router.delete("/{key_id}")
def revoke_key(key_id: int, principal: CurrentKey, db: DatabaseDep) -> dict[str, Any]:
    """Revoke a key: it stops working at once."""
    _admin(principal)
    with db.write() as session:
        if not auth.revoke_key(session, key_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail={"message": f"no key {key_id}"})
    return {"id": key_id, "revoked": True}

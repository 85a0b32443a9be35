"""Administration of the caller's workspace: API keys (create once-shown, list, revoke) and its configuration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from adapters.storage import repositories as repo
from adapters.storage.orm import ApiKeyRow
from api.auth import KeyRole, create_key, revoke_key
from api.deps import DbDep, PrincipalDep, StateDep, WorkspaceDep
from api.errors import NotFound

router = APIRouter(prefix="/admin", tags=["admin"])


class KeyOut(BaseModel):
    key_id: str
    workspace: str
    role: str
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> KeyOut:
        return cls(
            key_id=row.key_id,
            workspace=row.workspace,
            role=row.role,
            name=row.name,
            created_by=row.created_by,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[\w.@:-]+( [\w.@:-]+)*$")
    role: KeyRole
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself: shown this once, only its hash is stored")


@router.get("/keys")
async def list_keys(db: DbDep, workspace: WorkspaceDep) -> list[KeyOut]:
    """The workspace's keys (never the keys themselves: only their ids, roles and use)."""
    async with db.session() as session:
        rows = await repo.list_api_keys(session, workspace=workspace)
    return [KeyOut.of(r) for r in rows]


@router.post("/keys", status_code=status.HTTP_201_CREATED)
async def add_key(body: KeyIn, state: StateDep, workspace: WorkspaceDep, principal: PrincipalDep) -> NewKeyOut:
    """Create a key in the caller's workspace; the answer holds it once."""
    new = await create_key(
        state.db,
        secret=state.keys.secret,
        workspace=workspace,
        role=body.role,
        name=body.name,
        created_by=principal.actor,
        expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    state.keys.invalidate(new.row.key_id)  # dev mode (if it was on) ends now
    return NewKeyOut(**KeyOut.of(new.row).model_dump(), key=new.key.get_secret_value())


@router.delete(
    "/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"description": "No such key"}}
)
async def delete_key(key_id: str, state: StateDep, workspace: WorkspaceDep) -> None:
    """Revoke a key of the caller's workspace (the row stays for the audit trail)."""
    if not await revoke_key(state.db, key_id=key_id, workspace=workspace):
        raise NotFound(f"key {key_id}")
    state.keys.invalidate(key_id)


@router.get("/workspace")
async def get_workspace(state: StateDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """The caller's workspace as configured in workspaces.yaml (secret references, never secrets)."""
    config = state.workspaces.get(workspace)
    return {"configured": state.workspaces.known(workspace), **config.model_dump(mode="json")}

"""Dead letters: bodies that parsed but could not become alerts, kept raw with the reason; redrive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from adapters.storage import repositories as repo
from adapters.storage.orm import DeadLetterRow
from api.deps import DbDep, DbId, IngestDep, WorkspaceDep
from api.errors import NotFound
from api.ingest import workflow_id_for

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


class DeadLetterOut(BaseModel):
    id: int
    source: str
    reason: str
    delivery_id: int | None
    created_at: datetime
    redriven_at: datetime | None
    redrive_delivery_id: int | None
    raw: Any

    @classmethod
    def of(cls, row: DeadLetterRow) -> DeadLetterOut:
        return cls(
            id=row.id,
            source=row.source,
            reason=row.reason,
            delivery_id=row.alert_id,
            created_at=row.created_at,
            redriven_at=row.redriven_at,
            redrive_delivery_id=row.redrive_delivery_id,
            raw=row.raw,
        )


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    total: int
    limit: int
    offset: int


class RedriveOut(BaseModel):
    dead_letter_id: int
    delivery_id: int
    stream_key: str
    lifecycle: str
    workflow_id: str
    outcome: str


@router.get("")
async def list_dead_letters(
    db: DbDep,
    workspace: WorkspaceDep,
    source: Annotated[str | None, Query(max_length=64)] = None,
    pending: Annotated[bool, Query(description="only the ones not redriven yet")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeadLetterPage:
    """Dead letters of the workspace, newest first."""
    async with db.session() as session:
        rows, total = await repo.list_dead_letters(
            session, workspace=workspace, source=source, pending_only=pending, limit=limit, offset=offset
        )
    return DeadLetterPage(items=[DeadLetterOut.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{dead_letter_id}")
async def get_dead_letter(dead_letter_id: DbId, db: DbDep, workspace: WorkspaceDep) -> DeadLetterOut:
    """One dead letter with its raw body and the reason it could not be normalized."""
    async with db.session() as session:
        row = await repo.get_dead_letter(session, dead_letter_id=dead_letter_id, workspace=workspace)
    if row is None:
        raise NotFound(f"dead letter {dead_letter_id}")
    return DeadLetterOut.of(row)


@router.post(
    "/{dead_letter_id}/redrive",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: {"description": "No such dead letter in this workspace"},
        409: {"description": "Already redriven"},
        422: {"description": "Still cannot be normalized with the current configuration (the reason is given)"},
        503: {"description": "Temporal unavailable: the dead letter stays redrivable"},
    },
)
async def redrive(dead_letter_id: DbId, ingest: IngestDep, workspace: WorkspaceDep) -> RedriveOut:
    """Ingest the stored body again with the workspace's current sources and mapping."""
    result = await ingest.redrive(workspace=workspace, dead_letter_id=dead_letter_id)
    d = result.delivery
    return RedriveOut(
        dead_letter_id=result.dead_letter_id,
        delivery_id=d.id,
        stream_key=d.stream_key,
        lifecycle=d.lifecycle.value,
        workflow_id=workflow_id_for(workspace, d.stream_key),
        outcome=d.outcome,
    )

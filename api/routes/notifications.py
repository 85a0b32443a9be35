"""Notifications: what the incident told which channel, when, and what failed (the audit trail)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from adapters.storage import repositories as repo
from api.deps import DbDep, DbId, WorkspaceDep
from api.routes.incidents import load_incident

router = APIRouter(tags=["notifications"])


class NotificationOut(BaseModel):
    event: str
    key: str
    channel: str
    status: str  # sent, held (quiet hours), failed, skipped
    ref: dict[str, Any]
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime


@router.get("/incidents/{incident_id}/notifications")
async def list_notifications(incident_id: DbId, db: DbDep, workspace: WorkspaceDep) -> list[NotificationOut]:
    """Every notification of the incident, one row per event and channel."""
    incident = await load_incident(db, workspace, incident_id)
    async with db.session() as session:
        rows = await repo.list_notifications(session, incident_id=incident.id)
    return [
        NotificationOut(
            event=r.event,
            key=r.key,
            channel=r.channel,
            status=r.status,
            ref=r.ref,
            error=r.error,
            attempts=r.attempts,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]

"""Incidents: list, detail (stored data + live workflow state), timeline, postmortem, resolve."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.storage import repositories as repo
from adapters.storage.orm import IncidentRow
from api.deps import DbDep, DbId, PrincipalDep, StateDep, WorkspaceDep, acting_as
from api.errors import Conflict, NotFound
from api.ingest import TemporalUnavailable
from domain.models import AcknowledgeSignal, IncidentState, IncidentStatus, ResolveSignal, Severity

log = logging.getLogger(__name__)
router = APIRouter(prefix="/incidents", tags=["incidents"])


class IncidentOut(BaseModel):
    id: int
    workspace: str
    title: str
    description: str
    source: str
    service: str | None
    namespace: str | None
    severity: str
    status: str
    stream_key: str
    fingerprint: str | None
    alert_count: int
    labels: dict[str, Any]
    links: dict[str, Any]
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_reason: str
    previous_incident_id: int | None
    parent_incident_id: int | None
    started_at: datetime | None
    postmortem_available: bool

    @classmethod
    def of(cls, row: IncidentRow) -> IncidentOut:
        return cls(
            id=row.id,
            workspace=row.workspace,
            title=row.title,
            description=row.description,
            source=row.source,
            service=row.service,
            namespace=row.namespace,
            severity=row.severity,
            status=row.status,
            stream_key=row.stream_key,
            fingerprint=row.fingerprint,
            alert_count=row.alert_count,
            labels=row.labels,
            links=row.links,
            opened_at=row.opened_at,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            resolved_at=row.resolved_at,
            resolved_by=row.resolved_by,
            resolution_reason=row.resolution_reason,
            previous_incident_id=row.previous_incident_id,
            parent_incident_id=row.parent_incident_id,
            started_at=row.started_at,
            postmortem_available=row.postmortem_md is not None,
        )


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    total: int
    limit: int
    offset: int


class WorkflowInfo(BaseModel):
    workflow_id: str
    run_id: str
    temporal_ui_url: str
    state: IncidentState | None = Field(description="Live state from the get_state query, when the run is open")
    state_note: str = ""


class RelatedIncident(BaseModel):
    id: int
    title: str
    service: str | None
    severity: str
    status: str
    opened_at: datetime


class MergedStream(BaseModel):
    """Another alert stream deduplicated into this incident."""

    stream_key: str
    source: str
    strategy: str
    reason: str
    merged_at: datetime


class DiagnosisSummary(BaseModel):
    """The latest diagnosis; the full one (transcript, evidence) is under /incidents/{id}/diagnoses/{n}."""

    id: int
    category: str
    confidence: float
    root_cause: str
    summary: str
    model: str
    suggested_actions: list[dict[str, Any]]
    created_at: datetime


class IncidentDetail(IncidentOut):
    workflow: WorkflowInfo
    diagnosis: DiagnosisSummary | None
    parent: RelatedIncident | None
    children: list[RelatedIncident]
    merged_streams: list[MergedStream]


def _related(row: IncidentRow) -> RelatedIncident:
    return RelatedIncident(
        id=row.id,
        title=row.title,
        service=row.service,
        severity=row.severity,
        status=row.status,
        opened_at=row.opened_at,
    )


class TimelineEventOut(BaseModel):
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]


class ResolveIn(BaseModel):
    by: str = Field(default="api", max_length=255)
    reason: str = Field(default="", max_length=2000)


class AcknowledgeIn(BaseModel):
    by: str = Field(default="api", max_length=255)


class CommandAccepted(BaseModel):
    incident_id: int
    status: str
    detail: str


async def load_incident(db: DbDep, workspace: str, incident_id: DbId) -> IncidentRow:
    """The workspace's incident, or 404."""
    async with db.session() as session:
        row = await repo.get_incident(session, incident_id=incident_id, workspace=workspace)
    if row is None:
        raise NotFound(f"incident {incident_id}")
    return row


@router.get("")
async def list_incidents(
    db: DbDep,
    workspace: WorkspaceDep,
    status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    severity: Severity | None = None,
    service: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> IncidentPage:
    """Incidents of the workspace, newest first, from SQL."""
    async with db.session() as session:
        rows, total = await repo.list_incidents(
            session,
            workspace=workspace,
            status=status_.value if status_ else None,
            severity=severity.value if severity else None,
            service=service,
            limit=limit,
            offset=offset,
        )
    return IncidentPage(items=[IncidentOut.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{incident_id}")
async def get_incident(incident_id: DbId, db: DbDep, workspace: WorkspaceDep, state: StateDep) -> IncidentDetail:
    """Stored incident, its workflow run, the Temporal UI link and (while open) the live state."""
    row = await load_incident(db, workspace, incident_id)
    async with db.session() as session:
        parent = (
            await repo.get_incident(session, incident_id=row.parent_incident_id, workspace=workspace)
            if row.parent_incident_id is not None
            else None
        )
        children = await repo.list_children(session, incident_id=row.id)
        aliases = await repo.list_stream_aliases(session, incident_id=row.id)
        latest = await repo.latest_diagnosis(session, incident_id=row.id)
    live: IncidentState | None = None
    note = ""
    if row.status == IncidentStatus.resolved.value:
        note = "run closed: the stored record is authoritative"
    else:
        try:
            client = await state.temporal.client()
            handle = client.get_workflow_handle(row.workflow_id)
            answer = await asyncio.wait_for(
                handle.query("get_state", result_type=IncidentState),
                timeout=state.settings.query_timeout_seconds,
            )
            if answer.incident_id in (None, row.id):
                live = answer
            else:
                note = "the workflow has moved on to a later incident of this stream"
        except (TimeoutError, RPCError, WorkflowQueryFailedError, TemporalUnavailable) as exc:
            # The stored record still answers; the note tells the caller why the live part is missing.
            log.warning("get_state for incident %s failed: %r", row.id, exc)
            note = f"live state unavailable: {type(exc).__name__}"
    return IncidentDetail(
        **IncidentOut.of(row).model_dump(),
        workflow=WorkflowInfo(
            workflow_id=row.workflow_id,
            run_id=row.run_id,
            temporal_ui_url=state.settings.workflow_ui_url(row.workflow_id, row.run_id),
            state=live,
            state_note=note,
        ),
        diagnosis=DiagnosisSummary(
            id=latest.id,
            category=latest.category,
            confidence=latest.confidence,
            root_cause=latest.root_cause,
            summary=latest.summary,
            model=latest.model,
            suggested_actions=list(latest.diagnosis.get("suggested_actions", [])),
            created_at=latest.created_at,
        )
        if latest is not None
        else None,
        parent=_related(parent) if parent is not None else None,
        children=[_related(c) for c in children],
        merged_streams=[
            MergedStream(
                stream_key=a.stream_key, source=a.source, strategy=a.strategy, reason=a.reason, merged_at=a.created_at
            )
            for a in aliases
        ],
    )


class AlertOut(BaseModel):
    """One delivery attached to the incident: where it came from, what it said, and its raw body."""

    id: int
    source: str
    stream_key: str
    lifecycle: str
    state: str
    received_at: datetime
    title: str | None
    severity: str | None
    service: str | None
    fingerprint: str | None
    raw: Any | None = Field(description="the vendor's JSON for this alert (with include_raw=true)")


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


@router.get("/{incident_id}/alerts")
async def list_alerts(
    incident_id: DbId,
    db: DbDep,
    workspace: WorkspaceDep,
    include_raw: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AlertPage:
    """The deliveries counted in the incident (merged streams included), oldest first."""
    row = await load_incident(db, workspace, incident_id)
    async with db.session() as session:
        alerts, total = await repo.list_incident_alerts(session, incident_id=row.id, limit=limit, offset=offset)
    items = []
    for a in alerts:
        normalized = a.normalized or {}
        items.append(
            AlertOut(
                id=a.id,
                source=a.source,
                stream_key=a.stream_key,
                lifecycle=a.lifecycle,
                state=a.state,
                received_at=a.received_at,
                title=normalized.get("title"),
                severity=normalized.get("severity"),
                service=normalized.get("service"),
                fingerprint=normalized.get("fingerprint"),
                raw=a.raw if include_raw else None,
            )
        )
    return AlertPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{incident_id}/timeline")
async def get_timeline(incident_id: DbId, db: DbDep, workspace: WorkspaceDep) -> list[TimelineEventOut]:
    """Every recorded event of the incident, oldest first."""
    row = await load_incident(db, workspace, incident_id)
    async with db.session() as session:
        events = await repo.list_timeline(session, incident_id=row.id)
    return [TimelineEventOut(at=e.at, kind=e.kind, actor=e.actor, message=e.message, data=e.data) for e in events]


@router.get(
    "/{incident_id}/postmortem",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/markdown": {}}},
        404: {"description": "No such incident, or not written yet"},
    },
)
async def get_postmortem(incident_id: DbId, db: DbDep, workspace: WorkspaceDep) -> PlainTextResponse:
    """The postmortem Markdown, written when the incident resolves."""
    row = await load_incident(db, workspace, incident_id)
    if row.postmortem_md is None:
        raise NotFound(f"postmortem of incident {incident_id} (it is written when the incident resolves)")
    return PlainTextResponse(row.postmortem_md, media_type="text/markdown; charset=utf-8")


async def signal_incident(state: StateDep, row: IncidentRow, name: str, arg: BaseModel) -> None:
    """Signal the incident's workflow; a closed run is a 409."""
    client = await state.temporal.client()
    try:
        await client.get_workflow_handle(row.workflow_id).signal(name, arg)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Conflict(f"incident {row.id} has no open workflow run; it is already closed") from exc
        raise


@router.post(
    "/{incident_id}/resolve",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "Already resolved"}},
)
async def resolve_incident(
    incident_id: DbId,
    db: DbDep,
    workspace: WorkspaceDep,
    state: StateDep,
    principal: PrincipalDep,
    body: Annotated[ResolveIn | None, Body()] = None,
) -> CommandAccepted:
    """Ask the incident's workflow to resolve it; the postmortem follows."""
    body = body or ResolveIn()
    row = await load_incident(db, workspace, incident_id)
    if row.status == IncidentStatus.resolved.value:
        raise Conflict(f"incident {incident_id} is already resolved")
    await signal_incident(
        state, row, "resolve", ResolveSignal(by=acting_as(principal, body.by), reason=body.reason, incident_id=row.id)
    )
    return CommandAccepted(incident_id=row.id, status="resolving", detail="the workflow will resolve the incident")


@router.post(
    "/{incident_id}/acknowledge",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "Not open"}},
)
async def acknowledge_incident(
    incident_id: DbId,
    db: DbDep,
    workspace: WorkspaceDep,
    state: StateDep,
    principal: PrincipalDep,
    body: Annotated[AcknowledgeIn | None, Body()] = None,
) -> CommandAccepted:
    """Acknowledge an open incident."""
    body = body or AcknowledgeIn()
    row = await load_incident(db, workspace, incident_id)
    if row.status != IncidentStatus.open.value:
        raise Conflict(f"incident {incident_id} is {row.status}, not open")
    await signal_incident(
        state, row, "acknowledge", AcknowledgeSignal(by=acting_as(principal, body.by), incident_id=row.id)
    )
    return CommandAccepted(incident_id=row.id, status="acknowledging", detail="the workflow will acknowledge it")

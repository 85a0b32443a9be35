"""Repository functions: keyword-only, one session (= one transaction) passed in by the caller."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.storage.orm import (
    ActionLogRow,
    AlertRow,
    ApiKeyRow,
    DeadLetterRow,
    DeployEventRow,
    DiagnosisRow,
    IncidentMetricsRow,
    IncidentRow,
    NotificationLogRow,
    StreamAliasRow,
    TimelineEventRow,
)
from domain.dedup import OpenIncident
from domain.models import Alert, IncidentStatus, Lifecycle, Severity, TimelineKind
from domain.slo import BudgetStatus, IncidentImpact, SlosFile, budget_status

# --- deliveries (alerts table) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewDelivery:
    stream_key: str
    lifecycle: Lifecycle
    raw: Any
    headers: dict[str, str]
    received_at: datetime


async def insert_deliveries(
    session: AsyncSession, *, workspace: str, source: str, deliveries: Sequence[NewDelivery]
) -> list[int]:
    """Store deliveries before Temporal hears of them; returns their ids in order."""
    rows = [
        AlertRow(
            workspace=workspace,
            source=source,
            stream_key=d.stream_key,
            lifecycle=d.lifecycle.value,
            state="received",
            raw=d.raw,
            headers=d.headers,
            received_at=d.received_at,
        )
        for d in deliveries
    ]
    session.add_all(rows)
    await session.flush()
    return [r.id for r in rows]


async def set_delivery_state(session: AsyncSession, *, delivery_ids: Sequence[int], state: str) -> None:
    await session.execute(update(AlertRow).where(AlertRow.id.in_(delivery_ids)).values(state=state))


async def get_delivery(session: AsyncSession, *, delivery_id: int) -> AlertRow | None:
    return await session.get(AlertRow, delivery_id)


async def get_deliveries(session: AsyncSession, *, delivery_ids: Sequence[int]) -> list[AlertRow]:
    result = await session.execute(select(AlertRow).where(AlertRow.id.in_(delivery_ids)).order_by(AlertRow.id))
    return list(result.scalars())


async def attach_deliveries(
    session: AsyncSession,
    *,
    incident_id: int,
    delivery_ids: Sequence[int],
    normalized: dict[int, dict[str, Any]] | None = None,
) -> int:
    """Attach deliveries to an incident and return its alert count (idempotent: derived, not added)."""
    await session.execute(
        update(AlertRow).where(AlertRow.id.in_(delivery_ids)).values(incident_id=incident_id, state="signalled")
    )
    for delivery_id, body in (normalized or {}).items():
        await session.execute(update(AlertRow).where(AlertRow.id == delivery_id).values(normalized=body))
    count = await session.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.incident_id == incident_id))
    await session.execute(update(IncidentRow).where(IncidentRow.id == incident_id).values(alert_count=count))
    return int(count or 0)


async def list_incident_alerts(
    session: AsyncSession, *, incident_id: int, limit: int = 50, offset: int = 0
) -> tuple[list[AlertRow], int]:
    """A page of the deliveries attached to an incident, oldest first, and their total."""
    total = await session.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.incident_id == incident_id))
    rows = await session.execute(
        select(AlertRow).where(AlertRow.incident_id == incident_id).order_by(AlertRow.id).limit(limit).offset(offset)
    )
    return list(rows.scalars()), int(total or 0)


async def alert_stats(
    session: AsyncSession, *, incident_id: int
) -> tuple[dict[Lifecycle, int], datetime | None, datetime | None]:
    """Deliveries by lifecycle, and the first and last receive times."""
    rows = await session.execute(
        select(AlertRow.lifecycle, func.count(), func.min(AlertRow.received_at), func.max(AlertRow.received_at))
        .where(AlertRow.incident_id == incident_id)
        .group_by(AlertRow.lifecycle)
    )
    counts: dict[Lifecycle, int] = {}
    first: datetime | None = None
    last: datetime | None = None
    for lifecycle, n, lo, hi in rows.all():
        counts[Lifecycle(lifecycle)] = int(n)
        first = lo if first is None or (lo and lo < first) else first
        last = hi if last is None or (hi and hi > last) else last
    return counts, first, last


# --- incidents ----------------------------------------------------------------------------------


async def get_incident_for_run(session: AsyncSession, *, workflow_id: str, run_id: str) -> IncidentRow | None:
    result = await session.execute(
        select(IncidentRow).where(IncidentRow.workflow_id == workflow_id, IncidentRow.run_id == run_id)
    )
    return result.scalar_one_or_none()


async def create_incident(
    session: AsyncSession,
    *,
    workspace: str,
    stream_key: str,
    workflow_id: str,
    run_id: str,
    alert: Alert,
    opened_at: datetime,
    previous_incident_id: int | None,
    parent_incident_id: int | None = None,
) -> IncidentRow:
    row = IncidentRow(
        workspace=workspace,
        stream_key=stream_key,
        workflow_id=workflow_id,
        run_id=run_id,
        title=alert.title,
        description=alert.description,
        source=alert.source,
        service=alert.service,
        namespace=alert.namespace,
        severity=alert.severity.value,
        status=IncidentStatus.open.value,
        fingerprint=alert.fingerprint,
        labels=dict(alert.labels),
        links=dict(alert.links),
        alert_count=0,
        opened_at=opened_at,
        started_at=alert.started_at if alert.started_at and alert.started_at <= opened_at else None,
        previous_incident_id=previous_incident_id,
        parent_incident_id=parent_incident_id,
        resolution_reason="",
    )
    session.add(row)
    await session.flush()
    return row


async def get_incident(session: AsyncSession, *, incident_id: int, workspace: str | None = None) -> IncidentRow | None:
    row = await session.get(IncidentRow, incident_id)
    if row is None or (workspace is not None and row.workspace != workspace):
        return None
    return row


async def last_incident_for_stream(session: AsyncSession, *, workspace: str, stream_key: str) -> IncidentRow | None:
    """The newest incident the stream opened, or was merged into by deduplication."""
    aliased = select(StreamAliasRow.incident_id).where(
        StreamAliasRow.workspace == workspace, StreamAliasRow.stream_key == stream_key
    )
    result = await session.execute(
        select(IncidentRow)
        .where(
            IncidentRow.workspace == workspace,
            or_(IncidentRow.stream_key == stream_key, IncidentRow.id.in_(aliased)),
        )
        .order_by(IncidentRow.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


# --- deduplication and grouping -----------------------------------------------------------------


async def lock_workspace_for_dedup(session: AsyncSession, *, workspace: str) -> None:
    """Serialize dedup decisions of one workspace until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the session already began with
    BEGIN IMMEDIATE, which holds the database's single write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"dedup:{workspace}".encode()).digest()[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def open_incident_candidates(session: AsyncSession, *, workspace: str, limit: int = 500) -> list[OpenIncident]:
    """The workspace's unresolved incidents (newest `limit`) with the sources and fingerprints they hold."""
    rows = list(
        (
            await session.execute(
                select(IncidentRow)
                .where(IncidentRow.workspace == workspace, IncidentRow.status != IncidentStatus.resolved.value)
                .order_by(IncidentRow.id.desc())
                .limit(limit)
            )
        ).scalars()
    )
    if not rows:
        return []
    aliases = (
        await session.execute(
            select(StreamAliasRow.incident_id, StreamAliasRow.source, StreamAliasRow.fingerprint).where(
                StreamAliasRow.incident_id.in_([r.id for r in rows])
            )
        )
    ).all()
    out = []
    for row in rows:
        sources = {row.source} | {src for inc, src, _ in aliases if inc == row.id}
        prints = {row.fingerprint} | {fp for inc, _, fp in aliases if inc == row.id}
        out.append(
            OpenIncident(
                incident_id=row.id,
                workflow_id=row.workflow_id,
                title=row.title,
                service=row.service,
                namespace=row.namespace,
                severity=Severity(row.severity),
                opened_at=row.opened_at,
                sources=sorted(sources),
                fingerprints=sorted(fp for fp in prints if fp),
                parent_incident_id=row.parent_incident_id,
            )
        )
    return out


async def add_stream_alias(
    session: AsyncSession,
    *,
    workspace: str,
    stream_key: str,
    incident_id: int,
    source: str,
    fingerprint: str | None,
    strategy: str,
    reason: str,
    at: datetime,
) -> None:
    """Record that a stream now feeds another stream's incident (idempotent)."""
    exists = await session.scalar(
        select(StreamAliasRow.id).where(
            StreamAliasRow.workspace == workspace,
            StreamAliasRow.stream_key == stream_key,
            StreamAliasRow.incident_id == incident_id,
        )
    )
    if exists is None:
        session.add(
            StreamAliasRow(
                workspace=workspace,
                stream_key=stream_key,
                incident_id=incident_id,
                source=source,
                fingerprint=fingerprint,
                strategy=strategy,
                reason=reason,
                created_at=at,
            )
        )
        await session.flush()


async def open_alias_target(session: AsyncSession, *, workspace: str, stream_key: str) -> IncidentRow | None:
    """The open incident a deduplicated stream feeds, if any (the gateway routes deliveries there)."""
    result = await session.execute(
        select(IncidentRow)
        .join(StreamAliasRow, StreamAliasRow.incident_id == IncidentRow.id)
        .where(
            StreamAliasRow.workspace == workspace,
            StreamAliasRow.stream_key == stream_key,
            IncidentRow.status != IncidentStatus.resolved.value,
        )
        .order_by(IncidentRow.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def open_alias_routes(session: AsyncSession, *, workspace: str, stream_keys: Sequence[str]) -> dict[str, str]:
    """For streams merged into an open incident: stream key -> that incident's workflow id (one query)."""
    if not stream_keys:
        return {}
    rows = await session.execute(
        select(StreamAliasRow.stream_key, IncidentRow.workflow_id)
        .join(IncidentRow, StreamAliasRow.incident_id == IncidentRow.id)
        .where(
            StreamAliasRow.workspace == workspace,
            StreamAliasRow.stream_key.in_(list(stream_keys)),
            IncidentRow.status != IncidentStatus.resolved.value,
        )
        .order_by(IncidentRow.id)
    )
    return {key: workflow_id for key, workflow_id in rows.all()}  # noqa: C416 - newest incident wins (ordered by id)


async def list_stream_aliases(session: AsyncSession, *, incident_id: int) -> list[StreamAliasRow]:
    result = await session.execute(
        select(StreamAliasRow).where(StreamAliasRow.incident_id == incident_id).order_by(StreamAliasRow.id)
    )
    return list(result.scalars())


async def list_children(session: AsyncSession, *, incident_id: int) -> list[IncidentRow]:
    result = await session.execute(
        select(IncidentRow).where(IncidentRow.parent_incident_id == incident_id).order_by(IncidentRow.id)
    )
    return list(result.scalars())


async def list_incidents(
    session: AsyncSession,
    *,
    workspace: str,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[IncidentRow], int]:
    """A page of incidents, newest first, and the total that match the filters."""
    conditions = [IncidentRow.workspace == workspace]
    if status:
        conditions.append(IncidentRow.status == status)
    if severity:
        conditions.append(IncidentRow.severity == severity)
    if service:
        conditions.append(IncidentRow.service == service)
    total = await session.scalar(select(func.count()).select_from(IncidentRow).where(*conditions))
    rows = await session.execute(
        select(IncidentRow).where(*conditions).order_by(IncidentRow.id.desc()).limit(limit).offset(offset)
    )
    return list(rows.scalars()), int(total or 0)


async def set_incident_status(
    session: AsyncSession,
    *,
    incident: IncidentRow,
    status: IncidentStatus,
    at: datetime,
    actor: str,
    reason: str,
) -> bool:
    """Move the incident to `status`; returns False when it already was (a retried activity)."""
    if incident.status == status.value or incident.status == IncidentStatus.resolved.value:
        return False
    incident.status = status.value
    if status is IncidentStatus.acknowledged:
        incident.acknowledged_at = at
        incident.acknowledged_by = actor
    elif status is IncidentStatus.resolved:
        incident.resolved_at = at
        incident.resolved_by = actor
        incident.resolution_reason = reason
    await session.flush()
    return True


async def save_postmortem(session: AsyncSession, *, incident: IncidentRow, markdown: str, at: datetime) -> None:
    incident.postmortem_md = markdown
    incident.postmortem_at = at
    await session.flush()


async def save_metrics(session: AsyncSession, *, incident: IncidentRow, at: datetime) -> IncidentMetricsRow:
    """Compute and upsert MTTA/MTTR inputs for one incident."""
    row = await session.get(IncidentMetricsRow, incident.id)
    if row is None:
        row = IncidentMetricsRow(incident_id=incident.id)
        session.add(row)
    row.workspace = incident.workspace
    row.service = incident.service
    row.severity = incident.severity
    row.alert_count = incident.alert_count
    row.seconds_to_acknowledge = (
        int((incident.acknowledged_at - incident.opened_at).total_seconds()) if incident.acknowledged_at else None
    )
    row.seconds_to_resolve = (
        int((incident.resolved_at - incident.opened_at).total_seconds()) if incident.resolved_at else None
    )
    row.computed_at = at
    await session.flush()
    return row


# --- timeline, actions, dead letters ------------------------------------------------------------


async def add_timeline_event(
    session: AsyncSession,
    *,
    incident_id: int,
    at: datetime,
    kind: TimelineKind,
    actor: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        TimelineEventRow(incident_id=incident_id, at=at, kind=kind.value, actor=actor, message=message, data=data or {})
    )
    await session.flush()


async def timeline_has(session: AsyncSession, *, incident_id: int, kind: TimelineKind, marker: str) -> bool:
    """True when an event of `kind` carrying data.marker == marker exists (retry-safe inserts)."""
    result = await session.execute(
        select(TimelineEventRow).where(TimelineEventRow.incident_id == incident_id, TimelineEventRow.kind == kind.value)
    )
    return any(row.data.get("marker") == marker for row in result.scalars())


async def list_timeline(session: AsyncSession, *, incident_id: int) -> list[TimelineEventRow]:
    result = await session.execute(
        select(TimelineEventRow)
        .where(TimelineEventRow.incident_id == incident_id)
        .order_by(TimelineEventRow.at, TimelineEventRow.id)
    )
    return list(result.scalars())


async def incident_impacts(
    session: AsyncSession, *, workspace: str, service: str, since: datetime
) -> list[IncidentRow]:
    """The service's incidents still open or resolved after `since` (for error-budget math)."""
    rows = await session.execute(
        select(IncidentRow).where(
            IncidentRow.workspace == workspace,
            IncidentRow.service == service,
            or_(IncidentRow.resolved_at.is_(None), IncidentRow.resolved_at >= since),
        )
    )
    return list(rows.scalars())


async def error_budget(
    session: AsyncSession, *, slos: SlosFile, workspace: str, service: str | None, now: datetime
) -> BudgetStatus | None:
    """The service's error budget from its incidents, or None when it has no SLO (the rule abstains)."""
    slo = slos.for_service(service=service, workspace=workspace) if service else None
    if slo is None or service is None:
        return None
    rows = await incident_impacts(
        session, workspace=workspace, service=service, since=now - timedelta(days=slo.window_days)
    )
    impacts = [
        IncidentImpact(
            started_at=r.started_at or r.opened_at, resolved_at=r.resolved_at, severity=r.severity, service=service
        )
        for r in rows
    ]
    return budget_status(slo, impacts, now)


async def get_action_log(session: AsyncSession, *, idempotency_key: str) -> ActionLogRow | None:
    return await session.scalar(select(ActionLogRow).where(ActionLogRow.idempotency_key == idempotency_key))


async def upsert_action_log(
    session: AsyncSession, *, idempotency_key: str, at: datetime, **fields: Any
) -> ActionLogRow:
    """Create the action's row (the intent) or update it; one row per idempotency key."""
    row = await get_action_log(session, idempotency_key=idempotency_key)
    if row is None:
        row = ActionLogRow(idempotency_key=idempotency_key, created_at=at, updated_at=at, **fields)
        session.add(row)
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = at
    await session.flush()
    return row


async def list_actions(session: AsyncSession, *, incident_id: int) -> list[ActionLogRow]:
    result = await session.execute(
        select(ActionLogRow).where(ActionLogRow.incident_id == incident_id).order_by(ActionLogRow.created_at)
    )
    return list(result.scalars())


async def dead_letter_for_delivery(session: AsyncSession, *, delivery_id: int) -> DeadLetterRow | None:
    result = await session.execute(select(DeadLetterRow).where(DeadLetterRow.alert_id == delivery_id))
    return result.scalar_one_or_none()


async def insert_dead_letter(
    session: AsyncSession,
    *,
    workspace: str,
    source: str,
    delivery_id: int | None,
    raw: Any,
    reason: str,
    at: datetime,
) -> DeadLetterRow:
    row = DeadLetterRow(workspace=workspace, source=source, alert_id=delivery_id, raw=raw, reason=reason, created_at=at)
    session.add(row)
    await session.flush()
    return row


async def record_late_deliveries(
    session: AsyncSession,
    *,
    workspace: str,
    stream_key: str,
    delivery_ids: Sequence[int],
    lifecycle: Lifecycle,
    at: datetime,
) -> int | None:
    """Acknowledge/resolve deliveries with no open run: record them on the stream's last incident.

    Returns that incident's id, or None when the stream never had one (nothing is created: a late
    "resolved" must never open a phantom incident).
    """
    last = await last_incident_for_stream(session, workspace=workspace, stream_key=stream_key)
    if last is None:
        await set_delivery_state(session, delivery_ids=delivery_ids, state="orphaned")
        return None
    await attach_deliveries(session, incident_id=last.id, delivery_ids=delivery_ids)
    marker = f"late:{min(delivery_ids)}"
    if not await timeline_has(session, incident_id=last.id, kind=TimelineKind.late_event, marker=marker):
        await add_timeline_event(
            session,
            incident_id=last.id,
            at=at,
            kind=TimelineKind.late_event,
            actor="gateway",
            message=f"{len(delivery_ids)} {lifecycle.value} alert(s) received after the incident closed",
            data={"marker": marker, "delivery_ids": list(delivery_ids)},
        )
    return last.id


async def list_dead_letters(
    session: AsyncSession,
    *,
    workspace: str,
    source: str | None = None,
    pending_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DeadLetterRow], int]:
    """A page of dead letters, newest first, and the total that match."""
    conditions = [DeadLetterRow.workspace == workspace]
    if source:
        conditions.append(DeadLetterRow.source == source)
    if pending_only:
        conditions.append(DeadLetterRow.redriven_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(DeadLetterRow).where(*conditions))
    rows = await session.execute(
        select(DeadLetterRow).where(*conditions).order_by(DeadLetterRow.id.desc()).limit(limit).offset(offset)
    )
    return list(rows.scalars()), int(total or 0)


async def get_dead_letter(session: AsyncSession, *, dead_letter_id: int, workspace: str) -> DeadLetterRow | None:
    row = await session.get(DeadLetterRow, dead_letter_id)
    if row is None or row.workspace != workspace:
        return None
    return row


# --- deploy events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewDeploy:
    service: str
    version: str | None
    namespace: str | None
    environment: str | None
    commit: str | None
    author: str | None
    status: str
    url: str | None
    description: str
    origin: str
    external_id: str | None
    deployed_at: datetime


async def insert_deploy(
    session: AsyncSession, *, workspace: str, deploy: NewDeploy, at: datetime
) -> tuple[DeployEventRow, bool]:
    """Store a deploy; a repeat of the same external id returns the stored row and False."""
    if deploy.external_id is not None:
        existing = await session.scalar(
            select(DeployEventRow).where(
                DeployEventRow.workspace == workspace,
                DeployEventRow.origin == deploy.origin,
                DeployEventRow.external_id == deploy.external_id,
            )
        )
        if existing is not None:
            return existing, False
    row = DeployEventRow(workspace=workspace, received_at=at, **{f: getattr(deploy, f) for f in NewDeploy.__slots__})
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # A concurrent retry of the same deployment won the insert.
        existing = await session.scalar(
            select(DeployEventRow).where(
                DeployEventRow.workspace == workspace,
                DeployEventRow.origin == deploy.origin,
                DeployEventRow.external_id == deploy.external_id,
            )
        )
        if existing is None:
            raise
        return existing, False
    return row, True


async def list_deploys(
    session: AsyncSession,
    *,
    workspace: str,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[DeployEventRow]:
    """Deploys newest first, optionally for one service and a time range."""
    conditions = [DeployEventRow.workspace == workspace]
    if service:
        conditions.append(DeployEventRow.service == service)
    if since:
        conditions.append(DeployEventRow.deployed_at >= since)
    if until:
        conditions.append(DeployEventRow.deployed_at <= until)
    rows = await session.execute(
        select(DeployEventRow).where(*conditions).order_by(DeployEventRow.deployed_at.desc()).limit(limit)
    )
    return list(rows.scalars())


# --- diagnoses ----------------------------------------------------------------------------------


async def get_diagnosis_by_key(session: AsyncSession, *, request_key: str) -> DiagnosisRow | None:
    return await session.scalar(select(DiagnosisRow).where(DiagnosisRow.request_key == request_key))


async def insert_diagnosis(session: AsyncSession, *, row: DiagnosisRow) -> DiagnosisRow:
    session.add(row)
    await session.flush()
    return row


async def list_diagnoses(session: AsyncSession, *, incident_id: int) -> list[DiagnosisRow]:
    """Every diagnosis of the incident, oldest first."""
    rows = await session.execute(
        select(DiagnosisRow).where(DiagnosisRow.incident_id == incident_id).order_by(DiagnosisRow.id)
    )
    return list(rows.scalars())


async def get_diagnosis(session: AsyncSession, *, diagnosis_id: int, incident_id: int) -> DiagnosisRow | None:
    row = await session.get(DiagnosisRow, diagnosis_id)
    return row if row is not None and row.incident_id == incident_id else None


async def latest_diagnosis(session: AsyncSession, *, incident_id: int) -> DiagnosisRow | None:
    return await session.scalar(
        select(DiagnosisRow).where(DiagnosisRow.incident_id == incident_id).order_by(DiagnosisRow.id.desc()).limit(1)
    )


async def past_incidents(
    session: AsyncSession, *, workspace: str, service: str | None, exclude_id: int | None, limit: int = 200
) -> list[tuple[IncidentRow, DiagnosisRow | None]]:
    """Resolved incidents of the workspace (the service's first), newest first, with their last diagnosis."""
    conditions = [IncidentRow.workspace == workspace, IncidentRow.status == IncidentStatus.resolved.value]
    if exclude_id is not None:
        conditions.append(IncidentRow.id != exclude_id)
    query = select(IncidentRow).where(*conditions)
    if service:
        query = query.order_by((IncidentRow.service == service).desc(), IncidentRow.id.desc())
    else:
        query = query.order_by(IncidentRow.id.desc())
    incidents = list((await session.execute(query.limit(limit))).scalars())
    latest: dict[int, DiagnosisRow] = {}
    if incidents:
        diagnoses = await session.execute(
            select(DiagnosisRow)
            .where(DiagnosisRow.incident_id.in_([i.id for i in incidents]))
            .order_by(DiagnosisRow.id)
        )
        latest = {d.incident_id: d for d in diagnoses.scalars()}  # ordered by id: the last one wins
    return [(incident, latest.get(incident.id)) for incident in incidents]


# --- notifications ---------------------------------------------------------------------------------


async def get_notification(session: AsyncSession, *, scope: str, key: str, channel: str) -> NotificationLogRow | None:
    result = await session.execute(
        select(NotificationLogRow).where(
            NotificationLogRow.scope == scope, NotificationLogRow.key == key, NotificationLogRow.channel == channel
        )
    )
    return result.scalar_one_or_none()


async def record_notification(
    session: AsyncSession,
    *,
    scope: str,
    workspace: str,
    incident_id: int | None,
    event: str,
    key: str,
    channel: str,
    status: str,
    at: datetime,
    ref: dict[str, Any] | None = None,
    error: str | None = None,
) -> NotificationLogRow:
    """Insert or update the one row of (scope, key, channel); attempts counts sends and failures."""
    row = await get_notification(session, scope=scope, key=key, channel=channel)
    if row is None:
        row = NotificationLogRow(
            scope=scope,
            workspace=workspace,
            incident_id=incident_id,
            event=event,
            key=key,
            channel=channel,
            status=status,
            ref=ref or {},
            error=error,
            attempts=0,
            created_at=at,
            updated_at=at,
        )
        session.add(row)
    row.status = status
    if ref is not None:
        row.ref = ref
    row.error = error
    if status in ("sent", "failed"):
        row.attempts = (row.attempts or 0) + 1
    row.updated_at = at
    await session.flush()
    return row


async def card_ref(session: AsyncSession, *, scope: str, channel: str) -> dict[str, Any] | None:
    """The message later events update: the newest one sent on this channel that left a reference (a channel
    returns one only when it created a card or thread, e.g. again after someone deleted the card)."""
    result = await session.execute(
        select(NotificationLogRow)
        .where(
            NotificationLogRow.scope == scope,
            NotificationLogRow.channel == channel,
            NotificationLogRow.status == "sent",
        )
        .order_by(NotificationLogRow.id.desc())
    )
    return next((row.ref for row in result.scalars() if row.ref), None)


async def list_notifications(session: AsyncSession, *, incident_id: int) -> list[NotificationLogRow]:
    result = await session.execute(
        select(NotificationLogRow).where(NotificationLogRow.incident_id == incident_id).order_by(NotificationLogRow.id)
    )
    return list(result.scalars())


# --- API keys --------------------------------------------------------------------------------------


async def add_api_key(session: AsyncSession, *, row: ApiKeyRow) -> ApiKeyRow:
    session.add(row)
    await session.flush()
    return row


async def get_api_key(session: AsyncSession, *, key_id: str) -> ApiKeyRow | None:
    result = await session.execute(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
    return result.scalar_one_or_none()


async def list_api_keys(session: AsyncSession, *, workspace: str) -> list[ApiKeyRow]:
    result = await session.execute(select(ApiKeyRow).where(ApiKeyRow.workspace == workspace).order_by(ApiKeyRow.id))
    return list(result.scalars())


async def any_api_key(session: AsyncSession) -> bool:
    """True once any key was ever created (revoked ones count: dev mode never comes back)."""
    result = await session.execute(select(ApiKeyRow.id).limit(1))
    return result.first() is not None

"""Read-only reporting queries (the daily digest). Portable SQL: the same statements run on SQLite and PostgreSQL.

Durations are computed in Python from the two timestamps: date arithmetic in SQL differs per backend
(julianday vs. EXTRACT(EPOCH ...)), and a day's incidents are few.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.storage.orm import ActionLogRow, AlertRow, IncidentRow, NotificationLogRow
from domain.actions import describe_params
from domain.digest import Digest, DigestIncident, NoisyAlert, PendingApproval
from domain.models import IncidentStatus, Lifecycle, Severity

INCIDENTS_LISTED = 20
NOISIEST_LISTED = 5
# action_logs statuses that mean the change is in place (already_applied: found on the provider on a retry).
EXECUTED = ("succeeded", "already_applied")


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _seconds(pairs: Sequence[Any]) -> list[float]:
    return [(later - earlier).total_seconds() for earlier, later in pairs if earlier is not None and later is not None]


async def build_digest(
    session: AsyncSession,
    *,
    workspace: str,
    start: datetime,
    end: datetime,
    now: datetime,
    approval_timeout: timedelta | None = None,
) -> Digest:
    """The workspace's digest for [start, end); pending approvals are as of `now`.

    `approval_timeout` (the workflow's approval window) gives each pending approval its expiry; one whose
    window closed before `now` is left out (its workflow is about to record the expiry).
    """
    if start.tzinfo is None or end.tzinfo is None or now.tzinfo is None:
        raise ValueError("build_digest needs timezone-aware datetimes")
    if start >= end:
        raise ValueError("the digest period is empty (start must be before end)")
    in_ws = IncidentRow.workspace == workspace

    def within(column: Any) -> Any:
        return and_(column >= start, column < end)

    opened = int(
        await session.scalar(select(func.count(IncidentRow.id)).where(in_ws, within(IncidentRow.opened_at))) or 0
    )
    resolved_pairs = (
        await session.execute(
            select(IncidentRow.opened_at, IncidentRow.resolved_at).where(in_ws, within(IncidentRow.resolved_at))
        )
    ).all()
    acked_pairs = (
        await session.execute(
            select(IncidentRow.opened_at, IncidentRow.acknowledged_at).where(in_ws, within(IncidentRow.acknowledged_at))
        )
    ).all()
    # Open at `end` by the timestamps, not today's status: a digest re-run for a past period must not change.
    still_open = int(
        await session.scalar(
            select(func.count(IncidentRow.id)).where(
                in_ws,
                IncidentRow.opened_at < end,
                or_(IncidentRow.resolved_at.is_(None), IncidentRow.resolved_at >= end),
            )
        )
        or 0
    )
    severity_rows = (
        await session.execute(
            select(IncidentRow.severity, func.count(IncidentRow.id))
            .where(in_ws, within(IncidentRow.opened_at))
            .group_by(IncidentRow.severity)
        )
    ).all()
    by_severity = {Severity(sev): int(n) for sev, n in severity_rows}

    actions_executed = int(
        await session.scalar(
            select(func.count(ActionLogRow.id))
            .join(IncidentRow, ActionLogRow.incident_id == IncidentRow.id)
            .where(in_ws, ActionLogRow.status.in_(EXECUTED), within(ActionLogRow.updated_at))
        )
        or 0
    )

    incidents = [
        DigestIncident(
            incident_id=row.id,
            title=row.title,
            service=row.service,
            severity=Severity(row.severity),
            status=row.status,
            opened_at=row.opened_at,
            resolved_at=row.resolved_at,
            alert_count=row.alert_count,
        )
        for row in (
            await session.execute(
                select(IncidentRow)
                .where(in_ws, within(IncidentRow.opened_at))
                .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
                .limit(INCIDENTS_LISTED)
            )
        ).scalars()
    ]

    return Digest(
        workspace=workspace,
        period_start=start,
        period_end=end,
        opened=opened,
        resolved=len(resolved_pairs),
        still_open=still_open,
        by_severity=by_severity,
        mttr_seconds=_mean(_seconds(resolved_pairs)),
        mtta_seconds=_mean(_seconds(acked_pairs)),
        actions_executed=actions_executed,
        held_notifications=await _held(session, workspace=workspace, start=start, end=end),
        incidents=incidents,
        noisiest=await _noisiest(session, workspace=workspace, start=start, end=end),
        pending_approvals=await _pending(session, workspace=workspace, now=now, approval_timeout=approval_timeout),
    )


async def _noisiest(session: AsyncSession, *, workspace: str, start: datetime, end: datetime) -> list[NoisyAlert]:
    """Firing deliveries in the period per alert title (the delivery's own, else its incident's)."""
    # The title comes from each delivery's normalized alert: deliveries deduplicated into another
    # stream's incident keep their own title. JSON paths compile per backend (json_extract / ->>).
    # Grouping happens over a labelled subquery: PostgreSQL refuses GROUP BY on an expression whose
    # bound JSON-path parameter differs from the SELECT's.
    own_title = AlertRow.normalized["title"].as_string()
    per_delivery = (
        select(
            func.coalesce(own_title, IncidentRow.title).label("title"),
            # Title and service from the same place: a delivery without a service is not the incident's.
            case((own_title.is_(None), IncidentRow.service), else_=AlertRow.normalized["service"].as_string()).label(
                "service"
            ),
            AlertRow.source.label("source"),
            AlertRow.incident_id.label("incident_id"),
        )
        .join(IncidentRow, AlertRow.incident_id == IncidentRow.id)
        .where(
            AlertRow.workspace == workspace,
            IncidentRow.workspace == workspace,
            AlertRow.lifecycle == Lifecycle.firing.value,
            AlertRow.received_at >= start,
            AlertRow.received_at < end,
        )
        .subquery()
    )
    deliveries = func.count().label("deliveries")
    incidents = func.count(distinct(per_delivery.c.incident_id)).label("incidents")
    rows = (
        await session.execute(
            select(per_delivery.c.title, per_delivery.c.service, per_delivery.c.source, deliveries, incidents)
            .group_by(per_delivery.c.title, per_delivery.c.service, per_delivery.c.source)
            .order_by(deliveries.desc(), incidents.desc(), per_delivery.c.title)
            .limit(NOISIEST_LISTED)
        )
    ).all()
    return [
        NoisyAlert(title=title, service=service, source=source, deliveries=int(n), incidents=int(k))
        for title, service, source, n, k in rows
    ]


async def _pending(
    session: AsyncSession, *, workspace: str, now: datetime, approval_timeout: timedelta | None
) -> list[PendingApproval]:
    """Actions waiting for a verdict on the workspace's unresolved incidents, oldest first."""
    rows = (
        await session.execute(
            select(ActionLogRow)
            .join(IncidentRow, ActionLogRow.incident_id == IncidentRow.id)
            .where(
                IncidentRow.workspace == workspace,
                IncidentRow.status != IncidentStatus.resolved.value,
                ActionLogRow.status == "pending_approval",
            )
            .order_by(ActionLogRow.created_at, ActionLogRow.id)
        )
    ).scalars()
    out = []
    for row in rows:
        # The workflow opens the window right after the policy activity recorded the row (created_at),
        # so this expiry is at most a moment early, never late.
        expires_at = row.created_at + approval_timeout if approval_timeout is not None else None
        if expires_at is not None and expires_at <= now:
            continue
        out.append(
            PendingApproval(
                incident_id=row.incident_id,
                action_id=row.action_id,
                action=row.action,
                description=describe_params(row.params or {}),
                requested_by=row.requested_by,
                requested_at=row.created_at,
                expires_at=expires_at,
            )
        )
    return out


async def _held(session: AsyncSession, *, workspace: str, start: datetime, end: datetime) -> int:
    """Events quiet hours held back in the period (one event held on three channels counts once)."""
    events = (
        select(NotificationLogRow.scope, NotificationLogRow.key)
        .where(
            NotificationLogRow.workspace == workspace,
            NotificationLogRow.status == "held",
            NotificationLogRow.created_at >= start,
            NotificationLogRow.created_at < end,
        )
        .distinct()
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(events)) or 0)

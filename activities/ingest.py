"""Ingest activities: normalize stored deliveries, open the incident, attach repeats, move status."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.alert_sources import SourceRegistry, source_for
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from adapters.storage.orm import AlertRow, IncidentRow
from domain.dedup import DedupDecision, DedupStrategy, find_duplicate, pick_parent
from domain.models import (
    Alert,
    AttachAlertsInput,
    AttachAlertsResult,
    IncidentRecord,
    IncidentStatus,
    Lifecycle,
    NormalizationError,
    NormalizeAlertInput,
    NormalizedAlertResult,
    RecordIncidentInput,
    RecordOrphansInput,
    Severity,
    TimelineKind,
    UpdateIncidentStatusInput,
)
from domain.settings import Settings, WorkspaceDirectory


class IngestActivities:
    """Activities over the alerts/incidents tables; every one is safe to retry."""

    def __init__(
        self,
        *,
        db: Database,
        sources: SourceRegistry,
        settings: Settings,
        workspaces: WorkspaceDirectory | None = None,
    ) -> None:
        self._db = db
        self._sources = sources
        self._settings = settings
        self._workspaces = workspaces or WorkspaceDirectory(settings.config_dir)

    def _normalize_row(self, row: AlertRow) -> NormalizedAlertResult:
        if row.source not in self._sources:
            return NormalizedAlertResult(delivery_id=row.id, reason=f"unknown source {row.source!r}")
        try:
            source = source_for(self._sources, row.source, self._workspaces.get(row.workspace))
            alert = source.normalize(row.raw)
        except NormalizationError as exc:
            return NormalizedAlertResult(delivery_id=row.id, reason=str(exc))
        return NormalizedAlertResult(delivery_id=row.id, alert=alert)

    async def _dead_letter(self, session: AsyncSession, row: AlertRow, reason: str) -> int:
        existing = await repo.dead_letter_for_delivery(session, delivery_id=row.id)
        if existing is not None:
            return existing.id
        await repo.set_delivery_state(session, delivery_ids=[row.id], state="dead_lettered")
        letter = await repo.insert_dead_letter(
            session,
            workspace=row.workspace,
            source=row.source,
            delivery_id=row.id,
            raw=row.raw,
            reason=reason,
            at=datetime.now(UTC),
        )
        return letter.id

    @activity.defn(name="normalize_alert")
    async def normalize_alert(self, inp: NormalizeAlertInput) -> NormalizedAlertResult:
        """Normalize one stored delivery; an unusable body becomes a dead letter with the reason."""
        async with self._db.session() as session:
            row = await repo.get_delivery(session, delivery_id=inp.delivery_id)
            if row is None:
                raise ApplicationError(f"delivery {inp.delivery_id} does not exist", non_retryable=True)
            result = self._normalize_row(row)
            if result.alert is None:
                result.dead_letter_id = await self._dead_letter(session, row, result.reason or "unknown")
                activity.logger.warning("delivery %s dead-lettered: %s", row.id, result.reason)
            else:
                row.normalized = result.alert.model_dump(mode="json")
            return result

    async def _attach(self, session: AsyncSession, incident_id: int, delivery_ids: list[int]) -> int:
        """Normalize and attach deliveries; ones that cannot be normalized become dead letters."""
        rows = await repo.get_deliveries(session, delivery_ids=delivery_ids)
        good: dict[int, dict[str, object]] = {}
        for row in rows:
            if row.normalized is not None:
                good[row.id] = row.normalized
                continue
            result = self._normalize_row(row)
            if result.alert is None:
                await self._dead_letter(session, row, result.reason or "unknown")
            else:
                good[row.id] = result.alert.model_dump(mode="json")
        return await repo.attach_deliveries(session, incident_id=incident_id, delivery_ids=list(good), normalized=good)

    @activity.defn(name="record_incident")
    async def record_incident(self, inp: RecordIncidentInput) -> IncidentRecord:
        """Open this run's incident, or merge the alert into an open duplicate (decided under a lock).

        Retry-safe: a run records at most one incident, and a merge is recognised on retry because the
        run's first delivery is already attached to the surviving incident.
        """
        async with self._db.session() as session:
            row = await repo.get_incident_for_run(session, workflow_id=inp.workflow_id, run_id=inp.run_id)
            if row is not None:
                return self._record(row)
            first = await repo.get_delivery(session, delivery_id=inp.delivery_ids[0])
            if first is not None and first.incident_id is not None:
                survivor = await repo.get_incident(session, incident_id=first.incident_id)
                if survivor is not None and survivor.workflow_id != inp.workflow_id:
                    return self._record(survivor, merged=f"merged into incident #{survivor.id}")

            await repo.lock_workspace_for_dedup(session, workspace=inp.workspace)
            config = self._workspaces.get(inp.workspace)
            # A stale open incident of this very stream (its run was terminated) is not a duplicate target.
            candidates = [
                c
                for c in await repo.open_incident_candidates(session, workspace=inp.workspace)
                if c.workflow_id != inp.workflow_id
            ]
            decision = await self._alias_decision(session, inp) or find_duplicate(
                inp.alert, candidates, config.dedup, now=inp.opened_at
            )
            if decision is not None:
                return await self._merge(session, inp, decision)

            previous_id = inp.previous_incident_id
            if previous_id is None:
                # A new run on a known stream is a recurrence of the stream's last incident.
                previous = await repo.last_incident_for_stream(
                    session, workspace=inp.workspace, stream_key=inp.stream_key
                )
                previous_id = previous.id if previous is not None else None
            group = pick_parent(inp.alert, candidates, config.grouping, now=inp.opened_at)
            row = await repo.create_incident(
                session,
                workspace=inp.workspace,
                stream_key=inp.stream_key,
                workflow_id=inp.workflow_id,
                run_id=inp.run_id,
                alert=inp.alert,
                opened_at=inp.opened_at,
                previous_incident_id=previous_id,
                parent_incident_id=group.parent_incident_id if group else None,
            )
            count = await self._attach(session, row.id, inp.delivery_ids)
            recurrence = f" (recurrence of incident #{previous_id})" if previous_id else ""
            await repo.add_timeline_event(
                session,
                incident_id=row.id,
                at=inp.opened_at,
                kind=TimelineKind.incident_opened,
                actor=inp.alert.source,
                message=f"Incident opened: {inp.alert.title}{recurrence}",
                data={"severity": inp.alert.severity.value, "service": inp.alert.service},
            )
            await repo.add_timeline_event(
                session,
                incident_id=row.id,
                at=inp.opened_at,
                kind=TimelineKind.alert_received,
                actor=inp.alert.source,
                message=f"{count} firing alert(s) received",
                data={"marker": f"attach:{min(inp.delivery_ids)}", "count": count},
            )
            if group is not None:
                for incident_id, message in (
                    (row.id, f"Grouped under incident #{group.parent_incident_id}: {group.reason}"),
                    (group.parent_incident_id, f"Related incident #{row.id} grouped here: {inp.alert.title}"),
                ):
                    await repo.add_timeline_event(
                        session,
                        incident_id=incident_id,
                        at=inp.opened_at,
                        kind=TimelineKind.grouped,
                        actor="aisre",
                        message=message,
                        data={"parent": group.parent_incident_id, "child": row.id},
                    )
            return self._record(row)

    async def _alias_decision(self, session: AsyncSession, inp: RecordIncidentInput) -> DedupDecision | None:
        """A stream already merged into an open incident keeps feeding it (the gateway may not know yet)."""
        target = await repo.open_alias_target(session, workspace=inp.workspace, stream_key=inp.stream_key)
        if target is None or target.workflow_id == inp.workflow_id:
            return None
        return DedupDecision(
            incident_id=target.id,
            workflow_id=target.workflow_id,
            strategy=DedupStrategy.fingerprint,
            reason=f"stream {inp.stream_key} was already merged into incident #{target.id}",
        )

    async def _merge(self, session: AsyncSession, inp: RecordIncidentInput, decision: DedupDecision) -> IncidentRecord:
        survivor = await repo.get_incident(session, incident_id=decision.incident_id)
        if survivor is None:
            raise ApplicationError(f"incident {decision.incident_id} vanished during dedup", non_retryable=False)
        await repo.add_stream_alias(
            session,
            workspace=inp.workspace,
            stream_key=inp.stream_key,
            incident_id=survivor.id,
            source=inp.alert.source,
            fingerprint=inp.alert.fingerprint,
            strategy=decision.strategy.value,
            reason=decision.reason,
            at=inp.opened_at,
        )
        count = await self._attach(session, survivor.id, inp.delivery_ids)
        await repo.add_timeline_event(
            session,
            incident_id=survivor.id,
            at=inp.opened_at,
            kind=TimelineKind.merged,
            actor=inp.alert.source,
            message=f"Duplicate merged ({decision.strategy.value}): {_describe(inp.alert)} - {decision.reason}",
            data={
                "marker": f"attach:{min(inp.delivery_ids)}",
                "stream_key": inp.stream_key,
                "strategy": decision.strategy.value,
                "score": decision.score,
                "count": len(inp.delivery_ids),
                "total": count,
            },
        )
        return self._record(survivor, merged=f"{decision.strategy.value}: {decision.reason}")

    def _record(self, row: IncidentRow, *, merged: str | None = None) -> IncidentRecord:
        return IncidentRecord(
            incident_id=row.id,
            workspace=row.workspace,
            title=row.title,
            service=row.service,
            severity=Severity(row.severity),
            opened_at=row.opened_at,
            alert_count=row.alert_count,
            auto_resolve_after_seconds=self._settings.auto_resolve_after_seconds,
            merged_into_workflow_id=row.workflow_id if merged else None,
            merge_reason=merged,
        )

    @activity.defn(name="attach_alerts")
    async def attach_alerts(self, inp: AttachAlertsInput) -> AttachAlertsResult:
        """Attach repeat deliveries to the incident; the count is derived, so retries do not inflate it."""
        async with self._db.session() as session:
            count = await self._attach(session, inp.incident_id, inp.delivery_ids)
            marker = f"attach:{min(inp.delivery_ids)}"
            kind = TimelineKind.late_event if inp.late else TimelineKind.alert_received
            if not await repo.timeline_has(session, incident_id=inp.incident_id, kind=kind, marker=marker):
                late = " after the incident closed" if inp.late else ""
                await repo.add_timeline_event(
                    session,
                    incident_id=inp.incident_id,
                    at=inp.at,
                    kind=kind,
                    actor="alert",
                    message=f"{len(inp.delivery_ids)} {inp.lifecycle.value} alert(s) received{late}",
                    data={"marker": marker, "count": len(inp.delivery_ids), "total": count},
                )
            return AttachAlertsResult(alert_count=count)

    @activity.defn(name="record_orphans")
    async def record_orphans(self, inp: RecordOrphansInput) -> None:
        """Acknowledge/resolve deliveries that reached a run with no incident: record, never open one."""
        async with self._db.session() as session:
            rows = await repo.get_deliveries(session, delivery_ids=inp.delivery_ids)
            by_lifecycle = {row.lifecycle for row in rows}
            for lifecycle in by_lifecycle:
                ids = [r.id for r in rows if r.lifecycle == lifecycle]
                await repo.record_late_deliveries(
                    session,
                    workspace=inp.workspace,
                    stream_key=inp.stream_key,
                    delivery_ids=ids,
                    lifecycle=Lifecycle(lifecycle),
                    at=inp.at,
                )

    @activity.defn(name="update_incident_status")
    async def update_incident_status(self, inp: UpdateIncidentStatusInput) -> None:
        """Acknowledge or resolve the incident row, with a timeline event and (on resolve) metrics."""
        async with self._db.session() as session:
            row = await repo.get_incident(session, incident_id=inp.incident_id)
            if row is None:
                raise ApplicationError(f"incident {inp.incident_id} does not exist", non_retryable=True)
            changed = await repo.set_incident_status(
                session, incident=row, status=inp.status, at=inp.at, actor=inp.actor, reason=inp.reason
            )
            if not changed:
                return
            kind = TimelineKind.resolved if inp.status is IncidentStatus.resolved else TimelineKind.acknowledged
            reason = f": {inp.reason}" if inp.reason else ""
            await repo.add_timeline_event(
                session,
                incident_id=row.id,
                at=inp.at,
                kind=kind,
                actor=inp.actor,
                message=f"Incident {inp.status.value} by {inp.actor}{reason}",
            )
            if inp.status is IncidentStatus.resolved:
                await repo.save_metrics(session, incident=row, at=inp.at)


def _describe(alert: Alert) -> str:
    service = f" on {alert.service}" if alert.service else ""
    return f"{alert.source} alert {alert.title!r}{service}"

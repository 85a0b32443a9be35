"""Storage activities on both backends: retry-safety (idempotency) and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from activities.ingest import IngestActivities
from activities.postmortem import PostmortemActivities
from adapters.alert_sources import default_registry
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from adapters.storage.orm import AlertRow, DeadLetterRow, IncidentMetricsRow, IncidentRow, TimelineEventRow
from domain.models import (
    AttachAlertsInput,
    GeneratePostmortemInput,
    IncidentRecord,
    IncidentStatus,
    Lifecycle,
    NormalizeAlertInput,
    RecordIncidentInput,
    UpdateIncidentStatusInput,
)
from domain.settings import Settings

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


async def store(
    db: Database, *raws: object, source: str = "webhook", lifecycle: Lifecycle = Lifecycle.firing
) -> list[int]:
    async with db.session() as session:
        return await repo.insert_deliveries(
            session,
            workspace="default",
            source=source,
            deliveries=[
                repo.NewDelivery(stream_key="webhook:k", lifecycle=lifecycle, raw=raw, headers={}, received_at=T0)
                for raw in raws
            ],
        )


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def ingest(db: Database) -> IngestActivities:
    return IngestActivities(db=db, sources=default_registry(), settings=Settings(auto_resolve_after_seconds=3600))


async def open_incident(
    database: Database, raw: dict[str, str]
) -> tuple[IngestActivities, ActivityEnvironment, IncidentRecord]:
    """Store one delivery, normalize it and record its incident, as the workflow's first steps do."""
    ids = await store(database, raw)
    acts = ingest(database)
    env = ActivityEnvironment()
    normalized = await env.run(acts.normalize_alert, NormalizeAlertInput(delivery_id=ids[0]))
    assert normalized.alert is not None
    record = await env.run(
        acts.record_incident,
        RecordIncidentInput(
            workspace="default",
            stream_key="webhook:k",
            workflow_id="wf",
            run_id="r",
            alert=normalized.alert,
            delivery_ids=ids,
            opened_at=T0,
        ),
    )
    return acts, env, record


async def test_normalize_stores_the_alert_or_dead_letters_once(database: Database) -> None:
    good, bad = await store(database, {"title": "disk full", "service": "db", "severity": "P1"}, {"oops": 1})
    acts = ingest(database)
    env = ActivityEnvironment()
    result = await env.run(acts.normalize_alert, NormalizeAlertInput(delivery_id=good))
    assert result.alert is not None
    assert result.alert.title == "disk full"
    assert result.alert.severity.value == "critical"

    first = await env.run(acts.normalize_alert, NormalizeAlertInput(delivery_id=bad))
    retry = await env.run(acts.normalize_alert, NormalizeAlertInput(delivery_id=bad))
    assert first.alert is None
    assert first.dead_letter_id == retry.dead_letter_id
    assert "title" in (first.reason or "")
    assert await count(database, DeadLetterRow) == 1
    async with database.session() as session:
        row = await repo.get_delivery(session, delivery_id=bad)
        assert row is not None
        assert row.state == "dead_lettered"


async def test_record_incident_and_attach_are_retry_safe(database: Database) -> None:
    ids = await store(database, *({"title": "disk full", "service": "db"} for _ in range(3)))
    acts = ingest(database)
    env = ActivityEnvironment()
    normalized = await env.run(acts.normalize_alert, NormalizeAlertInput(delivery_id=ids[0]))
    assert normalized.alert is not None
    inp = RecordIncidentInput(
        workspace="default",
        stream_key="webhook:k",
        workflow_id="incident-default-webhook:k",
        run_id="run-1",
        alert=normalized.alert,
        delivery_ids=ids[:2],
        opened_at=T0,
    )
    first = await env.run(acts.record_incident, inp)
    again = await env.run(acts.record_incident, inp)  # a retry after the commit but before the result
    assert first == again
    assert first.alert_count == 2
    assert first.auto_resolve_after_seconds == 3600
    assert await count(database, IncidentRow) == 1

    attach = AttachAlertsInput(incident_id=first.incident_id, delivery_ids=ids[2:], lifecycle=Lifecycle.firing, at=T0)
    assert (await env.run(acts.attach_alerts, attach)).alert_count == 3
    assert (await env.run(acts.attach_alerts, attach)).alert_count == 3
    async with database.session() as session:
        events = await repo.list_timeline(session, incident_id=first.incident_id)
    assert [e.kind for e in events] == ["incident_opened", "alert_received", "alert_received"]


async def test_resolve_writes_metrics_and_postmortem_once(database: Database) -> None:
    acts, env, record = await open_incident(database, {"title": "disk full", "service": "db"})
    ack = UpdateIncidentStatusInput(
        incident_id=record.incident_id, status=IncidentStatus.acknowledged, at=T0 + timedelta(minutes=3), actor="amy"
    )
    resolve = UpdateIncidentStatusInput(
        incident_id=record.incident_id,
        status=IncidentStatus.resolved,
        at=T0 + timedelta(minutes=42, seconds=5),
        actor="bob",
        reason="disk cleaned",
    )
    for inp in (ack, ack, resolve, resolve):
        await env.run(acts.update_incident_status, inp)
    pm = PostmortemActivities(db=database)
    await env.run(pm.generate_postmortem, GeneratePostmortemInput(incident_id=record.incident_id))
    result = await env.run(pm.generate_postmortem, GeneratePostmortemInput(incident_id=record.incident_id))
    assert result.characters > 200
    async with database.session() as session:
        incident = await repo.get_incident(session, incident_id=record.incident_id)
        assert incident is not None
        assert incident.status == "resolved"
        assert incident.postmortem_md is not None
        assert "- Duration: 42m 05s" in incident.postmortem_md
        assert "disk cleaned" in incident.postmortem_md
        metrics = await session.get(IncidentMetricsRow, record.incident_id)
        assert metrics is not None
        assert (metrics.seconds_to_acknowledge, metrics.seconds_to_resolve) == (180, 2525)
        kinds = [e.kind for e in await repo.list_timeline(session, incident_id=record.incident_id)]
    assert kinds.count("acknowledged") == 1
    assert kinds.count("resolved") == 1
    assert kinds.count("postmortem_written") == 1
    assert await count(database, TimelineEventRow) == 5
    assert await count(database, AlertRow) == 1


async def test_postmortem_impact_starts_when_the_tool_saw_the_problem_begin(database: Database) -> None:
    acts, env, record = await open_incident(
        database, {"title": "disk full", "service": "db", "started_at": "2026-11-27T09:55:00Z"}
    )
    resolve = UpdateIncidentStatusInput(
        incident_id=record.incident_id, status=IncidentStatus.resolved, at=T0 + timedelta(minutes=5), actor="bob"
    )
    await env.run(acts.update_incident_status, resolve)
    await env.run(
        PostmortemActivities(db=database).generate_postmortem, GeneratePostmortemInput(incident_id=record.incident_id)
    )
    async with database.session() as session:
        incident = await repo.get_incident(session, incident_id=record.incident_id)
    assert incident is not None
    assert incident.started_at == datetime(2026, 11, 27, 9, 55, tzinfo=UTC)
    assert incident.postmortem_md is not None
    assert "- Impact window: 2026-11-27 09:55:00 UTC → 2026-11-27 10:05:00 UTC" in incident.postmortem_md
    assert "- Duration: 10m 00s" in incident.postmortem_md
    assert "- Time to resolve: 5m 00s" in incident.postmortem_md

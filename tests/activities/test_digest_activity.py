"""build_digest on both databases: a seeded day of two workspaces, every Digest number checked.

The period is fixed in the past; pending approvals are "as of now" (the activity's clock), so their rows
are seeded relative to the real time.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.digest import DigestActivities
from adapters.storage import reports
from adapters.storage.db import Database
from adapters.storage.orm import ActionLogRow, AlertRow, IncidentRow, NotificationLogRow
from domain.digest import BuildDigestInput, Digest, DigestIncident, NoisyAlert
from domain.models import Severity
from domain.settings import Settings

END = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
START = END - timedelta(hours=24)
H = timedelta(hours=1)
M = timedelta(minutes=1)
WS = "shop"
OTHER = "bank"

_ids = itertools.count(1)


class Seeder:
    """Adds rows through the ORM in one session; ids and keys are unique per test."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def incident(
        self,
        workspace: str,
        title: str,
        severity: Severity,
        opened_at: datetime,
        *,
        service: str | None = None,
        acknowledged_at: datetime | None = None,
        resolved_at: datetime | None = None,
        status: str | None = None,
        alert_count: int = 0,
    ) -> int:
        n = next(_ids)
        if status is None:
            status = "resolved" if resolved_at else "acknowledged" if acknowledged_at else "open"
        row = IncidentRow(
            workspace=workspace,
            stream_key=f"s{n}",
            workflow_id=f"incident-{workspace}-s{n}",
            run_id=f"run-{n}",
            title=title,
            source="alertmanager",
            service=service,
            severity=severity.value,
            status=status,
            alert_count=alert_count,
            opened_at=opened_at,
            acknowledged_at=acknowledged_at,
            resolved_at=resolved_at,
        )
        async with self.db.session() as session:
            session.add(row)
            await session.flush()
            return row.id

    async def deliveries(
        self,
        workspace: str,
        incident_id: int | None,
        at: datetime,
        count: int,
        *,
        title: str | None,
        source: str = "alertmanager",
        service: str | None = None,
        lifecycle: str = "firing",
    ) -> None:
        normalized: dict[str, Any] | None = None
        if title is not None:
            normalized = {"source": source, "title": title, "service": service, "severity": "high"}
        async with self.db.session() as session:
            session.add_all(
                AlertRow(
                    workspace=workspace,
                    source=source,
                    stream_key="k",
                    lifecycle=lifecycle,
                    state="signalled",
                    raw={"n": i},
                    headers={},
                    normalized=normalized,
                    incident_id=incident_id,
                    received_at=at + i * timedelta(seconds=1),
                )
                for i in range(count)
            )

    async def action(
        self, incident_id: int, status: str, at: datetime, *, updated_at: datetime | None = None, **extra: Any
    ) -> str:
        action_id = f"act-{next(_ids)}"
        async with self.db.session() as session:
            session.add(
                ActionLogRow(
                    incident_id=incident_id,
                    action_id=action_id,
                    idempotency_key=f"wf:{action_id}",
                    action="scale_deployment",
                    params={"action": "scale_deployment", "namespace": "shop", "deployment": "checkout", "replicas": 4},
                    status=status,
                    decision={},
                    plan={},
                    result={},
                    created_at=at,
                    updated_at=updated_at or at,
                    **extra,
                )
            )
        return action_id

    async def notification(self, workspace: str, key: str, channel: str, status: str, at: datetime) -> None:
        async with self.db.session() as session:
            session.add(
                NotificationLogRow(
                    scope=f"incident:{workspace}",
                    workspace=workspace,
                    event="opened",
                    key=key,
                    channel=channel,
                    status=status,
                    ref={},
                    attempts=0,
                    created_at=at,
                    updated_at=at,
                )
            )


async def run(db: Database, workspace: str, start: datetime = START, end: datetime = END) -> Digest:
    activities = DigestActivities(db=db, settings=Settings(approval_timeout_seconds=3600))
    result: Digest = await ActivityEnvironment().run(
        activities.build_digest, BuildDigestInput(workspace=workspace, start=start, end=end)
    )
    return result


async def test_every_number_of_a_seeded_day(database: Database) -> None:
    seed = Seeder(database)
    now = datetime.now(UTC)
    # In the period: A opens exactly at its start (inclusive), acknowledged after 10 min, resolved after 1 h.
    a = await seed.incident(
        WS, "checkout 5xx", Severity.critical, START, service="checkout",
        acknowledged_at=START + 10 * M, resolved_at=START + H, alert_count=7,
    )  # fmt: skip
    # B opens 5 h in, acknowledged after 20 min, still open now.
    b = await seed.incident(
        WS, "payments down", Severity.high, START + 5 * H, service="payments", acknowledged_at=START + 5 * H + 20 * M
    )
    # C opened before the period (acknowledged then too) and resolved in it: resolved + MTTR, not opened/MTTA.
    c = await seed.incident(
        WS, "queue lag", Severity.medium, START - 2 * H, acknowledged_at=START - H, resolved_at=START + 2 * H
    )
    # D opened before, resolved only after the period: still open at its end (and resolved today).
    d = await seed.incident(WS, "old disk", Severity.low, START - 10 * H, resolved_at=END + H)
    # E opens exactly at the end (exclusive) and F after it: neither counts anywhere.
    await seed.incident(WS, "at the end", Severity.critical, END)
    await seed.incident(WS, "tomorrow", Severity.critical, END + H)
    # G: opened and resolved within 30 min.
    g = await seed.incident(WS, "db failover", Severity.info, START + 3 * H, resolved_at=START + 3 * H + 30 * M)
    # The other workspace: everything in the period, none of it may leak into WS.
    x = await seed.incident(
        OTHER, "HighLatency", Severity.critical, START + H, acknowledged_at=START + 2 * H, resolved_at=START + 3 * H
    )
    y = await seed.incident(OTHER, "ledger slow", Severity.low, START - 3 * H)

    # Deliveries: HighLatency fired 4x on A and 2x on B; once before the period; a `resolved` delivery
    # is not a firing. B has 2 deliveries not normalized yet: they count under B's own title.
    await seed.deliveries(WS, a, START + 5 * M, 4, title="HighLatency", service="api")
    await seed.deliveries(WS, b, START + 6 * H, 2, title="HighLatency", service="api")
    await seed.deliveries(WS, a, START - M, 1, title="HighLatency", service="api")
    await seed.deliveries(WS, a, START + 50 * M, 1, title="HighLatency", service="api", lifecycle="resolved")
    await seed.deliveries(WS, g, START + 3 * H, 3, title="DiskFull", source="datadog", service="db")
    await seed.deliveries(WS, b, START + 7 * H, 2, title=None)
    for name in ("Cpu3", "Cpu1", "Cpu2"):
        await seed.deliveries(WS, a, START + 20 * M, 1, title=name, source="grafana")
    await seed.deliveries(WS, None, START + H, 5, title=None)  # not attached (orphaned): no title to count
    await seed.deliveries(OTHER, x, START + H, 10, title="HighLatency", service="api")

    # Actions: two in place within the period (one found already applied on a retry); a failed one; one
    # succeeded before the period; one in the other workspace.
    await seed.action(a, "succeeded", START + 20 * M, updated_at=START + 30 * M)
    await seed.action(a, "already_applied", START + 35 * M, updated_at=START + 40 * M)
    await seed.action(b, "failed", START + 6 * H)
    await seed.action(c, "succeeded", START - 2 * H, updated_at=START - H)
    await seed.action(x, "succeeded", START + 2 * H)
    # Approvals (as of now): B waits for one requested 10 min ago (window 1 h); one of B's windows closed
    # 1 h ago; D is resolved, so its leftover row is not pending any more; the other workspace has its own.
    waiting = await seed.action(b, "pending_approval", now - 10 * M, requested_by="diagnosis")
    await seed.action(b, "pending_approval", now - 2 * H)
    await seed.action(d, "pending_approval", now - 5 * M)
    await seed.action(y, "pending_approval", now - 5 * M)

    # Quiet hours: one event held on two channels, another on one (2 events); one held before the period,
    # one sent, one held in the other workspace.
    await seed.notification(WS, "opened", "slack", "held", START + 5 * H)
    await seed.notification(WS, "opened", "email", "held", START + 5 * H)
    await seed.notification(WS, "page:L2", "slack", "held", START + 6 * H)
    await seed.notification(WS, "early", "slack", "held", START - M)
    await seed.notification(WS, "resolved", "slack", "sent", START + 8 * H)
    await seed.notification(OTHER, "opened", "slack", "held", START + 2 * H)

    digest = await run(database, WS)

    assert digest.workspace == WS
    assert (digest.period_start, digest.period_end) == (START, END)
    assert digest.opened == 3  # A, B, G
    assert digest.resolved == 3  # A, C, G
    assert digest.still_open == 2  # B, D
    assert digest.by_severity == {Severity.critical: 1, Severity.high: 1, Severity.info: 1}
    assert digest.mttr_seconds == pytest.approx((3600 + 4 * 3600 + 1800) / 3)
    assert digest.mtta_seconds == pytest.approx((600 + 1200) / 2)
    assert digest.actions_executed == 2
    assert digest.held_notifications == 2
    assert digest.incidents == [
        DigestIncident(
            incident_id=b, title="payments down", service="payments", severity=Severity.high,
            status="acknowledged", opened_at=START + 5 * H,
        ),
        DigestIncident(
            incident_id=g, title="db failover", severity=Severity.info, status="resolved",
            opened_at=START + 3 * H, resolved_at=START + 3 * H + 30 * M,
        ),
        DigestIncident(
            incident_id=a, title="checkout 5xx", service="checkout", severity=Severity.critical, status="resolved",
            opened_at=START, resolved_at=START + H, alert_count=7,
        ),
    ]  # fmt: skip
    assert digest.noisiest == [
        NoisyAlert(title="HighLatency", service="api", source="alertmanager", deliveries=6, incidents=2),
        NoisyAlert(title="DiskFull", service="db", source="datadog", deliveries=3, incidents=1),
        NoisyAlert(title="payments down", service="payments", source="alertmanager", deliveries=2, incidents=1),
        NoisyAlert(title="Cpu1", service=None, source="grafana", deliveries=1, incidents=1),
        NoisyAlert(title="Cpu2", service=None, source="grafana", deliveries=1, incidents=1),
    ]  # top 5: Cpu3 is sixth
    assert [(p.incident_id, p.action_id) for p in digest.pending_approvals] == [(b, waiting)]
    pending = digest.pending_approvals[0]
    assert pending.action == "scale_deployment"
    assert pending.description == "namespace=shop deployment=checkout replicas=4"
    assert pending.requested_by == "diagnosis"
    assert pending.expires_at is not None
    assert pending.expires_at - pending.requested_at == timedelta(hours=1)
    assert abs(pending.requested_at - (now - 10 * M)) < timedelta(seconds=1)

    other = await run(database, OTHER)
    assert (other.opened, other.resolved, other.still_open, other.actions_executed) == (1, 1, 1, 1)
    assert other.mttr_seconds == pytest.approx(2 * 3600)
    assert other.mtta_seconds == pytest.approx(3600)
    assert other.held_notifications == 1
    assert other.noisiest == [
        NoisyAlert(title="HighLatency", service="api", source="alertmanager", deliveries=10, incidents=1)
    ]
    assert [p.incident_id for p in other.pending_approvals] == [y]


async def test_an_empty_period_and_a_quiet_workspace(database: Database) -> None:
    digest = await run(database, "nobody")
    assert digest == Digest(workspace="nobody", period_start=START, period_end=END)


async def test_the_incident_list_keeps_the_20_most_recent(database: Database) -> None:
    seed = Seeder(database)
    ids = [await seed.incident(WS, f"i{n}", Severity.low, START + n * M) for n in range(23)]
    digest = await run(database, WS)
    assert digest.opened == 23
    assert [i.incident_id for i in digest.incidents] == list(reversed(ids))[:20]


async def test_an_empty_period_is_refused_without_retrying(database: Database) -> None:
    with pytest.raises(ApplicationError) as caught:
        await run(database, WS, start=END, end=END)
    assert caught.value.non_retryable
    assert caught.value.type == "ValidationError"


async def test_without_settings_no_expiry_is_known(database: Database) -> None:
    seed = Seeder(database)
    b = await seed.incident(WS, "payments down", Severity.high, START)
    await seed.action(b, "pending_approval", START)  # long ago: with no window known it is still listed
    async with database.session() as session:
        digest = await reports.build_digest(session, workspace=WS, start=START, end=END, now=datetime.now(UTC))
    assert [(p.incident_id, p.expires_at) for p in digest.pending_approvals] == [(b, None)]

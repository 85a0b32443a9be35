"""Alert storm: 2,000 deliveries of 50 distinct alerts from 64 concurrent senders lose nothing."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from sqlalchemy import func, select

from adapters.storage.orm import AlertRow, IncidentRow
from tests.api.conftest import Harness
from tests.helpers import poll

DELIVERIES = 2000
DISTINCT = 50
SENDERS = 64


def storm_alert(n: int) -> dict[str, Any]:
    # Distinct services (and fingerprints): nothing here may be deduplicated into another incident.
    return {
        "title": f"Error budget burn on service {n:02d}",
        "service": f"storm-svc-{n:02d}",
        "fingerprint": f"storm-{n:02d}",
        "severity": "high",
    }


async def test_storm_makes_exactly_one_incident_per_alert_and_counts_every_delivery(harness: Harness) -> None:
    plan = [storm_alert(i % DISTINCT) for i in range(DELIVERIES)]
    work = iter(plan)
    statuses: list[int] = []

    async def sender() -> None:
        # Each sender posts one delivery at a time, like a vendor's webhook worker.
        for body in iter(lambda: next(work, None), None):
            response = await harness.http.post("/webhook/webhook", json=body)
            statuses.append(response.status_code)

    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    assert statuses == [202] * DELIVERIES

    async def all_attached() -> bool:
        async with harness.db.session() as session:
            attached = await session.scalar(
                select(func.coalesce(func.sum(IncidentRow.alert_count), 0)).where(
                    IncidentRow.workspace == harness.workspace
                )
            )
        return attached == DELIVERIES

    await poll(all_attached, timeout=180)

    async with harness.db.session() as session:
        incidents = (
            await session.execute(
                select(IncidentRow.service, IncidentRow.alert_count).where(IncidentRow.workspace == harness.workspace)
            )
        ).all()
        stored = await session.scalar(
            select(func.count()).select_from(AlertRow).where(AlertRow.workspace == harness.workspace)
        )
        unattached = await session.scalar(
            select(func.count())
            .select_from(AlertRow)
            .where(AlertRow.workspace == harness.workspace, AlertRow.incident_id.is_(None))
        )
    assert len(incidents) == DISTINCT
    assert sorted(str(service) for service, _ in incidents) == sorted({a["service"] for a in plan})
    assert stored == DELIVERIES
    assert sum(count for _, count in incidents) == DELIVERIES
    per_alert = DELIVERIES // DISTINCT
    assert {count for _, count in incidents} == {per_alert}
    assert unattached == 0
    assert len(list(itertools.islice(work, 1))) == 0  # every planned delivery was sent

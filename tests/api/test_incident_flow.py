"""Webhook → stored delivery → IncidentWorkflow → incident, through the real app, worker and Temporal."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from adapters.storage.orm import AlertRow, IncidentRow
from tests.api.conftest import Harness
from tests.helpers import fixture_bytes, poll

FIRING = fixture_bytes("alertmanager/firing.json")
RESOLVED = fixture_bytes("alertmanager/resolved.json")


async def incidents(h: Harness, **params: Any) -> dict[str, Any]:
    response = await h.http.get("/incidents", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def one_incident(h: Harness) -> dict[str, Any] | None:
    page = await incidents(h)
    return page["items"][0] if page["total"] == 1 else None


async def test_firing_then_resolved_alertmanager_payload_opens_and_resolves_with_postmortem(harness: Harness) -> None:
    response = await harness.http.post("/webhook/alertmanager", content=FIRING)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert body["deliveries"][0]["stream_key"] == "alertmanager:7d2d332feada5c59"
    workflow_id = f"incident-{harness.settings.default_workspace}-alertmanager:7d2d332feada5c59"
    assert body["deliveries"][0]["workflow_id"] == workflow_id

    incident = await poll(lambda: one_incident(harness))
    assert incident["title"] == "5xx rate above 5% on checkout"
    assert incident["service"] == "checkout"
    assert incident["severity"] == "critical"
    assert incident["status"] == "open"
    assert incident["links"]["runbook"] == "http://runbooks.local/checkout"

    detail = (await harness.http.get(f"/incidents/{incident['id']}")).json()
    assert detail["workflow"]["workflow_id"] == workflow_id
    assert detail["workflow"]["temporal_ui_url"].endswith(f"/{detail['workflow']['run_id']}/history")
    assert detail["workflow"]["state"]["incident_id"] == incident["id"]
    assert detail["workflow"]["state"]["status"] == "open"

    # The search attributes were set by the workflow from the activity's result.
    handle = harness.client.get_workflow_handle(detail["workflow"]["workflow_id"])
    described = await handle.describe()
    attrs = dict(described.search_attributes.items())
    assert attrs["Workspace"] == [harness.settings.default_workspace]
    assert attrs["Service"] == ["checkout"]
    assert attrs["Severity"] == ["critical"]
    assert attrs["IncidentStatus"] == ["open"]

    assert (await harness.http.get(f"/incidents/{incident['id']}/postmortem")).status_code == 404

    response = await harness.http.post("/webhook/alertmanager", content=RESOLVED)
    assert response.status_code == 202, response.text

    async def postmortem() -> str | None:
        r = await harness.http.get(f"/incidents/{incident['id']}/postmortem")
        return r.text if r.status_code == 200 else None

    markdown = await poll(postmortem)
    assert markdown.startswith("# Postmortem: 5xx rate above 5% on checkout")
    assert "## Timeline" in markdown
    assert "2 deliveries (1 firing, 1 resolved)" in markdown
    resolved = (await harness.http.get(f"/incidents/{incident['id']}")).json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_by"] == "alert source"
    kinds = [e["kind"] for e in (await harness.http.get(f"/incidents/{incident['id']}/timeline")).json()]
    assert kinds[0] == "incident_opened"
    assert "resolved" in kinds
    assert kinds[-1] == "postmortem_written"
    described = await handle.describe()
    assert described.search_attributes["IncidentStatus"] == ["resolved"]


async def test_fifty_concurrent_deliveries_make_one_incident_with_fifty_alerts(harness: Harness) -> None:
    responses = await asyncio.gather(*(harness.http.post("/webhook/alertmanager", content=FIRING) for _ in range(50)))
    assert [r.status_code for r in responses] == [202] * 50
    delivery_ids = {r.json()["deliveries"][0]["id"] for r in responses}
    assert len(delivery_ids) == 50

    async def counted() -> dict[str, Any] | None:
        incident = await one_incident(harness)
        return incident if incident and incident["alert_count"] == 50 else None

    incident = await counted() or await poll(counted)
    page = await incidents(harness)
    assert page["total"] == 1
    async with harness.db.session() as session:
        attached = await session.scalar(
            select(func.count()).select_from(AlertRow).where(AlertRow.incident_id == incident["id"])
        )
        incident_rows = await session.scalar(select(func.count()).select_from(IncidentRow))
    assert attached == 50
    assert incident_rows == 1


async def test_resolved_for_a_stream_without_incident_creates_nothing(harness: Harness) -> None:
    response = await harness.http.post("/webhook/alertmanager", content=RESOLVED)
    assert response.status_code == 202
    assert response.json()["deliveries"][0]["outcome"] == "no_incident"
    # The delivery is stored (nothing lost) but no incident and no workflow exist.
    async with harness.db.session() as session:
        rows = (await session.execute(select(AlertRow))).scalars().all()
        assert [(r.lifecycle, r.state, r.incident_id) for r in rows] == [("resolved", "orphaned", None)]
    assert (await incidents(harness))["total"] == 0


async def test_api_resolve_then_late_resolved_and_recurrence(harness: Harness) -> None:
    await harness.http.post("/webhook/alertmanager", content=FIRING)
    first = await poll(lambda: one_incident(harness))

    response = await harness.http.post(f"/incidents/{first['id']}/resolve", json={"by": "alice", "reason": "fixed"})
    assert response.status_code == 202, response.text

    async def resolved() -> dict[str, Any] | None:
        body = (await harness.http.get(f"/incidents/{first['id']}")).json()
        return body if body["status"] == "resolved" and body["postmortem_available"] else None

    done = await poll(resolved)
    assert done["resolved_by"] == "alice"
    assert done["resolution_reason"] == "fixed"
    again = await harness.http.post(f"/incidents/{first['id']}/resolve")
    assert again.status_code == 409
    # The run closes once its last notices are out (the postmortem is written before them).
    await harness.client.get_workflow_handle(
        done["workflow"]["workflow_id"], run_id=done["workflow"]["run_id"]
    ).result()

    # A late "resolved" from Alertmanager is recorded on the closed incident, not a new one.
    late = await harness.http.post("/webhook/alertmanager", content=RESOLVED)
    assert late.json()["deliveries"][0]["outcome"] == "recorded_late"
    assert (await incidents(harness))["total"] == 1

    # The same alert firing again is a new incident, linked to the first as a recurrence.
    await harness.http.post("/webhook/alertmanager", content=FIRING)

    async def two() -> list[dict[str, Any]] | None:
        page = await incidents(harness)
        return page["items"] if page["total"] == 2 else None

    newest, oldest = await poll(two)
    assert oldest["id"] == first["id"]
    assert newest["previous_incident_id"] == first["id"]
    assert newest["status"] == "open"
    new_run = (await harness.http.get(f"/incidents/{newest['id']}")).json()["workflow"]
    old_run = done["workflow"]
    assert new_run["workflow_id"] == old_run["workflow_id"]
    assert new_run["run_id"] != old_run["run_id"]


async def test_filters_and_pagination(harness: Harness) -> None:
    # Distinct symptoms: the same title on one service would be deduplicated into one incident.
    for service, severity, summary in (
        ("cart", "critical", "Checkout error rate above 5%"),
        ("cart", "warning", "Disk on cart-db filling up"),
        ("search", "critical", "Checkout error rate above 5%"),
    ):
        payload = json.loads(FIRING)
        alert = payload["alerts"][0]
        alert["labels"].update(service=service, severity=severity)
        alert["annotations"]["summary"] = summary
        alert["fingerprint"] = f"fp-{service}-{severity}"
        assert (await harness.http.post("/webhook/alertmanager", json=payload)).status_code == 202

    await poll(lambda: _total(harness, {}, 3))
    assert await _total(harness, {"service": "cart"}, 2)
    assert await _total(harness, {"severity": "critical"}, 2)
    assert await _total(harness, {"severity": "medium"}, 1)
    assert await _total(harness, {"status": "resolved"}, 0)
    page = await incidents(harness, limit=2, offset=0)
    rest = await incidents(harness, limit=2, offset=2)
    assert len(page["items"]) == 2
    assert len(rest["items"]) == 1
    assert {i["id"] for i in page["items"]}.isdisjoint({i["id"] for i in rest["items"]})
    bad = await harness.http.get("/incidents", params={"severity": "apocalyptic"})
    assert bad.status_code == 422


async def _total(h: Harness, params: dict[str, Any], expected: int) -> bool:
    return bool((await incidents(h, **params))["total"] == expected)

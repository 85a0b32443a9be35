"""Ingestion features through the real app, worker and Temporal: signatures, dedup, grouping, dead-letter
redrive after a mapping fix, deploy events, and update events that never open an incident."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.storage.orm import AlertRow, DeployEventRow
from tests.api.conftest import Harness
from tests.helpers import fixture_bytes, poll

AM_FIRING = json.loads(fixture_bytes("alertmanager/firing.json"))
AM_RESOLVED = json.loads(fixture_bytes("alertmanager/resolved.json"))


def grafana(status: str, *, summary: str = "5xx rate above 5%", service: str = "checkout") -> dict[str, Any]:
    """A Grafana 11 unified-alerting body for one alert."""
    return {
        "receiver": "aisre",
        "status": status,
        "orgId": 1,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "CheckoutErrors", "service": service, "grafana_folder": "Shop"},
                "annotations": {"summary": summary},
                "startsAt": "2026-11-28T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-28T10:20:00Z",
                "generatorURL": "https://grafana.example.com/alerting/grafana/abc/view",
                "fingerprint": "gf0c1d2e3f4a5b6c",
                "values": {"B": 7.2},
            }
        ],
        "groupLabels": {"alertname": "CheckoutErrors"},
        "commonLabels": {"alertname": "CheckoutErrors"},
        "commonAnnotations": {},
        "externalURL": "https://grafana.example.com/",
        "version": "1",
        "groupKey": '{}:{alertname="CheckoutErrors"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] CheckoutErrors",
        "state": "alerting",
        "message": "",
    }


async def detail(h: Harness, incident_id: int) -> dict[str, Any]:
    response = await h.http.get(f"/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def page(h: Harness, **params: Any) -> dict[str, Any]:
    response = await h.http.get("/incidents", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def only_incident(h: Harness, **params: Any) -> dict[str, Any] | None:
    body = await page(h, **params)
    return body["items"][0] if body["total"] == 1 else None


# --- signatures ---------------------------------------------------------------------------------


async def test_pagerduty_signature_required_when_the_workspace_has_a_secret(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_PD_SECRET_NEW", "pd-new-secret-4f2a")
    monkeypatch.setenv("TEST_PD_SECRET_OLD", "pd-old-secret-9c1b")
    harness.configure(webhook_secrets={"pagerduty": ["env:TEST_PD_SECRET_NEW", "env:TEST_PD_SECRET_OLD"]})
    body = fixture_bytes("pagerduty/triggered.json")

    missing = await harness.http.post("/webhook/pagerduty", content=body)
    assert missing.status_code == 401
    assert "X-PagerDuty-Signature" in missing.json()["detail"]

    wrong = hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    refused = await harness.http.post(
        "/webhook/pagerduty", content=body, headers={"X-PagerDuty-Signature": f"v1={wrong}"}
    )
    assert refused.status_code == 401

    old = hmac.new(b"pd-old-secret-9c1b", body, hashlib.sha256).hexdigest()
    accepted = await harness.http.post(
        "/webhook/pagerduty", content=body, headers={"X-PagerDuty-Signature": f"v1={wrong},v1={old}"}
    )
    assert accepted.status_code == 202, accepted.text

    async with harness.db.session() as session:
        stored = await session.scalar(
            select(func.count()).select_from(AlertRow).where(AlertRow.workspace == harness.workspace)
        )
    assert stored == 1  # refused bodies were never stored


async def test_generic_webhook_hmac_and_unsigned_sources_unaffected(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret-77aa")
    harness.configure(webhook_secrets={"webhook": ["env:TEST_HOOK_SECRET"]})
    body = json.dumps({"title": "Queue backlog", "service": "billing", "fingerprint": "sig-1"}).encode()
    assert (await harness.http.post("/webhook/webhook", content=body)).status_code == 401
    signature = hmac.new(b"hook-secret-77aa", body, hashlib.sha256).hexdigest()
    ok = await harness.http.post("/webhook/webhook", content=body, headers={"X-AISRE-Signature": f"sha256={signature}"})
    assert ok.status_code == 202, ok.text
    # Alertmanager has no secret configured in this workspace: still accepted unsigned.
    assert (await harness.http.post("/webhook/alertmanager", json=AM_FIRING)).status_code == 202


# --- deduplication ------------------------------------------------------------------------------


async def test_cross_source_alerts_become_one_incident_that_resolves_when_both_resolve(harness: Harness) -> None:
    assert (await harness.http.post("/webhook/alertmanager", json=AM_FIRING)).status_code == 202
    first = await poll(lambda: only_incident(harness))
    grafana_firing = await harness.http.post("/webhook", json=grafana("firing"))
    assert grafana_firing.status_code == 202, grafana_firing.text
    assert grafana_firing.json()["deliveries"][0]["stream_key"].startswith("grafana:")

    async def merged() -> dict[str, Any] | None:
        d = await detail(harness, first["id"])
        return d if d["merged_streams"] and d["alert_count"] == 2 else None

    incident = await poll(merged)
    assert (await page(harness))["total"] == 1  # no second incident
    (stream,) = incident["merged_streams"]
    assert stream["source"] == "grafana"
    assert stream["strategy"] == "cross_source"
    timeline = (await harness.http.get(f"/incidents/{first['id']}/timeline")).json()
    assert any(e["kind"] == "merged" and "grafana" in e["message"] for e in timeline)
    alerts = (await harness.http.get(f"/incidents/{first['id']}/alerts", params={"include_raw": True})).json()
    assert [a["source"] for a in alerts["items"]] == ["alertmanager", "grafana"]
    assert alerts["items"][1]["raw"]["alert"]["fingerprint"] == "gf0c1d2e3f4a5b6c"
    assert alerts["items"][1]["title"] == "5xx rate above 5%"

    # A repeat from the merged stream goes straight to the surviving incident.
    again = await harness.http.post("/webhook", json=grafana("firing"))
    assert again.json()["deliveries"][0]["outcome"] == "merged"
    await poll(lambda: _count_is(harness, first["id"], 3))

    # One tool recovers: the other still fires, so the incident stays open.
    assert (await harness.http.post("/webhook/alertmanager", json=AM_RESOLVED)).status_code == 202
    await poll(lambda: _count_is(harness, first["id"], 4))
    assert (await detail(harness, first["id"]))["status"] == "open"
    # The second recovers: now it resolves.
    assert (await harness.http.post("/webhook", json=grafana("resolved"))).status_code == 202

    async def resolved() -> bool:
        return bool((await detail(harness, first["id"]))["status"] == "resolved")

    await poll(resolved)


async def _count_is(h: Harness, incident_id: int, n: int) -> bool:
    return bool((await detail(h, incident_id))["alert_count"] == n)


async def test_fuzzy_duplicates_from_one_tool_merge_but_distinct_services_do_not(harness: Harness) -> None:
    def hook(title: str, service: str, ident: str) -> dict[str, Any]:
        return {"title": title, "service": service, "fingerprint": ident, "severity": "high"}

    assert (
        await harness.http.post("/webhook", json=hook("Payment API latency p99 > 2s", "payments", "a"))
    ).status_code == 202
    await poll(lambda: only_incident(harness))
    assert (
        await harness.http.post("/webhook", json=hook("Payment API latency p99 > 2.5s", "payments", "b"))
    ).status_code == 202
    assert (
        await harness.http.post("/webhook", json=hook("Payment API latency p99 > 2s", "search", "c"))
    ).status_code == 202

    async def settled() -> dict[str, Any] | None:
        body = await page(harness)
        counts = sorted(i["alert_count"] for i in body["items"])
        return body if body["total"] == 2 and counts == [1, 2] else None

    body = await settled() or await poll(settled)
    by_service = {i["service"]: i for i in body["items"]}
    assert by_service["payments"]["alert_count"] == 2
    assert by_service["search"]["alert_count"] == 1


# --- grouping -----------------------------------------------------------------------------------


async def test_related_incidents_in_one_namespace_are_grouped_parent_and_children(harness: Harness) -> None:
    def hook(title: str, service: str) -> dict[str, Any]:
        return {"title": title, "service": service, "namespace": "shop", "fingerprint": f"grp-{service}"}

    assert (
        await harness.http.post("/webhook", json=hook("Postgres primary unreachable", "postgres"))
    ).status_code == 202
    parent = await poll(lambda: only_incident(harness))
    for title, service in (("Cart API 5xx errors", "cart"), ("Orders queue backing up", "orders")):
        assert (await harness.http.post("/webhook", json=hook(title, service))).status_code == 202

    async def grouped() -> dict[str, Any] | None:
        d = await detail(harness, parent["id"])
        return d if len(d["children"]) == 2 else None

    top = await poll(grouped)
    assert top["parent"] is None
    assert sorted(c["service"] for c in top["children"]) == ["cart", "orders"]
    child = await detail(harness, top["children"][0]["id"])
    assert child["parent"]["id"] == parent["id"]
    assert child["parent_incident_id"] == parent["id"]


# --- dead letters and the generic mapping -------------------------------------------------------

NATIVE = {"event": {"name": "Ledger export stalled", "id": "exp-4411", "level": "SEV2"}, "tags": {"service": "ledger"}}


async def test_dead_letter_redriven_after_the_mapping_is_fixed_becomes_an_incident(harness: Harness) -> None:
    # A mapping that points at the wrong key: the in-house body cannot get a title.
    harness.configure(webhook_mapping={"fields": {"title": "event.title", "service": "tags.service"}})
    response = await harness.http.post("/webhook/webhook", json=NATIVE)
    assert response.status_code == 202, response.text

    async def one_letter() -> dict[str, Any] | None:
        body = (await harness.http.get("/dead-letters", params={"pending": True})).json()
        return body["items"][0] if body["total"] == 1 else None

    letter = await poll(one_letter)
    assert "event.title" in letter["reason"]
    assert letter["raw"] == NATIVE
    assert (await page(harness))["total"] == 0

    still_broken = await harness.http.post(f"/dead-letters/{letter['id']}/redrive")
    assert still_broken.status_code == 422
    assert "still cannot be normalized" in still_broken.json()["detail"]

    harness.configure(
        webhook_mapping={
            "fields": {
                "title": "event.name",
                "service": "tags.service",
                "fingerprint": "event.id",
                "severity": {"path": "event.level", "values": {"SEV1": "critical", "SEV2": "high"}},
            }
        }
    )
    redriven = await harness.http.post(f"/dead-letters/{letter['id']}/redrive")
    assert redriven.status_code == 202, redriven.text
    assert redriven.json()["stream_key"] == "webhook:exp-4411"

    incident = await poll(lambda: only_incident(harness))
    assert (incident["title"], incident["service"], incident["severity"]) == ("Ledger export stalled", "ledger", "high")
    shown = (await harness.http.get(f"/dead-letters/{letter['id']}")).json()
    assert shown["redriven_at"] is not None
    assert shown["redrive_delivery_id"] == redriven.json()["delivery_id"]
    twice = await harness.http.post(f"/dead-letters/{letter['id']}/redrive")
    assert twice.status_code == 409
    assert (await harness.http.get("/dead-letters", params={"pending": True})).json()["total"] == 0


async def test_dead_letter_routes_refuse_unknown_ids(harness: Harness) -> None:
    assert (await harness.http.get("/dead-letters/999999")).status_code == 404
    assert (await harness.http.post("/dead-letters/999999/redrive")).status_code == 404
    assert (await harness.http.get("/dead-letters/not-a-number")).status_code == 422


# --- deploy events ------------------------------------------------------------------------------


async def test_deploys_our_shape_github_shape_repeat_and_filters(harness: Harness) -> None:
    ours = {
        "service": "checkout",
        "version": "2.14.1",
        "namespace": "shop",
        "commit": "9f1c2d8",
        "author": "jdoe",
        "time": "2026-11-28T09:58:00Z",
        "id": "argo-551",
    }
    created = await harness.http.post("/deploys", json=ours)
    assert created.status_code == 201, created.text
    assert created.json()["origin"] == "api"
    repeat = await harness.http.post("/deploys", json=ours)
    assert repeat.status_code == 200
    assert repeat.json()["id"] == created.json()["id"]

    github = json.loads(fixture_bytes("github/deployment_status.json"))
    gh = await harness.http.post("/deploys", json=github, headers={"X-GitHub-Event": "deployment_status"})
    assert gh.status_code == 201, gh.text
    assert gh.json()["origin"] == "github"
    push = await harness.http.post("/deploys", json={"ref": "main"}, headers={"X-GitHub-Event": "push"})
    assert push.status_code == 422

    listed = (await harness.http.get("/deploys", params={"service": "checkout"})).json()
    assert [d["version"] for d in listed] == ["2.14.1"]
    since = (await harness.http.get("/deploys", params={"since": "2026-11-28T09:59:00Z"})).json()
    assert all(d["deployed_at"] >= "2026-11-28T09:59:00" for d in since)
    async with harness.db.session() as session:
        stored = await session.scalar(
            select(func.count()).select_from(DeployEventRow).where(DeployEventRow.workspace == harness.workspace)
        )
    assert stored == 2


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"version": "1"}, "service"),
        ({"service": "x", "status": "exploded"}, "status"),
        ({"service": "x", "time": "2026-11-28T09:58:00"}, "time zone"),
        ({"service": "x", "surprise": 1}, "surprise"),
    ],
)
async def test_bad_deploys_are_422_with_the_reason(harness: Harness, body: dict[str, Any], needle: str) -> None:
    response = await harness.http.post("/deploys", json=body)
    assert response.status_code == 422
    assert needle in json.dumps(response.json())


# --- update events ------------------------------------------------------------------------------


async def test_update_events_attach_but_never_open_an_incident(harness: Harness) -> None:
    note = {"title": "Disk full", "service": "db", "fingerprint": "upd-1", "status": "updated"}
    alone = await harness.http.post("/webhook", json=note)
    assert alone.status_code == 202
    assert alone.json()["deliveries"][0]["outcome"] == "no_incident"
    assert (await page(harness))["total"] == 0

    firing = copy.deepcopy(note) | {"status": "firing"}
    assert (await harness.http.post("/webhook", json=firing)).status_code == 202
    incident = await poll(lambda: only_incident(harness))
    assert (await harness.http.post("/webhook", json=note)).status_code == 202
    await poll(lambda: _count_is(harness, incident["id"], 2))
    assert (await detail(harness, incident["id"]))["status"] == "open"

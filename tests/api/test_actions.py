"""Actions through the real app, worker and Temporal: policy preview, operator proposals, approvals and the
namespace allowlist that no approval can override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from cli.samples import alertmanager_sample
from tests.api.conftest import Harness, running_harness
from tests.helpers import poll

SCALE = {"action": "scale_deployment", "namespace": "shop", "deployment": "checkout", "replicas": 4}


async def open_incident(h: Harness) -> dict[str, Any]:
    assert (await h.http.post("/webhook/alertmanager", json=alertmanager_sample(resolved=False))).status_code == 202

    async def first() -> dict[str, Any] | None:
        items = (await h.http.get("/incidents")).json()["items"]
        return items[0] if items else None

    incident: dict[str, Any] = await poll(first)
    # The automatic diagnosis (and its suggestions) come first; wait until they are through policy.
    await poll(lambda: diagnosed(h, incident["id"]))
    return incident


async def diagnosed(h: Harness, incident_id: int) -> bool:
    return bool((await h.http.get(f"/incidents/{incident_id}/diagnoses")).json())


async def action_status(h: Harness, incident_id: int, action_id: str) -> str | None:
    rows = (await h.http.get(f"/incidents/{incident_id}/actions")).json()
    return next((r["status"] for r in rows if r["action_id"] == action_id), None)


async def test_policy_preview_lists_every_vote(harness: Harness) -> None:
    response = await harness.http.get(
        "/policies/preview",
        params={"action": "scale_deployment", "namespace": "shop", "deployment": "checkout", "replicas": "4"},
    )
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["decision"] == "dry_run_only"  # the shipped default: dry-run until turned off
    rules = {v["rule"] for v in decision["votes"]}
    assert {"namespace_allowlist", "dry_run", "approval_required", "error_budget"} <= rules
    budget = next(v for v in decision["votes"] if v["rule"] == "error_budget")
    assert budget["decision"] is None  # no SLO for the service: the rule abstains and says so
    too_many = await harness.http.get(
        "/policies/preview",
        params={"action": "scale_deployment", "namespace": "shop", "deployment": "checkout", "replicas": "500"},
    )
    assert too_many.json()["decision"] == "deny"
    bad = await harness.http.get("/policies/preview", params={"action": "scale_deployment", "namespace": "shop"})
    assert bad.status_code == 422
    assert "deployment" in bad.json()["detail"]


async def test_proposal_needs_approval_then_runs_and_a_second_verdict_is_refused(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, dry_run=False
    ) as h:
        incident = await open_incident(h)
        proposed = await h.http.post(
            "/actions/execute", json={"incident_id": incident["id"], "action": SCALE, "by": "dave"}
        )
        assert proposed.status_code == 202, proposed.text
        body = proposed.json()
        assert body["decision"] == "require_approval"
        assert body["status"] == "pending_approval"
        action_id = body["action_id"]
        rows = (await h.http.get(f"/incidents/{incident['id']}/actions")).json()
        row = next(r for r in rows if r["action_id"] == action_id)
        assert row["status"] == "pending_approval"
        assert any(v["rule"] == "approval_required" for v in row["decision"]["votes"])

        verdict = await h.http.post(
            f"/incidents/{incident['id']}/actions/{action_id}/approve", json={"by": "alice", "reason": "looks right"}
        )
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["verdict"] == "approved"
        # No Kubernetes configured in this test: the approved action runs and fails, saying why.
        assert await poll(lambda: _final(h, incident["id"], action_id)) == "failed"
        row = next(
            r for r in (await h.http.get(f"/incidents/{incident['id']}/actions")).json() if r["action_id"] == action_id
        )
        assert "kubernetes provider" in row["result"]["error"]
        assert row["approved_by"] == "alice"
        again = await h.http.post(f"/incidents/{incident['id']}/actions/{action_id}/approve", json={"by": "bob"})
        assert again.status_code == 409
        assert "not pending approval" in again.json()["detail"]
        timeline = (await h.http.get(f"/incidents/{incident['id']}/timeline")).json()
        kinds = [e["kind"] for e in timeline]
        assert {"policy", "approval", "action"} <= set(kinds)


async def _final(h: Harness, incident_id: int, action_id: str) -> str | None:
    status = await action_status(h, incident_id, action_id)
    return status if status in ("failed", "succeeded", "rolled_back", "already_applied") else None


async def test_outside_the_namespace_allowlist_nothing_runs_even_with_admin_approval(harness: Harness) -> None:
    harness.configure(allowed_namespaces=["payments"])
    incident = await open_incident(harness)
    proposed = await harness.http.post("/actions/execute", json={"incident_id": incident["id"], "action": SCALE})
    assert proposed.status_code == 202, proposed.text
    body = proposed.json()
    assert body["decision"] == "deny"
    assert body["status"] == "denied"
    approve = await harness.http.post(f"/incidents/{incident['id']}/actions/{body['action_id']}/approve")
    assert approve.status_code == 409
    rows = (await harness.http.get(f"/incidents/{incident['id']}/actions")).json()
    row = next(r for r in rows if r["action_id"] == body["action_id"])
    assert row["status"] == "denied"
    vote = next(v for v in row["decision"]["votes"] if v["rule"] == "namespace_allowlist")
    assert vote["decision"] == "deny"
    assert "shop" in vote["reason"]

"""Diagnosis in the incident workflow, through the real app, worker and Temporal.

Offline reasoner over the file log backend; the evidence bundle exported by the API replays offline to
the identical Diagnosis; a fresh diagnosis on request; and the Anthropic path against the local
Messages API fake (a 529 retried by Temporal with the vendor's Retry-After, the key nowhere in history).
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from cli.samples import alertmanager_sample, demo_log_lines
from tests.api.conftest import Harness, running_harness
from tests.fakes.anthropic_server import AnthropicFake, FakeError, message, text_block, tool_use_block
from tests.helpers import poll

ROOT = Path(__file__).resolve().parents[2]


def seed_demo_logs(tmp_path: Path) -> None:
    target = tmp_path / "logs-demo" / "shop" / "checkout.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(demo_log_lines(now=datetime.now(UTC))) + "\n", encoding="utf-8")


async def first_incident(h: Harness) -> dict[str, Any] | None:
    items = (await h.http.get("/incidents")).json()["items"]
    return items[0] if items else None


async def diagnosed(h: Harness, incident_id: int, count: int = 1) -> list[dict[str, Any]] | None:
    rows: list[dict[str, Any]] = (await h.http.get(f"/incidents/{incident_id}/diagnoses")).json()
    return rows if len(rows) >= count else None


async def test_alert_is_diagnosed_and_the_exported_bundle_replays_to_the_same_diagnosis(
    harness: Harness, tmp_path: Path
) -> None:
    seed_demo_logs(tmp_path)
    assert (
        await harness.http.post("/webhook/alertmanager", json=alertmanager_sample(resolved=False))
    ).status_code == 202
    incident = await poll(lambda: first_incident(harness))
    (row,) = await poll(lambda: diagnosed(harness, incident["id"]))
    diagnosis = row["diagnosis"]
    assert diagnosis["category"] == "dependency_unreachable"
    assert "payments" in diagnosis["root_cause"]
    assert "8080" in diagnosis["root_cause"]
    assert diagnosis["model"] == "offline-reasoner/1"
    assert any(e["tool"] == "fetch_logs" and "connection refused" in e["excerpt"] for e in diagnosis["evidence"])

    shown = (await harness.http.get(f"/incidents/{incident['id']}")).json()
    assert shown["diagnosis"]["id"] == row["id"]
    assert shown["diagnosis"]["category"] == "dependency_unreachable"
    assert shown["workflow"]["state"]["diagnosis"]["diagnosis_id"] == row["id"]
    timeline = (await harness.http.get(f"/incidents/{incident['id']}/timeline")).json()
    assert any(e["kind"] == "diagnosed" and e["data"]["diagnosis_id"] == row["id"] for e in timeline)

    detail = (await harness.http.get(f"/incidents/{incident['id']}/diagnoses/{row['id']}")).json()
    calls = [c["tool"] for turn in detail["transcript"] for c in turn["calls"]]
    assert "fetch_logs" in calls
    assert detail["tool_calls"] == len(calls)

    # Export the evidence, replay it offline with the CLI: the identical Diagnosis JSON.
    response = await harness.http.get(f"/incidents/{incident['id']}/diagnoses/{row['id']}/evidence")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        tar.extractall(tmp_path / "bundle", filter="data")
    (folder,) = (tmp_path / "bundle").iterdir()
    assert (folder / "alert.json").is_file()
    assert len([p for p in folder.iterdir() if p.suffix == ".txt"]) == len(calls)
    replay = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "diagnose", "--evidence", str(folder), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await replay.communicate()
    assert replay.returncode == 0, err.decode()
    assert json.loads(out) == diagnosis


async def test_a_fresh_diagnosis_on_request_and_409_once_resolved(harness: Harness) -> None:
    assert (
        await harness.http.post("/webhook/alertmanager", json=alertmanager_sample(resolved=False))
    ).status_code == 202
    incident = await poll(lambda: first_incident(harness))
    await poll(lambda: diagnosed(harness, incident["id"]))
    again = await harness.http.post(
        f"/incidents/{incident['id']}/diagnosis", json={"by": "alice", "reason": "after fix"}
    )
    assert again.status_code == 202
    rows = await poll(lambda: diagnosed(harness, incident["id"], 2))
    assert [r["requested_by"] for r in rows] == ["aisre", "alice"]
    # Nothing in the logs: the reasoner says it does not know rather than guessing.
    assert rows[1]["diagnosis"]["category"] == "unknown"
    assert rows[1]["diagnosis"]["confidence"] <= 0.3

    assert (await harness.http.post(f"/incidents/{incident['id']}/resolve", json={"by": "alice"})).status_code == 202

    async def resolved() -> bool:
        return bool((await harness.http.get(f"/incidents/{incident['id']}")).json()["status"] == "resolved")

    await poll(resolved)
    late = await harness.http.post(f"/incidents/{incident['id']}/diagnosis")
    assert late.status_code == 409
    assert (await harness.http.get(f"/incidents/{incident['id']}/diagnoses/999999")).status_code == 404


async def test_anthropic_diagnosis_with_a_529_retried_by_temporal_and_the_key_kept_out(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    key = "sk-ant-api03-canary-7f3e9b2c41d8"
    with AnthropicFake(api_key=key) as fake:
        fake.script(
            [
                FakeError(529, "overloaded_error", "Overloaded", retry_after="1"),
                message(
                    text_block("Looking at the service's logs first."),
                    tool_use_block("fetch_logs", {"service": "checkout", "namespace": "shop"}, block_id="toolu_a1"),
                ),
                message(
                    tool_use_block(
                        "submit_diagnosis",
                        {
                            "category": "dependency_unreachable",
                            "root_cause": "checkout cannot reach payments.shop.svc.cluster.local:8080 (refused).",
                            "summary": "Payment calls fail: the payments service refuses connections.",
                            "confidence": 0.8,
                            "evidence": [
                                {"tool": "fetch_logs", "params": {"service": "checkout"}, "excerpt": "refused"}
                            ],
                            "suggested_actions": [
                                {"action": "rollout_restart", "namespace": "shop", "deployment": "payments"}
                            ],
                        },
                        block_id="toolu_a2",
                    )
                ),
            ]
        )
        async with running_harness(
            db_url=db_url,
            env=temporal_env,
            task_queue=task_queue,
            tmp_path=tmp_path,
            anthropic_api_key=key,
            anthropic_base_url=fake.url,
        ) as h:
            seed_demo_logs(tmp_path)
            assert (
                await h.http.post("/webhook/alertmanager", json=alertmanager_sample(resolved=False))
            ).status_code == 202
            incident = await poll(lambda: first_incident(h))
            (row,) = await poll(lambda: diagnosed(h, incident["id"]), timeout=30)
            assert row["diagnosis"]["category"] == "dependency_unreachable"
            assert row["model"] == h.settings.anthropic_model  # the model id the API answered with
            assert row["diagnosis"]["suggested_actions"] == [
                {"action": "rollout_restart", "namespace": "shop", "deployment": "payments"}
            ]
            assert fake.violations == []
            assert fake.remaining == 0
            assert len(fake.bodies) == 3  # the 529, then the two turns of the retried activity
            # The tool result went back to the model in the documented shape, with the log evidence.
            last_user = fake.bodies[2]["messages"][-1]
            (result,) = [b for b in last_user["content"] if b["type"] == "tool_result"]
            assert result["tool_use_id"] == "toolu_a1"
            assert "connection refused" in json.dumps(result["content"])

            handle = h.client.get_workflow_handle(shown_workflow_id(await h.http.get(f"/incidents/{incident['id']}")))
            history = await handle.fetch_history()
            assert key not in history.to_json()


def shown_workflow_id(response: Any) -> str:
    workflow_id: str = response.json()["workflow"]["workflow_id"]
    return workflow_id

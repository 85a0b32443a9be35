"""Slack end to end: the incident card appears in Slack, its Approve button (a signed interaction request)
approves the pending action through the workflow's approval update, the action runs, and the card shows
who approved. Real app, real worker, the real Slack notifier against a local server following Slack's API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from adapters.notify import build_channels
from cli.samples import alertmanager_sample
from domain.routing import RoutingFile
from tests.api.conftest import Harness, running_harness
from tests.fakes.slack_server import TOKEN, FakeSlack
from tests.helpers import poll

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0INCIDENTS"
ALICE = "U01ALICE"  # alice in the shipped config/oncall.yaml people directory


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    monkeypatch.setenv("AISRE_TEST_SLACK_TOKEN", TOKEN)
    monkeypatch.setenv("AISRE_TEST_SLACK_SIGNING", SIGNING_SECRET)
    with FakeSlack() as fake:
        yield fake


def routing(fake: FakeSlack) -> dict[str, Any]:
    return {
        "channels": {
            "slack-sre": {"type": "slack", "channel": CHANNEL, "token": "env:AISRE_TEST_SLACK_TOKEN",
                          "api_url": fake.api_url},
        },
        "routes": [{"name": "default", "severities": {s: ["slack-sre"] for s in
                                                       ("critical", "high", "medium", "low", "info")}}],
    }  # fmt: skip


def signed(body: bytes, *, secret: str = SIGNING_SECRET, at: float | None = None) -> dict[str, str]:
    stamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def press(button: dict[str, Any], *, user: str = ALICE, verb: str = "approve") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "acme"},
        "container": {"type": "message", "channel_id": CHANNEL},
        "trigger_id": "123.456.abc",
        "response_url": "https://hooks.slack.com/actions/T0001/1/xyz",
        "actions": [{**button, "action_id": verb, "type": "button", "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def buttons(fake: FakeSlack, ts: str) -> list[dict[str, Any]]:
    return [
        element
        for block in fake.card(CHANNEL, ts)
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


def card_text(fake: FakeSlack, ts: str) -> str:
    return json.dumps(fake.card(CHANNEL, ts))


async def setup(h: Harness, fake: FakeSlack) -> tuple[str, str, int]:
    """Open an incident, propose an action needing approval; (card ts, action id, incident id)."""
    (h.settings.config_dir / "routing.yaml").write_text(yaml.safe_dump(routing(fake)), encoding="utf-8")
    h.configure(slack={"signing_secrets": ["env:AISRE_TEST_SLACK_SIGNING"], "roles": {ALICE: "operator"}})
    assert (await h.http.post("/webhook/alertmanager", json=alertmanager_sample(resolved=False))).status_code == 202
    cards = await poll(lambda: fake.top_level(CHANNEL))
    ts = cards[0].ts
    incident = (await h.http.get("/incidents")).json()["items"][0]
    proposed = await h.http.post(
        "/actions/execute",
        json={"incident_id": incident["id"], "action": {"action": "rollout_restart", "namespace": "shop",
                                                        "deployment": "checkout"}},
    )  # fmt: skip
    assert proposed.status_code == 202, proposed.text
    assert proposed.json()["status"] == "pending_approval"
    action_id = proposed.json()["action_id"]
    await poll(lambda: any(json.loads(b["value"])["action_id"] == action_id for b in buttons(fake, ts)))
    return ts, action_id, incident["id"]


def slack_channels(fake: FakeSlack) -> dict[str, Any]:
    return build_channels(RoutingFile.model_validate(routing(fake)).channels)


async def test_a_button_press_approves_once_and_the_card_shows_who(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, slack: FakeSlack
) -> None:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, dry_run=False,
        channels=slack_channels(slack),
    ) as h:  # fmt: skip
        ts, action_id, incident_id = await setup(h, slack)
        approve = next(b for b in buttons(slack, ts) if b["action_id"] == "approve")
        body = press(approve)
        first = await h.http.post("/slack/interactions", content=body, headers=signed(body))
        assert first.status_code == 200, first.text
        assert first.json()["text"] == "Approved by alice."

        # Slack retries, or alice presses again: nothing more happens.
        again = press(approve)
        second = await h.http.post("/slack/interactions", content=again, headers=signed(again))
        assert second.status_code == 200
        assert "Not done" in second.json()["text"]

        async def final() -> dict[str, Any] | None:
            rows = (await h.http.get(f"/incidents/{incident_id}/actions")).json()
            row = next(r for r in rows if r["action_id"] == action_id)
            return row if row["status"] not in ("pending_approval", "approved", "executing") else None

        row = await poll(final)
        # The incident proceeded: the approved action ran (no cluster in this test, so it failed saying why).
        assert row["approved_by"] == "alice"
        assert row["status"] == "failed"
        timeline = (await h.http.get(f"/incidents/{incident_id}/timeline")).json()
        approvals = [e for e in timeline if e["kind"] == "approval" and action_id in e["message"]]
        assert len(approvals) == 1
        assert approvals[0]["actor"] == "alice"

        # The card, updated in place: who approved, no buttons left for this action.
        await poll(lambda: "Approved by alice" in card_text(slack, ts) or "alice" in card_text(slack, ts))
        await poll(lambda: not any(json.loads(b["value"])["action_id"] == action_id for b in buttons(slack, ts)))
        assert "alice" in card_text(slack, ts)
        # The card is updated first, then the event is replied in its thread.
        await poll(lambda: any("Approved by alice" in r.text for r in slack.replies(CHANNEL, ts)))


async def test_signatures_wrong_secret_stale_altered_and_unmapped_users(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, slack: FakeSlack
) -> None:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, dry_run=False,
        channels=slack_channels(slack),
    ) as h:  # fmt: skip
        ts, action_id, incident_id = await setup(h, slack)
        approve = next(b for b in buttons(slack, ts) if b["action_id"] == "approve")
        body = press(approve)

        wrong = await h.http.post("/slack/interactions", content=body, headers=signed(body, secret="x" * 32))
        assert wrong.status_code == 401
        assert "does not match" in wrong.json()["detail"]

        stale = await h.http.post("/slack/interactions", content=body, headers=signed(body, at=time.time() - 301))
        assert stale.status_code == 401
        assert "300s" in stale.json()["detail"]

        headers = signed(body)
        altered = body.replace(b"approve", b"reject")
        tampered = await h.http.post("/slack/interactions", content=altered, headers=headers)
        assert tampered.status_code == 401

        unsigned = await h.http.post("/slack/interactions", content=body)
        assert unsigned.status_code == 401

        stranger = press(approve, user="U0STRANGER")
        refused = await h.http.post("/slack/interactions", content=stranger, headers=signed(stranger))
        assert refused.status_code == 200
        assert "not allowed" in refused.json()["text"]

        # None of it changed anything: the action still waits for an approval.
        rows = (await h.http.get(f"/incidents/{incident_id}/actions")).json()
        assert next(r for r in rows if r["action_id"] == action_id)["status"] == "pending_approval"

        # The valid request still works after all that (and a reject button rejects).
        reject = next(b for b in buttons(slack, ts) if b["action_id"] == "reject")
        no = press(reject, verb="reject")
        verdict = await h.http.post("/slack/interactions", content=no, headers=signed(no))
        assert verdict.json()["text"] == "Rejected by alice."
        await poll(lambda: "Rejected" in card_text(slack, ts))

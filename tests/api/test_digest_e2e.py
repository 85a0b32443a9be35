"""The daily digest end to end: DigestWorkflow on the real worker builds the digest from SQL and the real
notify activity posts it to Slack (a local server following Slack's API)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from adapters.notify import build_channels
from cli.samples import alertmanager_sample
from domain.digest import DigestWorkflowInput
from domain.routing import RoutingFile
from tests.api.conftest import Harness, running_harness
from tests.fakes.slack_server import TOKEN, FakeSlack
from tests.helpers import poll
from workflows.digest import DigestWorkflow

CHANNEL = "C0OPS"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_digest_reaches_slack(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISRE_T_SLACK", TOKEN)
    with FakeSlack() as slack:
        routing = {
            "channels": {"ops": {"type": "slack", "channel": CHANNEL, "token": "env:AISRE_T_SLACK",
                                 "api_url": slack.api_url}},
            "routes": [{"name": "default", "severities": {}}],
            "digest": {"time": "09:00", "timezone": "Europe/Berlin", "channels": ["ops"]},
        }  # fmt: skip
        channels = build_channels(RoutingFile.model_validate(routing).channels)
        async with running_harness(
            db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, channels=channels
        ) as h:
            (h.settings.config_dir / "routing.yaml").write_text(yaml.safe_dump(routing), encoding="utf-8")
            assert (
                await h.http.post("/webhook/alertmanager", json=alertmanager_sample(resolved=False))
            ).status_code == 202
            await poll(lambda: _listed(h))
            result = await h.client.execute_workflow(
                DigestWorkflow.run,
                DigestWorkflowInput(workspace=h.workspace),
                id=f"digest-{h.workspace}",
                task_queue=task_queue,
            )
            assert result.sent == ["ops"]
            assert result.opened == 1
            (posted,) = slack.top_level(CHANNEL)
            text = posted.text + str(posted.blocks)
            assert h.workspace in text
            assert "1 opened" in text
            assert "HighErrorRate" in text or "checkout" in text  # the incident is listed


async def _listed(h: Harness) -> bool:
    items = (await h.http.get("/incidents")).json()["items"]
    return bool(items)

"""Canary secrets: plant recognisable secrets everywhere a secret is configured, run an incident end to end
(signed webhook with an API key, Anthropic diagnosis, Slack card, Slack approval, resolution, postmortem),
then search workflow histories, logs, every SQL table and what the local LLM server received."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from adapters.notify import build_channels
from adapters.storage.orm import Base
from api.auth import create_key, server_secret
from cli.samples import alertmanager_sample
from domain import redaction
from domain.routing import RoutingFile
from tests.api.conftest import running_harness
from tests.api.test_slack import ALICE, CHANNEL, buttons, press, signed
from tests.fakes.anthropic_server import AnthropicFake, message, tool_use_block
from tests.fakes.slack_server import FakeSlack
from tests.helpers import poll

RUN = uuid.uuid4().hex[:8]
CANARIES = {
    "anthropic": f"sk-ant-api03-canaryANTHROPIC{RUN}",
    "webhook": f"canaryWEBHOOKsecret{RUN}",
    "slack_signing": f"canarySLACKsigning{RUN}",
    "slack_token": f"xoxb-canary-SLACKTOKEN-{RUN}",
    "db_password": f"canaryDBpassword{RUN}",
    "server_secret": f"canarySERVERsecret{RUN}-0123456789abcdef",
}


def with_password(url: str, password: str) -> str:
    """The same PostgreSQL URL with a password (the server trusts local connections and ignores it)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.hostname or "127.0.0.1"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}:{parts.port or 5432}"))


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Everything logged during the test, through the production redaction filter (as `aisre` installs it)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def diagnosis_script() -> list[Any]:
    return [
        message(
            tool_use_block(
                "submit_diagnosis",
                {
                    "category": "dependency_unreachable",
                    "root_cause": "checkout cannot reach payments (connection refused).",
                    "summary": "Payment calls fail: the payments service refuses connections.",
                    "confidence": 0.8,
                    "evidence": [{"tool": "fetch_logs", "params": {"service": "checkout"}, "excerpt": "refused"}],
                    "suggested_actions": [{"action": "rollout_restart", "namespace": "shop", "deployment": "payments"}],
                },
                block_id="toolu_c1",
            )
        )
    ]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_no_canary_leaks_anywhere(
    db_url: str,
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    log_text: io.StringIO,
) -> None:
    monkeypatch.setenv("AISRE_CANARY_WEBHOOK", CANARIES["webhook"])
    monkeypatch.setenv("AISRE_CANARY_SLACK_SIGNING", CANARIES["slack_signing"])
    monkeypatch.setenv("AISRE_CANARY_SLACK_TOKEN", CANARIES["slack_token"])
    with (
        AnthropicFake(api_key=CANARIES["anthropic"]) as llm,
        FakeSlack(token=CANARIES["slack_token"]) as slack,
    ):
        llm.script(diagnosis_script())
        routing = {
            "channels": {
                "slack-sre": {"type": "slack", "channel": CHANNEL, "token": "env:AISRE_CANARY_SLACK_TOKEN",
                              "api_url": slack.api_url},
            },
            "routes": [{"name": "default", "severities": {s: ["slack-sre"] for s in
                                                           ("critical", "high", "medium", "low", "info")}}],
        }  # fmt: skip
        channels = build_channels(RoutingFile.model_validate(routing).channels)
        async with running_harness(
            db_url=with_password(db_url, CANARIES["db_password"]),
            env=temporal_env,
            task_queue=task_queue,
            tmp_path=tmp_path,
            channels=channels,
            dry_run=False,
            anthropic_api_key=CANARIES["anthropic"],
            anthropic_base_url=llm.url,
            secret_key=CANARIES["server_secret"],
        ) as h:
            (h.settings.config_dir / "routing.yaml").write_text(yaml.safe_dump(routing), encoding="utf-8")
            h.configure(
                webhook_secrets={"*": ["env:AISRE_CANARY_WEBHOOK"]},
                slack={"signing_secrets": ["env:AISRE_CANARY_SLACK_SIGNING"], "roles": {ALICE: "operator"}},
            )
            # As `aisre api` / `aisre worker` do at start (after the config files are in place).
            for handler in logging.getLogger().handlers:
                if getattr(handler, "stream", None) is log_text:
                    redaction.install(h.settings, [handler])
            secret = server_secret(h.settings)
            ingest = (await create_key(h.db, secret=secret, workspace=h.workspace, role="ingest", name="am",
                                       created_by="t")).key.get_secret_value()  # fmt: skip
            admin = (await create_key(h.db, secret=secret, workspace=h.workspace, role="admin", name="root",
                                      created_by="t")).key.get_secret_value()  # fmt: skip
            canaries = {**CANARIES, "ingest_key": ingest, "admin_key": admin}

            body = json.dumps(alertmanager_sample(resolved=False)).encode()
            signature = hmac.new(CANARIES["webhook"].encode(), body, hashlib.sha256).hexdigest()
            sent = await h.http.post(
                "/webhook/alertmanager",
                content=body,
                headers={
                    "Authorization": f"Bearer {ingest}",
                    "X-AISRE-Signature": f"sha256={signature}",
                    "Content-Type": "application/json",
                },
            )
            assert sent.status_code == 202, sent.text
            as_admin = {"X-API-Key": admin}

            async def incident() -> dict[str, Any] | None:
                items = (await h.http.get("/incidents", headers=as_admin)).json()["items"]
                return items[0] if items else None

            opened = await poll(incident, timeout=30)
            iid = opened["id"]

            async def pending() -> str | None:
                rows = (await h.http.get(f"/incidents/{iid}/actions", headers=as_admin)).json()
                return next((r["action_id"] for r in rows if r["status"] == "pending_approval"), None)

            action_id = await poll(pending, timeout=30)
            ts = (await poll(lambda: slack.top_level(CHANNEL))).pop().ts
            await poll(lambda: any(json.loads(b["value"])["action_id"] == action_id for b in buttons(slack, ts)))
            approve = next(b for b in buttons(slack, ts) if b["action_id"] == "approve")
            pressed = press(approve)
            answer = await h.http.post(
                "/slack/interactions", content=pressed, headers=signed(pressed, secret=CANARIES["slack_signing"])
            )
            assert answer.json()["text"] == "Approved by alice."

            resolved = await h.http.post(f"/incidents/{iid}/resolve", headers=as_admin, json={"reason": "fixed"})
            assert resolved.status_code == 202

            async def postmortem_sent() -> bool:
                rows = (await h.http.get(f"/incidents/{iid}/notifications", headers=as_admin)).json()
                return any(r["event"] == "postmortem" and r["status"] == "sent" for r in rows)

            await poll(postmortem_sent, timeout=30)
            detail = (await h.http.get(f"/incidents/{iid}", headers=as_admin)).json()

            # 1. Workflow histories (every run of the incident's workflow).
            histories = []
            async for execution in h.client.list_workflows(f"WorkflowId = '{detail['workflow']['workflow_id']}'"):
                handle = h.client.get_workflow_handle(execution.id, run_id=execution.run_id)
                histories.append((await handle.fetch_history()).to_json())
            assert histories

            # 2. Every row of every table (deliveries, transcripts, timeline, action and notification logs, keys).
            tables = []
            async with h.db.session() as session:
                for table in Base.metadata.sorted_tables:
                    rows = (await session.execute(select(table))).all()
                    tables.append(f"{table.name}: {[tuple(r) for r in rows]!r}")
            sql = "\n".join(tables)
            assert "Payment calls fail" in sql  # the transcript is there, so the search is meaningful

            # 3. What the LLM server received: bodies and headers (its own key only where it belongs).
            assert llm.requests
            llm_seen = []
            for request in llm.requests:
                assert request.headers.get("x-api-key") == CANARIES["anthropic"]
                headers = {k: v for k, v in request.headers.items() if k != "x-api-key"}
                llm_seen.append(f"{request.target} {headers} {request.body.decode('utf-8', 'replace')}")

            logs = log_text.getvalue()
            assert "notify" in logs or "activity" in logs.lower()  # the capture did see the run

    places = {"workflow history": "\n".join(histories), "SQL": sql, "LLM requests": "\n".join(llm_seen), "logs": logs}
    leaks = [f"{name} canary in {where}" for where, text in places.items() for name, value in canaries.items()
             if value in text]  # fmt: skip
    assert not leaks, leaks
    # A tampered check would pass vacuously: make sure each canary was really in play.
    assert slack.requests
    assert all(
        r.headers.get("authorization") == f"Bearer {CANARIES['slack_token']}"
        for r in slack.requests
        if r.path.startswith("/api/")
    )


def test_the_filter_redacts_what_it_knows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.settings import Settings

    monkeypatch.setenv("AISRE_CANARY_WEBHOOK", CANARIES["webhook"])
    config = tmp_path / "config"
    config.mkdir()
    (config / "workspaces.yaml").write_text(
        yaml.safe_dump({"workspaces": [{"name": "w", "webhook_secrets": {"*": ["env:AISRE_CANARY_WEBHOOK"]}}]})
    )
    settings = Settings(
        data_dir=tmp_path,
        config_dir=config,
        anthropic_api_key=CANARIES["anthropic"],
        database_url=f"postgresql+asyncpg://u:{CANARIES['db_password']}@h/db",
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    redaction.install(settings, [handler])
    logger = logging.getLogger("canary-test")
    logger.addHandler(handler)
    try:
        logger.error("key %s url %s", CANARIES["anthropic"], settings.database_url)
        try:
            raise RuntimeError(f"signing with {CANARIES['webhook']} failed")
        except RuntimeError:
            logger.exception("boom at %s", time.time())
        logger.warning("GET /webhook/alertmanager?api_key=aisre_0123456789ab_%s HTTP/1.1", "s" * 43)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    for name in ("anthropic", "db_password", "webhook"):
        assert CANARIES[name] not in text, name
    assert "s" * 43 not in text
    assert text.count(redaction.REDACTED) >= 4

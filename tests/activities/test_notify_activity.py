"""The notify activity against real channels (local Slack and PagerDuty servers) and a real database:
routing by severity and service, one delivery per event and channel across retries, quiet hours, the
PagerDuty incident kept in step, workspace channel restrictions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from adapters.notify import build_channels
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from domain.models import Alert, IncidentStatus, Severity
from domain.notify import NotifyEvent, NotifyInput
from domain.routing import RoutingFile
from domain.settings import Settings
from tests.fakes.pagerduty_server import ROUTING_KEY, FakePagerDuty
from tests.fakes.slack_server import TOKEN, FakeSlack

CHANNEL = "C0INCIDENTS"
# A Wednesday noon in Berlin, and the same day at 23:30 (inside the quiet window).
NOON = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
NIGHT = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeSlack, FakePagerDuty]]:
    monkeypatch.setenv("AISRE_T_SLACK", TOKEN)
    monkeypatch.setenv("AISRE_T_PD", ROUTING_KEY)
    with FakeSlack() as slack, FakePagerDuty() as pd:
        yield slack, pd


def routing(slack: FakeSlack, pd: FakePagerDuty) -> dict[str, Any]:
    return {
        "channels": {
            "slack": {"type": "slack", "channel": CHANNEL, "token": "env:AISRE_T_SLACK", "api_url": slack.api_url},
            "pd": {"type": "pagerduty", "routing_key": "env:AISRE_T_PD", "api_url": pd.url},
        },
        "routes": [
            {"name": "default", "severities": {"critical": ["slack", "pd"], "high": ["slack"], "medium": ["slack"]}},
            {"name": "batch", "match": {"service": "batch"}, "severities": {"critical": ["slack"]},
             "quiet_hours": {"timezone": "Europe/Berlin", "windows": [{"from": "22:00", "to": "07:00"}],
                             "allow": []}},
        ],
    }  # fmt: skip


def setup(tmp_path: Path, database: Database, slack: FakeSlack, pd: FakePagerDuty, **ws: Any) -> NotifyActivities:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    spec = routing(slack, pd)
    (config / "routing.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (config / "workspaces.yaml").write_text(yaml.safe_dump({"workspaces": [{"name": "w", **ws}]}), encoding="utf-8")
    settings = Settings(data_dir=tmp_path, config_dir=config)
    channels = build_channels(RoutingFile.model_validate(spec).channels)
    return NotifyActivities(db=database, settings=settings, channels=channels)


async def incident(database: Database, *, severity: Severity, service: str, at: datetime = NOON) -> int:
    async with database.session() as session:
        row = await repo.create_incident(
            session,
            workspace="w",
            stream_key=f"s-{service}-{severity}",
            workflow_id=f"incident-w-{service}",
            run_id=f"r-{at.isoformat()}",
            alert=Alert(source="webhook", title=f"{service} is down", severity=severity, service=service),
            opened_at=at,
            previous_incident_id=None,
        )
        return row.id


def notice(iid: int, event: NotifyEvent, key: str, at: datetime = NOON) -> NotifyInput:
    return NotifyInput(event=event, workspace="w", key=key, at=at, incident_id=iid)


async def test_critical_goes_to_slack_and_pagerduty_in_step_with_the_incident(
    database: Database, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pd = fakes
    acts = setup(tmp_path, database, slack, pd)
    env = ActivityEnvironment()
    iid = await incident(database, severity=Severity.critical, service="checkout")
    opened = await env.run(acts.notify, notice(iid, NotifyEvent.opened, "opened"))
    assert sorted(opened.sent) == ["pd", "slack"]
    assert pd.alerts[str(iid)].status == "triggered"
    (card,) = slack.top_level(CHANNEL)

    # The same event again (a retry, a replay): nothing is sent twice.
    again = await env.run(acts.notify, notice(iid, NotifyEvent.opened, "opened"))
    assert sorted(again.skipped) == ["pd", "slack"]
    assert len(slack.top_level(CHANNEL)) == 1
    assert len(pd.requests) == 1

    async with database.session() as session:
        row = await repo.get_incident(session, incident_id=iid)
        assert row is not None
        row.status, row.acknowledged_by = IncidentStatus.acknowledged.value, "alice"
    await env.run(acts.notify, notice(iid, NotifyEvent.acknowledged, "acknowledged"))
    assert pd.alerts[str(iid)].status == "acknowledged"
    async with database.session() as session:
        row = await repo.get_incident(session, incident_id=iid)
        assert row is not None
        row.status, row.resolved_by = IncidentStatus.resolved.value, "alice"
    await env.run(acts.notify, notice(iid, NotifyEvent.resolved, "resolved"))
    assert pd.alerts[str(iid)].status == "resolved"
    # Slack: one card, updated in place, the events in its thread.
    assert len(slack.top_level(CHANNEL)) == 1
    assert slack.message(CHANNEL, card.ts).edits >= 2
    assert any("Resolved by alice" in r.text for r in slack.replies(CHANNEL, card.ts))
    rows = {(r.key, r.channel): r.status for r in await _log(database, iid)}
    assert rows[("opened", "pd")] == "sent"
    assert rows[("resolved", "slack")] == "sent"


async def test_an_outage_retries_only_the_channel_that_failed(
    database: Database, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pd = fakes
    acts = setup(tmp_path, database, slack, pd)
    env = ActivityEnvironment()
    iid = await incident(database, severity=Severity.critical, service="checkout")
    pd.fail_next(429, retry_after=7)
    with pytest.raises(ApplicationError) as raised:
        await env.run(acts.notify, notice(iid, NotifyEvent.opened, "opened"))
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=7)  # the vendor's Retry-After
    assert len(slack.top_level(CHANNEL)) == 1  # Slack took it on the first attempt
    retried = await env.run(acts.notify, notice(iid, NotifyEvent.opened, "opened"))
    assert retried.sent == ["pd"]
    assert retried.skipped == ["slack"]
    assert len(slack.top_level(CHANNEL)) == 1
    assert pd.alerts[str(iid)].status == "triggered"
    attempts = {r.channel: r.attempts for r in await _log(database, iid)}
    assert attempts == {"slack": 1, "pd": 2}


async def test_quiet_hours_hold_unless_a_card_needs_closing(
    database: Database, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pd = fakes
    acts = setup(tmp_path, database, slack, pd)
    env = ActivityEnvironment()
    quiet = await incident(database, severity=Severity.critical, service="batch", at=NIGHT)
    held = await env.run(acts.notify, notice(quiet, NotifyEvent.opened, "opened", NIGHT))
    assert held.held == ["slack"]
    assert held.sent == []
    assert slack.top_level(CHANNEL) == []

    # Opened at noon (card posted), resolved at night: the card is still closed.
    day = await incident(database, severity=Severity.critical, service="batch", at=NOON)
    await env.run(acts.notify, notice(day, NotifyEvent.opened, "opened", NOON))
    async with database.session() as session:
        row = await repo.get_incident(session, incident_id=day)
        assert row is not None
        row.status, row.resolved_by = IncidentStatus.resolved.value, "bob"
    closed = await env.run(acts.notify, notice(day, NotifyEvent.resolved, "resolved", NIGHT))
    assert closed.sent == ["slack"]
    diagnosed = await env.run(acts.notify, notice(day, NotifyEvent.diagnosed, "diagnosis:1", NIGHT))
    assert diagnosed.held == ["slack"]  # anything else waits for the morning


async def test_severity_without_channels_and_a_workspace_restricted_to_its_channels(
    database: Database, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pd = fakes
    acts = setup(tmp_path, database, slack, pd, channels=["slack"])
    env = ActivityEnvironment()
    low = await incident(database, severity=Severity.low, service="checkout")
    nothing = await env.run(acts.notify, notice(low, NotifyEvent.opened, "opened"))
    assert (nothing.sent, nothing.held, nothing.failed) == ([], [], {})
    critical = await incident(database, severity=Severity.critical, service="web")
    only_slack = await env.run(acts.notify, notice(critical, NotifyEvent.opened, "opened"))
    assert only_slack.sent == ["slack"]  # the route names pd too, but this workspace may not use it
    assert pd.requests == []


async def _log(database: Database, iid: int) -> list[Any]:
    async with database.session() as session:
        return await repo.list_notifications(session, incident_id=iid)

"""Notification channels against local receivers that follow each vendor's documented API: FakeSlack (Web
API + incoming webhook), FakeTeams (connector + Workflows webhooks), FakePagerDuty (Events API v2) and a
real aiosmtpd SMTP server (plain, STARTTLS with a certificate made here, implicit TLS, login)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from adapters.notify import (
    Channel,
    ChannelRegistry,
    EmailNotifier,
    PagerDutyNotifier,
    SlackNotifier,
    SlackWebhookNotifier,
    TeamsNotifier,
    build_channels,
    checked_channels,
    default_registry,
)
from adapters.notify.slack import markdown_to_mrkdwn, split_mrkdwn
from domain.models import Severity
from domain.notify import CardAction, ChannelError, DeliveryRef, Notification, NotifyEvent, PagedPerson
from domain.routing import RoutingFile
from domain.settings import ConfigError
from tests.fakes.pagerduty_server import FakePagerDuty
from tests.fakes.slack_server import TOKEN as SLACK_TOKEN
from tests.fakes.slack_server import FakeSlack
from tests.fakes.teams_server import LEGACY_PATH, WORKFLOW_PATH, WORKFLOW_SIG, FakeTeams

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
URL = "https://aisre.example.com/incidents/42"
SMTP_PASSWORD = "sm7p-Pa55w0rd-SECRET"


def pending(action_id: str = "a1", **overrides: Any) -> CardAction:
    values: dict[str, Any] = {
        "action_id": action_id,
        "kind": "restart_deployment",
        "description": f"restart deployment shop/checkout ({action_id})",
        "status": "pending_approval",
        "decision": "require_approval",
        "pending": True,
        "approvers_needed": 2,
    }
    values.update(overrides)
    return CardAction(**values)


def note(event: NotifyEvent = NotifyEvent.opened, **overrides: Any) -> Notification:
    values: dict[str, Any] = {
        "event": event,
        "workspace": "shop",
        "incident_id": 42,
        "title": "Checkout latency high",
        "severity": Severity.critical,
        "service": "checkout",
        "status": "open",
        "url": URL,
        "text": "p99 latency of checkout above 2 s for 5 minutes",
        "diagnosis_summary": "Connection pool exhausted after the 09:55 deploy",
        "diagnosis_category": "resource_exhaustion",
        "diagnosis_confidence": 0.82,
        "actions": [pending()],
        "opened_at": T0,
        "at": T0 + timedelta(minutes=1),
    }
    values.update(overrides)
    return Notification(**values)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every text in a list of Slack blocks, joined (for substring assertions)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out.extend(f["text"] for f in block.get("fields", []))
        # context elements are text objects; button elements carry theirs under "text" too
        out.extend(e["text"] if isinstance(e["text"], str) else e["text"]["text"] for e in block.get("elements", []))
    return "\n".join(out)


# --- Slack Web API ----------------------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def slack_channel(slack: FakeSlack) -> AsyncIterator[SlackNotifier]:
    channel = SlackNotifier(
        name="ops-slack", channel="#incidents", token=SecretStr(SLACK_TOKEN), api_url=slack.api_url, timeout_seconds=5
    )
    yield channel
    await channel.aclose()


async def test_slack_opened_posts_the_card_in_the_documented_shape(slack: FakeSlack, slack_channel: SlackNotifier):
    ref = await slack_channel.send(note(), card=None)

    request = slack.requests[-1]
    assert (request.method, request.path) == ("POST", "/api/chat.postMessage")
    assert request.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    body = request.json()
    assert body["channel"] == "#incidents"
    assert "thread_ts" not in body
    assert "Checkout latency high" in body["text"]
    assert "[CRITICAL]" in body["text"]
    blocks = body["blocks"]
    assert blocks[0]["type"] == "header"
    assert "[CRITICAL]" in blocks[0]["text"]["text"]
    assert "Checkout latency high" in blocks[0]["text"]["text"]
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields[:4] == [
        "*Severity*\nCRITICAL",
        "*Service*\ncheckout",
        "*Status*\nopen",
        f"*Incident*\n<{URL}|#42>",
    ]
    everything = texts(blocks)
    assert "*Diagnosis* (resource exhaustion, 82% confidence)" in everything
    assert "Connection pool exhausted" in everything
    assert "restart deployment shop/checkout (a1)" in everything
    assert "Waiting for approval (0 of 2)" in everything
    assert blocks[-1]["type"] == "context"
    assert f"<!date^{int(T0.timestamp())}^" in blocks[-1]["elements"][0]["text"]

    # The ref points at the channel id Slack answered with, not the configured name.
    [message] = slack.top_level("C0INCIDENTS")
    assert ref == DeliveryRef(channel="ops-slack", message_id=message.ts, thread_id=message.ts, target="C0INCIDENTS")
    assert message.ts.startswith("1732780800.")


async def test_slack_pending_actions_get_approve_and_reject_buttons(slack: FakeSlack, slack_channel: SlackNotifier):
    decided = pending("a2", status="approved", pending=False, approvers=["alice"], approvers_needed=1)
    await slack_channel.send(note(actions=[pending("a1"), decided]), card=None)

    blocks = slack.requests[-1].json()["blocks"]
    action_blocks = [b for b in blocks if b["type"] == "actions"]
    assert len(action_blocks) == 1  # the approved action has no buttons
    [block] = action_blocks
    assert block["block_id"] == "action:a1"
    approve, reject = block["elements"]
    assert (approve["action_id"], approve["style"], approve["text"]["text"]) == ("approve", "primary", "Approve")
    assert (reject["action_id"], reject["style"], reject["text"]["text"]) == ("reject", "danger", "Reject")
    expected = {"incident_id": 42, "action_id": "a1", "workspace": "shop"}
    assert json.loads(approve["value"]) == expected
    assert json.loads(reject["value"]) == expected
    assert "Approved by alice" in texts(blocks)


async def test_slack_card_with_many_actions_stays_within_50_blocks(slack: FakeSlack, slack_channel: SlackNotifier):
    many = [pending(f"a{i}") for i in range(40)]  # 80 blocks with their buttons
    await slack_channel.send(note(actions=many), card=None)

    assert slack.requests[-1].status == 200
    [card] = slack.top_level("C0INCIDENTS")  # the fake refuses > 50 blocks with invalid_blocks
    assert 48 <= len(card.blocks) <= 50
    assert card.blocks[-1]["type"] == "context"
    shown = [b for b in card.blocks if b["type"] == "actions"]
    assert shown[0]["block_id"] == "action:a0"
    assert f"…and {40 - len(shown)} more actions" in texts(card.blocks)


async def test_slack_later_events_update_the_card_and_reply_in_its_thread(
    slack: FakeSlack, slack_channel: SlackNotifier
):
    card = await slack_channel.send(note(), card=None)
    assert card is not None
    assert card.target == "C0INCIDENTS"
    assert card.message_id

    verdict = note(
        NotifyEvent.action_verdict,
        text="Approved by alice and bob: restart deployment shop/checkout (a1)",
        actions=[pending("a1", status="approved", pending=False, approvers=["alice", "bob"])],
    )
    assert await slack_channel.send(verdict, card=card) is None

    update, reply = slack.requests[-2], slack.requests[-1]
    assert update.path == "/api/chat.update"
    assert update.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    assert (update.json()["channel"], update.json()["ts"]) == ("C0INCIDENTS", card.message_id)
    current = slack.card("C0INCIDENTS", card.message_id)
    assert slack.message("C0INCIDENTS", card.message_id).edits == 1
    assert "Approved by alice, bob" in texts(current)
    assert not [b for b in current if b["type"] == "actions"]  # no buttons once decided

    assert reply.path == "/api/chat.postMessage"
    assert reply.json()["thread_ts"] == card.message_id
    [threaded] = slack.replies("C0INCIDENTS", card.message_id)
    assert "Approved by alice and bob" in texts(threaded.blocks)
    assert len(slack.top_level("C0INCIDENTS")) == 1  # still one card


async def test_slack_escalation_mentions_the_paged_people(slack: FakeSlack, slack_channel: SlackNotifier):
    card = await slack_channel.send(note(), card=None)
    assert card is not None
    paged = [
        PagedPerson(name="alice", slack="U01ALICE"),
        PagedPerson(name="bob", display_name="Bob <B>", slack="not a member id"),
    ]
    await slack_channel.send(note(NotifyEvent.escalated, level=2, paged=paged, text="No ack in 10 min"), card=card)

    [reply] = slack.replies("C0INCIDENTS", card.message_id or "")
    text = texts(reply.blocks)
    assert "<@U01ALICE>" in text
    assert "Bob &lt;B&gt;" in text  # not a member id: a name, escaped, never a raw <...>
    assert "Escalated to level 2" in text


async def test_slack_postmortem_goes_to_the_thread_as_mrkdwn_within_slack_limits(
    slack: FakeSlack, slack_channel: SlackNotifier
):
    card = await slack_channel.send(note(), card=None)
    assert card is not None
    table = "\n".join(["| When | Action |", "|---|---|", *(f"| 10:{i:02d} | step {i} |" for i in range(60))])
    body = "\n\n".join(
        [
            "# Postmortem: Checkout latency high",
            "## Summary",
            "**Root cause**: see [runbook](https://rb.example/x).",
            table,
            *(f"- item {i} " + "x" * 150 for i in range(900)),
        ]
    )
    await slack_channel.send(note(NotifyEvent.postmortem, markdown=body, text="Postmortem written"), card=card)

    replies = slack.replies("C0INCIDENTS", card.message_id or "")
    assert len(replies) >= 2  # > 50 sections of 3,000 characters: several messages
    sections = [b for r in replies for b in r.blocks]
    assert all(len(r.blocks) <= 50 for r in replies)
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    joined = texts(sections)
    assert "*Postmortem: Checkout latency high*" in joined
    assert "*Root cause*: see <https://rb.example/x|runbook>." in joined
    assert "• item 899 " in joined
    assert "```" in joined
    assert "step 59" in joined
    assert all(b["text"]["text"].count("```") % 2 == 0 for b in sections)


async def test_slack_event_without_card_posts_a_fresh_card_and_returns_it(
    slack: FakeSlack, slack_channel: SlackNotifier
):
    ref = await slack_channel.send(note(NotifyEvent.resolved, status="resolved", text="Resolved by bob"), card=None)

    [card] = slack.top_level("C0INCIDENTS")
    assert ref is not None
    assert ref.message_id == card.ts
    assert "*Status*\nresolved" in texts(card.blocks)
    [reply] = slack.replies("C0INCIDENTS", card.ts)
    assert "Resolved by bob" in texts(reply.blocks)


async def test_slack_deleted_card_is_posted_again(slack: FakeSlack, slack_channel: SlackNotifier):
    gone = DeliveryRef(
        channel="ops-slack", message_id="1700000000.000001", thread_id="1700000000.000001", target="C0INCIDENTS"
    )
    ref = await slack_channel.send(note(NotifyEvent.acknowledged, text="Acknowledged by bob"), card=gone)

    assert [r.path for r in slack.requests] == ["/api/chat.update", "/api/chat.postMessage", "/api/chat.postMessage"]
    assert ref is not None
    assert ref.message_id != gone.message_id
    assert ref.message_id == slack.top_level("C0INCIDENTS")[0].ts


async def test_slack_digest_is_one_message(slack: FakeSlack, slack_channel: SlackNotifier):
    digest = Notification(
        event=NotifyEvent.digest,
        workspace="shop",
        title="Daily digest — shop",
        text="3 incidents yesterday",
        markdown="## Incidents\n\n- #41 **Disk full** (resolved)\n- #42 Checkout latency (open)",
        at=T0,
    )
    assert await slack_channel.send(digest, card=None) is None
    [request] = slack.requests
    body = request.json()
    assert "thread_ts" not in body
    assert body["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Daily digest — shop", "emoji": True},
    }
    assert "• #41 *Disk full* (resolved)" in texts(body["blocks"])


async def test_slack_escapes_what_alerts_say(slack: FakeSlack, slack_channel: SlackNotifier):
    await slack_channel.send(
        note(title="<!channel> disk & <https://evil.example|click>", text="<!here> now", service="a<b"), card=None
    )
    body = slack.requests[-1].json()
    # The header is plain_text, which Slack never parses; everything mrkdwn must be escaped.
    assert body["blocks"][0]["text"]["type"] == "plain_text"
    raw = body["text"] + texts(body["blocks"][1:])
    assert "<!channel>" not in raw
    assert "<!here>" not in raw
    assert "<https://evil" not in raw
    assert "&lt;!here&gt; now" in body["text"]
    assert "*Service*\na&lt;b" in texts(body["blocks"])


@pytest.mark.parametrize(
    ("inject", "retryable", "retry_after", "words"),
    [
        ({"status": 429, "retry_after": 7}, True, 7.0, "HTTP 429"),
        ({"status": 500}, True, None, "HTTP 500"),
        ({"status": 200, "error": "ratelimited", "retry_after": 3}, True, 3.0, "ratelimited"),
        ({"status": 200, "error": "internal_error"}, True, None, "internal_error"),
    ],
)
async def test_slack_transient_failures_are_retryable(
    slack: FakeSlack,
    slack_channel: SlackNotifier,
    inject: dict[str, Any],
    retryable: bool,
    retry_after: float | None,
    words: str,
):
    slack.fail_next(**inject)
    with pytest.raises(ChannelError) as caught:
        await slack_channel.send(note(), card=None)
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after
    assert words in str(caught.value)
    assert SLACK_TOKEN not in str(caught.value)


async def test_slack_permanent_failures_are_not_retryable(slack: FakeSlack):
    wrong = SlackNotifier(name="s", channel="#incidents", token=SecretStr("xoxb-wrong-SECRET"), api_url=slack.api_url)
    lost = SlackNotifier(name="s", channel="#nowhere", token=SecretStr(SLACK_TOKEN), api_url=slack.api_url)
    try:
        with pytest.raises(ChannelError) as auth:
            await wrong.send(note(), card=None)
        assert not auth.value.retryable
        assert "invalid_auth" in str(auth.value)
        assert "xoxb-wrong-SECRET" not in str(auth.value)
        with pytest.raises(ChannelError) as missing:
            await lost.send(note(), card=None)
        assert not missing.value.retryable
        assert "channel_not_found" in str(missing.value)
        assert "#nowhere" in str(missing.value)
        with pytest.raises(ChannelError) as health:
            await wrong.health()
        assert "invalid_auth" in str(health.value)
    finally:
        await wrong.aclose()
        await lost.aclose()


async def test_slack_health_calls_auth_test(slack: FakeSlack, slack_channel: SlackNotifier):
    await slack_channel.health()
    [request] = slack.requests
    assert (request.path, request.headers["authorization"]) == ("/api/auth.test", f"Bearer {SLACK_TOKEN}")


async def test_slack_unreachable_api_is_retryable():
    channel = SlackNotifier(
        name="s",
        channel="#x",
        token=SecretStr(SLACK_TOKEN),
        api_url=f"http://127.0.0.1:{closed_port()}/api",
        timeout_seconds=2,
    )
    try:
        with pytest.raises(ChannelError) as caught:
            await channel.send(note(), card=None)
    finally:
        await channel.aclose()
    assert caught.value.retryable
    assert "cannot connect" in str(caught.value)
    assert SLACK_TOKEN not in str(caught.value)


def test_markdown_to_mrkdwn():
    converted = markdown_to_mrkdwn(
        "# Title\n"
        "Some **bold**, *italic*, ~~gone~~ and `a<b` with [a link](https://x.example/?a=1&b=2).\n"
        "- [ ] todo\n- [x] done\n- plain <tag> & more\n"
        "> quoted\n"
        "| A | B |\n|---|---|\n| 1 | two |\n"
        "```python\nif a < b: pass\n```"
    )
    assert converted.split("\n") == [
        "*Title*",
        "Some *bold*, _italic_, ~gone~ and `a&lt;b` with <https://x.example/?a=1&amp;b=2|a link>.",
        "☐ todo",
        "☑ done",
        "• plain &lt;tag&gt; &amp; more",
        "> quoted",
        "```",
        "A  B",
        "1  two",
        "```",
        "```",
        "if a &lt; b: pass",
        "```",
    ]


def test_split_mrkdwn_respects_the_limit_and_keeps_code_blocks_whole():
    text = "intro\n```\n" + "\n".join(f"line {i} " + "y" * 40 for i in range(200)) + "\n```\n" + "z" * 7000
    chunks = split_mrkdwn(text, limit=1000)
    assert all(len(c) <= 1000 for c in chunks)
    assert all(c.count("```") % 2 == 0 for c in chunks)
    rebuilt = "".join(chunks)
    assert "line 199" in rebuilt
    assert rebuilt.count("z") == 7000


# --- Slack incoming webhook ------------------------------------------------------------------------


async def test_slack_webhook_posts_the_card_without_buttons(slack: FakeSlack):
    channel = SlackWebhookNotifier(name="hook", url=SecretStr(slack.webhook_url))
    try:
        assert await channel.send(note(), card=None) is None
        await channel.send(
            note(NotifyEvent.escalated, level=1, text="Paging L1", paged=[PagedPerson(name="alice", slack="U01ALICE")]),
            card=None,
        )
    finally:
        await channel.aclose()

    first, second = slack.requests
    assert (first.method, first.path) == ("POST", "/services/T000/B000/XXXX")
    assert first.headers["content-type"] == "application/json"
    assert "authorization" not in first.headers
    body = first.json()
    assert body["text"]
    assert body["blocks"][0]["type"] == "header"
    assert not [b for b in body["blocks"] if b["type"] == "actions"]
    assert "Approve or reject through the API" in texts(body["blocks"])
    assert "<@U01ALICE>" in texts(second.json()["blocks"])
    assert len(slack.webhook_posts) == 2


async def test_slack_webhook_errors_are_mapped_and_never_show_the_url(slack: FakeSlack):
    revoked_url = f"{slack.url}/services/T000/B000/REVOKED"
    live = SlackWebhookNotifier(name="hook", url=SecretStr(slack.webhook_url))
    revoked = SlackWebhookNotifier(name="hook", url=SecretStr(revoked_url))
    try:
        with pytest.raises(ChannelError) as gone:
            await revoked.send(note(), card=None)
        assert not gone.value.retryable
        assert "no_service" in str(gone.value)
        assert "REVOKED" not in str(gone.value)
        assert "/services/" not in str(gone.value)

        slack.fail_next(429, retry_after=30)
        with pytest.raises(ChannelError) as limited:
            await live.send(note(), card=None)
        assert limited.value.retryable
        assert limited.value.retry_after == 30.0

        slack.fail_next(503)
        with pytest.raises(ChannelError) as down:
            await live.send(note(), card=None)
        assert down.value.retryable
        assert "XXXX" not in str(down.value)

        await live.health()  # an empty payload: `no_text`, nothing posted
        assert slack.webhook_posts == []
        with pytest.raises(ChannelError) as unhealthy:
            await revoked.health()
        assert "no_service" in str(unhealthy.value)
    finally:
        await live.aclose()
        await revoked.aclose()


# --- Microsoft Teams --------------------------------------------------------------------------------


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        yield fake


async def test_teams_posts_an_adaptive_card_to_a_connector(teams: FakeTeams):
    channel = TeamsNotifier(name="teams", url=SecretStr(teams.legacy_url))
    try:
        assert await channel.send(note(), card=None) is None
    finally:
        await channel.aclose()

    [request] = teams.requests
    assert (request.method, request.path, request.status) == ("POST", LEGACY_PATH, 200)
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    content = attachment["content"]
    assert content["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (content["type"], content["version"]) == ("AdaptiveCard", "1.4")
    assert content["body"][0]["text"] == "[CRITICAL] #42 Checkout latency high"
    [factset] = [e for e in content["body"] if e["type"] == "FactSet"]
    facts = {f["title"]: f["value"] for f in factset["facts"]}
    assert facts["Incident"] == "#42"
    assert facts["Severity"] == "CRITICAL"
    assert facts["Service"] == "checkout"
    words = " ".join(e.get("text", "") for e in content["body"])
    assert "Waiting for approval (0 of 2)" in words
    assert "Approve or reject through the API" in words
    assert content["actions"] == [{"type": "Action.OpenUrl", "title": "Open incident #42", "url": URL}]


async def test_teams_workflows_webhook_and_postmortem(teams: FakeTeams):
    channel = TeamsNotifier(name="teams", url=SecretStr(teams.workflow_url))
    markdown = "# Postmortem\n\n## Timeline\n\n| Time | Event |\n|---|---|\n| 10:00 | opened |\n- [ ] follow up"
    try:
        await channel.send(note(NotifyEvent.postmortem, markdown=markdown, text="Postmortem written"), card=None)
    finally:
        await channel.aclose()
    [request] = teams.requests
    assert (request.path, request.status, request.param("sig")) == (WORKFLOW_PATH, 202, WORKFLOW_SIG)
    lines = [e["text"] for e in teams.cards[-1]["body"] if e["type"] == "TextBlock"]
    assert "Timeline" in lines
    assert "10:00 · opened" in lines
    assert "☐ follow up" in lines
    assert not any(line.startswith(("|", "#")) for line in lines)


async def test_teams_failures_are_mapped_and_never_show_the_url(teams: FakeTeams):
    live = TeamsNotifier(name="teams", url=SecretStr(teams.legacy_url))
    gone = TeamsNotifier(name="teams", url=SecretStr(teams.legacy_url.replace("IncomingWebhook", "Removed")))
    errors: list[ChannelError] = []
    try:
        for inject, retryable, retry_after in [
            (lambda: teams.fail_next(429, retry_after=12), True, 12.0),
            (lambda: teams.fail_next(502), True, None),
            (lambda: teams.fail_next(400), False, None),
            (teams.throttle_connector, True, None),
        ]:
            inject()
            with pytest.raises(ChannelError) as caught:
                await live.send(note(), card=None)
            assert (caught.value.retryable, caught.value.retry_after) == (retryable, retry_after), str(caught.value)
            errors.append(caught.value)
        with pytest.raises(ChannelError) as missing:
            await gone.send(note(), card=None)
        assert not missing.value.retryable
        assert "HTTP 404" in str(missing.value)
        errors.append(missing.value)
        await live.health()  # reaches the host without posting
        assert teams.payloads == []
    finally:
        await live.aclose()
        await gone.aclose()
    for error in errors:
        assert "webhookb2" not in str(error)
        assert "IncomingWebhook" not in str(error)
        assert teams.url not in str(error)
        assert "the Teams webhook" in str(error)


# --- PagerDuty --------------------------------------------------------------------------------------


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as fake:
        yield fake


@pytest.fixture
async def pd_channel(pagerduty: FakePagerDuty) -> AsyncIterator[PagerDutyNotifier]:
    channel = PagerDutyNotifier(name="pd", routing_key=SecretStr(pagerduty.routing_key), api_url=pagerduty.url)
    yield channel
    await channel.aclose()


async def test_pagerduty_trigger_follows_events_v2(pagerduty: FakePagerDuty, pd_channel: PagerDutyNotifier):
    ref = await pd_channel.send(note(fields={"cluster": "prod-eu"}), card=None)

    [request] = pagerduty.requests
    assert (request.method, request.path, request.status) == ("POST", "/v2/enqueue", 202)
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    body = request.json()
    assert body["routing_key"] == pagerduty.routing_key
    assert (body["event_action"], body["dedup_key"], body["client"]) == ("trigger", "42", "AI-SRE")
    assert body["links"] == [{"href": URL, "text": "Incident #42"}]
    payload = body["payload"]
    assert payload["summary"] == "[CRITICAL] #42 Checkout latency high"
    assert (payload["source"], payload["severity"], payload["component"], payload["group"]) == (
        "checkout",
        "critical",
        "checkout",
        "shop",
    )
    assert payload["class"] == "resource_exhaustion"
    assert datetime.fromisoformat(payload["timestamp"]) == T0
    assert payload["custom_details"]["incident_id"] == 42
    assert payload["custom_details"]["cluster"] == "prod-eu"
    assert ref == DeliveryRef(channel="pd", message_id="42")


async def test_pagerduty_lifecycle_trigger_acknowledge_resolve(pagerduty: FakePagerDuty, pd_channel: PagerDutyNotifier):
    card = await pd_channel.send(note(), card=None)
    assert pagerduty.alerts["42"].status == "triggered"
    for event in (NotifyEvent.diagnosed, NotifyEvent.action_proposed, NotifyEvent.escalated, NotifyEvent.postmortem):
        assert await pd_channel.send(note(event), card=card) is None
    assert len(pagerduty.requests) == 1  # not part of PagerDuty's lifecycle: nothing sent

    assert await pd_channel.send(note(NotifyEvent.acknowledged, status="acknowledged"), card=card) is None
    assert pagerduty.alerts["42"].status == "acknowledged"
    assert await pd_channel.send(note(NotifyEvent.resolved, status="resolved"), card=card) is None
    assert pagerduty.alerts["42"].status == "resolved"
    assert pagerduty.alerts["42"].log == ["trigger", "acknowledge", "resolve"]
    assert [r.json() for r in pagerduty.requests[1:]] == [
        {"routing_key": pagerduty.routing_key, "event_action": "acknowledge", "dedup_key": "42"},
        {"routing_key": pagerduty.routing_key, "event_action": "resolve", "dedup_key": "42"},
    ]
    digest = Notification(event=NotifyEvent.digest, workspace="shop", title="Digest", text="-", at=T0)
    assert await pd_channel.send(digest, card=None) is None
    assert len(pagerduty.requests) == 3


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.critical, "critical"),
        (Severity.high, "error"),
        (Severity.medium, "warning"),
        (Severity.low, "info"),
        (Severity.info, "info"),
        (None, "error"),
    ],
)
async def test_pagerduty_severity_mapping(
    pagerduty: FakePagerDuty, pd_channel: PagerDutyNotifier, severity: Severity | None, expected: str
):
    await pd_channel.send(note(severity=severity), card=None)
    assert pagerduty.alerts["42"].payload["severity"] == expected


async def test_pagerduty_failures_are_mapped_and_never_show_the_key(pagerduty: FakePagerDuty):
    unknown_key = "UNKNOWNKEY0123456789abcdefghijkl"
    good = PagerDutyNotifier(name="pd", routing_key=SecretStr(pagerduty.routing_key), api_url=pagerduty.url)
    bad = PagerDutyNotifier(name="pd", routing_key=SecretStr(unknown_key), api_url=pagerduty.url)
    try:
        with pytest.raises(ChannelError) as invalid:
            await bad.send(note(), card=None)
        assert not invalid.value.retryable
        assert "HTTP 400" in str(invalid.value)
        assert "Invalid routing key" in str(invalid.value)
        assert unknown_key not in str(invalid.value)

        pagerduty.fail_next(429, retry_after=20)
        with pytest.raises(ChannelError) as limited:
            await good.send(note(), card=None)
        assert (limited.value.retryable, limited.value.retry_after) == (True, 20.0)

        pagerduty.fail_next(500)
        with pytest.raises(ChannelError) as down:
            await good.send(note(NotifyEvent.resolved), card=None)
        assert down.value.retryable
        assert pagerduty.routing_key not in str(down.value)
        await good.health()
    finally:
        await good.aclose()
        await bad.aclose()
    assert pagerduty.alerts == {}


# --- email (aiosmtpd) --------------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what arrives and can answer RCPT/DATA with a chosen reply."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        # session.ssl is set by STARTTLS only; an implicit-TLS connection shows on its transport.
        self.tls.append(session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None)
        if session.authenticated:
            self.logins.append(str(session.auth_data))
        return "250 Message accepted for delivery"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"aisre",
        SMTP_PASSWORD.encode(),
    )
    # handled=False: aiosmtpd answers the failure itself (535); True would leave the client waiting.
    return AuthResult(success=ok, handled=False, auth_data="aisre" if ok else None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now (cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


class SmtpServer:
    def __init__(self, **smtp: Any) -> None:
        self.inbox = Inbox()
        self.port = closed_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, ready_timeout=5, **smtp)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def mailer(port: int, **overrides: Any) -> EmailNotifier:
    values: dict[str, Any] = {
        "name": "mail",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "starttls": False,
        "sender": "AI-SRE <aisre@example.com>",
        "to": ["oncall@example.com"],
        "timeout_seconds": 5,
    }
    values.update(overrides)
    return EmailNotifier(**values)


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


async def test_email_opened_mail_has_both_parts_and_returns_its_message_id():
    with SmtpServer() as smtp:
        channel = mailer(smtp.port)
        ref = await channel.send(note(title="Checkout <script>alert(1)</script> slow"), card=None)

    [message] = smtp.inbox.messages
    # Whitespace normalised: folding a long subject before its "—" encoded word leaves a double space after
    # unfolding (Python's header folder; mail clients collapse it).
    subject = " ".join(str(message["Subject"]).split())
    assert subject == "[AI-SRE] [CRITICAL] #42 Checkout <script>alert(1)</script> slow — opened"
    assert message["From"] == "AI-SRE <aisre@example.com>"
    assert message["To"] == "oncall@example.com"
    assert message.get_content_type() == "multipart/alternative"
    body = parts(message)
    assert set(body) == {"text/plain", "text/html"}
    assert "p99 latency of checkout" in body["text/plain"]
    assert URL in body["text/plain"]
    assert "<script>" not in body["text/html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body["text/html"]
    assert f'<a href="{URL}">' in body["text/html"]
    assert message["Message-ID"].endswith("@example.com>")
    assert ref == DeliveryRef(channel="mail", message_id=message["Message-ID"])
    assert smtp.inbox.envelopes == [("aisre@example.com", ["oncall@example.com"])]


async def test_email_later_events_thread_and_escalations_reach_the_paged_people():
    root = DeliveryRef(channel="mail", message_id="<root.1@example.com>")
    with SmtpServer() as smtp:
        channel = mailer(smtp.port)
        paged = [
            PagedPerson(name="alice", email="alice@example.com"),
            PagedPerson(name="bob"),
            PagedPerson(name="carol", email="ONCALL@example.com"),
        ]
        ref = await channel.send(note(NotifyEvent.escalated, level=2, paged=paged, text="L2 paged"), card=root)
        quiet = mailer(smtp.port, to=[], page_people=True)
        assert await quiet.send(note(NotifyEvent.resolved), card=root) is None  # nobody to tell: nothing sent

    assert ref is None
    [message] = smtp.inbox.messages
    assert message["In-Reply-To"] == "<root.1@example.com>"
    assert message["References"] == "<root.1@example.com>"
    assert message["Subject"].endswith("— escalated")
    assert smtp.inbox.envelopes[0][1] == ["oncall@example.com", "alice@example.com"]
    assert "Paged (level 2): alice <alice@example.com>, bob" in parts(message)["text/plain"]


async def test_email_starttls_and_login(certificate: tuple[Path, Path]):
    context = server_context(certificate)
    with SmtpServer(tls_context=context, require_starttls=True, authenticator=authenticator) as smtp:
        channel = mailer(
            smtp.port,
            starttls=True,
            username="aisre",
            password=SecretStr(SMTP_PASSWORD),
            tls_context=client_context(certificate),
        )
        await channel.health()
        await channel.send(note(), card=None)

        wrong = mailer(
            smtp.port,
            starttls=True,
            username="aisre",
            password=SecretStr("wr0ng-SECRET"),
            tls_context=client_context(certificate),
        )
        with pytest.raises(ChannelError) as refused:
            await wrong.send(note(), card=None)
        untrusted = mailer(smtp.port, starttls=True, username="aisre", password=SecretStr(SMTP_PASSWORD))
        with pytest.raises(ChannelError) as unverified:
            await untrusted.send(note(), card=None)

    assert smtp.inbox.tls == [True]
    assert smtp.inbox.logins == ["aisre"]
    assert not refused.value.retryable
    assert "535" in str(refused.value)
    assert "wr0ng-SECRET" not in str(refused.value)
    assert not unverified.value.retryable
    assert "certificate" in str(unverified.value)
    assert SMTP_PASSWORD not in str(unverified.value)


async def test_email_implicit_tls(certificate: tuple[Path, Path]):
    with SmtpServer(ssl_context=server_context(certificate)) as smtp:
        channel = mailer(smtp.port, ssl=True, tls_context=client_context(certificate))
        await channel.send(note(), card=None)
    assert smtp.inbox.tls == [True]


async def test_email_starttls_required_but_not_offered_is_a_clear_permanent_error():
    with SmtpServer() as smtp:
        channel = mailer(smtp.port, starttls=True)
        with pytest.raises(ChannelError) as caught:
            await channel.send(note(), card=None)
    assert not caught.value.retryable
    assert "STARTTLS" in str(caught.value)
    assert "'mail'" in str(caught.value)
    assert smtp.inbox.messages == []


@pytest.mark.parametrize(
    ("reply", "stage", "retryable"),
    [
        ("451 4.3.0 Try again later", "data", True),
        ("554 5.6.0 Message rejected", "data", False),
        ("450 4.2.0 Mailbox busy", "rcpt", True),
        ("550 5.1.1 No such user", "rcpt", False),
    ],
)
async def test_email_smtp_replies_map_to_retryable(reply: str, stage: str, retryable: bool):
    with SmtpServer() as smtp:
        setattr(smtp.inbox, f"{stage}_reply", reply)
        with pytest.raises(ChannelError) as caught:
            await mailer(smtp.port).send(note(), card=None)
    assert caught.value.retryable is retryable
    assert reply.split()[0] in str(caught.value)


async def test_email_unreachable_server_is_retryable():
    channel = mailer(closed_port(), password=SecretStr(SMTP_PASSWORD), username="aisre")
    with pytest.raises(ChannelError) as caught:
        await channel.send(note(), card=None)
    assert caught.value.retryable
    assert SMTP_PASSWORD not in str(caught.value)
    with pytest.raises(ChannelError):
        await channel.health()


# --- registry, building, startup checks ----------------------------------------------------------------


def specs(raw: dict[str, Any]) -> Any:
    return RoutingFile.model_validate({"channels": raw}).channels


def test_registry_refuses_unknown_and_duplicate_slugs():
    registry = default_registry()
    assert registry.names() == ["email", "pagerduty", "slack", "slack_webhook", "teams"]
    with pytest.raises(KeyError, match=r"unknown notification channel type 'sms'.*known: email"):
        registry.get("sms")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("slack", SlackNotifier.from_spec)
    empty = ChannelRegistry()
    with pytest.raises(ConfigError, match=r"channel 'ops'.*unknown notification channel type 'slack'"):
        build_channels(specs({"ops": {"type": "slack", "channel": "#x", "token": "env:X"}}), registry=empty)


async def test_build_channels_resolves_references(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slack: FakeSlack, teams: FakeTeams, pagerduty: FakePagerDuty
):
    monkeypatch.setenv("TEST_SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("TEST_TEAMS_URL", teams.legacy_url)
    (tmp_path / "pd").write_text(pagerduty.routing_key + "\n")
    channels = build_channels(
        specs(
            {
                "ops-slack": {
                    "type": "slack",
                    "channel": "#incidents",
                    "token": "env:TEST_SLACK_TOKEN",
                    "api_url": slack.api_url,
                },
                "teams": {"type": "teams", "url": "env:TEST_TEAMS_URL", "events": ["opened"]},
                "pd": {"type": "pagerduty", "routing_key": f"file:{tmp_path / 'pd'}", "api_url": pagerduty.url},
                "mail": {"type": "email", "smtp_host": "127.0.0.1", "from": "a@example.com", "to": ["b@example.com"]},
            }
        )
    )
    try:
        assert {name: type(c) for name, c in channels.items()} == {
            "ops-slack": SlackNotifier,
            "teams": TeamsNotifier,
            "pd": PagerDutyNotifier,
            "mail": EmailNotifier,
        }
        assert all(isinstance(c, Channel) and c.name == name for name, c in channels.items())
        assert channels["teams"].events == {NotifyEvent.opened, NotifyEvent.digest}
        assert channels["pd"].events == {
            NotifyEvent.opened,
            NotifyEvent.acknowledged,
            NotifyEvent.resolved,
            NotifyEvent.digest,
        }
        # The resolved secrets are the ones the vendors see.
        await channels["ops-slack"].send(note(), card=None)
        await channels["pd"].send(note(), card=None)
        await channels["teams"].send(note(), card=None)
        assert slack.requests[-1].headers["authorization"] == f"Bearer {SLACK_TOKEN}"
        assert pagerduty.requests[-1].json()["routing_key"] == pagerduty.routing_key
        assert teams.requests[-1].path == LEGACY_PATH
    finally:
        await asyncio.gather(*(c.aclose() for c in channels.values()))


def test_build_channels_errors_name_the_channel_and_reference_never_the_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delenv("MISSING_SLACK_TOKEN", raising=False)
    with pytest.raises(ConfigError) as missing:
        build_channels(specs({"ops": {"type": "slack", "channel": "#x", "token": "env:MISSING_SLACK_TOKEN"}}))
    assert "'ops'" in str(missing.value)
    assert "MISSING_SLACK_TOKEN" in str(missing.value)

    with pytest.raises(ConfigError) as unreadable:
        build_channels(specs({"pd": {"type": "pagerduty", "routing_key": f"file:{tmp_path / 'nope'}"}}))
    assert "'pd'" in str(unreadable.value)
    assert "nope" in str(unreadable.value)

    monkeypatch.setenv("SHORT_PD_KEY", "short-SECRET-key")
    with pytest.raises(ConfigError) as short:
        build_channels(specs({"pd": {"type": "pagerduty", "routing_key": "env:SHORT_PD_KEY"}}))
    assert "env:SHORT_PD_KEY" in str(short.value)
    assert "short-SECRET-key" not in str(short.value)

    monkeypatch.setenv("BAD_HOOK", "not-a-url-SECRET")
    with pytest.raises(ConfigError) as not_url:
        build_channels(specs({"hook": {"type": "slack_webhook", "url": "env:BAD_HOOK"}}))
    assert "'hook'" in str(not_url.value)
    assert "not-a-url-SECRET" not in str(not_url.value)

    monkeypatch.setenv("MAIL_PASSWORD", "")
    with pytest.raises(ConfigError, match=r"'mail'.*MAIL_PASSWORD"):
        build_channels(
            specs(
                {
                    "mail": {
                        "type": "email",
                        "smtp_host": "h",
                        "from": "a@example.com",
                        "to": ["b@example.com"],
                        "username": "u",
                        "password": "env:MAIL_PASSWORD",
                    }
                }
            )
        )


async def test_checked_channels_runs_every_startup_check(
    monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, pagerduty: FakePagerDuty
):
    monkeypatch.setenv("GOOD_SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("BAD_SLACK_TOKEN", "xoxb-bad-SECRET")
    monkeypatch.setenv("PD_KEY", pagerduty.routing_key)
    good = {
        "ops": {"type": "slack", "channel": "#incidents", "token": "env:GOOD_SLACK_TOKEN", "api_url": slack.api_url},
        "pd": {"type": "pagerduty", "routing_key": "env:PD_KEY", "api_url": pagerduty.url},
    }
    channels = await checked_channels(specs(good))
    await asyncio.gather(*(c.aclose() for c in channels.values()))
    assert sorted(channels) == ["ops", "pd"]
    assert [r.path for r in slack.requests] == ["/api/auth.test"]
    assert pagerduty.alerts == {}  # the PagerDuty check sends no event

    bad = {
        **good,
        "broken": {"type": "slack", "channel": "#incidents", "token": "env:BAD_SLACK_TOKEN", "api_url": slack.api_url},
        "down": {"type": "pagerduty", "routing_key": "env:PD_KEY", "api_url": f"http://127.0.0.1:{closed_port()}"},
    }
    with pytest.raises(ConfigError) as caught:
        await checked_channels(specs(bad))
    message = str(caught.value)
    assert "channel 'broken' (slack)" in message
    assert "invalid_auth" in message
    assert "channel 'down' (pagerduty)" in message
    assert "cannot connect" in message
    assert "'ops'" not in message
    assert "xoxb-bad-SECRET" not in message
    assert pagerduty.routing_key not in message

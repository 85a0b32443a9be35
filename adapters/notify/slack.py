"""Slack: the Web API (an incident card updated in place, replies in its thread) and incoming webhooks.

Web API (`slack`): `opened` posts the card with chat.postMessage (Block Kit, approve/reject buttons for
pending actions, a plain `text` fallback for notifications); every later event re-renders the card from
the note's *current* state with chat.update and replies in the card's thread with the event (escalations
mention the paged people; the postmortem goes in as mrkdwn split to Slack's limits). Without a card — its
posting failed earlier, quiet hours held it back, or someone deleted it — a fresh card is posted and its
ref returned so the next events update that one. The digest is one message.

Incoming webhook (`slack_webhook`): one message per event; no buttons, because incoming-webhook messages
cannot be interactive — the message says where to approve instead. The webhook URL is the credential.

Everything taken from an alert (titles, descriptions, diagnosis text) is escaped for mrkdwn, so an alert
cannot ping `<!channel>` or forge links.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from adapters.logs.base import retry_after_seconds
from adapters.notify.base import (
    HttpSender,
    action_state,
    approval_hint,
    check_http_url,
    diagnosis_line,
    event_label,
    headline,
    humanize,
    origin,
    severity_label,
    snippet,
    truncate,
    url_secrets,
)
from domain.models import Severity
from domain.notify import ChannelError, DeliveryRef, Notification, NotifyEvent, PagedPerson
from domain.routing import DEFAULT_EVENTS, SlackChannel, SlackWebhookChannel, channel_events
from domain.settings import resolve_secret

# Block Kit limits (api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
HEADER_CHARS = 150
BLOCK_ID_CHARS = 255
FALLBACK_CHARS = 3000  # Slack takes 40,000; a notification shows a line or two

# Slack errors that say "try again later" rather than "this request is wrong".
RETRYABLE_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)
_ERROR_HINTS = {
    "not_authed": "no token was sent",
    "invalid_auth": "the bot token is not valid; check the token reference",
    "account_inactive": "the bot token belongs to a deleted user or workspace",
    "token_revoked": "the bot token was revoked or the app uninstalled",
    "token_expired": "the bot token expired",
    "channel_not_found": "the channel does not exist or the bot cannot see it (invite the bot to private channels)",
    "not_in_channel": "the bot is not a member of the channel; invite it",
    "is_archived": "the channel is archived",
    "missing_scope": "the bot token lacks a scope",
    "message_not_found": "the card message no longer exists",
    "cant_update_message": "the card was not posted by this bot",
    "msg_too_long": "the message is too long",
    "invalid_blocks": "Slack refused the Block Kit layout",
    "ratelimited": "rate limited",
}

SEVERITY_EMOJI = {
    Severity.critical: ":red_circle:",
    Severity.high: ":large_orange_circle:",
    Severity.medium: ":large_yellow_circle:",
    Severity.low: ":large_blue_circle:",
    Severity.info: ":white_circle:",
}
EVENT_EMOJI = {
    NotifyEvent.opened: ":rotating_light:",
    NotifyEvent.diagnosed: ":mag:",
    NotifyEvent.action_proposed: ":raised_hand:",
    NotifyEvent.action_verdict: ":ballot_box_with_check:",
    NotifyEvent.escalated: ":loudspeaker:",
    NotifyEvent.acknowledged: ":eyes:",
    NotifyEvent.resolved: ":white_check_mark:",
    NotifyEvent.postmortem: ":memo:",
    NotifyEvent.digest: ":newspaper:",
}

_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")

Block = dict[str, Any]


# --- mrkdwn --------------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Text made literal for mrkdwn: Slack reads `<...>` as links/mentions and `&` as an entity."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A mrkdwn link `<url|label>`; the URL cannot close the link early."""
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{escape(label)}>"


_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_TASK = re.compile(r"^(\s*)[-*+]\s+\[([ xX])\]\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _inline(text: str) -> str:
    out: list[str] = []
    for index, part in enumerate(_CODE_SPAN.split(text)):
        out.append(escape(part) if index % 2 else _inline_text(part))
    return "".join(out)


def _inline_text(text: str) -> str:
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        # Placeholders keep the link out of reach of the emphasis rewrites below.
        links.append(link(match.group(2), match.group(1)))
        return f"\x00{len(links) - 1}\x00"

    text = _LINK.sub(keep_link, text)
    text = escape(text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], text)


def _table(rows: list[str]) -> list[str]:
    cells = [
        [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(row.strip().strip("|"))]
        for row in rows
        if not _TABLE_RULE.match(row)
    ]
    width = max(len(r) for r in cells)
    sizes = [max((len(r[i]) for r in cells if i < len(r)), default=0) for i in range(width)]
    lines = ["  ".join(c.ljust(sizes[i]) for i, c in enumerate(r)).rstrip() for r in cells]
    # mrkdwn has no tables: a code block keeps the columns aligned.
    return ["```", *(escape(line) for line in lines), "```"]


def markdown_to_mrkdwn(markdown: str) -> str:
    """GitHub-flavoured Markdown (our postmortems and digests) as Slack mrkdwn: headings and **bold** become
    *bold*, links <url|text>, lists bullets, tables code blocks; everything else literal."""
    out: list[str] = []
    lines = markdown.replace("\r\n", "\n").split("\n")
    in_code = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line):
            in_code = not in_code
            out.append("```")
            index += 1
            continue
        if in_code:
            out.append(escape(line))
            index += 1
            continue
        if _TABLE_ROW.match(line):
            rows = []
            while index < len(lines) and _TABLE_ROW.match(lines[index]):
                rows.append(lines[index])
                index += 1
            out.extend(_table(rows))
            continue
        index += 1
        if heading := _HEADING.match(line):
            title = heading.group(1).replace("**", "").replace("__", "")
            out.append(f"*{_inline(title)}*" if title else "")
        elif task := _TASK.match(line):
            box = "☑" if task.group(2).lower() == "x" else "☐"
            out.append(f"{task.group(1)}{box} {_inline(task.group(3))}")
        elif bullet := _BULLET.match(line):
            out.append(f"{bullet.group(1)}• {_inline(bullet.group(2))}")
        elif quote := _QUOTE.match(line):
            out.append(f"> {_inline(quote.group(1))}")
        else:
            out.append(_inline(line))
    if in_code:
        out.append("```")
    return "\n".join(out)


def split_mrkdwn(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """The text in pieces of at most `limit` characters, cut between lines; a code block cut in two is closed
    and reopened so both halves render as code."""
    chunks: list[str] = []
    lines: list[str] = []
    length = 0
    in_code = False
    room = max(limit - 8, 1)  # a piece may need "```\n" before and "\n```" after it
    for line in text.split("\n"):
        pieces = [line[i : i + room] for i in range(0, len(line), room)] or [""]
        for piece in pieces:
            if lines and length + len(piece) + 1 + 4 > limit:
                if in_code:
                    lines.append("```")
                chunks.append("\n".join(lines))
                lines = ["```"] if in_code else []
                length = 4 if in_code else 0
            lines.append(piece)
            length += len(piece) + 1
            if piece.strip().startswith("```"):
                in_code = not in_code
    if lines:
        chunks.append("\n".join(lines))
    return [c.strip("\n") for c in chunks if c.strip() and c.strip() != "```\n```"]


def sections(text: str) -> list[Block]:
    """mrkdwn text as section blocks within Slack's 3,000-character limit."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in split_mrkdwn(text)]


def pack(blocks: list[Block], *, fallback: str) -> list[tuple[str, list[Block]]]:
    """Blocks in messages of at most 50; each message gets a fallback text (numbered when there are several)."""
    groups = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)] or [[]]
    if len(groups) == 1:
        return [(fallback, groups[0])]
    return [(truncate(f"{fallback} ({n}/{len(groups)})", FALLBACK_CHARS), g) for n, g in enumerate(groups, 1)]


# --- the incident card ---------------------------------------------------------------------------------


def _slack_date(at: datetime, label: str) -> str:
    # Slack renders <!date^epoch^format|fallback> in each reader's own time zone.
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    fallback = aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{label} <!date^{int(aware.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def button_value(note: Notification, action_id: str) -> str:
    """What the approve/reject buttons carry back to the interactivity endpoint."""
    return json.dumps(
        {"incident_id": note.incident_id, "action_id": action_id, "workspace": note.workspace}, separators=(",", ":")
    )


def _action_blocks(note: Notification, interactive: bool) -> list[list[Block]]:
    groups: list[list[Block]] = []
    for action in note.actions:
        text = (
            f"*{escape(action.description)}*\n{escape(action_state(action))}"
            f"\n_{escape(action.kind)} · policy: {escape(humanize(action.decision))}_"
        )
        group: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_CHARS)}}]
        if interactive and action.pending and note.incident_id is not None:
            value = button_value(note, action.action_id)
            group.append(
                {
                    "type": "actions",
                    "block_id": f"action:{action.action_id}"[:BLOCK_ID_CHARS],
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "approve",
                            "style": "primary",
                            "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                            "value": value,
                        },
                        {
                            "type": "button",
                            "action_id": "reject",
                            "style": "danger",
                            "text": {"type": "plain_text", "text": "Reject", "emoji": True},
                            "value": value,
                        },
                    ],
                }
            )
        groups.append(group)
    return groups


def card_blocks(note: Notification, *, interactive: bool) -> list[Block]:
    """The incident card: header, facts, diagnosis, actions (buttons while pending, when interactive), time."""
    emoji = SEVERITY_EMOJI.get(note.severity) if note.severity is not None else None
    title = " ".join(p for p in (emoji, f"[{severity_label(note.severity)}]" if note.severity else "", note.title) if p)
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(title, HEADER_CHARS), "emoji": True}}
    ]
    incident = f"#{note.incident_id}" if note.incident_id is not None else "—"
    field_texts = [
        f"*Severity*\n{severity_label(note.severity)}",
        f"*Service*\n{escape(note.service or '—')}",
        f"*Status*\n{escape(humanize(note.status or '—'))}",
        f"*Incident*\n{link(note.url, incident) if note.url else incident}",
        f"*Workspace*\n{escape(note.workspace)}",
        *(f"*{escape(k)}*\n{escape(v)}" for k, v in note.fields.items()),
    ]
    for start in range(0, len(field_texts), MAX_FIELDS):
        chunk = field_texts[start : start + MAX_FIELDS]
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": truncate(t, FIELD_CHARS)} for t in chunk]}
        )
    detail = diagnosis_line(note)
    if note.diagnosis_summary or detail:
        text = "*Diagnosis*" + (f" ({escape(detail)})" if detail else "")
        if note.diagnosis_summary:
            text += "\n" + escape(note.diagnosis_summary)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_CHARS)}})

    tail: list[Block] = []
    if not interactive and any(a.pending for a in note.actions):
        hint = escape(approval_hint(note))
        if note.url:
            hint = hint.replace(escape(note.url), link(note.url, "open the incident"))
        tail.append({"type": "section", "text": {"type": "mrkdwn", "text": f":point_right: {hint}"}})
    moments = [_slack_date(note.opened_at, "Opened")] if note.opened_at else []
    moments.append(_slack_date(note.at, "Updated" if note.opened_at else "At"))
    moments.append(escape(event_label(note.event)))
    tail.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(moments)}]})

    room = MAX_BLOCKS - len(blocks) - len(tail) - 1  # one left for "and N more"
    groups = _action_blocks(note, interactive)
    used = 0
    shown = 0
    for group in groups:
        if used + len(group) > room:
            break
        blocks.extend(group)
        used += len(group)
        shown += 1
    if shown < len(groups):
        more = f"…and {len(groups) - shown} more actions: see GET /incidents/{note.incident_id}/actions"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(more)}})
    return blocks + tail


def card_fallback(note: Notification) -> str:
    """The card's plain `text`: what notifications and screen readers show."""
    return truncate(escape(f"{headline(note)} — {note.status or event_label(note.event)}: {note.text}"), FALLBACK_CHARS)


def mention(person: PagedPerson) -> str:
    """`<@U01ALICE>` for a Slack member id, else the escaped name."""
    if person.slack and _MEMBER_ID.match(person.slack):
        return f"<@{person.slack}>"
    return escape(person.display_name or person.name)


def event_blocks(note: Notification) -> list[Block]:
    """What a later event says in the card's thread: the event text, mentions, the postmortem."""
    emoji = EVENT_EMOJI.get(note.event, "")
    if note.event is NotifyEvent.escalated:
        level = f" to level {note.level}" if note.level is not None else ""
        lead = f"{emoji} *Escalated{level}*: {escape(note.text)}"
        if note.paged:
            lead += "\nPaged: " + ", ".join(mention(p) for p in note.paged)
    else:
        lead = f"{emoji} {escape(note.text)}".strip()
    blocks = sections(lead)
    if note.event in {NotifyEvent.postmortem, NotifyEvent.digest} and note.markdown:
        blocks.extend(sections(markdown_to_mrkdwn(note.markdown)))
    return blocks


def digest_blocks(note: Notification) -> list[Block]:
    """The digest as one message: a header and the digest text (cut at Slack's 50 blocks)."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(note.title, HEADER_CHARS), "emoji": True}}
    ]
    body = sections(markdown_to_mrkdwn(note.markdown)) if note.markdown else sections(escape(note.text))
    if note.url:
        body.append({"type": "section", "text": {"type": "mrkdwn", "text": link(note.url, "Open in AI-SRE")}})
    if len(blocks) + len(body) > MAX_BLOCKS:
        body = body[: MAX_BLOCKS - len(blocks) - 1]
        body.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "…cut to fit one Slack message"}]})
    return blocks + body


# --- Web API ------------------------------------------------------------------------------------------


class SlackApiError(ChannelError):
    """Slack answered `"ok": false`; `error` is its code (channel_not_found, invalid_auth, ...)."""

    def __init__(self, message: str, *, error: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.error = error


class SlackNotifier:
    """The Slack Web API channel (bot token, chat.postMessage / chat.update)."""

    slug: ClassVar[str] = "slack"

    def __init__(
        self,
        *,
        name: str,
        channel: str,
        token: SecretStr,
        api_url: str = "https://slack.com/api",
        timeout_seconds: float = 10.0,
        events: frozenset[NotifyEvent] | None = None,
    ) -> None:
        self.name = name
        self.channel = channel
        self.events = events if events is not None else DEFAULT_EVENTS["slack"] | {NotifyEvent.digest}
        self.api_url = check_http_url(api_url, what=f"channel {name!r} (slack): api_url").rstrip("/")
        self._token = token
        self._http = HttpSender(
            where=f"slack channel {name!r} (Slack API at {origin(self.api_url)})",
            timeout_seconds=timeout_seconds,
            secrets=(token.get_secret_value(),),
        )

    @classmethod
    def from_spec(cls, name: str, spec: SlackChannel) -> SlackNotifier:
        """Build from routing.yaml, resolving the token reference now."""
        token = resolve_secret(spec.token, f"channel {name!r} (slack) token {spec.token}")
        return cls(
            name=name,
            channel=spec.channel,
            token=token,
            api_url=spec.api_url,
            timeout_seconds=spec.timeout_seconds,
            events=channel_events(spec),
        )

    async def send(self, note: Notification, *, card: DeliveryRef | None) -> DeliveryRef | None:
        """Post or update the card and reply in its thread; see the module docstring."""
        if note.event is NotifyEvent.digest or note.incident_id is None:
            await self._call("chat.postMessage", self._message(note.text, digest_blocks(note), target=self.channel))
            return None
        if note.event is NotifyEvent.opened or card is None or not card.target or not card.message_id:
            fresh = await self._post_card(note)
            if note.event is not NotifyEvent.opened:
                await self._reply(note, fresh)
            return fresh
        try:
            await self._call(
                "chat.update",
                {
                    "channel": card.target,
                    "ts": card.message_id,
                    "text": card_fallback(note),
                    "blocks": card_blocks(note, interactive=True),
                },
            )
        except SlackApiError as exc:
            if exc.error != "message_not_found":
                raise
            # Someone deleted the card: a fresh one keeps the incident visible (and its buttons usable).
            fresh = await self._post_card(note)
            await self._reply(note, fresh)
            return fresh
        await self._reply(note, card)
        return None

    async def health(self) -> None:
        """auth.test: the token is valid and the API reachable."""
        await self._call("auth.test", {})

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _post_card(self, note: Notification) -> DeliveryRef:
        data = await self._call(
            "chat.postMessage",
            self._message(card_fallback(note), card_blocks(note, interactive=True), target=self.channel),
        )
        ts = str(data.get("ts") or "")
        if not ts:
            raise ChannelError(f"{self._http.where}: chat.postMessage answered without a ts", retryable=False)
        return DeliveryRef(channel=self.name, message_id=ts, thread_id=ts, target=str(data.get("channel") or ""))

    async def _reply(self, note: Notification, card: DeliveryRef) -> None:
        fallback = truncate(escape(f"{headline(note)}: {note.text}"), FALLBACK_CHARS)
        for text, blocks in pack(event_blocks(note), fallback=fallback):
            body = self._message(text, blocks, target=card.target or self.channel)
            body["thread_ts"] = card.thread_id or card.message_id
            await self._call("chat.postMessage", body)

    @staticmethod
    def _message(text: str, blocks: list[Block], *, target: str) -> dict[str, Any]:
        return {"channel": target, "text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.request(
            "POST",
            f"{self.api_url}/{method}",
            body=body,
            headers={
                "Authorization": f"Bearer {self._token.get_secret_value()}",
                "Content-Type": "application/json; charset=utf-8",
            },
        )
        if response.status_code != 200:
            detail = f"{method}: {snippet(response.text)}" if response.text.strip() else method
            raise self._http.status_error(response, detail)
        try:
            data = response.json()
        except ValueError:
            raise ChannelError(
                f"{self._http.where}: {method} answered HTTP 200 with a body that is not JSON", retryable=True
            ) from None
        if not isinstance(data, dict):
            raise ChannelError(f"{self._http.where}: {method} answered with unexpected JSON", retryable=True)
        if not data.get("ok"):
            raise self._api_error(method, data, retry_after_seconds(response.headers.get("retry-after")))
        return data

    def _api_error(self, method: str, data: dict[str, Any], retry_after: float | None) -> SlackApiError:
        error = str(data.get("error") or "unknown_error")
        reason = _ERROR_HINTS.get(error, "")
        if error == "missing_scope" and data.get("needed"):
            reason += f" (needed: {data['needed']})"
        if error in {"channel_not_found", "not_in_channel", "is_archived"}:
            reason += f" (channel {self.channel})"
        messages = (data.get("response_metadata") or {}).get("messages") or data.get("errors") or []
        if messages and isinstance(messages, list):
            reason += ": " + "; ".join(str(m) for m in messages[:3])
        message = f"{self._http.where}: {method} failed: {error}" + (f" — {reason}" if reason else "")
        return SlackApiError(
            self._http.scrub(message),
            error=error,
            retryable=error in RETRYABLE_ERRORS,
            retry_after=retry_after if error in RETRYABLE_ERRORS else None,
        )


# --- incoming webhook ---------------------------------------------------------------------------------

_WEBHOOK_HINTS = {
    "invalid_payload": "Slack could not read the message",
    "no_text": "the message has no text",
    "invalid_blocks": "Slack refused the Block Kit layout",
    "no_service": "the webhook was revoked or its app removed",
    "no_service_id": "the webhook URL is incomplete",
    "no_team": "the webhook's workspace is gone",
    "team_disabled": "the workspace is disabled",
    "invalid_token": "the webhook was revoked",
    "channel_not_found": "the webhook's channel was deleted",
    "channel_is_archived": "the webhook's channel is archived",
    "action_prohibited": "a workspace admin restricted posting to the channel",
    "posting_to_general_channel_denied": "only admins may post to the channel",
    "user_not_found": "the webhook's user is gone",
}
# What an empty payload gets from a live webhook: it exists, and it refused to post nothing.
_HEALTHY_REFUSALS = frozenset({"no_text", "invalid_payload", "missing_text_or_fallback_or_attachments"})


def webhook_messages(note: Notification) -> list[tuple[str, list[Block]]]:
    """The messages one event posts through an incoming webhook (usually one; a long postmortem more)."""
    if note.event is NotifyEvent.digest or note.incident_id is None:
        return [(truncate(escape(note.text), FALLBACK_CHARS), digest_blocks(note))]
    blocks = card_blocks(note, interactive=False)
    if note.event is not NotifyEvent.opened:
        blocks = blocks[:-1] + event_blocks(note) + blocks[-1:]  # the time stays last
    return pack(blocks, fallback=card_fallback(note))


class SlackWebhookNotifier:
    """A Slack incoming webhook: one message per event."""

    slug: ClassVar[str] = "slack_webhook"

    def __init__(
        self,
        *,
        name: str,
        url: SecretStr,
        timeout_seconds: float = 10.0,
        events: frozenset[NotifyEvent] | None = None,
    ) -> None:
        self.name = name
        self.events = events if events is not None else DEFAULT_EVENTS["slack_webhook"] | {NotifyEvent.digest}
        self._url = url
        self._http = HttpSender(
            where=f"slack_webhook channel {name!r} (the Slack webhook)",
            timeout_seconds=timeout_seconds,
            secrets=url_secrets(url.get_secret_value()),
        )

    @classmethod
    def from_spec(cls, name: str, spec: SlackWebhookChannel) -> SlackWebhookNotifier:
        """Build from routing.yaml, resolving the webhook URL reference now."""
        url = resolve_secret(spec.url, f"channel {name!r} (slack_webhook) url {spec.url}")
        check_http_url(url.get_secret_value(), what=f"channel {name!r} (slack_webhook): the webhook {spec.url}")
        return cls(name=name, url=url, timeout_seconds=spec.timeout_seconds, events=channel_events(spec))

    async def send(self, note: Notification, *, card: DeliveryRef | None) -> DeliveryRef | None:
        """Post the event's message(s); webhook messages cannot be updated, so there is no ref."""
        for text, blocks in webhook_messages(note):
            await self._post({"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False})
        return None

    async def health(self) -> None:
        """Post an empty payload: a live webhook refuses it with `no_text` and posts nothing."""
        response = await self._http.request(
            "POST", self._url.get_secret_value(), body={}, headers={"Content-Type": "application/json"}
        )
        if response.is_success or (response.status_code == 400 and response.text.strip() in _HEALTHY_REFUSALS):
            return
        raise self._error(response)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _post(self, payload: dict[str, Any]) -> None:
        response = await self._http.request(
            "POST", self._url.get_secret_value(), body=payload, headers={"Content-Type": "application/json"}
        )
        if not response.is_success:
            raise self._error(response)

    def _error(self, response: httpx.Response) -> ChannelError:
        code = response.text.strip()
        hint = _WEBHOOK_HINTS.get(code)
        return self._http.status_error(response, f"{snippet(code)} ({hint})" if hint else snippet(code))

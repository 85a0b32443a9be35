"""Microsoft Teams: an Adaptive Card posted to an incoming webhook (legacy Office 365 connector or a
Workflows "post to a channel when a webhook request is received" URL).

Teams webhooks cannot update a posted card, so every event posts a card with the incident's current state
and the event on top. Incoming webhooks are not interactive either: pending actions say where to approve
(the API), and the card links to the incident with Action.OpenUrl. The webhook URL is the
credential: errors say "the Teams webhook" and never show it.

Answers: legacy connectors reply 200 with body `1`; Workflows reply 202. A legacy connector that was
itself throttled or failed downstream replies 200 with a text such as "Microsoft Teams endpoint returned
HTTP error 429 ..." — that is a failure, mapped like the status it names.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from adapters.notify.base import (
    HttpSender,
    action_state,
    approval_hint,
    check_http_url,
    diagnosis_line,
    event_label,
    facts,
    headline,
    humanize,
    person_label,
    retryable_status,
    snippet,
    url_secrets,
)
from domain.models import Severity
from domain.notify import ChannelError, DeliveryRef, Notification, NotifyEvent
from domain.routing import DEFAULT_EVENTS, TeamsChannel, channel_events
from domain.settings import resolve_secret

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
# Teams refuses messages over ~28 KB; the long Markdown bodies are cut well below that.
MARKDOWN_CHARS = 18_000
MAX_MARKDOWN_BLOCKS = 120

_COLOR = {Severity.critical: "Attention", Severity.high: "Attention", Severity.medium: "Warning"}
_EMBEDDED_STATUS = re.compile(r"HTTP error (\d{3})")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_TASK = re.compile(r"^(\s*)[-*+]\s+\[([ xX])\]\s+(.*)$")

Element = dict[str, Any]


def _text(text: str, **style: Any) -> Element:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def markdown_elements(markdown: str) -> list[Element]:
    """Markdown as TextBlocks (Adaptive Cards render bold, italics, lists and links, not headings or tables):
    headings become bold lines, table rows ` · `-joined cells, code fences plain lines."""
    cut = len(markdown) > MARKDOWN_CHARS
    elements: list[Element] = []
    for raw in markdown[:MARKDOWN_CHARS].replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip() or line.strip().startswith(("```", "~~~")) or _TABLE_RULE.match(line):
            continue
        if heading := _HEADING.match(line):
            elements.append(_text(heading.group(1), weight="Bolder", spacing="Medium"))
        elif line.lstrip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            elements.append(_text(" · ".join(cells), spacing="None"))
        elif task := _TASK.match(line):
            box = "☑" if task.group(2).lower() == "x" else "☐"
            elements.append(_text(f"{task.group(1)}{box} {task.group(3)}", spacing="None"))
        else:
            elements.append(_text(line, spacing="None"))
    if len(elements) > MAX_MARKDOWN_BLOCKS:
        elements = elements[:MAX_MARKDOWN_BLOCKS]
        cut = True
    if cut:
        elements.append(_text("…cut to fit one Teams message; the full text is in AI-SRE.", isSubtle=True))
    return elements


def adaptive_card(note: Notification) -> dict[str, Any]:
    """The Adaptive Card (its `content`) for one event."""
    title = headline(note)
    style: dict[str, Any] = {"size": "Large", "weight": "Bolder"}
    if note.severity in _COLOR:
        style["color"] = _COLOR[note.severity]
    body: list[Element] = [_text(title, **style)]
    if note.event is not NotifyEvent.digest:
        body.append(_text(f"{event_label(note.event).capitalize()}: {note.text}"))
        rows = facts(note)
        if note.incident_id is not None:
            rows.insert(0, ("Incident", f"#{note.incident_id}"))
        body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in rows]})
    else:
        body.append(_text(note.text))
    detail = diagnosis_line(note)
    if note.diagnosis_summary or detail:
        body.append(_text("Diagnosis" + (f" ({detail})" if detail else ""), weight="Bolder", spacing="Medium"))
        if note.diagnosis_summary:
            body.append(_text(note.diagnosis_summary))
    if note.actions:
        body.append(_text("Actions", weight="Bolder", spacing="Medium"))
        for action in note.actions:
            body.append(
                _text(
                    f"**{action.description}** — {action_state(action)} "
                    f"({action.kind}, policy: {humanize(action.decision)})"
                )
            )
        if any(a.pending for a in note.actions):
            body.append(_text(approval_hint(note), isSubtle=True))
    if note.event is NotifyEvent.escalated and note.paged:
        level = f"level {note.level}" if note.level is not None else "escalation"
        body.append(_text(f"Paged ({level}): " + ", ".join(person_label(p) for p in note.paged), weight="Bolder"))
    if note.markdown and note.event in {NotifyEvent.postmortem, NotifyEvent.digest}:
        body.extend(markdown_elements(note.markdown))
    content: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if note.url:
        label = f"Open incident #{note.incident_id}" if note.incident_id is not None else "Open AI-SRE"
        content["actions"] = [{"type": "Action.OpenUrl", "title": label, "url": note.url}]
    return content


def message(note: Notification) -> dict[str, Any]:
    """The webhook payload: a message with one Adaptive Card attachment."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(note)}],
    }


class TeamsNotifier:
    """A Teams incoming webhook (connector or Workflows)."""

    slug: ClassVar[str] = "teams"

    def __init__(
        self,
        *,
        name: str,
        url: SecretStr,
        timeout_seconds: float = 10.0,
        events: frozenset[NotifyEvent] | None = None,
    ) -> None:
        self.name = name
        self.events = events if events is not None else DEFAULT_EVENTS["teams"] | {NotifyEvent.digest}
        self._url = url
        self._http = HttpSender(
            where=f"teams channel {name!r} (the Teams webhook)",
            timeout_seconds=timeout_seconds,
            secrets=url_secrets(url.get_secret_value()),
        )

    @classmethod
    def from_spec(cls, name: str, spec: TeamsChannel) -> TeamsNotifier:
        """Build from routing.yaml, resolving the webhook URL reference now."""
        url = resolve_secret(spec.url, f"channel {name!r} (teams) url {spec.url}")
        check_http_url(url.get_secret_value(), what=f"channel {name!r} (teams): the Teams webhook {spec.url}")
        return cls(name=name, url=url, timeout_seconds=spec.timeout_seconds, events=channel_events(spec))

    async def send(self, note: Notification, *, card: DeliveryRef | None) -> DeliveryRef | None:
        """Post the card; Teams webhook messages cannot be updated, so there is no ref."""
        response = await self._http.request(
            "POST", self._url.get_secret_value(), body=message(note), headers={"Content-Type": "application/json"}
        )
        self._check(response)
        return None

    async def health(self) -> None:
        """Reach the webhook's host (DNS, TCP, TLS). Posting would put a message in the channel, and Workflows
        accept any body with 202, so a request to the webhook itself proves nothing more."""
        await self._http.probe(self._url.get_secret_value())

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        text = response.text.strip()
        embedded = _EMBEDDED_STATUS.search(text) if status == 200 and text != "1" else None
        if embedded is not None:
            raise ChannelError(
                self._http.scrub(f"{self._http.where}: HTTP 200 but the connector says: {snippet(text)}"),
                retryable=retryable_status(int(embedded.group(1))),
            )
        if status in {200, 201, 202, 204}:
            return
        detail = snippet(text)
        if status == 404:
            detail = f"{detail} (the webhook does not exist or was removed)".strip()
        elif status in {401, 403}:
            detail = f"{detail} (the webhook refused the request; it may have been disabled)".strip()
        elif status == 413:
            detail = f"{detail} (the card is too large)".strip()
        raise self._http.status_error(response, detail)


__all__ = ["TeamsNotifier", "adaptive_card", "markdown_elements", "message"]

"""PagerDuty Events API v2: the incident's lifecycle as one PagerDuty alert.

`opened` → trigger, `acknowledged` → acknowledge, `resolved` → resolve, all with dedup_key = the incident
id (unique across workspaces), so PagerDuty correlates them and a retried trigger only adds a log entry
to the open alert. Other events (and the digest) send nothing. The routing (integration) key travels in
the body and never appears in an error message.

Answers (developer.pagerduty.com, Events API v2): 202 `{"status": "success", "message": "Event processed",
"dedup_key": ...}`; 400 `{"status": "invalid event", "message": "Event object is invalid", "errors":
[...]}` (not retryable); 429 and 5xx (retryable).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from adapters.notify.base import HttpSender, check_http_url, headline, humanize, origin, snippet, truncate
from domain.models import Severity
from domain.notify import DeliveryRef, Notification, NotifyEvent
from domain.routing import DEFAULT_EVENTS, PagerDutyChannel, channel_events
from domain.settings import ConfigError, resolve_secret

ROUTING_KEY_CHARS = 32
SUMMARY_CHARS = 1024
CLIENT = "AI-SRE"

ACTIONS = {
    NotifyEvent.opened: "trigger",
    NotifyEvent.acknowledged: "acknowledge",
    NotifyEvent.resolved: "resolve",
}
SEVERITIES = {
    Severity.critical: "critical",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "info",
    Severity.info: "info",
}
UNKNOWN_SEVERITY = "error"  # an incident without a severity still deserves attention


def pagerduty_severity(severity: Severity | None) -> str:
    """Our severity in PagerDuty's four levels."""
    return SEVERITIES[severity] if severity is not None else UNKNOWN_SEVERITY


def _iso(at: datetime) -> str:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.isoformat()


def event_body(note: Notification, *, routing_key: str) -> dict[str, Any] | None:
    """The Events v2 body for a note, or None when the event is not part of PagerDuty's lifecycle."""
    action = ACTIONS.get(note.event)
    if action is None or note.incident_id is None:
        return None
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": str(note.incident_id)}
    if action != "trigger":
        return body
    details: dict[str, Any] = {
        "incident_id": note.incident_id,
        "workspace": note.workspace,
        "text": note.text,
    }
    if note.status:
        details["status"] = note.status
    if note.diagnosis_summary:
        details["diagnosis"] = note.diagnosis_summary
    if note.diagnosis_confidence is not None:
        details["diagnosis_confidence"] = note.diagnosis_confidence
    if note.actions:
        details["actions"] = [f"{a.description}: {humanize(a.status)}" for a in note.actions]
    details.update(note.fields)
    payload: dict[str, Any] = {
        "summary": truncate(headline(note), SUMMARY_CHARS),
        "source": note.service or "ai-sre",
        "severity": pagerduty_severity(note.severity),
        "timestamp": _iso(note.opened_at or note.at),
        "group": note.workspace,
        "custom_details": details,
    }
    if note.service:
        payload["component"] = note.service
    if note.diagnosis_category:
        payload["class"] = note.diagnosis_category
    body["payload"] = payload
    body["client"] = CLIENT
    if note.url:
        body["client_url"] = note.url
        body["links"] = [{"href": note.url, "text": f"Incident #{note.incident_id}"}]
    return body


class PagerDutyNotifier:
    """The PagerDuty Events API v2 channel."""

    slug: ClassVar[str] = "pagerduty"

    def __init__(
        self,
        *,
        name: str,
        routing_key: SecretStr,
        api_url: str = "https://events.pagerduty.com",
        timeout_seconds: float = 10.0,
        events: frozenset[NotifyEvent] | None = None,
    ) -> None:
        self.name = name
        self.events = events if events is not None else DEFAULT_EVENTS["pagerduty"] | {NotifyEvent.digest}
        self.api_url = check_http_url(api_url, what=f"channel {name!r} (pagerduty): api_url").rstrip("/")
        self._routing_key = routing_key
        self._http = HttpSender(
            where=f"pagerduty channel {name!r} (Events API at {origin(self.api_url)})",
            timeout_seconds=timeout_seconds,
            secrets=(routing_key.get_secret_value(),),
        )

    @classmethod
    def from_spec(cls, name: str, spec: PagerDutyChannel) -> PagerDutyNotifier:
        """Build from routing.yaml, resolving the routing key reference now."""
        key = resolve_secret(spec.routing_key, f"channel {name!r} (pagerduty) routing_key {spec.routing_key}")
        length = len(key.get_secret_value())
        if length != ROUTING_KEY_CHARS:
            raise ConfigError(
                f"channel {name!r} (pagerduty): routing_key {spec.routing_key} holds {length} characters; "
                f"a PagerDuty integration key has {ROUTING_KEY_CHARS}"
            )
        return cls(
            name=name,
            routing_key=key,
            api_url=spec.api_url,
            timeout_seconds=spec.timeout_seconds,
            events=channel_events(spec),
        )

    async def send(self, note: Notification, *, card: DeliveryRef | None) -> DeliveryRef | None:
        """Trigger, acknowledge or resolve; the trigger returns the dedup_key as the ref."""
        body = event_body(note, routing_key=self._routing_key.get_secret_value())
        if body is None:
            return None
        response = await self._http.request(
            "POST", f"{self.api_url}/v2/enqueue", body=body, headers={"Content-Type": "application/json"}
        )
        if not response.is_success:
            raise self._http.status_error(response, self._reason(response))
        if body["event_action"] != "trigger":
            return None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        dedup_key = answer.get("dedup_key") if isinstance(answer, dict) else None
        return DeliveryRef(channel=self.name, message_id=str(dedup_key or body["dedup_key"]))

    async def health(self) -> None:
        """Reach the Events API host (DNS, TCP, TLS). The Events API has no side-effect-free call: any event
        with a valid key acts on PagerDuty."""
        await self._http.probe(self.api_url)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    @staticmethod
    def _reason(response: httpx.Response) -> str:
        try:
            answer = response.json()
        except ValueError:
            return snippet(response.text)
        if not isinstance(answer, dict):
            return snippet(response.text)
        parts = [str(answer.get("message") or answer.get("status") or "")]
        errors = answer.get("errors")
        if isinstance(errors, list) and errors:
            parts.append("; ".join(str(e) for e in errors[:5]))
        return snippet(": ".join(p for p in parts if p))

"""A local server that speaks the PagerDuty Events API v2 (`POST /v2/enqueue`) and keeps alert state.

What it follows (developer.pagerduty.com, "Send an Alert Event" and the Events API v2 overview):
- body `routing_key` (the 32-character integration key), `event_action` (trigger | acknowledge |
  resolve), `dedup_key` (≤ 255 characters; required for acknowledge/resolve; generated when a trigger has
  none), and for trigger a `payload` with required `summary` (≤ 1024), `source`, `severity` (critical |
  error | warning | info) and optional `timestamp` (ISO 8601), `component`, `group`, `class`,
  `custom_details` (object); optional `links` [{href, text}], `images` [{src, href, alt}], `client`,
  `client_url`.
- 202 `{"status": "success", "message": "Event processed", "dedup_key": "..."}`;
  400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`;
  429 when the integration is over its rate (`fail_next`), 5xx on server trouble.
- Alert state per dedup_key: a trigger opens an alert (or adds a log entry to the open one);
  acknowledge / resolve apply to the open alert and are dropped when there is none; after a resolve, a
  new trigger with the same key opens a new alert.

    with FakePagerDuty() as pd:
        ...  # PagerDutyNotifier(api_url=pd.url, routing_key=SecretStr(pd.routing_key))
        assert pd.alerts["42"].status == "resolved"
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.fakes.http import FakeHTTPServer, RecordedRequest, Reply

ROUTING_KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"  # 32 characters, like an integration key
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class Alert:
    """One PagerDuty alert (what a dedup_key points at)."""

    dedup_key: str
    status: str  # triggered, acknowledged, resolved
    payload: dict[str, Any]
    links: list[dict[str, Any]]
    log: list[str] = field(default_factory=list)  # event actions applied, in order


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body), headers=headers or {})


def _invalid(errors: list[str]) -> Reply:
    return _answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})


def event_errors(event: Any, *, routing_keys: set[str]) -> list[str]:
    """PagerDuty's `errors` for an event body (empty when it would be accepted)."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors: list[str] = []
    key = event.get("routing_key")
    if not isinstance(key, str) or not key:
        errors.append("'routing_key' is missing or blank")
    elif len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    elif key not in routing_keys:
        errors.append("Invalid routing key")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in {"acknowledge", "resolve"} and not dedup_key:
        errors.append("'dedup_key' is required for acknowledge and resolve events")
    if action == "trigger":
        errors.extend(_payload_errors(event.get("payload")))
        for i, item in enumerate(event.get("links") or []):
            if not isinstance(item, dict) or not isinstance(item.get("href"), str) or not item["href"]:
                errors.append(f"'links[{i}].href' is required")
        for i, item in enumerate(event.get("images") or []):
            if not isinstance(item, dict) or not str(item.get("src", "")).startswith("https://"):
                errors.append(f"'images[{i}].src' must be an HTTPS URL")
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors: list[str] = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > 1024:
        errors.append("'payload.summary' is longer than 1024 characters")
    source = payload.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
    timestamp = payload.get("timestamp")
    if timestamp is not None:
        try:
            datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
        except ValueError:
            errors.append("'payload.timestamp' is not a valid ISO 8601 timestamp")
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict | str):
        errors.append("'payload.custom_details' must be an object")
    return errors


class FakePagerDuty(FakeHTTPServer):
    """The server; see the module docstring."""

    def __init__(self, *, routing_keys: set[str] | None = None) -> None:
        super().__init__()
        self.routing_keys = routing_keys if routing_keys is not None else {ROUTING_KEY}
        self.alerts: dict[str, Alert] = {}
        self.history: list[Alert] = []  # resolved alerts a later trigger replaced
        self.dropped: list[dict[str, Any]] = []  # acknowledge/resolve events with no open alert
        self._failures: deque[Reply] = deque()

    @property
    def routing_key(self) -> str:
        """A routing key the server accepts."""
        return next(iter(sorted(self.routing_keys)))

    def fail_next(self, status: int = 429, *, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `times` events with `status` (429: rate limited; 5xx: server trouble)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == 429:
            body = {"status": "throttle event", "message": "Requests for this service are arriving too quickly."}
        else:
            body = {"status": "error", "message": "Internal server error"}
        with self._lock:
            self._failures.extend(_answer(status, body, headers) for _ in range(times))

    def handle(self, request: RecordedRequest) -> Reply:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return Reply(404, json.dumps({"status": "not found", "message": "Not Found"}))
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return failure
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _invalid(["Content-Type must be application/json"])
        try:
            event = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _answer(400, {"status": "invalid request", "message": "Malformed JSON", "errors": []})
        errors = event_errors(event, routing_keys=self.routing_keys)
        if errors:
            return _invalid(errors)
        dedup_key = str(event.get("dedup_key") or uuid.uuid4().hex)
        self._apply(event, dedup_key)
        return _answer(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})

    def _apply(self, event: dict[str, Any], dedup_key: str) -> None:
        action = event["event_action"]
        with self._lock:
            alert = self.alerts.get(dedup_key)
            open_alert = alert if alert is not None and alert.status != "resolved" else None
            if action == "trigger":
                if open_alert is None:
                    if alert is not None:
                        self.history.append(alert)
                    self.alerts[dedup_key] = Alert(
                        dedup_key=dedup_key,
                        status="triggered",
                        payload=event["payload"],
                        links=list(event.get("links") or []),
                        log=["trigger"],
                    )
                else:
                    open_alert.log.append("trigger")
            elif open_alert is None:
                self.dropped.append(event)
            else:
                open_alert.status = "acknowledged" if action == "acknowledge" else "resolved"
                open_alert.log.append(action)

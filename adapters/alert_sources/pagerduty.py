"""PagerDuty outgoing webhooks: V3 (Generic Webhooks v3) and the deprecated V2 extension format.

**V3** bodies carry exactly one event: ``{"event": {"id", "event_type", "resource_type", "occurred_at",
"agent", "client", "data"}}``. For most ``incident.*`` events ``data`` is the incident itself; for
``incident.annotated`` (``incident_note``), ``incident.status_update_published``,
``incident.responder.*``, ``incident.workflow.*`` and ``incident.custom_field_values.updated`` it is
another object whose ``incident`` reference names the incident. ``service.*`` and ``pagey.ping`` events
are not about an incident: they are detected as PagerDuty, then refused by ``normalize`` (dead letter).

**V2** bodies are ``{"messages": [{"id", "event": "incident.trigger", "created_on", "incident": {...},
"log_entries": [...], "webhook": {...}}]}``; ``split`` makes one item per message (each item is the
message object itself, which needs nothing from the envelope). V1 (``messages[].type`` +
``data.incident``) lost functionality in October 2022 and is not supported.

Detection: a ``User-Agent`` starting with ``PagerDuty-Webhook/`` or an ``X-PagerDuty-Signature`` header
(whatever the body); else a V3 shape (``event`` object with a string ``event_type`` and the keys
``resource_type`` and ``data``, plus ``id`` or ``occurred_at``), or a V2 shape (non-empty ``messages``
list holding an object with ``event`` = ``incident.*`` and an ``incident`` object).

Stream key: ``pagerduty:<incident id>`` (``data.id`` when the data is the incident, else
``data.incident.id``; ``incident.id`` in V2) so every event of one incident, V2 or V3, reaches the same
workflow. The incident id is also the alert's fingerprint.

Lifecycle:

| Event (V3 / V2)                                                        | Lifecycle      |
|------------------------------------------------------------------------|----------------|
| `incident.triggered` / `incident.trigger`                              | firing         |
| `incident.reopened`                                                    | firing         |
| `incident.unacknowledged` / `incident.unacknowledge`                   | firing         |
| `incident.acknowledged` / `incident.acknowledge`                       | acknowledged   |
| `incident.resolved` / `incident.resolve`                               | resolved       |
| any other `incident.*` (annotated, reassigned, escalated, delegated, priority_updated, responder.*, status_update_published, conference_bridge.updated, workflow.*, incident_type.changed, ... / V2 assign, escalate, delegate, annotate) | updated |
| no `event_type`: the incident's `status` (triggered / acknowledged / resolved) | firing / acknowledged / resolved |
| `service.*`, `pagey.ping`, anything unrecognisable                     | firing (reaches `normalize`, which dead-letters it with the reason) |

Severity: the incident priority when it has one, else its urgency.

| PagerDuty priority / urgency        | Severity |
|-------------------------------------|----------|
| priority `P1`                       | critical |
| priority `P2`                       | high     |
| priority `P3`                       | medium   |
| priority `P4`                       | low      |
| priority `P5`                       | info     |
| other priority names (e.g. `SEV-1`) | `parse_severity` of the name, else the urgency's |
| no priority, urgency `high`         | high     |
| no priority, urgency `low`          | low      |
| neither                             | medium   |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.alert_sources.base import (
    as_dict,
    bounded_key,
    fallback_key,
    first_text,
    hashed_key,
    parse_severity,
    parse_time,
    require_title,
    string_map,
    text_or_none,
)
from domain.models import Alert, Lifecycle, NormalizationError, Severity

SEVERITY_BY_PRIORITY: dict[str, Severity] = {
    "p1": Severity.critical,
    "p2": Severity.high,
    "p3": Severity.medium,
    "p4": Severity.low,
    "p5": Severity.info,
}
SEVERITY_BY_URGENCY: dict[str, Severity] = {"high": Severity.high, "low": Severity.low}

LIFECYCLE_BY_EVENT: dict[str, Lifecycle] = {
    # V3
    "incident.triggered": Lifecycle.firing,
    "incident.reopened": Lifecycle.firing,
    "incident.unacknowledged": Lifecycle.firing,
    "incident.acknowledged": Lifecycle.acknowledged,
    "incident.resolved": Lifecycle.resolved,
    # V2 (deprecated)
    "incident.trigger": Lifecycle.firing,
    "incident.unacknowledge": Lifecycle.firing,
    "incident.acknowledge": Lifecycle.acknowledged,
    "incident.resolve": Lifecycle.resolved,
}
_LIFECYCLE_BY_STATUS: dict[str, Lifecycle] = {
    "triggered": Lifecycle.firing,
    "acknowledged": Lifecycle.acknowledged,
    "resolved": Lifecycle.resolved,
}
# Data types that are the incident itself rather than an object referring to it.
_INCIDENT_TYPES = ("incident", "incident_reference")
_NAMESPACE_KEYS = ("namespace", "kube_namespace", "kubernetes_namespace", "k8s_namespace")
_POD_KEYS = ("pod", "pod_name", "kube_pod")
_DEPLOYMENT_KEYS = ("deployment", "kube_deployment", "deployment_name")
_LINK_KEYS = {
    "runbook": ("runbook_url", "runbook"),
    "dashboard": ("dashboard_url", "dashboard"),
    "image": ("image_url", "image"),
}
# Texts a note-like event carries: incident_note.content, incident_status_update.message,
# incident_responder.message.
_EVENT_TEXT_KEYS = ("content", "message")


def _names(value: Any) -> str | None:
    """References (teams, assignees, assignments) as a comma-joined list of their names."""
    if not isinstance(value, list):
        return None
    names: list[str] = []
    for entry in value:
        entry = as_dict(entry)
        ref = as_dict(entry.get("assignee")) or entry  # V2 assignments wrap the user
        name = first_text(ref, ("summary", "name", "id"))
        if name:
            names.append(name)
    return ",".join(names)[:500] or None


def _lower_keys(values: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in values.items() if v}


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """One PagerDuty event, V2 or V3, reduced to what every method needs."""

    event: dict[str, Any]  # V3: body["event"]; V2: the message
    event_type: str  # lower-cased, "" when absent
    data: dict[str, Any]  # V3: event["data"]; V2: the message's incident
    incident: dict[str, Any] | None  # the incident, or a reference to it; None for non-incident events


def _view(item: Any) -> _View | None:
    if not isinstance(item, dict):
        return None
    messages = item.get("messages")
    if isinstance(messages, list) and len(messages) == 1 and "event" not in item:
        item = messages[0]  # a whole V2 body holding one message
        if not isinstance(item, dict):
            return None
    event = item.get("event")
    if isinstance(event, dict):
        event_type = (text_or_none(event.get("event_type")) or "").lower()
        data = as_dict(event.get("data"))
        return _View(event, event_type, data, _incident_v3(event, event_type, data))
    if isinstance(item.get("incident"), dict) and (event is None or text_or_none(event) is not None):
        incident = item["incident"]
        return _View(item, (text_or_none(event) or "").lower(), incident, incident)
    return None


def _incident_v3(event: Mapping[str, Any], event_type: str, data: dict[str, Any]) -> dict[str, Any] | None:
    reference = data.get("incident")
    if isinstance(reference, dict):
        return reference
    data_type = (text_or_none(data.get("type")) or "").lower()
    if data_type in _INCIDENT_TYPES:
        return data
    if (
        not data_type
        and data
        and (
            event_type.startswith("incident.") or (text_or_none(event.get("resource_type")) or "").lower() == "incident"
        )
    ):
        return data
    return None


def _severity(incident: Mapping[str, Any]) -> Severity:
    urgency = (text_or_none(incident.get("urgency")) or "").lower()
    fallback = SEVERITY_BY_URGENCY.get(urgency, Severity.medium)
    priority = incident.get("priority")
    name = first_text(priority, ("summary", "name")) if isinstance(priority, dict) else text_or_none(priority)
    if not name:
        return fallback
    return SEVERITY_BY_PRIORITY.get(name.lower().replace(" ", "")) or parse_severity(name, default=fallback)


def _details(incident: Mapping[str, Any], message: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The incident's free text and its key/value details (V3 ``body.details``, V2 trigger log entry)."""
    candidates: list[Any] = [as_dict(incident.get("body")).get("details")]
    entries = message.get("log_entries")
    if isinstance(entries, list):
        for entry in entries:
            channel = as_dict(as_dict(entry).get("channel"))
            candidates += [channel.get("details"), as_dict(channel.get("cef_details")).get("details")]
    text = ""
    values: dict[str, str] = {}
    for candidate in candidates:
        if isinstance(candidate, dict):
            values = string_map(candidate) | values
            text = text or first_text(candidate, ("description", "summary", "message"), limit=5000) or ""
        else:
            text = text or text_or_none(candidate, limit=5000) or ""
    return text, values


class PagerDutySource:
    slug = "pagerduty"

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        agent = str(headers.get("user-agent") or "")
        if agent.lower().startswith("pagerduty-webhook/") or "x-pagerduty-signature" in headers:
            return True
        if not isinstance(payload, dict):
            return False
        event = payload.get("event")
        if isinstance(event, dict):
            return (
                isinstance(event.get("event_type"), str)
                and "." in event["event_type"]
                and "resource_type" in event
                and "data" in event
                and ("id" in event or "occurred_at" in event)
            )
        messages = payload.get("messages")
        return isinstance(messages, list) and any(
            isinstance(m, dict)
            and isinstance(m.get("event"), str)
            and m["event"].startswith("incident.")
            and isinstance(m.get("incident"), dict)
            for m in messages
        )

    def split(self, payload: Any) -> list[Any]:
        if isinstance(payload, dict) and "event" not in payload:
            messages = payload.get("messages")
            if isinstance(messages, list) and messages:
                return list(messages)  # V2 messages are self-contained
        return [payload]

    def lifecycle(self, item: Any) -> Lifecycle:
        view = _view(item)
        if view is None:
            return Lifecycle.firing
        known = LIFECYCLE_BY_EVENT.get(view.event_type)
        if known is not None:
            return known
        if view.event_type.startswith("incident."):
            return Lifecycle.updated  # notes, reassignments, priority changes...: never open an incident
        if not view.event_type and view.incident is not None:
            status = (text_or_none(view.incident.get("status")) or "").lower()
            return _LIFECYCLE_BY_STATUS.get(status, Lifecycle.firing)
        return Lifecycle.firing  # not an incident event: let normalize dead-letter it with a reason

    def stream_key(self, item: Any) -> str:
        view = _view(item)
        if view is None:
            return bounded_key(self.slug, fallback_key(item))
        if view.incident is not None:
            incident_id = text_or_none(view.incident.get("id"))
            if incident_id:
                return bounded_key(self.slug, incident_id)
            service = as_dict(view.incident.get("service"))
            title = first_text(view.incident, ("title", "summary", "description"))
            return bounded_key(self.slug, hashed_key(title, first_text(service, ("summary", "name", "id"))))
        kind = text_or_none(view.event.get("resource_type")) or text_or_none(view.data.get("type")) or view.event_type
        return bounded_key(self.slug, hashed_key(kind, text_or_none(view.data.get("id"))))

    def normalize(self, item: Any) -> Alert:
        view = _view(item)
        if view is None:
            raise NormalizationError(
                "not a PagerDuty webhook: expected a V3 body {'event': {'event_type': ..., 'data': {...}}} "
                "or a V2 message {'event': 'incident.*', 'incident': {...}}"
            )
        if view.incident is None:
            if view.event_type == "pagey.ping":
                raise NormalizationError("PagerDuty ping (pagey.ping): a connectivity test, not an incident event")
            resource = text_or_none(view.event.get("resource_type")) or text_or_none(view.data.get("type")) or "unknown"
            if view.event_type.startswith("incident.") or resource.lower() == "incident":
                raise NormalizationError(
                    f"PagerDuty event {view.event_type or '(no event_type)'!r} carries no incident: event.data "
                    "must be the incident or hold an 'incident' reference"
                )
            raise NormalizationError(
                f"PagerDuty event {view.event_type or '(no event_type)'!r} is about a {resource!r}, "
                "not an incident: only incident events become alerts"
            )
        incident = view.incident
        lifecycle = self.lifecycle(item)
        incident_id = text_or_none(incident.get("id"))
        title = first_text(incident, ("title", "summary", "description"))
        if not title and incident_id:
            title = f"PagerDuty incident {incident_id}"
        title = require_title(title)

        description, details = _details(incident, view.event)
        lowered = _lower_keys(details)
        event_text = first_text(view.data, _EVENT_TEXT_KEYS, limit=5000) if view.data is not incident else None

        service = as_dict(incident.get("service"))
        priority = incident.get("priority")
        escalation = as_dict(incident.get("escalation_policy"))
        incident_type = incident.get("incident_type")
        labels = {
            "event_type": view.event_type or None,
            "status": text_or_none(incident.get("status")),
            "urgency": text_or_none(incident.get("urgency")),
            "priority": first_text(priority, ("summary", "name"))
            if isinstance(priority, dict)
            else text_or_none(priority),
            "incident_number": first_text(incident, ("number", "incident_number")),
            "incident_key": text_or_none(incident.get("incident_key")),
            "service_id": text_or_none(service.get("id")),
            "escalation_policy": first_text(escalation, ("summary", "name")),
            "teams": _names(incident.get("teams")),
            "assignees": _names(incident.get("assignees")) or _names(incident.get("assignments")),
            "resolve_reason": text_or_none(incident.get("resolve_reason")),
            "incident_type": first_text(incident_type, ("name", "summary"))
            if isinstance(incident_type, dict)
            else text_or_none(incident_type),
        }
        agent = as_dict(view.event.get("agent"))
        annotations = details | {
            "note": event_text,
            "agent": first_text(agent, ("summary", "name", "id")),
            "event_id": text_or_none(view.event.get("id")),
        }

        links: dict[str, str] = {}
        for name, keys in _LINK_KEYS.items():
            url = next((lowered[k] for k in keys if lowered.get(k, "").startswith(("http://", "https://"))), None)
            if url:
                links[name] = url
        html_url = text_or_none(incident.get("html_url"), limit=2000)
        if html_url:
            links["pagerduty"] = html_url
        conference = text_or_none(as_dict(incident.get("conference_bridge")).get("conference_url"), limit=2000)
        if conference:
            links["conference"] = conference

        occurred = parse_time(view.event.get("occurred_at") or view.event.get("created_on"))
        ended: datetime | None = None
        if lifecycle is Lifecycle.resolved:
            ended = occurred or parse_time(incident.get("last_status_change_at"))
        return Alert(
            source=self.slug,
            title=title,
            description=description or event_text or "",
            severity=_severity(incident),
            lifecycle=lifecycle,
            service=first_text(service, ("summary", "name")),
            namespace=next((lowered[k] for k in _NAMESPACE_KEYS if k in lowered), None),
            pod=next((lowered[k] for k in _POD_KEYS if k in lowered), None),
            deployment=next((lowered[k] for k in _DEPLOYMENT_KEYS if k in lowered), None),
            labels={k: v for k, v in labels.items() if v},
            annotations={k: v for k, v in annotations.items() if v},
            links=links,
            fingerprint=incident_id,
            started_at=parse_time(incident.get("created_at")) or (occurred if lifecycle is Lifecycle.firing else None),
            ended_at=ended,
        )

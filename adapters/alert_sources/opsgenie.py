"""Opsgenie outgoing Webhook integration: one alert action per body.

Body: ``{"action": "Create", "alert": {"alertId", "message", "alias", "tinyId", "entity", "tags",
"teams", "responders", "details", "description", "priority", "source", "username", "userId",
"createdAt", "updatedAt", "note"}, "source": {"name", "type"}, "integrationId", "integrationName",
"integrationType", "escalationNotify"?}``. ``description`` and ``details`` are only present when the
integration's "Add Alert Description/Details to Payload" boxes are ticked. ``split`` returns the body as
the single item.

Detection (Opsgenie documents no User-Agent or signature header): a string ``action``, an ``alert``
object holding ``alertId``, and an ``integrationId`` / ``integrationName`` / ``integrationType`` key or a
``source`` object.

Stream key: ``opsgenie:<alias>``, else ``opsgenie:<alertId>``. Opsgenie deduplicates open alerts by alias
(which defaults to the alertId), so every action on one alert shares it; a later alert re-using the alias
after the close reaches the same stream and opens a new incident there (a recurrence). The same value is
the alert's fingerprint.

Lifecycle:

| Opsgenie action                                          | Lifecycle    |
|----------------------------------------------------------|--------------|
| `Create`                                                 | firing       |
| `UnAcknowledge`                                          | firing (like PagerDuty's `incident.unacknowledged`: the alert is open and unowned again) |
| `Acknowledge`                                            | acknowledged |
| `Close`                                                  | resolved     |
| `Delete`                                                 | resolved (a deleted alert can no longer be closed: it is no longer a problem to track) |
| any other action (`AddNote`, `AddTags`, `RemoveTags`, `AddTeam`, `AssignOwnership`, `TakeOwnership`, `Escalate`, `EscalateNext`, `AddRecipient`, `AddResponder`, `UpdatePriority`, `UpdateMessage`, `UpdateDescription`, `CustomAction`, `Snooze`, ...) | updated |
| no `action` on an Opsgenie alert, or not an Opsgenie body | firing (normalize decides) |

Severity, from the alert's ``priority``:

| Opsgenie priority | Severity |
|-------------------|----------|
| `P1` (Critical)   | critical |
| `P2` (High)       | high     |
| `P3` (Moderate)   | medium   |
| `P4` (Low)        | low      |
| `P5` (Informational) | info  |
| missing (Opsgenie's default is P3) | medium |
| other text        | `parse_severity` |

Times: ``createdAt`` is epoch milliseconds, but ``updatedAt`` is epoch **nanoseconds** in real payloads
(e.g. ``1420452193166002000``); the shared ``parse_time`` reads both (and seconds, microseconds, digit
strings) with integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.alert_sources.base import (
    as_dict,
    bounded_key,
    fallback_key,
    first_text,
    hashed_key,
    normalized_name,
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

# Keys are the action lower-cased with anything but letters and digits removed.
LIFECYCLE_BY_ACTION: dict[str, Lifecycle] = {
    "create": Lifecycle.firing,
    "unacknowledge": Lifecycle.firing,
    "acknowledge": Lifecycle.acknowledged,
    "close": Lifecycle.resolved,
    "delete": Lifecycle.resolved,
}

_INTEGRATION_KEYS = ("integrationId", "integrationName", "integrationType")
_SERVICE_KEYS = ("service", "service_name", "app", "application", "component")
_NAMESPACE_KEYS = ("namespace", "kube_namespace", "kubernetes_namespace", "k8s_namespace")
_POD_KEYS = ("pod", "pod_name", "kube_pod")
_DEPLOYMENT_KEYS = ("deployment", "kube_deployment", "deployment_name")
_LINK_KEYS = {
    "runbook": ("runbook_url", "runbookurl", "runbook"),
    "dashboard": ("dashboard_url", "dashboardurl", "dashboard", "grafana_url"),
    "generator": ("generator_url", "generatorurl", "source_url", "url"),
    "image": ("image_url", "imageurl", "image"),
}


def _tags(value: Any) -> list[str]:
    """Tags as a list of strings; a comma-separated string is accepted too."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    out = (text_or_none(tag) for tag in value if not isinstance(tag, dict | list))
    return [tag for tag in out if tag]


def _names(value: Any) -> str | None:
    """Teams/responders/recipients (names, ids or {name|id} objects) as a comma-joined list."""
    if isinstance(value, str):
        return text_or_none(value)
    if not isinstance(value, list):
        return None
    names = [
        first_text(entry, ("name", "username", "id")) if isinstance(entry, dict) else text_or_none(entry)
        for entry in value
    ]
    return ",".join(n for n in names if n)[:500] or None


def _action(body: Mapping[str, Any]) -> str:
    return normalized_name(text_or_none(body.get("action")) or "")


def _alert(item: Any) -> dict[str, Any] | None:
    if isinstance(item, dict) and isinstance(item.get("alert"), dict):
        return item["alert"]
    return None


def _identity(alert: Mapping[str, Any]) -> str | None:
    return text_or_none(alert.get("alias"), limit=1000) or text_or_none(alert.get("alertId"), limit=1000)


class OpsgenieSource:
    slug = "opsgenie"

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        if not isinstance(payload, dict):
            return False
        action = payload.get("action")
        alert = payload.get("alert")
        return (
            isinstance(action, str)
            and bool(action.strip())
            and isinstance(alert, dict)
            and "alertId" in alert
            and (any(key in payload for key in _INTEGRATION_KEYS) or isinstance(payload.get("source"), dict))
        )

    def split(self, payload: Any) -> list[Any]:
        return [payload]  # Opsgenie sends one alert action per request

    def lifecycle(self, item: Any) -> Lifecycle:
        if _alert(item) is None:
            return Lifecycle.firing
        action = _action(item)
        if not action:
            return Lifecycle.firing
        # Every other action is about an alert that already exists: it never opens an incident.
        return LIFECYCLE_BY_ACTION.get(action, Lifecycle.updated)

    def stream_key(self, item: Any) -> str:
        alert = _alert(item)
        if alert is None:
            return bounded_key(self.slug, fallback_key(item))
        identity = _identity(alert)
        if identity:
            return bounded_key(self.slug, identity)
        labels = string_map(_tags(alert.get("tags"))) | string_map(alert.get("details"))
        service = next((labels[k] for k in _SERVICE_KEYS if labels.get(k)), None)
        return bounded_key(self.slug, hashed_key(text_or_none(alert.get("message")), service))

    def normalize(self, item: Any) -> Alert:
        alert = _alert(item)
        if alert is None:
            raise NormalizationError(
                "not an Opsgenie webhook: expected {'action': ..., 'alert': {'alertId': ..., 'message': ...}}"
            )
        body: dict[str, Any] = item
        alert_id = text_or_none(alert.get("alertId"), limit=1000)
        alias = text_or_none(alert.get("alias"), limit=1000)
        tiny_id = text_or_none(alert.get("tinyId"))
        title = text_or_none(alert.get("message"))
        if not title and (tiny_id or alias or alert_id):
            title = f"Opsgenie alert #{tiny_id}" if tiny_id else f"Opsgenie alert {alias or alert_id}"
        title = require_title(title)

        # Details win over tags: they are explicit key/value pairs, tags are "key:value" by convention.
        labels = string_map(_tags(alert.get("tags"))) | string_map(alert.get("details"))
        lowered = {k.lower(): v for k, v in labels.items() if v}
        priority = text_or_none(alert.get("priority"))
        entity = text_or_none(alert.get("entity"))
        if priority:
            labels["priority"] = priority
        if entity:
            labels["entity"] = entity

        lifecycle = self.lifecycle(item)
        source = body.get("source")
        escalation = as_dict(body.get("escalationNotify"))
        annotations = {
            "action": text_or_none(body.get("action")),
            "alert_id": alert_id,
            "alias": alias,
            "tiny_id": tiny_id,
            "note": text_or_none(alert.get("note"), limit=5000),
            "username": text_or_none(alert.get("username")),
            "alert_source": text_or_none(alert.get("source")),
            "integration": text_or_none(body.get("integrationName")),
            "integration_type": text_or_none(body.get("integrationType")),
            "action_source": first_text(source, ("name", "type")) if isinstance(source, dict) else text_or_none(source),
            "teams": _names(alert.get("teams")),
            "responders": _names(alert.get("responders")) or _names(alert.get("recipients")),
            "owner": text_or_none(alert.get("owner")),
            "escalation": first_text(escalation, ("name", "id")),
        }

        links: dict[str, str] = {}
        for name, keys in _LINK_KEYS.items():
            url = next((lowered[k] for k in keys if lowered.get(k, "").startswith(("http://", "https://"))), None)
            if url:
                links[name] = url

        return Alert(
            source=self.slug,
            title=title,
            description=text_or_none(alert.get("description"), limit=15000) or "",
            severity=SEVERITY_BY_PRIORITY.get((priority or "").lower().replace(" ", "")) or parse_severity(priority),
            lifecycle=lifecycle,
            service=next((lowered[k] for k in _SERVICE_KEYS if k in lowered), None),
            namespace=next((lowered[k] for k in _NAMESPACE_KEYS if k in lowered), None),
            pod=next((lowered[k] for k in _POD_KEYS if k in lowered), None),
            deployment=next((lowered[k] for k in _DEPLOYMENT_KEYS if k in lowered), None),
            labels=labels,
            annotations={k: v for k, v in annotations.items() if v},
            links=links,
            fingerprint=alias or alert_id,
            started_at=parse_time(alert.get("createdAt")),
            ended_at=parse_time(alert.get("updatedAt")) if lifecycle is Lifecycle.resolved else None,
        )

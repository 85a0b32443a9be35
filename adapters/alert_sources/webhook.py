"""Generic JSON webhook: one alert object, a list of them, or {"alerts": [...]}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.alert_sources.base import (
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
from domain.models import Alert, Lifecycle, NormalizationError

_TITLE = ("title", "name", "summary", "alertname", "alert_name", "subject", "event")
_DESCRIPTION = ("description", "message", "details", "text", "body")
_SEVERITY = ("severity", "priority", "level", "urgency")
_STATUS = ("status", "state", "event_type", "action")
_SERVICE = ("service", "app", "application", "component", "job")
_ID = ("fingerprint", "dedup_key", "dedupKey", "alias", "alert_id", "id", "incident_id")

_LIFECYCLE_WORDS = {
    "firing": Lifecycle.firing,
    "triggered": Lifecycle.firing,
    "trigger": Lifecycle.firing,
    "open": Lifecycle.firing,
    "opened": Lifecycle.firing,
    "problem": Lifecycle.firing,
    "alerting": Lifecycle.firing,
    "active": Lifecycle.firing,
    "acknowledged": Lifecycle.acknowledged,
    "acknowledge": Lifecycle.acknowledged,
    "ack": Lifecycle.acknowledged,
    "resolved": Lifecycle.resolved,
    "resolve": Lifecycle.resolved,
    "closed": Lifecycle.resolved,
    "close": Lifecycle.resolved,
    "ok": Lifecycle.resolved,
    "recovered": Lifecycle.resolved,
    "recovery": Lifecycle.resolved,
    "normal": Lifecycle.resolved,
    "updated": Lifecycle.updated,
    "update": Lifecycle.updated,
    "note": Lifecycle.updated,
    "annotated": Lifecycle.updated,
}


def _labels(item: Mapping[str, Any]) -> dict[str, str]:
    return string_map(item.get("labels")) | string_map(item.get("tags"))


class WebhookSource:
    """Liberal generic source: anything with a title-like field becomes an alert."""

    slug = "webhook"

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        return True

    def split(self, payload: Any) -> list[Any]:
        if isinstance(payload, list):
            return list(payload) or [payload]
        if isinstance(payload, dict) and isinstance(payload.get("alerts"), list) and payload["alerts"]:
            return list(payload["alerts"])
        return [payload]

    def lifecycle(self, item: Any) -> Lifecycle:
        if not isinstance(item, dict):
            return Lifecycle.firing
        word = (first_text(item, _STATUS) or "").lower()
        return _LIFECYCLE_WORDS.get(word, Lifecycle.firing)

    def stream_key(self, item: Any) -> str:
        if not isinstance(item, dict):
            return bounded_key(self.slug, fallback_key(item))
        ident = first_text(item, _ID)
        if ident:
            return bounded_key(self.slug, ident)
        labels = _labels(item)
        service = first_text(item, _SERVICE) or labels.get("service")
        return bounded_key(self.slug, hashed_key(first_text(item, _TITLE), service))

    def normalize(self, item: Any) -> Alert:
        if not isinstance(item, dict):
            raise NormalizationError(f"expected a JSON object per alert, got {type(item).__name__}")
        labels = _labels(item)
        annotations = string_map(item.get("annotations"))
        links: dict[str, str] = {}
        for key in ("url", "link", "runbook_url", "dashboard_url", "generator_url", "image_url"):
            value = text_or_none(item.get(key), limit=2000)
            if value:
                links[key.removesuffix("_url") if key != "url" else "url"] = value
        if isinstance(item.get("links"), dict):
            links |= string_map(item["links"])
        title = require_title(first_text(item, _TITLE) or labels.get("alertname"))
        return Alert(
            source=self.slug,
            title=title,
            description=first_text(item, _DESCRIPTION) or annotations.get("description", ""),
            severity=parse_severity(first_text(item, _SEVERITY) or labels.get("severity")),
            lifecycle=self.lifecycle(item),
            service=first_text(item, _SERVICE) or labels.get("service"),
            namespace=text_or_none(item.get("namespace")) or labels.get("namespace"),
            pod=text_or_none(item.get("pod")) or labels.get("pod"),
            deployment=text_or_none(item.get("deployment")) or labels.get("deployment"),
            labels=labels,
            annotations=annotations,
            links=links,
            fingerprint=first_text(item, _ID),
            started_at=parse_time(item.get("started_at") or item.get("startsAt") or item.get("timestamp")),
            ended_at=parse_time(item.get("ended_at") or item.get("endsAt")),
        )

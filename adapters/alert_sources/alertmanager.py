"""Prometheus Alertmanager webhook (payload version 4): one group, many alerts per body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.alert_sources.base import (
    bounded_key,
    fallback_key,
    grouped_alert,
    hashed_key,
    parse_severity,
    parse_time,
    require_title,
    split_group,
    string_map,
    text_or_none,
)
from domain.models import Alert, Lifecycle, NormalizationError

_GROUP_KEYS = (
    "receiver",
    "status",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "groupKey",
)
_SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "job", "container")


class AlertmanagerSource:
    slug = "alertmanager"

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        if headers.get("user-agent", "").startswith("Alertmanager/"):
            return True
        return (
            isinstance(payload, dict)
            and isinstance(payload.get("alerts"), list)
            and "groupKey" in payload
            and str(payload.get("version", "4")) == "4"
        )

    def split(self, payload: Any) -> list[Any]:
        return split_group(payload, _GROUP_KEYS)

    def lifecycle(self, item: Any) -> Lifecycle:
        grouped = grouped_alert(item)
        if grouped is not None and str(grouped[0].get("status", "")).lower() == "resolved":
            return Lifecycle.resolved
        return Lifecycle.firing

    def stream_key(self, item: Any) -> str:
        grouped = grouped_alert(item)
        if grouped is None:
            return bounded_key(self.slug, fallback_key(item))
        alert, _ = grouped
        fingerprint = text_or_none(alert.get("fingerprint"))
        if fingerprint:
            return bounded_key(self.slug, fingerprint)
        labels = string_map(alert.get("labels"))
        return bounded_key(self.slug, hashed_key(*(f"{k}={v}" for k, v in sorted(labels.items()))))

    def normalize(self, item: Any) -> Alert:
        grouped = grouped_alert(item)
        if grouped is None:
            raise NormalizationError("not an Alertmanager alert: expected an object in the body's 'alerts' list")
        alert, group = grouped
        labels = string_map(alert.get("labels"))
        annotations = string_map(alert.get("annotations"))
        if not labels and not annotations:
            raise NormalizationError("Alertmanager alert has neither labels nor annotations")
        title = require_title(annotations.get("summary") or annotations.get("title") or labels.get("alertname"))
        service = next((labels[k] for k in _SERVICE_LABELS if labels.get(k)), None)
        links: dict[str, str] = {}
        if annotations.get("runbook_url"):
            links["runbook"] = annotations["runbook_url"]
        if text_or_none(alert.get("generatorURL"), limit=2000):
            links["generator"] = str(alert["generatorURL"])
        for key in ("dashboard_url", "dashboard", "grafana_url"):
            if annotations.get(key):
                links["dashboard"] = annotations[key]
                break
        if text_or_none(group.get("externalURL"), limit=2000):
            links["alertmanager"] = str(group["externalURL"])
        return Alert(
            source=self.slug,
            title=title,
            description=annotations.get("description") or annotations.get("message") or "",
            severity=parse_severity(labels.get("severity") or labels.get("priority")),
            lifecycle=self.lifecycle(item),
            service=service,
            namespace=labels.get("namespace") or labels.get("kubernetes_namespace"),
            pod=labels.get("pod") or labels.get("pod_name"),
            deployment=labels.get("deployment"),
            labels=labels,
            annotations=annotations,
            links=links,
            fingerprint=text_or_none(alert.get("fingerprint")),
            started_at=parse_time(alert.get("startsAt")),
            ended_at=parse_time(alert.get("endsAt")),
        )

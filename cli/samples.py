"""The built-in sample alert that `aisre fire` sends (an Alertmanager v4 webhook body)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def alertmanager_sample(*, resolved: bool, now: datetime | None = None, service: str = "checkout") -> dict[str, Any]:
    """A firing (or resolved) HighErrorRate alert for `service`, shaped like Alertmanager 0.25 sends it."""
    now = now or datetime.now(UTC)
    status = "resolved" if resolved else "firing"
    labels = {"alertname": "HighErrorRate", "service": service, "severity": "critical", "namespace": "shop"}
    annotations = {
        "summary": f"5xx rate above 5% on {service}",
        "description": f"More than 5% of requests to {service} failed over the last 5 minutes.",
        "runbook_url": f"http://runbooks.local/{service}",
    }
    return {
        "receiver": "aisre",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "endsAt": now.strftime("%Y-%m-%dT%H:%M:%SZ") if resolved else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.local/graph",
                "fingerprint": f"aisre-sample-{service}",
            }
        ],
        "groupLabels": {"alertname": "HighErrorRate", "service": service},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.local:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="HighErrorRate", service="{service}"}}',
        "truncatedAlerts": 0,
    }

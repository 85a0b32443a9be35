"""The built-in sample alert that `aisre fire` sends (an Alertmanager v4 webhook body)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def demo_log_lines(*, now: datetime, service: str = "checkout") -> list[str]:
    """What the sample service logs while the sample alert fires: its payment dependency refuses connections.

    `aisre fire` writes these into the file log backend (`<data dir>/logs-demo/shop/<service>.log`) so
    the demo's diagnosis has real evidence to read, as a service's logs would give it.
    """
    lines = []
    for seconds_ago in (240, 180, 120, 60, 30, 5):
        at = now - timedelta(seconds=seconds_ago)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        lines.append(f"{stamp} INFO  http: GET /api/cart 200 12ms")
        lines.append(
            f"{stamp} ERROR payment authorization failed for order {7310 + seconds_ago}: "
            'Post "http://payments.shop.svc.cluster.local:8080/v1/authorize": dial tcp 10.96.41.17:8080: '
            "connect: connection refused"
        )
        lines.append(f"{stamp} WARN  http: POST /api/checkout 502 3ms upstream=payments")
    return lines

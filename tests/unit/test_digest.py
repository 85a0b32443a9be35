"""Digest rendering: header and period, stats line, severities, tables, approvals, held count, empty digest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from domain.digest import (
    Digest,
    DigestIncident,
    DigestWorkflowInput,
    NoisyAlert,
    PendingApproval,
    digest_headline,
    render_digest,
    short_duration,
)
from domain.models import Severity

END = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
START = END - timedelta(hours=24)

# A cell separator is a pipe that is not escaped with a backslash.
_SEPARATOR = re.compile(r"(?<!\\)\|")


def digest(**overrides: Any) -> Digest:
    values: dict[str, Any] = {
        "workspace": "shop",
        "period_start": START,
        "period_end": END,
        "opened": 3,
        "resolved": 2,
        "still_open": 4,
        "by_severity": {Severity.low: 1, Severity.critical: 2},
        "mttr_seconds": 3900.0,  # 1h 05m
        "mtta_seconds": 150.0,  # 2m
        "actions_executed": 5,
        "held_notifications": 7,
        "incidents": [
            DigestIncident(
                incident_id=42,
                title="5xx | checkout\nburning",
                service="checkout",
                severity=Severity.critical,
                status="resolved",
                opened_at=END - timedelta(hours=2),
                resolved_at=END - timedelta(minutes=55),
                alert_count=12,
            ),
            DigestIncident(
                incident_id=41,
                title="disk full",
                service=None,
                severity=Severity.low,
                status="open",
                opened_at=END - timedelta(hours=20),
                alert_count=1,
            ),
        ],
        "noisiest": [
            NoisyAlert(title="HighLatency", service="api", source="alertmanager", deliveries=30, incidents=2),
            NoisyAlert(title="DiskFull", service=None, source="datadog", deliveries=4, incidents=1),
        ],
        "pending_approvals": [
            PendingApproval(
                incident_id=41,
                action_id="a-1",
                action="scale_deployment",
                description="namespace=shop deployment=checkout replicas=4",
                requested_by="diagnosis",
                requested_at=END - timedelta(minutes=30),
                expires_at=END + timedelta(minutes=30),
            )
        ],
    }
    values.update(overrides)
    return Digest(**values)


def table(md: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the Markdown table under `## heading`, header and rule excluded."""
    section = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in _SEPARATOR.split(row)[1:-1]] for row in rows[2:]]


def test_header_period_and_stats_line() -> None:
    md = render_digest(digest())
    assert md.startswith("# Digest for shop\n")
    assert "Period: 2026-11-27 09:00 → 2026-11-28 09:00 UTC (24h)" in md
    stats = next(line for line in md.splitlines() if line.startswith("**Opened**"))
    assert stats == (
        "**Opened** 3 · **Resolved** 2 · **Still open** 4 · **MTTR** 1h 05m · **MTTA** 2m · **Actions executed** 5"
    )
    # Most severe first, zero counts left out.
    assert "By severity: critical 2, low 1" in md


def test_incident_and_noisiest_tables() -> None:
    md = render_digest(digest())
    incidents = table(md, "Incidents")
    assert incidents == [
        [
            "42",
            "critical",
            "5xx \\| checkout burning",
            "checkout",
            "resolved",
            "2026-11-28 07:00",
            "2026-11-28 08:05",
            "12",
        ],
        ["41", "low", "disk full", "-", "open", "2026-11-27 13:00", "-", "1"],
    ]
    assert "…and 1 more opened in this period." in md  # 3 opened, 2 listed
    assert table(md, "Noisiest alerts") == [
        ["HighLatency", "api", "alertmanager", "30", "2"],
        ["DiskFull", "-", "datadog", "4", "1"],
    ]


def test_pending_approvals_and_held_notifications() -> None:
    md = render_digest(digest())
    section = md.split("## Pending approvals\n", 1)[1]
    line = next(row for row in section.splitlines() if row.startswith("- "))
    assert line == (
        "- Incident #41: `scale_deployment` namespace=shop deployment=checkout replicas=4 "
        "(requested by diagnosis 2026-11-28 08:30, expires 2026-11-28 09:30; action a-1)"
    )
    assert "Quiet hours held back 7 notification(s) in this period." in md


def test_times_render_in_the_requested_zone() -> None:
    md = render_digest(digest(), timezone="Europe/Berlin")
    assert "Period: 2026-11-27 10:00 → 2026-11-28 10:00 Europe/Berlin (24h)" in md
    assert table(md, "Incidents")[0][5] == "2026-11-28 08:00"


def test_an_empty_digest_says_no_incidents() -> None:
    empty = Digest(workspace="quiet", period_start=START, period_end=END)
    md = render_digest(empty)
    assert "No incidents in this period." in md
    assert "**MTTR** n/a · **MTTA** n/a" in md
    for absent in ("| # |", "## Noisiest alerts", "## Pending approvals", "Quiet hours", "By severity"):
        assert absent not in md
    assert digest_headline(empty) == "Digest quiet (24h to 2026-11-28 09:00 UTC): No incidents"


def test_no_new_incidents_but_some_still_open() -> None:
    md = render_digest(Digest(workspace="w", period_start=START, period_end=END, still_open=2))
    assert "No incidents opened in this period (2 still open from before)." in md


def test_headline() -> None:
    assert digest_headline(digest()) == (
        "Digest shop (24h to 2026-11-28 09:00 UTC): 3 opened, 2 resolved, 4 still open, MTTR 1h 05m, 1 pending approval"
    )
    two = digest(pending_approvals=digest().pending_approvals * 2, mttr_seconds=None)
    assert digest_headline(two).endswith("4 still open, 2 pending approvals")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "n/a"), (0, "0s"), (59.4, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h 00m"), (3900, "1h 05m"),
     (90000, "1d 01h"), (-5, "0s")],
)  # fmt: skip
def test_short_duration(seconds: float | None, text: str) -> None:
    assert short_duration(seconds) == text


def test_workflow_input_bounds_the_period() -> None:
    assert DigestWorkflowInput(workspace="w").period_hours == 24
    with pytest.raises(ValidationError):
        DigestWorkflowInput(workspace="w", period_hours=0)

"""Postmortem rendering: sections, impact window, counts, actions and timeline tables, durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.models import ActionEntry, Lifecycle, Severity, TimelineEntry, TimelineKind
from domain.postmortem import PostmortemFacts, format_duration, render_postmortem

OPENED = datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)
RESOLVED = datetime(2025, 3, 4, 10, 42, 5, tzinfo=UTC)

# A cell separator is a pipe that is not escaped with a backslash.
_SEPARATOR = re.compile(r"(?<!\\)\|")


def facts(**overrides: Any) -> PostmortemFacts:
    values: dict[str, Any] = {
        "incident_id": 17,
        "workspace": "default",
        "title": "5xx rate above 5% on checkout",
        "service": "checkout",
        "severity": Severity.critical,
        "source": "alertmanager",
        "opened_at": OPENED,
        "resolved_at": RESOLVED,
        "resolved_by": "alice",
        "alerts_by_lifecycle": {Lifecycle.firing: 3, Lifecycle.resolved: 1},
    }
    values.update(overrides)
    return PostmortemFacts(**values)


def entry(minute: int, message: str, kind: TimelineKind = TimelineKind.note, actor: str = "bob") -> TimelineEntry:
    return TimelineEntry(at=OPENED + timedelta(minutes=minute), kind=kind, actor=actor, message=message)


def section(markdown: str, heading: str) -> list[str]:
    """The lines under `## heading`, up to the next heading."""
    lines = markdown.splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def table_rows(lines: list[str]) -> list[list[str]]:
    """Data rows of the first Markdown table in `lines`, split into cells (header and rule skipped)."""
    rows = [line for line in lines if line.startswith("|")]
    return [[cell.strip() for cell in _SEPARATOR.split(row)[1:-1]] for row in rows[2:]]


# --- structure ----------------------------------------------------------------------------------


def test_sections_in_order() -> None:
    text = render_postmortem(facts())
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Postmortem: 5xx rate above 5% on checkout",
        "## Summary",
        "## Impact",
        "## Alerts received",
        "## Actions taken",
        "## Timeline",
        "## Follow-ups",
    ]


def test_summary_names_incident_service_and_resolver() -> None:
    summary = "\n".join(section(render_postmortem(facts(previous_incident_id=9)), "Summary"))
    assert "Incident #17 (critical)" in summary
    assert "`default`" in summary
    assert "service `checkout`" in summary
    assert "raised by alertmanager" in summary
    assert "resolved at 2025-03-04 10:42:05 UTC by alice" in summary
    assert "Recurrence of incident #9." in summary


def test_open_incident_says_so_and_has_no_duration() -> None:
    text = render_postmortem(facts(resolved_at=None, resolved_by=None))
    assert "still open when this was written" in text
    impact = section(text, "Impact")
    assert "- Duration: ongoing" in impact
    assert not any(line.startswith("- Time to resolve") for line in impact)


# --- impact -------------------------------------------------------------------------------------


def test_impact_window_and_duration() -> None:
    impact = section(render_postmortem(facts()), "Impact")
    assert "- Impact window: 2025-03-04 10:00:00 UTC → 2025-03-04 10:42:05 UTC" in impact
    assert "- Duration: 42m 05s" in impact
    assert "- Time to resolve: 42m 05s" in impact
    assert "- Severity: critical" in impact


def test_impact_starts_at_the_first_alert_when_known() -> None:
    first = OPENED - timedelta(minutes=5)
    impact = section(render_postmortem(facts(first_alert_at=first, last_alert_at=OPENED)), "Impact")
    assert "- Impact window: 2025-03-04 09:55:00 UTC → 2025-03-04 10:42:05 UTC" in impact
    assert "- Duration: 47m 05s" in impact
    assert "- Time to resolve: 42m 05s" in impact  # measured from when the incident opened


def test_time_to_acknowledge() -> None:
    impact = section(render_postmortem(facts(acknowledged_at=OPENED + timedelta(seconds=95))), "Impact")
    assert "- Time to acknowledge: 1m 35s" in impact


# --- alerts -------------------------------------------------------------------------------------


def test_delivery_counts_by_lifecycle() -> None:
    counts = {Lifecycle.resolved: 1, Lifecycle.firing: 3, Lifecycle.acknowledged: 2}
    alerts = section(render_postmortem(facts(alerts_by_lifecycle=counts)), "Alerts received")
    assert "- 6 deliveries (2 acknowledged, 3 firing, 1 resolved)" in alerts


def test_zero_counts_are_left_out_and_no_alerts_reads_none() -> None:
    some = section(
        render_postmortem(facts(alerts_by_lifecycle={Lifecycle.firing: 2, Lifecycle.resolved: 0})), "Alerts received"
    )
    assert "- 2 deliveries (2 firing)" in some
    none = section(render_postmortem(facts(alerts_by_lifecycle={})), "Alerts received")
    assert "- 0 deliveries (none)" in none


def test_alert_links_listed() -> None:
    alerts = section(
        render_postmortem(facts(links={"runbook": "http://rb", "alertmanager": "http://am"})), "Alerts received"
    )
    assert alerts.index("- alertmanager: http://am") < alerts.index("- runbook: http://rb")


# --- actions ------------------------------------------------------------------------------------


def test_no_actions() -> None:
    actions = section(render_postmortem(facts()), "Actions taken")
    assert "No remediation actions were taken." in actions
    assert not any(line.startswith("|") for line in actions)


def test_actions_table() -> None:
    taken = [
        ActionEntry(
            action="restart deployment/checkout",
            status="succeeded",
            requested_by="agent",
            approved_by="alice",
            at=OPENED + timedelta(minutes=10),
        ),
        ActionEntry(action="scale checkout to 6", status="dry-run", at=OPENED + timedelta(minutes=12), dry_run=True),
    ]
    actions = section(render_postmortem(facts(actions=taken)), "Actions taken")
    assert "No remediation actions were taken." not in actions
    assert table_rows(actions) == [
        ["2025-03-04 10:10:00 UTC", "restart deployment/checkout", "succeeded", "agent", "alice", "no"],
        ["2025-03-04 10:12:00 UTC", "scale checkout to 6", "dry-run", "—", "—", "yes"],
    ]


def test_pipe_in_action_does_not_add_a_column() -> None:
    taken = [ActionEntry(action="kubectl get pods | grep crash", status="failed\nexit 1", at=OPENED)]
    (row,) = table_rows(section(render_postmortem(facts(actions=taken)), "Actions taken"))
    assert len(row) == 6
    assert row[1] == "kubectl get pods \\| grep crash"
    assert row[2] == "failed exit 1"


# --- timeline -----------------------------------------------------------------------------------


def test_timeline_sorted_by_time() -> None:
    events = [entry(30, "third"), entry(0, "first", TimelineKind.incident_opened, "system"), entry(10, "second")]
    rows = table_rows(section(render_postmortem(facts(timeline=events)), "Timeline"))
    assert [r[3] for r in rows] == ["first", "second", "third"]
    assert rows[0] == ["2025-03-04 10:00:00", "incident_opened", "system", "first"]


def test_pipe_or_newline_in_a_message_keeps_one_row_per_entry() -> None:
    events = [
        entry(1, "checked a | b"),
        entry(2, "line one\nline two\r\nline three"),
        entry(3, "plain", actor="carol|dave"),
    ]
    lines = section(render_postmortem(facts(timeline=events)), "Timeline")
    rows = table_rows(lines)
    assert len([line for line in lines if line.startswith("|")]) == 2 + len(events)
    assert all(len(row) == 4 for row in rows)
    assert rows[0][3] == "checked a \\| b"
    assert "\n" not in rows[1][3]
    assert rows[1][3].startswith("line one line two")
    assert rows[2][2] == "carol\\|dave"


def test_empty_timeline_has_only_the_header() -> None:
    lines = section(render_postmortem(facts()), "Timeline")
    assert [line for line in lines if line.startswith("|")] == [
        "| Time (UTC) | Event | Actor | Details |",
        "|---|---|---|---|",
    ]


def test_description_newlines_stay_inside_the_quote() -> None:
    summary = section(render_postmortem(facts(description="first\nsecond")), "Summary")
    assert "> first second" in summary


def test_follow_ups_are_open_checkboxes() -> None:
    follow = [line for line in section(render_postmortem(facts()), "Follow-ups") if line]
    assert follow
    assert all(line.startswith("- [ ] ") for line in follow)


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=59.9), "59s"),
        (timedelta(minutes=1), "1m 00s"),
        (timedelta(minutes=42, seconds=5), "42m 05s"),
        (timedelta(hours=1, minutes=2, seconds=5), "1h 02m 05s"),
        (timedelta(hours=23, minutes=59, seconds=59), "23h 59m 59s"),
        (timedelta(days=1), "1d 00h 00m"),
        (timedelta(days=3, hours=4, minutes=5, seconds=6), "3d 04h 05m"),
        (timedelta(seconds=-1), "0s"),
        (timedelta(days=-2), "0s"),
    ],
)
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


def test_resolved_before_opened_reads_zero() -> None:
    # Clock skew between the sender and us: never print a negative duration.
    impact = section(render_postmortem(facts(resolved_at=OPENED - timedelta(seconds=3))), "Impact")
    assert "- Duration: 0s" in impact

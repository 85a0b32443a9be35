"""Render a postmortem as Markdown from what the incident recorded. Pure: the caller loads the facts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from domain.models import ActionEntry, Lifecycle, Severity, TimelineEntry


class PostmortemFacts(BaseModel):
    """Everything the postmortem says, loaded from SQL by the activity."""

    model_config = ConfigDict(extra="forbid")

    incident_id: int
    workspace: str
    title: str
    description: str = ""
    service: str | None = None
    severity: Severity
    source: str
    opened_at: datetime
    started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_reason: str = ""
    first_alert_at: datetime | None = None
    last_alert_at: datetime | None = None
    alerts_by_lifecycle: dict[Lifecycle, int] = Field(default_factory=dict)
    previous_incident_id: int | None = None
    links: dict[str, str] = Field(default_factory=dict)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    actions: list[ActionEntry] = Field(default_factory=list)


def format_duration(delta: timedelta) -> str:
    """Human duration such as '1h 02m 05s'; negative deltas (clock skew) read as 0s."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _cell(text: str) -> str:
    # A pipe or a newline inside a cell would break the Markdown table.
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def render_postmortem(facts: PostmortemFacts) -> str:
    """Return the postmortem Markdown: summary, impact, alerts, actions, timeline, follow-ups."""
    # Impact starts when the monitoring tool saw the problem begin, if it said so, else at the first alert.
    start = min(t for t in (facts.started_at, facts.first_alert_at, facts.opened_at) if t is not None)
    end = facts.resolved_at
    total_alerts = sum(facts.alerts_by_lifecycle.values())
    lines: list[str] = [f"# Postmortem: {facts.title}", ""]

    lines += ["## Summary", ""]
    where = f" on service `{facts.service}`" if facts.service else ""
    state = f"resolved at {_ts(end)} by {facts.resolved_by or 'unknown'}" if end else "still open when this was written"
    lines.append(
        f"Incident #{facts.incident_id} ({facts.severity.value}) in workspace `{facts.workspace}`{where}, "
        f"raised by {facts.source}; {state}."
    )
    if facts.description:
        lines += ["", f"> {_cell(facts.description)}"]
    if facts.resolution_reason:
        lines += ["", f"Resolution: {facts.resolution_reason}"]
    if facts.previous_incident_id is not None:
        lines += ["", f"Recurrence of incident #{facts.previous_incident_id}."]
    lines.append("")

    lines += ["## Impact", ""]
    lines.append(f"- Impact window: {_ts(start)} → {_ts(end)}")
    lines.append(f"- Duration: {format_duration(end - start) if end else 'ongoing'}")
    if facts.acknowledged_at:
        lines.append(f"- Time to acknowledge: {format_duration(facts.acknowledged_at - facts.opened_at)}")
    if end:
        lines.append(f"- Time to resolve: {format_duration(end - facts.opened_at)}")
    lines.append(f"- Severity: {facts.severity.value}")
    lines.append("")

    lines += ["## Alerts received", ""]
    by_kind = Counter({k.value: v for k, v in facts.alerts_by_lifecycle.items() if v})
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(by_kind.items())) or "none"
    lines.append(f"- {total_alerts} deliveries ({detail})")
    if facts.first_alert_at:
        lines.append(f"- First: {_ts(facts.first_alert_at)}; last: {_ts(facts.last_alert_at)}")
    for name, url in sorted(facts.links.items()):
        lines.append(f"- {name}: {url}")
    lines.append("")

    lines += ["## Actions taken", ""]
    if facts.actions:
        lines += [
            "| When | Action | Status | Requested by | Approved by | Dry run |",
            "|---|---|---|---|---|---|",
        ]
        for a in facts.actions:
            lines.append(
                f"| {_ts(a.at)} | {_cell(a.action)} | {_cell(a.status)} | {_cell(a.requested_by or '—')} "
                f"| {_cell(a.approved_by or '—')} | {'yes' if a.dry_run else 'no'} |"
            )
    else:
        lines.append("No remediation actions were taken.")
    lines.append("")

    lines += ["## Timeline", "", "| Time (UTC) | Event | Actor | Details |", "|---|---|---|---|"]
    for entry in sorted(facts.timeline, key=lambda e: e.at):
        lines.append(
            f"| {entry.at.strftime('%Y-%m-%d %H:%M:%S')} | {entry.kind.value} | {_cell(entry.actor)} "
            f"| {_cell(entry.message)} |"
        )
    lines.append("")

    lines += [
        "## Follow-ups",
        "",
        "- [ ] Confirm the root cause and record it here.",
        "- [ ] Decide whether the alert threshold and routing were right.",
        "- [ ] Add or update the runbook for this alert.",
        "",
    ]
    return "\n".join(lines)

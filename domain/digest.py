"""The daily digest: what happened in a workspace over a period (pure model; rendering in `render_digest`)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from domain.models import Severity


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DigestIncident(_Model):
    incident_id: int
    title: str
    service: str | None = None
    severity: Severity
    status: str
    opened_at: datetime
    resolved_at: datetime | None = None
    alert_count: int = 0


class NoisyAlert(_Model):
    """An alert title that fired most often in the period (deliveries counted, not incidents)."""

    title: str
    service: str | None = None
    source: str
    deliveries: int
    incidents: int


class PendingApproval(_Model):
    incident_id: int
    action_id: str
    action: str  # catalog kind
    description: str
    requested_by: str | None = None
    requested_at: datetime
    expires_at: datetime | None = None


class Digest(_Model):
    """One workspace's digest for [period_start, period_end)."""

    workspace: str
    period_start: datetime
    period_end: datetime
    opened: int = 0  # incidents opened in the period
    resolved: int = 0  # incidents resolved in the period
    still_open: int = 0  # open or acknowledged at period_end (whenever they opened)
    by_severity: dict[Severity, int] = Field(default_factory=dict)  # opened in the period
    mttr_seconds: float | None = None  # mean opened→resolved over incidents resolved in the period
    mtta_seconds: float | None = None  # mean opened→acknowledged over incidents acknowledged in the period
    actions_executed: int = 0
    held_notifications: int = 0  # held back by quiet hours in the period
    incidents: list[DigestIncident] = Field(default_factory=list)  # most recent first, at most 20
    noisiest: list[NoisyAlert] = Field(default_factory=list)  # at most 5
    pending_approvals: list[PendingApproval] = Field(default_factory=list)


class BuildDigestInput(_Model):
    """Activity input: the workspace and the period [start, end) to report on."""

    workspace: str
    start: datetime
    end: datetime


class DigestWorkflowInput(_Model):
    """The schedule's argument: whose digest, over how many hours before the scheduled time."""

    workspace: str
    period_hours: int = Field(default=24, ge=1, le=24 * 31)


class DigestRunResult(_Model):
    """What one digest run did: how many incidents it reported and where it went."""

    workspace: str
    opened: int
    sent: list[str] = Field(default_factory=list)
    held: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)


# --- rendering -----------------------------------------------------------------------------------

_SEVERITY_ORDER = list(Severity)


def short_duration(seconds: float | None) -> str:
    """A mean duration for people: "45s", "12m", "1h 05m", "2d 03h"; "n/a" when there is none."""
    if seconds is None:
        return "n/a"
    total = max(round(seconds), 0)
    if total < 60:
        return f"{total}s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def _cell(text: str | None) -> str:
    # A title is vendor text: a pipe or newline in it would break the Markdown table.
    if not text:
        return "-"
    return " ".join(text.split()).replace("|", "\\|")


def _when(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _period_hours(d: Digest) -> str:
    hours = (d.period_end - d.period_start).total_seconds() / 3600
    return f"{hours:g}h"


def render_digest(d: Digest, *, timezone: str = "UTC") -> str:
    """The digest as Markdown (times shown in `timezone`, an IANA name)."""
    zone = ZoneInfo(timezone)
    tz_label = timezone
    lines = [
        f"# Digest for {d.workspace}",
        "",
        f"Period: {_when(d.period_start, zone)} → {_when(d.period_end, zone)} {tz_label} ({_period_hours(d)})",
        "",
        f"**Opened** {d.opened} · **Resolved** {d.resolved} · **Still open** {d.still_open} · "
        f"**MTTR** {short_duration(d.mttr_seconds)} · **MTTA** {short_duration(d.mtta_seconds)} · "
        f"**Actions executed** {d.actions_executed}",
    ]
    if d.by_severity:
        parts = [f"{sev.value} {d.by_severity[sev]}" for sev in _SEVERITY_ORDER if d.by_severity.get(sev)]
        lines += ["", "By severity: " + ", ".join(parts)]

    lines += ["", "## Incidents", ""]
    if not d.incidents:
        lines.append(
            "No incidents in this period."
            if d.still_open == 0
            else f"No incidents opened in this period ({d.still_open} still open from before)."
        )
    else:
        lines += [
            "| # | Severity | Title | Service | Status | Opened | Resolved | Alerts |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for inc in d.incidents:
            resolved = _when(inc.resolved_at, zone) if inc.resolved_at else "-"
            lines.append(
                f"| {inc.incident_id} | {inc.severity.value} | {_cell(inc.title)} | {_cell(inc.service)} | "
                f"{_cell(inc.status)} | {_when(inc.opened_at, zone)} | {resolved} | {inc.alert_count} |"
            )
        if d.opened > len(d.incidents):
            lines += ["", f"…and {d.opened - len(d.incidents)} more opened in this period."]

    if d.noisiest:
        lines += [
            "",
            "## Noisiest alerts",
            "",
            "| Alert | Service | Source | Deliveries | Incidents |",
            "|---|---|---|---|---|",
        ]
        for n in d.noisiest:
            lines.append(
                f"| {_cell(n.title)} | {_cell(n.service)} | {_cell(n.source)} | {n.deliveries} | {n.incidents} |"
            )

    if d.pending_approvals:
        lines += ["", "## Pending approvals", ""]
        for p in d.pending_approvals:
            who = f" by {p.requested_by}" if p.requested_by else ""
            expiry = f", expires {_when(p.expires_at, zone)}" if p.expires_at else ""
            lines.append(
                f"- Incident #{p.incident_id}: `{p.action}` {_cell(p.description)} "
                f"(requested{who} {_when(p.requested_at, zone)}{expiry}; action {p.action_id})"
            )

    if d.held_notifications:
        lines += ["", f"Quiet hours held back {d.held_notifications} notification(s) in this period."]
    return "\n".join(lines) + "\n"


def digest_headline(d: Digest) -> str:
    """One line for a chat message or a mail subject."""
    head = f"Digest {d.workspace} ({_period_hours(d)} to {d.period_end.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    if d.opened == 0 and d.resolved == 0 and d.still_open == 0:
        body = "No incidents"
    else:
        body = f"{d.opened} opened, {d.resolved} resolved, {d.still_open} still open"
        if d.mttr_seconds is not None:
            body += f", MTTR {short_duration(d.mttr_seconds)}"
    if d.pending_approvals:
        n = len(d.pending_approvals)
        body += f", {n} pending approval{'s' if n != 1 else ''}"
    return f"{head}: {body}"

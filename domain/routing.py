"""Notification routing (config/routing.yaml): which channels hear about which incidents, and when.

Pure: validates the file, picks channels for an event by severity with per-service (and per-workspace)
overrides, applies quiet hours. Channel definitions hold secret *references* only (env:/file:).
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.models import Severity
from domain.notify import NotifyEvent
from domain.settings import check_secret_reference, load_yaml

ROUTING_FILE = "routing.yaml"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _reference(value: str) -> str:
    check_secret_reference(value, "channel credential")
    return value


# A credential in routing.yaml: only a reference (env:NAME or file:/path), never the secret itself.
SecretRef = Annotated[str, AfterValidator(_reference)]


class _Channel(_Model):
    # Events this channel takes; None = the type's default (e.g. PagerDuty only follows the lifecycle).
    events: list[NotifyEvent] | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)


class SlackChannel(_Channel):
    """Slack Web API: an incident card (chat.postMessage) updated in place (chat.update), replies in its thread."""

    type: Literal["slack"]
    channel: str = Field(min_length=1)  # channel id (C0123ABC) or name
    token: SecretRef  # the bot token (xoxb-...)
    api_url: str = "https://slack.com/api"


class SlackWebhookChannel(_Channel):
    """Slack incoming webhook: one message per event (no buttons: incoming webhooks cannot be interactive)."""

    type: Literal["slack_webhook"]
    url: SecretRef  # the webhook URL is itself the credential


class TeamsChannel(_Channel):
    """Microsoft Teams incoming webhook (or Workflows webhook) with an Adaptive Card."""

    type: Literal["teams"]
    url: SecretRef  # the webhook URL is itself the credential


class PagerDutyChannel(_Channel):
    """PagerDuty Events API v2: trigger / acknowledge / resolve, dedup_key = the incident id."""

    type: Literal["pagerduty"]
    routing_key: SecretRef  # the integration (routing) key
    api_url: str = "https://events.pagerduty.com"


class EmailChannel(_Channel):
    """SMTP: HTML + plain-text mail, STARTTLS or implicit TLS, optional login."""

    type: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False  # implicit TLS (port 465); exclusive with starttls
    username: str | None = None
    password: SecretRef | None = None
    sender: str = Field(alias="from", min_length=3)
    to: list[str] = Field(default_factory=list)
    page_people: bool = True  # escalation pages also go to the paged people's addresses

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _tls(self) -> EmailChannel:
        if self.ssl and self.starttls:
            raise ValueError("email: choose ssl (implicit TLS) or starttls, not both")
        if not self.to and not self.page_people:
            raise ValueError("email: no recipients (set `to` or page_people)")
        return self


ChannelSpec = Annotated[
    SlackChannel | SlackWebhookChannel | TeamsChannel | PagerDutyChannel | EmailChannel,
    Field(discriminator="type"),
]

# What each channel type takes when `events` is not set.
DEFAULT_EVENTS: dict[str, frozenset[NotifyEvent]] = {
    "slack": frozenset(NotifyEvent) - {NotifyEvent.digest},
    "slack_webhook": frozenset(
        {
            NotifyEvent.opened,
            NotifyEvent.escalated,
            NotifyEvent.action_proposed,
            NotifyEvent.action_verdict,
            NotifyEvent.resolved,
            NotifyEvent.postmortem,
        }
    ),
    "teams": frozenset(
        {
            NotifyEvent.opened,
            NotifyEvent.diagnosed,
            NotifyEvent.escalated,
            NotifyEvent.action_proposed,
            NotifyEvent.action_verdict,
            NotifyEvent.resolved,
            NotifyEvent.postmortem,
        }
    ),
    "pagerduty": frozenset({NotifyEvent.opened, NotifyEvent.acknowledged, NotifyEvent.resolved}),
    "email": frozenset({NotifyEvent.opened, NotifyEvent.escalated, NotifyEvent.resolved, NotifyEvent.postmortem}),
}


def channel_events(spec: ChannelSpec) -> frozenset[NotifyEvent]:
    """The events a configured channel takes (the digest only through `digest.channels`)."""
    chosen = frozenset(spec.events) if spec.events is not None else DEFAULT_EVENTS[spec.type]
    return chosen | {NotifyEvent.digest}


class QuietWindow(_Model):
    """Local times [from, to) on the listed days; `to` before `from` runs past midnight."""

    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS))
    start: dt.time = Field(alias="from")
    end: dt.time = Field(alias="to")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[str]) -> list[str]:
        days = [d.strip().lower()[:3] for d in value]
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekday(s) {unknown}; use mon..sun")
        return days

    @model_validator(mode="after")
    def _not_empty(self) -> QuietWindow:
        if self.start == self.end:
            raise ValueError("a quiet window from and to the same time is empty")
        return self

    def contains(self, local: datetime) -> bool:
        """True when the local wall-clock time falls inside this window (a window past midnight belongs to
        the day it starts on)."""
        t = local.timetz().replace(tzinfo=None)
        today = WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        if self.start < self.end:
            return today in self.days and self.start <= t < self.end
        return (today in self.days and t >= self.start) or (yesterday in self.days and t < self.end)


class QuietHours(_Model):
    """During a window only severities in `allow` notify; the rest wait for the digest."""

    timezone: str = "UTC"
    windows: list[QuietWindow] = Field(min_length=1)
    allow: list[Severity] = Field(default_factory=lambda: [Severity.critical])

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    def quiet(self, at: datetime, severity: Severity | None) -> bool:
        if severity is not None and severity in self.allow:
            return False
        local = at.astimezone(ZoneInfo(self.timezone))
        return any(w.contains(local) for w in self.windows)


class RouteMatch(_Model):
    workspace: str | None = None
    service: str | None = None

    @model_validator(mode="after")
    def _something(self) -> RouteMatch:
        if self.workspace is None and self.service is None:
            raise ValueError("a route's match needs a workspace, a service, or both")
        return self

    def specificity(self, *, workspace: str, service: str | None) -> int | None:
        """None when it does not match; higher = more specific (workspace+service > service > workspace)."""
        if self.workspace is not None and self.workspace != workspace:
            return None
        if self.service is not None and self.service != service:
            return None
        return (2 if self.service is not None else 0) + (1 if self.workspace is not None else 0)


class Route(_Model):
    """Channels per severity; a matching override replaces the default route for that incident."""

    name: str = Field(min_length=1)
    match: RouteMatch | None = None  # None: the default route
    severities: dict[Severity, list[str]] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None  # overrides the file's quiet_hours for this route


class DigestConfig(_Model):
    """The daily digest: when (local time) and where."""

    enabled: bool = True
    time: dt.time = Field(default=dt.time(9, 0))
    timezone: str = "UTC"
    channels: list[str] = Field(default_factory=list)
    workspaces: list[str] | None = None  # None: every workspace in workspaces.yaml

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return QuietHours._zone(value)


class RoutingFile(_Model):
    channels: dict[str, ChannelSpec] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None
    digest: DigestConfig = Field(default_factory=DigestConfig)

    @model_validator(mode="after")
    def _references(self) -> RoutingFile:
        names = [r.name for r in self.routes]
        if len(names) != len(set(names)):
            raise ValueError(f"route names must be unique: {names}")
        defaults = [r.name for r in self.routes if r.match is None]
        if len(defaults) > 1:
            raise ValueError(f"only one default route (without match) is allowed, found {defaults}")
        matches = [(r.match.workspace, r.match.service) for r in self.routes if r.match is not None]
        if len(matches) != len(set(matches)):
            raise ValueError("two routes have the same match")
        for route in self.routes:
            for severity, chans in route.severities.items():
                for name in chans:
                    if name not in self.channels:
                        raise ValueError(
                            f"route {route.name}: {severity.value} names channel {name!r}, which is not defined "
                            f"under channels (known: {', '.join(sorted(self.channels)) or 'none'})"
                        )
        for name in self.digest.channels:
            if name not in self.channels:
                raise ValueError(f"digest names channel {name!r}, which is not defined under channels")
        return self

    def route_for(self, *, workspace: str, service: str | None) -> Route | None:
        """The most specific matching route, else the default one."""
        best: tuple[int, Route] | None = None
        for route in self.routes:
            if route.match is None:
                continue
            score = route.match.specificity(workspace=workspace, service=service)
            if score is not None and (best is None or score > best[0]):
                best = (score, route)
        if best is not None:
            return best[1]
        return next((r for r in self.routes if r.match is None), None)


class Selection(_Model):
    """The channels an event goes to, and why others did not get it."""

    route: str | None
    channels: list[str] = Field(default_factory=list)
    held: list[str] = Field(default_factory=list)  # would have been sent, but quiet hours hold them back
    quiet: bool = False
    reason: str = ""


def select_channels(
    config: RoutingFile,
    *,
    workspace: str,
    service: str | None,
    severity: Severity | None,
    event: NotifyEvent,
    at: datetime,
) -> Selection:
    """Channels for one event: the route's channels for the severity that take this event, unless quiet."""
    if event is NotifyEvent.digest:
        return Selection(route=None, channels=list(config.digest.channels), reason="digest channels")
    route = config.route_for(workspace=workspace, service=service)
    if route is None:
        return Selection(route=None, reason="no route matches and there is no default route")
    names = route.severities.get(severity, []) if severity is not None else []
    wanted = [n for n in dict.fromkeys(names) if event in channel_events(config.channels[n])]
    if not wanted:
        return Selection(route=route.name, reason=f"route {route.name} sends no {event.value} for {severity}")
    quiet_hours = route.quiet_hours or config.quiet_hours
    if quiet_hours is not None and quiet_hours.quiet(at, severity):
        # Held back, not dropped: the digest lists them, and the notify activity still closes a card that
        # was posted before the quiet hours began (a card left "open" all night misleads the next shift).
        return Selection(route=route.name, held=wanted, quiet=True, reason=f"quiet hours ({quiet_hours.timezone})")
    return Selection(route=route.name, channels=wanted, reason=f"route {route.name}")


def load_routing(config_dir: Path) -> RoutingFile:
    """config/routing.yaml, validated (a missing file routes nothing)."""
    path = config_dir / ROUTING_FILE
    if not path.exists():
        return RoutingFile()
    return load_yaml(path, RoutingFile)

"""Notifications: what an incident tells its channels, independent of any vendor's format.

Pure models. The notify activity builds a `Notification` from SQL (so workflow histories carry only
ids and event names) and hands it to every channel the router picked; each channel adapter renders
it in its vendor's format (Slack Block Kit, a Teams Adaptive Card, a PagerDuty event, an email).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.digest import Digest
from domain.models import Severity


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NotifyEvent(StrEnum):
    """Moments an incident announces. `opened` posts the card; the others update it and reply in its thread."""

    opened = "opened"
    diagnosed = "diagnosed"
    action_proposed = "action_proposed"  # a suggested action waits for approval (the card shows buttons)
    action_verdict = "action_verdict"  # approved / rejected / expired / executed / failed / dry-run
    escalated = "escalated"  # an escalation level paged people
    acknowledged = "acknowledged"
    resolved = "resolved"
    postmortem = "postmortem"
    digest = "digest"  # the daily digest (no incident)


class CardAction(_Model):
    """One action on the incident card; buttons are shown while `pending` is true."""

    action_id: str
    kind: str  # catalog slug, e.g. restart_deployment
    description: str  # one line: "restart deployment shop/checkout"
    status: str  # pending_approval, approved, rejected, expired, executing, succeeded, failed, dry_run, denied
    decision: str  # policy decision: auto_execute, require_approval, dry_run_only, deny
    pending: bool = False
    approvers: list[str] = Field(default_factory=list)
    approvers_needed: int = 1
    verdict_by: str | None = None  # who rejected it (approvers list who approved)


class PagedPerson(_Model):
    """Someone an escalation level paged; channels use the handle they understand."""

    name: str
    display_name: str | None = None
    email: str | None = None
    slack: str | None = None  # Slack member id, e.g. U01ALICE (rendered as a mention)


class Notification(_Model):
    """Everything a channel needs to render one event of one incident (or the digest)."""

    event: NotifyEvent
    workspace: str
    incident_id: int | None = None
    title: str
    severity: Severity | None = None
    service: str | None = None
    status: str | None = None  # incident status: open, acknowledged, resolved
    url: str | None = None  # link to the incident (API / console)
    text: str  # one-paragraph plain-text headline of this event ("Approved by alice: restart ...")
    diagnosis_summary: str | None = None
    diagnosis_category: str | None = None
    diagnosis_confidence: float | None = None
    actions: list[CardAction] = Field(default_factory=list)
    paged: list[PagedPerson] = Field(default_factory=list)
    level: int | None = None  # escalation level for `escalated`
    markdown: str | None = None  # long body: the postmortem or the digest
    fields: dict[str, str] = Field(default_factory=dict)  # extra facts shown as key/value pairs
    opened_at: datetime | None = None
    at: datetime  # when the event happened


class DeliveryRef(_Model):
    """What a channel remembers about a message so later events update it (Slack: channel + ts)."""

    channel: str  # the configured channel's name
    message_id: str | None = None  # Slack ts, email Message-ID, PagerDuty dedup_key
    thread_id: str | None = None  # Slack: the card's ts, replies go there
    target: str | None = None  # Slack channel id the card lives in
    extra: dict[str, Any] = Field(default_factory=dict)


class ChannelError(Exception):
    """A channel could not deliver. `retryable` decides whether Temporal retries the notify activity."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class NotifyInput(_Model):
    """One event to announce (ids and names only: the activity reads the rest from SQL).

    `key` names the event within its incident ("opened", "action:<id>:approved", "page:L2",
    "digest:2026-11-28"); with the channel it makes the delivery unique, so a retried activity or a
    replayed workflow never notifies twice.
    """

    event: NotifyEvent
    workspace: str
    key: str
    at: datetime
    incident_id: int | None = None
    action_id: str | None = None
    verdict: str | None = None  # action_verdict: approved, approval (one of several), rejected, expired, or the result
    by: str | None = None  # who gave the verdict
    level: int | None = None
    digest: Digest | None = None


class NotifyResult(_Model):
    """Per channel: sent, held (quiet hours), skipped (already sent / not applicable) or failed."""

    sent: list[str] = Field(default_factory=list)
    held: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)

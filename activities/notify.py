"""The notify activity: route one incident event (or the digest) to its channels, each at most once.

The workflow passes ids and the event name; the text comes from SQL here, so a card always shows the
incident's current state (actions, verdicts, who approved) and histories stay small. Every (event key,
channel) pair gets one `notification_log` row: a retry skips the channels that already have it, so a
Slack outage retries Slack alone and never posts to PagerDuty twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.notify.base import Channel
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from adapters.storage.orm import ActionLogRow, IncidentRow
from domain.actions import describe_params
from domain.digest import Digest, digest_headline, render_digest
from domain.models import Severity, TimelineKind
from domain.notify import (
    CardAction,
    ChannelError,
    DeliveryRef,
    Notification,
    NotifyEvent,
    NotifyInput,
    NotifyResult,
    PagedPerson,
)
from domain.oncall import OncallFile
from domain.routing import RoutingFile, Selection, load_routing, select_channels
from domain.settings import ConfigError, Settings, WorkspaceDirectory, load_yaml

log = logging.getLogger(__name__)

ONCALL_FILE = "oncall.yaml"


def describe_action(row: ActionLogRow) -> str:
    """One line for a card: the dry-run plan's summary when there is one, else the kind and its parameters."""
    summary = row.plan.get("summary") if isinstance(row.plan, dict) else None
    return str(summary) if summary else f"{row.action.replace('_', ' ')}: {describe_params(row.params)}"


def card_action(row: ActionLogRow) -> CardAction:
    decision = row.decision if isinstance(row.decision, dict) else {}
    approvers = [n for n in (row.approved_by or "").split(", ") if n]
    return CardAction(
        action_id=row.action_id,
        kind=row.action,
        description=describe_action(row),
        status=row.status,
        decision=str(decision.get("decision", "")),
        pending=row.status == "pending_approval",
        approvers=approvers,
        approvers_needed=int(decision.get("approvers_needed", 1) or 1),
        verdict_by=str(row.result.get("rejected_by")) if row.result.get("rejected_by") else None,
    )


class NotifyActivities:
    """Activities that talk to people: `notify` (incident events and the digest)."""

    def __init__(self, *, db: Database, settings: Settings, channels: Mapping[str, Channel]) -> None:
        self._db = db
        self._settings = settings
        self._channels = dict(channels)
        self._workspaces: WorkspaceDirectory | None = None

    @activity.defn(name="notify")
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        """Send one event to every channel the router picks; retried per channel until each took it."""
        try:
            routing = load_routing(self._settings.config_dir)
        except ConfigError as exc:
            # A broken routing.yaml must not stall the incident; retrying re-reads it (an edit fixes it).
            raise ApplicationError(f"routing configuration is invalid: {exc}", type="ConfigError") from None
        scope = f"incident:{inp.incident_id}" if inp.incident_id is not None else f"digest:{inp.workspace}"
        async with self._db.session() as session:
            incident = None
            if inp.incident_id is not None:
                incident = await repo.get_incident(session, incident_id=inp.incident_id, workspace=inp.workspace)
                if incident is None:
                    raise ApplicationError(
                        f"incident {inp.incident_id} of workspace {inp.workspace} does not exist", non_retryable=True
                    )
            selection = self._select(routing, inp, incident)
            note = await self._compose(session, inp, incident, timezone=routing.digest.timezone)
            cards: dict[str, DeliveryRef | None] = {}
            todo: list[str] = []
            result = NotifyResult()
            for name in selection.channels:
                previous = await repo.get_notification(session, scope=scope, key=inp.key, channel=name)
                if previous is not None and previous.status in ("sent", "skipped"):
                    result.skipped.append(name)
                    continue
                todo.append(name)
            # Closing messages still go to channels that carry the card, even in quiet hours.
            for name in selection.held:
                previous = await repo.get_notification(session, scope=scope, key=inp.key, channel=name)
                closing = inp.event in (NotifyEvent.resolved, NotifyEvent.postmortem)
                if closing and await repo.card_ref(session, scope=scope, channel=name):
                    if previous is None or previous.status not in ("sent", "skipped"):
                        todo.append(name)
                    continue
                if previous is None:
                    await repo.record_notification(
                        session,
                        scope=scope,
                        workspace=inp.workspace,
                        incident_id=inp.incident_id,
                        event=inp.event.value,
                        key=inp.key,
                        channel=name,
                        status="held",
                        at=inp.at,
                        error=selection.reason,
                    )
                result.held.append(name)
            for name in todo:
                raw = await repo.card_ref(session, scope=scope, channel=name)
                cards[name] = DeliveryRef.model_validate(raw) if raw else None

        retry_after: float | None = None
        retryable: list[str] = []
        for name in todo:
            channel = self._channels.get(name)
            if channel is None:
                result.failed[name] = (
                    f"channel {name} is in routing.yaml but was not loaded by this worker (restart the worker)"
                )
                await self._record(inp, scope, name, "failed", error=result.failed[name])
                continue
            if inp.event not in channel.events:
                result.skipped.append(name)
                continue
            try:
                sent = await channel.send(note, card=cards.get(name))
            except ChannelError as exc:
                result.failed[name] = str(exc)
                await self._record(inp, scope, name, "failed", error=str(exc))
                if exc.retryable:
                    retryable.append(name)
                    if exc.retry_after is not None:
                        retry_after = max(retry_after or 0.0, exc.retry_after)
                continue
            await self._record(inp, scope, name, "sent", ref=sent.model_dump(mode="json") if sent else {})
            result.sent.append(name)

        if inp.incident_id is not None and (result.sent or result.failed or result.held):
            await self._timeline(inp, result, selection)
        if retryable:
            # The channels that delivered are recorded and skipped on the retry; only these are tried again.
            raise ApplicationError(
                f"{', '.join(retryable)} did not take the {inp.event.value} notification: "
                + "; ".join(result.failed[n] for n in retryable),
                type="ChannelUnavailable",
                next_retry_delay=timedelta(seconds=retry_after) if retry_after else None,
            )
        return result

    # --- helpers ------------------------------------------------------------------------------------

    def _select(self, routing: RoutingFile, inp: NotifyInput, incident: IncidentRow | None) -> Selection:
        if self._workspaces is None:
            self._workspaces = WorkspaceDirectory(self._settings.config_dir)
        allowed = self._workspaces.get(inp.workspace).channels
        selection = select_channels(
            routing,
            workspace=inp.workspace,
            service=incident.service if incident is not None else None,
            severity=Severity(incident.severity) if incident is not None else None,
            event=inp.event,
            at=inp.at,
        )
        if allowed:
            # A route may name any channel; a workspace that lists its channels never posts into another's.
            foreign = [n for n in [*selection.channels, *selection.held] if n not in allowed]
            if foreign:
                log.warning("workspace %s may not use channel(s) %s; not sent", inp.workspace, ", ".join(foreign))
            selection.channels = [n for n in selection.channels if n in allowed]
            selection.held = [n for n in selection.held if n in allowed]
        return selection

    async def _record(
        self,
        inp: NotifyInput,
        scope: str,
        channel: str,
        status: str,
        *,
        ref: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        async with self._db.session() as session:
            await repo.record_notification(
                session,
                scope=scope,
                workspace=inp.workspace,
                incident_id=inp.incident_id,
                event=inp.event.value,
                key=inp.key,
                channel=channel,
                status=status,
                at=inp.at,
                ref=ref,
                error=error,
            )

    async def _timeline(self, inp: NotifyInput, result: NotifyResult, selection: Selection) -> None:
        assert inp.incident_id is not None
        parts = []
        if result.sent:
            parts.append(f"sent to {', '.join(result.sent)}")
        if result.held:
            parts.append(f"held by {selection.reason}: {', '.join(result.held)}")
        if result.failed:
            parts.append("failed: " + "; ".join(f"{k}: {v}" for k, v in result.failed.items()))
        marker = f"notify:{inp.key}:{','.join(sorted(result.sent))}:{','.join(sorted(result.failed))}"
        async with self._db.session() as session:
            if await repo.timeline_has(session, incident_id=inp.incident_id, kind=TimelineKind.notified, marker=marker):
                return
            await repo.add_timeline_event(
                session,
                incident_id=inp.incident_id,
                at=inp.at,
                kind=TimelineKind.notified,
                actor="aisre",
                message=f"Notification {inp.event.value}: " + "; ".join(parts),
                data={
                    "marker": marker,
                    "key": inp.key,
                    "sent": result.sent,
                    "held": result.held,
                    "failed": sorted(result.failed),
                },
            )

    def _people(self) -> OncallFile | None:
        try:
            return load_yaml(self._settings.config_dir / ONCALL_FILE, OncallFile)
        except ConfigError as exc:
            log.warning("paged people shown by name only: %s", exc)
            return None

    async def _compose(
        self, session: Any, inp: NotifyInput, incident: IncidentRow | None, *, timezone: str = "UTC"
    ) -> Notification:
        """The notification for this event, from the incident's current state in SQL."""
        if incident is None:
            digest = inp.digest or Digest(workspace=inp.workspace, period_start=inp.at, period_end=inp.at)
            return Notification(
                event=NotifyEvent.digest,
                workspace=inp.workspace,
                title=f"AI-SRE daily digest — {inp.workspace} — {digest.period_end:%Y-%m-%d}",
                text=digest_headline(digest),
                markdown=render_digest(digest, timezone=timezone),
                at=inp.at,
            )
        actions = await repo.list_actions(session, incident_id=incident.id)
        diagnosis = await repo.latest_diagnosis(session, incident_id=incident.id)
        cards = [card_action(a) for a in actions]
        paged: list[PagedPerson] = []
        markdown = None
        subject = next((c for c in cards if c.action_id == inp.action_id), None)
        if inp.event is NotifyEvent.action_verdict and subject is not None and inp.verdict:
            _apply_verdict(subject, verdict=inp.verdict, by=inp.by)
        severity = Severity(incident.severity)
        if inp.event is NotifyEvent.opened:
            text = f"New {severity.value} incident #{incident.id}: {incident.title}"
        elif inp.event is NotifyEvent.diagnosed:
            text = (
                f"Diagnosis ({diagnosis.category}, {diagnosis.confidence:.0%} confident): {diagnosis.summary}"
                if diagnosis is not None
                else "The diagnosis failed; see the incident timeline"
            )
        elif inp.event is NotifyEvent.action_proposed and subject is not None:
            text = f"Approval needed: {subject.description}"
        elif inp.event is NotifyEvent.action_verdict and subject is not None:
            text = _verdict_text(subject, verdict=inp.verdict or subject.status, by=inp.by)
        elif inp.event is NotifyEvent.escalated:
            paged = await self._paged(session, incident.id, inp.level)
            who = ", ".join(p.display_name or p.name for p in paged) or "nobody (no one configured)"
            text = f"Escalation L{inp.level}: paging {who}"
        elif inp.event is NotifyEvent.acknowledged:
            text = f"Acknowledged by {incident.acknowledged_by or 'someone'}"
        elif inp.event is NotifyEvent.resolved:
            reason = f": {incident.resolution_reason}" if incident.resolution_reason else ""
            text = f"Resolved by {incident.resolved_by or 'someone'}{reason}"
        elif inp.event is NotifyEvent.postmortem:
            text = f"Postmortem of incident #{incident.id}: {incident.title}"
            markdown = incident.postmortem_md
        else:
            text = f"Incident #{incident.id}: {inp.event.value}"
        return Notification(
            event=inp.event,
            workspace=incident.workspace,
            incident_id=incident.id,
            title=incident.title,
            severity=severity,
            service=incident.service,
            status=incident.status,
            url=f"{self._settings.resolved_api_url().rstrip('/')}/incidents/{incident.id}",
            text=text,
            diagnosis_summary=diagnosis.summary if diagnosis is not None else None,
            diagnosis_category=diagnosis.category if diagnosis is not None else None,
            diagnosis_confidence=diagnosis.confidence if diagnosis is not None else None,
            actions=cards,
            paged=paged,
            level=inp.level,
            markdown=markdown,
            opened_at=incident.opened_at,
            at=inp.at,
        )

    async def _paged(self, session: Any, incident_id: int, level: int | None) -> list[PagedPerson]:
        """Who the level paged, as page_oncall recorded it on the timeline, with their contact handles."""
        names: list[str] = []
        for event in await repo.list_timeline(session, incident_id=incident_id):
            if event.kind == TimelineKind.escalation.value and event.data.get("marker") == f"page:L{level}":
                names = [str(n) for n in event.data.get("people", [])]
        directory = self._people()
        out = []
        for name in names:
            person = directory.people.get(name) if directory is not None else None
            out.append(
                PagedPerson(
                    name=name,
                    display_name=(person.name or None) if person else None,
                    email=person.email if person else None,
                    slack=person.slack if person else None,
                )
            )
        return out


def _apply_verdict(action: CardAction, *, verdict: str, by: str | None) -> None:
    """Show the event's verdict on the card even if the verdict row is not committed yet (the workflow
    queues the notice first, so the thread never says "done" before "approved")."""
    names = [n for n in (by or "").split(", ") if n]
    if verdict == "approval":
        action.approvers = list(dict.fromkeys([*action.approvers, *names]))
        return
    action.status = verdict
    action.pending = False
    if verdict == "approved":
        action.approvers = list(dict.fromkeys([*action.approvers, *names]))
    elif verdict == "rejected":
        action.verdict_by = by


def _verdict_text(action: CardAction, *, verdict: str, by: str | None) -> str:
    """The event's own words (the card shows the current state; the thread keeps what happened when)."""
    if verdict == "approved":
        return f"Approved by {by or ', '.join(action.approvers) or 'someone'}: {action.description}"
    if verdict == "approval":
        return f"Approved by {by or 'someone'}; a second approver is needed: {action.description}"
    if verdict == "rejected":
        return f"Rejected by {by or action.verdict_by or 'someone'}: {action.description}"
    if verdict == "expired":
        return f"Expired unapproved: {action.description}"
    words = {
        "succeeded": "Done",
        "already_applied": "Done (already applied)",
        "failed": "Failed",
        "rolled_back": "Rolled back",
        "dry_run": "Dry run (nothing changed)",
        "denied": "Denied by policy",
    }
    return f"{words.get(verdict, verdict)}: {action.description}"

"""Pydantic models shared by the gateway, the workflows and the activities.

This module is imported inside the Temporal workflow sandbox: it must stay pure. No clock, no random,
no uuid in defaults — times and ids are always passed in.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.actions import ActionParams, Role
from domain.diagnosis import Category, SuggestedAction


class Severity(StrEnum):
    """Normalized severity, most severe first."""

    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class Lifecycle(StrEnum):
    """What a delivery says about the alert it carries."""

    firing = "firing"
    acknowledged = "acknowledged"
    resolved = "resolved"
    # A note, reassignment or priority change about an alert that already exists: it attaches to the
    # stream's incident like a repeat but, like acknowledge/resolve, never opens an incident by itself.
    updated = "updated"


class IncidentStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class RunOutcome(StrEnum):
    """How an IncidentWorkflow run ended."""

    resolved = "resolved"
    dead_lettered = "dead_lettered"
    orphaned = "orphaned"
    # Deduplicated into another stream's open incident; its deliveries went there.
    merged = "merged"


class TimelineKind(StrEnum):
    incident_opened = "incident_opened"
    alert_received = "alert_received"
    acknowledged = "acknowledged"
    resolved = "resolved"
    late_event = "late_event"
    merged = "merged"
    grouped = "grouped"
    diagnosed = "diagnosed"
    diagnosis_failed = "diagnosis_failed"
    action = "action"
    policy = "policy"
    approval = "approval"
    escalation = "escalation"
    postmortem_written = "postmortem_written"
    note = "note"
    notified = "notified"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- alerts -------------------------------------------------------------------------------------


class Alert(_Model):
    """One alert in the product's own words, whatever tool sent it."""

    source: str
    title: str
    description: str = ""
    severity: Severity = Severity.medium
    lifecycle: Lifecycle = Lifecycle.firing
    service: str | None = None
    namespace: str | None = None
    pod: str | None = None
    deployment: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict)
    fingerprint: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class NormalizationError(ValueError):
    """A payload that parses as JSON but cannot become an Alert; the message says why."""


# --- workflow inputs, signals and queries -------------------------------------------------------


class AlertSignal(_Model):
    """A reference to deliveries already stored in SQL; never the payload itself."""

    delivery_ids: list[int]
    lifecycle: Lifecycle
    count: int
    # The stream the deliveries came from; differs from the run's own when dedup routed them here.
    stream_key: str | None = None


class ResolveSignal(_Model):
    """Resolve the incident. `incident_id` guards against resolving a later incident on the same stream."""

    by: str
    reason: str = ""
    incident_id: int | None = None


class AcknowledgeSignal(_Model):
    by: str
    incident_id: int | None = None


class IncidentRecord(_Model):
    """What the workflow keeps about the incident the run opened."""

    incident_id: int
    workspace: str
    title: str
    service: str | None
    severity: Severity
    opened_at: datetime
    alert_count: int = 0
    auto_resolve_after_seconds: int | None = None
    # Set when dedup merged this run's alert into another stream's open incident (the record is that one).
    merged_into_workflow_id: str | None = None
    merge_reason: str | None = None


class IncidentCarry(_Model):
    """State carried across continue-as-new (history hygiene or a recurrence after close)."""

    incident: IncidentRecord | None = None
    status: IncidentStatus = IncidentStatus.open
    alert_count: int = 0
    pending: list[AlertSignal] = Field(default_factory=list)
    previous_incident_id: int | None = None
    acknowledged_by: str | None = None
    # Last lifecycle per stream feeding the incident (its own and the ones dedup merged into it).
    streams: dict[str, Lifecycle] = Field(default_factory=dict)
    diagnoses: int = 0
    diagnosis: DiagnosisResult | None = None
    actions: list[ProposedAction] = Field(default_factory=list)
    paged_levels: list[int] = Field(default_factory=list)
    notices: list[Any] = Field(default_factory=list)  # NotifyInput not yet sent (domain.notify imports us)


class StartIncidentInput(_Model):
    """The start input: workspace and stream key only; every alert arrives as a signal."""

    workspace: str
    stream_key: str
    carry: IncidentCarry | None = None


class IncidentState(_Model):
    """The answer of the get_state query."""

    workspace: str
    stream_key: str
    incident_id: int | None
    status: IncidentStatus
    title: str | None
    service: str | None
    severity: Severity | None
    alert_count: int
    pending_deliveries: int
    acknowledged_by: str | None
    resolved_by: str | None
    postmortem_written: bool
    diagnosis: DiagnosisResult | None = None
    actions: list[ProposedAction] = Field(default_factory=list)
    paged_levels: list[int] = Field(default_factory=list)


class IncidentResult(_Model):
    outcome: RunOutcome
    incident_id: int | None
    alert_count: int


# --- activity inputs and results ----------------------------------------------------------------


class NormalizeAlertInput(_Model):
    delivery_id: int


class NormalizedAlertResult(_Model):
    """Either the alert, or the dead letter that holds the body and the reason."""

    delivery_id: int
    alert: Alert | None = None
    dead_letter_id: int | None = None
    reason: str | None = None


class RecordIncidentInput(_Model):
    workspace: str
    stream_key: str
    workflow_id: str
    run_id: str
    alert: Alert
    delivery_ids: list[int]
    opened_at: datetime
    previous_incident_id: int | None = None


class AttachAlertsInput(_Model):
    incident_id: int
    delivery_ids: list[int]
    lifecycle: Lifecycle
    at: datetime
    late: bool = False


class AttachAlertsResult(_Model):
    alert_count: int


class RecordOrphansInput(_Model):
    """Acknowledge/resolve deliveries that reached a run with no incident of its own."""

    workspace: str
    stream_key: str
    delivery_ids: list[int]
    at: datetime


class UpdateIncidentStatusInput(_Model):
    incident_id: int
    status: IncidentStatus
    at: datetime
    actor: str
    reason: str = ""


class DiagnoseRequest(_Model):
    """Signal: diagnose the incident again (fire-and-forget; the result lands in the timeline)."""

    by: str
    reason: str = ""
    incident_id: int | None = None  # guards against diagnosing a later incident of the same stream


class DiagnoseIncidentInput(_Model):
    incident_id: int
    workflow_id: str
    run_id: str
    request: int  # 1 for the automatic first diagnosis, then one more per DiagnoseRequest
    requested_by: str
    reason: str = ""


class DiagnosisResult(_Model):
    """The small part of a diagnosis the workflow keeps; the full one (and its evidence) lives in SQL."""

    diagnosis_id: int
    category: Category
    confidence: float
    summary: str
    root_cause: str
    suggested_actions: list[SuggestedAction] = Field(default_factory=list)


class RecordDiagnosisFailureInput(_Model):
    incident_id: int
    at: datetime
    error: str


class ActionResult(_Model):
    action_id: str
    status: str  # dry_run | succeeded | already_applied | failed | rolled_back
    detail: str
    diff: str = ""
    provider_ref: str = ""


class EvaluatePolicyInput(_Model):
    """Decide one proposed action against policy; the activity records the proposal and every vote."""

    incident_id: int
    workspace: str
    workflow_id: str
    action_id: str
    action: ActionParams
    requested_by: str
    at: datetime


class PolicyVerdict(_Model):
    """What the workflow needs of a policy decision (the full decision with every vote is in action_logs)."""

    decision: str  # deny | dry_run_only | require_approval | auto_execute
    reasons: list[str] = Field(default_factory=list)
    approvers_needed: int = 1
    min_role: Role = Role.operator
    approval_timeout_seconds: int = 3600


class ProposeActionInput(_Model):
    """Update: an operator proposes an action (it still goes through policy)."""

    action: ActionParams
    by: str
    role: Role
    workspace: str
    reason: str = ""


class ApprovalInput(_Model):
    """Update: approve or reject a pending action. The validator checks role, workspace, state and expiry."""

    action_id: str
    by: str
    role: Role
    workspace: str
    incident_id: int | None = None
    reason: str = ""


class ApprovalVerdict(_Model):
    action_id: str
    verdict: str  # approved | rejected | awaiting_second_approver
    approvers: list[str] = Field(default_factory=list)
    detail: str = ""


class ProposedAction(_Model):
    """The workflow's view of one action: its decision and where it stands."""

    action_id: str
    action: ActionParams
    decision: str
    status: str  # denied | dry_run | pending_approval | approved | rejected | expired | executing | <result>
    requested_by: str
    approvers_needed: int = 1
    min_role: Role = Role.operator
    approvers: list[str] = Field(default_factory=list)
    expires_at: datetime | None = None
    result: ActionResult | None = None


class RecordActionVerdictInput(_Model):
    incident_id: int
    workspace: str
    workflow_id: str
    action_id: str
    status: str  # approved | rejected | expired
    by: str
    reason: str = ""
    at: datetime


class EscalationStep(_Model):
    level: int
    at: datetime


class PlanEscalationInput(_Model):
    incident_id: int
    workspace: str
    opened_at: datetime


class EscalationPlanResult(_Model):
    steps: list[EscalationStep] = Field(default_factory=list)


class PageOncallInput(_Model):
    incident_id: int
    workspace: str
    level: int
    at: datetime


class PageResult(_Model):
    level: int
    person: str | None
    detail: str


class ExecuteActionInput(_Model):
    """Run (or dry-run) one catalog action; the idempotency key is workflow id + action id."""

    incident_id: int
    workspace: str
    workflow_id: str
    action_id: str
    action: ActionParams
    dry_run: bool
    requested_by: str
    approved_by: list[str] = Field(default_factory=list)


class GeneratePostmortemInput(_Model):
    incident_id: int


class PostmortemResult(_Model):
    incident_id: int
    characters: int


# --- read models --------------------------------------------------------------------------------


class TimelineEntry(_Model):
    at: datetime
    kind: TimelineKind
    actor: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class ActionEntry(_Model):
    """One action taken (or attempted) on an incident, as the postmortem reports it."""

    action: str
    status: str
    requested_by: str | None = None
    approved_by: str | None = None
    at: datetime
    dry_run: bool = False

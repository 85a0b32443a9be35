"""IncidentWorkflow: one durable run per incident.

Deterministic code only: stdlib, temporalio and `domain`. Activities are called by name so adapters,
SQLAlchemy and HTTP clients never load inside the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from domain.actions import Role
    from domain.models import (
        AcknowledgeSignal,
        ActionResult,
        AlertSignal,
        ApprovalInput,
        ApprovalVerdict,
        AttachAlertsInput,
        AttachAlertsResult,
        DiagnoseIncidentInput,
        DiagnoseRequest,
        DiagnosisResult,
        EscalationPlanResult,
        EvaluatePolicyInput,
        ExecuteActionInput,
        GeneratePostmortemInput,
        IncidentCarry,
        IncidentRecord,
        IncidentResult,
        IncidentState,
        IncidentStatus,
        Lifecycle,
        NormalizeAlertInput,
        NormalizedAlertResult,
        PageOncallInput,
        PageResult,
        PlanEscalationInput,
        PolicyVerdict,
        PostmortemResult,
        ProposeActionInput,
        ProposedAction,
        RecordActionVerdictInput,
        RecordDiagnosisFailureInput,
        RecordIncidentInput,
        RecordOrphansInput,
        ResolveSignal,
        RunOutcome,
        StartIncidentInput,
        UpdateIncidentStatusInput,
    )
    from domain.notify import NotifyEvent, NotifyInput, NotifyResult

WORKSPACE = SearchAttributeKey.for_keyword("Workspace")
SERVICE = SearchAttributeKey.for_keyword("Service")
SEVERITY = SearchAttributeKey.for_keyword("Severity")
INCIDENT_STATUS = SearchAttributeKey.for_keyword("IncidentStatus")

# Storage activities: retry until the database answers again; a missing row is permanent.
STORAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=["ValidationError", "NormalizationError"],
)
STORAGE_TIMEOUT = timedelta(seconds=60)

# Diagnosis: model outages are retried (with the vendor's Retry-After); a refusal is final.
DIAGNOSIS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=6,
    non_retryable_error_types=["ModelRejected", "BudgetError", "ValidationError"],
)
DIAGNOSIS_TIMEOUT = timedelta(minutes=10)
DIAGNOSIS_HEARTBEAT = timedelta(seconds=60)
# Histories recorded before diagnosis existed must replay without it.
DIAGNOSIS_PATCH = "diagnosis-v1"
# ... and before remediation (policy, approvals, execution) and the escalation ladder existed.
REMEDIATION_PATCH = "remediation-v1"

# ... and before notifications existed.
NOTIFY_PATCH = "notify-v1"

# Notifications: retried for about two hours (Retry-After honoured), then given up with a warning; a
# channel outage never blocks the incident because notices are sent by a separate task, in order.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=30,
    non_retryable_error_types=["ValidationError"],
)
NOTIFY_TIMEOUT = timedelta(minutes=2)

# Provider calls: outages retried with the vendor's Retry-After; a refusal is final. The activity is
# exactly-once by itself (intent row + provider-side key), so retrying it is always safe.
ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=["ProviderRejected", "ValidationError"],
)
ACTION_TIMEOUT = timedelta(minutes=10)
# The execute activity heartbeats every few seconds: a worker that died mid-action is noticed within
# this, and the retry reconciles against the provider instead of waiting out the whole timeout.
ACTION_HEARTBEAT = timedelta(seconds=10)


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow:
    """Open the incident from the first firing alert, count repeats, resolve, write the postmortem."""

    @workflow.init
    def __init__(self, inp: StartIncidentInput) -> None:
        carry = inp.carry or IncidentCarry()
        self._workspace = inp.workspace
        self._stream_key = inp.stream_key
        self._incident: IncidentRecord | None = carry.incident
        self._status = carry.status
        self._alert_count = carry.alert_count
        self._pending: list[AlertSignal] = list(carry.pending)
        self._previous_incident_id = carry.previous_incident_id
        self._acknowledged_by = carry.acknowledged_by
        # Last lifecycle per stream feeding the incident: it resolves when every stream has resolved.
        self._streams: dict[str, Lifecycle] = dict(carry.streams)
        self._ack_request: AcknowledgeSignal | None = None
        self._resolve_request: ResolveSignal | None = None
        self._resolved_by: str | None = None
        self._postmortem_written = False
        self._diagnosis_requests: list[DiagnoseRequest] = []
        self._actions: dict[str, ProposedAction] = {a.action_id: a for a in carry.actions}
        self._ready: list[str] = []  # approved actions waiting for the run loop to execute them
        self._escalation: asyncio.Task[None] | None = None
        self._paged: list[int] = list(carry.paged_levels)
        self._diagnoses = carry.diagnoses
        self._diagnosis: DiagnosisResult | None = carry.diagnosis
        self._notices: list[NotifyInput] = [NotifyInput.model_validate(n) for n in carry.notices]
        self._notify = False  # set by run() once the incident is open (patch-guarded)
        self._notifier: asyncio.Task[None] | None = None

    # --- handlers -------------------------------------------------------------------------------

    @workflow.signal(name="alert")
    def alert(self, sig: AlertSignal) -> None:
        """Deliveries stored by the gateway (ids only); processed in arrival order by the run loop."""
        self._pending.append(sig)

    @workflow.signal(name="acknowledge")
    def acknowledge(self, sig: AcknowledgeSignal) -> None:
        if self._matches(sig.incident_id) and self._ack_request is None:
            self._ack_request = sig

    @workflow.signal(name="diagnose")
    def diagnose(self, sig: DiagnoseRequest) -> None:
        """Ask for a fresh diagnosis (e.g. after a fix attempt); it runs between alert batches."""
        if self._matches(sig.incident_id):
            self._diagnosis_requests.append(sig)

    @workflow.update(name="approve")
    async def approve(self, inp: ApprovalInput) -> ApprovalVerdict:
        """Approve a pending action; it runs once enough distinct approvers agreed."""
        pending = self._actions[inp.action_id]
        pending.approvers.append(inp.by)
        if len(pending.approvers) < pending.approvers_needed:
            verdict = "awaiting_second_approver"
        else:
            pending.status = "approved"
            self._ready.append(pending.action_id)
            verdict = "approved"
        status = "approved" if verdict == "approved" else "approval"
        key = "approved" if verdict == "approved" else f"approval:{inp.by}"
        # Queued before the first await: the run loop may execute the action meanwhile, and the thread
        # must say "approved" before it says "done".
        self._announce(
            NotifyEvent.action_verdict,
            f"action:{pending.action_id}:{key}",
            action_id=pending.action_id,
            verdict=status,
            by=", ".join(pending.approvers) if status == "approved" else inp.by,
        )
        await self._record_verdict(pending, status, inp.by, inp.reason)
        return ApprovalVerdict(action_id=inp.action_id, verdict=verdict, approvers=list(pending.approvers))

    @approve.validator
    def _check_approve(self, inp: ApprovalInput) -> None:
        pending = self._check_pending(inp)
        if inp.by in pending.approvers:
            raise ValueError(
                f"{inp.by} already approved action {inp.action_id}; a second approver must be someone else"
            )

    @workflow.update(name="reject")
    async def reject(self, inp: ApprovalInput) -> ApprovalVerdict:
        """Reject a pending action: it never runs."""
        pending = self._actions[inp.action_id]
        pending.status = "rejected"
        self._announce(
            NotifyEvent.action_verdict,
            f"action:{pending.action_id}:rejected",
            action_id=pending.action_id,
            verdict="rejected",
            by=inp.by,
        )
        await self._record_verdict(pending, "rejected", inp.by, inp.reason)
        return ApprovalVerdict(action_id=inp.action_id, verdict="rejected", approvers=list(pending.approvers))

    @reject.validator
    def _check_reject(self, inp: ApprovalInput) -> None:
        self._check_pending(inp)

    def _check_pending(self, inp: ApprovalInput) -> ProposedAction:
        """The update validators: role, workspace, pending state and expiry (a refusal never reaches history)."""
        if inp.workspace != self._workspace:
            raise ValueError(f"action {inp.action_id} belongs to another workspace")
        if not self._matches(inp.incident_id):
            raise ValueError(f"action {inp.action_id} belongs to another incident of this stream")
        pending = self._actions.get(inp.action_id)
        if pending is None:
            raise ValueError(f"no action {inp.action_id} on this incident")
        if pending.status != "pending_approval":
            raise ValueError(f"action {inp.action_id} is {pending.status}, not pending approval")
        if pending.expires_at is not None and workflow.now() >= pending.expires_at:
            raise ValueError(f"the approval window of action {inp.action_id} has closed (expired)")
        needed = max(Role.operator.rank, pending.min_role.rank)
        if inp.role.rank < needed:
            raise ValueError(f"approving {pending.action.action} needs the {list(Role)[needed].value} role or above")
        return pending

    @workflow.update(name="propose_action")
    async def propose_action(self, inp: ProposeActionInput) -> ProposedAction:
        """An operator proposes an action; it goes through policy like the diagnosis' suggestions."""
        return await self._propose(inp.action, f"{inp.by} ({inp.role.value})")

    @propose_action.validator
    def _check_propose(self, inp: ProposeActionInput) -> None:
        if inp.workspace != self._workspace:
            raise ValueError("the incident belongs to another workspace")
        if inp.role.rank < Role.operator.rank:
            raise ValueError("proposing an action needs the operator role or above")
        if self._incident is None or self._status is IncidentStatus.resolved:
            raise ValueError("the incident is not open")

    @workflow.signal(name="resolve")
    def resolve(self, sig: ResolveSignal) -> None:
        if self._matches(sig.incident_id) and self._resolve_request is None:
            self._resolve_request = sig

    def _matches(self, incident_id: int | None) -> bool:
        # A resolve aimed at an earlier incident of this stream must not close the current one.
        if incident_id is None:
            return True
        return self._incident is not None and self._incident.incident_id == incident_id

    @workflow.query(name="get_state")
    def get_state(self) -> IncidentState:
        inc = self._incident
        return IncidentState(
            workspace=self._workspace,
            stream_key=self._stream_key,
            incident_id=inc.incident_id if inc else None,
            status=self._status,
            title=inc.title if inc else None,
            service=inc.service if inc else None,
            severity=inc.severity if inc else None,
            alert_count=self._alert_count,
            pending_deliveries=sum(s.count for s in self._pending),
            acknowledged_by=self._acknowledged_by,
            resolved_by=self._resolved_by,
            postmortem_written=self._postmortem_written,
            diagnosis=self._diagnosis,
            actions=list(self._actions.values()),
            paged_levels=list(self._paged),
        )

    # --- run ------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: StartIncidentInput) -> IncidentResult:
        outcome = await self._open()
        if outcome is not None:
            if self._notices:  # the previous incident's last notices, carried into this run
                self._start_notifier()
                await workflow.wait_condition(lambda: not self._notices)
            await workflow.wait_condition(workflow.all_handlers_finished)
            merged_into = self._incident.incident_id if self._incident is not None else None
            return IncidentResult(outcome=outcome, incident_id=merged_into, alert_count=0)
        assert self._incident is not None
        self._streams.setdefault(self._stream_key, Lifecycle.firing)
        self._notify = workflow.patched(NOTIFY_PATCH)
        if self._notices:
            self._start_notifier()  # carried over a continue-as-new
        self._announce(NotifyEvent.opened, "opened")
        remediation = workflow.patched(REMEDIATION_PATCH)
        if remediation:
            self._escalation = asyncio.create_task(self._escalate())
        if self._diagnoses == 0 and workflow.patched(DIAGNOSIS_PATCH):
            await self._diagnose(DiagnoseRequest(by="aisre", reason="incident opened"))
            if remediation and self._diagnosis is not None:
                for suggested in self._diagnosis.suggested_actions:
                    if suggested.action != "investigate":
                        await self._propose(suggested, "aisre (diagnosis)")

        while self._status is not IncidentStatus.resolved:
            await self._wait_for_news()
            await self._drain()
            while self._diagnosis_requests and self._resolve_request is None:
                await self._diagnose(self._diagnosis_requests.pop(0))
            await self._expire_approvals()
            while self._ready and self._resolve_request is None:
                await self._run_approved(self._ready.pop(0))
            if self._ack_request is not None and self._status is IncidentStatus.open:
                await self._set_status(IncidentStatus.acknowledged, self._ack_request.by, "")
                self._acknowledged_by = self._ack_request.by
                self._announce(NotifyEvent.acknowledged, "acknowledged")
            if self._resolve_request is not None:
                await self._set_status(IncidentStatus.resolved, self._resolve_request.by, self._resolve_request.reason)
                self._resolved_by = self._resolve_request.by
                self._announce(NotifyEvent.resolved, "resolved")
            elif workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                # Unsent notices travel in the carry; the one in flight may go again, which the notify
                # activity's per-channel log turns into a no-op.
                workflow.continue_as_new(
                    StartIncidentInput(workspace=self._workspace, stream_key=self._stream_key, carry=self._carry())
                )

        if self._escalation is not None and not self._escalation.done():
            self._escalation.cancel()  # nobody needs paging for a resolved incident
        await workflow.execute_activity(
            "generate_postmortem",
            GeneratePostmortemInput(incident_id=self._incident.incident_id),
            result_type=PostmortemResult,
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )
        self._postmortem_written = True
        self._announce(NotifyEvent.postmortem, "postmortem")
        await self._after_close()
        return IncidentResult(
            outcome=RunOutcome.resolved, incident_id=self._incident.incident_id, alert_count=self._alert_count
        )

    async def _open(self) -> RunOutcome | None:
        """Open the incident from the first usable firing delivery; an outcome when the run ends early."""
        while self._incident is None:
            await workflow.wait_condition(lambda: bool(self._pending))
            batch = self._pending.pop(0)
            if batch.lifecycle is not Lifecycle.firing:
                await self._record_orphans(batch.delivery_ids)
                if not self._pending:
                    return RunOutcome.orphaned
                continue
            for index, delivery_id in enumerate(batch.delivery_ids):
                result = await workflow.execute_activity(
                    "normalize_alert",
                    NormalizeAlertInput(delivery_id=delivery_id),
                    result_type=NormalizedAlertResult,
                    start_to_close_timeout=STORAGE_TIMEOUT,
                    retry_policy=STORAGE_RETRY,
                )
                if result.alert is None:
                    continue
                info = workflow.info()
                self._incident = await workflow.execute_activity(
                    "record_incident",
                    RecordIncidentInput(
                        workspace=self._workspace,
                        stream_key=self._stream_key,
                        workflow_id=info.workflow_id,
                        run_id=info.run_id,
                        alert=result.alert,
                        delivery_ids=batch.delivery_ids[index:],
                        opened_at=workflow.now(),
                        previous_incident_id=self._previous_incident_id,
                    ),
                    result_type=IncidentRecord,
                    start_to_close_timeout=STORAGE_TIMEOUT,
                    retry_policy=STORAGE_RETRY,
                )
                self._alert_count = self._incident.alert_count
                if self._incident.merged_into_workflow_id is not None:
                    await self._forward_to_survivor(self._incident.merged_into_workflow_id, batch, index)
                    return RunOutcome.merged
                self._upsert_search_attributes()
                break
            if self._incident is None and not self._pending:
                return RunOutcome.dead_lettered
        return None

    async def _diagnose(self, request: DiagnoseRequest) -> None:
        """Run the diagnosis activity; a failure is recorded on the timeline and never stops the incident."""
        assert self._incident is not None
        self._diagnoses += 1
        info = workflow.info()
        try:
            self._diagnosis = await workflow.execute_activity(
                "diagnose_incident",
                DiagnoseIncidentInput(
                    incident_id=self._incident.incident_id,
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                    request=self._diagnoses,
                    requested_by=request.by,
                    reason=request.reason,
                ),
                result_type=DiagnosisResult,
                start_to_close_timeout=DIAGNOSIS_TIMEOUT,
                heartbeat_timeout=DIAGNOSIS_HEARTBEAT,
                retry_policy=DIAGNOSIS_RETRY,
            )
            self._announce(NotifyEvent.diagnosed, f"diagnosis:{self._diagnoses}")
        except ActivityError as exc:
            cause = exc.cause if exc.cause is not None else exc
            workflow.logger.warning("diagnosis of incident %s failed: %s", self._incident.incident_id, cause)
            await workflow.execute_activity(
                "record_diagnosis_failure",
                RecordDiagnosisFailureInput(
                    incident_id=self._incident.incident_id, at=workflow.now(), error=str(cause)
                ),
                start_to_close_timeout=STORAGE_TIMEOUT,
                retry_policy=STORAGE_RETRY,
            )

    # --- remediation ------------------------------------------------------------------------------

    def _pending_approvals(self) -> list[ProposedAction]:
        return [a for a in self._actions.values() if a.status == "pending_approval"]

    async def _propose(self, action: Any, requested_by: str) -> ProposedAction:
        """Ask policy about one action, then act on its decision (dry-run, execute, or wait for approval)."""
        assert self._incident is not None
        info = workflow.info()
        action_id = str(workflow.uuid4())
        verdict = await workflow.execute_activity(
            "evaluate_policy",
            EvaluatePolicyInput(
                incident_id=self._incident.incident_id,
                workspace=self._workspace,
                workflow_id=info.workflow_id,
                action_id=action_id,
                action=action,
                requested_by=requested_by,
                at=workflow.now(),
            ),
            result_type=PolicyVerdict,
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )
        proposed = ProposedAction(
            action_id=action_id,
            action=action,
            decision=verdict.decision,
            status="denied",
            requested_by=requested_by,
            approvers_needed=verdict.approvers_needed,
            min_role=verdict.min_role,
        )
        self._actions[action_id] = proposed
        if verdict.decision == "require_approval":
            proposed.status = "pending_approval"
            proposed.expires_at = workflow.now() + timedelta(seconds=verdict.approval_timeout_seconds)
            self._announce(NotifyEvent.action_proposed, f"action:{action_id}:proposed", action_id=action_id)
        elif verdict.decision in ("dry_run_only", "auto_execute"):
            await self._execute(proposed, dry_run=verdict.decision == "dry_run_only")
        return proposed

    async def _run_approved(self, action_id: str) -> None:
        proposed = self._actions[action_id]
        if proposed.status == "approved":
            await self._execute(proposed, dry_run=False)

    async def _execute(self, proposed: ProposedAction, *, dry_run: bool) -> None:
        assert self._incident is not None
        proposed.status = "executing"
        try:
            proposed.result = await workflow.execute_activity(
                "execute_action",
                ExecuteActionInput(
                    incident_id=self._incident.incident_id,
                    workspace=self._workspace,
                    workflow_id=workflow.info().workflow_id,
                    action_id=proposed.action_id,
                    action=proposed.action,
                    dry_run=dry_run,
                    requested_by=proposed.requested_by,
                    approved_by=list(proposed.approvers),
                ),
                result_type=ActionResult,
                start_to_close_timeout=ACTION_TIMEOUT,
                heartbeat_timeout=ACTION_HEARTBEAT,
                retry_policy=ACTION_RETRY,
            )
            proposed.status = proposed.result.status
        except ActivityError as exc:
            # The activity recorded the failure in action_logs and the timeline before giving up.
            cause = exc.cause if exc.cause is not None else exc
            proposed.status = "failed"
            proposed.result = ActionResult(action_id=proposed.action_id, status="failed", detail=str(cause))
        self._announce(
            NotifyEvent.action_verdict,
            f"action:{proposed.action_id}:{proposed.status}",
            action_id=proposed.action_id,
            verdict=proposed.status,
        )

    async def _expire_approvals(self) -> None:
        now = workflow.now()
        for pending in self._pending_approvals():
            if pending.expires_at is not None and now >= pending.expires_at:
                pending.status = "expired"  # an approval not given in time is a rejection
                await self._record_verdict(pending, "expired", "aisre", "the approval window closed")
                self._announce(
                    NotifyEvent.action_verdict,
                    f"action:{pending.action_id}:expired",
                    action_id=pending.action_id,
                    verdict="expired",
                    by="aisre",
                )

    async def _record_verdict(self, proposed: ProposedAction, status: str, by: str, reason: str) -> None:
        assert self._incident is not None
        await workflow.execute_activity(
            "record_action_verdict",
            RecordActionVerdictInput(
                incident_id=self._incident.incident_id,
                workspace=self._workspace,
                workflow_id=workflow.info().workflow_id,
                action_id=proposed.action_id,
                status=status,
                by=by,
                reason=reason,
                at=workflow.now(),
            ),
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )

    def _escalation_over(self) -> bool:
        """The ladder stops once the incident is acknowledged or resolved, or every approval has a verdict."""
        if self._status is not IncidentStatus.open or self._resolve_request is not None:
            return True
        return (
            bool(self._actions)
            and not self._pending_approvals()
            and any(a.decision == "require_approval" for a in self._actions.values())
        )

    async def _escalate(self) -> None:
        """Page L1 -> L2 -> L3 on-call at the configured delays until someone acknowledges."""
        assert self._incident is not None
        plan = await workflow.execute_activity(
            "plan_escalation",
            PlanEscalationInput(
                incident_id=self._incident.incident_id,
                workspace=self._workspace,
                opened_at=self._incident.opened_at,
            ),
            result_type=EscalationPlanResult,
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )
        for step in plan.steps:
            if step.level in self._paged:
                continue
            wait = step.at - workflow.now()
            if wait > timedelta(0):
                # Woken early when the ladder should stop; otherwise the step is due.
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._escalation_over, timeout=wait)
            if self._escalation_over():
                return
            await workflow.execute_activity(
                "page_oncall",
                PageOncallInput(
                    incident_id=self._incident.incident_id, workspace=self._workspace, level=step.level, at=step.at
                ),
                result_type=PageResult,
                start_to_close_timeout=STORAGE_TIMEOUT,
                retry_policy=STORAGE_RETRY,
            )
            self._paged.append(step.level)
            self._announce(NotifyEvent.escalated, f"page:L{step.level}", level=step.level)

    async def _forward_to_survivor(self, target: str, batch: AlertSignal, index: int) -> None:
        """Dedup merged this stream into another incident: hand it everything this run received.

        The first deliveries are already attached in SQL (record_incident did it under the lock); the
        survivor learns of the stream so its resolve logic waits for this stream too. Later batches are
        attached by the survivor, or here as late deliveries if it has closed meanwhile.
        """
        first = AlertSignal(
            delivery_ids=batch.delivery_ids[index:],
            lifecycle=Lifecycle.firing,
            count=len(batch.delivery_ids) - index,
            stream_key=self._stream_key,
        )
        await self._forward(target, first, attached=True)
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            if not self._pending:
                return
            pending = self._pending.pop(0)
            await self._forward(target, pending.model_copy(update={"stream_key": self._stream_key}), attached=False)

    async def _forward(self, target: str, sig: AlertSignal, *, attached: bool) -> None:
        try:
            await workflow.get_external_workflow_handle(target).signal("alert", sig)
        except FailureError as exc:
            workflow.logger.warning("incident %s did not take merged deliveries: %s", target, exc)
            if not attached:
                await self._attach(sig.delivery_ids, sig.lifecycle, late=True)

    async def _wait_for_news(self) -> None:
        assert self._incident is not None
        timeout = self._incident.auto_resolve_after_seconds
        now = workflow.now()
        expiry = min((a.expires_at for a in self._pending_approvals() if a.expires_at), default=None)
        waits = [timedelta(seconds=timeout)] if timeout else []
        if expiry is not None:
            waits.append(max(expiry - now, timedelta(0)))
        try:
            await workflow.wait_condition(
                lambda: (
                    bool(self._pending)
                    or bool(self._diagnosis_requests)
                    or bool(self._ready)
                    or self._resolve_request is not None
                    or (self._ack_request is not None and self._status is IncidentStatus.open)
                ),
                timeout=min(waits) if waits else None,
            )
        except TimeoutError:
            if expiry is not None and workflow.now() >= expiry:
                return  # an approval window closed: the run loop records the expiry
            self._resolve_request = ResolveSignal(by="aisre", reason=f"auto-resolved: no alert for {timeout} seconds")

    async def _drain(self) -> None:
        """Attach pending deliveries, merging consecutive batches of one lifecycle and stream into one activity.

        Stops after the batch that resolves the incident: firing alerts queued behind it belong to the
        next incident. With several streams (dedup merged others in), the incident resolves when the
        last of them resolves.
        """
        while self._pending and self._resolve_request is None:
            lifecycle = self._pending[0].lifecycle
            stream = self._pending[0].stream_key or self._stream_key
            ids: list[int] = []
            while (
                self._pending
                and self._pending[0].lifecycle is lifecycle
                and (self._pending[0].stream_key or self._stream_key) == stream
            ):
                ids.extend(self._pending.pop(0).delivery_ids)
            await self._attach(ids, lifecycle, late=False)
            if lifecycle in (Lifecycle.firing, Lifecycle.resolved):
                self._streams[stream] = lifecycle
            if lifecycle is Lifecycle.resolved and all(v is Lifecycle.resolved for v in self._streams.values()):
                self._resolve_request = ResolveSignal(
                    by="alert source", reason="the monitoring tool resolved the alert"
                )
            elif lifecycle is Lifecycle.acknowledged and self._ack_request is None:
                self._ack_request = AcknowledgeSignal(by="alert source")

    async def _after_close(self) -> None:
        """Record deliveries that arrived while closing; a new firing alert opens the next incident.

        The run ends once its last notices are out (or given up). A channel still retrying never delays
        the next incident: a firing alert continues-as-new at once and the unsent notices travel along.
        """
        assert self._incident is not None
        while True:
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() and (bool(self._pending) or not self._notices)
            )
            late = [b for b in self._pending if b.lifecycle is not Lifecycle.firing]
            firing = [b for b in self._pending if b.lifecycle is Lifecycle.firing]
            self._pending = []
            for batch in late:
                await self._attach(batch.delivery_ids, batch.lifecycle, late=True)
            if firing:
                workflow.continue_as_new(
                    StartIncidentInput(
                        workspace=self._workspace,
                        stream_key=self._stream_key,
                        carry=IncidentCarry(
                            pending=firing,
                            previous_incident_id=self._incident.incident_id,
                            notices=list(self._notices),
                        ),
                    )
                )
            if not self._pending and not self._notices:
                return

    # --- helpers --------------------------------------------------------------------------------

    def _announce(
        self,
        event: NotifyEvent,
        key: str,
        *,
        action_id: str | None = None,
        level: int | None = None,
        verdict: str | None = None,
        by: str | None = None,
    ) -> None:
        """Queue a notice; one task sends them in order, so a slow channel never holds up the incident."""
        if not self._notify or self._incident is None:
            return
        self._notices.append(
            NotifyInput(
                event=event,
                workspace=self._workspace,
                key=key,
                at=workflow.now(),
                incident_id=self._incident.incident_id,
                action_id=action_id,
                verdict=verdict,
                by=by,
                level=level,
            )
        )
        self._start_notifier()

    def _start_notifier(self) -> None:
        if self._notifier is None or self._notifier.done():
            self._notifier = asyncio.create_task(self._send_notices())

    async def _send_notices(self) -> None:
        while self._notices:
            notice = self._notices[0]
            try:
                await workflow.execute_activity(
                    "notify",
                    notice,
                    result_type=NotifyResult,
                    start_to_close_timeout=NOTIFY_TIMEOUT,
                    retry_policy=NOTIFY_RETRY,
                )
            except ActivityError as exc:
                cause = exc.cause if exc.cause is not None else exc
                workflow.logger.warning("notification %s gave up: %s", notice.key, cause)
            self._notices.pop(0)

    async def _attach(self, ids: list[int], lifecycle: Lifecycle, *, late: bool) -> None:
        assert self._incident is not None
        result = await workflow.execute_activity(
            "attach_alerts",
            AttachAlertsInput(
                incident_id=self._incident.incident_id,
                delivery_ids=ids,
                lifecycle=lifecycle,
                at=workflow.now(),
                late=late,
            ),
            result_type=AttachAlertsResult,
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )
        self._alert_count = result.alert_count

    async def _record_orphans(self, ids: list[int]) -> None:
        await workflow.execute_activity(
            "record_orphans",
            RecordOrphansInput(
                workspace=self._workspace, stream_key=self._stream_key, delivery_ids=ids, at=workflow.now()
            ),
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )

    async def _set_status(self, status: IncidentStatus, actor: str, reason: str) -> None:
        assert self._incident is not None
        await workflow.execute_activity(
            "update_incident_status",
            UpdateIncidentStatusInput(
                incident_id=self._incident.incident_id,
                status=status,
                at=workflow.now(),
                actor=actor,
                reason=reason,
            ),
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )
        self._status = status
        self._upsert_search_attributes()

    def _upsert_search_attributes(self) -> None:
        assert self._incident is not None
        updates: list[SearchAttributeUpdate[Any]] = [
            WORKSPACE.value_set(self._workspace),
            SEVERITY.value_set(self._incident.severity.value),
            INCIDENT_STATUS.value_set(self._status.value),
        ]
        updates.append(SERVICE.value_set(self._incident.service) if self._incident.service else SERVICE.value_unset())
        workflow.upsert_search_attributes(updates)

    def _carry(self) -> IncidentCarry:
        return IncidentCarry(
            incident=self._incident,
            status=self._status,
            alert_count=self._alert_count,
            pending=list(self._pending),
            previous_incident_id=self._previous_incident_id,
            acknowledged_by=self._acknowledged_by,
            streams=dict(self._streams),
            diagnoses=self._diagnoses,
            diagnosis=self._diagnosis,
            actions=list(self._actions.values()),
            paged_levels=list(self._paged),
            notices=list(self._notices),
        )

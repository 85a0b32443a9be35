"""IncidentWorkflow logic with activities swapped by name, on the session's real dev server.

(The auto-resolve test uses a one-second timeout on the dev server; escalation and approval-expiry
timers are tested with skipped time in test_remediation_workflow.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.diagnosis import Category
from domain.models import (
    ActionResult,
    Alert,
    AlertSignal,
    AttachAlertsInput,
    AttachAlertsResult,
    DiagnoseIncidentInput,
    DiagnoseRequest,
    DiagnosisResult,
    EscalationPlanResult,
    EscalationStep,
    EvaluatePolicyInput,
    ExecuteActionInput,
    GeneratePostmortemInput,
    IncidentRecord,
    IncidentResult,
    IncidentState,
    Lifecycle,
    NormalizeAlertInput,
    NormalizedAlertResult,
    PageOncallInput,
    PageResult,
    PlanEscalationInput,
    PolicyVerdict,
    PostmortemResult,
    RecordActionVerdictInput,
    RecordDiagnosisFailureInput,
    RecordIncidentInput,
    RecordOrphansInput,
    ResolveSignal,
    RunOutcome,
    Severity,
    StartIncidentInput,
    UpdateIncidentStatusInput,
)
from domain.notify import NotifyInput, NotifyResult
from tests.helpers import poll
from workflows.incident import IncidentWorkflow


@pytest.fixture
def env(temporal_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return temporal_env


class FakeStore:
    """In-memory stand-ins for the storage activities, registered under the real names."""

    def __init__(
        self,
        *,
        bad_ids: set[int] | None = None,
        auto_resolve: int | None = None,
        diagnosis_fails: bool = False,
        suggested: list[Any] | None = None,
        decision: str = "require_approval",
        approvers_needed: int = 1,
        approval_timeout: int = 3600,
        ladder: list[tuple[int, timedelta]] | None = None,
        notify_fails: bool = False,
        notify_retrying: bool = False,
    ) -> None:
        self.bad_ids = bad_ids or set()
        self.suggested = suggested or []
        self.decision = decision
        self.approvers_needed = approvers_needed
        self.approval_timeout = approval_timeout
        self.ladder = ladder or []
        self.pages: list[tuple[int, datetime]] = []  # level, server time the page was scheduled
        self.verdicts: list[tuple[str, str]] = []  # status, by
        self.executed: list[tuple[str, bool, list[str]]] = []  # action kind, dry run, approvers
        self.diagnosis_fails = diagnosis_fails
        self.diagnoses: list[DiagnoseIncidentInput] = []
        self.diagnosis_failures: list[str] = []
        self.auto_resolve = auto_resolve
        self.attached: list[int] = []
        self.statuses: list[tuple[str, str]] = []
        self.orphans: list[int] = []
        self.postmortems: list[int] = []
        self.incidents = 0
        self.previous: list[int | None] = []
        self.notices: list[NotifyInput] = []
        self.notify_fails = notify_fails
        self.notify_retrying = notify_retrying

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="normalize_alert")
        async def normalize_alert(inp: NormalizeAlertInput) -> NormalizedAlertResult:
            if inp.delivery_id in self.bad_ids:
                return NormalizedAlertResult(delivery_id=inp.delivery_id, dead_letter_id=1, reason="bad")
            alert = Alert(source="webhook", title="disk full", severity=Severity.high, service="db")
            return NormalizedAlertResult(delivery_id=inp.delivery_id, alert=alert)

        @activity.defn(name="record_incident")
        async def record_incident(inp: RecordIncidentInput) -> IncidentRecord:
            self.incidents += 1
            self.previous.append(inp.previous_incident_id)
            self.attached.extend(inp.delivery_ids)
            return IncidentRecord(
                incident_id=100 + self.incidents,
                workspace=inp.workspace,
                title=inp.alert.title,
                service=inp.alert.service,
                severity=inp.alert.severity,
                opened_at=inp.opened_at,
                alert_count=len(inp.delivery_ids),
                auto_resolve_after_seconds=self.auto_resolve,
            )

        @activity.defn(name="attach_alerts")
        async def attach_alerts(inp: AttachAlertsInput) -> AttachAlertsResult:
            self.attached.extend(inp.delivery_ids)
            return AttachAlertsResult(alert_count=len(self.attached))

        @activity.defn(name="record_orphans")
        async def record_orphans(inp: RecordOrphansInput) -> None:
            self.orphans.extend(inp.delivery_ids)

        @activity.defn(name="update_incident_status")
        async def update_incident_status(inp: UpdateIncidentStatusInput) -> None:
            self.statuses.append((inp.status.value, inp.actor))

        @activity.defn(name="diagnose_incident")
        async def diagnose_incident(inp: DiagnoseIncidentInput) -> DiagnosisResult:
            self.diagnoses.append(inp)
            if self.diagnosis_fails:
                raise ApplicationError("the model refused the request", type="ModelRejected", non_retryable=True)
            return DiagnosisResult(
                diagnosis_id=len(self.diagnoses),
                category=Category.storage,
                confidence=0.9,
                summary="disk full",
                root_cause="the data volume of db is full",
                suggested_actions=self.suggested,
            )

        @activity.defn(name="evaluate_policy")
        async def evaluate_policy(inp: EvaluatePolicyInput) -> PolicyVerdict:
            return PolicyVerdict(
                decision=self.decision,
                reasons=[f"test: {self.decision}"],
                approvers_needed=self.approvers_needed,
                approval_timeout_seconds=self.approval_timeout,
            )

        @activity.defn(name="record_action_verdict")
        async def record_action_verdict(inp: RecordActionVerdictInput) -> None:
            self.verdicts.append((inp.status, inp.by))

        @activity.defn(name="plan_escalation")
        async def plan_escalation(inp: PlanEscalationInput) -> EscalationPlanResult:
            return EscalationPlanResult(
                steps=[EscalationStep(level=level, at=inp.opened_at + after) for level, after in self.ladder]
            )

        @activity.defn(name="page_oncall")
        async def page_oncall(inp: PageOncallInput) -> PageResult:
            self.pages.append((inp.level, activity.info().current_attempt_scheduled_time))
            return PageResult(level=inp.level, person=f"person-L{inp.level}", detail="paged")

        @activity.defn(name="execute_action")
        async def execute_action(inp: ExecuteActionInput) -> ActionResult:
            self.executed.append((inp.action.action, inp.dry_run, list(inp.approved_by)))
            return ActionResult(action_id=inp.action_id, status="dry_run" if inp.dry_run else "succeeded", detail="ok")

        @activity.defn(name="record_diagnosis_failure")
        async def record_diagnosis_failure(inp: RecordDiagnosisFailureInput) -> None:
            self.diagnosis_failures.append(inp.error)

        @activity.defn(name="generate_postmortem")
        async def generate_postmortem(inp: GeneratePostmortemInput) -> PostmortemResult:
            self.postmortems.append(inp.incident_id)
            return PostmortemResult(incident_id=inp.incident_id, characters=10)

        @activity.defn(name="notify")
        async def notify(inp: NotifyInput) -> NotifyResult:
            self.notices.append(inp)
            if self.notify_fails:
                raise ApplicationError("slack is down for good", non_retryable=True)
            if self.notify_retrying and inp.key == "postmortem":
                raise ApplicationError("slack answers 503", type="ChannelUnavailable")  # retried for hours
            return NotifyResult(sent=["slack"])

        return [
            notify,
            normalize_alert,
            record_incident,
            attach_alerts,
            record_orphans,
            update_incident_status,
            diagnose_incident,
            record_diagnosis_failure,
            evaluate_policy,
            record_action_verdict,
            plan_escalation,
            page_oncall,
            execute_action,
            generate_postmortem,
        ]


async def signal_with_start(client: Client, task_queue: str, workflow_id: str, sig: AlertSignal) -> WorkflowHandle:
    handle: WorkflowHandle = await client.start_workflow(
        IncidentWorkflow.run,
        StartIncidentInput(workspace="default", stream_key="k"),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="alert",
        start_signal_args=[sig],
    )
    return handle


async def _count(handle: WorkflowHandle, expected: int) -> bool:
    state = await handle.query(IncidentWorkflow.get_state)
    return bool(state.alert_count == expected)


async def _incident(handle: WorkflowHandle, incident_id: int) -> IncidentState | None:
    try:
        state = await handle.query(IncidentWorkflow.get_state)
    except (RPCError, WorkflowQueryFailedError):  # the new run may not have answered its first task yet
        return None
    return state if state.incident_id == incident_id else None


def firing(*ids: int) -> AlertSignal:
    return AlertSignal(delivery_ids=list(ids), lifecycle=Lifecycle.firing, count=len(ids))


def resolved(*ids: int) -> AlertSignal:
    return AlertSignal(delivery_ids=list(ids), lifecycle=Lifecycle.resolved, count=len(ids))


async def test_auto_resolve_after_silence(env: WorkflowEnvironment) -> None:
    store = FakeStore(auto_resolve=1)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await signal_with_start(env.client, queue, f"wf-{uuid.uuid4()}", firing(1, 2))
        result = await handle.result()
    assert result == IncidentResult(outcome=RunOutcome.resolved, incident_id=101, alert_count=2)
    assert store.statuses == [("resolved", "aisre")]
    assert store.postmortems == [101]


async def test_repeats_are_counted_then_resolve_signal_closes(env: WorkflowEnvironment) -> None:
    store = FakeStore()
    queue = f"tq-{uuid.uuid4()}"
    workflow_id = f"wf-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await signal_with_start(env.client, queue, workflow_id, firing(1))
        for batch in ((2, 3), (4,), (5, 6, 7)):
            await signal_with_start(env.client, queue, workflow_id, firing(*batch))
        await poll(lambda: _count(handle, 7))
        state = await handle.query(IncidentWorkflow.get_state)
        assert isinstance(state, IncidentState)
        assert state.alert_count == 7
        assert state.incident_id == 101
        # A resolve aimed at another incident of the stream is ignored.
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="eve", incident_id=999))
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="alice", incident_id=101))
        result = await handle.result()
    assert result.outcome is RunOutcome.resolved
    assert result.alert_count == 7
    assert store.incidents == 1
    assert sorted(store.attached) == [1, 2, 3, 4, 5, 6, 7]
    assert store.statuses == [("resolved", "alice")]


async def test_first_unusable_delivery_is_skipped_and_all_unusable_ends_dead_lettered(
    env: WorkflowEnvironment,
) -> None:
    store = FakeStore(bad_ids={1, 9})
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await signal_with_start(env.client, queue, f"wf-{uuid.uuid4()}", firing(1, 2))
        await handle.signal(IncidentWorkflow.alert, resolved(3))
        result = await handle.result()
        assert result.incident_id == 101
        assert store.attached == [2, 3]

        dead = await signal_with_start(env.client, queue, f"wf-{uuid.uuid4()}", firing(9))
        assert (await dead.result()).outcome is RunOutcome.dead_lettered
    assert store.incidents == 1


async def test_firing_behind_a_resolve_opens_the_next_incident_as_recurrence(env: WorkflowEnvironment) -> None:
    store = FakeStore()
    queue = f"tq-{uuid.uuid4()}"
    workflow_id = f"wf-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await signal_with_start(env.client, queue, workflow_id, firing(1))
        await poll(lambda: _count(handle, 1))
        # Resolve and a new firing arrive together: the firing must not be folded into the closing incident.
        await handle.signal(IncidentWorkflow.alert, resolved(2))
        await handle.signal(IncidentWorkflow.alert, firing(3))
        follow = env.client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id)
        state = await poll(lambda: _incident(follow, 102))
        assert state.incident_id == 102
        assert state.status.value == "open"
        await follow.signal(IncidentWorkflow.resolve, ResolveSignal(by="bob"))
        final = await follow.result()
    assert final.incident_id == 102
    assert store.previous == [None, 101]
    assert store.postmortems == [101, 102]


async def test_incident_is_diagnosed_once_at_open_and_again_on_request(env: WorkflowEnvironment) -> None:
    store = FakeStore()
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await signal_with_start(env.client, queue, f"wf-{uuid.uuid4()}", firing(1))

        async def diagnosed(n: int) -> IncidentState | None:
            state = await handle.query(IncidentWorkflow.get_state)
            return state if state.diagnosis is not None and state.diagnosis.diagnosis_id == n else None

        first = await poll(lambda: diagnosed(1))
        assert first.diagnosis is not None
        assert first.diagnosis.category is Category.storage
        # A request for another incident of the stream is ignored; one for this incident runs.
        await handle.signal(IncidentWorkflow.diagnose, DiagnoseRequest(by="eve", incident_id=999))
        await handle.signal(IncidentWorkflow.diagnose, DiagnoseRequest(by="oncall", reason="after restart"))
        await poll(lambda: diagnosed(2))
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        await handle.result()
    assert [(d.request, d.requested_by) for d in store.diagnoses] == [(1, "aisre"), (2, "oncall")]
    assert store.diagnoses[1].reason == "after restart"


async def test_a_failed_diagnosis_is_recorded_and_the_incident_goes_on(env: WorkflowEnvironment) -> None:
    store = FakeStore(diagnosis_fails=True)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await signal_with_start(env.client, queue, f"wf-{uuid.uuid4()}", firing(1))
        await poll(lambda: bool(store.diagnosis_failures))
        await handle.signal(IncidentWorkflow.alert, firing(2))
        await poll(lambda: _count(handle, 2))
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        result = await handle.result()
    assert result.outcome is RunOutcome.resolved
    assert "the model refused the request" in store.diagnosis_failures[0]
    assert len(store.diagnoses) == 1  # non-retryable: tried once


async def test_a_channel_still_retrying_does_not_delay_the_next_incident(env: WorkflowEnvironment) -> None:
    store = FakeStore(notify_retrying=True)  # the postmortem notice is retried for hours
    queue = f"tq-{uuid.uuid4()}"
    workflow_id = f"wf-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await signal_with_start(env.client, queue, workflow_id, firing(1))
        await poll(lambda: _count(handle, 1))
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="alice"))
        await poll(lambda: any(n.key == "postmortem" for n in store.notices))
        # The closed incident's run waits for its last notice; a new firing alert must not.
        await signal_with_start(env.client, queue, workflow_id, firing(2))
        follow = env.client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id)
        state = await poll(lambda: _incident(follow, 102), timeout=10)
        assert state.status.value == "open"
        # The unsent notice travelled into the new run, which keeps trying it (for incident 101).
        await poll(lambda: sum(n.key == "postmortem" and n.incident_id == 101 for n in store.notices) >= 3)
        store.notify_retrying = False
        await follow.signal(IncidentWorkflow.resolve, ResolveSignal(by="bob"))
        final = await follow.result()
    assert final.incident_id == 102
    assert store.previous == [None, 101]
    delivered = [n.incident_id for n in store.notices if n.key == "postmortem"]
    assert delivered[-1] == 102

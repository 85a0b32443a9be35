"""IncidentWorkflow: one durable run per incident.

Deterministic code only: stdlib, temporalio and `domain`. Activities are called by name so adapters,
SQLAlchemy and HTTP clients never load inside the sandbox.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from domain.models import (
        AcknowledgeSignal,
        AlertSignal,
        AttachAlertsInput,
        AttachAlertsResult,
        DiagnoseIncidentInput,
        DiagnoseRequest,
        DiagnosisResult,
        GeneratePostmortemInput,
        IncidentCarry,
        IncidentRecord,
        IncidentResult,
        IncidentState,
        IncidentStatus,
        Lifecycle,
        NormalizeAlertInput,
        NormalizedAlertResult,
        PostmortemResult,
        RecordDiagnosisFailureInput,
        RecordIncidentInput,
        RecordOrphansInput,
        ResolveSignal,
        RunOutcome,
        StartIncidentInput,
        UpdateIncidentStatusInput,
    )

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
        self._diagnoses = carry.diagnoses
        self._diagnosis: DiagnosisResult | None = carry.diagnosis

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
        )

    # --- run ------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: StartIncidentInput) -> IncidentResult:
        outcome = await self._open()
        if outcome is not None:
            await workflow.wait_condition(workflow.all_handlers_finished)
            merged_into = self._incident.incident_id if self._incident is not None else None
            return IncidentResult(outcome=outcome, incident_id=merged_into, alert_count=0)
        assert self._incident is not None
        self._streams.setdefault(self._stream_key, Lifecycle.firing)
        if self._diagnoses == 0 and workflow.patched(DIAGNOSIS_PATCH):
            await self._diagnose(DiagnoseRequest(by="aisre", reason="incident opened"))

        while self._status is not IncidentStatus.resolved:
            await self._wait_for_news()
            await self._drain()
            while self._diagnosis_requests and self._resolve_request is None:
                await self._diagnose(self._diagnosis_requests.pop(0))
            if self._ack_request is not None and self._status is IncidentStatus.open:
                await self._set_status(IncidentStatus.acknowledged, self._ack_request.by, "")
                self._acknowledged_by = self._ack_request.by
            if self._resolve_request is not None:
                await self._set_status(IncidentStatus.resolved, self._resolve_request.by, self._resolve_request.reason)
                self._resolved_by = self._resolve_request.by
            elif workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    StartIncidentInput(workspace=self._workspace, stream_key=self._stream_key, carry=self._carry())
                )

        await workflow.execute_activity(
            "generate_postmortem",
            GeneratePostmortemInput(incident_id=self._incident.incident_id),
            result_type=PostmortemResult,
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )
        self._postmortem_written = True
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
        try:
            await workflow.wait_condition(
                lambda: (
                    bool(self._pending)
                    or bool(self._diagnosis_requests)
                    or self._resolve_request is not None
                    or (self._ack_request is not None and self._status is IncidentStatus.open)
                ),
                timeout=timedelta(seconds=timeout) if timeout else None,
            )
        except TimeoutError:
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
        """Record deliveries that arrived while closing; a new firing alert opens the next incident."""
        assert self._incident is not None
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
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
                        carry=IncidentCarry(pending=firing, previous_incident_id=self._incident.incident_id),
                    )
                )
            if not self._pending:
                return

    # --- helpers --------------------------------------------------------------------------------

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
        )

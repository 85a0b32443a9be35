"""The diagnose_incident activity: run the agent over the incident, store the diagnosis and its evidence."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.context.base import Toolbox
from adapters.context.toolbox import ContextToolbox
from adapters.llm.agent import AgentRun, BudgetError, run_agent
from adapters.llm.base import DiagnosisContext, DiagnosisModel, ModelError
from adapters.logs.base import LogBackend
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from adapters.storage.orm import DiagnosisRow, IncidentRow
from domain.diagnosis import Category, Diagnosis
from domain.models import (
    Alert,
    DiagnoseIncidentInput,
    DiagnosisResult,
    RecordDiagnosisFailureInput,
    Severity,
    TimelineKind,
)
from domain.settings import Settings

HEARTBEAT_EVERY = timedelta(seconds=5)


def _result(row: DiagnosisRow) -> DiagnosisResult:
    diagnosis = Diagnosis.model_validate(row.diagnosis)
    return DiagnosisResult(
        diagnosis_id=row.id,
        category=Category(row.category),
        confidence=row.confidence,
        summary=row.summary,
        root_cause=row.root_cause,
        suggested_actions=diagnosis.suggested_actions,
    )


def incident_alert(incident: IncidentRow, first_normalized: dict[str, object] | None) -> Alert:
    """The alert the incident opened with (stored normalized), else rebuilt from the incident row."""
    if first_normalized:
        return Alert.model_validate(first_normalized)
    return Alert(
        source=incident.source,
        title=incident.title,
        description=incident.description,
        severity=Severity(incident.severity),
        service=incident.service,
        namespace=incident.namespace,
        labels={k: str(v) for k, v in incident.labels.items()},
        links={k: str(v) for k, v in incident.links.items()},
        fingerprint=incident.fingerprint,
        started_at=incident.started_at,
    )


class DiagnoseActivities:
    """Diagnosis over the live toolbox. The model is Anthropic when a key is configured, else the offline reasoner."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        model_factory: Callable[[], DiagnosisModel],
        kubernetes: Toolbox | None = None,
        logs: LogBackend | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._model_factory = model_factory
        self._kubernetes = kubernetes
        self._logs = logs

    @activity.defn(name="diagnose_incident")
    async def diagnose_incident(self, inp: DiagnoseIncidentInput) -> DiagnosisResult:
        """Diagnose once per request (a retry returns the stored answer), heartbeating while it works."""
        request_key = f"{inp.workflow_id}:{inp.run_id}:{inp.request}"
        async with self._db.session() as session:
            existing = await repo.get_diagnosis_by_key(session, request_key=request_key)
            if existing is not None:
                return _result(existing)
            incident = await repo.get_incident(session, incident_id=inp.incident_id)
            if incident is None:
                raise ApplicationError(f"incident {inp.incident_id} does not exist", non_retryable=True)
            alerts, _ = await repo.list_incident_alerts(session, incident_id=incident.id, limit=1)
        alert = incident_alert(incident, alerts[0].normalized if alerts else None)
        now = datetime.now(UTC)
        context = DiagnosisContext(
            alert=alert, incident_id=incident.id, workspace=incident.workspace, opened_at=incident.opened_at
        )
        toolbox = ContextToolbox(
            db=self._db,
            workspace=incident.workspace,
            now=now,
            incident_id=incident.id,
            kubernetes=self._kubernetes,
            logs=self._logs,
        )
        model = self._model_factory()
        started = time.monotonic()
        try:
            run = await self._run_with_heartbeats(model, toolbox, context)
        except ModelError as exc:
            if not exc.retryable:
                raise ApplicationError(f"{model.name}: {exc}", type="ModelRejected", non_retryable=True) from None
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise ApplicationError(f"{model.name}: {exc}", type="ModelUnavailable", next_retry_delay=delay) from None
        except BudgetError as exc:
            raise ApplicationError(str(exc), type="BudgetError", non_retryable=True) from None
        diagnosis = run.diagnosis.model_copy(update={"model": run.diagnosis.model or model.name})
        return await self._store(inp, incident, run, diagnosis, request_key, int((time.monotonic() - started) * 1000))

    async def _run_with_heartbeats(
        self, model: DiagnosisModel, toolbox: Toolbox, context: DiagnosisContext
    ) -> AgentRun:
        async def beat_forever() -> None:
            # A slow model call must not look like a dead worker: heartbeat on a timer too.
            while True:
                activity.heartbeat("diagnosing")
                await asyncio.sleep(HEARTBEAT_EVERY.total_seconds())

        beats = asyncio.create_task(beat_forever())
        try:
            return await run_agent(
                model=model,
                toolbox=toolbox,
                context=context,
                max_tool_calls=self._settings.diagnosis_max_tool_calls,
                max_total_tokens=self._settings.diagnosis_max_total_tokens,
                tool_output_chars=self._settings.diagnosis_tool_output_chars,
                on_step=activity.heartbeat,
            )
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    async def _store(
        self,
        inp: DiagnoseIncidentInput,
        incident: IncidentRow,
        run: AgentRun,
        diagnosis: Diagnosis,
        request_key: str,
        duration_ms: int,
    ) -> DiagnosisResult:
        at = datetime.now(UTC)
        async with self._db.session() as session:
            existing = await repo.get_diagnosis_by_key(session, request_key=request_key)
            if existing is not None:
                return _result(existing)
            row = await repo.insert_diagnosis(
                session,
                row=DiagnosisRow(
                    incident_id=incident.id,
                    workspace=incident.workspace,
                    request_key=request_key,
                    model=diagnosis.model,
                    category=diagnosis.category.value,
                    confidence=diagnosis.confidence,
                    summary=diagnosis.summary,
                    root_cause=diagnosis.root_cause,
                    diagnosis=diagnosis.model_dump(mode="json"),
                    transcript={
                        "turns": [t.model_dump(mode="json") for t in run.turns],
                        "recorded": [r.model_dump(mode="json") for r in run.recorded],
                    },
                    tool_calls=run.tool_calls,
                    input_tokens=run.input_tokens,
                    output_tokens=run.output_tokens,
                    stopped_by_budget=run.stopped_by_budget,
                    requested_by=inp.requested_by,
                    duration_ms=duration_ms,
                    created_at=at,
                ),
            )
            await repo.add_timeline_event(
                session,
                incident_id=incident.id,
                at=at,
                kind=TimelineKind.diagnosed,
                actor=diagnosis.model,
                message=(
                    f"Diagnosis #{row.id} ({diagnosis.category.value}, confidence {diagnosis.confidence:.0%}): "
                    f"{diagnosis.root_cause}"
                ),
                data={
                    "diagnosis_id": row.id,
                    "category": diagnosis.category.value,
                    "tool_calls": run.tool_calls,
                    "requested_by": inp.requested_by,
                    "actions": [a.action for a in diagnosis.suggested_actions],
                },
            )
            return _result(row)

    @activity.defn(name="record_diagnosis_failure")
    async def record_diagnosis_failure(self, inp: RecordDiagnosisFailureInput) -> None:
        """Put a diagnosis that gave up (retries spent or refused by the model) on the timeline."""
        async with self._db.session() as session:
            marker = f"diagnosis-failed:{inp.at.isoformat()}"
            if await repo.timeline_has(
                session, incident_id=inp.incident_id, kind=TimelineKind.diagnosis_failed, marker=marker
            ):
                return
            await repo.add_timeline_event(
                session,
                incident_id=inp.incident_id,
                at=inp.at,
                kind=TimelineKind.diagnosis_failed,
                actor="aisre",
                message=f"Diagnosis failed: {inp.error}",
                data={"marker": marker},
            )

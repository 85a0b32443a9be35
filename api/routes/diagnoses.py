"""Diagnoses of an incident: list, one with its transcript, its evidence bundle, and asking for a fresh one."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from adapters.storage import repositories as repo
from adapters.storage.orm import DiagnosisRow
from api.deps import DbDep, DbId, PrincipalDep, StateDep, WorkspaceDep, acting_as
from api.errors import Conflict, NotFound
from api.routes.incidents import CommandAccepted, load_incident, signal_incident
from domain.diagnosis import Diagnosis, ToolResult
from domain.evidence import bundle_files
from domain.models import DiagnoseRequest, IncidentStatus

router = APIRouter(prefix="/incidents/{incident_id}", tags=["diagnoses"])


class DiagnosisOut(BaseModel):
    id: int
    incident_id: int
    created_at: datetime
    requested_by: str
    model: str
    tool_calls: int
    input_tokens: int
    output_tokens: int
    stopped_by_budget: bool
    duration_ms: int
    diagnosis: Diagnosis

    @classmethod
    def of(cls, row: DiagnosisRow) -> DiagnosisOut:
        return cls(
            id=row.id,
            incident_id=row.incident_id,
            created_at=row.created_at,
            requested_by=row.requested_by,
            model=row.model,
            tool_calls=row.tool_calls,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            stopped_by_budget=row.stopped_by_budget,
            duration_ms=row.duration_ms,
            diagnosis=Diagnosis.model_validate(row.diagnosis),
        )


class DiagnosisDetail(DiagnosisOut):
    transcript: list[dict[str, Any]] = Field(description="each model turn: its text, tool calls and results")


class DiagnoseIn(BaseModel):
    by: str = Field(default="api", max_length=255)
    reason: str = Field(default="", max_length=2000)


async def _diagnosis(db: DbDep, workspace: str, incident_id: DbId, diagnosis_id: DbId) -> DiagnosisRow:
    incident = await load_incident(db, workspace, incident_id)
    async with db.session() as session:
        row = await repo.get_diagnosis(session, diagnosis_id=diagnosis_id, incident_id=incident.id)
    if row is None:
        raise NotFound(f"diagnosis {diagnosis_id} of incident {incident_id}")
    return row


@router.get("/diagnoses")
async def list_diagnoses(incident_id: DbId, db: DbDep, workspace: WorkspaceDep) -> list[DiagnosisOut]:
    """Every diagnosis of the incident, oldest first."""
    incident = await load_incident(db, workspace, incident_id)
    async with db.session() as session:
        rows = await repo.list_diagnoses(session, incident_id=incident.id)
    return [DiagnosisOut.of(r) for r in rows]


@router.get("/diagnoses/{diagnosis_id}")
async def get_diagnosis(incident_id: DbId, diagnosis_id: DbId, db: DbDep, workspace: WorkspaceDep) -> DiagnosisDetail:
    """One diagnosis with the full transcript of tool calls and (truncated) outputs the model saw."""
    row = await _diagnosis(db, workspace, incident_id, diagnosis_id)
    return DiagnosisDetail(**DiagnosisOut.of(row).model_dump(), transcript=list(row.transcript.get("turns", [])))


@router.get(
    "/diagnoses/{diagnosis_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}, "description": "the evidence bundle as .tar.gz"}},
)
async def get_evidence(incident_id: DbId, diagnosis_id: DbId, db: DbDep, workspace: WorkspaceDep) -> Response:
    """The evidence bundle (full tool outputs + alert.json) as a .tar.gz; `aisre diagnose --evidence` replays it."""
    row = await _diagnosis(db, workspace, incident_id, diagnosis_id)
    results = [ToolResult.model_validate(r) for r in row.transcript.get("recorded", [])]
    incident = await load_incident(db, workspace, incident_id)
    async with db.session() as session:
        alerts, _ = await repo.list_incident_alerts(session, incident_id=incident.id, limit=1)
    files = bundle_files(results)
    if alerts and alerts[0].normalized:
        files.append(("alert.json", json.dumps(alerts[0].normalized, indent=2, ensure_ascii=False)))
    folder = f"incident-{incident_id}-diagnosis-{diagnosis_id}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            info.mtime = int(row.created_at.timestamp())
            tar.addfile(info, io.BytesIO(data))
    return Response(
        buffer.getvalue(),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{folder}.tar.gz"'},
    )


@router.post(
    "/diagnosis",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "The incident is resolved"}},
)
async def request_diagnosis(
    incident_id: DbId,
    db: DbDep,
    workspace: WorkspaceDep,
    state: StateDep,
    principal: PrincipalDep,
    body: Annotated[DiagnoseIn | None, Body()] = None,
) -> CommandAccepted:
    """Ask the incident's workflow for a fresh diagnosis; it appears in the timeline and under /diagnoses."""
    body = body or DiagnoseIn()
    row = await load_incident(db, workspace, incident_id)
    if row.status == IncidentStatus.resolved.value:
        raise Conflict(f"incident {incident_id} is resolved; its diagnoses stay readable under /diagnoses")
    await signal_incident(
        state,
        row,
        "diagnose",
        DiagnoseRequest(by=acting_as(principal, body.by), reason=body.reason, incident_id=row.id),
    )
    return CommandAccepted(incident_id=row.id, status="diagnosing", detail="the workflow will diagnose the incident")

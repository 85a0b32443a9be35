"""Actions: the audit trail of an incident's actions, approvals, operator proposals and the policy preview."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, status
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.storage import repositories as repo
from adapters.storage.orm import ActionLogRow, IncidentRow
from api.deps import MAX_ID, DbDep, DbId, PrincipalDep, StateDep, WorkspaceDep, acting_as
from api.errors import Conflict
from api.ingest import IngestError
from api.routes.incidents import load_incident
from domain.actions import CATALOG, ActionParams, Role
from domain.models import ApprovalInput, ApprovalVerdict, IncidentStatus, ProposeActionInput, ProposedAction
from domain.policy import PolicyDecision, PolicyInput, evaluate, load_policies
from domain.settings import ConfigError
from domain.slo import load_slos

router = APIRouter(tags=["actions"])

_ACTION = TypeAdapter(ActionParams)


class ActionLogOut(BaseModel):
    action_id: str
    action: str
    params: dict[str, Any]
    status: str
    dry_run: bool
    requested_by: str | None
    approved_by: str | None
    decision: dict[str, Any]
    plan: dict[str, Any]
    result: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ActionLogRow) -> ActionLogOut:
        return cls(
            action_id=row.action_id,
            action=row.action,
            params=row.params,
            status=row.status,
            dry_run=row.dry_run,
            requested_by=row.requested_by,
            approved_by=row.approved_by,
            decision=row.decision,
            plan=row.plan,
            result=row.result,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class VerdictIn(BaseModel):
    by: str = Field(default="api", max_length=255)
    reason: str = Field(default="", max_length=2000)


class ExecuteIn(BaseModel):
    incident_id: int = Field(ge=1, le=MAX_ID)
    action: ActionParams
    by: str = Field(default="api", max_length=255)
    reason: str = Field(default="", max_length=2000)


@router.get("/incidents/{incident_id}/actions")
async def list_actions(incident_id: DbId, db: DbDep, workspace: WorkspaceDep) -> list[ActionLogOut]:
    """Every action of the incident: the policy decision with each rule's vote, the dry-run diff,
    who approved, and the result."""
    incident = await load_incident(db, workspace, incident_id)
    async with db.session() as session:
        rows = await repo.list_actions(session, incident_id=incident.id)
    return [ActionLogOut.of(r) for r in rows]


async def _update(state: StateDep, row: IncidentRow, name: str, arg: BaseModel, result_type: type[Any]) -> Any:
    if row.status == IncidentStatus.resolved.value:
        raise Conflict(f"incident {row.id} is resolved; its actions can no longer change")
    client = await state.temporal.client()
    try:
        return await client.get_workflow_handle(row.workflow_id).execute_update(name, arg, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        # The workflow's validator refused it (role, workspace, state, expiry): say why.
        cause = exc.cause
        raise Conflict(str(getattr(cause, "message", None) or cause or exc)) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Conflict(f"incident {row.id} has no open workflow run") from exc
        raise


async def _verdict(
    state: StateDep,
    db: DbDep,
    principal: PrincipalDep,
    workspace: str,
    incident_id: int,
    action_id: str,
    verb: str,
    body: VerdictIn,
) -> ApprovalVerdict:
    """The approve / reject update, as the caller (the key's name and role) in the caller's workspace."""
    row = await load_incident(db, workspace, incident_id)
    arg = ApprovalInput(
        action_id=action_id,
        by=acting_as(principal, body.by),
        role=Role(principal.role),
        workspace=workspace,
        incident_id=row.id,
        reason=body.reason,
    )
    verdict: ApprovalVerdict = await _update(state, row, verb, arg, ApprovalVerdict)
    return verdict


@router.post(
    "/incidents/{incident_id}/actions/{action_id}/approve",
    responses={409: {"description": "Refused: not pending, expired, wrong workspace or role, same approver twice"}},
)
async def approve(
    incident_id: DbId,
    action_id: str,
    db: DbDep,
    workspace: WorkspaceDep,
    state: StateDep,
    principal: PrincipalDep,
    body: Annotated[VerdictIn | None, Body()] = None,
) -> ApprovalVerdict:
    """Approve a pending action; the answer is the workflow's verdict (approved, or awaiting a second approver)."""
    return await _verdict(state, db, principal, workspace, incident_id, action_id, "approve", body or VerdictIn())


@router.post("/incidents/{incident_id}/actions/{action_id}/reject", responses={409: {"description": "Refused"}})
async def reject(
    incident_id: DbId,
    action_id: str,
    db: DbDep,
    workspace: WorkspaceDep,
    state: StateDep,
    principal: PrincipalDep,
    body: Annotated[VerdictIn | None, Body()] = None,
) -> ApprovalVerdict:
    """Reject a pending action: it never runs."""
    return await _verdict(state, db, principal, workspace, incident_id, action_id, "reject", body or VerdictIn())


@router.post("/actions/execute", status_code=status.HTTP_202_ACCEPTED, responses={409: {"description": "Refused"}})
async def execute(
    body: ExecuteIn, db: DbDep, workspace: WorkspaceDep, state: StateDep, principal: PrincipalDep
) -> ProposedAction:
    """Propose an action on an incident: it goes through policy and the workflow like any other."""
    row = await load_incident(db, workspace, body.incident_id)
    arg = ProposeActionInput(
        action=body.action,
        by=acting_as(principal, body.by),
        role=Role(principal.role),
        workspace=workspace,
        reason=body.reason,
    )
    proposed: ProposedAction = await _update(state, row, "propose_action", arg, ProposedAction)
    return proposed


@router.get("/policies/preview", responses={422: {"description": "Not a valid catalog action"}})
async def preview(
    request: Request,
    db: DbDep,
    workspace: WorkspaceDep,
    state: StateDep,
    action: Annotated[str, Query(description=f"catalog kind: {', '.join(CATALOG)}")],
    service: Annotated[str | None, Query(max_length=255, description="for the error-budget rule")] = None,
) -> PolicyDecision:
    """What policy would decide for an action, with every rule's vote; the action's fields are query
    parameters (e.g. ?action=scale_deployment&namespace=shop&deployment=checkout&replicas=4)."""
    fields = {k: v for k, v in request.query_params.items() if k not in {"action", "service"}}
    try:
        parsed = _ACTION.validate_python({"action": action, **fields})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'action'}: {e['msg']}" for e in exc.errors())
        raise IngestError(422, f"not a valid action: {problems}") from None
    settings = state.settings
    now = datetime.now(UTC)
    try:
        policies = load_policies(settings.config_dir)
        slos = load_slos(settings.config_dir)
    except ConfigError as exc:
        raise IngestError(503, f"policy configuration is invalid: {exc}") from None
    async with db.session() as session:
        budget = await repo.error_budget(session, slos=slos, workspace=workspace, service=service, now=now)
    return evaluate(
        PolicyInput.from_settings(
            action=parsed,
            settings=settings,
            workspace=state.workspaces.get(workspace),
            policies=policies,
            now=now,
            budget=budget,
            service=service,
        )
    )

"""Remediation activities: execute catalog actions exactly once, with a dry-run diff, verification and rollback.

Exactly once (DESIGN.md §3): the intent is committed to `action_logs` under the idempotency key (workflow
id + action id) before any provider call; the provider marks its change with the key; every attempt
first asks the provider whether a change with this key already exists (`find`) and records that
instead of acting again. A worker killed at any point therefore resumes into the same row and never
applies twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.actions.base import ActionError, ActionProvider
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from adapters.storage.orm import ActionLogRow
from domain.actions import CATALOG, ActionOutcome, ActionPlan, CatalogAction, Verification
from domain.models import (
    ActionResult,
    EscalationPlanResult,
    EscalationStep,
    EvaluatePolicyInput,
    ExecuteActionInput,
    PageOncallInput,
    PageResult,
    PlanEscalationInput,
    PolicyVerdict,
    RecordActionVerdictInput,
    TimelineKind,
)
from domain.oncall import ONCALL_FILE, OncallFile, escalation_plan, page_targets
from domain.policy import PolicyInput, evaluate, load_policies
from domain.settings import ConfigError, Settings, WorkspaceDirectory, load_yaml
from domain.slo import BudgetStatus, load_slos

HEARTBEAT_EVERY_SECONDS = 2.0

# Statuses after which an attempt has nothing left to do.
FINAL = frozenset({"dry_run", "succeeded", "already_applied", "failed", "rolled_back"})


def idempotency_key(workflow_id: str, action_id: str) -> str:
    """The key that makes an action exactly-once: one per workflow and action."""
    return f"{workflow_id}:{action_id}"


def _params(action: CatalogAction) -> dict[str, Any]:
    return action.model_dump(mode="json")


def _provider_error(exc: ActionError, what: str) -> ApplicationError:
    if exc.retryable:
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(f"{what}: {exc}", type="ProviderUnavailable", next_retry_delay=delay)
    return ApplicationError(f"{what}: {exc}", type="ProviderRejected", non_retryable=True)


class RemediationActivities:
    """Actions against the providers (Kubernetes, ECS, GitHub), recorded step by step."""

    def __init__(self, *, db: Database, providers: Mapping[str, ActionProvider]) -> None:
        self._db = db
        self._providers = providers

    def _provider(self, action: CatalogAction) -> ActionProvider:
        spec = CATALOG[action.action]
        provider = self._providers.get(spec.provider)
        if provider is None:
            raise ApplicationError(
                f"{action.action} needs the {spec.provider} provider, which is not configured",
                type="ProviderRejected",
                non_retryable=True,
            )
        return provider

    async def _row(self, key: str) -> ActionLogRow | None:
        async with self._db.session() as session:
            return await repo.get_action_log(session, idempotency_key=key)

    async def _record(self, inp: ExecuteActionInput, key: str, message: str, **fields: Any) -> ActionLogRow:
        """Update the action's row and add a timeline line, in one transaction."""
        now = datetime.now(UTC)
        async with self._db.session() as session:
            row = await repo.upsert_action_log(
                session,
                idempotency_key=key,
                incident_id=inp.incident_id,
                workspace=inp.workspace,
                action_id=inp.action_id,
                action=inp.action.action,
                params=_params(inp.action),
                requested_by=inp.requested_by,
                approved_by=", ".join(inp.approved_by) or None,
                dry_run=inp.dry_run,
                at=now,
                **fields,
            )
            await repo.add_timeline_event(
                session,
                incident_id=inp.incident_id,
                at=now,
                kind=TimelineKind.action,
                actor="aisre",
                message=message,
                data={"action_id": inp.action_id, "action": inp.action.action, "status": row.status},
            )
            return row

    @activity.defn(name="execute_action")
    async def execute_action(self, inp: ExecuteActionInput) -> ActionResult:
        """Dry-run or execute one action exactly once; verify it and roll back a reversible one that failed."""

        async def beat() -> None:
            # Proves this worker is alive while a provider call or verification takes its time.
            while True:
                activity.heartbeat()
                await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)

        beats = asyncio.create_task(beat())
        try:
            return await self._execute(inp)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    async def _execute(self, inp: ExecuteActionInput) -> ActionResult:
        key = idempotency_key(inp.workflow_id, inp.action_id)
        target = f"{inp.action.action} {_describe(inp.action)}"
        existing = await self._row(key)
        if existing is not None and existing.status in FINAL:
            return _result(inp.action_id, existing)
        try:
            provider = self._provider(inp.action)
        except ApplicationError as exc:
            await self._record(inp, key, f"{target} cannot run: {exc}", status="failed", result={"error": str(exc)})
            raise

        if inp.dry_run:
            plan = await self._plan(provider, inp.action, key, target)
            row = await self._record(
                inp, key, f"Dry run of {target}: {plan.summary}", status="dry_run", plan=plan.model_dump(mode="json")
            )
            return _result(inp.action_id, row)

        # Intent first: committed before the provider hears of the action.
        if existing is None or existing.status != "executing":
            await self._record(inp, key, f"Executing {target}", status="executing")
        # Reconcile: a previous attempt may have applied it and died before recording.
        try:
            found = await provider.find(inp.action, key=key)
        except ActionError as exc:
            raise _provider_error(exc, f"checking whether {target} already ran") from None
        if found is not None:
            # A previous attempt applied it and died before recording: record that, and still verify it
            # (and roll a reversible action back) as the lost attempt would have.
            saved = existing.plan if existing is not None and existing.plan else None
            return await self._verify(
                inp, key, target, provider, ActionPlan.model_validate(saved) if saved else None, found
            )

        plan = await self._plan(provider, inp.action, key, target)
        async with self._db.session() as session:
            await repo.upsert_action_log(
                session, idempotency_key=key, at=datetime.now(UTC), plan=plan.model_dump(mode="json")
            )
        try:
            outcome = await provider.apply(inp.action, key=key)
        except ActionError as exc:
            if exc.retryable:
                raise _provider_error(exc, f"applying {target}") from None
            await self._record(inp, key, f"{target} failed: {exc}", status="failed", result={"error": str(exc)})
            raise _provider_error(exc, f"applying {target}") from None
        return await self._verify(inp, key, target, provider, plan, outcome)

    async def _plan(self, provider: ActionProvider, action: CatalogAction, key: str, target: str) -> ActionPlan:
        try:
            return await provider.plan(action, key=key)
        except ActionError as exc:
            raise _provider_error(exc, f"planning {target}") from None

    async def _verify(
        self,
        inp: ExecuteActionInput,
        key: str,
        target: str,
        provider: ActionProvider,
        plan: ActionPlan | None,
        outcome: ActionOutcome,
    ) -> ActionResult:
        check: Verification | None
        try:
            check = await provider.verify(inp.action, key=key)
            detail = check.detail
        except ActionError as exc:
            if exc.retryable:
                raise _provider_error(exc, f"verifying {target}") from None
            check, detail = None, f"verification failed: {exc}"
        found = outcome.status == "already_applied"
        done = "already_applied" if found else "succeeded"
        how = (
            f"{target} had already been applied (found on the provider: {outcome.provider_ref or outcome.detail})"
            if found
            else f"{target} succeeded"
        )
        # The outcome's own fields first: the audit shows what the provider reported, then the checks.
        result = outcome.model_dump(mode="json") | {"outcome": outcome.model_dump(mode="json"), "verification": detail}
        if check is not None and check.ok:
            row = await self._record(inp, key, f"{how} and verified: {detail}", status=done, result=result)
            return _result(inp.action_id, row)
        if CATALOG[inp.action.action].reversible and plan is not None:
            try:
                undone = await provider.rollback(inp.action, key=key, plan=plan)
            except ActionError as exc:
                raise _provider_error(exc, f"rolling back {target}") from None
            row = await self._record(
                inp,
                key,
                f"{how} but did not verify ({detail}); rolled back: {undone.detail}",
                status="rolled_back",
                result=result | {"rollback": undone.model_dump(mode="json")},
            )
            return _result(inp.action_id, row)
        row = await self._record(
            inp, key, f"{how} but did not verify ({detail}) and cannot be rolled back", status="failed", result=result
        )
        return _result(inp.action_id, row)


def _describe(action: CatalogAction) -> str:
    fields = action.model_dump(exclude={"action", "changes", "reason"}, exclude_none=True)
    return " ".join(f"{k}={v}" for k, v in fields.items())


def _result(action_id: str, row: ActionLogRow) -> ActionResult:
    outcome = row.result.get("outcome", row.result) if isinstance(row.result, dict) else {}
    return ActionResult(
        action_id=action_id,
        status=row.status,
        detail=str(row.result.get("verification") or row.result.get("detail") or row.result.get("error") or ""),
        diff=str(row.plan.get("diff", "")),
        provider_ref=str(outcome.get("provider_ref", "")) if isinstance(outcome, dict) else "",
    )


class PolicyActivities:
    """Policy decisions, approval verdicts and the escalation ladder's pages, recorded for the audit trail.

    Config files (policies.yaml, slos.yaml, oncall.yaml) are read on every call so an edit applies to the
    next decision; a file that does not validate fails closed (deny, or no paging plan) with the reason.
    """

    def __init__(self, *, db: Database, settings: Settings, workspaces: WorkspaceDirectory | None = None) -> None:
        self._db = db
        self._settings = settings
        self._workspaces = workspaces or WorkspaceDirectory(settings.config_dir)

    async def _budget(self, workspace: str, service: str | None, now: datetime) -> BudgetStatus | None:
        async with self._db.session() as session:
            return await repo.error_budget(
                session, slos=load_slos(self._settings.config_dir), workspace=workspace, service=service, now=now
            )

    @activity.defn(name="evaluate_policy")
    async def evaluate_policy(self, inp: EvaluatePolicyInput) -> PolicyVerdict:
        """Every rule votes on the proposed action; the proposal and the decision go to action_logs."""
        async with self._db.session() as session:
            incident = await repo.get_incident(session, incident_id=inp.incident_id)
        service = incident.service if incident is not None else None
        try:
            decision = evaluate(
                PolicyInput.from_settings(
                    action=inp.action,
                    settings=self._settings,
                    workspace=self._workspaces.get(inp.workspace),
                    policies=load_policies(self._settings.config_dir),
                    now=inp.at,
                    budget=await self._budget(inp.workspace, service, inp.at),
                    service=service,
                )
            )
            reasons = decision.reasons
            verdict = PolicyVerdict(
                decision=decision.decision.value,
                reasons=reasons,
                approvers_needed=decision.approvers_needed or 1,
                min_role=decision.min_role,
                approval_timeout_seconds=self._settings.approval_timeout_seconds,
            )
            recorded = decision.model_dump(mode="json")
        except ConfigError as exc:
            # Fail closed: without a readable policy nothing may run.
            reasons = [f"configuration: deny: {exc}"]
            verdict = PolicyVerdict(decision="deny", reasons=reasons)
            recorded = {"decision": "deny", "error": str(exc)}
        status = {"deny": "denied", "require_approval": "pending_approval"}.get(verdict.decision, "proposed")
        key = idempotency_key(inp.workflow_id, inp.action_id)
        async with self._db.session() as session:
            await repo.upsert_action_log(
                session,
                idempotency_key=key,
                at=inp.at,
                incident_id=inp.incident_id,
                workspace=inp.workspace,
                action_id=inp.action_id,
                action=inp.action.action,
                params=_params(inp.action),
                status=status,
                dry_run=verdict.decision != "auto_execute",
                requested_by=inp.requested_by,
                decision=recorded,
            )
            marker = f"policy:{inp.action_id}"
            if not await repo.timeline_has(
                session, incident_id=inp.incident_id, kind=TimelineKind.policy, marker=marker
            ):
                await repo.add_timeline_event(
                    session,
                    incident_id=inp.incident_id,
                    at=inp.at,
                    kind=TimelineKind.policy,
                    actor="policy",
                    message=f"{inp.action.action} {_describe(inp.action)} proposed by {inp.requested_by}: "
                    f"{verdict.decision}",
                    data={"marker": marker, "action_id": inp.action_id, "reasons": reasons},
                )
        return verdict

    @activity.defn(name="record_action_verdict")
    async def record_action_verdict(self, inp: RecordActionVerdictInput) -> None:
        """Who approved or rejected which action, when (an expiry is a rejection by the clock)."""
        key = idempotency_key(inp.workflow_id, inp.action_id)
        async with self._db.session() as session:
            row = await repo.get_action_log(session, idempotency_key=key)
            if row is not None:
                if inp.status in ("approved", "rejected", "expired"):
                    row.status = inp.status
                if inp.status == "rejected":
                    row.result = {**row.result, "rejected_by": inp.by}
                names = [n for n in (row.approved_by or "").split(", ") if n]
                if inp.status in ("approved", "approval") and inp.by not in names:
                    row.approved_by = ", ".join([*names, inp.by])
                row.updated_at = inp.at
            marker = f"verdict:{inp.action_id}:{inp.status}:{inp.by}"
            if await repo.timeline_has(session, incident_id=inp.incident_id, kind=TimelineKind.approval, marker=marker):
                return
            words = {"approval": "approved (a second approver is needed)", "expired": "expired unapproved"}
            reason = f": {inp.reason}" if inp.reason else ""
            await repo.add_timeline_event(
                session,
                incident_id=inp.incident_id,
                at=inp.at,
                kind=TimelineKind.approval,
                actor=inp.by,
                message=f"Action {inp.action_id} {words.get(inp.status, inp.status)} by {inp.by}{reason}",
                data={"marker": marker, "action_id": inp.action_id, "status": inp.status},
            )

    def _oncall(self) -> OncallFile:
        return load_yaml(self._settings.config_dir / ONCALL_FILE, OncallFile)

    @activity.defn(name="plan_escalation")
    async def plan_escalation(self, inp: PlanEscalationInput) -> EscalationPlanResult:
        """The incident's ladder (level and time) from config/oncall.yaml's routing."""
        async with self._db.session() as session:
            incident = await repo.get_incident(session, incident_id=inp.incident_id)
        try:
            config = self._oncall()
        except ConfigError as exc:
            await self._note(inp.incident_id, inp.opened_at, f"No escalation: {exc}")
            return EscalationPlanResult()
        policy = config.policy_for(workspace=inp.workspace, service=incident.service if incident else None)
        if policy is None:
            await self._note(inp.incident_id, inp.opened_at, "No escalation policy routes this incident")
            return EscalationPlanResult()
        steps = escalation_plan(policy, inp.opened_at)
        return EscalationPlanResult(steps=[EscalationStep(level=s.level, at=s.at) for s in steps])

    @activity.defn(name="page_oncall")
    async def page_oncall(self, inp: PageOncallInput) -> PageResult:
        """Record who level N pages now (the on-call person of its schedule); channels deliver it (issue 6)."""
        async with self._db.session() as session:
            incident = await repo.get_incident(session, incident_id=inp.incident_id)
        try:
            config = self._oncall()
        except ConfigError as exc:
            return PageResult(level=inp.level, person=None, detail=str(exc))
        policy = config.policy_for(workspace=inp.workspace, service=incident.service if incident else None)
        targets = page_targets(policy, config, inp.at) if policy is not None else []
        target = next((t for t in targets if t.level == inp.level), None)
        people = target.people if target is not None else []
        where = f" ({target.schedule})" if target is not None and target.schedule else ""
        detail = f"Escalation L{inp.level}: paged {', '.join(people) or 'nobody (no one configured)'}{where}"
        async with self._db.session() as session:
            marker = f"page:L{inp.level}"
            if not await repo.timeline_has(
                session, incident_id=inp.incident_id, kind=TimelineKind.escalation, marker=marker
            ):
                await repo.add_timeline_event(
                    session,
                    incident_id=inp.incident_id,
                    at=inp.at,
                    kind=TimelineKind.escalation,
                    actor="aisre",
                    message=detail,
                    data={"marker": marker, "level": inp.level, "people": people},
                )
        return PageResult(level=inp.level, person=people[0] if people else None, detail=detail)

    async def _note(self, incident_id: int, at: datetime, message: str) -> None:
        async with self._db.session() as session:
            if not await repo.timeline_has(
                session, incident_id=incident_id, kind=TimelineKind.escalation, marker="plan"
            ):
                await repo.add_timeline_event(
                    session,
                    incident_id=incident_id,
                    at=at,
                    kind=TimelineKind.escalation,
                    actor="aisre",
                    message=message,
                    data={"marker": "plan"},
                )

"""Escalation, approvals and execution in IncidentWorkflow, with skipped time (temporal-test-server).

Activities are swapped by name (FakeStore); the ladder is L1 at open, L2 after 15 minutes, L3 after 30.
Updates do not skip time: time moves with env.sleep(), then the update is sent.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.actions import Role, ScaleDeployment
from domain.models import (
    ApprovalInput,
    ApprovalVerdict,
    IncidentResult,
    IncidentState,
    ProposeActionInput,
    ProposedAction,
    ResolveSignal,
)
from tests.helpers import poll
from tests.workflows.test_incident_workflow import FakeStore, firing, signal_with_start
from workflows.incident import IncidentWorkflow

LADDER = [(1, timedelta(0)), (2, timedelta(minutes=15)), (3, timedelta(minutes=30))]
SCALE = ScaleDeployment(namespace="shop", deployment="checkout", replicas=4)


@pytest.fixture
def env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return time_skipping_env


def approval(action_id: str, by: str = "oncall", role: Role = Role.operator) -> ApprovalInput:
    return ApprovalInput(action_id=action_id, by=by, role=role, workspace="default")


async def pending_action(handle: WorkflowHandle[IncidentWorkflow, IncidentResult]) -> str:
    state: IncidentState = await handle.query(IncidentWorkflow.get_state)
    pending = [a for a in state.actions if a.status == "pending_approval"]
    return pending[0].action_id if pending else ""


async def start(env: WorkflowEnvironment, queue: str) -> WorkflowHandle[IncidentWorkflow, IncidentResult]:
    workflow_id = f"wf-{uuid.uuid4()}"
    await signal_with_start(env.client, queue, workflow_id, firing(1))
    return env.client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id)


def offsets(store: FakeStore) -> list[tuple[int, timedelta]]:
    """Each page's level and when it was scheduled, relative to the first (L1 at open)."""
    start = store.pages[0][1]
    return [(level, at - start) for level, at in store.pages]


async def test_without_approval_l1_l2_l3_are_paged_at_their_times(env: WorkflowEnvironment) -> None:
    store = FakeStore(suggested=[SCALE], ladder=LADDER, approval_timeout=4 * 3600)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await start(env, queue)
        await poll(lambda: pending_action(handle))
        await env.sleep(timedelta(minutes=31))
        await poll(lambda: len(store.pages) == 3)
        assert [level for level, _ in offsets(store)] == [1, 2, 3]
        for (_, actual), (_, planned) in zip(offsets(store), LADDER, strict=True):
            assert abs(actual - planned) < timedelta(minutes=1)
        assert store.executed == []  # nothing runs without the approval
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        await handle.result()


async def test_an_approval_after_l2_stops_the_ladder_and_runs_the_action(env: WorkflowEnvironment) -> None:
    store = FakeStore(suggested=[SCALE], ladder=LADDER, approval_timeout=4 * 3600)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await start(env, queue)
        action_id = await poll(lambda: pending_action(handle))
        await env.sleep(timedelta(minutes=16))
        await poll(lambda: len(store.pages) == 2)

        verdict = await handle.execute_update("approve", approval(action_id), result_type=ApprovalVerdict)
        assert verdict.verdict == "approved"
        assert verdict.approvers == ["oncall"]
        await poll(lambda: bool(store.executed))
        assert store.executed == [("scale_deployment", False, ["oncall"])]

        await env.sleep(timedelta(minutes=30))
        assert [level for level, _ in store.pages] == [1, 2]  # L3 never paged
        assert ("approved", "oncall") in store.verdicts
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        await handle.result()


async def test_an_expired_approval_is_a_rejection(env: WorkflowEnvironment) -> None:
    store = FakeStore(suggested=[SCALE], approval_timeout=3600)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await start(env, queue)
        action_id = await poll(lambda: pending_action(handle))
        await env.sleep(timedelta(minutes=61))
        await poll(lambda: ("expired", "aisre") in store.verdicts)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("approve", approval(action_id), result_type=ApprovalVerdict)
        state: IncidentState = await handle.query(IncidentWorkflow.get_state)
        assert [a.status for a in state.actions] == ["expired"]
        assert store.executed == []
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        await handle.result()


async def test_approval_validator_checks_role_workspace_and_two_person_rule(env: WorkflowEnvironment) -> None:
    store = FakeStore(suggested=[SCALE], approvers_needed=2)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await start(env, queue)
        action_id = await poll(lambda: pending_action(handle))
        refused = [
            approval(action_id, role=Role.viewer),
            ApprovalInput(action_id=action_id, by="mallory", role=Role.admin, workspace="other"),
            approval("no-such-action"),
        ]
        for bad in refused:
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update("approve", bad, result_type=ApprovalVerdict)
        first = await handle.execute_update("approve", approval(action_id, by="alice"), result_type=ApprovalVerdict)
        assert first.verdict == "awaiting_second_approver"
        with pytest.raises(WorkflowUpdateFailedError):  # the same person twice is not two people
            await handle.execute_update("approve", approval(action_id, by="alice"), result_type=ApprovalVerdict)
        second = await handle.execute_update(
            "approve", approval(action_id, by="bob", role=Role.admin), result_type=ApprovalVerdict
        )
        assert second.verdict == "approved"
        await poll(lambda: bool(store.executed))
        assert store.executed == [("scale_deployment", False, ["alice", "bob"])]
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        await handle.result()


async def test_rejection_and_an_operator_proposal_go_through_policy(env: WorkflowEnvironment) -> None:
    store = FakeStore(suggested=[SCALE])
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await start(env, queue)
        action_id = await poll(lambda: pending_action(handle))
        rejected = await handle.execute_update("reject", approval(action_id, by="carol"), result_type=ApprovalVerdict)
        assert rejected.verdict == "rejected"
        store.decision = "dry_run_only"
        proposed = await handle.execute_update(
            "propose_action",
            ProposeActionInput(action=SCALE, by="dave", role=Role.operator, workspace="default"),
            result_type=ProposedAction,
        )
        assert proposed.decision == "dry_run_only"
        assert store.executed == [("scale_deployment", True, [])]  # the dry run, never the real thing
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                "propose_action",
                ProposeActionInput(action=SCALE, by="eve", role=Role.viewer, workspace="default"),
                result_type=ProposedAction,
            )
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        await handle.result()
    assert ("rejected", "carol") in store.verdicts


async def test_every_step_is_announced_once_in_order(env: WorkflowEnvironment) -> None:
    store = FakeStore(suggested=[SCALE], ladder=LADDER[:2], approval_timeout=4 * 3600)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await start(env, queue)
        action_id = await poll(lambda: pending_action(handle))
        await env.sleep(timedelta(minutes=16))
        await poll(lambda: len(store.pages) == 2)
        await handle.execute_update("approve", approval(action_id, by="alice"), result_type=ApprovalVerdict)
        await poll(lambda: bool(store.executed))
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        await handle.result()
    keys = [n.key for n in store.notices]
    assert keys[0] == "opened"
    # The ladder runs beside the diagnosis, so L1's page may come before or after the proposal.
    assert keys.index("diagnosis:1") < keys.index(f"action:{action_id}:proposed")
    assert keys.index("page:L1") < keys.index("page:L2") < keys.index(f"action:{action_id}:approved")
    assert keys.index(f"action:{action_id}:approved") < keys.index(f"action:{action_id}:succeeded")
    assert keys[-2:] == ["resolved", "postmortem"]
    assert len(keys) == len(set(keys))  # no event announced twice
    page = next(n for n in store.notices if n.key == "page:L2")
    assert page.level == 2
    assert page.incident_id == 101
    verdict = next(n for n in store.notices if n.key.endswith(":approved"))
    assert verdict.action_id == action_id


async def test_a_channel_that_never_works_does_not_block_the_incident(env: WorkflowEnvironment) -> None:
    store = FakeStore(suggested=[SCALE], approval_timeout=4 * 3600, notify_fails=True)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[IncidentWorkflow], activities=store.activities()):
        handle = await start(env, queue)
        action_id = await poll(lambda: pending_action(handle))
        await handle.execute_update("approve", approval(action_id), result_type=ApprovalVerdict)
        await poll(lambda: bool(store.executed))
        await handle.signal(IncidentWorkflow.resolve, ResolveSignal(by="oncall"))
        result = await handle.result()
    assert result.outcome.value == "resolved"
    assert store.postmortems == [101]
    assert [n.key for n in store.notices][-1] == "postmortem"  # every notice was tried, none held the run

"""DigestWorkflow with activities swapped by name (time-skipping), and its Schedule on the real dev server.

Schedule tests share the session's dev server: each uses its own task queue and workspaces, and
ensure_digest_schedules only deletes schedules that start workflows on its own task queue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    ScheduleRange,
    WorkflowFailureError,
)
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.digest import (
    BuildDigestInput,
    Digest,
    DigestRunResult,
    DigestWorkflowInput,
    NoisyAlert,
    PendingApproval,
)
from domain.models import Severity
from domain.notify import NotifyEvent, NotifyInput, NotifyResult
from domain.routing import RoutingFile
from domain.settings import Settings
from tests.helpers import poll
from worker.schedules import digest_schedule_id, ensure_digest_schedules
from workflows.digest import DigestWorkflow, digest_key


@dataclass
class Fakes:
    """build_digest and notify under their real names, recording what the workflow asked for."""

    notify_result: NotifyResult = field(default_factory=lambda: NotifyResult(sent=["mail"]))
    notify_failures: int = 0  # the first N attempts raise a retryable error
    builds: list[BuildDigestInput] = field(default_factory=list)
    notices: list[NotifyInput] = field(default_factory=list)
    notify_attempts: int = 0

    def digest(self, inp: BuildDigestInput) -> Digest:
        # Enum-keyed maps and nested models must survive the trip activity -> workflow -> notify.
        return Digest(
            workspace=inp.workspace,
            period_start=inp.start,
            period_end=inp.end,
            opened=3,
            resolved=1,
            by_severity={Severity.critical: 2, Severity.low: 1},
            mttr_seconds=3900.5,
            noisiest=[NoisyAlert(title="HighLatency", source="alertmanager", deliveries=9, incidents=2)],
            pending_approvals=[
                PendingApproval(
                    incident_id=7, action_id="a", action="scale_deployment", description="x", requested_at=inp.start
                )
            ],
        )

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="build_digest")
        async def build_digest(inp: BuildDigestInput) -> Digest:
            self.builds.append(inp)
            return self.digest(inp)

        @activity.defn(name="notify")
        async def notify(inp: NotifyInput) -> NotifyResult:
            self.notify_attempts += 1
            if self.notify_attempts <= self.notify_failures:
                raise ApplicationError("slack answered 503", type="ChannelUnavailable")
            self.notices.append(inp)
            return self.notify_result

        return [build_digest, notify]


def queue() -> str:
    return f"tq-{uuid.uuid4()}"


async def run_digest(env: WorkflowEnvironment, fakes: Fakes, inp: DigestWorkflowInput) -> DigestRunResult:
    task_queue = queue()
    async with Worker(env.client, task_queue=task_queue, workflows=[DigestWorkflow], activities=fakes.activities()):
        return await env.client.execute_workflow(
            DigestWorkflow.run, inp, id=f"digest-{uuid.uuid4()}", task_queue=task_queue
        )


# --- the workflow (time-skipping) -----------------------------------------------------------------


async def test_a_run_by_hand_reports_up_to_now_and_the_digest_goes_to_notify(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    before = await time_skipping_env.get_current_time()
    result = await run_digest(time_skipping_env, fakes, DigestWorkflowInput(workspace="shop"))

    [build] = fakes.builds
    assert build.workspace == "shop"
    assert build.end - build.start == timedelta(hours=24)
    # Not scheduled: the period ends when the run started (scheduled runs end at their minute, below).
    assert before - timedelta(seconds=1) <= build.end <= before + timedelta(minutes=1)

    [notice] = fakes.notices
    assert notice.event is NotifyEvent.digest
    assert notice.workspace == "shop"
    assert notice.key == f"digest:{build.end:%Y-%m-%dT%H:%M}"
    assert notice.at == build.end
    assert notice.incident_id is None
    assert notice.digest == fakes.digest(build)
    assert result == DigestRunResult(workspace="shop", opened=3, sent=["mail"])


async def test_period_hours_sets_the_start(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    await run_digest(time_skipping_env, fakes, DigestWorkflowInput(workspace="shop", period_hours=168))
    [build] = fakes.builds
    assert build.end - build.start == timedelta(days=7)


async def test_a_transient_notify_failure_is_retried(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes(notify_failures=2)
    result = await run_digest(time_skipping_env, fakes, DigestWorkflowInput(workspace="shop"))
    assert fakes.notify_attempts == 3
    assert result.sent == ["mail"]
    assert len(fakes.builds) == 1  # the report is not rebuilt for a notify retry


async def test_notify_retries_are_bounded_and_then_the_run_fails(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes(notify_failures=1000)
    with pytest.raises(WorkflowFailureError) as caught:
        await run_digest(time_skipping_env, fakes, DigestWorkflowInput(workspace="shop"))
    assert isinstance(caught.value.cause, ActivityError)
    assert fakes.notify_attempts == 10


async def test_a_channel_that_did_not_get_it_fails_the_run_visibly(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes(notify_result=NotifyResult(sent=["mail"], failed={"slack": "channel_not_found"}))
    with pytest.raises(WorkflowFailureError) as caught:
        await run_digest(time_skipping_env, fakes, DigestWorkflowInput(workspace="shop"))
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "DigestNotDelivered"
    assert "slack: channel_not_found" in cause.message
    assert cause.details[0]["failed"] == {"slack": "channel_not_found"}
    assert cause.details[0]["sent"] == ["mail"]
    assert fakes.notify_attempts == 1  # a permanent channel error is not retried by the workflow


# --- the schedule (real dev server) ----------------------------------------------------------------


def routing(*, at: time = time(9, 30), timezone: str = "Europe/Berlin", **digest: Any) -> RoutingFile:
    return RoutingFile.model_validate(
        {
            "channels": {
                "mail": {"type": "email", "smtp_host": "127.0.0.1", "from": "aisre@example.org", "to": ["sre@x.org"]}
            },
            "digest": {"time": at.isoformat(), "timezone": timezone, "channels": ["mail"], **digest},
        }
    )


async def describe(client: Client, workspace: str) -> ScheduleDescription:
    return await client.get_schedule_handle(digest_schedule_id(workspace)).describe()


async def gone(client: Client, workspace: str) -> bool:
    try:
        await describe(client, workspace)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


async def delete_quietly(client: Client, *workspaces: str) -> None:
    for workspace in workspaces:
        if not await gone(client, workspace):
            await client.get_schedule_handle(digest_schedule_id(workspace)).delete()


@pytest.fixture
def workspaces() -> list[str]:
    return [f"ws-{uuid.uuid4().hex[:8]}", f"ws-{uuid.uuid4().hex[:8]}"]


async def test_schedules_are_created_idempotently_updated_and_deleted(
    temporal_env: WorkflowEnvironment, workspaces: list[str]
) -> None:
    client = temporal_env.client
    settings = Settings(task_queue=queue())
    first, second = workspaces
    try:
        # Several workers starting at once race on create: one creates, the others find it and leave it alone.
        racing = await asyncio.gather(
            *(
                ensure_digest_schedules(client, settings=settings, routing=routing(), workspaces=workspaces)
                for _ in range(3)
            )
        )
        ids = racing[0]
        assert racing == [ids, ids, ids]
        assert ids == [digest_schedule_id(first), digest_schedule_id(second)]

        for workspace in workspaces:
            described = await describe(client, workspace)
            [calendar] = described.schedule.spec.calendars
            assert (calendar.hour, calendar.minute, calendar.second) == (
                (ScheduleRange(9),),
                (ScheduleRange(30),),
                (ScheduleRange(0),),
            )
            assert described.schedule.spec.time_zone_name == "Europe/Berlin"
            action = described.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert action.workflow == "DigestWorkflow"
            assert action.id == f"digest-{workspace}"
            assert action.task_queue == settings.task_queue
            assert await client.data_converter.decode(action.args, [DigestWorkflowInput]) == [
                DigestWorkflowInput(workspace=workspace, period_hours=24)
            ]
            assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
            assert described.schedule.policy.catchup_window == timedelta(hours=1)
            assert described.info.last_updated_at is None
            # The next run is 09:30 Berlin time (08:30 UTC in winter, 07:30 in summer).
            [upcoming, *_] = described.info.next_action_times
            assert upcoming.astimezone(UTC).minute == 30
            assert upcoming.astimezone(UTC).hour in (7, 8)

        # Again: nothing changes.
        assert await ensure_digest_schedules(client, settings=settings, routing=routing(), workspaces=workspaces) == ids
        for workspace in workspaces:
            assert (await describe(client, workspace)).info.last_updated_at is None

        # A new time updates both, and an operator's pause survives the update.
        await client.get_schedule_handle(digest_schedule_id(first)).pause(note="maintenance week")
        await ensure_digest_schedules(
            client, settings=settings, routing=routing(at=time(7, 5), timezone="UTC"), workspaces=workspaces
        )
        for workspace in workspaces:
            described = await describe(client, workspace)
            [calendar] = described.schedule.spec.calendars
            assert (calendar.hour, calendar.minute) == ((ScheduleRange(7),), (ScheduleRange(5),))
            assert described.schedule.spec.time_zone_name == "UTC"
            assert described.info.last_updated_at is not None
        assert (await describe(client, first)).schedule.state.paused
        assert not (await describe(client, second)).schedule.state.paused

        # Narrowing digest.workspaces deletes the other one.
        narrowed = routing(workspaces=[first, "not-configured"])
        assert await ensure_digest_schedules(client, settings=settings, routing=narrowed, workspaces=workspaces) == [
            digest_schedule_id(first)
        ]
        assert not await gone(client, first)
        assert await gone(client, second)

        # Disabled: nothing to send, so no schedule at all (twice: deleting what is gone is fine).
        for _ in range(2):
            off = routing(enabled=False)
            assert await ensure_digest_schedules(client, settings=settings, routing=off, workspaces=workspaces) == []
        assert await gone(client, first)
        assert await gone(client, second)
    finally:
        await delete_quietly(client, *workspaces)


async def test_no_channels_means_no_schedule_and_other_task_queues_are_left_alone(
    temporal_env: WorkflowEnvironment, workspaces: list[str]
) -> None:
    client = temporal_env.client
    first, second = workspaces
    ours, theirs = Settings(task_queue=queue()), Settings(task_queue=queue())
    try:
        # Another deployment in the same namespace has a digest for `second`.
        await ensure_digest_schedules(client, settings=theirs, routing=routing(), workspaces=[second])
        no_channels = RoutingFile.model_validate({"digest": {"time": "09:00"}})
        assert await ensure_digest_schedules(client, settings=ours, routing=no_channels, workspaces=[first]) == []
        assert await gone(client, first)
        assert not await gone(client, second)  # listed, but it starts workflows on their task queue
    finally:
        await delete_quietly(client, *workspaces)


async def test_a_triggered_schedule_runs_the_digest_to_completion(
    temporal_env: WorkflowEnvironment, workspaces: list[str]
) -> None:
    client = temporal_env.client
    settings = Settings(task_queue=queue())
    workspace = workspaces[0]
    fakes = Fakes()
    try:
        await ensure_digest_schedules(client, settings=settings, routing=routing(), workspaces=[workspace])
        async with Worker(
            client, task_queue=settings.task_queue, workflows=[DigestWorkflow], activities=fakes.activities()
        ):
            handle = client.get_schedule_handle(digest_schedule_id(workspace))
            await handle.trigger()

            async def started() -> ScheduleActionExecutionStartWorkflow | None:
                recent = (await handle.describe()).info.recent_actions
                if not recent:
                    return None
                action = recent[0].action
                assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                return action

            execution = await poll(started)
            run = client.get_workflow_handle(
                execution.workflow_id, run_id=execution.first_execution_run_id, result_type=DigestRunResult
            )
            result = await run.result()
            scheduled_at = (await handle.describe()).info.recent_actions[0].scheduled_at

        assert execution.workflow_id.startswith(f"digest-{workspace}-")
        assert result == DigestRunResult(workspace=workspace, opened=3, sent=["mail"])
        [build] = fakes.builds
        # The period ends at the schedule's action time (to the minute), not whenever a worker picked it up.
        assert build.end == scheduled_at.replace(second=0, microsecond=0)
        assert build.end - build.start == timedelta(hours=24)
        [notice] = fakes.notices
        assert notice.key == digest_key(build.end)
        assert notice.workspace == workspace
        assert notice.digest == fakes.digest(build)
    finally:
        await delete_quietly(client, *workspaces)


async def test_a_backfilled_run_reports_the_period_before_its_scheduled_time(
    temporal_env: WorkflowEnvironment, workspaces: list[str]
) -> None:
    """A late run (catch-up, backfill) reports its own day: the period comes from the schedule's action time."""
    client = temporal_env.client
    settings = Settings(task_queue=queue())
    workspace = workspaces[0]
    fakes = Fakes()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        await ensure_digest_schedules(
            client, settings=settings, routing=routing(at=time(9, 30), timezone="UTC"), workspaces=[workspace]
        )
        async with Worker(
            client, task_queue=settings.task_queue, workflows=[DigestWorkflow], activities=fakes.activities()
        ):
            handle = client.get_schedule_handle(digest_schedule_id(workspace))
            await handle.backfill(
                ScheduleBackfill(
                    start_at=yesterday, end_at=yesterday + timedelta(hours=23), overlap=ScheduleOverlapPolicy.ALLOW_ALL
                )
            )
            await poll(lambda: len(fakes.notices) == 1, timeout=30)
        [build] = fakes.builds
        assert build.end == yesterday.replace(hour=9, minute=30)
        assert build.start == build.end - timedelta(hours=24)
        assert fakes.notices[0].key == f"digest:{yesterday:%Y-%m-%d}T09:30"
    finally:
        await delete_quietly(client, *workspaces)

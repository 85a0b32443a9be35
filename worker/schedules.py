"""Temporal Schedules the worker keeps in line with config at start: one daily digest per workspace.

Idempotent and safe when several workers start at once: create, and on "already exists" update to the
current config (or leave it alone when it already matches); schedules for workspaces that no longer get a
digest are deleted. Deleting or updating a schedule another worker just removed is not an error.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.digest import DigestWorkflowInput
from domain.routing import RoutingFile
from domain.settings import Settings

log = logging.getLogger(__name__)

DIGEST_SCHEDULE_PREFIX = "aisre-digest-"
DIGEST_WORKFLOW = "DigestWorkflow"
# A digest missed while the cluster was down still goes out if the cluster is back within the hour;
# later than that, tomorrow's digest is the useful one.
DIGEST_CATCHUP = timedelta(hours=1)
# Backstop only: the workflow's activities give up well before this (build after 1 h, notify after 10 attempts).
DIGEST_RUN_TIMEOUT = timedelta(hours=6)
# create -> (exists) update -> (deleted meanwhile) create ...: a few rounds settle any race between workers.
_ATTEMPTS = 4


def digest_schedule_id(workspace: str) -> str:
    return f"{DIGEST_SCHEDULE_PREFIX}{workspace}"


def digest_workspaces(routing: RoutingFile, workspaces: Sequence[str]) -> list[str]:
    """The workspaces that get a digest: none when it is off or has no channel, else the configured ones."""
    digest = routing.digest
    if not digest.enabled or not digest.channels:
        return []
    if digest.workspaces is None:
        return list(dict.fromkeys(workspaces))
    unknown = [w for w in digest.workspaces if w not in workspaces]
    if unknown:
        log.warning("digest: workspace(s) %s are not in workspaces.yaml; no digest for them", ", ".join(unknown))
    return [w for w in dict.fromkeys(digest.workspaces) if w in workspaces]


def digest_schedule(workspace: str, *, settings: Settings, routing: RoutingFile) -> Schedule:
    """The digest schedule for one workspace: daily at digest.time in digest.timezone (DST included)."""
    at = routing.digest.time
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DIGEST_WORKFLOW,
            DigestWorkflowInput(workspace=workspace),
            # The server appends the scheduled time to this id, so every run's id is unique and readable.
            id=f"digest-{workspace}",
            task_queue=settings.task_queue,
            execution_timeout=DIGEST_RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(at.hour)], minute=[ScheduleRange(at.minute)], second=[ScheduleRange(0)]
                )
            ],
            time_zone_name=routing.digest.timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=DIGEST_CATCHUP),
    )


def _not_found(exc: RPCError) -> bool:
    return exc.status == RPCStatusCode.NOT_FOUND


async def _shape(client: Client, schedule: Schedule) -> tuple[Any, ...] | None:
    """What we manage of a schedule, comparable across a round trip through the server (None: not ours)."""
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow):
        return None
    args: list[Any] = list(action.args)
    if args and not isinstance(args[0], DigestWorkflowInput):
        try:  # described schedules carry their arguments as payloads
            args = await client.data_converter.decode(args, [DigestWorkflowInput])
        except Exception:  # noqa: BLE001 - an argument we cannot read is simply "different": rewrite it
            return None
    spec = schedule.spec
    calendars = tuple(
        tuple(
            tuple(getattr(c, part))
            for part in ("second", "minute", "hour", "day_of_month", "month", "year", "day_of_week")
        )
        for c in spec.calendars
    )
    return (
        calendars,
        tuple(spec.intervals),
        tuple(spec.cron_expressions),
        tuple(spec.skip),
        spec.time_zone_name,
        spec.start_at,
        spec.end_at,
        spec.jitter,
        schedule.policy.overlap,
        schedule.policy.catchup_window,
        schedule.policy.pause_on_failure,
        action.workflow,
        action.id,
        action.task_queue,
        action.execution_timeout,
        tuple(args),
    )


async def _ensure_one(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or bring an existing one in line; returns what happened."""
    wanted = await _shape(client, schedule)
    changed = False

    async def updater(inp: ScheduleUpdateInput) -> ScheduleUpdate | None:
        nonlocal changed
        if await _shape(client, inp.description.schedule) == wanted:
            return None
        changed = True
        # Keep the schedule's state: an operator who paused the digest in the UI keeps it paused.
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=inp.description.schedule.state))

    for _ in range(_ATTEMPTS):
        try:
            await client.create_schedule(schedule_id, schedule)
            return "created"
        except ScheduleAlreadyRunningError:
            pass
        try:
            await client.get_schedule_handle(schedule_id).update(updater)
            return "updated" if changed else "unchanged"
        except RPCError as exc:
            if not _not_found(exc):
                raise
            # Another worker (with an older config) deleted it between our create and update: create again.
    raise RuntimeError(f"schedule {schedule_id} kept changing under us; giving up after {_ATTEMPTS} attempts")


async def _delete(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as exc:
        if _not_found(exc):
            return False  # never existed, or another worker deleted it first
        raise
    return True


async def _owned_by_us(client: Client, schedule_id: str, task_queue: str) -> bool:
    # A namespace may hold several deployments (staging and production, tests): only touch our task queue's.
    try:
        description = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if _not_found(exc):
            return False
        raise
    action = description.schedule.action
    return isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == task_queue


async def ensure_digest_schedules(
    client: Client, *, settings: Settings, routing: RoutingFile, workspaces: list[str]
) -> list[str]:
    """Create or update one digest schedule per workspace that gets a digest, delete the others; returns the ids kept.

    `workspaces` are the workspaces of workspaces.yaml; `routing.digest.workspaces` narrows them. The client
    needs the pydantic data converter (the schedule's argument is a pydantic model).
    """
    wanted = digest_workspaces(routing, workspaces)
    ensured = []
    for workspace in wanted:
        schedule_id = digest_schedule_id(workspace)
        outcome = await _ensure_one(client, schedule_id, digest_schedule(workspace, settings=settings, routing=routing))
        at = routing.digest.time.strftime("%H:%M")
        log.info("digest schedule %s %s (%s %s)", schedule_id, outcome, at, routing.digest.timezone)
        ensured.append(schedule_id)

    keep = set(ensured)
    # Known workspaces by id (consistent), plus whatever the list shows (visibility lags a little, so a
    # schedule created a moment ago may be missed there and is caught by the next worker start).
    candidates = {digest_schedule_id(w) for w in workspaces}
    listing = await client.list_schedules()
    async for entry in listing:
        if entry.id.startswith(DIGEST_SCHEDULE_PREFIX):
            candidates.add(entry.id)
    for schedule_id in sorted(candidates - keep):
        if await _owned_by_us(client, schedule_id, settings.task_queue) and await _delete(client, schedule_id):
            log.info("digest schedule %s deleted (no digest for its workspace)", schedule_id)
    return ensured

"""DigestWorkflow: one run per scheduled digest of one workspace (started by a Temporal Schedule).

Deterministic code only: stdlib, temporalio and `domain`; activities are called by name.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.digest import BuildDigestInput, Digest, DigestRunResult, DigestWorkflowInput
    from domain.notify import NotifyEvent, NotifyInput, NotifyResult

# Set by the Schedule on every run it starts: the nominal action time (09:00:00, not when a worker got to it).
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")

# Reading the report: retry while the database is away, but a digest hours late is stale, so give up after an hour
# (the run then fails visibly and tomorrow's run reports its own period).
BUILD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=["ValidationError"],
)
BUILD_TIMEOUT = timedelta(seconds=60)
BUILD_DEADLINE = timedelta(hours=1)

# Sending: bounded. The notify activity is idempotent per (key, channel), so a retry resends only the channels
# that have not got it yet; ten attempts with up to five minutes between them ride out a chat vendor's outage
# (and give an operator half an hour to fix a routing.yaml the activity refused: it re-reads it every attempt).
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
    non_retryable_error_types=["ValidationError"],
)
NOTIFY_TIMEOUT = timedelta(minutes=2)


def digest_key(end: datetime) -> str:
    """The notification key of the digest ending at `end`: one delivery per channel per scheduled time."""
    return f"digest:{end:%Y-%m-%dT%H:%M}"


@workflow.defn(name="DigestWorkflow")
class DigestWorkflow:
    """Build the workspace's digest for the period before the scheduled time and send it to the digest channels.

    A channel that did not get the digest fails the run (after the notify activity's retries): a failed
    schedule run is visible in the Temporal UI and the schedule's recent actions, while a completed run
    with a `failed` entry in its result is seen by nobody. The error's details carry the DigestRunResult.
    """

    @workflow.run
    async def run(self, inp: DigestWorkflowInput) -> DigestRunResult:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        # The period ends at the schedule's nominal time, not when the run got a worker: a late or
        # caught-up run reports the same period, and the key (minute precision) stays the same. A run
        # started by hand reports up to now.
        end = scheduled.replace(second=0, microsecond=0) if scheduled is not None else workflow.now()
        start = end - timedelta(hours=inp.period_hours)
        digest = await workflow.execute_activity(
            "build_digest",
            BuildDigestInput(workspace=inp.workspace, start=start, end=end),
            result_type=Digest,
            start_to_close_timeout=BUILD_TIMEOUT,
            schedule_to_close_timeout=BUILD_DEADLINE,
            retry_policy=BUILD_RETRY,
        )
        sent = await workflow.execute_activity(
            "notify",
            NotifyInput(event=NotifyEvent.digest, workspace=inp.workspace, key=digest_key(end), at=end, digest=digest),
            result_type=NotifyResult,
            start_to_close_timeout=NOTIFY_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
        )
        result = DigestRunResult(
            workspace=inp.workspace, opened=digest.opened, sent=sent.sent, held=sent.held, failed=sent.failed
        )
        if sent.failed:
            # Channel errors come from the notify activity, which keeps secrets out of them.
            reasons = "; ".join(f"{name}: {why}" for name, why in sorted(sent.failed.items()))
            raise ApplicationError(
                f"digest for {inp.workspace} not delivered to {', '.join(sorted(sent.failed))} ({reasons})",
                result.model_dump(mode="json"),
                type="DigestNotDelivered",
                non_retryable=True,
            )
        return result

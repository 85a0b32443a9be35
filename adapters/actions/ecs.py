"""ECS actions over boto3: scale a service, force a new deployment, stop a task.

Credentials come from the standard AWS chain (environment, shared config/SSO, the task or instance role),
never from activity inputs; the region and an optional endpoint (a local ECS-compatible server) from
Settings. botocore makes exactly one attempt per call: Temporal owns retries (DESIGN.md §3). boto3 is
synchronous, so every call runs in a worker thread.

Exactly once. ECS `UpdateService` and `StopTask` take no client token, so the key is carried by tags on
the service and by a marker in the task's stop reason:

- scale: `update_service(desiredCount=n)`, then tag `aisre:action-key=<key>`. Setting the same count
  twice changes nothing, so `find` also treats "desiredCount already n" as applied: a crash between
  the update and the tag is harmless.
- force-new-deployment is not idempotent (each call replaces every task again). Before the update the
  service is tagged with the *intent* (`aisre:intent-key=<key>`, `aisre:intent-deployment=<PRIMARY
  deployment id now>`); after it, `aisre:action-key=<key>`. `find` answers "applied" when the action
  tag carries the key, or when the intent tag carries it and the PRIMARY deployment is no longer the one
  recorded in the intent — so a crash between the update and the final tag is reconciled too. Residual
  windows, stated honestly: (1) a deployment someone else starts between our intent tag and our update
  is taken for ours (its effect — every task replaced — is the one asked for); (2) ECS reads are
  eventually consistent, so a `find` within about a second of an update could still see the old
  deployment; (3) the intent tags hold one action at a time, so a crash of this action followed by
  another action's intent on the same service before the retry loses the crash's evidence; (4) ECS has
  no conditional write (nothing like Kubernetes' resourceVersion), so two attempts of the same action
  running at once — possible only if an attempt outlives the activity's start-to-close timeout — can
  both deploy. Services still on the short ARN format cannot be tagged at all; force-new-deployment
  then refuses to run (it could not be made exactly-once) while scale proceeds untagged.
- Completed keys: `aisre:action-key` holds the latest key (readable), `aisre:recent-action-keys` the
  digests of the last ten, so an older action's retry is still recognised after newer ones ran.
- stop-task: the stop reason ends with `[aisre <digest of key>]`; a task already stopping or stopped is
  reported as applied (stopping it again would change nothing).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from adapters.actions.base import ActionError
from domain.actions import (
    ActionOutcome,
    ActionPlan,
    CatalogAction,
    EcsForceNewDeployment,
    EcsScaleService,
    EcsStopTask,
    Verification,
)
from domain.settings import Settings

log = logging.getLogger(__name__)

ACTION_TAG = "aisre:action-key"
RECENT_TAG = "aisre:recent-action-keys"  # digests of the last RECENT_KEYS keys applied to the service
RECENT_KEYS = 10
INTENT_KEY_TAG = "aisre:intent-key"
INTENT_DEPLOYMENT_TAG = "aisre:intent-deployment"
STOP_REASON_LIMIT = 255  # ECS StopTask: "Up to 255 characters are allowed in this message"

# ECS tag values: up to 256 letters, digits, spaces and + - = . _ : / @; an `aws:` prefix is reserved.
_TAG_VALUE = re.compile(r"[A-Za-z0-9 _.:/=+\-@]{1,256}")

_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_CREDENTIAL_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "InvalidClientTokenId"}
)

Sleep = Callable[[float], Awaitable[None]]


def key_tag_value(key: str) -> str:
    """The idempotency key as an ECS tag value (a sha256 digest when the key does not fit ECS's tag rules)."""
    if _TAG_VALUE.fullmatch(key) and not key.lower().startswith("aws:"):
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def key_digest(key: str) -> str:
    """A short digest of the key (16 hex digits), as kept in the recent-keys tag and the stop reason."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def stop_marker(key: str) -> str:
    """The suffix of the stop reason that identifies this action's StopTask."""
    return f"[aisre {key_digest(key)}]"


def stop_reason(reason: str, key: str) -> str:
    """The reason sent to StopTask: the action's reason, cut to fit, then the key's marker."""
    marker = stop_marker(key)
    room = STOP_REASON_LIMIT - len(marker) - 1
    text = " ".join(reason.split())
    if len(text) > room:
        text = text[: room - 3].rstrip() + "..."
    return f"{text} {marker}" if text else marker


def ecs_error(exc: Exception, *, what: str) -> ActionError:
    """An ActionError for a boto3 failure: throttling, 5xx and network trouble are retryable, the rest not."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "").strip()
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        retryable = code in _RETRYABLE_CODES or status >= 500 or status == 429
        hint = ""
        if code in _CREDENTIAL_CODES:
            hint = " (the worker's AWS credentials were rejected)"
        elif code == "AccessDeniedException":
            hint = " (the worker's AWS identity lacks this ECS permission)"
        text = f"ECS {what}: {code}{hint}" + (f": {message}" if message else "")
        return ActionError(text, retryable=retryable)
    if isinstance(exc, SSLError):
        return ActionError(f"ECS {what}: TLS failure: {exc}", retryable=False)
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return ActionError(f"ECS {what}: cannot reach the endpoint: {exc}", retryable=True)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ActionError(
            f"ECS {what}: no usable AWS credentials in the standard chain (environment, shared config, role): {exc}",
            retryable=False,
        )
    if isinstance(exc, CredentialRetrievalError):
        return ActionError(f"ECS {what}: could not fetch AWS credentials: {exc}", retryable=True)
    if isinstance(exc, NoRegionError):
        return ActionError(f"ECS {what}: no AWS region; set AI_SRE_AWS_REGION", retryable=False)
    return ActionError(f"ECS {what}: {type(exc).__name__}: {exc}", retryable=False)


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {str(t.get("key")): str(t.get("value", "")) for t in resource.get("tags") or []}


def _carries(tags: dict[str, str], key: str) -> bool:
    """The service's tags show this key as applied (the latest action, or one of the recent ones)."""
    return tags.get(ACTION_TAG) == key_tag_value(key) or key_digest(key) in tags.get(RECENT_TAG, "").split()


def _done_tags(tags: dict[str, str], key: str) -> dict[str, str]:
    """The tags marking `key` applied; the recent list lets a key survive later actions on the service."""
    recent = [d for d in tags.get(RECENT_TAG, "").split() if d != key_digest(key)]
    return {ACTION_TAG: key_tag_value(key), RECENT_TAG: " ".join([key_digest(key), *recent][:RECENT_KEYS])}


def _primary(service: dict[str, Any]) -> dict[str, Any] | None:
    return next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)


def _deployment_line(deployment: dict[str, Any], *, label: str | None = None) -> str:
    return (
        f"  - {deployment.get('status')} {label or deployment.get('id')} "
        f"taskDefinition={deployment.get('taskDefinition')} desired={deployment.get('desiredCount')} "
        f"running={deployment.get('runningCount')} rolloutState={deployment.get('rolloutState', '-')}"
    )


def _service_lines(service: dict[str, Any], *, deployments: bool = False) -> list[str]:
    lines = [
        f"serviceArn: {service.get('serviceArn')}",
        f"status: {service.get('status')}",
        f"taskDefinition: {service.get('taskDefinition')}",
        f"desiredCount: {service.get('desiredCount')}",
        f"runningCount: {service.get('runningCount')}",
        f"pendingCount: {service.get('pendingCount')}",
    ]
    if deployments:
        lines.append("deployments:")
        lines += [_deployment_line(d) for d in service.get("deployments") or []]
    return lines


def _task_lines(task: dict[str, Any]) -> list[str]:
    return [
        f"taskArn: {task.get('taskArn')}",
        f"group: {task.get('group', '')}",
        f"taskDefinition: {task.get('taskDefinitionArn')}",
        f"lastStatus: {task.get('lastStatus')}",
        f"desiredStatus: {task.get('desiredStatus')}",
        f"stoppedReason: {task.get('stoppedReason', '')}",
    ]


def _diff(before: list[str], after: list[str], *, target: str) -> str:
    return "\n".join(
        difflib.unified_diff(before, after, fromfile=f"{target} (now)", tofile=f"{target} (after)", lineterm="")
    )


def _stopping(task: dict[str, Any]) -> bool:
    return task.get("desiredStatus") == "STOPPED" or task.get("lastStatus") == "STOPPED"


class EcsActions:
    """`ActionProvider` for ECS services and tasks; see the module docstring for exactly-once."""

    slug = "ecs"
    kinds = frozenset({"ecs_scale_service", "ecs_force_new_deployment", "ecs_stop_task"})

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
        verify_timeout_seconds: float = 300.0,
        poll_seconds: float = 5.0,
        connect_timeout_seconds: float = 5.0,
        read_timeout_seconds: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._client = client
        self._client_lock = threading.Lock()
        self._verify_timeout = verify_timeout_seconds
        self._poll = poll_seconds
        self._config = Config(
            # total_max_attempts counts the first try; `max_attempts: 1` would still allow one retry.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=connect_timeout_seconds,
            read_timeout=read_timeout_seconds,
        )
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> EcsActions:
        """ECS in AI_SRE_AWS_REGION (or the AWS chain's region), at AI_SRE_AWS_ENDPOINT_URL when set."""
        return cls(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url, **options)

    def __repr__(self) -> str:
        return f"EcsActions(region={self._region!r}, endpoint_url={self._endpoint_url!r})"

    @property
    def client(self) -> Any:
        """The boto3 ECS client, built on first use (a bad region or endpoint surfaces as ActionError)."""
        # Client methods are thread-safe; building one is not, hence the lock.
        with self._client_lock:
            if self._client is None:
                try:
                    # A session per provider: boto3's default session is shared module state.
                    session = boto3.session.Session()
                    self._client = session.client(
                        "ecs", region_name=self._region, endpoint_url=self._endpoint_url, config=self._config
                    )
                except (BotoCoreError, ValueError) as exc:
                    raise ecs_error(exc, what="client setup") from None
            return self._client

    def _invoke(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = getattr(self.client, operation)(**params)
        return result

    async def _call(self, operation: str, *, what: str, **params: Any) -> dict[str, Any]:
        # In a worker thread: building the client (loading the service model) and every call block.
        try:
            return await asyncio.to_thread(self._invoke, operation, params)
        except (ClientError, BotoCoreError) as exc:
            raise ecs_error(exc, what=what) from None

    # --- reads ------------------------------------------------------------------------------------

    async def _service(self, cluster: str, service: str) -> dict[str, Any]:
        answer = await self._call(
            "describe_services",
            what=f"describe service {cluster}/{service}",
            cluster=cluster,
            services=[service],
            include=["TAGS"],
        )
        found = answer.get("services") or []
        if not found:
            reason = next((f.get("reason") for f in answer.get("failures") or []), "MISSING")
            raise ActionError(f"ECS service {cluster}/{service} not found ({reason})", retryable=False)
        svc: dict[str, Any] = found[0]
        if svc.get("status") != "ACTIVE":
            raise ActionError(f"ECS service {cluster}/{service} is {svc.get('status')}, not ACTIVE", retryable=False)
        return svc

    async def _task(self, cluster: str, task: str) -> dict[str, Any] | None:
        answer = await self._call(
            "describe_tasks", what=f"describe task {cluster}/{task}", cluster=cluster, tasks=[task]
        )
        found = answer.get("tasks") or []
        return found[0] if found else None

    async def _existing_task(self, cluster: str, task: str) -> dict[str, Any]:
        found = await self._task(cluster, task)
        if found is None:
            raise ActionError(
                f"ECS task {task} not found in cluster {cluster} (ECS forgets stopped tasks about an hour after they stop)",
                retryable=False,
            )
        return found

    # --- the protocol -----------------------------------------------------------------------------

    async def plan(self, action: CatalogAction, *, key: str) -> ActionPlan:
        """What the action would change, as a diff of the service's or task's relevant fields."""
        if isinstance(action, EcsScaleService):
            svc = await self._service(action.cluster, action.service)
            target = f"ecs service {action.cluster}/{action.service}"
            now = int(svc.get("desiredCount", 0))
            after = dict(svc, desiredCount=action.desired_count)
            summary = (
                f"desired count stays {now}"
                if now == action.desired_count
                else f"desired count {now} -> {action.desired_count}"
            )
            return ActionPlan(
                summary=f"{target}: {summary}",
                diff=_diff(_service_lines(svc), _service_lines(after), target=target),
                target=target,
                before={"desired_count": str(now)},
            )
        if isinstance(action, EcsForceNewDeployment):
            svc = await self._service(action.cluster, action.service)
            target = f"ecs service {action.cluster}/{action.service}"
            primary = _primary(svc)
            new = {
                "status": "PRIMARY",
                "taskDefinition": svc.get("taskDefinition"),
                "desiredCount": svc.get("desiredCount"),
                "runningCount": 0,
                "rolloutState": "IN_PROGRESS",
            }
            old = [dict(d, status="ACTIVE") for d in svc.get("deployments") or []]
            after_lines = [
                *_service_lines(svc),
                "deployments:",
                _deployment_line(new, label="(new deployment)"),
                *[_deployment_line(d) for d in old],
            ]
            return ActionPlan(
                summary=(
                    f"{target}: start a new deployment of {svc.get('taskDefinition')}; "
                    f"all {svc.get('runningCount')} running task(s) are replaced"
                ),
                diff=_diff(_service_lines(svc, deployments=True), after_lines, target=target),
                target=target,
                before={
                    "deployment_id": str(primary.get("id")) if primary else "",
                    "task_definition": str(svc.get("taskDefinition") or ""),
                },
            )
        if isinstance(action, EcsStopTask):
            task = await self._existing_task(action.cluster, action.task)
            target = f"ecs task {action.cluster}/{action.task}"
            after = dict(
                task, desiredStatus="STOPPED", lastStatus="STOPPED", stoppedReason=stop_reason(action.reason, key)
            )
            summary = (
                f"already {task.get('lastStatus')} (desired {task.get('desiredStatus')})"
                if _stopping(task)
                else f"stop the task ({task.get('lastStatus')}); its service starts a replacement"
            )
            return ActionPlan(
                summary=f"{target}: {summary}",
                diff=_diff(_task_lines(task), _task_lines(after), target=target),
                target=target,
                before={"last_status": str(task.get("lastStatus")), "desired_status": str(task.get("desiredStatus"))},
            )
        raise self._unsupported(action)

    async def find(self, action: CatalogAction, *, key: str) -> ActionOutcome | None:
        """The outcome when the change is already on ECS (tag, intent + new deployment, count, stopped task)."""
        if isinstance(action, EcsScaleService):
            return self._scaled(await self._service(action.cluster, action.service), action, key)
        if isinstance(action, EcsForceNewDeployment):
            return self._redeployed(await self._service(action.cluster, action.service), key)
        if isinstance(action, EcsStopTask):
            task = await self._task(action.cluster, action.task)
            return self._stopped(task, key) if task is not None else None
        raise self._unsupported(action)

    def _scaled(self, svc: dict[str, Any], action: EcsScaleService, key: str) -> ActionOutcome | None:
        arn = str(svc.get("serviceArn", ""))
        if _carries(_tags(svc), key):
            return ActionOutcome(
                status="already_applied", detail=f"service tagged {ACTION_TAG} with this action", provider_ref=arn
            )
        # Setting the same desired count again would change nothing: the state itself is the proof.
        if int(svc.get("desiredCount", -1)) == action.desired_count:
            return ActionOutcome(
                status="already_applied", detail=f"desired count is already {action.desired_count}", provider_ref=arn
            )
        return None

    def _redeployed(self, svc: dict[str, Any], key: str) -> ActionOutcome | None:
        arn = str(svc.get("serviceArn", ""))
        tags = _tags(svc)
        value = key_tag_value(key)
        primary = _primary(svc)
        primary_id = str(primary.get("id")) if primary else ""
        if _carries(tags, key):
            return ActionOutcome(
                status="already_applied",
                detail=f"service tagged {ACTION_TAG} with this action; PRIMARY deployment {primary_id}",
                provider_ref=arn,
            )
        if tags.get(INTENT_KEY_TAG) == value and primary_id and primary_id != tags.get(INTENT_DEPLOYMENT_TAG):
            # The update went through but the final tag did not land (crash or tag failure in between).
            return ActionOutcome(
                status="already_applied",
                detail=(
                    f"deployment {primary_id} replaced {tags.get(INTENT_DEPLOYMENT_TAG)} after this action's intent "
                    "was recorded"
                ),
                provider_ref=arn,
            )
        return None

    def _stopped(self, task: dict[str, Any], key: str) -> ActionOutcome | None:
        if not _stopping(task):
            return None
        arn = str(task.get("taskArn", ""))
        reason = str(task.get("stoppedReason") or "")
        if stop_marker(key) in reason:
            detail = f"task {task.get('lastStatus')}: stopped by this action"
        else:
            # Stopping it again would change nothing; record what stopped it instead.
            detail = (
                f"task already {task.get('lastStatus')} (desired {task.get('desiredStatus')}): {reason or 'no reason'}"
            )
        return ActionOutcome(status="already_applied", detail=detail, provider_ref=arn)

    async def apply(self, action: CatalogAction, *, key: str) -> ActionOutcome:
        """Make the change and mark it with the key (see the module docstring for the order of steps)."""
        if isinstance(action, EcsScaleService):
            return await self._apply_scale(action, key)
        if isinstance(action, EcsForceNewDeployment):
            return await self._apply_redeploy(action, key)
        if isinstance(action, EcsStopTask):
            return await self._apply_stop(action, key)
        raise self._unsupported(action)

    async def _apply_scale(self, action: EcsScaleService, key: str) -> ActionOutcome:
        name = f"{action.cluster}/{action.service}"
        svc = await self._service(action.cluster, action.service)
        done = self._scaled(svc, action, key)
        if done is not None:
            return done
        answer = await self._call(
            "update_service",
            what=f"scale service {name}",
            cluster=action.cluster,
            service=action.service,
            desiredCount=action.desired_count,
        )
        arn = str(answer.get("service", {}).get("serviceArn", ""))
        tagged = await self._tag(arn, _done_tags(_tags(svc), key), what=f"tag service {name}")
        note = "" if tagged else f" (not tagged: {tagged.reason}; the desired count itself identifies the change)"
        return ActionOutcome(
            status="succeeded", detail=f"desired count set to {action.desired_count}{note}", provider_ref=arn
        )

    async def _apply_redeploy(self, action: EcsForceNewDeployment, key: str) -> ActionOutcome:
        name = f"{action.cluster}/{action.service}"
        svc = await self._service(action.cluster, action.service)
        done = self._redeployed(svc, key)
        if done is not None:
            return done
        if (svc.get("deploymentController") or {}).get("type", "ECS") != "ECS":
            raise ActionError(
                f"ECS service {name} uses the {svc['deploymentController']['type']} deployment controller; "
                "force-new-deployment needs the ECS (rolling update) controller",
                retryable=False,
            )
        arn = str(svc.get("serviceArn", ""))
        primary = _primary(svc)
        value = key_tag_value(key)
        # Intent first: without it a crash after the update would make the retry deploy a second time.
        intent = {INTENT_KEY_TAG: value, INTENT_DEPLOYMENT_TAG: str(primary.get("id")) if primary else "none"}
        marked = await self._tag(arn, intent, what=f"record intent on service {name}")
        if not marked:
            raise ActionError(
                f"ECS service {name} cannot be tagged ({marked.reason}); force-new-deployment refuses to run "
                "because a retry could not tell whether it already did (opt the service into the long ARN format)",
                retryable=False,
            )
        answer = await self._call(
            "update_service",
            what=f"force a new deployment of {name}",
            cluster=action.cluster,
            service=action.service,
            forceNewDeployment=True,
        )
        new_primary = _primary(answer.get("service") or {})
        new_id = str(new_primary.get("id")) if new_primary else "?"
        tagged = await self._tag(arn, _done_tags(_tags(svc), key), what=f"tag service {name}")
        note = "" if tagged else f" (final tag not set: {tagged.reason}; the intent tag identifies the change)"
        return ActionOutcome(
            status="succeeded", detail=f"new deployment {new_id} started{note}", provider_ref=f"{arn}#{new_id}"
        )

    async def _apply_stop(self, action: EcsStopTask, key: str) -> ActionOutcome:
        task = await self._existing_task(action.cluster, action.task)
        done = self._stopped(task, key)
        if done is not None:
            return done
        answer = await self._call(
            "stop_task",
            what=f"stop task {action.cluster}/{action.task}",
            cluster=action.cluster,
            task=str(task.get("taskArn") or action.task),
            reason=stop_reason(action.reason, key),
        )
        stopped = answer.get("task") or {}
        return ActionOutcome(
            status="succeeded",
            detail=f"task stopping (lastStatus {stopped.get('lastStatus')})",
            provider_ref=str(stopped.get("taskArn") or task.get("taskArn") or action.task),
        )

    async def _tag(self, arn: str, tags: dict[str, str], *, what: str) -> _Tagged:
        try:
            await self._call(
                "tag_resource", what=what, resourceArn=arn, tags=[{"key": k, "value": v} for k, v in tags.items()]
            )
        except ActionError as exc:
            if exc.retryable:
                raise
            # Short-ARN services ("Long arn format must be used for tagging operations") or a missing
            # ecs:TagResource permission: the caller decides whether it can go on without the mark.
            log.warning("%s", exc)
            return _Tagged(str(exc))
        return _Tagged(None)

    async def verify(self, action: CatalogAction, *, key: str) -> Verification:
        """Wait (bounded) for running == desired with the PRIMARY rollout COMPLETED, or the task STOPPED."""
        deadline = self._clock() + self._verify_timeout
        while True:
            check, final = await self._check(action, key)
            if check.ok or final or self._clock() >= deadline:
                if not check.ok and not final:
                    return Verification(ok=False, detail=f"not done after {self._verify_timeout:g} s: {check.detail}")
                return check
            await self._sleep(self._poll)

    async def _check(self, action: CatalogAction, key: str) -> tuple[Verification, bool]:
        """One look: (the verdict now, whether waiting longer cannot change it)."""
        if isinstance(action, EcsStopTask):
            task = await self._task(action.cluster, action.task)
            if task is None:
                return Verification(ok=True, detail="task no longer listed (ECS drops stopped tasks)"), True
            status = task.get("lastStatus")
            if status == "STOPPED":
                return Verification(ok=True, detail=f"task STOPPED: {task.get('stoppedReason', '')}"), True
            return Verification(ok=False, detail=f"task {status}, desired {task.get('desiredStatus')}"), False
        if not isinstance(action, EcsScaleService | EcsForceNewDeployment):
            raise self._unsupported(action)
        svc = await self._service(action.cluster, action.service)
        desired, running = int(svc.get("desiredCount", 0)), int(svc.get("runningCount", 0))
        primary = _primary(svc) or {}
        rollout = primary.get("rolloutState")  # absent for services behind a Classic Load Balancer
        state = f"running {running}/{desired}, PRIMARY deployment {primary.get('id')} rollout {rollout or '-'}"
        if isinstance(action, EcsScaleService) and desired != action.desired_count:
            return Verification(ok=False, detail=f"desired count is {desired}, not {action.desired_count}"), True
        if isinstance(action, EcsForceNewDeployment):
            tags = _tags(svc)
            if tags.get(INTENT_KEY_TAG) == key_tag_value(key) and primary.get("id") == tags.get(INTENT_DEPLOYMENT_TAG):
                return Verification(ok=False, detail=f"no new deployment yet: {state}"), False
        if rollout == "FAILED":
            return Verification(ok=False, detail=f"rollout FAILED: {primary.get('rolloutStateReason', '')}"), True
        if running == desired and rollout in (None, "COMPLETED"):
            return Verification(ok=True, detail=state), True
        return Verification(ok=False, detail=state), False

    async def rollback(self, action: CatalogAction, *, key: str, plan: ActionPlan) -> ActionOutcome:
        """Scale only: restore the desired count the plan recorded."""
        if not isinstance(action, EcsScaleService):
            raise ActionError(f"{action.action} cannot be rolled back", retryable=False)
        before = plan.before.get("desired_count", "")
        if not before.isdigit():
            raise ActionError(f"the plan recorded no desired count to restore ({before!r})", retryable=False)
        answer = await self._call(
            "update_service",
            what=f"restore the desired count of {action.cluster}/{action.service}",
            cluster=action.cluster,
            service=action.service,
            desiredCount=int(before),
        )
        arn = str(answer.get("service", {}).get("serviceArn", ""))
        return ActionOutcome(status="succeeded", detail=f"desired count restored to {before}", provider_ref=arn)

    async def health(self) -> None:
        """One ListClusters call proves the endpoint, the region and the credentials."""
        await self._call("list_clusters", what="health check (ListClusters)", maxResults=1)

    def _unsupported(self, action: CatalogAction) -> ActionError:
        return ActionError(f"the ecs provider does not execute {action.action}", retryable=False)


class _Tagged:
    """Whether a tag call landed (truthy) or why not."""

    def __init__(self, reason: str | None) -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is None

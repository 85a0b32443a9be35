"""The ECS provider through boto3 against moto's ECS server (and a canned-error server for what moto cannot fail)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError  # type: ignore[import-untyped]
from moto.server import ThreadedMotoServer

from adapters.actions.base import ActionError, ActionProvider
from adapters.actions.ecs import (
    ACTION_TAG,
    INTENT_DEPLOYMENT_TAG,
    INTENT_KEY_TAG,
    RECENT_KEYS,
    RECENT_TAG,
    STOP_REASON_LIMIT,
    EcsActions,
    key_digest,
    key_tag_value,
    stop_marker,
    stop_reason,
)
from domain.actions import ActionPlan, EcsForceNewDeployment, EcsScaleService, EcsStopTask, RestartPod
from domain.settings import Settings
from tests.fakes.http import FakeHTTPServer, RecordedRequest, Reply

REGION = "us-east-1"
KEY = "incident-default-abc123:act-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # Credentials reach boto3 through the standard chain (here: the environment), never through inputs.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # moto reports this many running tasks for services created from now on (rollout COMPLETED at 2).
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")


@pytest.fixture
def moto(moto_url: str) -> Iterator[str]:
    """A reset moto whose tasks stay RUNNING until stopped (by default each describe advances them)."""
    httpx.post(f"{moto_url}/moto-api/reset").raise_for_status()
    transition = {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000}}
    httpx.post(f"{moto_url}/moto-api/state-manager/set-transition", json=transition).raise_for_status()
    try:
        yield moto_url
    finally:
        httpx.post(f"{moto_url}/moto-api/state-manager/unset-transition", json={"model_name": "ecs::task"})


@pytest.fixture
def ecs(moto: str) -> Any:
    """A separate boto3 client: the test's own view of ECS (seeding, reading state)."""
    return boto3.client("ecs", region_name=REGION, endpoint_url=moto)


class Seeded:
    def __init__(self, ecs: Any) -> None:
        ecs.create_cluster(clusterName="prod")
        self.task_definition = ecs.register_task_definition(
            family="api", containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128}]
        )["taskDefinition"]["taskDefinitionArn"]
        self.service_arn = ecs.create_service(
            cluster="prod", serviceName="api", taskDefinition=self.task_definition, desiredCount=2
        )["service"]["serviceArn"]
        task = ecs.run_task(cluster="prod", taskDefinition=self.task_definition, launchType="FARGATE", count=1)
        self.task_arn = task["tasks"][0]["taskArn"]
        self.task_id = self.task_arn.rsplit("/", 1)[-1]


@pytest.fixture
def seeded(ecs: Any) -> Seeded:
    return Seeded(ecs)


class Clock:
    """An injected clock for verify's bounded wait: sleeping moves it forward, nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(moto: str, clock: Clock) -> EcsActions:
    return EcsActions(
        region=REGION, endpoint_url=moto, verify_timeout_seconds=30, poll_seconds=5, sleep=clock.sleep, clock=clock
    )


class Calls:
    """Counts API operations the provider's own client sends (botocore event hooks)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.ecs.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def count(self, name: str) -> int:
        return self.names.count(name)


def service(ecs: Any, name: str = "api") -> dict[str, Any]:
    found: dict[str, Any] = ecs.describe_services(cluster="prod", services=[name], include=["TAGS"])["services"][0]
    return found


def tags(ecs: Any, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]}


def primary_id(svc: dict[str, Any]) -> str:
    return next(str(d["id"]) for d in svc["deployments"] if d["status"] == "PRIMARY")


# --- construction -------------------------------------------------------------------------------


def test_is_an_action_provider_built_from_settings(moto: str) -> None:
    built = EcsActions.from_settings(Settings(aws_region="eu-west-1", aws_endpoint_url=moto))
    assert isinstance(built, ActionProvider)
    assert built.slug == "ecs"
    assert built.kinds == {"ecs_scale_service", "ecs_force_new_deployment", "ecs_stop_task"}
    assert built.client.meta.region_name == "eu-west-1"
    assert built.client.meta.endpoint_url == moto
    # One attempt per call: Temporal owns retries (max_attempts would still mean one *retry*).
    assert built.client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}


def test_tag_value_and_stop_reason_fit_ecs_limits() -> None:
    assert key_tag_value(KEY) == KEY
    odd = "incident-default-a#b?c:act-1"  # '#' and '?' are not allowed in ECS tag values
    assert key_tag_value(odd).startswith("sha256:")
    assert key_tag_value(odd) != key_tag_value(odd + "x")
    assert key_tag_value("aws:reserved").startswith("sha256:")
    assert len(key_tag_value("k" * 300)) <= 256
    reason = stop_reason("x" * 400, KEY)
    assert len(reason) <= STOP_REASON_LIMIT
    assert reason.endswith(stop_marker(KEY))
    assert stop_marker(KEY) != stop_marker(KEY + "2")


# --- scale --------------------------------------------------------------------------------------


async def test_scale_plan_is_a_diff_and_changes_nothing(provider: EcsActions, ecs: Any, seeded: Seeded) -> None:
    calls = Calls(provider.client)
    plan = await provider.plan(EcsScaleService(cluster="prod", service="api", desired_count=4), key=KEY)
    assert plan.target == "ecs service prod/api"
    assert plan.before == {"desired_count": "2"}
    assert "-desiredCount: 2" in plan.diff.splitlines()
    assert "+desiredCount: 4" in plan.diff.splitlines()
    assert [line for line in plan.diff.splitlines() if line.startswith(("+", "-")) and line[1:2] not in "+-"] == [
        "-desiredCount: 2",
        "+desiredCount: 4",
    ]
    assert calls.names == ["DescribeServices"]
    assert service(ecs)["desiredCount"] == 2


async def test_scale_apply_tags_the_service_and_find_reconciles(provider: EcsActions, ecs: Any, seeded: Seeded) -> None:
    action = EcsScaleService(cluster="prod", service="api", desired_count=4)
    calls = Calls(provider.client)
    assert await provider.find(action, key=KEY) is None

    outcome = await provider.apply(action, key=KEY)

    assert outcome.status == "succeeded"
    assert outcome.provider_ref == seeded.service_arn
    assert service(ecs)["desiredCount"] == 4
    assert tags(ecs, seeded.service_arn)[ACTION_TAG] == KEY
    found = await provider.find(action, key=KEY)
    assert found is not None
    assert found.status == "already_applied"
    assert "tagged" in found.detail
    # A second apply (a retry that skipped find, or a duplicate) does not update again.
    again = await provider.apply(action, key=KEY)
    assert again.status == "already_applied"
    assert calls.count("UpdateService") == 1


async def test_scale_find_treats_the_target_count_as_applied_without_a_tag(
    provider: EcsActions, ecs: Any, seeded: Seeded
) -> None:
    # A crash between update_service and tag_resource leaves the count but no tag: same count again is a no-op.
    ecs.update_service(cluster="prod", service="api", desiredCount=5)
    found = await provider.find(EcsScaleService(cluster="prod", service="api", desired_count=5), key=KEY)
    assert found is not None
    assert found.status == "already_applied"
    assert "already 5" in found.detail
    assert ACTION_TAG not in tags(ecs, seeded.service_arn)
    assert await provider.find(EcsScaleService(cluster="prod", service="api", desired_count=6), key=KEY) is None


async def test_scale_verify_and_rollback(provider: EcsActions, ecs: Any, seeded: Seeded, clock: Clock) -> None:
    action = EcsScaleService(cluster="prod", service="api", desired_count=4)
    plan = await provider.plan(action, key=KEY)
    await provider.apply(action, key=KEY)

    check = await provider.verify(action, key=KEY)
    assert check.ok, check.detail
    assert "running 4/4" in check.detail
    assert clock.sleeps == []

    undone = await provider.rollback(action, key=KEY, plan=plan)
    assert undone.status == "succeeded"
    assert service(ecs)["desiredCount"] == 2
    # The count no longer matches the action: verify says so at once instead of waiting.
    again = await provider.verify(action, key=KEY)
    assert not again.ok
    assert "not 4" in again.detail


async def test_verify_waits_a_bounded_time_for_an_unfinished_rollout(
    provider: EcsActions, ecs: Any, seeded: Seeded, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "0")  # this service's rollout never completes in moto
    ecs.create_service(cluster="prod", serviceName="slow", taskDefinition=seeded.task_definition, desiredCount=3)
    ecs.update_service(cluster="prod", service="slow", desiredCount=3)  # moto: running 3/3, rollout still IN_PROGRESS
    assert service(ecs, "slow")["runningCount"] == 3
    check = await provider.verify(EcsScaleService(cluster="prod", service="slow", desired_count=3), key=KEY)
    assert not check.ok
    assert "not done after 30 s" in check.detail
    assert "running 3/3" in check.detail
    assert "IN_PROGRESS" in check.detail
    assert clock.sleeps == [5, 5, 5, 5, 5, 5]


async def test_rollback_needs_a_recorded_count_and_a_reversible_action(provider: EcsActions, seeded: Seeded) -> None:
    action = EcsScaleService(cluster="prod", service="api", desired_count=4)
    with pytest.raises(ActionError, match="no desired count") as info:
        await provider.rollback(action, key=KEY, plan=ActionPlan(summary="", diff="", target=""))
    assert not info.value.retryable
    with pytest.raises(ActionError, match="cannot be rolled back"):
        await provider.rollback(
            EcsForceNewDeployment(cluster="prod", service="api"),
            key=KEY,
            plan=ActionPlan(summary="", diff="", target=""),
        )


# --- force new deployment ------------------------------------------------------------------------


async def test_force_new_deployment_plan_apply_find_verify(provider: EcsActions, ecs: Any, seeded: Seeded) -> None:
    action = EcsForceNewDeployment(cluster="prod", service="api")
    old = primary_id(service(ecs))
    calls = Calls(provider.client)

    plan = await provider.plan(action, key=KEY)
    assert plan.before["deployment_id"] == old
    assert plan.before["task_definition"] == seeded.task_definition
    assert f"-  - PRIMARY {old}" in plan.diff
    assert "+  - PRIMARY (new deployment)" in plan.diff
    assert f"+  - ACTIVE {old}" in plan.diff
    assert calls.count("UpdateService") == 0
    assert await provider.find(action, key=KEY) is None

    outcome = await provider.apply(action, key=KEY)

    new = primary_id(service(ecs))
    assert new != old
    assert outcome.status == "succeeded"
    assert outcome.provider_ref == f"{seeded.service_arn}#{new}"
    assert tags(ecs, seeded.service_arn) == {
        ACTION_TAG: KEY,
        RECENT_TAG: key_digest(KEY),
        INTENT_KEY_TAG: KEY,
        INTENT_DEPLOYMENT_TAG: old,
    }
    # Intent before the update, the final tag after it.
    assert calls.names[-3:] == ["TagResource", "UpdateService", "TagResource"]
    found = await provider.find(action, key=KEY)
    assert found is not None
    assert found.status == "already_applied"
    check = await provider.verify(action, key=KEY)
    assert check.ok, check.detail
    assert new in check.detail
    assert (await provider.apply(action, key=KEY)).status == "already_applied"
    assert calls.count("UpdateService") == 1
    assert primary_id(service(ecs)) == new


async def test_force_new_deployment_reconciles_when_the_final_tag_never_lands(
    provider: EcsActions, ecs: Any, seeded: Seeded
) -> None:
    """The update succeeds, then the connection drops before the final tag: the retry must not redeploy."""
    action = EcsForceNewDeployment(cluster="prod", service="api")
    calls = Calls(provider.client)
    tag_calls = 0

    def drop_second_tag(**_: Any) -> None:
        nonlocal tag_calls
        tag_calls += 1
        if tag_calls == 2:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")

    provider.client.meta.events.register("before-call.ecs.TagResource", drop_second_tag)
    old = primary_id(service(ecs))

    with pytest.raises(ActionError) as info:
        await provider.apply(action, key=KEY)
    assert info.value.retryable  # Temporal retries the activity, which calls find first

    assert ACTION_TAG not in tags(ecs, seeded.service_arn)
    found = await provider.find(action, key=KEY)
    assert found is not None
    assert found.status == "already_applied"
    assert old in found.detail
    assert (await provider.apply(action, key=KEY)).status == "already_applied"
    assert calls.count("UpdateService") == 1


async def test_force_new_deployment_after_intent_without_update_deploys_once(
    provider: EcsActions, ecs: Any, seeded: Seeded
) -> None:
    """A crash between the intent tag and the update: the retry must deploy (exactly once)."""
    action = EcsForceNewDeployment(cluster="prod", service="api")
    old = primary_id(service(ecs))
    ecs.tag_resource(
        resourceArn=seeded.service_arn,
        tags=[{"key": INTENT_KEY_TAG, "value": KEY}, {"key": INTENT_DEPLOYMENT_TAG, "value": old}],
    )
    calls = Calls(provider.client)
    assert await provider.find(action, key=KEY) is None

    assert (await provider.apply(action, key=KEY)).status == "succeeded"
    assert primary_id(service(ecs)) != old
    assert calls.count("UpdateService") == 1


async def test_a_key_is_still_recognised_after_later_actions(provider: EcsActions, ecs: Any, seeded: Seeded) -> None:
    action = EcsForceNewDeployment(cluster="prod", service="api")
    calls = Calls(provider.client)
    keys = [f"incident-default-k{i}:act-1" for i in range(RECENT_KEYS + 2)]
    for key in keys:
        assert (await provider.apply(action, key=key)).status == "succeeded"

    current = tags(ecs, seeded.service_arn)
    assert current[ACTION_TAG] == keys[-1]
    assert current[RECENT_TAG].split() == [key_digest(k) for k in reversed(keys)][:RECENT_KEYS]
    # A retry of an older action (its activity outlived newer ones) is reconciled, not redeployed...
    older = await provider.find(action, key=keys[2])
    assert older is not None
    assert older.status == "already_applied"
    # ...within the last RECENT_KEYS actions; beyond that the tag's 256 characters run out.
    assert await provider.find(action, key=keys[0]) is None
    assert calls.count("UpdateService") == len(keys)


async def test_another_actions_intent_is_not_mistaken_for_ours(provider: EcsActions, ecs: Any, seeded: Seeded) -> None:
    ecs.tag_resource(
        resourceArn=seeded.service_arn,
        tags=[{"key": INTENT_KEY_TAG, "value": "other:act-9"}, {"key": INTENT_DEPLOYMENT_TAG, "value": "ecs-svc/1"}],
    )
    assert await provider.find(EcsForceNewDeployment(cluster="prod", service="api"), key=KEY) is None


# --- stop task ------------------------------------------------------------------------------------


async def test_stop_task_plan_apply_find_verify(provider: EcsActions, ecs: Any, seeded: Seeded) -> None:
    action = EcsStopTask(cluster="prod", task=seeded.task_id, reason="OOM loop on checkout")
    calls = Calls(provider.client)

    plan = await provider.plan(action, key=KEY)
    assert plan.before == {"last_status": "RUNNING", "desired_status": "RUNNING"}
    assert "-desiredStatus: RUNNING" in plan.diff
    assert "+desiredStatus: STOPPED" in plan.diff
    assert f"+stoppedReason: OOM loop on checkout {stop_marker(KEY)}" in plan.diff
    assert await provider.find(action, key=KEY) is None

    outcome = await provider.apply(action, key=KEY)

    assert outcome.status == "succeeded"
    assert outcome.provider_ref == seeded.task_arn
    task = ecs.describe_tasks(cluster="prod", tasks=[seeded.task_arn])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    assert task["stoppedReason"] == f"OOM loop on checkout {stop_marker(KEY)}"
    found = await provider.find(action, key=KEY)
    assert found is not None
    assert found.status == "already_applied"
    assert "stopped by this action" in found.detail
    assert (await provider.apply(action, key=KEY)).status == "already_applied"
    assert calls.count("StopTask") == 1
    check = await provider.verify(action, key=KEY)
    assert check.ok
    assert "STOPPED" in check.detail


async def test_a_task_stopped_by_someone_else_is_reported_not_stopped_again(
    provider: EcsActions, ecs: Any, seeded: Seeded
) -> None:
    ecs.stop_task(cluster="prod", task=seeded.task_arn, reason="deploy")
    calls = Calls(provider.client)
    outcome = await provider.apply(EcsStopTask(cluster="prod", task=seeded.task_id), key=KEY)
    assert outcome.status == "already_applied"
    assert "deploy" in outcome.detail
    assert "this action" not in outcome.detail
    assert calls.count("StopTask") == 0


async def test_stop_task_that_does_not_exist_is_not_retryable(provider: EcsActions, seeded: Seeded) -> None:
    action = EcsStopTask(cluster="prod", task="0123456789abcdef0123456789abcdef")
    with pytest.raises(ActionError, match="not found") as info:
        await provider.plan(action, key=KEY)
    assert not info.value.retryable
    assert await provider.find(action, key=KEY) is None
    with pytest.raises(ActionError, match="not found"):
        await provider.apply(action, key=KEY)


# --- health and errors ----------------------------------------------------------------------------


async def test_health_against_moto(provider: EcsActions, seeded: Seeded) -> None:
    await provider.health()


async def test_missing_cluster_and_service_are_not_retryable(provider: EcsActions, seeded: Seeded) -> None:
    with pytest.raises(ActionError, match="ClusterNotFoundException") as info:
        await provider.plan(EcsScaleService(cluster="nope", service="api", desired_count=1), key=KEY)
    assert not info.value.retryable
    with pytest.raises(ActionError, match=r"prod/nope not found") as info:
        await provider.apply(EcsScaleService(cluster="prod", service="nope", desired_count=1), key=KEY)
    assert not info.value.retryable


async def test_other_kinds_are_refused(provider: EcsActions) -> None:
    with pytest.raises(ActionError, match="does not execute restart_pod") as info:
        await provider.plan(RestartPod(namespace="shop", pod="p"), key=KEY)
    assert not info.value.retryable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_endpoint_is_retryable() -> None:
    provider = EcsActions(region=REGION, endpoint_url=f"http://127.0.0.1:{_closed_port()}", connect_timeout_seconds=1)
    with pytest.raises(ActionError, match="cannot reach") as info:
        await provider.health()
    assert info.value.retryable


async def test_missing_credentials_are_not_retryable(moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ActionError, match="no usable AWS credentials") as info:
        await EcsActions(region=REGION, endpoint_url=moto).health()
    assert not info.value.retryable


async def test_missing_region_is_not_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(ActionError, match="AI_SRE_AWS_REGION") as info:
        await EcsActions(region=None).health()
    assert not info.value.retryable


class CannedEcs(FakeHTTPServer):
    """Answers ECS JSON-protocol calls (X-Amz-Target) with canned replies: the failures moto cannot produce."""

    def __init__(self, replies: dict[str, Reply]) -> None:
        super().__init__()
        self.replies = replies

    def operations(self) -> list[str]:
        return [r.headers.get("x-amz-target", "").rsplit(".", 1)[-1] for r in self.requests]

    def handle(self, request: RecordedRequest) -> Reply:
        operation = request.headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        return self.replies.get(operation) or _aws_error(400, "InvalidParameterException", f"unexpected {operation}")


def _aws_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, json.dumps({"__type": code, "message": message}), content_type="application/x-amz-json-1.1")


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, "ThrottlingException", True),
        (500, "ServerException", True),
        (503, "ServiceUnavailableException", True),
        (400, "AccessDeniedException", False),
        (400, "InvalidParameterException", False),
        (400, "ClusterNotFoundException", False),
        (400, "ServiceNotFoundException", False),
        (400, "UnrecognizedClientException", False),
    ],
)
async def test_error_codes_map_to_retryable_or_not_with_one_attempt(status: int, code: str, retryable: bool) -> None:
    with CannedEcs({"ListClusters": _aws_error(status, code, "nope")}) as fake:
        provider = EcsActions(region=REGION, endpoint_url=fake.url)
        with pytest.raises(ActionError, match=code) as info:
            await provider.health()
        assert info.value.retryable is retryable
        assert len(fake.requests) == 1  # no botocore retries


_SHORT_ARN_SERVICE = {
    "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/api",  # the old short ARN format
    "serviceName": "api",
    "status": "ACTIVE",
    "desiredCount": 2,
    "runningCount": 2,
    "pendingCount": 0,
    "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:1",
    "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "desiredCount": 2, "runningCount": 2}],
}


async def test_force_new_deployment_refuses_when_the_intent_cannot_be_tagged() -> None:
    replies = {
        "DescribeServices": Reply(200, json.dumps({"services": [_SHORT_ARN_SERVICE], "failures": []})),
        "TagResource": _aws_error(
            400, "InvalidParameterException", "Long arn format must be used for tagging operations"
        ),
    }
    with CannedEcs(replies) as fake:
        provider = EcsActions(region=REGION, endpoint_url=fake.url)
        with pytest.raises(ActionError, match="refuses to run") as info:
            await provider.apply(EcsForceNewDeployment(cluster="prod", service="api"), key=KEY)
        assert not info.value.retryable
        assert "UpdateService" not in fake.operations()


async def test_a_failed_rollout_fails_verification_without_waiting(clock: Clock) -> None:
    failed = _SHORT_ARN_SERVICE | {
        "deployments": [
            {
                "id": "ecs-svc/2",
                "status": "PRIMARY",
                "rolloutState": "FAILED",
                "rolloutStateReason": "tasks failed to start",
            }
        ]
    }
    replies = {"DescribeServices": Reply(200, json.dumps({"services": [failed], "failures": []}))}
    with CannedEcs(replies) as fake:
        provider = EcsActions(region=REGION, endpoint_url=fake.url, sleep=clock.sleep, clock=clock)
        check = await provider.verify(EcsForceNewDeployment(cluster="prod", service="api"), key=KEY)
    assert not check.ok
    assert "rollout FAILED: tasks failed to start" in check.detail
    assert clock.sleeps == []


async def test_scale_goes_ahead_untagged_on_a_short_arn_service() -> None:
    replies = {
        "DescribeServices": Reply(200, json.dumps({"services": [_SHORT_ARN_SERVICE], "failures": []})),
        "UpdateService": Reply(200, json.dumps({"service": _SHORT_ARN_SERVICE | {"desiredCount": 3}})),
        "TagResource": _aws_error(
            400, "InvalidParameterException", "Long arn format must be used for tagging operations"
        ),
    }
    with CannedEcs(replies) as fake:
        provider = EcsActions(region=REGION, endpoint_url=fake.url)
        outcome = await provider.apply(EcsScaleService(cluster="prod", service="api", desired_count=3), key=KEY)
        assert outcome.status == "succeeded"
        assert "not tagged" in outcome.detail
        assert fake.operations() == ["DescribeServices", "UpdateService", "TagResource"]

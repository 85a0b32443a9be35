"""KubernetesActions against the kmock Kubernetes emulator, driven through the official client.

kmock stores objects and applies merge and JSON patches, but runs no controllers: rollout status,
replacement pods and ReplicaSet revisions are what the tests seed (`seed_deployment`, `seed_pod`) or
change between calls. kmock applies every write before any scripted reaction runs, so a reaction that
answers with an error first undoes the write (`reject_first`), as a real API server that refused it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import kmock
import pytest
from pydantic import SecretStr

from adapters.actions.base import ActionError, ActionProvider
from adapters.actions.kubernetes import (
    ACTION_KEY,
    POD_UID,
    RESTARTED_AT,
    ROLLBACK_OF,
    KubernetesActions,
)
from domain.actions import (
    ActionOutcome,
    ActionPlan,
    CatalogAction,
    EcsScaleService,
    RestartPod,
    RollbackDeployment,
    RolloutRestart,
    ScaleDeployment,
)
from domain.settings import Settings

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NS = "shop"
KEY = "incident-default-fp1/action-1"
OTHER_KEY = "incident-default-fp2/action-1"
DEPLOYMENTS = "apps/v1/deployments"
REPLICASETS = "apps/v1/replicasets"
PODS = "v1/pods"
EVENTS = "v1/events"
IMAGES = ("registry.local/checkout:1.4.0", "registry.local/checkout:1.4.1", "registry.local/checkout:1.4.2")


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- seeding helpers (reusable: any test that needs a deployment with history in kmock) ----------------


def declare_resources(cluster: kmock.KubernetesEmulator) -> None:
    """Serve the resources the provider lists (kmock answers 404 for a list of an unknown resource)."""
    for resource in ("v1/namespaces", PODS, EVENTS, DEPLOYMENTS, REPLICASETS):
        cluster.resources[resource] = kmock.ResourceInfo()


def pod_template(app: str, image: str, *, template_hash: str | None = None) -> dict[str, Any]:
    labels = {"app": app} | ({"pod-template-hash": template_hash} if template_hash else {})
    return {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [
                {"name": app, "image": image, "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "250m"}}}
            ]
        },
    }


def rollout_status(replicas: int, *, updated: int | None = None, ready: int | None = None, generation: int = 4) -> dict:
    """A deployment status: every number defaults to `replicas` (a finished rollout)."""
    updated = replicas if updated is None else updated
    ready = replicas if ready is None else ready
    return {
        "observedGeneration": generation,
        "replicas": max(replicas, updated),
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}],
    }


def seed_deployment(
    cluster: kmock.KubernetesEmulator,
    *,
    name: str = "checkout",
    namespace: str = NS,
    replicas: int = 3,
    images: tuple[str, ...] = IMAGES,
    resource_version: str | None = "1000",
    generation: int = 4,
    paused: bool = False,
) -> dict[int, str]:
    """A deployment rolled out once per image; revision N's ReplicaSet runs images[N-1] and the last one
    is current (as the deployment controller leaves them). Returns {revision: ReplicaSet name}."""
    declare_resources(cluster)
    uid = f"uid-deploy-{name}"
    revisions: dict[int, str] = {}
    for number, image in enumerate(images, start=1):
        template_hash = f"{number}f{number}c7d8b9"
        rs_name = f"{name}-{template_hash}"
        current = number == len(images)
        cluster.objects[REPLICASETS, namespace, rs_name] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": namespace,
                "uid": f"uid-rs-{rs_name}",
                "labels": {"app": name, "pod-template-hash": template_hash},
                "annotations": {
                    "deployment.kubernetes.io/revision": str(number),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "kubernetes.io/change-cause": f"deploy {image}",
                },
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": True}
                ],
            },
            "spec": {
                "replicas": replicas if current else 0,
                "selector": {"matchLabels": {"app": name, "pod-template-hash": template_hash}},
                "template": pod_template(name, image, template_hash=template_hash),
            },
            "status": {"replicas": replicas if current else 0},
        }
        revisions[number] = rs_name
    # A ReplicaSet of another deployment with the same labels must never be picked.
    cluster.objects[REPLICASETS, namespace, f"{name}-stranger"] = {
        "metadata": {
            "name": f"{name}-stranger",
            "namespace": namespace,
            "annotations": {"deployment.kubernetes.io/revision": "99"},
            "ownerReferences": [{"kind": "Deployment", "name": f"{name}-canary", "uid": "uid-x", "controller": True}],
        },
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": pod_template(name, "evil:1")},
    }
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "generation": generation,
        "labels": {"app": name},
        "annotations": {
            "deployment.kubernetes.io/revision": str(len(images)),
            "kubernetes.io/change-cause": f"deploy {images[-1]}",
        },
    }
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    cluster.objects[DEPLOYMENTS, namespace, name] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, images[-1]),
        },
        "status": rollout_status(replicas, generation=generation),
    }
    return revisions


def seed_pod(
    cluster: kmock.KubernetesEmulator,
    name: str,
    *,
    namespace: str = NS,
    owner: str | None = "checkout-3f3c7d8b9",
    uid: str | None = None,
    created: datetime = NOW - timedelta(minutes=42),
    ready: bool = True,
) -> None:
    """A pod of the ReplicaSet `owner` (None: a bare pod)."""
    declare_resources(cluster)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid or f"uid-{name}",
        "labels": {"app": "checkout", "pod-template-hash": "3f3c7d8b9"},
        "creationTimestamp": stamp(created),
    }
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": f"uid-rs-{owner}", "controller": True}
        ]
    cluster.objects[PODS, namespace, name] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "checkout", "image": IMAGES[-1]}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "checkout", "ready": ready, "restartCount": 7}],
        },
    }


def reject_first(
    cluster: kmock.KubernetesEmulator,
    verb_path: str,
    key: tuple[str, str, str],
    *,
    status: int,
    times: int = 1,
    meanwhile: Callable[[], None] | None = None,
) -> list[kmock.Request]:
    """Answer the first `times` requests to `verb_path` with `status`, undoing the write kmock already made;
    `meanwhile` runs before answering (another writer that got in between). Returns the rejected requests."""
    rejected: list[kmock.Request] = []

    def react(request: kmock.Request) -> None:
        if len(rejected) >= times:
            return None  # fall through to the emulator
        rejected.append(request)
        del cluster.objects[key].history[-1]
        if meanwhile is not None:
            meanwhile()
        raise kmock.KubernetesError(status=status, reason="Conflict" if status == 409 else "Error", message="refused")

    cluster[verb_path] << react
    return rejected


# --- fixtures and small helpers --------------------------------------------------------------------


def deployment_path(name: str = "checkout") -> str:
    return f"/apis/apps/v1/namespaces/{NS}/deployments/{name}"


def patches(cluster: kmock.KubernetesEmulator, name: str = "checkout") -> list[kmock.Request]:
    return list(cluster[f"patch {deployment_path(name)}"])


def writes(cluster: kmock.KubernetesEmulator) -> list[kmock.Request]:
    return [r for r in cluster if str(r.method).upper().rsplit(".", 1)[-1] in {"POST", "PUT", "PATCH", "DELETE"}]


def deployment(cluster: kmock.KubernetesEmulator, name: str = "checkout") -> dict[str, Any]:
    return dict(cluster.objects[DEPLOYMENTS, NS, name].raw)


def versions(cluster: kmock.KubernetesEmulator, name: str = "checkout") -> list[dict[str, Any]]:
    return [dict(v.raw) for v in cluster.objects[DEPLOYMENTS, NS, name].history if v is not None]


def restarted_at_values(cluster: kmock.KubernetesEmulator) -> list[str | None]:
    return [
        ((v["spec"]["template"].get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
        for v in versions(cluster)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provider_for(url: str, **overrides: Any) -> KubernetesActions:
    settings = Settings(kubernetes_mode="url", kubernetes_url=url, kubernetes_token=SecretStr("t0ken"))
    options: dict[str, Any] = {
        "clock": lambda: NOW,
        "environ": {},
        "verify_timeout_seconds": 0.3,
        "verify_interval_seconds": 0.02,
        "request_timeout_seconds": 5.0,
    }
    return KubernetesActions(settings=settings, **(options | overrides))


@pytest.fixture
def cluster(kmock: kmock.KubernetesEmulator) -> kmock.KubernetesEmulator:
    return kmock


@pytest.fixture
def provider(cluster: kmock.KubernetesEmulator) -> Iterator[KubernetesActions]:
    actions = provider_for(str(cluster.url).rstrip("/"))
    yield actions
    actions.close()


async def execute(provider: KubernetesActions, action: CatalogAction, key: str) -> ActionOutcome:
    """What the execute activity does on every attempt: reconcile first, act only if nothing is found."""
    return await provider.find(action, key=key) or await provider.apply(action, key=key)


RESTART = RolloutRestart(namespace=NS, deployment="checkout")
SCALE = ScaleDeployment(namespace=NS, deployment="checkout", replicas=5)
ROLLBACK = RollbackDeployment(namespace=NS, deployment="checkout")


def test_satisfies_the_protocol(provider: KubernetesActions) -> None:
    assert isinstance(provider, ActionProvider)
    assert provider.slug == "kubernetes"
    assert provider.kinds == {"restart_pod", "rollout_restart", "scale_deployment", "rollback_deployment"}


# --- plan ------------------------------------------------------------------------------------------


async def test_plan_scale_diffs_replicas_and_marks_without_writing(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)

    plan = await provider.plan(SCALE, key=KEY)

    assert plan.target == "deployment shop/checkout"
    assert plan.before == {"replicas": "3"}
    assert plan.summary == "Scale deployment shop/checkout from 3 to 5 replicas"
    assert plan.diff.startswith(
        "--- deployment shop/checkout (live)\n+++ deployment shop/checkout (scale_deployment)\n"
    )
    assert "-  replicas: 3\n+  replicas: 5\n" in plan.diff
    assert f"+    {ACTION_KEY}: {KEY}\n" in plan.diff
    assert "+    aisre.io/action: scale_deployment\n" in plan.diff
    # Unchanged annotations stay out of the diff.
    assert "change-cause" not in plan.diff
    assert writes(cluster) == []
    assert deployment(cluster)["spec"]["replicas"] == 3


async def test_plan_rollout_restart_diffs_the_template_annotation(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)

    plan = await provider.plan(RESTART, key=KEY)

    assert plan.summary == "Restart every pod of deployment shop/checkout with a rolling update (3 replicas)"
    assert plan.before == {"restartedAt": ""}
    assert "+        kubectl.kubernetes.io/restartedAt: '2024-05-01T12:00:00Z'\n" in plan.diff
    assert "   template:\n     metadata:\n" in plan.diff
    assert writes(cluster) == []


async def test_plan_rollback_diffs_current_against_previous_revision_template(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)

    plan = await provider.plan(ROLLBACK, key=KEY)

    assert plan.before == {"revision": "3"}
    assert plan.summary == "Roll deployment shop/checkout back from revision 3 to revision 2"
    assert "-      - image: registry.local/checkout:1.4.2\n+      - image: registry.local/checkout:1.4.1\n" in plan.diff
    # kubectl rollout undo copies the revision's change-cause and drops the controller's hash label.
    assert "-    kubernetes.io/change-cause: deploy registry.local/checkout:1.4.2\n" in plan.diff
    assert "+    kubernetes.io/change-cause: deploy registry.local/checkout:1.4.1\n" in plan.diff
    assert "pod-template-hash" not in plan.diff
    assert writes(cluster) == []


async def test_plan_restart_pod_shows_the_pod_going_away(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_pod(cluster, "checkout-3f3c7d8b9-x2x9z")

    plan = await provider.plan(RestartPod(namespace=NS, pod="checkout-3f3c7d8b9-x2x9z"), key=KEY)

    assert plan.target == "pod shop/checkout-3f3c7d8b9-x2x9z"
    assert plan.before == {"uid": "uid-checkout-3f3c7d8b9-x2x9z", "controller": "ReplicaSet/checkout-3f3c7d8b9"}
    assert plan.summary == "Delete pod shop/checkout-3f3c7d8b9-x2x9z so its ReplicaSet checkout-3f3c7d8b9 replaces it"
    assert "+++ pod shop/checkout-3f3c7d8b9-x2x9z (deleted; ReplicaSet/checkout-3f3c7d8b9 creates a replacement)" in (
        plan.diff
    )
    assert "-    restartCount: 7\n" in plan.diff
    assert not any(line.startswith("+") and not line.startswith("+++") for line in plan.diff.splitlines())
    assert writes(cluster) == []


async def test_a_bare_pod_is_not_restarted(cluster: kmock.KubernetesEmulator, provider: KubernetesActions) -> None:
    seed_pod(cluster, "debug", owner=None)
    action = RestartPod(namespace=NS, pod="debug")

    for call in (provider.plan(action, key=KEY), provider.apply(action, key=KEY)):
        with pytest.raises(ActionError, match="has no controller") as info:
            await call
        assert not info.value.retryable
    assert writes(cluster) == []


async def test_plan_of_a_missing_object_is_a_final_error_naming_it(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    declare_resources(cluster)

    with pytest.raises(ActionError) as deployment_error:
        await provider.plan(ScaleDeployment(namespace=NS, deployment="nope", replicas=2), key=KEY)
    with pytest.raises(ActionError) as pod_error:
        await provider.plan(RestartPod(namespace=NS, pod="gone-1"), key=KEY)

    assert str(deployment_error.value) == "deployment shop/nope not found"
    assert not deployment_error.value.retryable
    assert str(pod_error.value) == "pod shop/gone-1 not found"
    assert not pod_error.value.retryable


async def test_paused_deployment_is_not_restarted(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster, paused=True)

    with pytest.raises(ActionError, match=r"paused .*kubectl rollout resume") as info:
        await provider.apply(RESTART, key=KEY)

    assert not info.value.retryable
    assert patches(cluster) == []


# --- apply + find ----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [RESTART, SCALE, ROLLBACK], ids=lambda a: a.action)
async def test_apply_marks_the_change_and_find_recognises_only_its_key(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions, action: CatalogAction
) -> None:
    seed_deployment(cluster)

    assert await provider.find(action, key=KEY) is None
    outcome = await provider.apply(action, key=KEY)
    found = await provider.find(action, key=KEY)

    assert outcome.status == "succeeded"
    assert outcome.provider_ref == f"deployment shop/checkout annotation {ACTION_KEY}={KEY}"
    assert found is not None
    assert found.status == "already_applied"
    assert found.provider_ref == outcome.provider_ref
    assert await provider.find(action, key=OTHER_KEY) is None
    [patch] = patches(cluster)
    annotations = deployment(cluster)["metadata"]["annotations"]
    assert annotations[ACTION_KEY] == KEY
    assert annotations["aisre.io/action"] == action.action
    # The mark and the change travel in one request, with the resourceVersion as a precondition.
    if isinstance(patch.data, list):
        assert patch.headers["Content-Type"] == "application/json-patch+json"
        assert {"op": "add", "path": "/metadata/resourceVersion", "value": "1000"} in patch.data
    else:
        assert patch.headers["Content-Type"] == "application/strategic-merge-patch+json"
        assert patch.data["metadata"]["resourceVersion"] == "1000"
        assert patch.data["metadata"]["annotations"][ACTION_KEY] == KEY


async def test_scale_sets_replicas_in_the_same_patch_as_the_mark(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)

    await provider.apply(SCALE, key=KEY)

    [patch] = patches(cluster)
    assert writes(cluster) == [patch]  # (the no-write assertions of the plan tests can fail)
    assert patch.data["spec"] == {"replicas": 5}
    assert deployment(cluster)["spec"]["replicas"] == 5
    # Only one version was written: there is no state where the replicas changed without the key.
    assert [(v["spec"]["replicas"], v["metadata"]["annotations"].get(ACTION_KEY)) for v in versions(cluster)] == [
        (3, None),
        (5, KEY),
    ]


async def test_rollout_restart_happens_exactly_once_across_retries(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)

    first = await execute(provider, RESTART, KEY)
    # The worker dies after the provider call but before the result is recorded: Temporal retries.
    second = await execute(provider, RESTART, KEY)
    third = await provider.apply(RESTART, key=KEY)  # even apply alone re-reads and sees the key

    assert (first.status, second.status, third.status) == ("succeeded", "already_applied", "already_applied")
    assert len(patches(cluster)) == 1
    assert restarted_at_values(cluster) == [None, "2024-05-01T12:00:00Z"]
    # The counting is real: an action with another key restarts again.
    later = provider_for(str(cluster.url).rstrip("/"), clock=lambda: NOW + timedelta(minutes=5))
    assert (await execute(later, RESTART, OTHER_KEY)).status == "succeeded"
    assert len(patches(cluster)) == 2
    assert restarted_at_values(cluster)[-1] == "2024-05-01T12:05:00Z"


async def test_an_earlier_key_survives_a_later_action_on_the_same_deployment(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)

    await provider.apply(RESTART, key=KEY)
    await provider.apply(SCALE, key=OTHER_KEY)  # another incident acts on the same deployment
    retried = await execute(provider, RESTART, KEY)

    assert retried.status == "already_applied"
    assert deployment(cluster)["metadata"]["annotations"][ACTION_KEY] == OTHER_KEY
    assert len(patches(cluster)) == 2


async def test_conflict_with_our_own_concurrent_attempt_is_already_applied(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)
    obj_key = (DEPLOYMENTS, NS, "checkout")

    def other_attempt() -> None:
        # A timed-out attempt of the same action lands between our read and our patch.
        cluster.objects[obj_key].patch(
            {
                "metadata": {"annotations": {ACTION_KEY: KEY}, "resourceVersion": "1001"},
                "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2024-05-01T11:59:59Z"}}}},
            }
        )

    rejected = reject_first(cluster, f"patch {deployment_path()}", obj_key, status=409, meanwhile=other_attempt)

    outcome = await provider.apply(RESTART, key=KEY)

    assert outcome.status == "already_applied"
    assert len(rejected) == 1
    assert len(patches(cluster)) == 1  # the refused one: no second PATCH after the fresh read
    assert restarted_at_values(cluster)[-1] == "2024-05-01T11:59:59Z"


async def test_conflict_with_another_writer_is_retried_once_with_a_fresh_read(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)
    obj_key = (DEPLOYMENTS, NS, "checkout")

    def hpa() -> None:
        cluster.objects[obj_key].patch({"metadata": {"resourceVersion": "1001"}, "spec": {"replicas": 4}})

    reject_first(cluster, f"patch {deployment_path()}", obj_key, status=409, meanwhile=hpa)

    outcome = await provider.apply(RESTART, key=KEY)

    first, second = patches(cluster)
    assert outcome.status == "succeeded"
    assert first.data["metadata"]["resourceVersion"] == "1000"
    assert second.data["metadata"]["resourceVersion"] == "1001"
    assert deployment(cluster)["spec"]["replicas"] == 4  # the other writer's change is kept


async def test_repeated_conflicts_are_retryable(cluster: kmock.KubernetesEmulator, provider: KubernetesActions) -> None:
    seed_deployment(cluster)
    reject_first(cluster, f"patch {deployment_path()}", (DEPLOYMENTS, NS, "checkout"), status=409, times=5)

    with pytest.raises(ActionError, match="409 Conflict") as info:
        await provider.apply(SCALE, key=KEY)

    assert info.value.retryable
    assert len(patches(cluster)) == 2
    assert deployment(cluster)["spec"]["replicas"] == 3


# --- rollback_deployment ---------------------------------------------------------------------------


async def test_rollback_restores_the_previous_revision_template(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)

    outcome = await provider.apply(ROLLBACK, key=KEY)

    live = deployment(cluster)
    assert outcome.status == "succeeded"
    assert live["spec"]["template"] == pod_template("checkout", IMAGES[1])
    assert live["metadata"]["annotations"]["kubernetes.io/change-cause"] == f"deploy {IMAGES[1]}"
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"  # kept, as kubectl does
    assert live["metadata"]["annotations"][ACTION_KEY] == KEY
    assert "deployment.kubernetes.io/desired-replicas" not in live["metadata"]["annotations"]
    [patch] = patches(cluster)
    assert patch.data[0] == {"op": "replace", "path": "/spec/template", "value": pod_template("checkout", IMAGES[1])}


async def test_rollback_to_an_explicit_revision_and_a_missing_one(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)

    await provider.apply(RollbackDeployment(namespace=NS, deployment="checkout", to_revision=1), key=KEY)
    with pytest.raises(
        ActionError, match=r"revision 7 of deployment shop/checkout not found \(known: 1, 2, 3\)"
    ) as info:
        await provider.plan(RollbackDeployment(namespace=NS, deployment="checkout", to_revision=7), key=OTHER_KEY)

    assert deployment(cluster)["spec"]["template"] == pod_template("checkout", IMAGES[0])
    assert not info.value.retryable


async def test_rollback_without_history_is_refused(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster, images=IMAGES[:1])

    with pytest.raises(ActionError, match="no previous revision of deployment shop/checkout") as info:
        await provider.apply(ROLLBACK, key=KEY)

    assert not info.value.retryable
    assert patches(cluster) == []


# --- verify ----------------------------------------------------------------------------------------


async def test_scale_verifies_once_the_status_reaches_the_replicas(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)
    await provider.apply(SCALE, key=KEY)
    obj = cluster.objects[DEPLOYMENTS, NS, "checkout"]

    # The controller has not caught up: 3 of 5.
    stuck = await provider.verify(SCALE, key=KEY)
    # The controller catches up while verify polls.
    slow = provider_for(str(cluster.url).rstrip("/"), verify_timeout_seconds=5.0)
    task = asyncio.create_task(slow.verify(SCALE, key=KEY))
    await asyncio.sleep(0.2)
    obj["status"] = rollout_status(5)
    done = await task

    assert not stuck.ok
    assert stuck.detail.startswith("deployment shop/checkout: 3 of 5 new replicas updated; ")
    assert "3/5 updated, 3/5 ready, 3/5 available, 3 total, observedGeneration 4/4" in stuck.detail
    assert done.ok, done.detail
    assert done.detail.startswith("deployment shop/checkout successfully rolled out; 5/5 updated, 5/5 ready")
    assert len(cluster[f"get {deployment_path()}"]) > 4  # it polled


@pytest.mark.parametrize(
    ("status", "generation", "expected"),
    [
        (rollout_status(5, ready=4), 4, "4 of 5 updated replicas ready"),
        (rollout_status(5, generation=3), 4, "the controller has not observed the change yet"),
        (rollout_status(5, updated=4) | {"replicas": 6}, 4, "4 of 5 new replicas updated"),
        ({**rollout_status(5), "replicas": 6}, 4, "1 old replicas pending termination"),
    ],
)
async def test_verify_reports_what_is_missing(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions, status: dict, generation: int, expected: str
) -> None:
    seed_deployment(cluster, replicas=5, generation=generation)
    cluster.objects[DEPLOYMENTS, NS, "checkout"]["status"] = status

    result = await provider.verify(RESTART, key=KEY)

    assert not result.ok
    assert expected in result.detail


async def test_verify_fails_fast_on_an_exceeded_progress_deadline(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)
    status = rollout_status(3, updated=1, ready=0)
    status["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    cluster.objects[DEPLOYMENTS, NS, "checkout"]["status"] = status
    slow = provider_for(str(cluster.url).rstrip("/"), verify_timeout_seconds=30.0)

    result = await asyncio.wait_for(slow.verify(RESTART, key=KEY), 5)

    assert not result.ok
    assert "exceeded its progress deadline" in result.detail


async def test_verify_notices_someone_else_changed_the_replicas(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster, replicas=4)

    result = await provider.verify(SCALE, key=KEY)

    assert not result.ok
    assert "spec.replicas is 4, not 5" in result.detail


# --- rollback of an action -------------------------------------------------------------------------


async def test_scale_rollback_restores_the_planned_replicas_once(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)
    plan = await provider.plan(SCALE, key=KEY)
    await provider.apply(SCALE, key=KEY)

    undone = await provider.rollback(SCALE, key=KEY, plan=plan)
    again = await provider.rollback(SCALE, key=KEY, plan=plan)

    live = deployment(cluster)
    assert undone.status == "succeeded"
    assert undone.provider_ref == f"deployment shop/checkout annotation {ROLLBACK_OF}={KEY}"
    assert again.status == "already_applied"
    assert live["spec"]["replicas"] == 3
    assert live["metadata"]["annotations"][ROLLBACK_OF] == KEY
    assert len(patches(cluster)) == 2  # apply + one rollback


async def test_rollback_deployment_rollback_restores_the_recorded_revision(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)
    plan = await provider.plan(ROLLBACK, key=KEY)
    await provider.apply(ROLLBACK, key=KEY)
    assert deployment(cluster)["spec"]["template"] == pod_template("checkout", IMAGES[1])

    undone = await provider.rollback(ROLLBACK, key=KEY, plan=plan)

    assert undone.status == "succeeded"
    assert deployment(cluster)["spec"]["template"] == pod_template("checkout", IMAGES[2])
    assert deployment(cluster)["metadata"]["annotations"][ROLLBACK_OF] == KEY


async def test_irreversible_actions_and_bad_plans_are_refused(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_deployment(cluster)
    empty = ActionPlan(summary="", diff="", target="deployment shop/checkout")

    for action, plan, message in (
        (RESTART, empty, "rollout_restart cannot be rolled back"),
        (RestartPod(namespace=NS, pod="p"), empty, "restart_pod cannot be rolled back"),
        (SCALE, empty, "recorded no replica count"),
        (ROLLBACK, empty.model_copy(update={"before": {"revision": "42"}}), "revision 42 of deployment shop/checkout"),
    ):
        with pytest.raises(ActionError, match=message) as info:
            await provider.rollback(action, key=KEY, plan=plan)
        assert not info.value.retryable
    assert patches(cluster) == []


# --- restart_pod -----------------------------------------------------------------------------------

POD = "checkout-3f3c7d8b9-x2x9z"
RESTART_POD = RestartPod(namespace=NS, pod=POD)


def deletes(cluster: kmock.KubernetesEmulator) -> list[kmock.Request]:
    return list(cluster[f"delete /api/v1/namespaces/{NS}/pods/{POD}"])


def ledger(cluster: kmock.KubernetesEmulator) -> dict[str, Any]:
    [event] = [dict(obj.raw) for (res, _, _), obj in cluster.objects.items() if res == EVENTS and not obj.deleted]
    return event


async def test_restart_pod_deletes_once_and_a_second_apply_is_a_no_op(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_pod(cluster, POD)

    first = await execute(provider, RESTART_POD, KEY)
    found = await provider.find(RESTART_POD, key=KEY)
    second = await provider.apply(RESTART_POD, key=KEY)

    assert first.status == "succeeded"
    assert first.detail == f"Deleted pod shop/{POD}; ReplicaSet checkout-3f3c7d8b9 creates a replacement"
    assert cluster.objects[PODS, NS, POD].deleted
    assert found is not None
    assert found.status == "already_applied"
    assert second.status == "already_applied"
    assert "is gone" in second.detail
    assert len(deletes(cluster)) == 1
    [delete] = deletes(cluster)
    assert delete.data["preconditions"] == {"uid": f"uid-{POD}"}
    [post] = list(cluster[f"post /api/v1/namespaces/{NS}/events"])
    assert post.headers["Content-Type"] == delete.headers["Content-Type"] == "application/json"
    event = ledger(cluster)
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": POD,
        "namespace": NS,
        "uid": f"uid-{POD}",
    }
    assert event["metadata"]["annotations"][ACTION_KEY] == KEY
    assert await provider.find(RESTART_POD, key=OTHER_KEY) is None


async def test_restart_pod_with_a_same_name_replacement_is_not_restarted_again(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_pod(cluster, POD, owner="db")  # a StatefulSet-like controller reuses the name
    await provider.apply(RESTART_POD, key=KEY)
    seed_pod(cluster, POD, owner="db", uid="uid-new-incarnation", created=NOW + timedelta(seconds=3))

    found = await provider.find(RESTART_POD, key=KEY)
    again = await execute(provider, RESTART_POD, KEY)

    assert found is not None
    assert found.status == "already_applied"
    assert f"uid uid-{POD} -> uid-new-incarnation" in found.detail
    assert again.status == "already_applied"
    assert len(deletes(cluster)) == 1
    assert not cluster.objects[PODS, NS, POD].deleted


async def test_restart_pod_interrupted_between_ledger_and_delete_is_finished_by_the_retry(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_pod(cluster, POD)
    reject_first(cluster, f"delete /api/v1/namespaces/{NS}/pods/{POD}", (PODS, NS, POD), status=503)

    with pytest.raises(ActionError) as info:
        await execute(provider, RESTART_POD, KEY)
    assert info.value.retryable
    assert ledger(cluster)["metadata"]["annotations"][POD_UID] == f"uid-{POD}"
    assert await provider.find(RESTART_POD, key=KEY) is None  # recorded, but the pod still runs

    retried = await execute(provider, RESTART_POD, KEY)

    assert retried.status == "succeeded"
    assert len(deletes(cluster)) == 2
    assert cluster.objects[PODS, NS, POD].deleted
    assert len(cluster[f"post /api/v1/namespaces/{NS}/events"]) == 1  # the ledger entry was written once


async def test_restart_pod_verifies_a_ready_replacement_from_the_same_controller(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_pod(cluster, POD)
    seed_pod(cluster, "checkout-3f3c7d8b9-old11")  # a sibling already running before the restart
    await provider.apply(RESTART_POD, key=KEY)

    before = await provider.verify(RESTART_POD, key=KEY)
    seed_pod(cluster, "checkout-3f3c7d8b9-new22", created=NOW + timedelta(seconds=2), ready=False)
    starting = await provider.verify(RESTART_POD, key=KEY)
    seed_pod(cluster, "checkout-3f3c7d8b9-new22", created=NOW + timedelta(seconds=2), ready=True)
    seed_pod(cluster, "other-9", owner="other-rs", created=NOW + timedelta(seconds=1))  # another controller's
    ready = await provider.verify(RESTART_POD, key=KEY)

    assert not before.ok
    assert before.detail.startswith(f"ReplicaSet/checkout-3f3c7d8b9 has not created a replacement for pod shop/{POD}")
    assert not starting.ok
    assert "not Ready yet: checkout-3f3c7d8b9-new22" in starting.detail
    assert ready.ok, ready.detail
    assert (
        ready.detail
        == f"pod shop/checkout-3f3c7d8b9-new22 from ReplicaSet/checkout-3f3c7d8b9 is Ready (replaces {POD})"
    )


async def test_restart_pod_verify_without_a_record_is_not_ok(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions
) -> None:
    seed_pod(cluster, POD)

    result = await provider.verify(RESTART_POD, key=KEY)

    assert not result.ok
    assert "no record of restarting" in result.detail


# --- errors and health -----------------------------------------------------------------------------


async def test_unreachable_api_is_retryable_and_says_so() -> None:
    actions = provider_for(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(ActionError) as info:
        await actions.apply(SCALE, key=KEY)
    with pytest.raises(ActionError) as health:
        await actions.health()

    assert info.value.retryable
    assert str(info.value).startswith("kubernetes API at http://127.0.0.1:")
    assert "is unreachable: " in str(info.value)
    assert "Traceback" not in str(info.value)
    assert "object at 0x" not in str(info.value)
    assert health.value.retryable


@pytest.mark.parametrize(
    ("status", "retryable", "message"),
    [
        (401, False, "rejected the credentials (401 Unauthorized)"),
        (403, False, "forbids this (403 Forbidden): refused"),
        (422, False, "answered 422 Error: refused"),
        (500, True, "answered 500 Error: refused"),
        (503, True, "answered 503 Error: refused"),
    ],
)
async def test_api_errors_are_mapped(
    cluster: kmock.KubernetesEmulator, provider: KubernetesActions, status: int, retryable: bool, message: str
) -> None:
    seed_deployment(cluster)
    reject_first(cluster, f"patch {deployment_path()}", (DEPLOYMENTS, NS, "checkout"), status=status)

    with pytest.raises(ActionError) as info:
        await provider.apply(SCALE, key=KEY)

    assert info.value.retryable is retryable
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert deployment(cluster)["spec"]["replicas"] == 3


async def test_throttling_carries_retry_after(cluster: kmock.KubernetesEmulator, provider: KubernetesActions) -> None:
    seed_deployment(cluster)
    cluster[f"get {deployment_path()}"] << (
        lambda: kmock.Response(status=429, headers={"Retry-After": "7"}, payload={"reason": "TooManyRequests"})
    )

    with pytest.raises(ActionError) as info:
        await provider.find(SCALE, key=KEY)

    assert info.value.retryable
    assert info.value.retry_after == 7.0
    assert "429 TooManyRequests" in str(info.value)


async def test_health_good_and_failing(cluster: kmock.KubernetesEmulator, provider: KubernetesActions) -> None:
    declare_resources(cluster)

    await provider.health()  # lists deployments cluster-wide
    assert len(cluster["get /apis/apps/v1/deployments"]) == 1

    cluster["get /apis/apps/v1/deployments"] << kmock.KubernetesError(
        status=403, reason="Forbidden", message='cannot list resource "deployments" at the cluster scope'
    )
    await provider.health()  # a namespace-scoped account: its own namespace answers
    assert len(cluster["get /apis/apps/v1/namespaces/default/deployments"]) == 1

    cluster["get /apis/apps/v1/namespaces/default/deployments"] << kmock.KubernetesError(
        status=403, reason="Forbidden", message='cannot list resource "deployments" in "default"'
    )
    with pytest.raises(ActionError, match=r"forbids this \(403 Forbidden\): cannot list resource") as denied:
        await provider.health()
    assert not denied.value.retryable


async def test_health_unauthorized(cluster: kmock.KubernetesEmulator, provider: KubernetesActions) -> None:
    cluster["get /apis/apps/v1/deployments"] << kmock.KubernetesError(status=401, reason="Unauthorized", message="no")

    with pytest.raises(ActionError, match=r"rejected the credentials \(401 Unauthorized\)") as info:
        await provider.health()

    assert not info.value.retryable
    [request] = list(cluster["get /apis/apps/v1/deployments"])
    assert request.headers["Authorization"] == "Bearer t0ken"


async def test_not_configured_and_foreign_actions_are_final() -> None:
    off = KubernetesActions(settings=Settings(kubernetes_mode="off"), environ={})

    with pytest.raises(ActionError, match="kubernetes is not configured") as info:
        await off.health()
    assert not info.value.retryable
    assert not off.enabled
    with pytest.raises(ActionError, match="ecs_scale_service is not a kubernetes action"):
        await off.apply(EcsScaleService(cluster="c", service="s", desired_count=2), key=KEY)


def test_recent_keys_are_bounded(cluster: kmock.KubernetesEmulator) -> None:
    from adapters.actions.kubernetes import RECENT_KEYS, _marks

    obj: dict[str, Any] = {"metadata": {"annotations": {}}}
    for i in range(25):
        obj["metadata"]["annotations"] = _marks(obj, key=f"k{i}", kind="scale_deployment")

    assert json.loads(obj["metadata"]["annotations"][RECENT_KEYS]) == [f"k{i}" for i in range(15, 25)]

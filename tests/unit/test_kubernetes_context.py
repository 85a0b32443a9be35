"""KubernetesContext against the kmock Kubernetes emulator (driven by the official client), and the pure
kubectl renderers against hand-built V1 objects.

kmock serves stored objects for get/list, but ignores label and field selectors and has no `log`
subresource: the log endpoints are scripted per test with the text/plain body the real API returns.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import kmock
import pytest
from kubernetes import client as k8s
from pydantic import SecretStr

from adapters.context import kubectl_text as kt
from adapters.context.base import Toolbox
from adapters.context.kubernetes import (
    METRICS_UNAVAILABLE,
    NOT_A_KUBERNETES_TOOL,
    NOT_CONFIGURED,
    KubernetesContext,
    KubernetesUnavailable,
    resolve_mode,
    selector_matcher,
)
from domain.diagnosis import ToolCall, ToolName, ToolResult
from domain.settings import Settings

M = TypeVar("M")
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NS = "shop"
CHECKOUT_POD = "checkout-7d9f8b6c5d-x2x9z"
PAYMENTS_POD = "payments-5f6c7d8b9-qwert"
PENDING_POD = "report-gen-6b8d9c7f4-abcde"
DB_POD = "db-0"
FORBIDDEN = 'pods is forbidden: User "system:serviceaccount:aisre:aisre" cannot list resource "pods" in API group ""'


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat().replace("+00:00", "Z")


# --- objects as the API server returns them -----------------------------------------------------------


def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "250m", "memory": "128Mi"}},
        **extra,
    }


def pod(
    name: str,
    *,
    app: str,
    node: str | None = "node-a",
    phase: str = "Running",
    statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    owner: str | None = None,
    owner_uid: str = "",
    namespace: str = NS,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "labels": {"app": app},
        "creationTimestamp": ago(minutes=42),
    }
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner_uid, "controller": True}
        ]
    spec: dict[str, Any] = {
        "containers": [container(app, f"registry.local/{app}:1.4.2")],
        "volumes": volumes or [],
        "priority": 0,
        "serviceAccountName": "default",
    }
    status: dict[str, Any] = {"phase": phase, "qosClass": "Burstable", "conditions": conditions or []}
    if node:
        spec["nodeName"] = node
        status |= {"hostIP": "10.0.0.5", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}]}
        status["startTime"] = ago(minutes=42)
    if statuses is not None:
        status["containerStatuses"] = statuses
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def crashing_status(app: str, *, reason: str, exit_code: int, restarts: int) -> dict[str, Any]:
    return {
        "name": app,
        "image": f"registry.local/{app}:1.4.2",
        "imageID": f"registry.local/{app}@sha256:0123",
        "containerID": "containerd://4f1c",
        "ready": False,
        "restartCount": restarts,
        "started": False,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "lastState": {
            "terminated": {
                "reason": reason,
                "exitCode": exit_code,
                "startedAt": ago(minutes=3),
                "finishedAt": ago(minutes=2, seconds=30),
            }
        },
    }


def event(
    name: str,
    *,
    kind: str,
    obj: str,
    reason: str,
    message: str,
    type_: str = "Warning",
    count: int = 1,
    source: str = "kubelet",
    minutes: float = 2,
    namespace: str = NS,
    uid: str | None = None,
) -> dict[str, Any]:
    involved: dict[str, Any] = {"kind": kind, "name": obj, "namespace": namespace}
    if uid:
        involved["uid"] = uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": ago(minutes=40 if count > 1 else minutes),
        "lastTimestamp": ago(minutes=minutes),
        "source": {"component": source},
    }


PREVIOUS_LOG = (
    "starting checkout 1.4.2\nloading catalogue into memory\nFATAL: out of memory while caching 2.1GB catalogue\n"
)
CURRENT_LOG = "starting checkout 1.4.2\nloading catalogue into memory\n"


def seed(cluster: kmock.KubernetesEmulator) -> list[dict[str, str]]:
    """A namespace in trouble; returns the query params every log request arrived with."""
    # Served resources (kmock answers 404 for a list of a resource it does not know, as an API server would).
    for resource in (
        "v1/pods",
        "v1/events",
        "v1/nodes",
        "v1/persistentvolumeclaims",
        "v1/persistentvolumes",
        "v1/services",
        "v1/endpoints",
        "apps/v1/deployments",
        "apps/v1/replicasets",
        "batch/v1/jobs",
        "storage.k8s.io/v1/storageclasses",
        "metrics.k8s.io/v1beta1/pods",
        "metrics.k8s.io/v1beta1/nodes",
    ):
        cluster.resources[resource] = kmock.ResourceInfo()
    objects = cluster.objects
    dep_uid, new_rs_uid = "uid-deploy-checkout", "uid-rs-checkout-new"
    objects["v1/pods", NS, CHECKOUT_POD] = pod(
        CHECKOUT_POD,
        app="checkout",
        owner="checkout-7d9f8b6c5d",
        owner_uid=new_rs_uid,
        statuses=[crashing_status("checkout", reason="OOMKilled", exit_code=137, restarts=7)],
        conditions=[{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
    )
    objects["v1/pods", NS, PAYMENTS_POD] = pod(
        PAYMENTS_POD,
        app="payments",
        statuses=[crashing_status("payments", reason="Error", exit_code=1, restarts=4)],
    )
    objects["v1/pods", NS, PENDING_POD] = pod(
        PENDING_POD,
        app="report-gen",
        node=None,
        phase="Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
            }
        ],
    )
    objects["v1/pods", NS, DB_POD] = pod(
        DB_POD,
        app="db",
        node=None,
        phase="Pending",
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}],
    )
    objects["v1/pods", NS, "migrate-once-1"] = pod("migrate-once-1", app="migrate", phase="Succeeded", statuses=[])
    objects["v1/pods", "web", "frontend-1"] = pod("frontend-1", app="frontend", namespace="web", node="node-b")
    objects["apps/v1/deployments", NS, "checkout"] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": NS,
            "uid": dep_uid,
            "labels": {"app": "checkout"},
            "annotations": {"deployment.kubernetes.io/revision": "2"},
            "creationTimestamp": ago(days=30),
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "checkout"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [container("checkout", "registry.local/checkout:1.4.2")]},
            },
        },
        "status": {
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "unavailableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    }
    for rs_name, uid, revision, replicas in (
        ("checkout-7d9f8b6c5d", new_rs_uid, "2", 3),
        ("checkout-5b7c9d8e6f", "uid-rs-checkout-old", "1", 0),
    ):
        objects["apps/v1/replicasets", NS, rs_name] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": NS,
                "uid": uid,
                "annotations": {"deployment.kubernetes.io/revision": revision},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "checkout",
                        "uid": dep_uid,
                        "controller": True,
                    }
                ],
                "creationTimestamp": ago(days=1),
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "checkout"}},
                "template": {"metadata": {"labels": {"app": "checkout"}}, "spec": {"containers": []}},
            },
            "status": {"replicas": replicas},
        }
    objects["v1/nodes", None, "node-a"] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "node-a",
            "uid": "uid-node-a",
            "labels": {"kubernetes.io/hostname": "node-a", "node-role.kubernetes.io/worker": ""},
            "creationTimestamp": ago(days=90),
        },
        "spec": {"taints": [{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "True",
                    "reason": "KubeletHasInsufficientMemory",
                    "message": "kubelet has insufficient memory available",
                    "lastHeartbeatTime": ago(minutes=1),
                    "lastTransitionTime": ago(minutes=20),
                },
                {
                    "type": "DiskPressure",
                    "status": "False",
                    "reason": "KubeletHasNoDiskPressure",
                    "message": "kubelet has no disk pressure",
                    "lastHeartbeatTime": ago(minutes=1),
                    "lastTransitionTime": ago(days=90),
                },
                {
                    "type": "PIDPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientPID",
                    "message": "kubelet has sufficient PID available",
                    "lastHeartbeatTime": ago(minutes=1),
                    "lastTransitionTime": ago(days=90),
                },
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": ago(minutes=1),
                    "lastTransitionTime": ago(days=90),
                },
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "node-a"}],
            "nodeInfo": {
                "machineID": "m",
                "systemUUID": "s",
                "bootID": "b",
                "kernelVersion": "6.1.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.2",
                "kubeletVersion": "v1.29.3",
                "kubeProxyVersion": "v1.29.3",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
    objects["v1/persistentvolumeclaims", NS, "data-db-0"] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "data-db-0",
            "namespace": NS,
            "uid": "uid-pvc",
            "finalizers": ["kubernetes.io/pvc-protection"],
            "creationTimestamp": ago(minutes=30),
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "fast-ssd",
            "resources": {"requests": {"storage": "10Gi"}},
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Pending"},
    }
    objects["batch/v1/jobs", NS, "nightly-report"] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "nightly-report", "namespace": NS, "uid": "uid-job", "creationTimestamp": ago(hours=2)},
        "spec": {
            "backoffLimit": 6,
            "completions": 1,
            "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-job"}},
            "template": {
                "metadata": {"labels": {"job-name": "nightly-report"}},
                "spec": {
                    "containers": [{"name": "report", "image": "registry.local/report:3"}],
                    "restartPolicy": "Never",
                },
            },
        },
        "status": {
            "failed": 7,
            "ready": 0,
            "startTime": ago(hours=2),
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
        },
    }
    objects["v1/services", NS, "checkout"] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "checkout", "namespace": NS, "uid": "uid-svc", "creationTimestamp": ago(days=30)},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.12.34",
            "clusterIPs": ["10.96.12.34"],
            "selector": {"app": "checkout"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            "sessionAffinity": "None",
        },
    }
    objects["v1/endpoints", NS, "checkout"] = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "checkout", "namespace": NS, "creationTimestamp": ago(days=30)},
        "subsets": [
            {"notReadyAddresses": [{"ip": "10.244.1.7"}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
        ],
    }
    events = [
        event(
            "e-backoff",
            kind="Pod",
            obj=CHECKOUT_POD,
            uid=f"uid-{CHECKOUT_POD}",
            reason="BackOff",
            message="Back-off restarting failed container checkout in pod checkout-7d9f8b6c5d-x2x9z_shop",
            count=25,
        ),
        event(
            "e-payments",
            kind="Pod",
            obj=PAYMENTS_POD,
            reason="BackOff",
            message="Back-off restarting failed container payments",
        ),
        event(
            "e-stale",  # an older pod with the same name: kubectl matches the uid, so it is not shown
            kind="Pod",
            obj=CHECKOUT_POD,
            uid="uid-previous-incarnation",
            reason="Killing",
            message="Stopping container checkout",
            type_="Normal",
        ),
        event(
            "e-sched",
            kind="Pod",
            obj=PENDING_POD,
            reason="FailedScheduling",
            message="0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod.",
            source="default-scheduler",
            minutes=1,
        ),
        event(
            "e-pvc",
            kind="PersistentVolumeClaim",
            obj="data-db-0",
            reason="ProvisioningFailed",
            message='storageclass.storage.k8s.io "fast-ssd" not found',
            source="persistentvolume-controller",
            count=12,
        ),
        event(
            "e-job",
            kind="Job",
            obj="nightly-report",
            reason="BackoffLimitExceeded",
            message="Job has reached the specified backoff limit",
            source="job-controller",
        ),
        event(
            "e-node",
            kind="Node",
            obj="node-a",
            namespace="default",
            reason="EvictionThresholdMet",
            message="Attempting to reclaim memory",
            source="kubelet",
        ),
    ]
    for item in events:
        namespace = item["metadata"]["namespace"]
        objects["v1/events", namespace, item["metadata"]["name"]] = item
    objects["metrics.k8s.io/v1beta1/pods", NS, CHECKOUT_POD] = {
        "metadata": {"name": CHECKOUT_POD, "namespace": NS, "labels": {"app": "checkout"}},
        "containers": [{"name": "checkout", "usage": {"cpu": "12345678n", "memory": "250Mi"}}],
    }
    objects["metrics.k8s.io/v1beta1/pods", NS, PAYMENTS_POD] = {
        "metadata": {"name": PAYMENTS_POD, "namespace": NS, "labels": {"app": "payments"}},
        "containers": [{"name": "payments", "usage": {"cpu": "3m", "memory": "64Mi"}}],
    }
    objects["metrics.k8s.io/v1beta1/nodes", None, "node-a"] = {
        "metadata": {"name": "node-a"},
        "usage": {"cpu": "1500m", "memory": "7680Mi"},
    }

    log_requests: list[dict[str, str]] = []

    def log(request: kmock.Request) -> kmock.Response:
        log_requests.append(dict(request.params))
        body = PREVIOUS_LOG if request.params.get("previous") == "true" else CURRENT_LOG
        return kmock.Response(headers={"Content-Type": "text/plain"}, payload=body.encode())

    cluster[f"get /api/v1/namespaces/{NS}/pods/{CHECKOUT_POD}/log"] << log
    return log_requests


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def cluster(kmock: kmock.KubernetesEmulator) -> kmock.KubernetesEmulator:
    return kmock


@pytest.fixture
def log_requests(cluster: kmock.KubernetesEmulator) -> list[dict[str, str]]:
    return seed(cluster)


def context_for(url: str, **overrides: Any) -> KubernetesContext:
    settings = Settings(kubernetes_mode="url", kubernetes_url=url, kubernetes_token=SecretStr("t0ken"))
    return KubernetesContext(settings=settings, clock=lambda: NOW, environ={}, **overrides)


@pytest.fixture
def ctx(cluster: kmock.KubernetesEmulator, log_requests: list[dict[str, str]]) -> Iterator[KubernetesContext]:
    context = context_for(str(cluster.url).rstrip("/"))
    yield context
    context.close()


async def run(ctx: KubernetesContext, tool: ToolName, **params: str) -> ToolResult:
    return await ctx.call(ToolCall(id="c1", tool=tool, params=params))


def column(table: str, row_name: str, header: str) -> str:
    """A cell of a kubectl table, located by the header's column span (cells may be empty)."""
    lines = table.splitlines()
    head = lines[0]
    start = head.index(header)
    rest = re.search(r"\S", head[start + len(header) :])
    end = start + len(header) + rest.start() if rest else None
    for line in lines[1:]:
        if re.search(rf"(^|\s){re.escape(row_name)}(\s|$)", line):
            return line[start:end].strip()
    raise AssertionError(f"no row {row_name!r} in:\n{table}")


def build(cls: type[M], data: dict[str, Any]) -> M:
    """A client model from API JSON (from_dict is typed Optional)."""
    obj = cls.from_dict(data)  # type: ignore[attr-defined]
    assert isinstance(obj, cls)
    return obj


def first_request(view: Any) -> kmock.Request:
    request = view[0]
    assert isinstance(request, kmock.Request)
    return request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- describe --------------------------------------------------------------------------------------


async def test_describe_crashlooping_pod_reads_like_kubectl(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_describe, kind="pod", name=CHECKOUT_POD, namespace=NS)

    assert result.ok, result.output
    text = result.output
    assert text.startswith(f"Name:             {CHECKOUT_POD}\nNamespace:        shop\n")
    assert "Node:             node-a/10.0.0.5\n" in text
    assert "Controlled By:  ReplicaSet/checkout-7d9f8b6c5d\n" in text
    assert (
        "    State:          Waiting\n"
        "      Reason:       CrashLoopBackOff\n"
        "    Last State:     Terminated\n"
        "      Reason:       OOMKilled\n"
        "      Exit Code:    137\n"
        "      Started:      Wed, 01 May 2024 11:57:00 +0000\n"
        "      Finished:     Wed, 01 May 2024 11:57:30 +0000\n"
        "    Ready:          False\n"
        "    Restart Count:  7\n"
    ) in text
    assert "    Limits:\n      cpu:     500m\n      memory:  256Mi\n" in text
    # The condition rows share a column block with the lines after them, exactly as kubectl's tabwriter does.
    assert (
        "Conditions:\n  Type           Status\n  Ready          False \n  PodScheduled   True \nVolumes:         <none>\n"
        in text
    )
    assert re.search(
        r"^Events:\n  Type\s+Reason\s+Age\s+From\s+Message\n  ----\s+------\s+----\s+----\s+-------$", text, re.M
    )
    assert re.search(
        r"^  Warning\s+BackOff\s+2m \(x25 over 40m\)\s+kubelet\s+Back-off restarting failed container", text, re.M
    )
    # Only this pod's events, and not those of an older pod that had the same name.
    assert "payments" not in text
    assert "Stopping container" not in text


async def test_describe_pending_pod_shows_the_scheduler_event(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_describe, kind="pod", name=PENDING_POD, namespace=NS)

    assert result.ok, result.output
    assert "Node:             <none>\n" in result.output
    assert "Status:           Pending\n" in result.output
    assert re.search(r"^  PodScheduled\s+False $", result.output, re.M)
    assert re.search(
        r"^  Warning\s+FailedScheduling\s+60s\s+default-scheduler\s+0/3 nodes are available: 3 Insufficient memory\.",
        result.output,
        re.M,
    )


async def test_describe_without_a_name_covers_every_matching_object(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_describe, kind="pods", namespace=NS, selector="app in (checkout,payments)")

    assert result.ok, result.output
    names = re.findall(r"^Name:\s+(\S+)$", result.output, re.M)
    assert names == [CHECKOUT_POD, PAYMENTS_POD]
    # kubectl separates descriptions with a blank line pair.
    assert "\n\n\nName:             payments" in result.output
    assert "      Reason:       Error\n      Exit Code:    1\n" in result.output


async def test_describe_deployment(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_describe, kind="deployment", name="checkout", namespace=NS)

    assert result.ok, result.output
    text = result.output
    assert "Replicas:               3 desired | 3 updated | 3 total | 2 available | 1 unavailable\n" in text
    assert "StrategyType:           RollingUpdate\n" in text
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge\n" in text
    assert "Selector:               app=checkout\n" in text
    assert "Pod Template:\n  Labels:  app=checkout\n  Containers:\n   checkout:\n" in text
    assert re.search(r"^  Available\s+True\s+MinimumReplicasAvailable$", text, re.M)
    assert "OldReplicaSets:  checkout-5b7c9d8e6f (0/0 replicas created)\n" in text
    assert "NewReplicaSet:   checkout-7d9f8b6c5d (3/3 replicas created)\n" in text


async def test_describe_node_under_memory_pressure(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_describe, kind="node", name="node-a")

    assert result.ok, result.output
    text = result.output
    assert "Roles:              worker\n" in text
    assert "Taints:             node.kubernetes.io/memory-pressure:NoSchedule\n" in text
    assert re.search(
        r"^  MemoryPressure\s+True\s+Wed, 01 May 2024 11:59:00 \+0000\s+Wed, 01 May 2024 11:40:00 \+0000\s+"
        r"KubeletHasInsufficientMemory\s+kubelet has insufficient memory available$",
        text,
        re.M,
    )
    for condition in ("DiskPressure", "PIDPressure", "Ready"):
        assert re.search(rf"^  {condition}\s+(True|False) ", text, re.M)
    assert "Capacity:\n  cpu:     2\n  memory:  8Gi\n  pods:    110\n" in text
    # Two running pods on node-a (the Succeeded one and node-b's pod are left out), 250m + 250m of 2 cores.
    assert "Non-terminated Pods:          (2 in total)\n" in text
    assert re.search(r"^  cpu\s+500m \(25%\)\s+1 \(50%\)$", text, re.M)
    assert re.search(r"^  memory\s+256Mi \(3%\)\s+512Mi \(6%\)$", text, re.M)
    assert re.search(r"^  Warning\s+EvictionThresholdMet\s+2m\s+kubelet\s+Attempting to reclaim memory$", text, re.M)


async def test_describe_pending_pvc(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_describe, kind="pvc", name="data-db-0", namespace=NS)

    assert result.ok, result.output
    text = result.output
    assert "StorageClass:  fast-ssd\nStatus:        Pending\nVolume:        \n" in text
    assert "Finalizers:    [kubernetes.io/pvc-protection]\n" in text
    assert "Used By:       db-0\n" in text
    assert re.search(
        r"^  Warning\s+ProvisioningFailed\s+2m \(x12 over 40m\)\s+persistentvolume-controller\s+"
        r'storageclass.storage.k8s.io "fast-ssd" not found$',
        text,
        re.M,
    )


async def test_describe_failed_job(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_describe, kind="job", name="nightly-report", namespace=NS)

    assert result.ok, result.output
    assert "Backoff Limit:  6\n" in result.output
    assert "Pods Statuses:  0 Active (0 Ready) / 0 Succeeded / 7 Failed\n" in result.output
    assert re.search(
        r"^  Warning\s+BackoffLimitExceeded\s+2m\s+job-controller\s+Job has reached the specified backoff limit$",
        result.output,
        re.M,
    )


async def test_describe_service_with_no_ready_endpoints(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_describe, kind="svc", name="checkout", namespace=NS)

    assert result.ok, result.output
    assert "Selector:          app=checkout\n" in result.output
    assert "Port:              http  80/TCP\nTargetPort:        8080/TCP\nEndpoints:         \n" in result.output


async def test_kind_slash_name_and_default_namespace(cluster: kmock.KubernetesEmulator, log_requests: Any) -> None:
    settings = Settings(kubernetes_mode="url", kubernetes_url=str(cluster.url).rstrip("/"))
    context = KubernetesContext(settings=settings, clock=lambda: NOW, environ={})
    # url mode has no namespace of its own: a named object without one is looked up in "default".
    missing = await run(context, ToolName.kubectl_describe, name="deployment/checkout")
    found = await run(context, ToolName.kubectl_describe, name="deployment/checkout", namespace=NS)

    assert not missing.ok
    assert missing.output == 'Error from server (NotFound): deployments.apps "checkout" not found'
    assert found.ok, found.output
    assert found.output.startswith("Name:                   checkout\n")


# --- get -------------------------------------------------------------------------------------------


async def test_get_pods_wide_computes_status_like_kubectl(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_get, kind="pods", namespace=NS)

    assert result.ok, result.output
    table = result.output
    assert re.match(r"NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\n", table)
    assert column(table, CHECKOUT_POD, "STATUS") == "CrashLoopBackOff"
    assert column(table, CHECKOUT_POD, "READY") == "0/1"
    assert column(table, CHECKOUT_POD, "RESTARTS") == "7 (2m30s ago)"
    assert column(table, CHECKOUT_POD, "NODE") == "node-a"
    assert column(table, PENDING_POD, "STATUS") == "Pending"
    assert column(table, PENDING_POD, "IP") == "<none>"
    assert column(table, "migrate-once-1", "STATUS") == "Succeeded"
    assert "frontend-1" not in table  # another namespace


async def test_get_with_selector_and_all_namespaces(ctx: KubernetesContext) -> None:
    selected = await run(ctx, ToolName.kubectl_get, kind="po", namespace=NS, selector="app=checkout")
    everywhere = await run(ctx, ToolName.kubectl_get, kind="pod")

    assert [line.split()[0] for line in selected.output.splitlines()[1:]] == [CHECKOUT_POD]
    assert everywhere.output.startswith("NAMESPACE   NAME ")
    assert column(everywhere.output, "frontend-1", "NAMESPACE") == "web"
    assert column(everywhere.output, CHECKOUT_POD, "NAMESPACE") == NS


async def test_get_other_kinds(ctx: KubernetesContext) -> None:
    jobs = await run(ctx, ToolName.kubectl_get, kind="jobs", namespace=NS)
    pvcs = await run(ctx, ToolName.kubectl_get, kind="pvc", namespace=NS)
    nodes = await run(ctx, ToolName.kubectl_get, kind="nodes")
    deployments = await run(ctx, ToolName.kubectl_get, kind="deploy", namespace=NS)

    assert column(jobs.output, "nightly-report", "STATUS") == "Failed"
    assert column(jobs.output, "nightly-report", "COMPLETIONS") == "0/1"
    assert column(pvcs.output, "data-db-0", "STATUS") == "Pending"
    assert column(pvcs.output, "data-db-0", "VOLUME") == ""
    assert column(pvcs.output, "data-db-0", "STORAGECLASS") == "fast-ssd"
    assert column(nodes.output, "node-a", "STATUS") == "Ready"
    assert column(nodes.output, "node-a", "ROLES") == "worker"
    assert column(deployments.output, "checkout", "READY") == "2/3"


async def test_empty_namespace_says_no_resources(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_get, kind="pods", namespace="empty")

    assert result.ok
    assert result.output == "No resources found in empty namespace.\n"


# --- logs ------------------------------------------------------------------------------------------


async def test_current_and_previous_logs(ctx: KubernetesContext, log_requests: list[dict[str, str]]) -> None:
    current = await run(ctx, ToolName.kubectl_logs, name=CHECKOUT_POD, namespace=NS)
    previous = await run(ctx, ToolName.kubectl_previous_logs, name=CHECKOUT_POD, namespace=NS, tail="50")

    assert current.ok
    assert current.output == CURRENT_LOG
    assert previous.ok
    assert previous.output == PREVIOUS_LOG
    # The default container is chosen like kubectl (the pod's first), the tail defaults to 200 lines.
    assert log_requests[0]["container"] == "checkout"
    assert log_requests[0]["tailLines"] == "200"
    assert "previous" not in log_requests[0] or log_requests[0]["previous"] == "false"
    assert log_requests[1]["previous"] == "true"
    assert log_requests[1]["tailLines"] == "50"


async def test_logs_by_selector_prefix_each_line(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_previous_logs, namespace=NS, selector="app=checkout")

    assert result.ok, result.output
    assert f"[pod/{CHECKOUT_POD}/checkout] FATAL: out of memory while caching 2.1GB catalogue" in result.output


async def test_previous_logs_when_the_container_never_restarted(
    cluster: kmock.KubernetesEmulator, log_requests: Any
) -> None:
    message = f'previous terminated container "payments" in pod "{PAYMENTS_POD}" not found'
    cluster[f"get /api/v1/namespaces/{NS}/pods/{PAYMENTS_POD}/log"] << kmock.KubernetesError(
        status=400, reason="BadRequest", message=message
    )
    context = context_for(str(cluster.url).rstrip("/"))

    single = await run(context, ToolName.kubectl_previous_logs, name=PAYMENTS_POD, namespace=NS)
    both = await run(context, ToolName.kubectl_previous_logs, namespace=NS, selector="app in (checkout,payments)")

    assert not single.ok
    assert single.output == f"Error from server (BadRequest): {message}"
    assert both.ok
    assert f"[pod/{PAYMENTS_POD}/payments] Error from server (BadRequest): {message}" in both.output
    assert f"[pod/{CHECKOUT_POD}/checkout] FATAL: out of memory while caching 2.1GB catalogue" in both.output


async def test_logs_of_a_missing_pod(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_logs, name="x", namespace=NS)
    with_container = await run(ctx, ToolName.kubectl_logs, name="x", namespace=NS, container="app")

    assert not result.ok
    assert result.output == 'Error from server (NotFound): pods "x" not found'
    assert with_container.output == 'Error from server (NotFound): pods "x" not found'


# --- events and top -----------------------------------------------------------------------------------


async def test_events_for_one_object(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_events, namespace=NS, kind="pod", name=PENDING_POD)

    assert result.ok, result.output
    lines = result.output.splitlines()
    assert re.match(r"LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$", lines[0])
    assert len(lines) == 2
    assert re.match(rf"60s\s+Warning\s+FailedScheduling\s+pod/{PENDING_POD}\s+0/3 nodes are available", lines[1])


async def test_events_of_a_namespace_oldest_first(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.kubectl_events, namespace=NS)

    reasons = [column(result.output, obj, "REASON") for obj in ("pod/" + PENDING_POD,)]
    assert reasons == ["FailedScheduling"]
    assert result.output.splitlines()[-1].split()[2] == "FailedScheduling"  # the newest comes last
    assert "EvictionThresholdMet" not in result.output  # in the default namespace


async def test_top_pods_and_nodes(ctx: KubernetesContext) -> None:
    pods = await run(ctx, ToolName.kubectl_top, kind="pod", namespace=NS)
    nodes = await run(ctx, ToolName.kubectl_top, kind="node")
    one = await run(ctx, ToolName.kubectl_top, name=CHECKOUT_POD, namespace=NS)

    assert pods.output == (
        "NAME                        CPU(cores)   MEMORY(bytes)   \n"
        "checkout-7d9f8b6c5d-x2x9z   13m          250Mi           \n"
        "payments-5f6c7d8b9-qwert    3m           64Mi            \n"
    )
    assert nodes.output == (
        "NAME     CPU(cores)   CPU%   MEMORY(bytes)   MEMORY%   \nnode-a   1500m        75%    7680Mi          93%       \n"
    )
    assert one.output.splitlines()[1].split() == [CHECKOUT_POD, "13m", "250Mi"]


async def test_top_without_metrics_server(cluster: kmock.KubernetesEmulator) -> None:
    cluster.objects["v1/pods", NS, "a"] = pod("a", app="a")  # no metrics.k8s.io resources at all
    context = context_for(str(cluster.url).rstrip("/"))

    result = await run(context, ToolName.kubectl_top, namespace=NS)

    assert not result.ok
    assert result.output == METRICS_UNAVAILABLE


# --- failures --------------------------------------------------------------------------------------


async def test_missing_object_and_unknown_kind(ctx: KubernetesContext) -> None:
    missing = await run(ctx, ToolName.kubectl_describe, kind="pod", name="x", namespace=NS)
    unknown = await run(ctx, ToolName.kubectl_get, kind="widgets", namespace=NS)

    assert not missing.ok
    assert missing.output == 'Error from server (NotFound): pods "x" not found'
    assert "Traceback" not in missing.output
    assert not unknown.ok
    assert unknown.output == 'error: the server doesn\'t have a resource type "widgets"'


async def test_forbidden_becomes_a_one_line_result(cluster: kmock.KubernetesEmulator, log_requests: Any) -> None:
    cluster[f"get /api/v1/namespaces/{NS}/pods"] << kmock.KubernetesError(
        status=403, reason="Forbidden", message=FORBIDDEN
    )
    context = context_for(str(cluster.url).rstrip("/"))

    result = await run(context, ToolName.kubectl_get, kind="pods", namespace=NS)

    assert not result.ok
    assert result.output == f"Error from server (Forbidden): {FORBIDDEN}"


async def test_unreachable_api() -> None:
    context = context_for(f"http://127.0.0.1:{free_port()}")

    for tool in (ToolName.kubectl_describe, ToolName.kubectl_get, ToolName.kubectl_logs, ToolName.kubectl_top):
        result = await run(context, tool, name="a", namespace=NS)
        assert not result.ok
        assert result.output.startswith("Unable to connect to the server: ")
        assert "\n" not in result.output
    with pytest.raises(KubernetesUnavailable, match="is unreachable: Unable to connect to the server"):
        await context.health()


async def test_slow_api_times_out_without_blocking_the_loop(cluster: kmock.KubernetesEmulator) -> None:
    async def slow() -> dict[str, Any]:
        await asyncio.sleep(5)
        return {"items": []}

    cluster[f"get /api/v1/namespaces/{NS}/pods"] << slow
    context = context_for(str(cluster.url).rstrip("/"), request_timeout_seconds=0.3, call_timeout_seconds=10)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    result = await run(context, ToolName.kubectl_get, kind="pods", namespace=NS)
    elapsed = time.monotonic() - started
    ticker.cancel()

    assert not result.ok
    assert result.output.startswith("Unable to connect to the server: ")
    assert elapsed < 3
    assert ticks >= 5  # the event loop kept running while the client waited


async def test_health_good_and_forbidden(cluster: kmock.KubernetesEmulator, log_requests: Any) -> None:
    context = context_for(str(cluster.url).rstrip("/"))
    await context.health()

    # A namespace-scoped service account: cluster-wide listing is forbidden, its namespace is fine.
    cluster["get /api/v1/pods"] << kmock.KubernetesError(status=403, reason="Forbidden", message=FORBIDDEN)
    await context.health()

    cluster["get /api/v1/namespaces/default/pods"] << kmock.KubernetesError(
        status=403, reason="Forbidden", message=FORBIDDEN
    )
    with pytest.raises(KubernetesUnavailable, match="refused access: Error from server \\(Forbidden\\)"):
        await context.health()


async def test_mode_off_answers_not_configured() -> None:
    context = KubernetesContext(settings=Settings(kubernetes_mode="off"), environ={})

    assert isinstance(context, Toolbox)
    assert not context.enabled
    for tool in (
        ToolName.kubectl_describe,
        ToolName.kubectl_get,
        ToolName.kubectl_logs,
        ToolName.kubectl_previous_logs,
        ToolName.kubectl_events,
        ToolName.kubectl_top,
    ):
        result = await run(context, tool, kind="pod", name="a")
        assert not result.ok
        assert result.output == NOT_CONFIGURED
        assert result.tool == tool
        assert result.params == {"kind": "pod", "name": "a"}
    await context.health()  # nothing to check


async def test_other_tools_are_not_answered(ctx: KubernetesContext) -> None:
    result = await run(ctx, ToolName.fetch_logs, service="checkout")

    assert not result.ok
    assert result.output == NOT_A_KUBERNETES_TOOL


# --- configuration ---------------------------------------------------------------------------------


def test_auto_mode_resolution(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    auto = Settings(kubernetes_mode="auto")

    assert resolve_mode(auto, {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "HOME": str(tmp_path)}) == "in_cluster"
    assert resolve_mode(auto, {"KUBECONFIG": str(kubeconfig)}) == "kubeconfig"
    assert resolve_mode(auto, {"HOME": str(tmp_path / "nobody")}) == "off"
    assert resolve_mode(Settings(kubernetes_mode="auto", kubernetes_url="https://k8s:6443"), {}) == "url"
    assert resolve_mode(Settings(kubernetes_mode="off"), {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}) == "off"


async def test_kubeconfig_mode_uses_context_namespace_and_token(
    cluster: kmock.KubernetesEmulator, log_requests: Any, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {{server: "{str(cluster.url).rstrip("/")}"}}
users:
- name: sre
  user: {{token: kube-token-123}}
contexts:
- name: shop-ctx
  context: {{cluster: local, user: sre, namespace: {NS}}}
- name: other
  context: {{cluster: local, user: sre}}
current-context: other
"""
    )
    settings = Settings(kubernetes_mode="kubeconfig", kubeconfig=kubeconfig, kubernetes_context="shop-ctx")
    context = KubernetesContext(settings=settings, clock=lambda: NOW, environ={})

    result = await run(context, ToolName.kubectl_get, kind="pod", name=CHECKOUT_POD)

    assert context.mode == "kubeconfig"
    assert context.default_namespace == NS
    assert result.ok, result.output
    assert column(result.output, CHECKOUT_POD, "STATUS") == "CrashLoopBackOff"
    assert first_request(cluster[f"get /api/v1/namespaces/{NS}/pods/{CHECKOUT_POD}"]).headers["Authorization"] == (
        "Bearer kube-token-123"
    )


async def test_url_mode_sends_the_bearer_token(cluster: kmock.KubernetesEmulator, log_requests: Any) -> None:
    context = context_for(str(cluster.url).rstrip("/"))

    await run(context, ToolName.kubectl_get, kind="nodes")

    assert first_request(cluster["get /api/v1/nodes"]).headers["Authorization"] == "Bearer t0ken"


def test_in_cluster_config(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "namespace").write_text("aisre\n")
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}

    context = KubernetesContext(settings=Settings(), environ=environ, service_account_dir=tmp_path)
    broken = KubernetesContext(
        settings=Settings(kubernetes_mode="in_cluster"), environ={}, service_account_dir=tmp_path
    )

    assert context.mode == "in_cluster"
    assert context.host == "https://10.96.0.1:443"
    assert context.default_namespace == "aisre"
    assert broken.enabled
    assert broken.host == ""


async def test_broken_configuration_is_reported_not_raised(tmp_path: Path) -> None:
    context = KubernetesContext(
        settings=Settings(kubernetes_mode="kubeconfig", kubeconfig=tmp_path / "missing"), environ={}
    )

    result = await run(context, ToolName.kubectl_get, kind="pods")

    assert not result.ok
    assert result.output.startswith("kubernetes configuration (kubeconfig) failed: ")
    with pytest.raises(KubernetesUnavailable, match="kubeconfig"):
        await context.health()


def test_selector_matcher() -> None:
    labels = {"app": "checkout", "tier": "web", "canary": ""}

    assert selector_matcher("app=checkout,tier==web")(labels)
    assert not selector_matcher("app!=checkout")(labels)
    assert selector_matcher("app in (checkout, payments),tier notin (db)")(labels)
    assert selector_matcher("canary,!legacy")(labels)
    assert not selector_matcher("legacy")(labels)
    assert selector_matcher("")(None)


# --- pure renderers --------------------------------------------------------------------------------


def v1pod(
    statuses: list[dict[str, Any]] | None = None,
    *,
    phase: str = "Running",
    init: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    **meta: Any,
) -> k8s.V1Pod:
    spec: dict[str, Any] = {"containers": [{"name": s["name"]} for s in statuses or []] or [{"name": "app"}]}
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses or [], "conditions": conditions or []}
    if init is not None:
        spec["initContainers"] = [{"name": s["name"]} for s in init]
        status["initContainerStatuses"] = init
    return build(k8s.V1Pod, {"metadata": {"name": "p", **meta}, "spec": spec, "status": status})


def cs(name: str = "app", *, ready: bool = False, restarts: int = 0, **state: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "image": "i", "imageID": "", "ready": ready, "restartCount": restarts, "state": state}


@pytest.mark.parametrize(
    ("pod_", "expected"),
    [
        (v1pod([cs(waiting={"reason": "CrashLoopBackOff"})]), "CrashLoopBackOff"),
        (v1pod([cs(waiting={"reason": "ImagePullBackOff"})], phase="Pending"), "ImagePullBackOff"),
        (v1pod([cs(waiting={"reason": "ErrImagePull"})], phase="Pending"), "ErrImagePull"),
        (v1pod([cs(waiting={"reason": "ContainerCreating"})], phase="Pending"), "ContainerCreating"),
        (v1pod([cs(terminated={"reason": "OOMKilled", "exitCode": 137})], phase="Failed"), "OOMKilled"),
        (v1pod([cs(terminated={"reason": "Completed", "exitCode": 0})], phase="Succeeded"), "Completed"),
        (v1pod([cs(terminated={"reason": "Error", "exitCode": 2})], phase="Failed"), "Error"),
        (v1pod([cs(terminated={"exitCode": 3})], phase="Failed"), "ExitCode:3"),
        (v1pod([cs(ready=True, running={"startedAt": "2024-05-01T11:00:00Z"})]), "Running"),
        (v1pod(phase="Pending"), "Pending"),
        (v1pod(phase="Failed"), "Failed"),
        (
            v1pod([cs(ready=True, running={})], deletionTimestamp="2024-05-01T11:59:00Z"),
            "Terminating",
        ),
        (
            v1pod([cs(waiting={"reason": "PodInitializing"})], phase="Pending", init=[cs("init", running={})]),
            "Init:0/1",
        ),
        (
            v1pod(
                [cs(waiting={"reason": "PodInitializing"})],
                phase="Pending",
                init=[cs("init", waiting={"reason": "CrashLoopBackOff"})],
            ),
            "Init:CrashLoopBackOff",
        ),
        (
            v1pod(
                [cs("a", terminated={"reason": "Completed", "exitCode": 0}), cs("b", ready=True, running={})],
                conditions=[{"type": "Ready", "status": "False"}],
            ),
            "NotReady",
        ),
    ],
)
def test_pod_status_column(pod_: k8s.V1Pod, expected: str) -> None:
    assert kt.pod_status(pod_) == expected


def test_tabwriter_matches_go_column_blocks() -> None:
    # A line without a tab ends every column block; the text after the last tab is never padded.
    text = "Name:\tweb\nIPs:\n  IP:\t10.0.0.1\nControlled By:\tReplicaSet/web\nLong label here:\tx\n"

    assert kt.tabwrite(text) == (
        "Name:  web\nIPs:\n  IP:             10.0.0.1\nControlled By:    ReplicaSet/web\nLong label here:  x\n"
    )
    assert kt.tabwrite("a\tb\tc\nlonger\tx\n", minwidth=6, padding=3) == "a        b     c\nlonger   x\n"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (59, "59s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 20 * 60, "3h20m"),
        (9 * 3600, "9h"),
        (50 * 3600, "2d2h"),
        (9 * 86400, "9d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert kt.human_duration(seconds) == expected


def test_describe_pod_container_section_from_hand_built_objects() -> None:
    pod_ = build(
        k8s.V1Pod,
        {
            "metadata": {"name": "api-1", "namespace": "prod"},
            "spec": {
                "containers": [
                    {
                        "name": "api",
                        "image": "api:2",
                        "command": ["/bin/api", "--config=/etc/api.yaml"],
                        "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 5},
                        "readinessProbe": {"tcpSocket": {"port": 5432}, "failureThreshold": 6},
                        "env": [
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "api", "key": "mode"}}},
                        ],
                    }
                ],
                "volumes": [{"name": "cfg", "configMap": {"name": "api-config"}}],
            },
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "api",
                        "image": "api:2",
                        "imageID": "",
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": "2024-05-01T11:00:00Z"}},
                    }
                ],
            },
        },
    )

    text = kt.describe_pod(pod_, events=None, now=NOW)

    assert (
        "  api:\n"
        "    Container ID:  \n"
        "    Image:         api:2\n"
        "    Image ID:      \n"
        "    Port:          <none>\n"
        "    Host Port:     <none>\n"
        "    Command:\n"
        "      /bin/api\n"
        "      --config=/etc/api.yaml\n"
        "    State:          Running\n"
        "      Started:      Wed, 01 May 2024 11:00:00 +0000\n"
        "    Ready:          True\n"
        "    Restart Count:  0\n"
        "    Liveness:       exec [cat /tmp/healthy] delay=0s timeout=1s period=5s #success=1 #failure=3\n"
        "    Readiness:      tcp-socket :5432 delay=0s timeout=1s period=10s #success=1 #failure=6\n"
        "    Environment:\n"
        "      POD_NAME:  api-1 (v1:metadata.name)\n"
        "      MODE:      <set to the key 'mode' of config map 'api'>  Optional: false\n"
        "    Mounts:      <none>\n"
    ) in text
    assert (
        "  cfg:\n    Type:        ConfigMap (a volume populated by a ConfigMap)\n    Name:        api-config\n" in text
    )
    assert "QoS Class:       BestEffort\n" in text
    assert "Events:" not in text  # events=None: section left out


def test_describe_node_resources_and_top_from_hand_built_objects() -> None:
    node = build(
        k8s.V1Node,
        {
            "metadata": {"name": "n1"},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "100Gi"}},
        },
    )
    pods = [
        build(
            k8s.V1Pod,
            {
                "metadata": {"name": f"p{i}", "namespace": "ns", "creationTimestamp": "2024-05-01T10:00:00Z"},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "resources": {"requests": {"cpu": "750m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                        }
                    ]
                },
            },
        )
        for i in (1, 2)
    ]

    text = kt.describe_node(node, pods=pods, events=[], now=NOW)

    assert re.search(r"^  ns\s+p1\s+750m \(18%\)\s+0 \(0%\)\s+1Gi \(6%\)\s+2Gi \(12%\)\s+120m$", text, re.M)
    assert re.search(r"^  cpu\s+1500m \(37%\)\s+0 \(0%\)$", text, re.M)
    assert re.search(r"^  memory\s+2Gi \(12%\)\s+4Gi \(25%\)$", text, re.M)
    assert re.search(r"^  ephemeral-storage\s+0 \(0%\)\s+0 \(0%\)$", text, re.M)
    assert text.endswith("  ephemeral-storage  0 (0%)       0 (0%)\nEvents:              <none>\n")
    assert kt.describe_node(node, pods=None, events=None, now=NOW).endswith(
        "  Kube-Proxy Version:         \nPods:                         not authorized\n"
    )
    assert kt.top_nodes([], allocatable={"n1": {"cpu": "4"}}) == (
        "NAME   CPU(cores)   CPU%        MEMORY(bytes)   MEMORY%     \n"
        "n1     <unknown>    <unknown>   <unknown>       <unknown>   \n"
    )


def test_get_events_and_describe_events_agree_on_ages() -> None:
    events = [
        build(
            k8s.CoreV1Event,
            {
                "metadata": {"name": "e", "namespace": "ns"},
                "involvedObject": {"kind": "Deployment", "name": "web"},
                "reason": "ScalingReplicaSet",
                "message": "Scaled up replica set web-7d to 3 ",
                "type": "Normal",
                "count": 1,
                "firstTimestamp": "2024-05-01T11:55:00Z",
                "lastTimestamp": "2024-05-01T11:55:00Z",
                "source": {"component": "deployment-controller"},
            },
        )
    ]

    assert kt.get_events(events, now=NOW, with_namespace=True) == (
        "NAMESPACE   LAST SEEN   TYPE     REASON              OBJECT           MESSAGE\n"
        "ns          5m          Normal   ScalingReplicaSet   deployment/web   Scaled up replica set web-7d to 3\n"
    )
    deployment = build(
        k8s.V1Deployment, {"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": {}, "template": {}}}
    )
    text = kt.describe_deployment(deployment, old_replica_sets=[], new_replica_set=None, events=events, now=NOW)
    assert re.search(
        r"^  Normal\s+ScalingReplicaSet\s+5m\s+deployment-controller\s+Scaled up replica set web-7d to 3$", text, re.M
    )
    assert "Replicas:           3 desired | 0 updated | 0 total | 0 available | 0 unavailable\n" in text
    assert "OldReplicaSets" not in text


async def test_describe_caps_the_number_of_objects(cluster: kmock.KubernetesEmulator, log_requests: Any) -> None:
    context = context_for(str(cluster.url).rstrip("/"), max_objects=2)

    result = await run(context, ToolName.kubectl_describe, kind="pods", namespace=NS)

    assert result.ok, result.output
    assert re.findall(r"^Name:\s+(\S+)$", result.output, re.M) == [CHECKOUT_POD, DB_POD]
    assert result.output.endswith("[... 3 more pods not described; give a name or a selector ...]\n")

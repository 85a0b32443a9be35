"""The Kubernetes half of the diagnosis toolbox: read-only `kubectl` equivalents over the official client.

Answers `kubectl_describe`, `kubectl_get`, `kubectl_logs`, `kubectl_previous_logs`, `kubectl_events` and
`kubectl_top` tool calls with text that reads like real kubectl output (see `kubectl_text`). Only
get/list/log reads are issued; nothing here can change the cluster.

The official client is synchronous, so every tool call runs in a worker thread (`asyncio.to_thread`)
with a per-request timeout and an overall deadline: the event loop never blocks on the API server.
Missing objects, 401/403s and unreachable servers come back as `ok=False` results with a one-line,
kubectl-style reason; `call` never raises for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from kubernetes.client import (
    ApiClient,
    ApiException,
    AppsV1Api,
    BatchV1Api,
    CoreV1Api,
    CoreV1Event,
    CustomObjectsApi,
    StorageV1Api,
    V1Deployment,
    V1Node,
    V1Pod,
    V1ReplicaSet,
)

from adapters.context import kubectl_text as kt
from adapters.kube_client import SERVICE_ACCOUNT_DIR, Connected, connect, transport_reason
from adapters.kube_client import one_line as _one_line
from adapters.kube_client import resolve_mode as resolve_mode  # re-exported: callers imported it from here
from domain.diagnosis import ToolCall, ToolName, ToolResult
from domain.settings import Settings

log = logging.getLogger(__name__)

NOT_CONFIGURED = "kubernetes is not configured"
NOT_A_KUBERNETES_TOOL = "not a kubernetes tool"
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"
METRICS_UNAVAILABLE = "error: Metrics API not available"

_TOOLS = {
    ToolName.kubectl_describe,
    ToolName.kubectl_get,
    ToolName.kubectl_logs,
    ToolName.kubectl_previous_logs,
    ToolName.kubectl_events,
    ToolName.kubectl_top,
}


class KubernetesUnavailable(RuntimeError):
    """The configured Kubernetes API cannot be used (misconfigured, unreachable, or refusing access)."""


class _ToolError(Exception):
    """A kubectl-style one-line failure for the agent (e.g. `Error from server (NotFound): ...`)."""


@dataclass(frozen=True)
class _Kind:
    name: str  # canonical singular, the key of the reader/lister tables
    resource: str  # plural, qualified with its API group as kubectl prints it in errors
    event_kind: str  # involvedObject.kind in events
    namespaced: bool = True


_KINDS = {
    kind.name: kind
    for kind in (
        _Kind("pod", "pods", "Pod"),
        _Kind("deployment", "deployments.apps", "Deployment"),
        _Kind("replicaset", "replicasets.apps", "ReplicaSet"),
        _Kind("node", "nodes", "Node", namespaced=False),
        _Kind("pvc", "persistentvolumeclaims", "PersistentVolumeClaim"),
        _Kind("pv", "persistentvolumes", "PersistentVolume", namespaced=False),
        _Kind("storageclass", "storageclasses.storage.k8s.io", "StorageClass", namespaced=False),
        _Kind("job", "jobs.batch", "Job"),
        _Kind("service", "services", "Service"),
        _Kind("endpoints", "endpoints", "Endpoints"),
        _Kind("event", "events", "Event"),
    )
}
_ALIASES = {
    "po": "pod",
    "pods": "pod",
    "deploy": "deployment",
    "deployments": "deployment",
    "deployment.apps": "deployment",
    "deployments.apps": "deployment",
    "rs": "replicaset",
    "replicasets": "replicaset",
    "no": "node",
    "nodes": "node",
    "persistentvolumeclaim": "pvc",
    "persistentvolumeclaims": "pvc",
    "pvcs": "pvc",
    "persistentvolume": "pv",
    "persistentvolumes": "pv",
    "pvs": "pv",
    "sc": "storageclass",
    "storageclasses": "storageclass",
    "jobs": "job",
    "job.batch": "job",
    "jobs.batch": "job",
    "svc": "service",
    "services": "service",
    "ep": "endpoints",
    "endpoint": "endpoints",
    "ev": "event",
    "events": "event",
}


def _kind_of(text: str) -> _Kind:
    key = text.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _KINDS:
        raise _ToolError(f'error: the server doesn\'t have a resource type "{text.strip()}"')
    return _KINDS[key]


# --- label selectors -------------------------------------------------------------------------------

_SET_REQ = re.compile(r"^\s*(\S+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _has(key: str, *, present: bool) -> Callable[[Mapping[str, str]], bool]:
    def check(labels: Mapping[str, str]) -> bool:
        return (key in labels) == present

    return check


def _in(key: str, values: set[str], *, inside: bool) -> Callable[[Mapping[str, str]], bool]:
    def check(labels: Mapping[str, str]) -> bool:
        return (labels.get(key) in values) == inside

    return check


def selector_matcher(selector: str) -> Callable[[Mapping[str, str] | None], bool]:
    """A predicate for a Kubernetes label selector (=, ==, !=, in, notin, exists, !exists)."""
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    for req in _split_selector(selector):
        set_match = _SET_REQ.match(req)
        if set_match:
            key, op, raw = set_match.groups()
            values = {v.strip() for v in raw.split(",") if v.strip()}
            checks.append(_in(key, values, inside=op == "in"))
        elif "!=" in req:
            key, value = (part.strip() for part in req.split("!=", 1))
            checks.append(_in(key, {value}, inside=False))
        elif "=" in req:
            key, value = (part.strip() for part in req.replace("==", "=").split("=", 1))
            checks.append(_in(key, {value}, inside=True))
        elif re.fullmatch(r"!\s*[A-Za-z0-9._/-]+", req):
            checks.append(_has(req[1:].strip(), present=False))
        elif re.fullmatch(r"[A-Za-z0-9._/-]+", req):
            checks.append(_has(req, present=True))
        else:
            raise _ToolError(f'error: unable to parse requirement: "{req}"')

    def matches(labels: Mapping[str, str] | None) -> bool:
        return all(check(labels or {}) for check in checks)

    return matches


# --- error texts -----------------------------------------------------------------------------------


def _api_error(exc: ApiException) -> str:
    """kubectl's wording for an API error status."""
    reason = exc.reason or ""
    message = ""
    try:
        status = json.loads(exc.body or "")
        if isinstance(status, dict):
            reason = str(status.get("reason") or reason)
            message = str(status.get("message") or "")
    except ValueError:
        message = exc.body or ""
    if exc.status == 401:
        return "error: You must be logged in to the server (Unauthorized)"
    return _one_line(f"Error from server ({reason or exc.status}): {message or reason}")


def _transport_error(exc: BaseException) -> str:
    return _one_line(f"Unable to connect to the server: {transport_reason(exc)}")


def _not_found(kind: _Kind, name: str) -> _ToolError:
    return _ToolError(f'Error from server (NotFound): {kind.resource} "{name}" not found')


# --- the toolbox -----------------------------------------------------------------------------------


@dataclass
class _Params:
    kind: _Kind
    name: str
    namespace: str | None  # None = all namespaces (or a cluster-scoped kind)
    selector: str


@dataclass
class _Call:
    """One tool call's API session (runs in a worker thread); caches what several describes share."""

    api: ApiClient
    timeout: float
    default_namespace: str
    max_objects: int
    max_rows: int
    default_tail: int
    now: datetime
    _pods: dict[str | None, list[V1Pod]] = field(default_factory=dict)
    _replica_sets: dict[str | None, list[V1ReplicaSet]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.core = CoreV1Api(self.api)
        self.apps = AppsV1Api(self.api)
        self.batch = BatchV1Api(self.api)
        self.storage = StorageV1Api(self.api)
        self.custom = CustomObjectsApi(self.api)

    # --- params ---

    def params(self, raw: Mapping[str, str], *, default_kind: str = "pod") -> _Params:
        name = (raw.get("name") or "").strip()
        kind_text = (raw.get("kind") or "").strip()
        if "/" in name:  # "deployment/checkout", as kubectl accepts it
            prefix, name = name.split("/", 1)
            if not kind_text or _kind_of(kind_text) == _kind_of(prefix):
                kind_text = prefix
        kind = _kind_of(kind_text or default_kind)
        namespace: str | None = (raw.get("namespace") or "").strip() or None
        if namespace is None and name:
            namespace = self.default_namespace
        if not kind.namespaced:
            namespace = None
        return _Params(kind, name, namespace, (raw.get("selector") or "").strip())

    def tail(self, raw: Mapping[str, str]) -> int:
        try:
            tail = int((raw.get("tail") or "").strip())
        except ValueError:
            return self.default_tail
        return min(tail, 10_000) if tail > 0 else self.default_tail

    # --- reads ---

    def _kw(self, selector: str = "", fields: str = "") -> dict[str, Any]:
        kw: dict[str, Any] = {"_request_timeout": self.timeout}
        if selector:
            kw["label_selector"] = selector
        if fields:
            kw["field_selector"] = fields
        return kw

    def read(self, kind: _Kind, namespace: str | None, name: str) -> Any:
        """One object by name; a 404 becomes kubectl's `<resource> "<name>" not found`."""
        t = self.timeout
        ns = namespace or self.default_namespace
        readers: dict[str, Callable[[], Any]] = {
            "pod": lambda: self.core.read_namespaced_pod(name, ns, _request_timeout=t),
            "deployment": lambda: self.apps.read_namespaced_deployment(name, ns, _request_timeout=t),
            "replicaset": lambda: self.apps.read_namespaced_replica_set(name, ns, _request_timeout=t),
            "node": lambda: self.core.read_node(name, _request_timeout=t),
            "pvc": lambda: self.core.read_namespaced_persistent_volume_claim(name, ns, _request_timeout=t),
            "pv": lambda: self.core.read_persistent_volume(name, _request_timeout=t),
            "storageclass": lambda: self.storage.read_storage_class(name, _request_timeout=t),
            "job": lambda: self.batch.read_namespaced_job(name, ns, _request_timeout=t),
            "service": lambda: self.core.read_namespaced_service(name, ns, _request_timeout=t),
            "endpoints": lambda: self.core.read_namespaced_endpoints(name, ns, _request_timeout=t),
            "event": lambda: self.core.read_namespaced_event(name, ns, _request_timeout=t),
        }
        try:
            return readers[kind.name]()
        except ApiException as exc:
            if exc.status == 404:
                raise _not_found(kind, name) from None
            raise

    def list_objects(self, kind: _Kind, namespace: str | None, selector: str = "", fields: str = "") -> list[Any]:
        """Objects of a kind, sorted by namespace and name like the API server lists them.

        The label selector is sent to the server and applied again here, so the answer is right even
        when a server or proxy in between ignores it (the kmock emulator used in tests does).
        """
        kw = self._kw(selector, fields)
        per_namespace: dict[str, Callable[..., Any]] = {
            "pod": self.core.list_namespaced_pod,
            "deployment": self.apps.list_namespaced_deployment,
            "replicaset": self.apps.list_namespaced_replica_set,
            "pvc": self.core.list_namespaced_persistent_volume_claim,
            "job": self.batch.list_namespaced_job,
            "service": self.core.list_namespaced_service,
            "endpoints": self.core.list_namespaced_endpoints,
            "event": self.core.list_namespaced_event,
        }
        everywhere: dict[str, Callable[..., Any]] = {
            "pod": self.core.list_pod_for_all_namespaces,
            "deployment": self.apps.list_deployment_for_all_namespaces,
            "replicaset": self.apps.list_replica_set_for_all_namespaces,
            "node": self.core.list_node,
            "pvc": self.core.list_persistent_volume_claim_for_all_namespaces,
            "pv": self.core.list_persistent_volume,
            "storageclass": self.storage.list_storage_class,
            "job": self.batch.list_job_for_all_namespaces,
            "service": self.core.list_service_for_all_namespaces,
            "endpoints": self.core.list_endpoints_for_all_namespaces,
            "event": self.core.list_event_for_all_namespaces,
        }
        try:
            if namespace is not None and kind.namespaced:
                items = per_namespace[kind.name](namespace, **kw).items
            else:
                items = everywhere[kind.name](**kw).items
        except ApiException as exc:
            if exc.status == 404:
                raise _ToolError(f'error: the server doesn\'t have a resource type "{kind.resource}"') from None
            raise
        if selector:
            matches = selector_matcher(selector)
            items = [obj for obj in items if matches(obj.metadata.labels if obj.metadata else None)]
        return sorted(
            items, key=lambda o: (o.metadata.namespace or "", o.metadata.name or "") if o.metadata else ("", "")
        )

    def objects(self, p: _Params) -> list[Any]:
        if p.name:
            return [self.read(p.kind, p.namespace, p.name)]
        return self.list_objects(p.kind, p.namespace, p.selector)

    def pods(self, namespace: str | None) -> list[V1Pod]:
        if namespace not in self._pods:
            self._pods[namespace] = self.list_objects(_KINDS["pod"], namespace)
        return self._pods[namespace]

    def events(self, namespace: str | None, *, name: str = "", kind: str = "") -> list[CoreV1Event] | None:
        """Events, narrowed server-side by involved object when given; None when they cannot be read."""
        fields = ",".join(f"involvedObject.{key}={value}" for key, value in (("name", name), ("kind", kind)) if value)
        try:
            events: list[CoreV1Event] = self.list_objects(_KINDS["event"], namespace, fields=fields)
        except (ApiException, _ToolError):
            return None
        return events

    # --- tools ---

    def describe(self, raw: Mapping[str, str]) -> str:
        p = self.params(raw)
        objs = self.objects(p)
        if not objs:
            return _no_resources(p)
        shown = objs[: self.max_objects]
        events = self.events(
            p.namespace if p.kind.namespaced else None,
            name=p.name,
            kind="" if p.kind.name == "pod" else p.kind.event_kind,
        )
        texts = [self._describe_one(p.kind, obj, events) for obj in shown]
        text = "\n\n".join(texts)
        if len(objs) > len(shown):
            text += (
                f"\n\n[... {len(objs) - len(shown)} more {p.kind.resource} not described; "
                "give a name or a selector ...]\n"
            )
        return text

    def _describe_one(self, kind: _Kind, obj: Any, all_events: list[CoreV1Event] | None) -> str:
        meta = obj.metadata
        events = None if all_events is None else [e for e in all_events if _is_about(e, kind, obj)]
        now = self.now
        ns = meta.namespace if meta else None
        name = meta.name if meta else ""
        if kind.name == "pod":
            return kt.describe_pod(obj, events=events, now=now)
        if kind.name == "deployment":
            old, new = self._replica_sets_of(obj)
            return kt.describe_deployment(obj, old_replica_sets=old, new_replica_set=new, events=events, now=now)
        if kind.name == "replicaset":
            pods = [pod for pod in self.pods(ns) if _controlled_by(pod, obj)]
            return kt.describe_replica_set(obj, pods=pods, events=events, now=now)
        if kind.name == "node":
            return kt.describe_node(obj, pods=self._pods_on(obj), events=events, now=now)
        if kind.name == "pvc":
            used_by = [
                pod
                for pod in self.pods(ns)
                if any(
                    v.persistent_volume_claim is not None and v.persistent_volume_claim.claim_name == name
                    for v in (pod.spec.volumes if pod.spec else None) or []
                )
            ]
            return kt.describe_pvc(obj, used_by=used_by, events=events, now=now)
        if kind.name == "pv":
            return kt.describe_pv(obj, events=events, now=now)
        if kind.name == "storageclass":
            return kt.describe_storage_class(obj, events=events, now=now)
        if kind.name == "job":
            return kt.describe_job(obj, events=events, now=now)
        if kind.name == "service":
            try:
                endpoints = self.read(_KINDS["endpoints"], ns, name or "")
            except (_ToolError, ApiException):
                endpoints = None  # kubectl ignores this error too and prints the ports without endpoints
            return kt.describe_service(obj, endpoints=endpoints, events=events, now=now)
        if kind.name == "endpoints":
            return kt.describe_endpoints(obj, events=events, now=now)
        raise _ToolError(f'error: describe is not supported for "{kind.resource}"; use kubectl_events')

    def _replica_sets_of(self, deployment: V1Deployment) -> tuple[list[V1ReplicaSet], V1ReplicaSet | None]:
        meta = deployment.metadata
        namespace = meta.namespace if meta else None
        if namespace not in self._replica_sets:
            self._replica_sets[namespace] = self.list_objects(_KINDS["replicaset"], namespace)
        owned = [rs for rs in self._replica_sets[namespace] if _controlled_by(rs, deployment)]
        revision = ((meta.annotations if meta else None) or {}).get("deployment.kubernetes.io/revision")
        new = next(
            (rs for rs in owned if revision and _annotations(rs).get("deployment.kubernetes.io/revision") == revision),
            None,
        )
        if new is None:
            template = _template_without_hash(deployment.spec.template if deployment.spec else None)
            new = next(
                (rs for rs in owned if _template_without_hash(rs.spec.template if rs.spec else None) == template), None
            )
        return [rs for rs in owned if rs is not new], new

    def _pods_on(self, node: V1Node) -> list[V1Pod] | None:
        name = node.metadata.name if node.metadata else ""
        try:
            pods = self.list_objects(_KINDS["pod"], None, fields=f"spec.nodeName={name}")
        except ApiException as exc:
            if exc.status == 403:
                return None  # kubectl prints "Pods: not authorized"
            raise
        return [
            pod
            for pod in pods
            if pod.spec is not None
            and pod.spec.node_name == name
            and (pod.status.phase if pod.status else None) not in ("Succeeded", "Failed")
        ]

    def get(self, raw: Mapping[str, str]) -> str:
        p = self.params(raw)
        objs = self.objects(p)
        if not objs:
            return _no_resources(p)
        shown = objs[: self.max_rows]
        everywhere = p.kind.namespaced and p.namespace is None
        now = self.now
        renderers: dict[str, Callable[[], str]] = {
            "pod": lambda: kt.get_pods(shown, now=now, with_namespace=everywhere),
            "deployment": lambda: kt.get_deployments(shown, now=now, with_namespace=everywhere),
            "replicaset": lambda: kt.get_replica_sets(shown, now=now, with_namespace=everywhere),
            "node": lambda: kt.get_nodes(shown, now=now),
            "pvc": lambda: kt.get_pvcs(shown, now=now, with_namespace=everywhere),
            "pv": lambda: kt.get_pvs(shown, now=now),
            "storageclass": lambda: kt.get_storage_classes(shown, now=now),
            "job": lambda: kt.get_jobs(shown, now=now, with_namespace=everywhere),
            "service": lambda: kt.get_services(shown, now=now, with_namespace=everywhere),
            "endpoints": lambda: kt.get_endpoints(shown, now=now, with_namespace=everywhere),
            "event": lambda: kt.get_events(shown, now=now, with_namespace=everywhere),
        }
        return renderers[p.kind.name]() + _more(len(objs), len(shown), p.kind)

    def logs(self, raw: Mapping[str, str], *, previous: bool) -> str:
        p = self.params(raw, default_kind="pod")
        if p.kind.name != "pod":
            raise _ToolError("error: logs are read from pods; give the pod name")
        tail = self.tail(raw)
        container = (raw.get("container") or "").strip()
        if p.name:
            return self._log(p.namespace or self.default_namespace, p.name, container, tail, previous)
        if not p.selector:
            raise _ToolError("error: a pod name or a selector is required")
        pods = self.list_objects(p.kind, p.namespace, p.selector)
        if not pods:
            return _no_resources(p)
        chunks: list[str] = []
        for pod in pods[:5]:  # kubectl's --max-log-requests default
            meta = pod.metadata
            chosen = container or _default_container(pod)
            prefix = f"[pod/{meta.name}/{chosen}] "
            try:
                text = self._log(meta.namespace, meta.name, chosen, tail, previous, pod=pod)
            except ApiException as exc:  # one pod without (previous) logs must not hide the others'
                text = _api_error(exc)
            chunks.extend(prefix + line for line in text.splitlines())
        return "\n".join(chunks) + ("\n" if chunks else "")

    def _log(
        self, namespace: str, name: str, container: str, tail: int, previous: bool, *, pod: V1Pod | None = None
    ) -> str:
        if not container:
            pod = pod or self.read(_KINDS["pod"], namespace, name)
            container = _default_container(pod)
        try:
            text = self.core.read_namespaced_pod_log(
                name,
                namespace,
                container=container or None,
                previous=previous,
                tail_lines=tail,
                limit_bytes=2_000_000,
                _request_timeout=self.timeout,
            )
        except ApiException as exc:
            if exc.status == 404:
                raise _not_found(_KINDS["pod"], name) from None
            raise
        return str(text)

    def event_table(self, raw: Mapping[str, str]) -> str:
        namespace = (raw.get("namespace") or "").strip() or None
        name = (raw.get("name") or "").strip()
        kind_text = (raw.get("kind") or "").strip()
        if "/" in name:
            kind_text, name = name.split("/", 1)
        kind = kind_text
        if kind_text:
            key = _ALIASES.get(kind_text.lower(), kind_text.lower())
            kind = _KINDS[key].event_kind if key in _KINDS else kind_text
        events = self.list_objects(
            _KINDS["event"],
            namespace,
            fields=",".join(f"involvedObject.{k}={v}" for k, v in (("name", name), ("kind", kind)) if v),
        )
        events = [
            e
            for e in events
            if (not name or e.involved_object.name == name)
            and (not kind or (e.involved_object.kind or "").lower() == kind.lower())
        ]
        if not events:
            where = f" in {namespace} namespace" if namespace else ""
            return f"No resources found{where}.\n" if where else "No resources found\n"
        events.sort(key=kt.event_time)
        shown = events[-self.max_rows :]  # the most recent ones
        return kt.get_events(shown, now=self.now, with_namespace=namespace is None) + _more(
            len(events), len(shown), _KINDS["event"]
        )

    def top(self, raw: Mapping[str, str]) -> str:
        p = self.params(raw, default_kind="pod")
        if p.kind.name not in ("pod", "node"):
            raise _ToolError('error: kubectl top works on "pod" or "node"')
        try:
            if p.kind.name == "node":
                return self._top_nodes(p)
            return self._top_pods(p)
        except ApiException as exc:
            if exc.status == 404:
                if p.name and self._metrics_available(p):
                    resource = "nodemetrics" if p.kind.name == "node" else "podmetrics"
                    raise _ToolError(
                        f'Error from server (NotFound): {resource}.metrics.k8s.io "{p.name}" not found'
                    ) from None
                raise _ToolError(METRICS_UNAVAILABLE) from None
            raise

    def _metrics_available(self, p: _Params) -> bool:
        try:
            if p.kind.name == "node":
                self.custom.list_cluster_custom_object(
                    METRICS_GROUP, METRICS_VERSION, "nodes", _request_timeout=self.timeout
                )
            else:
                self.custom.list_namespaced_custom_object(
                    METRICS_GROUP,
                    METRICS_VERSION,
                    p.namespace or self.default_namespace,
                    "pods",
                    _request_timeout=self.timeout,
                )
        except ApiException:
            return False
        return True

    def _top_nodes(self, p: _Params) -> str:
        t = self.timeout
        if p.name:
            got = self.custom.get_cluster_custom_object(
                METRICS_GROUP, METRICS_VERSION, "nodes", p.name, _request_timeout=t
            )
            metrics = [_as_dict(got)]
            nodes = [self.read(p.kind, None, p.name)]
        else:
            listed = self.custom.list_cluster_custom_object(METRICS_GROUP, METRICS_VERSION, "nodes", _request_timeout=t)
            metrics = _items(listed)
            nodes = self.list_objects(p.kind, None, p.selector)
            names = {n.metadata.name for n in nodes}
            metrics = [m for m in metrics if (m.get("metadata") or {}).get("name") in names]
        if not metrics and not nodes:
            return _no_resources(p)
        allocatable = {
            n.metadata.name: dict((n.status.allocatable if n.status else None) or {}) for n in nodes if n.metadata
        }
        return kt.top_nodes(metrics, allocatable=allocatable)

    def _top_pods(self, p: _Params) -> str:
        t = self.timeout
        if p.name:
            ns = p.namespace or self.default_namespace
            item = self.custom.get_namespaced_custom_object(
                METRICS_GROUP, METRICS_VERSION, ns, "pods", p.name, _request_timeout=t
            )
            metrics = [_as_dict(item)]
        else:
            if p.namespace:
                listed = self.custom.list_namespaced_custom_object(
                    METRICS_GROUP, METRICS_VERSION, p.namespace, "pods", _request_timeout=t
                )
            else:
                listed = self.custom.list_cluster_custom_object(
                    METRICS_GROUP, METRICS_VERSION, "pods", _request_timeout=t
                )
            metrics = _items(listed)
            if p.selector:
                matches = selector_matcher(p.selector)
                metrics = [m for m in metrics if matches((m.get("metadata") or {}).get("labels"))]
        if not metrics:
            return _no_resources(p)
        shown = metrics[: self.max_rows]
        return kt.top_pods(shown, with_namespace=not p.name and p.namespace is None) + _more(
            len(metrics), len(shown), p.kind
        )


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(listed: object) -> list[dict[str, Any]]:
    return [_as_dict(item) for item in _as_dict(listed).get("items") or []]


def _no_resources(p: _Params) -> str:
    if p.kind.namespaced and p.namespace:
        return f"No resources found in {p.namespace} namespace.\n"
    return "No resources found\n"


def _more(total: int, shown: int, kind: _Kind) -> str:
    return f"[... {total - shown} more {kind.resource} not shown ...]\n" if total > shown else ""


def _annotations(obj: Any) -> dict[str, str]:
    return dict((obj.metadata.annotations if obj.metadata else None) or {})


def _controlled_by(child: Any, owner: Any) -> bool:
    owner_meta = owner.metadata
    for ref in (child.metadata.owner_references if child.metadata else None) or []:
        if not ref.controller or owner_meta is None:
            continue
        if owner_meta.uid and ref.uid == owner_meta.uid:
            return True
        if not owner_meta.uid and ref.name == owner_meta.name:
            return True
    return False


def _template_without_hash(template: Any) -> Any:
    if template is None:
        return None
    data = template.to_dict()
    labels = (data.get("metadata") or {}).get("labels") or {}
    labels.pop("pod-template-hash", None)
    return data


def _default_container(pod: V1Pod) -> str:
    """kubectl's default container: the kubectl.kubernetes.io/default-container annotation, else the first."""
    annotated = _annotations(pod).get("kubectl.kubernetes.io/default-container")
    if annotated:
        return annotated
    containers = pod.spec.containers if pod.spec else []
    return containers[0].name if containers else ""


def _is_about(event: CoreV1Event, kind: _Kind, obj: Any) -> bool:
    """kubectl's searchEvents: same name and namespace, same kind (any kind for pods), same uid if known."""
    ref = event.involved_object
    meta = obj.metadata
    if meta is None or ref.name != meta.name:
        return False
    if kind.namespaced and ref.namespace and meta.namespace and ref.namespace != meta.namespace:
        return False
    if kind.name != "pod" and ref.kind and ref.kind != kind.event_kind:
        return False
    # The kubelet records node events with the node name as uid; controllers use the real uid.
    return kind.name == "node" or not (ref.uid and meta.uid) or ref.uid == meta.uid


class KubernetesContext(Connected):
    """Toolbox for the Kubernetes tools (describe, get, logs, previous logs, events, top); read-only."""

    def __init__(
        self,
        *,
        settings: Settings,
        request_timeout_seconds: float = 10.0,
        call_timeout_seconds: float = 30.0,
        max_objects: int = 50,
        max_rows: int = 500,
        default_tail: int = 200,
        clock: Callable[[], datetime] | None = None,
        environ: Mapping[str, str] | None = None,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    ) -> None:
        self._conn = connect(
            settings, environ=os.environ if environ is None else environ, service_account_dir=service_account_dir
        )
        self._request_timeout = request_timeout_seconds
        self._call_timeout = call_timeout_seconds
        self._max_objects = max_objects
        self._max_rows = max_rows
        self._default_tail = default_tail
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def default_namespace(self) -> str:
        """The namespace used when a call names an object without a namespace."""
        return self._conn.namespace

    async def call(self, call: ToolCall) -> ToolResult:
        """Answer one Kubernetes tool call; failures are ok=False results with a one-line reason."""
        if call.tool not in _TOOLS:
            return self._result(call, NOT_A_KUBERNETES_TOOL, ok=False)
        if self._conn.api_client is None:
            return self._result(call, self._conn.error or NOT_CONFIGURED, ok=False)
        session = _Call(
            api=self._conn.api_client,
            timeout=self._request_timeout,
            default_namespace=self._conn.namespace,
            max_objects=self._max_objects,
            max_rows=self._max_rows,
            default_tail=self._default_tail,
            now=self._clock(),
        )
        handlers: dict[ToolName, Callable[[Mapping[str, str]], str]] = {
            ToolName.kubectl_describe: session.describe,
            ToolName.kubectl_get: session.get,
            ToolName.kubectl_logs: lambda raw: session.logs(raw, previous=False),
            ToolName.kubectl_previous_logs: lambda raw: session.logs(raw, previous=True),
            ToolName.kubectl_events: session.event_table,
            ToolName.kubectl_top: session.top,
        }
        handler = handlers[call.tool]
        try:
            output = await asyncio.wait_for(asyncio.to_thread(handler, dict(call.params)), self._call_timeout)
        except TimeoutError:
            message = f"Unable to connect to the server: no answer within {self._call_timeout:g}s"
            return self._result(call, message, ok=False)
        except _ToolError as exc:
            return self._result(call, _one_line(str(exc)), ok=False)
        except ApiException as exc:
            return self._result(call, _api_error(exc), ok=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return self._result(call, _transport_error(exc), ok=False)
        except Exception as exc:
            # A rendering bug must not take the diagnosis down: log it, tell the agent, carry on.
            log.exception("kubernetes tool %s failed", call.tool.value)
            return self._result(call, f"error: {call.tool.value} failed: {type(exc).__name__}", ok=False)
        return self._result(call, output, ok=True)

    async def health(self) -> None:
        """Raise KubernetesUnavailable (with the reason) unless the API answers and lets us list pods."""
        if self._conn.mode == "off":
            return  # nothing to check: every call already answers "kubernetes is not configured"
        if self._conn.api_client is None:
            raise KubernetesUnavailable(self._conn.error or NOT_CONFIGURED)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._probe), self._call_timeout)
        except TimeoutError:
            raise KubernetesUnavailable(
                f"kubernetes API at {self.host} did not answer within {self._call_timeout:g}s"
            ) from None
        except ApiException as exc:
            raise KubernetesUnavailable(f"kubernetes API at {self.host} refused access: {_api_error(exc)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubernetesUnavailable(
                f"kubernetes API at {self.host} is unreachable: {_transport_error(exc)}"
            ) from None

    def _probe(self) -> None:
        assert self._conn.api_client is not None
        core = CoreV1Api(self._conn.api_client)
        try:
            core.list_pod_for_all_namespaces(limit=1, _request_timeout=self._request_timeout)
        except ApiException as exc:
            if exc.status != 403:
                raise
            # A namespace-scoped service account cannot list cluster-wide; its own namespace must do.
            core.list_namespaced_pod(self._conn.namespace, limit=1, _request_timeout=self._request_timeout)

    @staticmethod
    def _result(call: ToolCall, output: str, *, ok: bool) -> ToolResult:
        return ToolResult(call_id=call.id, tool=call.tool, params=dict(call.params), output=output, ok=ok)

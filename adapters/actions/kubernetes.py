"""Kubernetes remediation through the official client: restart a pod, restart / scale / roll back a deployment.

Every action is planned (a unified diff of the YAML that changes, never a write), applied with the
idempotency key written onto the object IN THE SAME REQUEST as the change, reconciled with `find`, and
verified by polling the rollout the way `kubectl rollout status` does.

Exactly once (DESIGN.md §3):
- Deployment actions are one PATCH each that changes the spec AND sets the metadata annotations
  `aisre.io/action-key: <key>`, `aisre.io/action: <kind>` and `aisre.io/recent-action-keys` (the last ten
  keys, so a key survives a later action by another incident on the same deployment). One request
  writes one object, so the change and its mark land together or not at all: `find` seeing the key
  means the change happened, and not seeing it means it did not.
- Every PATCH carries the `metadata.resourceVersion` it was computed from. The API server then refuses
  it with 409 Conflict if anything wrote the deployment in between — in particular another attempt of
  this same action (a timed-out attempt still running while Temporal retries). On a 409 the provider
  reads the object again: if the key is there now it answers `already_applied`, else it recomputes the
  patch and tries once more; a second 409 is a retryable error.
- `apply` checks the key itself on every read, so even an `apply` without `find` before it does not
  restart twice.
- Scaling patches `spec.replicas` on the deployment itself rather than the `scale` subresource: the
  subresource cannot carry annotations, and a second request for the mark would open a window where the
  replicas changed but the key is missing (a crash there would scale twice, harmless, but a restart or a
  rollback done that way would not be). It needs `patch` on `deployments`, not on `deployments/scale`.
- `restart_pod` deletes a pod, which cannot carry a mark afterwards. Before deleting, the provider
  creates an Event named after the pod and a hash of the key (involvedObject = the pod, annotations =
  key, the pod's UID, its controller and labels): a ledger entry that is created at most once (the name
  is the key) and shows in `kubectl describe pod`. The DELETE carries a UID precondition, so it can only
  ever remove the pod the ledger names. `find` answers `already_applied` when the ledger exists and that
  pod is gone, terminating, or replaced by a pod with the same name and a new UID (StatefulSets); it
  answers None when the ledger's pod still runs (the crash fell between ledger and delete: `apply`
  finishes the job). Events expire (one hour by default); after that a pod that is gone still counts as
  done, but a StatefulSet replacement would be restarted again.

The client is synchronous: every call runs in a worker thread with a per-request timeout and an overall
deadline. Errors become `ActionError`: 404 names the object and is final; 401/403 and other 4xx are
final; 409 (twice), 429 (with Retry-After), 5xx, timeouts and connection failures are retryable.

RBAC: deployments get/list/patch, replicasets list, pods get/list/delete, events get/create (`health`
lists deployments cluster-wide, or in the worker's own namespace when only that is allowed).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import difflib
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes.client import (
    ApiClient,
    ApiException,
    AppsV1Api,
    CoreV1Api,
    CoreV1Event,
    V1DeleteOptions,
    V1Preconditions,
)

from adapters.actions.base import ActionError
from adapters.kube_client import SERVICE_ACCOUNT_DIR, Connected, connect, one_line, transport_reason
from domain.actions import (
    ActionOutcome,
    ActionPlan,
    CatalogAction,
    RestartPod,
    RollbackDeployment,
    RolloutRestart,
    ScaleDeployment,
    Verification,
)
from domain.settings import Settings

T = TypeVar("T")
Obj = dict[str, Any]

NOT_CONFIGURED = "kubernetes is not configured (AI_SRE_KUBERNETES_MODE is off and nothing was detected)"
ACTION_KEY = "aisre.io/action-key"
ACTION_KIND = "aisre.io/action"
RECENT_KEYS = "aisre.io/recent-action-keys"
ROLLBACK_OF = "aisre.io/rollback-of"
POD_UID = "aisre.io/pod-uid"
CONTROLLER = "aisre.io/controller"
CONTROLLER_UID = "aisre.io/controller-uid"
POD_LABELS = "aisre.io/pod-labels"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
RECENT_LIMIT = 10
# `kubectl rollout undo` keeps these on the deployment and copies every other annotation from the
# ReplicaSet of the revision it restores (kubectl/pkg/polymorphichelpers/rollback.go).
_UNDO_KEEP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
# The generated create/delete methods send their JSON body without a Content-Type; say what it is.
_JSON_BODY = {"Content-Type": "application/json"}
KINDS = frozenset({"restart_pod", "rollout_restart", "scale_deployment", "rollback_deployment"})
_DeploymentAction = RolloutRestart | ScaleDeployment | RollbackDeployment


# --- small pure helpers ----------------------------------------------------------------------------


def _meta(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("metadata") or {})


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(_meta(obj).get("annotations") or {})


def _recent_keys(annotations: Mapping[str, str]) -> list[str]:
    try:
        keys = json.loads(annotations.get(RECENT_KEYS) or "[]")
    except ValueError:
        return []
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def _carries(obj: Mapping[str, Any], key: str) -> bool:
    annotations = _annotations(obj)
    return annotations.get(ACTION_KEY) == key or key in _recent_keys(annotations)


def _marks(obj: Mapping[str, Any], *, key: str, kind: str) -> dict[str, str]:
    recent = [*[k for k in _recent_keys(_annotations(obj)) if k != key][-(RECENT_LIMIT - 1) :], key]
    return {ACTION_KEY: key, ACTION_KIND: kind, RECENT_KEYS: json.dumps(recent, separators=(",", ":"))}


def _revision(obj: Mapping[str, Any]) -> int | None:
    try:
        return int(_annotations(obj).get(REVISION, ""))
    except ValueError:
        return None


def _replicas(deployment: Mapping[str, Any]) -> int:
    value = (deployment.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)  # the API's default


def _controller(obj: Mapping[str, Any]) -> Obj | None:
    return next((dict(ref) for ref in _meta(obj).get("ownerReferences") or [] if ref.get("controller")), None)


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): what a merge patch leaves of `base`; None deletes."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(base) if isinstance(base, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _template_of(replica_set: Mapping[str, Any]) -> Obj:
    """A ReplicaSet's pod template as a deployment template: without the controller's hash label."""
    template = copy.deepcopy(dict((replica_set.get("spec") or {}).get("template") or {}))
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop(HASH_LABEL, None)
    if "metadata" in template:
        template["metadata"] = {**template["metadata"], "labels": labels}
    return template


def _yaml(data: Any) -> list[str]:
    if data is None:
        return []
    text = yaml.safe_dump(data, sort_keys=True, default_flow_style=False, width=1_000_000)
    return text.splitlines()


def _unified(before: Any, after: Any, *, target: str, label: str) -> str:
    lines = difflib.unified_diff(
        _yaml(before), _yaml(after), fromfile=f"{target} (live)", tofile=f"{target} ({label})", lineterm=""
    )
    return "\n".join(lines) + "\n"


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _ledger_name(pod: str, key: str) -> str:
    return f"{pod[:200]}.aisre-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _api_error(exc: ApiException, *, host: str) -> ActionError:
    """One line naming the status; final unless trying again can help (409, 429, 5xx)."""
    status = int(exc.status or 0)
    reason, message = str(exc.reason or ""), ""
    try:
        body = json.loads(exc.body or "")
        if isinstance(body, dict):
            reason = str(body.get("reason") or reason)
            message = str(body.get("message") or "")
    except ValueError:
        message = exc.body or ""
    where = f"kubernetes API at {host}"
    if status == 401:
        return ActionError(f"{where} rejected the credentials (401 Unauthorized)", retryable=False)
    if status == 403:
        return ActionError(one_line(f"{where} forbids this (403 Forbidden): {message or reason}"), retryable=False)
    text = one_line(f"{where} answered {status} {reason}: {message or reason}")
    if status == 429:
        retry_after: float | None = None
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float((exc.headers or {}).get("Retry-After", ""))
        return ActionError(text, retryable=True, retry_after=retry_after)
    return ActionError(text, retryable=status in (0, 408, 409) or status >= 500)


# --- one call's API session (runs in a worker thread) -----------------------------------------------


@dataclass(frozen=True)
class _Change:
    """A deployment change: the request that makes it and the object it leaves."""

    summary: str
    before: dict[str, str]
    patch: Obj | list[Obj]
    content_type: str
    after: Obj
    spec_view: Callable[[Obj], Obj]  # the part of the spec the diff shows


@dataclass(frozen=True)
class _Rollout:
    done: bool
    failed: bool
    detail: str


class _Session:
    def __init__(self, api: ApiClient, timeout: float) -> None:
        self.core = CoreV1Api(api)
        self.apps = AppsV1Api(api)
        self.timeout = timeout

    @staticmethod
    def _json(response: Any) -> Obj:
        try:
            data = json.loads(response.data)
        except ValueError:
            raise ActionError("kubernetes API answered with something that is not JSON", retryable=True) from None
        finally:
            response.release_conn()
        if not isinstance(data, dict):
            raise ActionError("kubernetes API answered with something that is not an object", retryable=True)
        return data

    # --- reads ---

    def deployment(self, namespace: str, name: str) -> Obj:
        try:
            return self._json(
                self.apps.read_namespaced_deployment(
                    name, namespace, _request_timeout=self.timeout, _preload_content=False
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                raise ActionError(f"deployment {namespace}/{name} not found", retryable=False) from None
            raise

    def replica_sets(self, deployment: Obj) -> list[Obj]:
        """The ReplicaSets the deployment controls (label selector, then the controller reference)."""
        meta = _meta(deployment)
        match_labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
        kwargs: dict[str, Any] = {"_request_timeout": self.timeout, "_preload_content": False}
        if selector:
            kwargs["label_selector"] = selector
        items = self._json(self.apps.list_namespaced_replica_set(meta.get("namespace", ""), **kwargs)).get("items")
        owned = []
        for rs in items or []:
            ref = _controller(rs)
            if ref is None or ref.get("kind") != "Deployment":
                continue
            if ref.get("uid") and meta.get("uid") and ref["uid"] != meta["uid"]:
                continue  # a previous deployment of the same name
            if ref.get("name") == meta.get("name"):
                owned.append(rs)
        return owned

    def pod(self, namespace: str, name: str) -> Obj | None:
        try:
            return self._json(
                self.core.read_namespaced_pod(name, namespace, _request_timeout=self.timeout, _preload_content=False)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pods(self, namespace: str, labels: Mapping[str, str]) -> list[Obj]:
        kwargs: dict[str, Any] = {"_request_timeout": self.timeout, "_preload_content": False}
        if labels:
            kwargs["label_selector"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return list(self._json(self.core.list_namespaced_pod(namespace, **kwargs)).get("items") or [])

    def event(self, namespace: str, name: str) -> Obj | None:
        try:
            return self._json(
                self.core.read_namespaced_event(name, namespace, _request_timeout=self.timeout, _preload_content=False)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    # --- writes ---

    def patch_deployment(self, namespace: str, name: str, body: Obj | list[Obj], content_type: str) -> None:
        # Name the patch type, as kubectl does, instead of relying on the client's guess from the body.
        try:
            self._json(
                self.apps.patch_namespaced_deployment(
                    name,
                    namespace,
                    body,
                    _content_type=content_type,
                    _request_timeout=self.timeout,
                    _preload_content=False,
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                raise ActionError(f"deployment {namespace}/{name} not found", retryable=False) from None
            raise

    def create_event(self, namespace: str, body: Obj) -> None:
        event = CoreV1Event.from_dict(body)
        assert event is not None
        try:
            self._json(
                self.core.create_namespaced_event(
                    namespace,
                    event,
                    _headers=_JSON_BODY,
                    _request_timeout=self.timeout,
                    _preload_content=False,
                )
            )
        except ApiException as exc:
            if exc.status != 409:  # AlreadyExists: another attempt of this action wrote the same ledger entry
                raise

    def delete_pod(self, namespace: str, name: str, uid: str) -> str:
        """Delete exactly the pod with this UID: 'deleted', or why nothing was left to delete."""
        options = V1DeleteOptions(preconditions=V1Preconditions(uid=uid))
        try:
            self._json(
                self.core.delete_namespaced_pod(
                    name,
                    namespace,
                    body=options,
                    _headers=_JSON_BODY,
                    _request_timeout=self.timeout,
                    _preload_content=False,
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return "already gone"
            if exc.status == 409:  # the UID precondition failed: the controller already replaced it
                return "already replaced"
            raise
        return "deleted"

    def probe(self, namespace: str) -> None:
        try:
            self._json(
                self.apps.list_deployment_for_all_namespaces(
                    limit=1, _request_timeout=self.timeout, _preload_content=False
                )
            )
        except ApiException as exc:
            if exc.status != 403:
                raise
            # A namespace-scoped service account cannot list cluster-wide; its own namespace must do.
            self._json(
                self.apps.list_namespaced_deployment(
                    namespace, limit=1, _request_timeout=self.timeout, _preload_content=False
                )
            )


# --- the provider ----------------------------------------------------------------------------------


class KubernetesActions(Connected):
    """ActionProvider for restart_pod, rollout_restart, scale_deployment and rollback_deployment."""

    slug = "kubernetes"
    kinds = KINDS

    def __init__(
        self,
        *,
        settings: Settings,
        request_timeout_seconds: float = 10.0,
        call_timeout_seconds: float = 30.0,
        verify_timeout_seconds: float = 300.0,
        verify_interval_seconds: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        environ: Mapping[str, str] | None = None,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    ) -> None:
        self._conn = connect(
            settings, environ=os.environ if environ is None else environ, service_account_dir=service_account_dir
        )
        self._request_timeout = request_timeout_seconds
        self._call_timeout = call_timeout_seconds
        self._verify_timeout = verify_timeout_seconds
        self._verify_interval = verify_interval_seconds
        self._clock = clock or (lambda: datetime.now(UTC))

    # --- ActionProvider ---

    async def plan(self, action: CatalogAction, *, key: str) -> ActionPlan:
        """Dry run: read the object and diff the YAML the action would change. Never writes."""
        if isinstance(action, RestartPod):
            return await self._run(lambda s: self._plan_restart_pod(s, action))
        deployment_action = self._deployment_action(action)
        now = _rfc3339(self._clock())
        return await self._run(lambda s: self._plan_deployment(s, deployment_action, key=key, now=now))

    async def find(self, action: CatalogAction, *, key: str) -> ActionOutcome | None:
        """Reconcile: `already_applied` when the object shows this key's change, else None."""
        if isinstance(action, RestartPod):
            return await self._run(lambda s: self._find_restart_pod(s, action, key=key))
        deployment_action = self._deployment_action(action)

        def find(s: _Session) -> ActionOutcome | None:
            deployment = s.deployment(deployment_action.namespace, deployment_action.deployment)
            return self._already(deployment_action, key) if _carries(deployment, key) else None

        return await self._run(find)

    async def apply(self, action: CatalogAction, *, key: str) -> ActionOutcome:
        """Make the change, marked with `key` in the same request; a change already marked is not redone."""
        if isinstance(action, RestartPod):
            moment = self._clock()
            return await self._run(lambda s: self._apply_restart_pod(s, action, key=key, now=moment))
        deployment_action = self._deployment_action(action)
        now = _rfc3339(self._clock())
        return await self._run(lambda s: self._apply_deployment(s, deployment_action, key=key, now=now))

    async def verify(self, action: CatalogAction, *, key: str) -> Verification:
        """Poll (bounded) until the rollout completes or the replacement pod is Ready."""
        if isinstance(action, RestartPod):

            def check(s: _Session) -> _Rollout:
                return self._restart_pod_state(s, action, key=key)

        else:
            deployment_action = self._deployment_action(action)
            expected = deployment_action.replicas if isinstance(deployment_action, ScaleDeployment) else None

            def check(s: _Session) -> _Rollout:
                deployment = s.deployment(deployment_action.namespace, deployment_action.deployment)
                return self._rollout_state(deployment, expected_replicas=expected)

        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            try:
                state = await self._run(check)
            except ActionError as exc:
                # A blip while polling is no evidence the change failed (a failed verification rolls
                # it back): keep polling, and at the deadline raise instead of answering ok=False.
                if not exc.retryable or loop.time() - started >= self._verify_timeout:
                    raise
            else:
                if state.done:
                    return Verification(ok=True, detail=state.detail)
                if state.failed or loop.time() - started >= self._verify_timeout:
                    waited = loop.time() - started
                    return Verification(ok=False, detail=f"{state.detail} (after {waited:.0f}s)")
            await asyncio.sleep(self._verify_interval)

    async def rollback(self, action: CatalogAction, *, key: str, plan: ActionPlan) -> ActionOutcome:
        """Restore the state `plan.before` recorded (replicas or revision), marked `aisre.io/rollback-of`."""
        if isinstance(action, RestartPod | RolloutRestart):
            raise ActionError(f"{action.action} cannot be rolled back", retryable=False)
        deployment_action = self._deployment_action(action)
        return await self._run(lambda s: self._undo(s, deployment_action, key=key, before=plan.before))

    async def health(self) -> None:
        """Raise ActionError unless the API answers and lets us list deployments (anywhere, or in our namespace)."""
        await self._run(lambda s: s.probe(self._conn.namespace))

    # --- plumbing ---

    async def _run(self, fn: Callable[[_Session], T]) -> T:
        if self._conn.api_client is None:
            raise ActionError(self._conn.error or NOT_CONFIGURED, retryable=False)
        session = _Session(self._conn.api_client, self._request_timeout)
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, session), self._call_timeout)
        except TimeoutError:
            # The request may still land: the next attempt's find/apply sees its key.
            raise ActionError(
                f"kubernetes API at {self.host} did not answer within {self._call_timeout:g}s", retryable=True
            ) from None
        except ApiException as exc:
            raise _api_error(exc, host=self.host) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ActionError(
                f"kubernetes API at {self.host} is unreachable: {transport_reason(exc)}", retryable=True
            ) from None

    @staticmethod
    def _deployment_action(action: CatalogAction) -> _DeploymentAction:
        if isinstance(action, RolloutRestart | ScaleDeployment | RollbackDeployment):
            return action
        raise ActionError(f"{action.action} is not a kubernetes action", retryable=False)

    @staticmethod
    def _target(action: _DeploymentAction) -> str:
        return f"deployment {action.namespace}/{action.deployment}"

    def _already(self, action: _DeploymentAction, key: str) -> ActionOutcome:
        return ActionOutcome(
            status="already_applied",
            detail=f"{self._target(action)} already carries {ACTION_KEY}={key}: {action.action} was applied before",
            provider_ref=f"{self._target(action)} annotation {ACTION_KEY}={key}",
        )

    # --- deployments ---

    def _change(
        self, s: _Session, action: _DeploymentAction, deployment: Obj, marks: dict[str, str], now: str
    ) -> _Change:
        """The one request that makes `action` (with `marks`) on the deployment as read."""
        meta = _meta(deployment)
        target = self._target(action)
        # The resourceVersion turns the patch into a compare-and-swap (409 if anything wrote in between).
        precondition = {"resourceVersion": meta["resourceVersion"]} if meta.get("resourceVersion") else {}
        replicas = _replicas(deployment)
        if isinstance(action, ScaleDeployment):
            patch: Obj = {"metadata": {"annotations": marks, **precondition}, "spec": {"replicas": action.replicas}}
            return _Change(
                summary=f"Scale {target} from {replicas} to {action.replicas} replicas",
                before={"replicas": str(replicas)},
                patch=patch,
                content_type=STRATEGIC_MERGE,
                after=_merge(deployment, patch),
                spec_view=lambda spec: {"replicas": spec.get("replicas", 1)},
            )
        if (deployment.get("spec") or {}).get("paused"):
            verb = "restarted" if isinstance(action, RolloutRestart) else "rolled back"
            raise ActionError(
                f"{target} is paused and cannot be {verb}: resume it first (kubectl rollout resume)", retryable=False
            )
        if isinstance(action, RolloutRestart):
            # Exactly `kubectl rollout restart`: a new pod-template annotation makes a new ReplicaSet.
            patch = {
                "metadata": {"annotations": marks, **precondition},
                "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}},
            }
            return _Change(
                summary=f"Restart every pod of {target} with a rolling update ({replicas} replicas)",
                before={
                    "restartedAt": _annotations((deployment.get("spec") or {}).get("template") or {}).get(
                        RESTARTED_AT, ""
                    )
                },
                patch=patch,
                content_type=STRATEGIC_MERGE,
                after=_merge(deployment, patch),
                spec_view=lambda spec: {"template": {"metadata": (spec.get("template") or {}).get("metadata") or {}}},
            )
        current, replica_set = self._pick_revision(s, action, deployment)
        revision = _revision(replica_set)
        change = self._template_change(deployment, replica_set, marks, precondition)
        same = change.after["spec"]["template"] == (deployment.get("spec") or {}).get("template")
        note = f" (the template already matches revision {revision}: only the marks change)" if same else ""
        return _Change(
            summary=f"Roll {target} back from revision {current} to revision {revision}{note}",
            before={"revision": str(current)},
            patch=change.patch,
            content_type=JSON_PATCH,
            after=change.after,
            spec_view=change.spec_view,
        )

    @staticmethod
    def _template_change(deployment: Obj, replica_set: Obj, marks: dict[str, str], precondition: Obj) -> _Change:
        """`kubectl rollout undo`'s JSON patch: the revision's template and annotations, plus our marks."""
        template = _template_of(replica_set)
        ours = {k: v for k, v in _annotations(deployment).items() if k in _UNDO_KEEP or k.startswith("aisre.io/")}
        copied = {
            k: v for k, v in _annotations(replica_set).items() if k not in _UNDO_KEEP and not k.startswith("aisre.io/")
        }
        annotations = ours | copied | marks
        ops: list[Obj] = [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
        ]
        if precondition:
            ops.append({"op": "add", "path": "/metadata/resourceVersion", "value": precondition["resourceVersion"]})
        after = copy.deepcopy(deployment)
        after.setdefault("spec", {})["template"] = template
        after.setdefault("metadata", {})["annotations"] = annotations
        return _Change(
            summary="",
            before={},
            patch=ops,
            content_type=JSON_PATCH,
            after=after,
            spec_view=lambda spec: {"template": spec.get("template") or {}},
        )

    def _pick_revision(self, s: _Session, action: RollbackDeployment, deployment: Obj) -> tuple[int, Obj]:
        """(current revision, ReplicaSet to restore) as `kubectl rollout undo [--to-revision]` picks them."""
        by_revision: dict[int, Obj] = {}
        for rs in s.replica_sets(deployment):
            number = _revision(rs)
            if number is not None:
                by_revision[number] = rs
        target = self._target(action)
        if not by_revision:
            raise ActionError(f"no rollout history found for {target}", retryable=False)
        current = _revision(deployment) or max(by_revision)
        if action.to_revision:
            if action.to_revision not in by_revision:
                raise ActionError(
                    f"revision {action.to_revision} of {target} not found (known: "
                    f"{', '.join(map(str, sorted(by_revision)))})",
                    retryable=False,
                )
            return current, by_revision[action.to_revision]
        older = sorted(n for n in by_revision if n < max(by_revision))
        if not older:
            raise ActionError(
                f"no previous revision of {target} to roll back to (only {max(by_revision)})", retryable=False
            )
        return current, by_revision[older[-1]]

    def _plan_deployment(self, s: _Session, action: _DeploymentAction, *, key: str, now: str) -> ActionPlan:
        deployment = s.deployment(action.namespace, action.deployment)
        change = self._change(s, action, deployment, _marks(deployment, key=key, kind=action.action), now)
        return ActionPlan(
            summary=change.summary,
            diff=self._diff(action, deployment, change),
            target=self._target(action),
            before=change.before,
        )

    def _diff(self, action: _DeploymentAction, deployment: Obj, change: _Change) -> str:
        before, after = _annotations(deployment), _annotations(change.after)
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}

        def view(obj: Obj) -> Obj:
            meta = _meta(obj)
            shown: Obj = {
                "name": meta.get("name", action.deployment),
                "namespace": meta.get("namespace", action.namespace),
            }
            annotations = {k: v for k, v in _annotations(obj).items() if k in changed}
            if annotations:
                shown["annotations"] = annotations
            return {"metadata": shown, "spec": change.spec_view(dict(obj.get("spec") or {}))}

        return _unified(view(deployment), view(change.after), target=self._target(action), label=action.action)

    def _apply_deployment(self, s: _Session, action: _DeploymentAction, *, key: str, now: str) -> ActionOutcome:
        target = self._target(action)
        for attempt in (1, 2):
            deployment = s.deployment(action.namespace, action.deployment)
            if _carries(deployment, key):
                return self._already(action, key)
            change = self._change(s, action, deployment, _marks(deployment, key=key, kind=action.action), now)
            try:
                s.patch_deployment(action.namespace, action.deployment, change.patch, change.content_type)
            except ApiException as exc:
                if exc.status == 409 and attempt == 1:
                    continue  # written in between: read again (maybe our own earlier attempt) and retry once
                raise
            return ActionOutcome(
                status="succeeded", detail=change.summary, provider_ref=f"{target} annotation {ACTION_KEY}={key}"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _undo(self, s: _Session, action: _DeploymentAction, *, key: str, before: Mapping[str, str]) -> ActionOutcome:
        target = self._target(action)
        ref = f"{target} annotation {ROLLBACK_OF}={key}"
        for attempt in (1, 2):
            deployment = s.deployment(action.namespace, action.deployment)
            if _annotations(deployment).get(ROLLBACK_OF) == key:
                return ActionOutcome(
                    status="already_applied", detail=f"{target} was already rolled back for {key}", provider_ref=ref
                )
            marks = {ROLLBACK_OF: key}
            meta = _meta(deployment)
            precondition = {"resourceVersion": meta["resourceVersion"]} if meta.get("resourceVersion") else {}
            patch: Obj | list[Obj]
            if isinstance(action, ScaleDeployment):
                try:
                    replicas = int(before["replicas"])
                except (KeyError, ValueError):
                    raise ActionError(
                        f"the plan of {key} recorded no replica count to restore", retryable=False
                    ) from None
                patch = {"metadata": {"annotations": marks, **precondition}, "spec": {"replicas": replicas}}
                detail, content_type = f"Scaled {target} back to {replicas} replicas", STRATEGIC_MERGE
            else:
                try:
                    revision = int(before["revision"])
                except (KeyError, ValueError):
                    raise ActionError(f"the plan of {key} recorded no revision to restore", retryable=False) from None
                replica_set = next((rs for rs in s.replica_sets(deployment) if _revision(rs) == revision), None)
                if replica_set is None:
                    raise ActionError(
                        f"revision {revision} of {target} no longer exists (pruned by revisionHistoryLimit?)",
                        retryable=False,
                    )
                patch = self._template_change(deployment, replica_set, marks, precondition).patch
                detail, content_type = f"Rolled {target} back to the template of revision {revision}", JSON_PATCH
            try:
                s.patch_deployment(action.namespace, action.deployment, patch, content_type)
            except ApiException as exc:
                if exc.status == 409 and attempt == 1:
                    continue
                raise
            return ActionOutcome(status="succeeded", detail=detail, provider_ref=ref)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _rollout_state(deployment: Obj, *, expected_replicas: int | None) -> _Rollout:
        """`kubectl rollout status` for one read, with the numbers."""
        meta, status = _meta(deployment), dict(deployment.get("status") or {})
        name = f"deployment {meta.get('namespace')}/{meta.get('name')}"
        want = _replicas(deployment)
        updated = int(status.get("updatedReplicas") or 0)
        ready = int(status.get("readyReplicas") or 0)
        available = int(status.get("availableReplicas") or 0)
        total = int(status.get("replicas") or 0)
        generation, observed = meta.get("generation"), status.get("observedGeneration")
        numbers = (
            f"{updated}/{want} updated, {ready}/{want} ready, {available}/{want} available, {total} total, "
            f"observedGeneration {observed if observed is not None else '-'}/{generation if generation is not None else '-'}"
        )
        if expected_replicas is not None and want != expected_replicas:
            return _Rollout(
                False, False, f"{name}: spec.replicas is {want}, not {expected_replicas} (changed since?); {numbers}"
            )
        if generation is not None and (observed is None or int(observed) < int(generation)):
            return _Rollout(False, False, f"{name}: the controller has not observed the change yet; {numbers}")
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
                return _Rollout(False, True, f"{name} exceeded its progress deadline; {numbers}")
        if updated < want:
            return _Rollout(False, False, f"{name}: {updated} of {want} new replicas updated; {numbers}")
        if total > updated:
            return _Rollout(False, False, f"{name}: {total - updated} old replicas pending termination; {numbers}")
        if available < want or ready < want:
            return _Rollout(
                False, False, f"{name}: {min(ready, available)} of {want} updated replicas ready; {numbers}"
            )
        return _Rollout(True, False, f"{name} successfully rolled out; {numbers}")

    # --- restart_pod ---

    @staticmethod
    def _pod_view(pod: Obj) -> Obj:
        meta, status = _meta(pod), dict(pod.get("status") or {})
        shown: Obj = {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")}
        owner = _controller(pod)
        if owner:
            shown["ownerReferences"] = [{"kind": owner.get("kind"), "name": owner.get("name")}]
        containers = [
            {"name": c.get("name"), "ready": bool(c.get("ready")), "restartCount": int(c.get("restartCount") or 0)}
            for c in status.get("containerStatuses") or []
        ]
        return {"metadata": shown, "status": {"phase": status.get("phase"), "containerStatuses": containers}}

    def _plan_restart_pod(self, s: _Session, action: RestartPod) -> ActionPlan:
        target = f"pod {action.namespace}/{action.pod}"
        pod = s.pod(action.namespace, action.pod)
        if pod is None:
            raise ActionError(f"{target} not found", retryable=False)
        owner = _controller(pod)
        if owner is None:
            raise ActionError(f"{target} has no controller: deleting it would not restart it", retryable=False)
        label = f"deleted; {owner.get('kind')}/{owner.get('name')} creates a replacement"
        return ActionPlan(
            summary=f"Delete {target} so its {owner.get('kind')} {owner.get('name')} replaces it",
            diff=_unified(self._pod_view(pod), None, target=target, label=label),
            target=target,
            before={"uid": str(_meta(pod).get("uid", "")), "controller": f"{owner.get('kind')}/{owner.get('name')}"},
        )

    @staticmethod
    def _ledger(s: _Session, action: RestartPod, key: str) -> Obj | None:
        event = s.event(action.namespace, _ledger_name(action.pod, key))
        return event if event is not None and _annotations(event).get(ACTION_KEY) == key else None

    @staticmethod
    def _restart_done(action: RestartPod, pod: Obj | None, *, uid: str | None) -> str | None:
        """Why the pod needs no (more) deleting, or None. `uid` = the pod our ledger names, if any."""
        target = f"pod {action.namespace}/{action.pod}"
        if pod is None:
            return (
                f"{target} is gone: deleted by an earlier attempt of this action or already replaced by its controller"
            )
        meta = _meta(pod)
        if uid is not None and meta.get("uid") != uid:
            return f"{target} was already replaced (uid {uid} -> {meta.get('uid')})"
        if meta.get("deletionTimestamp"):
            return f"{target} is already terminating (since {meta['deletionTimestamp']})"
        return None

    def _find_restart_pod(self, s: _Session, action: RestartPod, *, key: str) -> ActionOutcome | None:
        ledger = self._ledger(s, action, key)
        if ledger is None:
            return None  # nothing of ours happened to this pod
        reason = self._restart_done(action, s.pod(action.namespace, action.pod), uid=_annotations(ledger).get(POD_UID))
        if reason is None:
            return None  # recorded but not deleted yet (a crash in between): apply finishes it
        return ActionOutcome(status="already_applied", detail=reason, provider_ref=self._pod_ref(action, ledger))

    def _pod_ref(self, action: RestartPod, ledger: Obj) -> str:
        uid = _annotations(ledger).get(POD_UID, "")
        return f"pod {action.namespace}/{action.pod} uid {uid} (event {action.namespace}/{_meta(ledger).get('name')})"

    def _apply_restart_pod(self, s: _Session, action: RestartPod, *, key: str, now: datetime) -> ActionOutcome:
        target = f"pod {action.namespace}/{action.pod}"
        ledger = self._ledger(s, action, key)
        pod = s.pod(action.namespace, action.pod)
        recorded = _annotations(ledger).get(POD_UID) if ledger else None
        reason = self._restart_done(action, pod, uid=recorded)
        if reason is not None:
            # Idempotent in effect: a pod that is gone or being replaced is what a restart leaves behind.
            ref = self._pod_ref(action, ledger) if ledger else target
            return ActionOutcome(status="already_applied", detail=reason, provider_ref=ref)
        assert pod is not None
        meta = _meta(pod)
        owner = _controller(pod)
        if owner is None:
            raise ActionError(f"{target} has no controller: deleting it would not restart it", retryable=False)
        uid = str(meta.get("uid") or "")
        name = _ledger_name(action.pod, key)
        if ledger is None:
            stamp = _rfc3339(now)
            s.create_event(
                action.namespace,
                {
                    "metadata": {
                        "name": name,
                        "namespace": action.namespace,
                        "annotations": {
                            ACTION_KEY: key,
                            ACTION_KIND: action.action,
                            POD_UID: uid,
                            CONTROLLER: f"{owner.get('kind')}/{owner.get('name')}",
                            CONTROLLER_UID: str(owner.get("uid") or ""),
                            POD_LABELS: json.dumps(meta.get("labels") or {}, sort_keys=True),
                        },
                    },
                    "involvedObject": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": action.pod,
                        "namespace": action.namespace,
                        "uid": uid,
                    },
                    "related": {
                        "apiVersion": owner.get("apiVersion"),
                        "kind": owner.get("kind"),
                        "name": owner.get("name"),
                        "namespace": action.namespace,
                        "uid": owner.get("uid"),
                    },
                    "reason": "RestartRequested",
                    "message": f"AI-SRE deletes this pod so its {owner.get('kind')} replaces it (action key {key})",
                    "type": "Normal",
                    "source": {"component": "aisre"},
                    "reportingComponent": "aisre",
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "count": 1,
                },
            )
        result = s.delete_pod(action.namespace, action.pod, uid)
        ref = f"pod {action.namespace}/{action.pod} uid {uid} (event {action.namespace}/{name})"
        if result != "deleted":
            return ActionOutcome(status="already_applied", detail=f"{target} {result}", provider_ref=ref)
        return ActionOutcome(
            status="succeeded",
            detail=f"Deleted {target}; {owner.get('kind')} {owner.get('name')} creates a replacement",
            provider_ref=ref,
        )

    def _restart_pod_state(self, s: _Session, action: RestartPod, *, key: str) -> _Rollout:
        """Done when the old pod is gone or terminating and a pod of the same controller, created since
        the restart, is Ready."""
        target = f"pod {action.namespace}/{action.pod}"
        ledger = self._ledger(s, action, key)
        if ledger is None:
            return _Rollout(False, True, f"no record of restarting {target} for {key}: nothing to verify")
        notes = _annotations(ledger)
        old_uid, owner, owner_uid = (
            notes.get(POD_UID),
            notes.get(CONTROLLER, "its controller"),
            notes.get(CONTROLLER_UID),
        )
        old = s.pod(action.namespace, action.pod)
        if old is not None and _meta(old).get("uid") == old_uid and not _meta(old).get("deletionTimestamp"):
            return _Rollout(False, False, f"{target} (uid {old_uid}) is still running and not terminating")
        try:
            labels = json.loads(notes.get(POD_LABELS) or "{}")
        except ValueError:
            labels = {}
        # Server-side timestamps on both sides when the server set them: no clock skew.
        ledger_meta = _meta(ledger)
        since = _timestamp(ledger_meta.get("creationTimestamp")) or _timestamp(ledger.get("firstTimestamp"))
        candidates = []
        for pod in s.pods(action.namespace, labels if isinstance(labels, dict) else {}):
            meta, ref = _meta(pod), _controller(pod) or {}
            if meta.get("uid") == old_uid or meta.get("deletionTimestamp"):
                continue
            if owner_uid and ref.get("uid") != owner_uid:
                continue
            created = _timestamp(meta.get("creationTimestamp"))
            if since is not None and (created is None or created < since):
                continue  # a sibling that was running before the restart
            candidates.append(pod)
        ready = [p for p in candidates if _pod_ready(p)]
        if ready:
            name = _meta(ready[0]).get("name")
            return _Rollout(True, False, f"pod {action.namespace}/{name} from {owner} is Ready (replaces {action.pod})")
        if candidates:
            names = ", ".join(str(_meta(p).get("name")) for p in candidates)
            return _Rollout(False, False, f"replacement for {target} from {owner} not Ready yet: {names}")
        return _Rollout(False, False, f"{owner} has not created a replacement for {target} yet")

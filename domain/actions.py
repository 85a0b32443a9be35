"""The action catalog: typed parameters and metadata for every remediation the platform can take.

Pure (imported inside the workflow sandbox). Providers (adapters/actions/) execute them; the policy
engine (domain/policy.py) decides whether they may run.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    """Workspace roles, least to most privileged."""

    viewer = "viewer"
    operator = "operator"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class BlastRadius(StrEnum):
    """How much one action can disturb, least first."""

    low = "low"  # one pod or task: the controller replaces it
    medium = "medium"  # one workload, its replicas roll
    high = "high"  # a workload's version or capacity changes

    @property
    def rank(self) -> int:
        return list(BlastRadius).index(self)


# --- typed parameters, one model per catalog action -------------------------------------------------


class RestartPod(_Model):
    action: Literal["restart_pod"] = "restart_pod"
    namespace: str
    pod: str


class RolloutRestart(_Model):
    action: Literal["rollout_restart"] = "rollout_restart"
    namespace: str
    deployment: str


class ScaleDeployment(_Model):
    action: Literal["scale_deployment"] = "scale_deployment"
    namespace: str
    deployment: str
    replicas: int = Field(ge=0)


class RollbackDeployment(_Model):
    action: Literal["rollback_deployment"] = "rollback_deployment"
    namespace: str
    deployment: str
    to_revision: int | None = Field(default=None, description="None = the previous ReplicaSet revision")


class EcsScaleService(_Model):
    action: Literal["ecs_scale_service"] = "ecs_scale_service"
    cluster: str
    service: str
    desired_count: int = Field(ge=0)


class EcsForceNewDeployment(_Model):
    action: Literal["ecs_force_new_deployment"] = "ecs_force_new_deployment"
    cluster: str
    service: str


class EcsStopTask(_Model):
    action: Literal["ecs_stop_task"] = "ecs_stop_task"
    cluster: str
    task: str
    reason: str = "stopped by AI-SRE"


class SuggestConfigFix(_Model):
    """Change resource limits/requests or replicas in the workload's manifest (a GitHub pull request)."""

    action: Literal["suggest_config_fix"] = "suggest_config_fix"
    namespace: str
    deployment: str
    container: str | None = None
    changes: dict[str, str] = Field(description='e.g. {"resources.limits.memory": "1Gi"} or {"replicas": "4"}')
    repository: str | None = Field(default=None, description="owner/name; default from settings")
    path: str | None = Field(default=None, description="manifest path in the repository; default from settings")


class Investigate(_Model):
    """A human step no provider can take (fix a secret, renew a certificate, restore a dependency)."""

    action: Literal["investigate"] = "investigate"
    instructions: str


ActionKind = Literal[
    "restart_pod",
    "rollout_restart",
    "scale_deployment",
    "rollback_deployment",
    "ecs_scale_service",
    "ecs_force_new_deployment",
    "ecs_stop_task",
    "suggest_config_fix",
]


class ActionSpec(_Model):
    """Catalog metadata of one action."""

    kind: ActionKind
    provider: Literal["kubernetes", "ecs", "github"]
    description: str
    blast_radius: BlastRadius
    reversible: bool  # the provider can undo it (a failed verification rolls it back)
    executable: bool  # False: it can only be proposed (a pull request a human merges)
    min_role: Role  # least role that may approve it


CATALOG: dict[str, ActionSpec] = {
    spec.kind: spec
    for spec in (
        ActionSpec(
            kind="restart_pod",
            provider="kubernetes",
            description="Delete one pod so its controller replaces it",
            blast_radius=BlastRadius.low,
            reversible=False,
            executable=True,
            min_role=Role.operator,
        ),
        ActionSpec(
            kind="rollout_restart",
            provider="kubernetes",
            description="Restart every pod of a deployment with a rolling update (kubectl rollout restart)",
            blast_radius=BlastRadius.medium,
            reversible=False,
            executable=True,
            min_role=Role.operator,
        ),
        ActionSpec(
            kind="scale_deployment",
            provider="kubernetes",
            description="Set a deployment's replica count",
            blast_radius=BlastRadius.medium,
            reversible=True,
            executable=True,
            min_role=Role.operator,
        ),
        ActionSpec(
            kind="rollback_deployment",
            provider="kubernetes",
            description="Roll a deployment back to its previous ReplicaSet revision (kubectl rollout undo)",
            blast_radius=BlastRadius.high,
            reversible=True,
            executable=True,
            min_role=Role.operator,
        ),
        ActionSpec(
            kind="ecs_scale_service",
            provider="ecs",
            description="Set an ECS service's desired count",
            blast_radius=BlastRadius.medium,
            reversible=True,
            executable=True,
            min_role=Role.operator,
        ),
        ActionSpec(
            kind="ecs_force_new_deployment",
            provider="ecs",
            description="Replace every task of an ECS service (update-service --force-new-deployment)",
            blast_radius=BlastRadius.medium,
            reversible=False,
            executable=True,
            min_role=Role.operator,
        ),
        ActionSpec(
            kind="ecs_stop_task",
            provider="ecs",
            description="Stop one ECS task so its service replaces it",
            blast_radius=BlastRadius.low,
            reversible=False,
            executable=True,
            min_role=Role.operator,
        ),
        ActionSpec(
            kind="suggest_config_fix",
            provider="github",
            description="Open a pull request changing resource limits or replicas in the workload's manifest",
            blast_radius=BlastRadius.low,
            reversible=True,
            executable=True,
            min_role=Role.operator,
        ),
    )
}

CatalogAction = (
    RestartPod
    | RolloutRestart
    | ScaleDeployment
    | RollbackDeployment
    | EcsScaleService
    | EcsForceNewDeployment
    | EcsStopTask
    | SuggestConfigFix
)


# One executable action with its kind as the discriminator (what activity inputs and updates carry).
ActionParams = Annotated[CatalogAction, Field(discriminator="action")]


class ActionPlan(_Model):
    """What an action would change: the dry-run answer every provider gives (a diff, not just "ok")."""

    summary: str
    diff: str  # unified-diff style text of the object/manifest before -> after
    target: str  # e.g. "deployment shop/checkout", "ecs service prod/api", "acme/deploy:k8s/checkout.yaml"
    before: dict[str, str] = Field(default_factory=dict)  # the state a rollback restores (replicas, revision...)


class ActionOutcome(_Model):
    """The provider's answer to apply/find/rollback."""

    status: Literal["succeeded", "failed", "already_applied"]
    detail: str
    provider_ref: str = ""  # where the change carries the idempotency key (annotation, branch, PR URL)


class Verification(_Model):
    ok: bool
    detail: str


def describe_params(params: Mapping[str, Any]) -> str:
    """One line from a stored action's parameters: "namespace=shop deployment=checkout replicas=4"."""
    skip = {"action", "changes", "reason"}
    return " ".join(f"{k}={v}" for k, v in params.items() if k not in skip and v is not None)

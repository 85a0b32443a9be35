"""Diagnosis: categories, the tools the agent may call, tool calls and results, suggested actions.

Pure models only (imported inside the workflow sandbox). The agent loop lives in adapters/llm/, the
tools in adapters/context/, the activity in activities/diagnose.py.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from domain.actions import (
    EcsForceNewDeployment,
    EcsScaleService,
    EcsStopTask,
    Investigate,
    RestartPod,
    RollbackDeployment,
    RolloutRestart,
    ScaleDeployment,
    SuggestConfigFix,
)

SuggestedAction = Annotated[
    RestartPod
    | RolloutRestart
    | ScaleDeployment
    | RollbackDeployment
    | EcsScaleService
    | EcsForceNewDeployment
    | EcsStopTask
    | SuggestConfigFix
    | Investigate,
    Field(discriminator="action"),
]


class Category(StrEnum):
    """The fixed list of root-cause categories."""

    oom = "oom"
    crashloop_config = "crashloop_config"  # missing env var, bad config file/flag, command not found
    crashloop_app_error = "crashloop_app_error"  # the application itself fails (panic, exception, exit 1)
    image_pull = "image_pull"
    pending_resources = "pending_resources"  # insufficient cpu/memory/gpu
    pending_scheduling = "pending_scheduling"  # node selector, affinity, taints
    storage = "storage"  # PVC unbound, unknown storage class, disk full
    probe_failure = "probe_failure"
    cpu_throttling = "cpu_throttling"
    job_failure = "job_failure"
    dependency_unreachable = "dependency_unreachable"  # database/upstream down, refused, timing out
    dns_failure = "dns_failure"
    network_policy = "network_policy"
    certificate = "certificate"
    ingress_or_service_misconfig = "ingress_or_service_misconfig"
    node_pressure = "node_pressure"
    bad_deploy = "bad_deploy"
    no_problem = "no_problem"
    unknown = "unknown"


class ToolName(StrEnum):
    """Read-only tools the agent may call; also the tool names an evidence bundle may hold."""

    kubectl_describe = "kubectl_describe"
    kubectl_get = "kubectl_get"
    kubectl_logs = "kubectl_logs"
    kubectl_previous_logs = "kubectl_previous_logs"
    kubectl_events = "kubectl_events"
    kubectl_top = "kubectl_top"
    fetch_logs = "fetch_logs"
    similar_incidents = "similar_incidents"
    recent_deploys = "recent_deploys"


# What each tool's params mean (all optional strings; an empty or missing value means "any"):
#   kubectl_describe / kubectl_get: kind (pod, deployment, node, pvc, job, service, ...), name, namespace,
#       selector (label selector, e.g. app=checkout)
#   kubectl_logs / kubectl_previous_logs: name (pod), namespace, container, tail (lines)
#   kubectl_events: namespace, kind, name (the involved object)
#   kubectl_top: kind (pod or node), name, namespace
#   fetch_logs: service, namespace, pod, query (text to look for), since_minutes
#   similar_incidents: title, service
#   recent_deploys: service, namespace, since_minutes
TOOL_DESCRIPTIONS: dict[ToolName, str] = {
    ToolName.kubectl_describe: "kubectl describe: status, conditions, container states, exit codes and events of "
    "Kubernetes objects. Params: kind, name (empty = all of that kind), namespace, selector.",
    ToolName.kubectl_get: "kubectl get -o wide: a table of objects and their status (READY, STATUS, RESTARTS, AGE). "
    "Params: kind, name, namespace, selector.",
    ToolName.kubectl_logs: "kubectl logs: the current container's log. Params: name (pod), namespace, container, tail.",
    ToolName.kubectl_previous_logs: "kubectl logs --previous: the log of the container's previous (crashed) run. "
    "Params: name (pod), namespace, container, tail.",
    ToolName.kubectl_events: "kubectl get events: recent events, optionally for one object. Params: namespace, kind, name.",
    ToolName.kubectl_top: "kubectl top: CPU and memory use. Params: kind (pod or node), name, namespace.",
    ToolName.fetch_logs: "Logs from the log backend (Loki, Elasticsearch/OpenSearch, Datadog, files). "
    "Params: service, namespace, pod, query, since_minutes.",
    ToolName.similar_incidents: "Past incidents with similar titles on the same service, with how they were resolved. "
    "Params: title, service.",
    ToolName.recent_deploys: "Deployments of the service recorded before the incident. Params: service, namespace, "
    "since_minutes.",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCall(_Model):
    """One read-only tool call the agent asked for."""

    id: str
    tool: ToolName
    params: dict[str, str] = Field(default_factory=dict)


class ToolResult(_Model):
    """A tool's raw text output (truncated with a marker when too long)."""

    call_id: str
    tool: ToolName
    params: dict[str, str] = Field(default_factory=dict)
    output: str
    ok: bool = True  # False: the tool failed or had no data; `output` says why
    truncated: bool = False


class EvidenceRef(_Model):
    """A finding's support: which tool call, and the line(s) of its output that show it."""

    tool: ToolName
    params: dict[str, str] = Field(default_factory=dict)
    excerpt: str = Field(max_length=2000)


# Suggested actions are the catalog's typed actions (domain/actions.py) plus `investigate`.


class Diagnosis(_Model):
    """The agent's answer. "No action needed" is a valid outcome (no_problem, empty suggested_actions)."""

    category: Category
    root_cause: str = Field(description="one or two sentences naming the specific culprit")
    summary: str
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[EvidenceRef] = Field(default_factory=list)
    suggested_actions: list[SuggestedAction] = Field(default_factory=list)
    model: str = Field(default="", description="offline reasoner version or the LLM model id")


TOOL_PARAMS = (
    "kind",
    "name",
    "namespace",
    "selector",
    "container",
    "tail",
    "service",
    "pod",
    "query",
    "since_minutes",
    "title",
)


def tool_schema() -> list[dict[str, Any]]:
    """The tools as JSON-schema definitions (the same list the LLM is offered)."""
    params = {
        "type": "object",
        "properties": {key: {"type": "string"} for key in TOOL_PARAMS},
        "additionalProperties": False,
    }
    return [{"name": t.value, "description": TOOL_DESCRIPTIONS[t], "input_schema": params} for t in ToolName]

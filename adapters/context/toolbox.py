"""The live toolbox: Kubernetes (kubectl-like text), the log backend, and SQL (past incidents, deploys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rapidfuzz import fuzz

from adapters.context.base import Toolbox
from adapters.logs.base import LogBackend, LogBackendError, LogQuery, render_lines
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from domain.dedup import normalize_title
from domain.diagnosis import ToolCall, ToolName, ToolResult

KUBECTL_TOOLS = frozenset(
    {
        ToolName.kubectl_describe,
        ToolName.kubectl_get,
        ToolName.kubectl_logs,
        ToolName.kubectl_previous_logs,
        ToolName.kubectl_events,
        ToolName.kubectl_top,
    }
)
DEFAULT_LOG_MINUTES = 60
DEFAULT_DEPLOY_MINUTES = 24 * 60
MAX_LOG_LINES = 500


def _minutes(value: str | None, default: int) -> int:
    try:
        minutes = int(value) if value else default
    except ValueError:
        return default
    return max(1, min(minutes, 14 * 24 * 60))


def _result(call: ToolCall, output: str, *, ok: bool = True) -> ToolResult:
    return ToolResult(call_id=call.id, tool=call.tool, params=call.params, output=output, ok=ok)


class ContextToolbox:
    """Routes each read-only tool to its source; a missing source answers ok=False and says why."""

    def __init__(
        self,
        *,
        db: Database,
        workspace: str,
        now: datetime,
        incident_id: int | None = None,
        kubernetes: Toolbox | None = None,
        logs: LogBackend | None = None,
    ) -> None:
        self._db = db
        self._workspace = workspace
        self._now = now
        self._incident_id = incident_id
        self._kubernetes = kubernetes
        self._logs = logs

    async def call(self, call: ToolCall) -> ToolResult:
        """Answer one tool call from the source that owns it."""
        if call.tool in KUBECTL_TOOLS:
            if self._kubernetes is None:
                return _result(call, "no data: kubernetes is not configured (AI_SRE_KUBERNETES_MODE)", ok=False)
            return await self._kubernetes.call(call)
        if call.tool is ToolName.fetch_logs:
            return await self._fetch_logs(call)
        if call.tool is ToolName.similar_incidents:
            return await self._similar_incidents(call)
        return await self._recent_deploys(call)

    async def _fetch_logs(self, call: ToolCall) -> ToolResult:
        if self._logs is None:
            return _result(call, "no data: no log backend is configured (AI_SRE_LOG_BACKEND)", ok=False)
        p = call.params
        minutes = _minutes(p.get("since_minutes"), DEFAULT_LOG_MINUTES)
        query = LogQuery(
            service=p.get("service") or None,
            namespace=p.get("namespace") or None,
            pod=p.get("pod") or None,
            container=p.get("container") or None,
            text=p.get("query") or None,
            start=self._now - timedelta(minutes=minutes),
            end=self._now,
            limit=MAX_LOG_LINES,
        )
        try:
            lines = await self._logs.fetch(query)
        except LogBackendError as exc:
            return _result(call, f"no data: the {self._logs.slug} log backend failed: {exc}", ok=False)
        if not lines:
            return _result(call, f"(no log lines matched in the last {minutes} minutes)")
        return _result(call, render_lines(lines))

    async def _similar_incidents(self, call: ToolCall) -> ToolResult:
        title = normalize_title(call.params.get("title") or "")
        service = call.params.get("service") or None
        async with self._db.session() as session:
            past = await repo.past_incidents(
                session, workspace=self._workspace, service=service, exclude_id=self._incident_id
            )
        scored = []
        for incident, diagnosis in past:
            score = fuzz.token_set_ratio(title, normalize_title(incident.title)) if title else 0.0
            if service and incident.service == service:
                score += 10  # the same service makes a similar title far more telling
            if score >= 60:
                scored.append((score, incident, diagnosis))
        scored.sort(key=lambda s: (-s[0], -s[1].id))
        if not scored:
            return _result(call, "(no similar resolved incidents)")
        lines = ["ID  SCORE  OPENED                SERVICE  TITLE  |  CAUSE  |  RESOLUTION"]
        for score, incident, diagnosis in scored[:10]:
            cause = f"{diagnosis.category}: {diagnosis.root_cause}" if diagnosis is not None else "not diagnosed"
            resolution = incident.resolution_reason or f"resolved by {incident.resolved_by or 'unknown'}"
            lines.append(
                f"#{incident.id}  {min(score, 100):.0f}  {incident.opened_at:%Y-%m-%dT%H:%MZ}  "
                f"{incident.service or '-'}  {incident.title}  |  {cause}  |  {resolution}"
            )
        return _result(call, "\n".join(lines))

    async def _recent_deploys(self, call: ToolCall) -> ToolResult:
        service = call.params.get("service") or None
        minutes = _minutes(call.params.get("since_minutes"), DEFAULT_DEPLOY_MINUTES)
        async with self._db.session() as session:
            deploys = await repo.list_deploys(
                session,
                workspace=self._workspace,
                service=service,
                since=self._now - timedelta(minutes=minutes),
                until=self._now,
                limit=20,
            )
        namespace = call.params.get("namespace") or None
        if namespace:
            deploys = [d for d in deploys if d.namespace in (None, namespace)]
        if not deploys:
            return _result(call, f"(no deploys of {service or 'any service'} in the last {minutes} minutes)")
        lines = ["DEPLOYED_AT           AGE     SERVICE  VERSION  NAMESPACE  STATUS  COMMIT  AUTHOR"]
        for d in deploys:
            age = self._now - d.deployed_at
            lines.append(
                f"{d.deployed_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}  {int(age.total_seconds() // 60)}m  {d.service}  "
                f"{d.version or '-'}  {d.namespace or '-'}  {d.status}  {d.commit or '-'}  {d.author or '-'}"
            )
        return _result(call, "\n".join(lines))

"""Grafana Loki: `GET /loki/api/v1/query_range` with a LogQL log query.

The query is a stream selector on the Kubernetes labels promtail / Grafana Alloy attach (`namespace`,
`pod`, `container`), a `|=` line filter for the text, and a label filter for the service, which
deployments label differently (`app`, `service_name`, `service`): with a namespace or pod in the
selector the service becomes `| app="x" or service_name="x" or service="x"`; without one, Loki needs a
non-empty matcher in the selector, so one query per service label is sent and the answers merged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.logs.base import (
    HttpOptions,
    LogLine,
    LogQuery,
    VendorHttp,
    basic_auth,
    from_unix_nanos,
    newest,
    snippet,
    stream_source,
    unix_nanos,
)
from domain.settings import ConfigError, Settings

QUERY_RANGE = "/loki/api/v1/query_range"
READY = "/ready"
LABELS = "/loki/api/v1/labels"


@dataclass(frozen=True)
class LokiLabels:
    """Which stream labels hold the Kubernetes names (promtail's kubernetes-pods defaults)."""

    namespace: str = "namespace"
    pod: str = "pod"
    container: str = "container"
    service: tuple[str, ...] = ("app", "service_name", "service")


def logql_string(value: str) -> str:
    """A LogQL double-quoted string literal (Go escaping: backslash, quote and control characters)."""
    out = []
    for char in value:
        if char in {"\\", '"'}:
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def logql_queries(query: LogQuery, labels: LokiLabels | None = None) -> list[str]:
    """The LogQL queries answering `query` (usually one; one per service label when only a service is known)."""
    names = labels or LokiLabels()
    matchers = [
        f"{name}={logql_string(value)}"
        for name, value in (
            (names.namespace, query.namespace),
            (names.pod, query.pod),
            (names.container, query.container),
        )
        if value is not None
    ]
    line_filter = f" |= {logql_string(query.text)}" if query.text is not None else ""
    if query.service is None:
        selector = ", ".join(matchers) if matchers else f'{names.namespace}=~".+"'
        return [f"{{{selector}}}{line_filter}"]
    if matchers or not names.service:
        alternatives = " or ".join(f"{name}={logql_string(query.service)}" for name in names.service)
        selector = ", ".join(matchers) if matchers else f'{names.namespace}=~".+"'
        service_filter = f" | {alternatives}" if alternatives else ""
        # Line filters first: Loki evaluates the pipeline in order and a substring test is the cheapest.
        return [f"{{{selector}}}{line_filter}{service_filter}"]
    return [f"{{{name}={logql_string(query.service)}}}{line_filter}" for name in names.service]


class LokiBackend:
    """Log queries against Loki's HTTP API (directly, through its gateway, or Grafana Cloud)."""

    slug = "loki"

    def __init__(self, *, options: HttpOptions, labels: LokiLabels | None = None) -> None:
        self.http = VendorHttp(vendor="loki", options=options)
        self.labels = labels or LokiLabels()

    @classmethod
    def from_settings(cls, settings: Settings, *, labels: LokiLabels | None = None) -> LokiBackend:
        """Loki at AI_SRE_LOG_URL; tenant, bearer token or basic auth from the AI_SRE_LOG_* settings."""
        if not settings.log_url:
            raise ConfigError("AI_SRE_LOG_URL is required for the loki log backend (e.g. http://loki:3100)")
        headers: dict[str, str] = {}
        secrets: list[str] = []
        api_key = settings.log_api_key.get_secret_value() if settings.log_api_key else None
        password = settings.log_password.get_secret_value() if settings.log_password else None
        if settings.log_username:
            # Grafana Cloud: basic auth with the instance id as user and an access token as password.
            secret = password or api_key
            if not secret:
                raise ConfigError(
                    "AI_SRE_LOG_USERNAME is set for loki but neither AI_SRE_LOG_PASSWORD nor AI_SRE_LOG_API_KEY is"
                )
            headers["Authorization"], token = basic_auth(settings.log_username, secret)
            secrets += [secret, token]
        elif api_key:
            headers["Authorization"] = f"Bearer {api_key}"
            secrets.append(api_key)
        elif password:
            raise ConfigError("AI_SRE_LOG_PASSWORD is set for loki without AI_SRE_LOG_USERNAME")
        if settings.log_tenant:
            headers["X-Scope-OrgID"] = settings.log_tenant
        options = HttpOptions(
            url=settings.log_url,
            headers=headers,
            secrets=tuple(secrets),
            verify_tls=settings.log_verify_tls,
            timeout_seconds=settings.log_timeout_seconds,
        )
        return cls(options=options, labels=labels)

    async def fetch(self, query: LogQuery) -> list[LogLine]:
        """The newest matching lines (direction=backward), returned oldest first."""
        queries = logql_queries(query, self.labels)
        async with self.http.client() as client:
            answers = await asyncio.gather(*(self._query(client, logql, query) for logql in queries))
        seen: set[tuple[Any, ...]] = set()
        lines = []
        for answer in answers:
            for key, line in answer:
                # The same stream can match several service labels (Loki 3 derives service_name from app).
                if key not in seen:
                    seen.add(key)
                    lines.append(line)
        return newest(lines, query.limit)

    async def _query(self, client: Any, logql: str, query: LogQuery) -> list[tuple[tuple[Any, ...], LogLine]]:
        params: dict[str, str | int] = {
            "query": logql,
            "start": unix_nanos(query.start),
            # Loki's end is exclusive; ours is inclusive.
            "end": unix_nanos(query.end) + 1,
            "limit": query.limit,
            "direction": "backward",
        }
        response = await self.http.send(client, "GET", QUERY_RANGE, params=params)
        if response.status_code != 200:
            raise self.http.failure(response, _error_text(response), what="query_range: ")
        body = self.http.decode(response)
        return self._parse(body)

    def _parse(self, body: Any) -> list[tuple[tuple[Any, ...], LogLine]]:
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            detail = body.get("error") if isinstance(body, dict) else None
            raise self.http.error(f"query_range did not succeed: {snippet(str(detail or body))}")
        data = body["data"]
        if data.get("resultType") != "streams" or not isinstance(data.get("result"), list):
            raise self.http.error(f"query_range answered resultType {data.get('resultType')!r}, expected 'streams'")
        out = []
        names = self.labels
        for stream in data["result"]:
            if not isinstance(stream, dict):
                continue
            raw_labels = stream.get("stream")
            labels = {str(k): str(v) for k, v in raw_labels.items()} if isinstance(raw_labels, dict) else {}
            service = next((labels[name] for name in names.service if labels.get(name)), None)
            source = stream_source(
                namespace=labels.get(names.namespace),
                pod=labels.get(names.pod),
                container=labels.get(names.container),
                service=service,
            )
            identity = tuple(sorted(labels.items()))
            # Backward direction lists each stream newest first; reversing restores the push order of
            # entries sharing a timestamp before the stable sort.
            for value in reversed(stream.get("values") or []):
                if not isinstance(value, list) or len(value) < 2:
                    continue
                try:
                    nanos = int(value[0])
                except (TypeError, ValueError):
                    continue
                message = str(value[1])
                line = LogLine(at=from_unix_nanos(nanos), message=message, labels=labels, source=source)
                out.append(((nanos, message, identity), line))
        return out

    async def health(self) -> None:
        """`/ready` answers "ready" (skipped when a gateway does not route it), then a labels call proves
        the credentials and tenant are accepted."""
        async with self.http.client() as client:
            ready = await self.http.send(client, "GET", READY)
            if ready.status_code != 404 and not (ready.status_code == 200 and ready.text.strip() == "ready"):
                raise self.http.failure(ready, _error_text(ready), what="not ready: ")
            now = datetime.now(UTC)
            params: dict[str, str | int] = {
                "start": unix_nanos(now - timedelta(minutes=5)),
                "end": unix_nanos(now),
            }
            labels = await self.http.send(client, "GET", LABELS, params=params)
            if labels.status_code != 200:
                raise self.http.failure(labels, _error_text(labels), what="labels: ")
            body = self.http.decode(labels)
            if not isinstance(body, dict) or body.get("status") != "success":
                raise self.http.error(f"labels did not succeed: {snippet(str(body))}")


def _error_text(response: Any) -> str:
    # Loki answers errors as plain text ("parse error at line 1, col 9: ..."); some versions and
    # gateways send JSON {"status": "error", "error": "..."} or {"message": "..."}.
    text = response.text
    try:
        body = response.json()
    except ValueError:
        return snippet(text)
    if isinstance(body, dict):
        for key in ("error", "message", "errors"):
            if body.get(key):
                return snippet(str(body[key]))
    return snippet(text)

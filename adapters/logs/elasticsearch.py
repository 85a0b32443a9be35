"""Elasticsearch / OpenSearch: `POST /<index>/_search` with a bool query.

Kubernetes logs reach these stores through Fluent Bit (`kubernetes.namespace_name`, `kubernetes.pod_name`,
`kubernetes.container_name`, `kubernetes.labels.app`, the raw line in `log`) or Filebeat / Elastic Agent
(ECS: `kubernetes.namespace`, `kubernetes.pod.name`, `kubernetes.container.name`, `service.name`,
`message`). Each filter accepts any of those fields. Terms go to both the field and its `.keyword`
sub-field: dynamically mapped strings are analyzed text (`checkout-7d9f` is split into tokens and no
term on the text field matches it), while ECS templates map them as keywords (no `.keyword` exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from adapters.logs.base import (
    HttpOptions,
    LogLine,
    LogQuery,
    VendorHttp,
    basic_auth,
    format_timestamp,
    newest,
    object_path,
    parse_timestamp,
    snippet,
    stream_source,
    text_value,
)
from domain.settings import ConfigError, Settings


@dataclass(frozen=True)
class EsFields:
    """Document fields per filter, tried in order (Fluent Bit first, then ECS)."""

    timestamp: str = "@timestamp"
    namespace: tuple[str, ...] = ("kubernetes.namespace_name", "kubernetes.namespace")
    pod: tuple[str, ...] = ("kubernetes.pod_name", "kubernetes.pod.name")
    container: tuple[str, ...] = ("kubernetes.container_name", "kubernetes.container.name")
    service: tuple[str, ...] = (
        "service.name",
        "kubernetes.labels.app",
        "kubernetes.labels.app_kubernetes_io/name",
    )
    message: tuple[str, ...] = ("message", "log")


def search_body(query: LogQuery, fields: EsFields | None = None) -> dict[str, Any]:
    """The `_search` request body for `query`: newest first, `limit` hits."""
    names = fields or EsFields()
    filters: list[dict[str, Any]] = [
        {
            "range": {
                names.timestamp: {
                    "gte": format_timestamp(query.start),
                    "lte": format_timestamp(query.end),
                    "format": "strict_date_optional_time||epoch_millis",
                }
            }
        }
    ]
    for candidates, value in (
        (names.namespace, query.namespace),
        (names.pod, query.pod),
        (names.container, query.container),
        (names.service, query.service),
    ):
        if value is not None:
            terms = [{"term": {name: value}} for field in candidates for name in (field, f"{field}.keyword")]
            filters.append({"bool": {"should": terms, "minimum_should_match": 1}})
    if query.text is not None:
        phrases = [{"match_phrase": {field: query.text}} for field in names.message]
        filters.append({"bool": {"should": phrases, "minimum_should_match": 1}})
    return {
        "size": query.limit,
        "track_total_hits": False,
        # unmapped_type: an index in the pattern without the field must not fail the whole search.
        "sort": [{names.timestamp: {"order": "desc", "unmapped_type": "date"}}],
        "query": {"bool": {"filter": filters}},
    }


class ElasticsearchBackend:
    """Log search against Elasticsearch or OpenSearch."""

    def __init__(
        self, *, options: HttpOptions, index: str, slug: str = "elasticsearch", fields: EsFields | None = None
    ) -> None:
        self.slug = slug
        self.http = VendorHttp(vendor=slug, options=options)
        self.index = index
        self.fields = fields or EsFields()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, slug: str = "elasticsearch", fields: EsFields | None = None
    ) -> ElasticsearchBackend:
        """The cluster at AI_SRE_LOG_URL, index AI_SRE_LOG_INDEX, ApiKey or basic auth."""
        if not settings.log_url:
            raise ConfigError(f"AI_SRE_LOG_URL is required for the {slug} log backend (e.g. https://es:9200)")
        if not settings.log_index.strip():
            raise ConfigError(f"AI_SRE_LOG_INDEX is empty; the {slug} log backend needs an index or pattern")
        headers: dict[str, str] = {}
        secrets: list[str] = []
        if settings.log_api_key:
            # The "encoded" value Elasticsearch returns when the key is created (base64 of id:key).
            key = settings.log_api_key.get_secret_value()
            headers["Authorization"] = f"ApiKey {key}"
            secrets.append(key)
        elif settings.log_username:
            if not settings.log_password:
                raise ConfigError(f"AI_SRE_LOG_USERNAME is set for {slug} but AI_SRE_LOG_PASSWORD is not")
            password = settings.log_password.get_secret_value()
            headers["Authorization"], token = basic_auth(settings.log_username, password)
            secrets += [password, token]
        options = HttpOptions(
            url=settings.log_url,
            headers=headers,
            secrets=tuple(secrets),
            verify_tls=settings.log_verify_tls,
            timeout_seconds=settings.log_timeout_seconds,
        )
        return cls(options=options, index=settings.log_index.strip(), slug=slug, fields=fields)

    async def fetch(self, query: LogQuery) -> list[LogLine]:
        """The newest matching documents as lines, oldest first."""
        path = f"/{quote(self.index, safe='*,:-_.+')}/_search"
        async with self.http.client() as client:
            response = await self.http.send(client, "POST", path, json_body=search_body(query, self.fields))
        if response.status_code != 200:
            raise self.http.failure(response, _es_error(_json_or_text(response)), what="_search: ")
        body = self.http.decode(response)
        return newest(self._parse(body), query.limit)

    def _parse(self, body: Any) -> list[LogLine]:
        hits = object_path(body, "hits.hits") if isinstance(body, dict) else None
        if not isinstance(hits, list):
            raise self.http.error(f"_search answered without hits.hits: {snippet(str(body))}")
        shards = body.get("_shards") if isinstance(body.get("_shards"), dict) else {}
        if not hits and shards.get("failed") and not shards.get("successful"):
            failures = shards.get("failures") or []
            reason = object_path(failures[0], "reason.reason") if failures and isinstance(failures[0], dict) else None
            raise self.http.error(f"every shard failed: {snippet(str(reason or failures))}")
        names = self.fields
        out = []
        for hit in hits:
            if not isinstance(hit, dict) or not isinstance(hit.get("_source"), dict):
                continue
            source = hit["_source"]
            at = parse_timestamp(object_path(source, names.timestamp))
            if at is None and isinstance(hit.get("sort"), list) and hit["sort"]:
                at = parse_timestamp(hit["sort"][0])
            if at is None:
                continue
            message = next(
                (value for field in names.message if isinstance(value := object_path(source, field), str)), None
            )
            if message is None:
                continue
            labels = {}
            for label, candidates in (
                ("namespace", names.namespace),
                ("pod", names.pod),
                ("container", names.container),
                ("service", names.service),
            ):
                value = next((v for field in candidates if (v := text_value(object_path(source, field)))), None)
                if value is not None:
                    labels[label] = value
            if isinstance(hit.get("_index"), str):
                labels["index"] = hit["_index"]
            line_source = stream_source(
                namespace=labels.get("namespace"),
                pod=labels.get("pod"),
                container=labels.get("container"),
                service=labels.get("service"),
            )
            out.append(LogLine(at=at, message=message.rstrip("\r\n"), labels=labels, source=line_source))
        return out

    async def health(self) -> None:
        """`GET /_cluster/health` answers and the status is not red."""
        async with self.http.client() as client:
            response = await self.http.send(client, "GET", "/_cluster/health")
        if response.status_code != 200:
            raise self.http.failure(response, _es_error(_json_or_text(response)), what="_cluster/health: ")
        body = self.http.decode(response)
        status = body.get("status") if isinstance(body, dict) else None
        if status not in {"green", "yellow", "red"}:
            raise self.http.error(f"_cluster/health has no status: {snippet(str(body))}")
        if status == "red":
            unassigned = body.get("unassigned_shards")
            raise self.http.error(f"cluster health is red (unassigned shards: {unassigned}); searches may miss logs")


def _json_or_text(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _es_error(body: Any) -> str:
    # {"error": {"type": "...", "reason": "...", "root_cause": [...]}, "status": 400}; older or proxy
    # errors may be a bare string.
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            kind = error.get("type")
            reason = error.get("reason")
            caused = error.get("caused_by") if isinstance(error.get("caused_by"), dict) else None
            text = f"{kind}: {reason}" if kind else str(reason)
            if caused and caused.get("reason") and caused.get("reason") != reason:
                text += f" (caused by {caused.get('type')}: {caused.get('reason')})"
            return snippet(text)
        if error:
            return snippet(str(error))
        if body.get("message"):
            return snippet(str(body["message"]))
    return snippet(str(body))

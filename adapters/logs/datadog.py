"""Datadog Logs: `POST /api/v2/logs/events/search` (newest first, cursor pagination).

The search query uses the tags the Datadog Agent puts on Kubernetes logs (`kube_namespace`, `pod_name`,
`kube_container_name`) and the reserved `service` attribute; the text is a quoted sequence, which
Datadog matches against the message. Values are escaped as the log search syntax documents.
"""

from __future__ import annotations

from typing import Any

from adapters.logs.base import (
    HttpOptions,
    LogBackendError,
    LogLine,
    LogQuery,
    VendorHttp,
    format_timestamp,
    parse_timestamp,
    retry_after_seconds,
    snippet,
    sort_lines,
    stream_source,
    text_value,
)
from domain.settings import ConfigError, Settings

SEARCH = "/api/v2/logs/events/search"
VALIDATE = "/api/v1/validate"
MAX_PAGE = 1000  # the API's page[limit] maximum
# Characters the log search syntax treats as special (escape with a backslash); spaces too.
SPECIAL = set('+-=&|><!(){}[]^"“”~*?:\\# ')


def dd_escape(value: str) -> str:
    """A tag or attribute value with the search syntax's special characters escaped."""
    return "".join("\\" + char if char in SPECIAL or char.isspace() else char for char in value)


def dd_phrase(value: str) -> str:
    """A quoted sequence for full-text search (quotes and backslashes escaped, whitespace flattened)."""
    text = " ".join(value.split())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def datadog_query(query: LogQuery) -> str:
    """The log search query string for `query` (`*` when nothing narrows it)."""
    terms = [
        f"{key}:{dd_escape(value)}"
        for key, value in (
            ("service", query.service),
            ("kube_namespace", query.namespace),
            ("pod_name", query.pod),
            ("kube_container_name", query.container),
        )
        if value is not None
    ]
    if query.text is not None:
        terms.append(dd_phrase(query.text))
    return " ".join(terms) or "*"


class DatadogLogsBackend:
    """Log search against a Datadog site's API (AI_SRE_LOG_URL, e.g. https://api.datadoghq.eu)."""

    slug = "datadog"

    def __init__(self, *, options: HttpOptions, page_size: int = MAX_PAGE) -> None:
        self.http = VendorHttp(vendor="datadog", options=options)
        self.page_size = max(1, min(page_size, MAX_PAGE))

    @classmethod
    def from_settings(cls, settings: Settings) -> DatadogLogsBackend:
        """Keys from AI_SRE_LOG_API_KEY (DD-API-KEY) and AI_SRE_LOG_APP_KEY (DD-APPLICATION-KEY)."""
        if not settings.log_url:
            raise ConfigError(
                "AI_SRE_LOG_URL is required for the datadog log backend: your site's API URL, "
                "e.g. https://api.datadoghq.com or https://api.datadoghq.eu"
            )
        api_key = settings.log_api_key.get_secret_value() if settings.log_api_key else ""
        app_key = settings.log_app_key.get_secret_value() if settings.log_app_key else ""
        missing = [
            name for name, value in (("AI_SRE_LOG_API_KEY", api_key), ("AI_SRE_LOG_APP_KEY", app_key)) if not value
        ]
        if missing:
            raise ConfigError(f"the datadog log backend needs {' and '.join(missing)} (reading logs needs both keys)")
        options = HttpOptions(
            url=settings.log_url,
            headers={"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key, "Accept": "application/json"},
            secrets=(api_key, app_key),
            verify_tls=settings.log_verify_tls,
            timeout_seconds=settings.log_timeout_seconds,
        )
        return cls(options=options)

    async def fetch(self, query: LogQuery) -> list[LogLine]:
        """The newest matching logs (sort -timestamp, following meta.page.after), returned oldest first."""
        base = {
            "filter": {
                "query": datadog_query(query),
                "from": format_timestamp(query.start),
                "to": format_timestamp(query.end),
            },
            "sort": "-timestamp",
        }
        lines: list[LogLine] = []
        cursor: str | None = None
        async with self.http.client() as client:
            while len(lines) < query.limit:
                page: dict[str, Any] = {"limit": min(self.page_size, query.limit - len(lines))}
                if cursor is not None:
                    page["cursor"] = cursor
                response = await self.http.send(client, "POST", SEARCH, json_body={**base, "page": page})
                if response.status_code != 200:
                    raise self._failure(response, "logs search: ")
                body = self.http.decode(response)
                data = body.get("data") if isinstance(body, dict) else None
                if not isinstance(data, list):
                    raise self.http.error(f"logs search answered without data: {snippet(str(body))}")
                lines.extend(line for item in data if (line := _parse_event(item)) is not None)
                after = _cursor(body)
                if not data or after is None:
                    break
                cursor = after
        return sort_lines(lines[: query.limit])

    async def health(self) -> None:
        """`GET /api/v1/validate` accepts the API key (Datadog does not validate the application key there)."""
        async with self.http.client() as client:
            response = await self.http.send(client, "GET", VALIDATE)
        if response.status_code != 200:
            raise self._failure(response, "validate: ")
        body = self.http.decode(response)
        if not isinstance(body, dict) or body.get("valid") is not True:
            raise self.http.error(f"validate did not confirm the API key: {snippet(str(body))}")

    def _failure(self, response: Any, what: str) -> LogBackendError:
        detail = _dd_errors(response)
        if response.status_code == 429:
            # Datadog says when the window resets in X-RateLimit-Reset (seconds), not Retry-After.
            reset = retry_after_seconds(response.headers.get("x-ratelimit-reset"))
            limit = response.headers.get("x-ratelimit-limit")
            period = response.headers.get("x-ratelimit-period")
            budget = f"; limit {limit} requests per {period} s" if limit and period else ""
            wait = f"retry in {reset:g} s (X-RateLimit-Reset)" if reset is not None else "no reset time given"
            reason = f"{self.http.where}: {what}HTTP 429: rate limit exceeded, {wait}{budget}: {detail}"
            return LogBackendError(self.http.scrub(reason), status=429, retry_after=reset)
        if response.status_code in {401, 403}:
            reason = (
                f"{self.http.where}: {what}HTTP {response.status_code}: {detail} "
                "(check AI_SRE_LOG_API_KEY and AI_SRE_LOG_APP_KEY, the key's logs_read_data permission, "
                "and that AI_SRE_LOG_URL is your Datadog site)"
            )
            return LogBackendError(self.http.scrub(reason), status=response.status_code)
        return self.http.failure(response, detail, what=what)


def _cursor(body: dict[str, Any]) -> str | None:
    meta = body.get("meta")
    page = meta.get("page") if isinstance(meta, dict) else None
    after = page.get("after") if isinstance(page, dict) else None
    return after if isinstance(after, str) and after else None


def _dd_errors(response: Any) -> str:
    # Datadog's error body is {"errors": ["..."]}.
    try:
        body = response.json()
    except ValueError:
        return snippet(response.text)
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return snippet("; ".join(str(e) for e in body["errors"]))
    return snippet(str(body))


def _parse_event(item: Any) -> LogLine | None:
    if not isinstance(item, dict) or not isinstance(item.get("attributes"), dict):
        return None
    attributes = item["attributes"]
    at = parse_timestamp(attributes.get("timestamp"))
    if at is None:
        return None
    labels: dict[str, str] = {}
    for tag in attributes.get("tags") or []:
        if isinstance(tag, str):
            key, sep, value = tag.partition(":")
            if sep and key and key not in labels:
                labels[key] = value
    for key in ("service", "host", "status"):
        reserved = text_value(attributes.get(key))
        if reserved is not None:
            labels[key] = reserved
    message = attributes.get("message")
    source = stream_source(
        namespace=labels.get("kube_namespace"),
        pod=labels.get("pod_name"),
        container=labels.get("kube_container_name"),
        service=labels.get("service"),
    )
    return LogLine(at=at, message=message if isinstance(message, str) else "", labels=labels, source=source)

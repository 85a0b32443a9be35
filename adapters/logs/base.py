"""The log backend interface, the query and line models, rendering, and the HTTP plumbing backends share.

A backend answers the `fetch_logs` tool: given a LogQuery it returns LogLines oldest first, and
`render_lines` turns them into the text the agent (and an evidence bundle) sees. Backends never put
credentials in URLs, exception messages or logs: they travel only in request headers, and every error
message is scrubbed of them before it leaves this package.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.settings import ConfigError

MAX_LIMIT = 5000
DEFAULT_LIMIT = 200
ERROR_BODY_CHARS = 300


class LogBackendError(Exception):
    """A log backend cannot answer. The message says why in words an operator can act on.

    `status` is the vendor's HTTP status when there was one; `retry_after` is how long the vendor asked
    us to wait (Retry-After / X-RateLimit-Reset) in seconds, when it said.
    """

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class LogQuery(BaseModel):
    """What to look for: every filter is optional (None = any); the time range is required and aware."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str | None = None
    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    text: str | None = None  # a substring the line must contain
    start: AwareDatetime
    end: AwareDatetime
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @field_validator("service", "namespace", "pod", "container", "text", mode="before")
    @classmethod
    def _blank_is_any(cls, value: Any) -> Any:
        # The agent sends "" for "any"; a filter on the empty string would match nothing anywhere.
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _ordered(self) -> LogQuery:
        if self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class LogLine(BaseModel):
    """One log line. `source` names the stream (`namespace/pod[container]`, or what the backend knows)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    message: str
    labels: dict[str, str] = Field(default_factory=dict)
    source: str = "-"


@runtime_checkable
class LogBackend(Protocol):
    """A log store the diagnosis agent can search."""

    slug: str

    async def fetch(self, query: LogQuery) -> list[LogLine]:
        """The newest `query.limit` matching lines, returned oldest first. Raises LogBackendError."""
        ...

    async def health(self) -> None:
        """Return when the backend is usable; raise LogBackendError saying why not."""
        ...


def stream_source(
    *, namespace: str | None = None, pod: str | None = None, container: str | None = None, service: str | None = None
) -> str:
    """`namespace/pod[container]` with whatever parts are known; the service stands in for a missing pod."""
    name = pod or service
    if name is None:
        return namespace or "-"
    text = f"{namespace}/{name}" if namespace else name
    return f"{text}[{container}]" if container else text


def format_timestamp(at: datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: `2026-11-28T10:00:01.123Z`."""
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sort_lines(lines: Iterable[LogLine]) -> list[LogLine]:
    """Oldest first. Stable: lines with the same time keep their order within a stream (stack traces)."""
    return sorted(lines, key=lambda line: (line.at, line.source))


def newest(lines: Iterable[LogLine], limit: int) -> list[LogLine]:
    """The newest `limit` lines, oldest first."""
    ordered = sort_lines(lines)
    return ordered[-limit:] if limit > 0 else []


def render_lines(lines: Iterable[LogLine]) -> str:
    """The `fetch_logs` tool's text: one line per log line, `<time> <source> <message>`, oldest first.

    A multi-line message (a stack trace in one entry) becomes several lines with the same prefix so every
    output line stands alone, as it would in `kubectl logs`.
    """
    out: list[str] = []
    for line in sort_lines(lines):
        prefix = f"{format_timestamp(line.at)} {line.source}"
        parts = line.message.rstrip("\r\n").splitlines() or [""]
        out.extend(f"{prefix} {part.rstrip()}" for part in parts)
    return "\n".join(out)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 string (naive = UTC) or an epoch number in s, ms, µs or ns; None when it is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value), int(value) if isinstance(value, int) else None)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").replace(".", "", 1).isdigit():
        number = float(text)
        return _from_epoch(number, int(text) if text.lstrip("-").isdigit() else None)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _trim_fraction(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _trim_fraction(text: str) -> str:
    # Python keeps microseconds; Loki and Go write nanoseconds (9 digits), which fromisoformat refuses.
    dot = text.find(".", 10)
    if dot < 0:
        return text
    end = dot + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    digits = text[dot + 1 : end][:6]
    return text[: dot + 1] + (digits or "0") + text[end:]


def _from_epoch(number: float, exact: int | None) -> datetime | None:
    if not math.isfinite(number) or number < 0:
        return None
    if exact is not None and exact >= 10**17:  # nanoseconds: keep integer precision
        return from_unix_nanos(exact)
    if number >= 10**14:  # microseconds
        seconds = number / 1e6
    elif number >= 10**11:  # milliseconds
        seconds = number / 1e3
    else:
        seconds = number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_unix_nanos(nanos: int) -> datetime:
    """An aware UTC datetime from nanoseconds since the epoch (microsecond precision)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanos // 1000)


def unix_nanos(at: datetime) -> int:
    """Nanoseconds since the epoch, computed without floats so no instant moves."""
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# --- HTTP plumbing shared by the Loki, Elasticsearch and Datadog backends -----------------------------


@dataclass(frozen=True)
class HttpOptions:
    """Where a vendor API is and how to reach it. `headers` carry the credentials; `secrets` lists every
    credential value (and encoded form) so error messages can be scrubbed of them."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    verify_tls: bool = True
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"log backend URL {redact_url(self.url)!r} is not an http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                "the log backend URL holds credentials; put them in AI_SRE_LOG_USERNAME / AI_SRE_LOG_PASSWORD "
                "or AI_SRE_LOG_API_KEY instead (they would otherwise end up in error messages)"
            )


def basic_auth(username: str, password: str) -> tuple[str, str]:
    """The Authorization header value for HTTP basic auth, and its token (a secret to scrub)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}", token


def redact_url(url: str) -> str:
    """The URL without user info, query or fragment (those are where credentials hide)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class VendorHttp:
    """Requests to one vendor API: headers, TLS, timeouts, and errors turned into LogBackendError."""

    def __init__(self, *, vendor: str, options: HttpOptions) -> None:
        self.vendor = vendor
        self.options = options
        self.base_url = options.url.rstrip("/")
        self.where = f"{vendor} at {redact_url(self.base_url)}"

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """A client for one operation (a query and its pages): short-lived, so no loop affinity leaks."""
        async with httpx.AsyncClient(
            headers=dict(self.options.headers),
            verify=_tls_context() if self.options.verify_tls else False,
            timeout=httpx.Timeout(self.options.timeout_seconds),
            follow_redirects=False,
        ) as client:
            yield client

    async def send(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        """One request; network failures become LogBackendError naming the vendor, never the credentials."""
        url = f"{self.base_url}{path}"
        try:
            return await client.request(method, url, params=params, json=json_body)
        except httpx.TimeoutException:
            raise LogBackendError(
                f"{self.where}: no answer within {self.options.timeout_seconds:g} s (AI_SRE_LOG_TIMEOUT_SECONDS)"
            ) from None
        except httpx.ConnectError as exc:
            raise LogBackendError(f"{self.where}: cannot connect: {self.scrub(_first_line(exc))}") from None
        except httpx.HTTPError as exc:
            raise LogBackendError(
                f"{self.where}: request failed: {type(exc).__name__}: {self.scrub(_first_line(exc))}"
            ) from None

    def error(self, detail: str, *, status: int | None = None) -> LogBackendError:
        """A LogBackendError about this vendor, scrubbed of credentials."""
        return LogBackendError(self.scrub(f"{self.where}: {detail}"), status=status)

    def scrub(self, text: str) -> str:
        """The text with every credential value replaced by `***`."""
        for secret in sorted(self.options.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    def decode(self, response: httpx.Response) -> Any:
        """The JSON body, or LogBackendError when it is not JSON (a proxy's HTML page, a truncated body)."""
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LogBackendError(
                f"{self.where}: HTTP {response.status_code} with a body that is not JSON: "
                f"{self.scrub(snippet(response.text))!r}",
                status=response.status_code,
            ) from None

    def failure(self, response: httpx.Response, detail: str, *, what: str = "") -> LogBackendError:
        """A LogBackendError for an HTTP error status, with the vendor's reason and any retry hint."""
        status = response.status_code
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        hint = ""
        if status == 429:
            hint = " (rate limited" + (f"; retry in {retry_after:g} s" if retry_after is not None else "") + ")"
        elif status in {401, 403}:
            hint = " (check the credentials: AI_SRE_LOG_USERNAME/PASSWORD or AI_SRE_LOG_API_KEY)"
        prefix = f"{self.where}: {what}" if what else f"{self.where}: "
        reason = f"{prefix}HTTP {status}{hint}: {detail.strip() or response.reason_phrase or 'no details'}"
        return LogBackendError(self.scrub(reason), status=status, retry_after=retry_after)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~70 ms; build the verifying context once per process, not per request.
    # trust_env: SSL_CERT_FILE / SSL_CERT_DIR name a corporate CA bundle where one is needed.
    return httpx.create_ssl_context()


def snippet(text: str, limit: int = ERROR_BODY_CHARS) -> str:
    """The start of a response body, on one line, for an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def object_path(document: Mapping[str, Any], path: str) -> Any:
    """A dotted path in a JSON document whose keys may be nested objects, dotted flat keys, or a mix."""
    if path in document:
        return document[path]
    head, dot, rest = path.partition(".")
    while dot:
        child = document.get(head)
        if isinstance(child, Mapping):
            found = object_path(child, rest)
            if found is not None:
                return found
        next_head, dot, rest = rest.partition(".")
        head = f"{head}.{next_head}"
    return None


def text_value(value: Any) -> str | None:
    """A scalar as a label value; None for missing values and containers."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text else None

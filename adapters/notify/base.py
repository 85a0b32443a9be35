"""The notification channel interface, and the plumbing and wording the channel adapters share.

A channel renders a `domain.notify.Notification` in its vendor's format and delivers it. Errors are
`ChannelError`s whose `retryable` flag tells the notify activity whether Temporal should try again
(connection errors, timeouts, 429, 5xx) or give up (other 4xx, a vendor's "invalid_auth"). Credentials —
bot tokens, routing keys, SMTP passwords, and webhook URLs, which are credentials themselves — travel only
in headers, bodies or the request line and never appear in an error message: every message is scrubbed
of them, and vendor exceptions are not chained (`from None`) so no request object rides along.
"""

from __future__ import annotations

import functools
import json
import math
import ssl
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import httpx

from adapters.logs.base import retry_after_seconds
from domain.models import Severity
from domain.notify import CardAction, ChannelError, DeliveryRef, Notification, NotifyEvent, PagedPerson
from domain.settings import ConfigError

ERROR_BODY_CHARS = 200


@runtime_checkable
class Channel(Protocol):
    """One configured notification channel (a key under routing.yaml `channels:`)."""

    slug: ClassVar[str]  # "slack", "slack_webhook", "teams", "pagerduty", "email"
    name: str  # the configured channel name
    events: frozenset[NotifyEvent]  # = domain.routing.channel_events(spec)

    async def send(self, note: Notification, *, card: DeliveryRef | None) -> DeliveryRef | None:
        """Deliver one event; return a ref when it created something later events refer to, else None."""
        ...

    async def health(self) -> None:
        """Startup check: return when the channel is usable, raise ChannelError saying why not."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


# --- wording shared by every channel -----------------------------------------------------------------


def severity_label(severity: Severity | None) -> str:
    """`CRITICAL`, ..., or `UNKNOWN` when the incident has no severity yet."""
    return severity.value.upper() if severity is not None else "UNKNOWN"


def event_label(event: NotifyEvent) -> str:
    """`action proposed` for `action_proposed`."""
    return event.value.replace("_", " ")


def incident_label(note: Notification) -> str:
    """`#42`, or empty for a notification without an incident (the digest)."""
    return f"#{note.incident_id}" if note.incident_id is not None else ""


def headline(note: Notification) -> str:
    """`[CRITICAL] #42 Checkout latency high` (parts the note lacks are left out)."""
    parts = [f"[{severity_label(note.severity)}]" if note.severity is not None else "", incident_label(note)]
    return " ".join(p for p in (*parts, note.title) if p)


def humanize(value: str) -> str:
    """`pending_approval` -> `pending approval`."""
    return value.replace("_", " ")


def action_state(action: CardAction) -> str:
    """How an action on the card stands, in words: "Approved by alice, bob", "Rejected by x", ..."""
    status = action.status
    approvers = ", ".join(action.approvers)
    if action.pending:
        if action.approvers_needed > 1 or action.approvers:
            return f"Waiting for approval ({len(action.approvers)} of {action.approvers_needed})"
        return "Waiting for approval"
    if status == "rejected":
        return f"Rejected by {action.verdict_by}" if action.verdict_by else "Rejected"
    if status == "expired":
        return "Expired: no verdict in time"
    if status == "denied":
        return "Denied by policy"
    if status == "approved":
        return f"Approved by {approvers}" if approvers else "Approved"
    label = humanize(status).capitalize()
    return f"{label} (approved by {approvers})" if approvers else label


def person_label(person: PagedPerson) -> str:
    """A paged person as plain text: `Alice Doe <alice@example.com>` or the name alone."""
    name = person.display_name or person.name
    return f"{name} <{person.email}>" if person.email else name


def facts(note: Notification) -> list[tuple[str, str]]:
    """The key/value facts every card shows (incident link excluded: each format links it its own way)."""
    rows: list[tuple[str, str]] = []
    if note.severity is not None:
        rows.append(("Severity", severity_label(note.severity)))
    rows.append(("Service", note.service or "—"))
    if note.status:
        rows.append(("Status", humanize(note.status)))
    rows.append(("Workspace", note.workspace))
    rows.extend((key, value) for key, value in note.fields.items())
    return rows


def diagnosis_line(note: Notification) -> str | None:
    """`category, 82% confidence` when the diagnosis said either, else None."""
    parts = []
    if note.diagnosis_category:
        parts.append(humanize(note.diagnosis_category))
    confidence = note.diagnosis_confidence
    if confidence is not None and math.isfinite(confidence):
        # Confidence arrives as 0..1 from the reasoner; tolerate a percentage too.
        percent = confidence * 100 if confidence <= 1 else confidence
        parts.append(f"{percent:.0f}% confidence")
    return ", ".join(parts) or None


def approval_hint(note: Notification) -> str:
    """Where to approve when the channel has no buttons."""
    where = note.url or f"/incidents/{note.incident_id}"
    return f"Approve or reject through the API: POST {where}/actions/<action id>/approve (or /reject)."


def truncate(text: str, limit: int) -> str:
    """The text cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


# --- secrets and HTTP --------------------------------------------------------------------------------


def scrub(text: str, secrets: Iterable[str]) -> str:
    """The text with every secret value replaced by `***` (longest first, so a URL goes before its path)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """A webhook URL and the parts of it that identify it (path, query): all of them are the credential."""
    parts = urlsplit(url)
    found = [url, url.rstrip("/")]
    if len(parts.path) > 1:
        found.append(parts.path)
    if parts.query:
        found.append(parts.query)
    return tuple(found)


def origin(url: str) -> str:
    """`https://host:port` of a URL: the part that is safe to name and to probe."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, "", "", ""))


def check_http_url(url: str, *, what: str) -> str:
    """The URL if it is http(s) with a host, else ConfigError naming `what` (never the URL: it may be secret)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{what} is not an http(s) URL")
    return url.strip()


def snippet(text: str, limit: int = ERROR_BODY_CHARS) -> str:
    """The start of a response body on one line, for an error message."""
    flat = " ".join(text.split())
    return truncate(flat, limit)


def retryable_status(status: int) -> bool:
    """Whether a vendor's HTTP status is worth retrying: 408, 429 and 5xx."""
    return status in {408, 429} or status >= 500


def status_error(response: httpx.Response, *, where: str, detail: str, secrets: Iterable[str]) -> ChannelError:
    """A ChannelError for an HTTP error status: retryable for 408/429/5xx (with any Retry-After), else not."""
    status = response.status_code
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    hint = ""
    if status == 429:
        hint = " (rate limited" + (f"; retry in {retry_after:g} s" if retry_after is not None else "") + ")"
    reason = detail.strip() or response.reason_phrase or "no details"
    message = scrub(f"{where}: HTTP {status}{hint}: {reason}", secrets)
    retryable = retryable_status(status)
    # Retry-After comes with 429 and sometimes 503; Temporal passes it on as the next retry's delay.
    return ChannelError(message, retryable=retryable, retry_after=retry_after if retryable else None)


class HttpSender:
    """One vendor endpoint's httpx client: timeouts, no redirects, no SDK retries (Temporal retries), and
    transport failures turned into retryable ChannelErrors that name the vendor, never the credential."""

    def __init__(self, *, where: str, timeout_seconds: float, secrets: Iterable[str] = ()) -> None:
        self.where = where
        self.timeout_seconds = timeout_seconds
        self.secrets = tuple(s for s in secrets if s)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, verify=_tls_context()
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request with a JSON body (UTF-8, declared); network failures raise a retryable ChannelError."""
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        try:
            return await self.client.request(method, url, content=content, headers=dict(headers or {}))
        except httpx.TimeoutException:
            raise ChannelError(
                f"{self.where}: no answer within {self.timeout_seconds:g} s (timeout_seconds)", retryable=True
            ) from None
        except httpx.ConnectError as exc:
            raise ChannelError(
                f"{self.where}: cannot connect: {self.scrub(_first_line(exc))}", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise ChannelError(
                f"{self.where}: request failed: {type(exc).__name__}: {self.scrub(_first_line(exc))}", retryable=True
            ) from None

    def scrub(self, text: str) -> str:
        """The text without any of this endpoint's credentials."""
        return scrub(text, self.secrets)

    def status_error(self, response: httpx.Response, detail: str = "") -> ChannelError:
        """A ChannelError for an HTTP error status (see `status_error`)."""
        return status_error(response, where=self.where, detail=detail, secrets=self.secrets)

    async def probe(self, url: str) -> None:
        """Reachability check for endpoints without a side-effect-free API: DNS, TCP, TLS and an HTTP answer
        (any status) from the URL's origin — never its path, which may be the credential."""
        await self.request("GET", origin(url) + "/")

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of ms: one verifying context per process, shared by every channel.
    return httpx.create_ssl_context()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


__all__ = [
    "Channel",
    "ChannelError",
    "HttpSender",
    "action_state",
    "approval_hint",
    "check_http_url",
    "diagnosis_line",
    "event_label",
    "facts",
    "headline",
    "humanize",
    "incident_label",
    "origin",
    "person_label",
    "retryable_status",
    "scrub",
    "severity_label",
    "snippet",
    "status_error",
    "truncate",
    "url_secrets",
]

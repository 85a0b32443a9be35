"""Request hardening shared by every route: body size and JSON depth limits, security headers, webhook
signatures. (Who may call what is api/access.py; API keys are api/auth.py.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence

from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413 before the route reads them (declared or streamed)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await reject(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await reject(send, 413, self._too_large())
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await reject(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"request body larger than the limit of {self.max_bytes} bytes"


class _BodyTooLarge(Exception):
    pass


async def reject(send: Send, status: int, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
    """Answer from middleware with a JSON error ({"detail": ...}) before any route runs."""
    body = json.dumps({"detail": detail}).encode()
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when JSON nests deeper than `limit` (brackets inside strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than it has brackets: the common case costs two C scans
    depth = 0
    for token in _JSON_TOKENS.finditer(body):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


class JsonDepthMiddleware:
    """Refuse JSON bodies nested deeper than `max_depth` with 422 before a parser recurses into them."""

    def __init__(self, app: ASGIApp, *, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # The body size is already bounded by BodyLimitMiddleware, so buffering it is safe.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_depth_exceeds(body, self.max_depth):
            await reject(send, 422, f"JSON nested deeper than {self.max_depth} levels")
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


# JSON answers must never be rendered as a page; the API docs pages load Swagger UI/ReDoc from jsDelivr.
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src blob:; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-opener-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
}


class SecurityHeadersMiddleware:
    """Add the usual browser hardening headers (and a CSP fitting the content type) to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
                extra = dict(SECURITY_HEADERS)
                extra[b"content-security-policy"] = (_DOCS_CSP if html else _API_CSP).encode()
                if scope.get("scheme") == "https":
                    extra[b"strict-transport-security"] = b"max-age=31536000; includeSubDomains"
                headers.extend((k, v) for k, v in extra.items() if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# --- webhook signatures -------------------------------------------------------------------------

# Generic HMAC headers, first found wins: ours, GitHub's style, Grafana's HMAC option (default and UI spelling).
GENERIC_SIGNATURE_HEADERS = (
    "x-aisre-signature",
    "x-hub-signature-256",
    "x-signature-256",
    "x-grafana-alert-signature",
    "x-grafana-alerting-signature",
)
TIMESTAMP_HEADER = "x-aisre-timestamp"
MAX_SIGNATURE_AGE_SECONDS = 300


class SignatureError(Exception):
    """A webhook whose signature is missing or wrong where the workspace configured a secret (401)."""


def _hex_hmac(secret: SecretStr, message: bytes) -> str:
    return hmac.new(secret.get_secret_value().encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_webhook_signature(
    *, source: str, body: bytes, headers: Mapping[str, str], secrets: Sequence[SecretStr], now: float
) -> None:
    """Check the raw body's HMAC-SHA256 against every configured secret (several during rotation).

    PagerDuty V3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]` over the raw body. Every other source:
    `X-AISRE-Signature: sha256=<hex>` (or X-Hub-Signature-256 / X-Grafana-Alerting-Signature) over the
    raw body, or over `<timestamp>.<body>` when `X-AISRE-Timestamp` is sent (then at most five minutes old).
    """
    if not secrets:
        return
    if source == "pagerduty":
        header = headers.get("x-pagerduty-signature")
        if not header:
            raise SignatureError("missing X-PagerDuty-Signature: this workspace requires signed PagerDuty webhooks")
        offered = [p.strip()[3:] for p in header.split(",") if p.strip().startswith("v1=")]
        message = body
    else:
        name = next((h for h in GENERIC_SIGNATURE_HEADERS if headers.get(h)), None)
        if name is None:
            raise SignatureError(
                f"missing X-AISRE-Signature: this workspace requires signed {source} webhooks "
                "(sha256=<hex HMAC-SHA256 of the body>)"
            )
        offered = [headers[name].strip().removeprefix("sha256=")]
        message = body
        stamp = headers.get(TIMESTAMP_HEADER)
        if stamp is not None:
            try:
                age = now - float(stamp)
            except ValueError:
                raise SignatureError("X-AISRE-Timestamp is not a number of seconds since the epoch") from None
            if abs(age) > MAX_SIGNATURE_AGE_SECONDS:
                raise SignatureError(
                    f"X-AISRE-Timestamp is {age:.0f}s away from now (limit {MAX_SIGNATURE_AGE_SECONDS}s)"
                )
            message = stamp.encode("ascii", "replace") + b"." + body
    expected = [_hex_hmac(secret, message) for secret in secrets]
    # Compare every pair in constant time; any match passes (old and new secret during rotation).
    if not any(hmac.compare_digest(o.lower().encode(), e.encode()) for o in offered for e in expected):
        raise SignatureError(f"{source} webhook signature does not match the workspace's secret")


# --- Slack request signatures --------------------------------------------------------------------

SLACK_SIGNATURE_HEADER = "x-slack-signature"
SLACK_TIMESTAMP_HEADER = "x-slack-request-timestamp"


def verify_slack_signature(*, body: bytes, headers: Mapping[str, str], secret: SecretStr, now: float) -> None:
    """Slack's v0 scheme: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<raw body>">`.

    Checked over the raw bytes before anything parses them; a timestamp more than five minutes from now
    is refused (a captured request cannot be replayed later).
    """
    signature = headers.get(SLACK_SIGNATURE_HEADER)
    stamp = headers.get(SLACK_TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise SignatureError("missing X-Slack-Signature or X-Slack-Request-Timestamp")
    try:
        age = now - int(stamp)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not a number of seconds") from None
    if abs(age) > MAX_SIGNATURE_AGE_SECONDS:
        raise SignatureError(f"X-Slack-Request-Timestamp is {age:.0f}s away from now (limit 300s): replayed?")
    base = b"v0:" + stamp.encode("ascii", "replace") + b":" + body
    expected = "v0=" + _hex_hmac(secret, base)
    if not hmac.compare_digest(signature.strip().encode(), expected.encode()):
        raise SignatureError("X-Slack-Signature does not match the signing secret")

"""Request hardening shared by every route: body size limit and webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
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
                    await _reject(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await _reject(send, 413, self._too_large())
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
                await _reject(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"request body larger than the limit of {self.max_bytes} bytes"


class _BodyTooLarge(Exception):
    pass


async def _reject(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


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

"""Webhook signature verification: PagerDuty v1 and the generic HMAC header."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr

from api.security import SignatureError, verify_webhook_signature

BODY = b'{"event":{"event_type":"incident.triggered"}}'
OLD, NEW = SecretStr("old-secret-value"), SecretStr("new-secret-value")
NOW = 1_790_000_000.0


def sign(secret: SecretStr, message: bytes) -> str:
    return hmac.new(secret.get_secret_value().encode(), message, hashlib.sha256).hexdigest()


def test_no_secret_configured_accepts_unsigned() -> None:
    verify_webhook_signature(source="pagerduty", body=BODY, headers={}, secrets=[], now=NOW)


def test_pagerduty_valid_signature_passes() -> None:
    headers = {"x-pagerduty-signature": f"v1={sign(NEW, BODY)}"}
    verify_webhook_signature(source="pagerduty", body=BODY, headers=headers, secrets=[NEW], now=NOW)


def test_pagerduty_rotation_several_signatures_and_several_secrets() -> None:
    # PagerDuty signs with every active secret during rotation; we may hold the old one only.
    headers = {"x-pagerduty-signature": f"v1={sign(NEW, BODY)}, v1={sign(OLD, BODY)}"}
    verify_webhook_signature(source="pagerduty", body=BODY, headers=headers, secrets=[OLD], now=NOW)
    single = {"x-pagerduty-signature": f"v1={sign(OLD, BODY)}"}
    verify_webhook_signature(source="pagerduty", body=BODY, headers=single, secrets=[NEW, OLD], now=NOW)


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({}, BODY, "missing X-PagerDuty-Signature"),
        ({"x-pagerduty-signature": f"v1={sign(SecretStr('wrong'), BODY)}"}, BODY, "does not match"),
        ({"x-pagerduty-signature": f"v1={sign(NEW, BODY)}"}, BODY + b" ", "does not match"),  # altered body
        ({"x-pagerduty-signature": f"v0={sign(NEW, BODY)}"}, BODY, "does not match"),  # unknown scheme
    ],
)
def test_pagerduty_refusals(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_webhook_signature(source="pagerduty", body=body, headers=headers, secrets=[NEW], now=NOW)


@pytest.mark.parametrize("header", ["x-aisre-signature", "x-hub-signature-256", "x-grafana-alert-signature"])
def test_generic_hmac_with_or_without_prefix(header: str) -> None:
    for value in (f"sha256={sign(NEW, BODY)}", sign(NEW, BODY), sign(NEW, BODY).upper()):
        verify_webhook_signature(source="webhook", body=BODY, headers={header: value}, secrets=[NEW], now=NOW)


def test_generic_timestamped_signature_and_staleness() -> None:
    stamp = str(int(NOW) - 10)
    good = {"x-aisre-signature": f"sha256={sign(NEW, stamp.encode() + b'.' + BODY)}", "x-aisre-timestamp": stamp}
    verify_webhook_signature(source="webhook", body=BODY, headers=good, secrets=[NEW], now=NOW)
    with pytest.raises(SignatureError, match="away from now"):
        verify_webhook_signature(source="webhook", body=BODY, headers=good, secrets=[NEW], now=NOW + 600)
    # A replayed signature with a fresh timestamp does not match: the timestamp is signed.
    replay = {**good, "x-aisre-timestamp": str(int(NOW))}
    with pytest.raises(SignatureError, match="does not match"):
        verify_webhook_signature(source="webhook", body=BODY, headers=replay, secrets=[NEW], now=NOW)
    with pytest.raises(SignatureError, match="not a number"):
        verify_webhook_signature(
            source="webhook", body=BODY, headers={**good, "x-aisre-timestamp": "yesterday"}, secrets=[NEW], now=NOW
        )


def test_generic_missing_header() -> None:
    with pytest.raises(SignatureError, match="missing X-AISRE-Signature"):
        verify_webhook_signature(source="grafana", body=BODY, headers={}, secrets=[NEW], now=NOW)

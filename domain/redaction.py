"""Keep secrets out of logs: every configured secret, API keys and bearer tokens become [REDACTED].

The filter sits on the log handlers, so it sees every record (ours, uvicorn's, Temporal's, libraries'),
including formatted tracebacks. Secrets come from Settings (every SecretStr, the password inside the
database URL) and from the references in workspaces.yaml and routing.yaml.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import SecretStr

from domain.settings import ConfigError, Settings, resolve_secret

REDACTED = "[REDACTED]"
_PATTERNS = (
    # Our API keys: keep the public key id (useful in audits), drop the secret part.
    (re.compile(r"\b(aisre_[0-9a-f]{12}_)[A-Za-z0-9_-]{16,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"), REDACTED),  # Slack tokens
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{8,}"), REDACTED),  # Anthropic keys
    (re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]{8,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)([?&](?:api_key|apikey|token|access_token|key)=)[^&\s\"']+"), r"\1" + REDACTED),
)
MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words


class Redactor:
    """Replaces known secret values and secret-looking tokens in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret containing another is replaced whole.
        self._values = sorted(values, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record's message (and traceback) with the redactor."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


def _references(data: Any) -> Iterable[str]:
    """Every `env:` / `file:` string anywhere in a parsed YAML document."""
    if isinstance(data, dict):
        for value in data.values():
            yield from _references(value)
    elif isinstance(data, list):
        for value in data:
            yield from _references(value)
    elif isinstance(data, str) and data.startswith(("env:", "file:")) and len(data) > 5:
        yield data


def known_secrets(settings: Settings) -> list[str]:
    """The secret values this process may hold: settings' secrets and the config files' references."""
    out: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            out.append(value.get_secret_value())
    if settings.database_url:
        password = urlsplit(settings.database_url).password
        if password:
            out.extend({password, unquote(password)})
    for file in ("workspaces.yaml", "routing.yaml"):
        path: Path = settings.config_dir / file
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        for ref in _references(data):
            try:
                out.append(resolve_secret(ref, file).get_secret_value())
            except ConfigError:
                continue  # not set here; whoever needs it reports that
    return out


def install(settings: Settings, handlers: Iterable[logging.Handler] | None = None) -> RedactingFilter:
    """Put the redacting filter on the given handlers (default: the root logger's)."""
    flt = RedactingFilter(Redactor(known_secrets(settings)))
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        handler.addFilter(flt)
    return flt

"""The AlertSource protocol, the source registry, and helpers every source shares.

Sources are pure (no I/O): the gateway uses detect/split/lifecycle/stream_key on the request path,
and the normalize_alert activity calls normalize on the stored delivery.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from domain.models import Alert, Lifecycle, NormalizationError, Severity

MAX_STREAM_KEY = 200


@runtime_checkable
class AlertSource(Protocol):
    """One monitoring tool's webhook format."""

    slug: str

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        """True when the body (or headers) look like this source's webhook."""
        ...

    def split(self, payload: Any) -> list[Any]:
        """One item per alert. Never raises: an unexpected shape is one item, dead-lettered later."""
        ...

    def lifecycle(self, item: Any) -> Lifecycle:
        """Firing, acknowledged or resolved. Never raises; firing when unsure."""
        ...

    def stream_key(self, item: Any) -> str:
        """Cheap identity of the alert stream: provider fingerprint/id, else a hash of title+service."""
        ...

    def normalize(self, item: Any) -> Alert:
        """The alert in our words, or NormalizationError saying why it cannot be."""
        ...


class SourceRegistry:
    """Sources by slug; unknown or duplicate slugs raise."""

    def __init__(self) -> None:
        self._sources: dict[str, AlertSource] = {}
        self._aliases: dict[str, str] = {}

    def register(self, source: AlertSource, *, aliases: tuple[str, ...] = ()) -> None:
        for name in (source.slug, *aliases):
            if name in self._sources or name in self._aliases:
                raise ValueError(f"alert source {name!r} is already registered")
        self._sources[source.slug] = source
        for alias in aliases:
            self._aliases[alias] = source.slug

    def get(self, slug: str) -> AlertSource:
        name = self._aliases.get(slug, slug)
        try:
            return self._sources[name]
        except KeyError:
            raise KeyError(slug) from None

    def __contains__(self, slug: object) -> bool:
        return isinstance(slug, str) and (slug in self._sources or slug in self._aliases)

    def names(self) -> list[str]:
        """Every accepted slug, aliases included, sorted."""
        return sorted([*self._sources, *self._aliases])

    def detect(self, payload: Any, headers: Mapping[str, str], *, fallback: str) -> list[AlertSource]:
        """The sources whose shape matches (never the fallback); empty means use the fallback."""
        return [s for slug, s in self._sources.items() if slug != fallback and s.detect(payload, headers)]


# --- shared helpers -----------------------------------------------------------------------------

_SEVERITY_WORDS: dict[str, Severity] = {}
for _sev, _words in {
    Severity.critical: ("critical", "crit", "fatal", "emergency", "emerg", "disaster", "p1", "sev1", "page"),
    Severity.high: ("high", "error", "err", "major", "p2", "sev2", "alert"),
    Severity.medium: ("medium", "warning", "warn", "moderate", "average", "p3", "sev3"),
    Severity.low: ("low", "minor", "p4", "sev4"),
    Severity.info: ("info", "informational", "information", "notice", "debug", "ok", "none", "p5", "sev5"),
}.items():
    for _w in _words:
        _SEVERITY_WORDS[_w] = _sev


def parse_severity(value: Any, default: Severity = Severity.medium) -> Severity:
    """Map a vendor's severity word or number to ours (see README's severity table)."""
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        value = f"p{int(value)}"
    text = str(value).strip().lower()
    if text.isdecimal():  # sources pass numbers stringified (text_or_none): priority 1 means p1
        text = "p" + (text.lstrip("0") or "0")
    text = text.replace("-", "").replace("_", "").replace(" ", "")
    return _SEVERITY_WORDS.get(text, default)


def text_or_none(value: Any, *, limit: int = 500) -> str | None:
    """A short string for scalar values (numbers sent as numbers included), None for the rest."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None


def string_map(value: Any) -> dict[str, str]:
    """Labels/tags as a str->str dict: accepts a dict, or a list of 'k:v' / 'k=v' strings."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None or isinstance(v, dict | list):
                continue
            out[str(k)] = str(v)
    elif isinstance(value, list):
        for entry in value:
            if not isinstance(entry, str):
                continue
            for sep in (":", "="):
                if sep in entry:
                    k, v = entry.split(sep, 1)
                    out[k.strip()] = v.strip()
                    break
            else:
                out[entry.strip()] = ""
    return out


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 or epoch seconds/milliseconds to aware UTC; None for unset, zero or unparseable."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            number = float(value)
            if number <= 0:
                return None
            if number > 1e11:  # milliseconds
                number /= 1000
            return datetime.fromtimestamp(number, tz=UTC)
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text.startswith("0001-01-01"):  # Alertmanager's "not ended"
            return None
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Go emits nanoseconds; Python parses at most microseconds.
        if "." in text:
            head, _, tail = text.partition(".")
            zone = tail.lstrip("0123456789")  # only the leading digits: the offset has digits too
            digits = tail[: len(tail) - len(zone)]
            text = f"{head}.{digits[:6]}{zone}"
        parsed = datetime.fromisoformat(text)
        # Converting an offset near year 1 or 9999 to UTC can leave the datetime range.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None


def hashed_key(*parts: str | None) -> str:
    """A stable short key from text parts (used when a source has no id of its own)."""
    # surrogatepass: JSON may carry a lone surrogate ("\ud800"), which strict UTF-8 cannot encode.
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:24]


def bounded_key(source: str, key: str) -> str:
    """Prefix with the source and keep it short enough for a workflow id."""
    full = f"{source}:{key}"
    if len(full) <= MAX_STREAM_KEY and all(ch.isprintable() and not ch.isspace() for ch in full):
        return full
    return f"{source}:h:{hashed_key(key)}"


def require_title(value: str | None) -> str:
    if not value:
        raise NormalizationError("no title: the alert has none of the fields a title can come from")
    return value

"""The AlertSource protocol, the source registry, and helpers every source shares.

Sources are pure (no I/O): the gateway uses detect/split/lifecycle/stream_key on the request path,
and the normalize_alert activity calls normalize on the stored delivery.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from domain.models import Alert, Lifecycle, NormalizationError, Severity

MAX_STREAM_KEY = 200
_NOT_NAME = re.compile(r"[^a-z0-9]")


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


def escape_surrogates(text: str) -> str:
    """The text with lone surrogates written as ``\\udXXX`` escapes; other text unchanged."""
    # JSON may carry a lone surrogate ("\ud800"): strict UTF-8 cannot encode it, so an alert holding one
    # could not be serialized or stored.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _str(value: Any) -> str | None:
    try:
        return escape_surrogates(str(value))
    except ValueError:  # an int past Python's 4300-digit str() limit
        return None


def text_or_none(value: Any, *, limit: int = 500) -> str | None:
    """A short string for scalar values (numbers sent as numbers included), None for the rest; never raises."""
    if value is None or isinstance(value, dict | list):
        return None
    try:
        text = str(value).strip()[:limit]
    except ValueError:  # an int past Python's 4300-digit str() limit: no text to give
        return None
    return escape_surrogates(text) or None


def string_map(value: Any) -> dict[str, str]:
    """Labels/tags as a str->str dict: accepts a dict, or a list of 'k:v' / 'k=v' strings; never raises."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None or isinstance(v, dict | list):
                continue
            key, text = _str(k), _str(v)
            if key is not None and text is not None:
                out[key] = text
    elif isinstance(value, list):
        for entry in value:
            if not isinstance(entry, str):
                continue
            entry = escape_surrogates(entry)
            for sep in (":", "="):
                if sep in entry:
                    k, v = entry.split(sep, 1)
                    out[k.strip()] = v.strip()
                    break
            else:
                out[entry.strip()] = ""
    return out


def as_dict(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def first_text(
    obj: Mapping[str, Any],
    keys: Iterable[str],
    *,
    limit: int = 500,
    read: Callable[..., str | None] = text_or_none,
) -> str | None:
    """The first non-empty text among obj's keys, each read with `read` (a source may pass its own reader)."""
    for key in keys:
        value = read(obj.get(key), limit=limit)
        if value:
            return value
    return None


def normalized_name(name: Any) -> str:
    """A field name as lower-case ASCII letters and digits: alertCycleKey, ALERT_CYCLE_KEY -> alertcyclekey."""
    try:
        text = name if isinstance(name, str) else str(name)
    except ValueError:  # an int past Python's digit limit: not a name anyone reads
        return ""
    return _NOT_NAME.sub("", text.lower())


# Epoch numbers from 10**14 on are microseconds, from 10**17 on nanoseconds (both meaning 1973 on):
# milliseconds reach 10**14, and microseconds 10**17, only in year 5138.
_EPOCH_US = 10**14
_EPOCH_NS = 10**17


def _epoch_fine(value: int) -> datetime:
    """Epoch micro- or nanoseconds, in integer arithmetic (a float would lose the last digits)."""
    unit = 10**9 if value >= _EPOCH_NS else 10**6
    seconds, fraction = divmod(value, unit)
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=fraction * 10**6 // unit)


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 or epoch s/ms/us/ns (number or digit string) to aware UTC; None for unset, zero or unparseable."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
            value = int(value.strip())  # exact: ns timestamps have more digits than a float keeps
        if isinstance(value, float) and math.isfinite(value) and value >= _EPOCH_US:
            value = int(value)
        if isinstance(value, int) and value >= _EPOCH_US:
            return _epoch_fine(value)
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


def fallback_key(item: Any) -> str:
    """A stable key for an item a source cannot read: the hash of its repr's first 1000 characters."""
    try:
        text = repr(item)[:1000]
    except (RecursionError, ValueError):  # absurd nesting, ints past the digit limit: never raise here
        text = type(item).__name__
    return hashed_key(text)


def bounded_key(source: str, key: str) -> str:
    """Prefix with the source and keep it short enough for a workflow id."""
    full = f"{source}:{key}"
    if len(full) <= MAX_STREAM_KEY and all(ch.isprintable() and not ch.isspace() for ch in full):
        return full
    return f"{source}:h:{hashed_key(key)}"


def split_group(payload: Any, keys: Iterable[str]) -> list[Any]:
    """An Alertmanager-style body as one {"alert", "group"} item per entry of its `alerts`; else one item."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list) or not payload["alerts"]:
        return [payload]
    # Each stored item keeps the group context it came with (external URL, receiver, common labels).
    group = {k: payload[k] for k in keys if k in payload}
    return [{"alert": alert, "group": group} for alert in payload["alerts"]]


def grouped_alert(item: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The (alert, group) objects of an item split_group made; None for any other item."""
    if isinstance(item, dict) and isinstance(item.get("alert"), dict):
        return item["alert"], as_dict(item.get("group"))
    return None


def require_title(value: str | None) -> str:
    """The title, or NormalizationError saying the alert has none."""
    if not value:
        raise NormalizationError("no title: the alert has none of the fields a title can come from")
    return value

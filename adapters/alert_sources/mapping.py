"""The generic webhook source driven by a workspace's field mapping (config/workspaces.yaml).

In-house tools send their native JSON; the mapping says where each alert field lives. The mapped values
are laid over the item under the generic source's own key names, so anything left unmapped still gets
the generic source's best guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.alert_sources.base import bounded_key, text_or_none
from adapters.alert_sources.webhook import WebhookSource
from domain.models import Alert, Lifecycle, NormalizationError
from domain.settings import FieldRule, WebhookMapping

_MISSING = object()


def lookup(item: Any, path: str) -> Any:
    """The value at a dotted path (`event.name`, `items.0.id`), or None when any step is missing."""
    current = item
    for step in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(step, _MISSING)
        elif isinstance(current, list) and step.lstrip("-").isdecimal():
            index = int(step)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            return None
        if current is _MISSING:
            return None
    return current


def _resolve(item: Any, rule: FieldRule) -> Any:
    for path in rule.path:
        value = lookup(item, path)
        if value is None or value == "" or value == [] or value == {}:
            continue
        if rule.values and not isinstance(value, dict | list):
            table = {k.lower(): v for k, v in rule.values.items()}
            return table.get(str(value).strip().lower(), rule.default if rule.default is not None else value)
        return value
    return rule.default


class MappedWebhookSource(WebhookSource):
    """`webhook` with a workspace's mapping applied before the generic rules."""

    def __init__(self, mapping: WebhookMapping) -> None:
        self._mapping = mapping

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        return True

    def split(self, payload: Any) -> list[Any]:
        if self._mapping.alerts:
            found = lookup(payload, self._mapping.alerts)
            if isinstance(found, list) and found:
                return list(found)
        return super().split(payload)

    def _translate(self, item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        mapped = dict(item)
        for name, rule in self._mapping.fields.items():
            value = _resolve(item, rule)
            if value is None:
                continue
            # Lay the mapped value over the generic key of the same meaning (status drives lifecycle).
            mapped[name] = value
        return mapped

    def lifecycle(self, item: Any) -> Lifecycle:
        return super().lifecycle(self._translate(item))

    def stream_key(self, item: Any) -> str:
        rule = self._mapping.fields.get("fingerprint")
        if rule is not None and isinstance(item, dict):
            ident = text_or_none(_resolve(item, rule))
            if ident:
                return bounded_key(self.slug, ident)
        return super().stream_key(self._translate(item))

    def normalize(self, item: Any) -> Alert:
        try:
            return super().normalize(self._translate(item))
        except NormalizationError as exc:
            if "title" in self._mapping.fields:
                paths = ", ".join(self._mapping.fields["title"].path) or "(no path)"
                raise NormalizationError(f"{exc}; the workspace mapping reads the title from {paths}") from None
            raise

"""Log backends for the `fetch_logs` tool, registered by slug: file, loki, elasticsearch/opensearch, datadog."""

from __future__ import annotations

from typing import Protocol

from adapters.logs.base import LogBackend, LogBackendError, LogLine, LogQuery, render_lines
from adapters.logs.datadog import DatadogLogsBackend
from adapters.logs.elasticsearch import ElasticsearchBackend
from adapters.logs.file import FileLogBackend
from adapters.logs.loki import LokiBackend
from domain.settings import ConfigError, Settings

OFF = "off"


class LogBackendFactory(Protocol):
    """Builds a backend from Settings; `slug` is the name it was asked for (an alias included)."""

    def __call__(self, settings: Settings, *, slug: str) -> LogBackend: ...


class LogBackendRegistry:
    """Backend factories by slug; unknown or duplicate slugs raise."""

    def __init__(self) -> None:
        self._factories: dict[str, LogBackendFactory] = {}

    def register(self, slug: str, factory: LogBackendFactory, *, aliases: tuple[str, ...] = ()) -> None:
        """Add a backend under its slug and aliases."""
        for name in (slug, *aliases):
            if name == OFF:
                raise ValueError(f"log backend slug {OFF!r} is reserved for 'no log backend'")
            if name in self._factories:
                raise ValueError(f"log backend {name!r} is already registered")
        for name in (slug, *aliases):
            self._factories[name] = factory

    def get(self, slug: str) -> LogBackendFactory:
        """The factory for a slug; KeyError naming the known slugs when there is none."""
        try:
            return self._factories[slug]
        except KeyError:
            raise KeyError(f"unknown log backend {slug!r}; known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Every registered slug, sorted."""
        return sorted(self._factories)

    def build(self, slug: str, settings: Settings) -> LogBackend:
        """The backend for a slug, configured from settings."""
        return self.get(slug)(settings, slug=slug)


def _file(settings: Settings, *, slug: str) -> LogBackend:
    return FileLogBackend.from_settings(settings)


def _loki(settings: Settings, *, slug: str) -> LogBackend:
    return LokiBackend.from_settings(settings)


def _elasticsearch(settings: Settings, *, slug: str) -> LogBackend:
    return ElasticsearchBackend.from_settings(settings, slug=slug)


def _datadog(settings: Settings, *, slug: str) -> LogBackend:
    return DatadogLogsBackend.from_settings(settings)


def default_registry() -> LogBackendRegistry:
    """The built-in backends."""
    registry = LogBackendRegistry()
    registry.register("file", _file)
    registry.register("loki", _loki)
    registry.register("elasticsearch", _elasticsearch, aliases=("opensearch",))
    registry.register("datadog", _datadog)
    return registry


def build_log_backend(settings: Settings, *, registry: LogBackendRegistry | None = None) -> LogBackend | None:
    """The backend AI_SRE_LOG_BACKEND names, or None when it is "off". Misconfiguration raises ConfigError."""
    slug = settings.log_backend
    if slug == OFF:
        return None
    registry = registry or default_registry()
    try:
        factory = registry.get(slug)
    except KeyError as exc:
        raise ConfigError(f"AI_SRE_LOG_BACKEND: {exc.args[0]}") from None
    return factory(settings, slug=slug)


__all__ = [
    "DatadogLogsBackend",
    "ElasticsearchBackend",
    "FileLogBackend",
    "LogBackend",
    "LogBackendError",
    "LogBackendRegistry",
    "LogLine",
    "LogQuery",
    "LokiBackend",
    "build_log_backend",
    "default_registry",
    "render_lines",
]

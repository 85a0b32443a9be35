"""Alert sources: one module per monitoring tool, registered by slug."""

from adapters.alert_sources.alertmanager import AlertmanagerSource
from adapters.alert_sources.base import AlertSource, SourceRegistry
from adapters.alert_sources.webhook import WebhookSource

GENERIC = "webhook"


def default_registry() -> SourceRegistry:
    """The built-in sources."""
    registry = SourceRegistry()
    registry.register(WebhookSource())
    registry.register(AlertmanagerSource(), aliases=("prometheus",))
    return registry


__all__ = ["GENERIC", "AlertSource", "SourceRegistry", "default_registry"]

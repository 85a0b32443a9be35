"""Alert sources: one module per monitoring tool, registered by slug."""

from adapters.alert_sources.alertmanager import AlertmanagerSource
from adapters.alert_sources.base import AlertSource, SourceRegistry
from adapters.alert_sources.datadog import DatadogSource
from adapters.alert_sources.grafana import GrafanaSource
from adapters.alert_sources.mapping import MappedWebhookSource
from adapters.alert_sources.newrelic import NewRelicSource
from adapters.alert_sources.opsgenie import OpsgenieSource
from adapters.alert_sources.pagerduty import PagerDutySource
from adapters.alert_sources.webhook import WebhookSource
from domain.settings import WorkspaceConfig

GENERIC = "webhook"


def default_registry() -> SourceRegistry:
    """The built-in sources."""
    registry = SourceRegistry()
    registry.register(WebhookSource())
    registry.register(AlertmanagerSource(), aliases=("prometheus",))
    registry.register(GrafanaSource())
    registry.register(PagerDutySource())
    registry.register(OpsgenieSource())
    registry.register(DatadogSource())
    registry.register(NewRelicSource(), aliases=("new-relic",))
    return registry


def source_for(registry: SourceRegistry, slug: str, workspace: WorkspaceConfig) -> AlertSource:
    """The source for a slug as this workspace sees it: its field mapping applies to the generic source."""
    source = registry.get(slug)
    if source.slug == GENERIC and workspace.webhook_mapping is not None:
        return MappedWebhookSource(workspace.webhook_mapping)
    return source


__all__ = ["GENERIC", "AlertSource", "SourceRegistry", "default_registry", "source_for"]

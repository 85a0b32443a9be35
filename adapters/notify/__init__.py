"""Notification channels (Slack, Slack webhook, Teams, PagerDuty, email), registered by slug and built from
routing.yaml's `channels:`; the worker health-checks every one at start and refuses to run with a broken one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from adapters.notify.base import Channel
from adapters.notify.email import EmailNotifier
from adapters.notify.pagerduty import PagerDutyNotifier
from adapters.notify.slack import SlackApiError, SlackNotifier, SlackWebhookNotifier
from adapters.notify.teams import TeamsNotifier
from domain.notify import ChannelError
from domain.routing import ChannelSpec
from domain.settings import ConfigError

# Builds a channel from its configured name and spec, resolving secret references (ConfigError when one
# cannot be read). `Any`: each factory takes its own spec type; the registry matches them by slug.
ChannelFactory = Callable[[str, Any], Channel]


class ChannelRegistry:
    """Channel factories by slug; unknown or duplicate slugs raise."""

    def __init__(self) -> None:
        self._factories: dict[str, ChannelFactory] = {}

    def register(self, slug: str, factory: ChannelFactory) -> None:
        """Add a channel type under its slug (the `type:` in routing.yaml)."""
        if slug in self._factories:
            raise ValueError(f"notification channel type {slug!r} is already registered")
        self._factories[slug] = factory

    def get(self, slug: str) -> ChannelFactory:
        """The factory for a slug; KeyError naming the known slugs when there is none."""
        try:
            return self._factories[slug]
        except KeyError:
            raise KeyError(f"unknown notification channel type {slug!r}; known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Every registered slug, sorted."""
        return sorted(self._factories)


def default_registry() -> ChannelRegistry:
    """The built-in channel types."""
    registry = ChannelRegistry()
    registry.register(SlackNotifier.slug, SlackNotifier.from_spec)
    registry.register(SlackWebhookNotifier.slug, SlackWebhookNotifier.from_spec)
    registry.register(TeamsNotifier.slug, TeamsNotifier.from_spec)
    registry.register(PagerDutyNotifier.slug, PagerDutyNotifier.from_spec)
    registry.register(EmailNotifier.slug, EmailNotifier.from_spec)
    return registry


def build_channels(specs: Mapping[str, ChannelSpec], *, registry: ChannelRegistry | None = None) -> dict[str, Channel]:
    """One channel per configured spec, secrets resolved now (ConfigError naming the channel and the
    reference, never the value)."""
    registry = registry or default_registry()
    channels: dict[str, Channel] = {}
    for name, spec in specs.items():
        try:
            factory = registry.get(spec.type)
        except KeyError as exc:
            raise ConfigError(f"routing.yaml channel {name!r}: {exc.args[0]}") from None
        channels[name] = factory(name, spec)
    return channels


async def checked_channels(
    specs: Mapping[str, ChannelSpec], *, registry: ChannelRegistry | None = None
) -> dict[str, Channel]:
    """The configured channels after their startup checks; any failing check raises ConfigError naming every
    failing channel and why (an enabled channel that cannot deliver must stop the worker, not be skipped)."""
    channels = build_channels(specs, registry=registry)
    results = await asyncio.gather(*(channel.health() for channel in channels.values()), return_exceptions=True)
    failures: list[str] = []
    unexpected: BaseException | None = None
    for (name, channel), result in zip(channels.items(), results, strict=True):
        if isinstance(result, ChannelError):
            failures.append(f"channel {name!r} ({channel.slug}): {result}")
        elif isinstance(result, BaseException):
            # A bug, not a configuration problem: name the type only (its text could hold anything) and chain it.
            failures.append(f"channel {name!r} ({channel.slug}): unexpected {type(result).__name__}")
            unexpected = unexpected or result
    if failures:
        await asyncio.gather(*(channel.aclose() for channel in channels.values()), return_exceptions=True)
        raise ConfigError("notification channels failed their startup check: " + "; ".join(failures)) from unexpected
    return channels


__all__ = [
    "Channel",
    "ChannelError",
    "ChannelFactory",
    "ChannelRegistry",
    "EmailNotifier",
    "PagerDutyNotifier",
    "SlackApiError",
    "SlackNotifier",
    "SlackWebhookNotifier",
    "TeamsNotifier",
    "build_channels",
    "checked_channels",
    "default_registry",
]

"""Action providers (Kubernetes, ECS, GitHub), built from settings and health-checked by the worker."""

from __future__ import annotations

from adapters.actions.base import ActionError, ActionProvider
from domain.settings import ConfigError, Settings


def build_providers(settings: Settings) -> dict[str, ActionProvider]:
    """The providers this deployment configured: Kubernetes when a cluster is reachable by the configured
    mode, ECS when an AWS region or endpoint is set, GitHub when a token and a repository are set."""
    from adapters.actions.ecs import EcsActions
    from adapters.actions.github import GitHubActions
    from adapters.actions.kubernetes import KubernetesActions

    providers: dict[str, ActionProvider] = {}
    kubernetes = KubernetesActions(settings=settings)
    if kubernetes.enabled:
        providers[kubernetes.slug] = kubernetes
    if settings.aws_region or settings.aws_endpoint_url:
        providers["ecs"] = EcsActions.from_settings(settings)
    if settings.github_token is not None and settings.github_repository:
        providers["github"] = GitHubActions.from_settings(settings)
    return providers


async def checked_providers(settings: Settings) -> dict[str, ActionProvider]:
    """The configured providers after their health checks; a failing one stops the worker, saying why.

    Kubernetes found only by `auto` mode (a laptop's stale kubeconfig) is left out instead.
    """
    providers = build_providers(settings)
    for slug, provider in list(providers.items()):
        try:
            await provider.health()
        except ActionError as exc:
            if slug == "kubernetes" and settings.kubernetes_mode == "auto":
                del providers[slug]
                continue
            raise ConfigError(f"action provider {slug} failed its startup check: {exc}") from None
    return providers


__all__ = ["ActionError", "ActionProvider", "build_providers", "checked_providers"]

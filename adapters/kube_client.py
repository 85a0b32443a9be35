"""Building the official Kubernetes client from Settings, shared by the diagnosis context and the action provider.

Modes: `url` (AI_SRE_KUBERNETES_URL + optional bearer token), `in_cluster` (the pod's service account),
`kubeconfig` (file + optional context), `off`; `auto` picks URL if set, then in-cluster, then a kubeconfig
file, else off. A configuration that cannot be loaded is reported on the `Connection` (never raised), so
each caller decides how to surface it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import urllib3
from kubernetes.client import ApiClient, Configuration
from kubernetes.config import ConfigException, list_kube_config_contexts, load_kube_config
from kubernetes.config.incluster_config import InClusterConfigLoader
from urllib3.util.retry import Retry

from domain.settings import Settings

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

Mode = Literal["in_cluster", "kubeconfig", "url", "off"]


@dataclass
class Connection:
    """A configured API client (or why there is none)."""

    mode: Mode
    api_client: ApiClient | None = None
    host: str = ""
    namespace: str = "default"
    error: str | None = None  # why the configured mode could not be loaded


class Connected:
    """The connection plumbing the Kubernetes context (read-only tools) and the action provider share."""

    _conn: Connection

    @property
    def mode(self) -> Mode:
        """The connection actually in use (`auto` resolved)."""
        return self._conn.mode

    @property
    def enabled(self) -> bool:
        """Whether a Kubernetes API is configured (mode other than off)."""
        return self._conn.mode != "off"

    @property
    def host(self) -> str:
        """The API server URL ("" when off or misconfigured)."""
        return self._conn.host

    def close(self) -> None:
        """Release the client's connection pool."""
        if self._conn.api_client is not None:
            self._conn.api_client.close()


def one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace and cap the length: error texts travel as single lines."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def transport_reason(exc: BaseException) -> str:
    """The cause of a connection failure, without urllib3's object reprs."""
    reason: object = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        reason = exc.reason
    # urllib3 prefixes its messages with the connection object's repr; callers need only the cause.
    return one_line(re.sub(r"^<[^>]*object at 0x[0-9a-f]+>:\s*", "", str(reason)))


def kubeconfig_paths(settings: Settings, environ: Mapping[str, str]) -> list[Path]:
    """The kubeconfig files to read: the setting, else $KUBECONFIG, else ~/.kube/config."""
    if settings.kubeconfig is not None:
        return [settings.kubeconfig.expanduser()]
    if environ.get("KUBECONFIG"):
        return [Path(p).expanduser() for p in environ["KUBECONFIG"].split(os.pathsep) if p]
    home = environ.get("HOME")
    return [(Path(home) if home else Path.home()) / ".kube" / "config"]


def resolve_mode(settings: Settings, environ: Mapping[str, str]) -> Mode:
    """Which connection `kubernetes_mode` means here; `auto` = URL if set, in-cluster, kubeconfig, or off."""
    if settings.kubernetes_mode != "auto":
        return settings.kubernetes_mode
    if settings.kubernetes_url:
        return "url"
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return "in_cluster"
    if any(path.is_file() for path in kubeconfig_paths(settings, environ)):
        return "kubeconfig"
    return "off"


def connect(settings: Settings, *, environ: Mapping[str, str], service_account_dir: Path) -> Connection:
    """An API client for the configured mode; a configuration error is returned on the Connection."""
    mode = resolve_mode(settings, environ)
    if mode == "off":
        return Connection(mode)
    cfg = Configuration()
    # One quick retry covers a pooled keep-alive connection the server already closed; Temporal and
    # the agent own every other retry. Never on a status: urllib3 would otherwise sleep out a 429/503's
    # Retry-After inside a worker thread, where Temporal should turn it into the next retry's delay.
    cfg.retries = Retry(total=1, respect_retry_after_header=False)
    namespace = "default"
    try:
        if mode == "url":
            if not settings.kubernetes_url:
                raise ConfigException("kubernetes_mode is 'url' but AI_SRE_KUBERNETES_URL is not set")
            cfg.host = settings.kubernetes_url.rstrip("/")
            cfg.verify_ssl = settings.kubernetes_verify_tls
            if settings.kubernetes_token is not None:
                cfg.api_key = {"BearerToken": f"Bearer {settings.kubernetes_token.get_secret_value()}"}
        elif mode == "in_cluster":
            InClusterConfigLoader(
                token_filename=str(service_account_dir / "token"),
                cert_filename=str(service_account_dir / "ca.crt"),
                environ=environ,
            ).load_and_set(cfg)
            ns_file = service_account_dir / "namespace"
            if ns_file.is_file():
                namespace = ns_file.read_text(encoding="utf-8").strip() or namespace
        else:
            paths = [p for p in kubeconfig_paths(settings, environ) if p.is_file()]
            if not paths:
                raise ConfigException(
                    f"no kubeconfig file at {', '.join(map(str, kubeconfig_paths(settings, environ)))}"
                )
            config_file = os.pathsep.join(map(str, paths))
            # persist_config=False: the platform never rewrites the user's kubeconfig.
            load_kube_config(
                config_file=config_file,
                context=settings.kubernetes_context,
                client_configuration=cfg,
                persist_config=False,
            )
            contexts, current = list_kube_config_contexts(config_file=config_file)
            chosen = next((c for c in contexts if c.get("name") == settings.kubernetes_context), current)
            namespace = ((chosen or {}).get("context") or {}).get("namespace") or namespace
            if settings.kubernetes_verify_tls is False:
                cfg.verify_ssl = False
    except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
        return Connection(mode, error=f"kubernetes configuration ({mode}) failed: {one_line(str(exc))}")
    return Connection(mode, api_client=ApiClient(cfg), host=cfg.host, namespace=namespace)

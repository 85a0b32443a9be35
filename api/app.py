"""FastAPI app factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.alert_sources import default_registry
from adapters.storage.db import Database
from api.deps import AppState
from api.errors import install_error_handlers
from api.ingest import IngestService, TemporalGate
from api.routes import actions, dead_letters, deploys, diagnoses, health, incidents, webhooks
from api.security import BodyLimitMiddleware
from domain.settings import Settings, WorkspaceDirectory

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, migrate: bool = True) -> FastAPI:
    """Build the gateway. The lifespan opens the database (migrating it) and a lazy Temporal client."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    # Fails at start, naming the file and key, rather than on the first request; re-read when edited.
    workspaces = WorkspaceDirectory(settings.config_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url())
        if migrate:
            await db.migrate()

        async def connect() -> Client:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=pydantic_data_converter,
            )

        temporal = TemporalGate(connect)
        ingest = IngestService(
            db=db,
            sources=default_registry(),
            temporal=temporal,
            task_queue=settings.task_queue,
            workspaces=workspaces,
        )
        app.state.aisre = AppState(settings=settings, db=db, temporal=temporal, ingest=ingest, workspaces=workspaces)
        try:
            yield
        finally:
            await db.dispose()

    app = FastAPI(
        title="AI-SRE",
        version="0.1.0",
        description="Alerts in, durable incident workflows out.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(webhooks.router)
    app.include_router(incidents.router)
    app.include_router(diagnoses.router)
    app.include_router(actions.router)
    app.include_router(dead_letters.router)
    app.include_router(deploys.router)
    app.include_router(health.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app

"""FastAPI app factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from adapters.alert_sources import default_registry
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from api.access import AccessMiddleware, route_patterns
from api.auth import KeyStore, is_loopback, server_secret
from api.deps import AppState
from api.errors import install_error_handlers
from api.ingest import IngestService, TemporalGate
from api.ratelimit import RateLimitUnavailable, build_rate_limiter
from api.routes import (
    actions,
    admin,
    dead_letters,
    deploys,
    diagnoses,
    health,
    incidents,
    notifications,
    oncall,
    slack,
    webhooks,
)
from api.security import BodyLimitMiddleware, JsonDepthMiddleware, SecurityHeadersMiddleware
from domain.settings import ConfigError, Settings, WorkspaceDirectory

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, migrate: bool = True) -> FastAPI:
    """Build the gateway. The lifespan opens the database (migrating it) and a lazy Temporal client."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    # Fails at start, naming the file and key, rather than on the first request; re-read when edited.
    workspaces = WorkspaceDirectory(settings.config_dir)
    secret = server_secret(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url())
        if migrate:
            await db.migrate()
        async with db.session() as session:
            keys_exist = await repo.any_api_key(session)
        loopback = is_loopback(settings.api_host)
        if not loopback and not keys_exist:
            await db.dispose()
            raise ConfigError(
                f"refusing to serve on {settings.api_host} without API keys: anyone who can reach it would act as "
                "admin. Create a key first (aisre keys create --workspace default --role admin), or bind to 127.0.0.1"
            )
        limiter = build_rate_limiter(settings.redis_url.get_secret_value() if settings.redis_url else None)
        health_check = getattr(limiter, "health", None)
        if health_check is not None:
            try:
                await health_check()
            except RateLimitUnavailable as exc:
                # Shared limits are a safety net, not a reason to refuse alerts: warn and keep serving.
                log.error("rate-limit store unavailable at start (limits apply again once it answers): %s", exc)

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
        app.state.aisre = AppState(
            settings=settings,
            db=db,
            temporal=temporal,
            ingest=ingest,
            workspaces=workspaces,
            keys=KeyStore(db, secret=secret),
            limiter=limiter,
            dev_mode_allowed=loopback,
        )
        try:
            yield
        finally:
            await limiter.aclose()
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
    app.include_router(notifications.router)
    app.include_router(oncall.router)
    app.include_router(slack.router)
    app.include_router(admin.router)
    patterns = route_patterns(app)  # every route must declare its access level: refuse to build otherwise
    # Outermost last: headers on every answer, CORS preflights, size limit, then who is calling, then depth.
    app.add_middleware(JsonDepthMiddleware, max_depth=settings.max_json_depth)
    app.add_middleware(AccessMiddleware, patterns=patterns)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    return app

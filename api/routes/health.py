"""GET /health: database and Temporal reachability."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api.deps import StateDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Health(BaseModel):
    status: str
    database: Check
    temporal: Check
    # Workers polling the incident task queue in the last minute (informational: alerts are accepted and
    # kept while no worker runs; they are processed when one starts).
    workers: int | None = None


async def _check(coro_factory: Callable[[], Awaitable[object]]) -> Check:
    try:
        await asyncio.wait_for(coro_factory(), timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return Check(ok=False, detail=f"no answer within {CHECK_TIMEOUT_SECONDS:.0f}s")
    except Exception as exc:  # noqa: BLE001 - reported in the answer, never raised to the client
        return Check(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])
    return Check(ok=True)


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(state: StateDep) -> JSONResponse:
    """200 when the database and Temporal answer, 503 (with the failing part) otherwise."""

    async def temporal() -> None:
        client = await state.temporal.client()
        await client.service_client.check_health()

    async def pollers() -> int | None:
        try:
            client = await state.temporal.client()
            described = await asyncio.wait_for(
                client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=state.settings.temporal_namespace,
                        task_queue=TaskQueue(name=state.settings.task_queue),
                    )
                ),
                timeout=CHECK_TIMEOUT_SECONDS,
            )
        except Exception as exc:  # noqa: BLE001 - informational; the temporal check reports reachability
            log.debug("describe_task_queue failed: %r", exc)
            return None
        return len(described.pollers)

    database, engine, workers = await asyncio.gather(_check(state.db.ping), _check(temporal), pollers())
    body = Health(
        status="ok" if database.ok and engine.ok else "degraded", database=database, temporal=engine, workers=workers
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)

"""Webhook ingestion: parse, pick the source, split, store every delivery, then signal Temporal.

Nothing is acknowledged that could be lost: deliveries are committed to SQL before Temporal hears of
them, and the caller's 202 waits until Temporal acknowledged the signal that carries its delivery.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from adapters.alert_sources import GENERIC, AlertSource, SourceRegistry
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from domain.models import AlertSignal, Lifecycle, StartIncidentInput

log = logging.getLogger(__name__)

# Only these request headers are stored with a delivery; auth headers never are.
STORED_HEADERS = frozenset({"user-agent", "content-type", "x-source", "x-request-id", "x-forwarded-for"})


class IngestError(Exception):
    """A request the gateway refuses; `status` is the HTTP status, the message the reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_json(body: bytes) -> Any:
    """Decode a webhook body, refusing what is not strict JSON."""
    if not body.strip():
        raise IngestError(400, "empty body: expected a JSON document")

    def _reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    def _finite_float(text: str) -> float:
        # 1e400 parses as inf, which the database's JSON type cannot store: refuse it like Infinity.
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"number {text[:40]} is out of range")
        return value

    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise IngestError(400, "body is not UTF-8 encoded JSON") from None
    except RecursionError:
        raise IngestError(400, "JSON nested too deeply") from None
    except ValueError as exc:
        raise IngestError(400, f"malformed JSON: {exc}") from None


def workflow_id_for(workspace: str, stream_key: str) -> str:
    return f"incident-{workspace}-{stream_key}"


@dataclass
class _Batch:
    lifecycle: Lifecycle
    ids: list[int] = field(default_factory=list)
    done: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class _Stream:
    queue: list[_Batch] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


SendBatch = Callable[[str, str, Lifecycle, list[int]], Awaitable[str]]


class SignalCoalescer:
    """Single-flight signalling per stream: concurrent deliveries share one in-flight signal.

    Batches for one stream go out strictly in order (a "resolved" never overtakes the "firing" before
    it). While one batch is in flight, new deliveries of the same lifecycle join the next batch, so the
    number of signals follows distinct streams, not deliveries. Each caller awaits the batch that
    carries its delivery. This is only an optimization: each replica has its own, and correctness
    rests on Temporal's workflow-id uniqueness.
    """

    def __init__(self, send: SendBatch) -> None:
        self._send = send
        self._streams: dict[tuple[str, str], _Stream] = {}

    async def submit(self, workspace: str, stream_key: str, lifecycle: Lifecycle, delivery_id: int) -> str:
        key = (workspace, stream_key)
        stream = self._streams.setdefault(key, _Stream())
        # Only the last queued batch is still open; the head of the queue may be in flight.
        tail = stream.queue[-1] if len(stream.queue) > 1 or (stream.queue and stream.task is None) else None
        if tail is None or tail.lifecycle is not lifecycle:
            tail = _Batch(lifecycle)
            stream.queue.append(tail)
        tail.ids.append(delivery_id)
        if stream.task is None:
            stream.task = asyncio.create_task(self._flush(key, stream))
        return await asyncio.shield(tail.done)

    async def _flush(self, key: tuple[str, str], stream: _Stream) -> None:
        try:
            # One loop turn lets requests that arrived together join the first batch.
            await asyncio.sleep(0)
            while stream.queue:
                batch = stream.queue[0]
                try:
                    outcome = await self._send(key[0], key[1], batch.lifecycle, list(batch.ids))
                except Exception as exc:  # noqa: BLE001 - handed to every caller waiting on this batch
                    batch.done.set_exception(exc)
                else:
                    batch.done.set_result(outcome)
                stream.queue.pop(0)
        finally:
            stream.task = None
            if not stream.queue:
                self._streams.pop(key, None)


@dataclass(frozen=True)
class AcceptedDelivery:
    id: int
    stream_key: str
    lifecycle: Lifecycle
    outcome: str


class IngestService:
    """The gateway's write path for every webhook route."""

    def __init__(self, *, db: Database, sources: SourceRegistry, temporal: TemporalGate, task_queue: str) -> None:
        self._db = db
        self._sources = sources
        self._temporal = temporal
        self._task_queue = task_queue
        self._coalescer = SignalCoalescer(self._send)

    def pick_source(self, slug: str | None, payload: Any, headers: Mapping[str, str]) -> AlertSource:
        """The source named by the path, else the X-Source header, else the payload's shape."""
        name = slug or headers.get("x-source")
        if name:
            if name not in self._sources:
                known = ", ".join(self._sources.names())
                where = "path" if slug else "X-Source header"
                raise IngestError(404, f"unknown alert source {name!r} in the {where}; known sources: {known}")
            return self._sources.get(name)
        matches = self._sources.detect(payload, headers, fallback=GENERIC)
        if len(matches) > 1:
            names = ", ".join(sorted(s.slug for s in matches))
            raise IngestError(
                422,
                f"payload matches several sources ({names}); send an X-Source header or use /webhook/{{source}}",
            )
        return matches[0] if matches else self._sources.get(GENERIC)

    async def ingest(
        self, *, workspace: str, slug: str | None, body: bytes, headers: Mapping[str, str]
    ) -> list[AcceptedDelivery]:
        """Store every alert of the body, then signal; returns once Temporal acknowledged all of them."""
        payload = parse_json(body)
        source = self.pick_source(slug, payload, headers)
        items = source.split(payload)
        now = datetime.now(UTC)
        stored_headers = {k: v for k, v in headers.items() if k.lower() in STORED_HEADERS}
        deliveries = [
            repo.NewDelivery(
                stream_key=source.stream_key(item),
                lifecycle=source.lifecycle(item),
                raw=item,
                headers=stored_headers,
                received_at=now,
            )
            for item in items
        ]
        async with self._db.session() as session:
            ids = await repo.insert_deliveries(session, workspace=workspace, source=source.slug, deliveries=deliveries)
        results = await asyncio.gather(
            *(
                self._coalescer.submit(workspace, d.stream_key, d.lifecycle, delivery_id)
                for d, delivery_id in zip(deliveries, ids, strict=True)
            ),
            return_exceptions=True,
        )
        failed = [i for i, r in zip(ids, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            async with self._db.session() as session:
                await repo.set_delivery_state(session, delivery_ids=failed, state="unsignalled")
            first = next(r for r in results if isinstance(r, BaseException))
            log.warning("signalling Temporal failed for deliveries %s: %s", failed, first)
            raise IngestError(
                503, f"the workflow engine did not accept {len(failed)} of {len(ids)} alert(s); retry later"
            )
        return [
            AcceptedDelivery(id=i, stream_key=d.stream_key, lifecycle=d.lifecycle, outcome=str(r))
            for i, d, r in zip(ids, deliveries, results, strict=True)
        ]

    async def _send(self, workspace: str, stream_key: str, lifecycle: Lifecycle, ids: list[int]) -> str:
        client = await self._temporal.client()
        signal = AlertSignal(delivery_ids=ids, lifecycle=lifecycle, count=len(ids))
        workflow_id = workflow_id_for(workspace, stream_key)
        if lifecycle is Lifecycle.firing:
            await client.start_workflow(
                "IncidentWorkflow",
                StartIncidentInput(workspace=workspace, stream_key=stream_key),
                id=workflow_id,
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal="alert",
                start_signal_args=[signal],
            )
            return "signalled"
        try:
            await client.get_workflow_handle(workflow_id).signal("alert", signal)
            return "signalled"
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
        # Acknowledge/resolve never start a run: with no open run, record against the last incident.
        async with self._db.session() as session:
            incident_id = await repo.record_late_deliveries(
                session,
                workspace=workspace,
                stream_key=stream_key,
                delivery_ids=ids,
                lifecycle=lifecycle,
                at=datetime.now(UTC),
            )
        return "recorded_late" if incident_id is not None else "no_incident"


class TemporalGate:
    """Lazily connected Temporal client, so the API starts (and reports health) while Temporal is down."""

    def __init__(self, connect: Callable[[], Awaitable[Client]]) -> None:
        self._connect = connect
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await self._connect()
                    except RuntimeError as exc:  # the SDK reports a failed connect as RuntimeError
                        raise TemporalUnavailable(f"cannot reach the workflow engine: {exc}") from exc
        return self._client


class TemporalUnavailable(Exception):
    """Temporal could not be reached; the gateway answers 503 and the sender retries."""

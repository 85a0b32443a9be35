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

from adapters.alert_sources import GENERIC, AlertSource, SourceRegistry, source_for
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from api.security import SignatureError, verify_webhook_signature
from domain.models import AlertSignal, Lifecycle, NormalizationError, StartIncidentInput
from domain.settings import ConfigError, WorkspaceConfig, WorkspaceDirectory

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
        payload = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise IngestError(400, "body is not UTF-8 encoded JSON") from None
    except RecursionError:
        raise IngestError(400, "JSON nested too deeply") from None
    except ValueError as exc:
        raise IngestError(400, f"malformed JSON: {exc}") from None
    # JSON may escape a lone surrogate ("\ud800"), which no database or JSON encoder will store:
    # replace it with U+FFFD rather than refuse the alert. The byte check keeps this off the hot path.
    if b"\\ud" in body or b"\\uD" in body:
        payload = _scrub_surrogates(payload)
    return payload


def _scrub_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_scrub_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_scrub_surrogates(k): _scrub_surrogates(v) for k, v in value.items()}
    return value


def workflow_id_for(workspace: str, stream_key: str) -> str:
    return f"incident-{workspace}-{stream_key}"


@dataclass
class _Batch:
    lifecycle: Lifecycle
    route: str | None
    ids: list[int] = field(default_factory=list)
    done: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class _Stream:
    queue: list[_Batch] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


# (workspace, stream key, lifecycle, route, delivery ids) -> outcome; route = a dedup survivor's workflow id
SendBatch = Callable[[str, str, Lifecycle, str | None, list[int]], Awaitable[str]]


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

    async def submit(
        self, workspace: str, stream_key: str, lifecycle: Lifecycle, delivery_id: int, route: str | None = None
    ) -> str:
        key = (workspace, stream_key)
        stream = self._streams.setdefault(key, _Stream())
        # Only the last queued batch is still open; the head of the queue may be in flight.
        tail = stream.queue[-1] if len(stream.queue) > 1 or (stream.queue and stream.task is None) else None
        if tail is None or tail.lifecycle is not lifecycle or tail.route != route:
            tail = _Batch(lifecycle, route)
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
                    outcome = await self._send(key[0], key[1], batch.lifecycle, batch.route, list(batch.ids))
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


@dataclass(frozen=True)
class RedriveResult:
    dead_letter_id: int
    delivery: AcceptedDelivery


class IngestService:
    """The gateway's write path for every webhook route and for dead-letter redrives."""

    def __init__(
        self,
        *,
        db: Database,
        sources: SourceRegistry,
        temporal: TemporalGate,
        task_queue: str,
        workspaces: WorkspaceDirectory,
    ) -> None:
        self._db = db
        self._sources = sources
        self._temporal = temporal
        self._task_queue = task_queue
        self._workspaces = workspaces
        self._coalescer = SignalCoalescer(self._send)

    def pick_source(
        self, slug: str | None, payload: Any, headers: Mapping[str, str], workspace: WorkspaceConfig | None = None
    ) -> AlertSource:
        """The source named by the path, else the X-Source header, else the payload's shape.

        The generic source carries the workspace's field mapping when it has one.
        """
        name = slug or headers.get("x-source")
        if name:
            if name not in self._sources:
                known = ", ".join(self._sources.names())
                where = "path" if slug else "X-Source header"
                raise IngestError(404, f"unknown alert source {name!r} in the {where}; known sources: {known}")
            chosen = self._sources.get(name)
        else:
            matches = self._sources.detect(payload, headers, fallback=GENERIC)
            if len(matches) > 1:
                names = ", ".join(sorted(s.slug for s in matches))
                raise IngestError(
                    422,
                    f"payload matches several sources ({names}); send an X-Source header or use /webhook/{{source}}",
                )
            chosen = matches[0] if matches else self._sources.get(GENERIC)
        if workspace is None:
            return chosen
        return source_for(self._sources, chosen.slug, workspace)

    def verify(self, *, workspace: str, source: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Refuse (401) a body whose signature is missing or wrong where the workspace configured a secret."""
        self._verify(self._workspaces.get(workspace), source, body, headers)

    def _verify(self, workspace: WorkspaceConfig, source: str, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            secrets = workspace.secrets_for(source) or workspace.secrets_for("*")
        except ConfigError as exc:
            # Never accept unverified what the workspace wants signed: refuse until the secret is back.
            log.error("webhook secret unavailable: %s", exc)
            raise IngestError(503, f"the signing secret for {source} webhooks is not available; retry later") from None
        try:
            verify_webhook_signature(
                source=source, body=body, headers=headers, secrets=secrets, now=datetime.now(UTC).timestamp()
            )
        except SignatureError as exc:
            raise IngestError(401, str(exc)) from None

    async def ingest(
        self, *, workspace: str, slug: str | None, body: bytes, headers: Mapping[str, str]
    ) -> list[AcceptedDelivery]:
        """Verify, store every alert of the body, then signal; returns once Temporal acknowledged all of them."""
        config = self._workspaces.get(workspace)
        payload = parse_json(body)
        source = self.pick_source(slug, payload, headers, config)
        self._verify(config, source.slug, body, headers)
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
            # Streams dedup merged into another open incident go straight to that incident's workflow.
            routes = await repo.open_alias_routes(
                session, workspace=workspace, stream_keys=sorted({d.stream_key for d in deliveries})
            )
        return await self._signal(workspace, deliveries, ids, routes)

    async def _signal(
        self, workspace: str, deliveries: list[repo.NewDelivery], ids: list[int], routes: dict[str, str]
    ) -> list[AcceptedDelivery]:
        results = await asyncio.gather(
            *(
                self._coalescer.submit(workspace, d.stream_key, d.lifecycle, delivery_id, routes.get(d.stream_key))
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

    async def redrive(self, *, workspace: str, dead_letter_id: int) -> RedriveResult:
        """Feed a dead letter through ingestion again with the workspace's current configuration.

        It must normalize now (else 422 with the reason, nothing changes); it becomes a new delivery,
        and the dead letter records which one. If Temporal refuses, the dead letter stays redrivable.
        """
        config = self._workspaces.get(workspace)
        async with self._db.session() as session:
            letter = await repo.get_dead_letter(session, dead_letter_id=dead_letter_id, workspace=workspace)
            if letter is None:
                raise IngestError(404, f"dead letter {dead_letter_id} not found")
            if letter.redriven_at is not None:
                raise IngestError(
                    409, f"dead letter {dead_letter_id} was already redriven as delivery {letter.redrive_delivery_id}"
                )
            if letter.source not in self._sources:
                raise IngestError(422, f"source {letter.source!r} is no longer known")
            source = source_for(self._sources, letter.source, config)
            try:
                source.normalize(letter.raw)
            except NormalizationError as exc:
                raise IngestError(422, f"still cannot be normalized: {exc}") from None
            original = await repo.get_delivery(session, delivery_id=letter.alert_id) if letter.alert_id else None
            now = datetime.now(UTC)
            delivery = repo.NewDelivery(
                stream_key=source.stream_key(letter.raw),
                lifecycle=source.lifecycle(letter.raw),
                raw=letter.raw,
                headers=dict(original.headers) if original is not None else {},
                received_at=now,
            )
            (new_id,) = await repo.insert_deliveries(
                session, workspace=workspace, source=source.slug, deliveries=[delivery]
            )
            letter.redriven_at = now
            letter.redrive_delivery_id = new_id
            routes = await repo.open_alias_routes(session, workspace=workspace, stream_keys=[delivery.stream_key])
        try:
            (accepted,) = await self._signal(workspace, [delivery], [new_id], routes)
        except IngestError:
            async with self._db.session() as session:
                letter = await repo.get_dead_letter(session, dead_letter_id=dead_letter_id, workspace=workspace)
                if letter is not None:
                    letter.redriven_at = None
                    letter.redrive_delivery_id = None
            raise
        return RedriveResult(dead_letter_id=dead_letter_id, delivery=accepted)

    async def _send(
        self, workspace: str, stream_key: str, lifecycle: Lifecycle, route: str | None, ids: list[int]
    ) -> str:
        client = await self._temporal.client()
        signal = AlertSignal(delivery_ids=ids, lifecycle=lifecycle, count=len(ids), stream_key=stream_key)
        if route is not None:
            try:
                await client.get_workflow_handle(route).signal("alert", signal)
                return "merged"
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
            # The survivor closed meanwhile: the stream stands on its own again.
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
        # Acknowledge/resolve/update never start a run: with no open run, record against the last incident.
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

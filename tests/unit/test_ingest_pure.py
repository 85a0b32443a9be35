"""The gateway's pure parts: strict JSON parsing and the per-stream signal coalescer (fake send)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from api.ingest import IngestError, SignalCoalescer, parse_json, workflow_id_for
from domain.models import Lifecycle

# --- parse_json ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b'  [1, 2.5, "x", null, true]\n', [1, 2.5, "x", None, True]),
        ('{"t": "caf\u00e9"}'.encode(), {"t": "caf\u00e9"}),
        (b"123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
def test_parse_json_accepts_strict_json(body: bytes, expected: object) -> None:
    assert parse_json(body) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b" \n\t ", "empty body"),
        (b'{"a": ', "malformed JSON"),
        (b"{'a': 1}", "malformed JSON"),
        (b'{"a": 1} trailing', "malformed JSON"),
        (b'{"v": NaN}', "NaN"),
        (b"[Infinity]", "Infinity"),
        (b'{"v": -Infinity}', "Infinity"),
        (b'{"v": 1e400}', "out of range"),  # parses as inf otherwise, which no JSON column stores
        (b'{"a": "\xff\xfe\xfa"}', "not UTF-8"),
        (b"\xc3\x28", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
    ],
    ids=[
        "empty",
        "whitespace",
        "truncated",
        "single-quotes",
        "trailing-garbage",
        "nan",
        "infinity",
        "minus-infinity",
        "overflowing-float",
        "latin1",
        "bad-utf8-sequence",
        "deep-list",
        "deep-object",
    ],
)
def test_parse_json_refuses_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_json(body)
    assert caught.value.status == 400
    assert reason in caught.value.message
    assert str(caught.value) == caught.value.message


def test_workflow_id() -> None:
    assert workflow_id_for("payments", "alertmanager:7d2d") == "incident-payments-alertmanager:7d2d"


# --- SignalCoalescer ----------------------------------------------------------------------------


@dataclass
class Sent:
    workspace: str
    stream_key: str
    lifecycle: Lifecycle
    ids: list[int]


@dataclass
class FakeSend:
    """Records every send; can block sends on a gate and fail the next ones."""

    gate: asyncio.Event | None = None
    fail_next: int = 0
    sent: list[Sent] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: int = 0

    async def __call__(
        self, workspace: str, stream_key: str, lifecycle: Lifecycle, route: str | None, ids: list[int]
    ) -> str:
        key = (workspace, stream_key)
        self.in_flight[key] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight[key])
        self.sent.append(Sent(workspace, stream_key, lifecycle, list(ids)))
        self.started.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("temporal said no")
            return f"sent-{len(self.sent)}"
        finally:
            self.in_flight[key] -= 1


async def wait_for_sends(fake: FakeSend, count: int) -> None:
    async with asyncio.timeout(5):
        while len(fake.sent) < count:
            await asyncio.sleep(0)


async def test_concurrent_storm_on_one_stream_coalesces() -> None:
    fake = FakeSend(gate=asyncio.Event())
    coalescer = SignalCoalescer(fake)
    ids = list(range(1, 21))
    tasks = [asyncio.create_task(coalescer.submit("ws", "am:fp", Lifecycle.firing, i)) for i in ids]
    async with asyncio.timeout(5):
        await fake.started.wait()
    await asyncio.sleep(0.01)  # let every submit queue up behind the blocked send
    assert len(fake.sent) == 1
    assert not any(t.done() for t in tasks)

    assert fake.gate is not None
    fake.gate.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*tasks)

    assert len(fake.sent) <= 2
    sent_ids = [i for s in fake.sent for i in s.ids]
    assert sorted(sent_ids) == ids  # every delivery exactly once
    assert all(r.startswith("sent-") for r in results)
    # Each caller gets the outcome of the batch that carried its delivery.
    batch_of = {i: f"sent-{n}" for n, s in enumerate(fake.sent, start=1) for i in s.ids}
    assert results == [batch_of[i] for i in ids]
    assert fake.max_in_flight == 1


async def test_deliveries_arriving_during_a_send_share_the_next_signal() -> None:
    fake = FakeSend(gate=asyncio.Event())
    coalescer = SignalCoalescer(fake)
    first = asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, 1))
    async with asyncio.timeout(5):
        await fake.started.wait()
    later = [asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, i)) for i in range(2, 21)]
    await asyncio.sleep(0.01)
    assert fake.gate is not None
    fake.gate.set()
    async with asyncio.timeout(5):
        await asyncio.gather(first, *later)
    assert [s.ids for s in fake.sent] == [[1], list(range(2, 21))]


async def test_lifecycle_changes_are_sent_in_order() -> None:
    fake = FakeSend(gate=asyncio.Event())
    coalescer = SignalCoalescer(fake)
    tasks = [
        asyncio.create_task(coalescer.submit("ws", "k", lifecycle, i))
        for i, lifecycle in ((1, Lifecycle.firing), (2, Lifecycle.resolved), (3, Lifecycle.firing))
    ]
    await asyncio.sleep(0.01)
    assert fake.gate is not None
    fake.gate.set()
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    assert [(s.lifecycle, s.ids) for s in fake.sent] == [
        (Lifecycle.firing, [1]),
        (Lifecycle.resolved, [2]),
        (Lifecycle.firing, [3]),
    ]


async def test_resolve_never_overtakes_the_firing_in_flight() -> None:
    fake = FakeSend(gate=asyncio.Event())
    coalescer = SignalCoalescer(fake)
    firing = asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, 1))
    async with asyncio.timeout(5):
        await fake.started.wait()
    resolved = asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.resolved, 2))
    more_firing = asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, 3))
    await asyncio.sleep(0.01)
    assert len(fake.sent) == 1  # nothing else goes out while the firing signal is in flight
    assert fake.gate is not None
    fake.gate.set()
    async with asyncio.timeout(5):
        await asyncio.gather(firing, resolved, more_firing)
    assert [s.lifecycle for s in fake.sent] == [Lifecycle.firing, Lifecycle.resolved, Lifecycle.firing]
    assert fake.max_in_flight == 1


async def test_distinct_streams_are_independent() -> None:
    gate = asyncio.Event()
    blocked_key = ("ws", "slow")

    async def send(workspace: str, stream_key: str, lifecycle: Lifecycle, route: str | None, ids: list[int]) -> str:
        if (workspace, stream_key) == blocked_key:
            await gate.wait()
        return f"{workspace}/{stream_key}:{ids}"

    coalescer = SignalCoalescer(send)
    slow = asyncio.create_task(coalescer.submit("ws", "slow", Lifecycle.firing, 1))
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        fast = await coalescer.submit("ws", "fast", Lifecycle.firing, 2)
        # Same stream key in another workspace is another stream.
        other_ws = await coalescer.submit("other", "slow", Lifecycle.firing, 3)
    assert fast == "ws/fast:[2]"
    assert other_ws == "other/slow:[3]"
    assert not slow.done()
    gate.set()
    async with asyncio.timeout(5):
        assert await slow == "ws/slow:[1]"


async def test_failed_batch_fails_every_caller_and_later_submits_work() -> None:
    fake = FakeSend(gate=asyncio.Event(), fail_next=1)
    coalescer = SignalCoalescer(fake)
    head = asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, 1))
    async with asyncio.timeout(5):
        await fake.started.wait()
    batch = [asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, i)) for i in (2, 3, 4)]
    await asyncio.sleep(0.01)
    assert fake.gate is not None
    fake.gate.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(head, *batch, return_exceptions=True)
    # The first send failed: its caller gets the error; the next batch still went out.
    assert isinstance(results[0], RuntimeError)
    assert results[1:] == ["sent-2"] * 3

    fake.fail_next = 2
    failing = [asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.resolved, i)) for i in (5, 6)]
    async with asyncio.timeout(5):
        results = await asyncio.gather(*failing, return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    # The error is the one send raised, not a wrapper.
    assert all(str(r) == "temporal said no" for r in results)

    assert fake.fail_next == 0
    expected = f"sent-{len(fake.sent) + 1}"
    async with asyncio.timeout(5):
        assert await coalescer.submit("ws", "k", Lifecycle.resolved, 7) == expected
    assert fake.sent[-1].ids == [7]


async def test_whole_batch_gets_the_exception() -> None:
    fake = FakeSend(gate=asyncio.Event(), fail_next=2)
    coalescer = SignalCoalescer(fake)
    tasks = [asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, i)) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    assert fake.gate is not None
    fake.gate.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert sorted(i for s in fake.sent for i in s.ids) == [1, 2, 3, 4, 5]
    # The coalescer forgets a stream once its queue drained: a later submit starts a fresh flush.
    fake.fail_next = 0
    async with asyncio.timeout(5):
        assert (await coalescer.submit("ws", "k", Lifecycle.firing, 6)).startswith("sent-")


async def test_cancelled_caller_does_not_cancel_the_batch() -> None:
    fake = FakeSend(gate=asyncio.Event())
    coalescer = SignalCoalescer(fake)
    first = asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, 1))
    second = asyncio.create_task(coalescer.submit("ws", "k", Lifecycle.firing, 2))
    async with asyncio.timeout(5):
        await fake.started.wait()
    first.cancel()  # e.g. the HTTP client hung up
    with pytest.raises(asyncio.CancelledError):
        await first
    assert fake.gate is not None
    fake.gate.set()
    async with asyncio.timeout(5):
        assert await second == "sent-2"
    assert [s.ids for s in fake.sent] == [[1], [2]]

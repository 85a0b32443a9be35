"""Helpers shared by tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(relative: str) -> bytes:
    """A captured payload from tests/fixtures/."""
    return (FIXTURES / relative).read_bytes()


async def poll(predicate: Callable[[], Any | Awaitable[Any]], *, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Wait until `predicate()` (sync or async) returns a truthy value and return it; fail on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")

"""The toolbox interface: read-only tools the diagnosis agent calls (live cluster, logs, SQL, or a bundle)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from domain.diagnosis import ToolCall, ToolResult

TRUNCATION_MARKER = "\n[... truncated: {omitted} more characters not shown ...]"


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Keep the head and the tail of a long output (errors tend to be at the end) with a marker between."""
    if len(text) <= limit:
        return text, False
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return text[:head] + TRUNCATION_MARKER.format(omitted=omitted) + "\n" + text[-tail:], True


@runtime_checkable
class Toolbox(Protocol):
    """Answers tool calls. Never raises for a missing object or an unreachable backend: the result says
    so (ok=False) and the agent reasons without it."""

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one tool call."""
        ...

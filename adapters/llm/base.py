"""The model interface the diagnosis agent drives: Anthropic and the offline reasoner both implement it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from domain.diagnosis import Diagnosis, ToolCall, ToolResult
from domain.models import Alert


class DiagnosisContext(BaseModel):
    """What the agent knows before any tool call."""

    model_config = ConfigDict(extra="forbid")

    alert: Alert | None = None  # None: `aisre diagnose --evidence DIR` without --alert
    incident_id: int | None = None
    workspace: str = "default"
    opened_at: datetime | None = None


class Turn(BaseModel):
    """One model turn that asked for tools, and what the tools answered (in call order)."""

    model_config = ConfigDict(extra="forbid")

    text: str = ""  # the model's own words alongside its tool calls (kept for the transcript)
    calls: list[ToolCall]
    results: list[ToolResult] = Field(default_factory=list)


class ModelReply(BaseModel):
    """Either more tool calls, or the final diagnosis."""

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    calls: list[ToolCall] = Field(default_factory=list)
    diagnosis: Diagnosis | None = None
    input_tokens: int = 0
    output_tokens: int = 0


@runtime_checkable
class DiagnosisModel(Protocol):
    """A model: given the context and the turns so far, ask for tools or answer."""

    name: str

    async def next(self, context: DiagnosisContext, turns: list[Turn], *, must_finish: bool) -> ModelReply:
        """The next step. With `must_finish` (budget spent) it must return a diagnosis, not calls."""
        ...


class ModelError(Exception):
    """A model call failed. `retryable` says whether trying again can help; `retry_after` is the
    vendor's Retry-After in seconds when it sent one (Temporal uses it as the next retry delay)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after

"""The diagnosis agent: a LangGraph StateGraph looping model -> tools -> model until a Diagnosis.

The model (Anthropic or the offline reasoner) decides which read-only tools to call; the toolbox (live
cluster + logs + SQL, or an evidence bundle) answers. Budgets: at most `max_tool_calls` tool calls and
`max_total_tokens` model tokens; once either is spent the model is asked to finish with what it has.
Tool outputs longer than `tool_output_chars` are truncated with a marker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field

from adapters.context.base import Toolbox, truncate
from adapters.llm.base import DiagnosisContext, DiagnosisModel, ModelReply, Turn
from domain.diagnosis import Diagnosis, ToolCall, ToolResult


class AgentRun(BaseModel):
    """The diagnosis and everything that led to it (the transcript is the evidence)."""

    model_config = ConfigDict(extra="forbid")

    diagnosis: Diagnosis
    turns: list[Turn] = Field(default_factory=list)  # what the model saw (outputs truncated)
    # The tools' full outputs in call order: an evidence bundle of these replays to the same diagnosis,
    # because replay truncates them again exactly as the live run did.
    recorded: list[ToolResult] = Field(default_factory=list)
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    stopped_by_budget: bool = False


class _State(TypedDict):
    turns: list[Turn]
    recorded: list[ToolResult]
    pending: list[ToolCall]
    pending_text: str
    diagnosis: Diagnosis | None
    tool_calls: int
    input_tokens: int
    output_tokens: int
    must_finish: bool
    model_calls: int


class BudgetError(Exception):
    """The model kept asking for tools after being told to finish."""


async def run_agent(
    *,
    model: DiagnosisModel,
    toolbox: Toolbox,
    context: DiagnosisContext,
    max_tool_calls: int = 16,
    max_total_tokens: int = 100_000,
    tool_output_chars: int = 20_000,
    on_step: Callable[[str], Awaitable[None] | None] | None = None,
) -> AgentRun:
    """Run the tool-calling loop to a Diagnosis. `on_step` is called between steps (heartbeats)."""

    async def notify(what: str) -> None:
        if on_step is not None:
            maybe = on_step(what)
            if asyncio.iscoroutine(maybe):
                await maybe

    async def call_model(state: _State) -> dict[str, Any]:
        await notify(f"model call {state['model_calls'] + 1}")
        budget_spent = (
            state["tool_calls"] >= max_tool_calls or state["input_tokens"] + state["output_tokens"] >= max_total_tokens
        )
        must_finish = state["must_finish"] or budget_spent
        reply: ModelReply = await model.next(context, list(state["turns"]), must_finish=must_finish)
        update: dict[str, Any] = {
            "input_tokens": state["input_tokens"] + reply.input_tokens,
            "output_tokens": state["output_tokens"] + reply.output_tokens,
            "must_finish": must_finish,
            "model_calls": state["model_calls"] + 1,
        }
        if reply.diagnosis is not None:
            return update | {"diagnosis": reply.diagnosis, "pending": [], "pending_text": reply.text}
        if not reply.calls:
            raise BudgetError(f"model {model.name} returned neither tool calls nor a diagnosis")
        if must_finish:
            raise BudgetError(f"model {model.name} asked for tools after the budget was spent")
        # Never run more calls than the budget has left; the model sees only what ran.
        room = max_tool_calls - state["tool_calls"]
        return update | {"pending": reply.calls[:room], "pending_text": reply.text}

    async def call_tools(state: _State) -> dict[str, Any]:
        results: list[ToolResult] = []
        raw: list[ToolResult] = []
        for call in state["pending"]:
            await notify(f"tool {call.tool.value}")
            result = await toolbox.call(call)
            raw.append(result)
            output, cut = truncate(result.output, tool_output_chars)
            results.append(result.model_copy(update={"output": output, "truncated": result.truncated or cut}))
        turn = Turn(text=state["pending_text"], calls=list(state["pending"]), results=results)
        return {
            "turns": [*state["turns"], turn],
            "recorded": [*state["recorded"], *raw],
            "pending": [],
            "pending_text": "",
            "tool_calls": state["tool_calls"] + len(state["pending"]),
        }

    def route(state: _State) -> str:
        return END if state["diagnosis"] is not None else "tools"

    graph = StateGraph(_State)
    graph.add_node("model", call_model)
    graph.add_node("tools", call_tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, {"tools": "tools", END: END})
    graph.add_edge("tools", "model")
    compiled = graph.compile()

    initial: _State = {
        "turns": [],
        "recorded": [],
        "pending": [],
        "pending_text": "",
        "diagnosis": None,
        "tool_calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "must_finish": False,
        "model_calls": 0,
    }
    # Each loop is two graph steps; leave room for the final forced answer.
    final = await compiled.ainvoke(initial, config={"recursion_limit": 2 * max_tool_calls + 8})
    diagnosis = final["diagnosis"]
    assert diagnosis is not None
    return AgentRun(
        diagnosis=diagnosis,
        turns=final["turns"],
        recorded=final["recorded"],
        tool_calls=final["tool_calls"],
        input_tokens=final["input_tokens"],
        output_tokens=final["output_tokens"],
        stopped_by_budget=final["must_finish"],
    )

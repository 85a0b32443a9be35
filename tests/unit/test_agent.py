"""The LangGraph tool-calling loop: turns, budgets, truncation, heartbeats."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from adapters.context.base import TRUNCATION_MARKER, truncate
from adapters.llm.agent import BudgetError, run_agent
from adapters.llm.base import DiagnosisContext, ModelReply, Turn
from domain.diagnosis import Category, Diagnosis, ToolCall, ToolName, ToolResult

ANSWER = Diagnosis(category=Category.unknown, root_cause="nothing conclusive", summary="s", confidence=0.1)


@dataclass
class ScriptedModel:
    """Asks for `rounds` turns of `per_turn` calls, then answers; records what it saw."""

    rounds: int
    per_turn: int = 1
    tokens_per_call: int = 0
    name: str = "scripted"
    seen: list[tuple[int, bool]] = field(default_factory=list)
    keep_asking: bool = False

    async def next(self, context: DiagnosisContext, turns: list[Turn], *, must_finish: bool) -> ModelReply:
        self.seen.append((len(turns), must_finish))
        usage = {"input_tokens": self.tokens_per_call, "output_tokens": 0}
        if (len(turns) < self.rounds and not must_finish) or self.keep_asking:
            calls = [
                ToolCall(id=f"c{len(turns)}-{i}", tool=ToolName.kubectl_get, params={"kind": "pods"})
                for i in range(self.per_turn)
            ]
            return ModelReply(text=f"turn {len(turns)}", calls=calls, **usage)
        return ModelReply(diagnosis=ANSWER, **usage)


@dataclass
class EchoToolbox:
    output: str = "NAME READY STATUS\napi-1 0/1 CrashLoopBackOff"
    calls: list[ToolCall] = field(default_factory=list)

    async def call(self, call: ToolCall) -> ToolResult:
        self.calls.append(call)
        return ToolResult(call_id=call.id, tool=call.tool, params=call.params, output=self.output)


async def test_loop_runs_tools_between_model_turns_and_keeps_the_transcript() -> None:
    model, tools = ScriptedModel(rounds=2, per_turn=2), EchoToolbox()
    run = await run_agent(model=model, toolbox=tools, context=DiagnosisContext())
    assert run.diagnosis == ANSWER
    assert run.tool_calls == 4
    assert [t.text for t in run.turns] == ["turn 0", "turn 1"]
    assert [[r.call_id for r in t.results] for t in run.turns] == [["c0-0", "c0-1"], ["c1-0", "c1-1"]]
    assert model.seen == [(0, False), (1, False), (2, False)]
    assert not run.stopped_by_budget


async def test_tool_budget_forces_a_final_answer_and_never_overspends() -> None:
    model, tools = ScriptedModel(rounds=10, per_turn=3), EchoToolbox()
    run = await run_agent(model=model, toolbox=tools, context=DiagnosisContext(), max_tool_calls=5)
    assert run.tool_calls == 5  # 3, then only the 2 the budget had left
    assert len(tools.calls) == 5
    assert model.seen[-1] == (2, True)
    assert run.stopped_by_budget


async def test_token_budget_forces_a_final_answer() -> None:
    model = ScriptedModel(rounds=10, tokens_per_call=600)
    run = await run_agent(model=model, toolbox=EchoToolbox(), context=DiagnosisContext(), max_total_tokens=1000)
    assert model.seen == [(0, False), (1, False), (2, True)]
    assert run.input_tokens == 1800
    assert run.stopped_by_budget


async def test_a_model_that_ignores_must_finish_is_an_error() -> None:
    model = ScriptedModel(rounds=10, keep_asking=True)
    with pytest.raises(BudgetError, match="after the budget was spent"):
        await run_agent(model=model, toolbox=EchoToolbox(), context=DiagnosisContext(), max_tool_calls=2)


async def test_long_outputs_are_truncated_with_a_marker_and_flagged() -> None:
    tools = EchoToolbox(output="x" * 5000 + "FATAL: the last line matters")
    run = await run_agent(
        model=ScriptedModel(rounds=1), toolbox=tools, context=DiagnosisContext(), tool_output_chars=900
    )
    (result,) = run.turns[0].results
    assert result.truncated
    assert "more characters not shown" in result.output
    assert result.output.endswith("FATAL: the last line matters")
    assert len(result.output) < 1000


async def test_on_step_is_called_for_model_and_tool_steps() -> None:
    steps: list[str] = []

    async def record(step: str) -> None:
        steps.append(step)

    await run_agent(model=ScriptedModel(rounds=1), toolbox=EchoToolbox(), context=DiagnosisContext(), on_step=record)
    assert steps == ["model call 1", "tool kubectl_get", "model call 2"]


def test_truncate_keeps_short_text_and_marks_long_text() -> None:
    assert truncate("short", 100) == ("short", False)
    text, cut = truncate("a" * 300, 90)
    assert cut
    assert TRUNCATION_MARKER.format(omitted=210).strip() in text


async def test_recorded_outputs_are_the_full_untruncated_ones() -> None:
    tools = EchoToolbox(output="y" * 3000)
    run = await run_agent(
        model=ScriptedModel(rounds=1), toolbox=tools, context=DiagnosisContext(), tool_output_chars=600
    )
    assert run.turns[0].results[0].truncated
    assert run.recorded[0].output == "y" * 3000
    assert not run.recorded[0].truncated

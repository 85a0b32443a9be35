"""AnthropicModel driven by the real agent loop against a local server that speaks the Messages API."""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.llm.agent import run_agent
from adapters.llm.anthropic_model import SUBMIT_TOOL, AnthropicModel, _diagnosis_schema, _tools, build_messages
from adapters.llm.base import DiagnosisContext, ModelError, Turn
from domain.diagnosis import Category, Investigate, ToolCall, ToolName, ToolResult
from domain.models import Alert, Severity
from domain.settings import Settings
from tests.fakes.anthropic_server import (
    AnthropicFake,
    FakeDelay,
    FakeError,
    check_body,
    message,
    text_block,
    tool_use_block,
)

MODEL_ID = "claude-test-model"
POD = "checkout-7d9f8c6b5-x2x9q"

DESCRIBE = f"""Name:         {POD}
Namespace:    shop
Containers:
  checkout:
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
    Restart Count:  7
"""
PREVIOUS_LOGS = """2026-01-10T10:00:01Z INFO starting checkout v2.3.1
2026-01-10T10:00:01Z FATAL config: required environment variable DATABASE_URL is not set
"""


def diagnosis_input(**overrides: Any) -> dict[str, Any]:
    """A submit_diagnosis input as the model would send it (no `model` key)."""
    data: dict[str, Any] = {
        "category": "crashloop_config",
        "root_cause": f"Container checkout in pod {POD} exits 1 because DATABASE_URL is not set.",
        "summary": "checkout crash-loops on start: missing DATABASE_URL environment variable.",
        "confidence": 0.9,
        "evidence": [
            {
                "tool": "kubectl_previous_logs",
                "params": {"name": POD, "namespace": "shop"},
                "excerpt": "FATAL config: required environment variable DATABASE_URL is not set",
            }
        ],
        "suggested_actions": [
            {"action": "investigate", "instructions": "Restore DATABASE_URL in the checkout deployment's env."}
        ],
    }
    data.update(overrides)
    return data


class FakeToolbox:
    """Answers from a table keyed by tool; records every call."""

    def __init__(self, answers: dict[ToolName, tuple[str, bool]]) -> None:
        self.answers = answers
        self.calls: list[ToolCall] = []

    async def call(self, call: ToolCall) -> ToolResult:
        self.calls.append(call)
        output, ok = self.answers.get(call.tool, ("no data recorded for this call", False))
        return ToolResult(call_id=call.id, tool=call.tool, params=call.params, output=output, ok=ok)


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    with AnthropicFake() as server:
        yield server


@pytest.fixture
async def model(fake: AnthropicFake) -> AsyncIterator[AnthropicModel]:
    m = AnthropicModel(api_key=fake.api_key, model=MODEL_ID, base_url=fake.url, max_tokens=1024, timeout_seconds=5)
    yield m
    await m.aclose()


@pytest.fixture
def context() -> DiagnosisContext:
    alert = Alert(
        source="alertmanager",
        title="KubePodCrashLooping",
        description="Pod shop/checkout is crash looping",
        severity=Severity.high,
        service="checkout",
        namespace="shop",
        pod=POD,
        labels={"alertname": "KubePodCrashLooping", "team": "payments"},
        annotations={"runbook_url": "https://runbooks.example/crashloop"},
        started_at=datetime(2026, 1, 10, 10, 0, 30, tzinfo=UTC),
    )
    return DiagnosisContext(
        alert=alert, incident_id=42, workspace="default", opened_at=datetime(2026, 1, 10, 10, 1, tzinfo=UTC)
    )


def blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    content = msg["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


# --- the scripted multi-turn conversation ------------------------------------------------------------


async def test_multi_turn_tool_use_conversation(fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext):
    fake.script(
        [
            message(
                text_block("Checking the pod and its events."),
                tool_use_block(
                    "kubectl_describe", {"kind": "pod", "name": POD, "namespace": "shop"}, block_id="toolu_01"
                ),
                tool_use_block("kubectl_events", {"namespace": "shop"}, block_id="toolu_02"),
                input_tokens=1000,
                output_tokens=50,
            ),
            message(
                tool_use_block(
                    "kubectl_previous_logs", {"name": POD, "namespace": "shop", "tail": 200}, block_id="toolu_03"
                ),
                input_tokens=1500,
                output_tokens=40,
            ),
            message(
                text_block("The previous run explains it."),
                tool_use_block(SUBMIT_TOOL, diagnosis_input(), block_id="toolu_04"),
                input_tokens=2000,
                output_tokens=300,
            ),
        ]
    )
    toolbox = FakeToolbox(
        {
            ToolName.kubectl_describe: (DESCRIBE, True),
            ToolName.kubectl_events: ("events are not available: forbidden", False),
            ToolName.kubectl_previous_logs: (PREVIOUS_LOGS, True),
        }
    )

    run = await run_agent(model=model, toolbox=toolbox, context=context)

    assert fake.violations == []
    assert fake.remaining == 0
    # The final answer parses into a Diagnosis; the adapter stamps the model id.
    diagnosis = run.diagnosis
    assert diagnosis.category is Category.crashloop_config
    assert "DATABASE_URL" in diagnosis.root_cause
    assert diagnosis.confidence == 0.9
    assert diagnosis.model == MODEL_ID
    assert diagnosis.evidence[0].tool is ToolName.kubectl_previous_logs
    assert isinstance(diagnosis.suggested_actions[0], Investigate)
    # Usage summed over the three model calls.
    assert (run.input_tokens, run.output_tokens) == (4500, 390)
    assert run.tool_calls == 3
    assert not run.stopped_by_budget
    # Tool calls carry the tool_use ids; non-string input is coerced to str.
    assert [(c.id, c.tool) for c in toolbox.calls] == [
        ("toolu_01", ToolName.kubectl_describe),
        ("toolu_02", ToolName.kubectl_events),
        ("toolu_03", ToolName.kubectl_previous_logs),
    ]
    assert toolbox.calls[2].params == {"name": POD, "namespace": "shop", "tail": "200"}
    assert run.turns[0].text == "Checking the pod and its events."

    first, second, third = fake.bodies
    # Request 1: the alert as the only user message, all tools + submit_diagnosis, auto tool choice.
    assert first["model"] == MODEL_ID
    assert first["max_tokens"] == 1024
    assert first["tool_choice"] == {"type": "auto"}
    assert [t["name"] for t in first["tools"]] == [t.value for t in ToolName] + [SUBMIT_TOOL]
    assert len(first["messages"]) == 1
    alert_text = blocks(first["messages"][0])[0]["text"]
    for expected in ("KubePodCrashLooping", POD, '"namespace": "shop"', '"severity": "high"', "payments"):
        assert expected in alert_text
    assert "runbooks.example" in alert_text
    assert "2026-01-10T10:00:30+00:00" in alert_text
    assert "crashloop_config" in first["system"]
    assert "unknown" in first["system"]

    # Request 2: the first turn went back as assistant tool_use + user tool_result (documented shape).
    assert second["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking the pod and its events."},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "kubectl_describe",
                "input": {"kind": "pod", "name": POD, "namespace": "shop"},
            },
            {"type": "tool_use", "id": "toolu_02", "name": "kubectl_events", "input": {"namespace": "shop"}},
        ],
    }
    assert second["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": DESCRIBE},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_02",
                "content": "events are not available: forbidden",
                "is_error": True,
            },
        ],
    }
    # Request 3: the whole conversation again, ending with the logs as a tool_result.
    assert [m["role"] for m in third["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    assert third["messages"][:3] == second["messages"]
    assert third["messages"][4]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_03", "content": PREVIOUS_LOGS}
    ]

    # Auth as documented: the key in x-api-key, never as a bearer token.
    for request in fake.requests:
        assert request.headers["x-api-key"] == fake.api_key
        assert "authorization" not in request.headers
        assert request.headers["anthropic-version"]


async def test_must_finish_forces_submit_diagnosis(
    fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext
):
    fake.script(
        [
            message(
                tool_use_block("kubectl_get", {"kind": "pod", "namespace": "shop"}, block_id="toolu_a"),
                tool_use_block("kubectl_events", {"namespace": "shop"}, block_id="toolu_b"),
            ),
            message(tool_use_block(SUBMIT_TOOL, diagnosis_input(category="unknown", confidence=0.2))),
        ]
    )
    toolbox = FakeToolbox({ToolName.kubectl_get: ("NAME READY STATUS\ncheckout 0/1 CrashLoopBackOff", True)})

    run = await run_agent(model=model, toolbox=toolbox, context=context, max_tool_calls=1)

    assert fake.violations == []
    assert run.stopped_by_budget
    assert run.diagnosis.category is Category.unknown
    # Only the call the budget allowed ran, and only it went back to the model.
    assert [c.id for c in toolbox.calls] == ["toolu_a"]
    first, second = fake.bodies
    assert first["tool_choice"] == {"type": "auto"}
    assert second["tool_choice"] == {"type": "tool", "name": SUBMIT_TOOL}
    assert [b["type"] for b in second["messages"][1]["content"]] == ["tool_use"]
    last = second["messages"][-1]["content"]
    assert last[0]["tool_use_id"] == "toolu_a"
    assert last[-1]["type"] == "text"
    assert "budget is spent" in last[-1]["text"]


async def test_must_finish_without_turns(fake: AnthropicFake, model: AnthropicModel):
    fake.script([message(tool_use_block(SUBMIT_TOOL, diagnosis_input(category="no_problem", suggested_actions=[])))])

    reply = await model.next(DiagnosisContext(), [], must_finish=True)

    assert fake.violations == []
    assert reply.diagnosis is not None
    assert reply.diagnosis.category is Category.no_problem
    body = fake.bodies[0]
    assert body["tool_choice"] == {"type": "tool", "name": SUBMIT_TOOL}
    texts = [b["text"] for b in blocks(body["messages"][0])]
    assert "There is no alert" in texts[0]
    assert "budget is spent" in texts[1]


# --- vendor errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "vendor_message", "retry_after", "retryable", "expected_delay"),
    [
        (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", "7", True, 7.0),
        (500, "api_error", "Internal server error", None, True, None),
        (502, "api_error", "Bad gateway", None, True, None),
        (503, "api_error", "Service unavailable", None, True, None),
        (504, "timeout_error", "Request timeout", None, True, None),
        (529, "overloaded_error", "Overloaded", None, True, None),
        (529, "overloaded_error", "Overloaded", "3", True, 3.0),
        (400, "invalid_request_error", "messages.0.content: text content blocks must be non-empty", None, False, None),
        (401, "authentication_error", "invalid x-api-key", None, False, None),
        (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
            None,
            False,
            None,
        ),
        (404, "not_found_error", f"model: {MODEL_ID}", None, False, None),
        (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", None, False, None),
        (422, "invalid_request_error", "unprocessable", None, False, None),
    ],
)
async def test_vendor_errors_map_to_model_errors(
    fake: AnthropicFake,
    model: AnthropicModel,
    context: DiagnosisContext,
    status: int,
    error_type: str,
    vendor_message: str,
    retry_after: str | None,
    retryable: bool,
    expected_delay: float | None,
):
    fake.script([FakeError(status, error_type, vendor_message, retry_after=retry_after)])

    with pytest.raises(ModelError) as caught:
        await model.next(context, [], must_finish=False)

    err = caught.value
    assert err.retryable is retryable
    assert err.retry_after == expected_delay
    assert str(status) in str(err)
    assert vendor_message in str(err)
    assert error_type in str(err)
    # max_retries=0: the SDK did not retry on its own (Temporal does).
    assert len(fake.requests) == 1
    assert fake.api_key not in repr(err)
    assert err.__cause__ is None
    assert err.__context__ is None


async def test_429_surfaces_through_the_agent_loop(
    fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext
):
    fake.script([FakeError(429, "rate_limit_error", "slow down", retry_after="7")])

    with pytest.raises(ModelError) as caught:
        await run_agent(model=model, toolbox=FakeToolbox({}), context=context)

    assert caught.value.retryable is True
    assert caught.value.retry_after == 7.0


async def test_spend_cap_429_is_not_retryable(fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext):
    fake.script(
        [FakeError(429, "rate_limit_error", "monthly spend cap reached", error_code="enforced_spend_limit_reached")]
    )

    with pytest.raises(ModelError) as caught:
        await model.next(context, [], must_finish=False)

    assert caught.value.retryable is False
    assert "monthly spend cap reached" in str(caught.value)


async def test_retry_after_as_http_date(fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext):
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake.script([FakeError(529, "overloaded_error", "Overloaded", retry_after=later)])

    with pytest.raises(ModelError) as caught:
        await model.next(context, [], must_finish=False)

    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 31


async def test_connection_refused_is_retryable(context: DiagnosisContext):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    m = AnthropicModel(api_key="sk-ant-unused", model=MODEL_ID, base_url=f"http://127.0.0.1:{port}", timeout_seconds=2)
    try:
        with pytest.raises(ModelError) as caught:
            await m.next(context, [], must_finish=False)
    finally:
        await m.aclose()
    assert caught.value.retryable is True
    assert caught.value.retry_after is None
    assert "unreachable" in str(caught.value)


async def test_timeout_is_retryable(fake: AnthropicFake, context: DiagnosisContext):
    fake.script([FakeDelay(2.0, message(text_block("too late")))])
    m = AnthropicModel(api_key=fake.api_key, model=MODEL_ID, base_url=fake.url, timeout_seconds=0.3)
    try:
        with pytest.raises(ModelError) as caught:
            await m.next(context, [], must_finish=False)
    finally:
        await m.aclose()
    assert caught.value.retryable is True
    assert "Timeout" in str(caught.value)


async def test_api_key_never_leaks(fake: AnthropicFake, context: DiagnosisContext, caplog: pytest.LogCaptureFixture):
    secret = "sk-ant-api03-VERY-SECRET-KEY-0123456789"
    fake.api_key = secret
    # A proxy that echoes the key back in its error message must not get it into our error either.
    fake.script([FakeError(401, "authentication_error", f"invalid x-api-key: {secret}")])
    m = AnthropicModel(api_key=secret, model=MODEL_ID, base_url=fake.url)
    assert secret not in repr(m)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(ModelError) as caught:
            await m.next(context, [], must_finish=False)
    finally:
        await m.aclose()
    err = caught.value
    assert err.retryable is False
    for text in (str(err), repr(err), *map(str, err.args)):
        assert secret not in text
    assert "[redacted]" in str(err)
    assert err.__cause__ is None
    assert err.__context__ is None
    assert secret not in caplog.text
    assert fake.requests[0].headers["x-api-key"] == secret  # it did go where it belongs


# --- unusable answers ----------------------------------------------------------------------------------


async def test_invalid_submission_is_corrected_on_the_retry(
    fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext
):
    fake.script(
        [
            message(
                tool_use_block(
                    SUBMIT_TOOL, diagnosis_input(category="memory_leak", confidence=1.7), block_id="toolu_bad"
                ),
                input_tokens=300,
                output_tokens=30,
            ),
            message(
                tool_use_block(SUBMIT_TOOL, diagnosis_input(), block_id="toolu_good"),
                input_tokens=400,
                output_tokens=40,
            ),
        ]
    )

    reply = await model.next(context, [], must_finish=False)

    assert fake.violations == []
    assert reply.diagnosis is not None
    assert reply.diagnosis.category is Category.crashloop_config
    assert (reply.input_tokens, reply.output_tokens) == (700, 70)
    retry = fake.bodies[1]
    assert retry["tool_choice"] == {"type": "tool", "name": SUBMIT_TOOL}
    assert [m["role"] for m in retry["messages"]] == ["user", "assistant", "user"]
    assert retry["messages"][1]["content"][0]["id"] == "toolu_bad"
    [result] = retry["messages"][2]["content"]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == "toolu_bad"
    assert result["is_error"] is True
    assert "category" in result["content"]
    assert "confidence" in result["content"]


async def test_invalid_submission_twice_is_not_retryable(
    fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext
):
    bad = diagnosis_input(confidence="very high")
    fake.script([message(tool_use_block(SUBMIT_TOOL, bad)), message(tool_use_block(SUBMIT_TOOL, bad))])

    with pytest.raises(ModelError) as caught:
        await model.next(context, [], must_finish=False)

    assert caught.value.retryable is False
    assert "invalid submit_diagnosis" in str(caught.value)
    assert "confidence" in str(caught.value)
    assert len(fake.bodies) == 2
    assert fake.violations == []


async def test_action_without_discriminator_is_rejected_then_fixed(
    fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext
):
    # The schema marks `action` required; a model that leaves it out gets told so and fixes it.
    no_action = diagnosis_input(suggested_actions=[{"namespace": "shop", "pod": POD}])
    fixed = diagnosis_input(suggested_actions=[{"action": "restart_pod", "namespace": "shop", "pod": POD}])
    fake.script([message(tool_use_block(SUBMIT_TOOL, no_action)), message(tool_use_block(SUBMIT_TOOL, fixed))])

    reply = await model.next(context, [], must_finish=False)

    assert reply.diagnosis is not None
    assert reply.diagnosis.suggested_actions[0].action == "restart_pod"
    assert "suggested_actions" in fake.bodies[1]["messages"][2]["content"][0]["content"]


async def test_end_turn_without_tools_is_not_retryable(
    fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext
):
    fake.script([message(text_block("I think the database is down."), stop_reason="end_turn")])

    with pytest.raises(ModelError) as caught:
        await model.next(context, [], must_finish=False)

    assert caught.value.retryable is False
    assert "without calling a tool" in str(caught.value)
    assert "database is down" in str(caught.value)
    assert len(fake.requests) == 1


async def test_unknown_tool_is_not_retryable(fake: AnthropicFake, model: AnthropicModel, context: DiagnosisContext):
    fake.script([message(tool_use_block("kubectl_exec", {"command": "env"}))])

    with pytest.raises(ModelError) as caught:
        await model.next(context, [], must_finish=False)

    assert caught.value.retryable is False
    assert "kubectl_exec" in str(caught.value)
    assert len(fake.requests) == 1
    # The fake flags the scripted call of a tool the request did not offer (the real API cannot send it).
    assert fake.violations == ["scripted tool_use of 'kubectl_exec', which the request did not offer"]


# --- request building, checked by the fake's documented-shape oracle ------------------------------------


def test_built_conversations_follow_the_documented_shape(context: DiagnosisContext):
    call_a = ToolCall(id="toolu_1", tool=ToolName.kubectl_get, params={"kind": "pod"})
    call_b = ToolCall(id="toolu_2", tool=ToolName.fetch_logs, params={"service": "checkout"})
    turns = [
        # results out of order and one missing: every tool_use still gets exactly one tool_result, in order
        Turn(
            text="",
            calls=[call_a, call_b],
            results=[ToolResult(call_id="toolu_1", tool=ToolName.kubectl_get, output="")],
        ),
        Turn(text="thinking out loud", calls=[]),
        Turn(
            text="",
            calls=[ToolCall(id="toolu_3", tool=ToolName.kubectl_top, params={})],
            results=[ToolResult(call_id="toolu_3", tool=ToolName.kubectl_top, output="cpu 900m", ok=True)],
        ),
    ]
    for must_finish in (False, True):
        messages = build_messages(context, turns, must_finish=must_finish)
        body = {"model": MODEL_ID, "max_tokens": 10, "messages": messages, "tools": _tools()}
        assert check_body(json.loads(json.dumps(body))) == []
    plain: list[dict[str, Any]] = json.loads(json.dumps(build_messages(context, turns, must_finish=False)))
    results = plain[2]["content"]
    assert [(r["tool_use_id"], r.get("is_error", False)) for r in results] == [("toolu_1", False), ("toolu_2", True)]
    assert results[0]["content"] == "(empty output)"
    assert results[1]["content"] == "no result was recorded"
    # The text-only turn merged into the next assistant message instead of breaking the alternation.
    assert [b["type"] for b in plain[3]["content"]] == ["text", "tool_use"]


def test_the_oracle_rejects_what_the_api_rejects():
    tools = [{"name": "kubectl_get", "description": "d", "input_schema": {"type": "object"}}]
    use = {"type": "tool_use", "id": "toolu_1", "name": "kubectl_get", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}
    good = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [result]},
    ]
    assert check_body({"model": "m", "max_tokens": 5, "messages": good, "tools": tools}) == []
    cases = {
        "missing tool_result": [good[0], good[1], {"role": "user", "content": "ok"}],
        "orphan tool_result": [good[0], {"role": "assistant", "content": "x"}, good[2]],
        "tool_result not first": [
            good[0],
            good[1],
            {"role": "user", "content": [{"type": "text", "text": "a"}, result]},
        ],
        "same role twice": [good[0], good[0]],
        "empty text": [{"role": "user", "content": [{"type": "text", "text": ""}]}],
        "assistant first": [good[1], good[2]],
    }
    for name, messages in cases.items():
        assert check_body({"model": "m", "max_tokens": 5, "messages": messages, "tools": tools}), name
    forced_unknown = {"type": "tool", "name": "submit_diagnosis"}
    assert check_body({"model": "m", "max_tokens": 5, "messages": good, "tools": tools, "tool_choice": forced_unknown})
    assert check_body({"model": "m", "max_tokens": 5, "messages": good})  # tool_use without tools


def test_submit_schema_is_the_diagnosis_without_model():
    schema = _diagnosis_schema()
    assert "model" not in schema["properties"]
    assert set(schema["required"]) >= {"category", "root_cause", "summary", "confidence"}
    assert schema["$defs"]["Category"]["enum"] == [c.value for c in Category]
    assert "discriminator" not in json.dumps(schema)
    actions = [d for d in schema["$defs"].values() if "action" in d.get("properties", {})]
    assert {d["properties"]["action"]["const"] for d in actions} == {
        "restart_pod",
        "rollout_restart",
        "scale_deployment",
        "rollback_deployment",
        "ecs_scale_service",
        "ecs_force_new_deployment",
        "ecs_stop_task",
        "suggest_config_fix",
        "investigate",
    }
    assert all("action" in d["required"] for d in actions)


def test_from_settings(fake: AnthropicFake):
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        AnthropicModel.from_settings(Settings(anthropic_api_key=None))
    m = AnthropicModel.from_settings(
        Settings(anthropic_api_key=fake.api_key, anthropic_base_url=fake.url, anthropic_model="claude-x")
    )
    assert m.name == "anthropic/claude-x"
    assert fake.api_key not in repr(m)

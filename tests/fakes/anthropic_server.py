"""A local server that speaks the Anthropic Messages API (`POST /v1/messages`) from a script.

It checks every request against the documented shape (auth and version headers, alternating roles,
`tool_use` answered by `tool_result` blocks in the next user turn, tool definitions, `tool_choice`),
records it, and answers with the next scripted reply: a message, an error with the documented error
body (and optional Retry-After), or a delay (client timeouts). A request that breaks the documented shape
gets the 400 the real API would send and is listed in `violations`; it does not consume a script step.

    with AnthropicFake() as fake:
        fake.script([message(tool_use_block("kubectl_get", {"kind": "pod"})), FakeError(529, "overloaded_error")])
        client = AsyncAnthropic(api_key=fake.api_key, base_url=fake.url, max_retries=0)
        ...
        assert fake.violations == []
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import FakeHTTPServer, RecordedRequest
from tests.fakes.http import Reply as HTTPReply

# Versions the API documents for the `anthropic-version` header.
KNOWN_VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOP_LEVEL_KEYS = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "output_config",
        "cache_control",
        "context_management",
        "inference_geo",
        "speed",
        "diagnostics",
        "user_profile_id",
        "workspace_id",
    }
)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


# --- script items ----------------------------------------------------------------------------------


@dataclass
class FakeError:
    """Reply with an HTTP error and the documented error body."""

    status: int
    error_type: str | None = None  # default: the documented type for the status
    message: str = "scripted error"
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None  # error.details.error_code (e.g. enforced_spend_limit_reached)


@dataclass
class FakeDelay:
    """Wait, then send `then` (a client with a shorter timeout gives up first)."""

    seconds: float
    then: dict[str, Any] | FakeError


Reply = dict[str, Any] | FakeError | FakeDelay


def text_block(text: str) -> dict[str, Any]:
    """A `text` content block."""
    return {"type": "text", "text": text}


def tool_use_block(name: str, tool_input: dict[str, Any], *, block_id: str | None = None) -> dict[str, Any]:
    """A `tool_use` content block (a fresh `toolu_` id unless given)."""
    return {"type": "tool_use", "id": block_id or f"toolu_{uuid.uuid4().hex[:24]}", "name": name, "input": tool_input}


def message(
    *content: dict[str, Any], stop_reason: str | None = None, input_tokens: int = 100, output_tokens: int = 20
) -> dict[str, Any]:
    """A Messages API response body; `stop_reason` defaults to tool_use when a tool_use block is present."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
    return {
        "type": "message",
        "role": "assistant",
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


# --- the documented request shape -------------------------------------------------------------------


def check_headers(headers: dict[str, str], api_key: str) -> tuple[int, str] | None:
    """The status and message the API answers for bad auth/version/content-type headers, or None."""
    key = headers.get("x-api-key")
    if key is None:
        return 401, "x-api-key header is required"
    if key != api_key:
        return 401, "invalid x-api-key"
    version = headers.get("anthropic-version")
    if not version:
        return 400, "anthropic-version: header is required"
    if version not in KNOWN_VERSIONS:
        return 400, f"anthropic-version: unknown version {version!r}"
    if headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return 400, "content-type must be application/json"
    return None


def _check_block(block: Any, role: str, where: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"{where}: content block must be an object"]
    kind = block.get("type")
    problems: list[str] = []
    if kind == "text":
        if not isinstance(block.get("text"), str) or not block["text"]:
            problems.append(f"{where}: text content blocks must be non-empty")
    elif kind == "tool_use":
        if role != "assistant":
            problems.append(f"{where}: tool_use blocks are only allowed in assistant messages")
        if not isinstance(block.get("id"), str) or not block["id"]:
            problems.append(f"{where}.id: required")
        if not isinstance(block.get("name"), str) or not block["name"]:
            problems.append(f"{where}.name: required")
        if not isinstance(block.get("input"), dict):
            problems.append(f"{where}.input: must be an object")
    elif kind == "tool_result":
        if role != "user":
            problems.append(f"{where}: tool_result blocks are only allowed in user messages")
        if not isinstance(block.get("tool_use_id"), str):
            problems.append(f"{where}.tool_use_id: required")
        content = block.get("content")
        blocks_ok = isinstance(content, list) and all(isinstance(c, dict) and c.get("type") for c in content)
        if content is not None and not isinstance(content, str) and not blocks_ok:
            problems.append(f"{where}.content: must be a string or a list of content blocks")
        if "is_error" in block and not isinstance(block["is_error"], bool):
            problems.append(f"{where}.is_error: must be a boolean")
    elif kind in {"image", "document", "thinking", "redacted_thinking", "search_result"}:
        pass
    else:
        problems.append(f"{where}.type: unknown content block type {kind!r}")
    extra = set(block) - {"type", "text", "id", "name", "input", "tool_use_id", "content", "is_error", "cache_control"}
    if kind in {"text", "tool_use", "tool_result"} and extra:
        problems.append(f"{where}: extra inputs are not permitted: {sorted(extra)}")
    return problems


def check_body(body: Any) -> list[str]:
    """Everything in a Messages request body the documented API would reject (empty list: valid)."""
    if not isinstance(body, dict):
        return ["request body must be a JSON object"]
    problems = [f"{key}: Extra inputs are not permitted" for key in sorted(set(body) - TOP_LEVEL_KEYS)]
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
        problems.append("max_tokens: Field required (a non-negative integer)")
    if body.get("stream"):
        problems.append("stream: this fake answers non-streaming requests only")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list):
            problems.append("system: must be a string or a list of text blocks")
        else:
            for i, block in enumerate(system):
                if not isinstance(block, dict) or block.get("type") != "text":
                    problems.append(f"system.{i}: only text blocks are allowed")
                else:
                    problems += _check_block(block, "system", f"system.{i}")

    tool_names: set[str] = set()
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            problems.append("tools: must be a list")
            tools = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                problems.append(f"tools.{i}: must be an object")
                continue
            name = tool.get("name")
            if not isinstance(name, str) or not TOOL_NAME.match(name):
                problems.append(f"tools.{i}.name: must match {TOOL_NAME.pattern}")
            elif name in tool_names:
                problems.append(f"tools: tool names must be unique ({name})")
            else:
                tool_names.add(name)
            if "description" in tool and not isinstance(tool["description"], str):
                problems.append(f"tools.{i}.description: must be a string")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                problems.append(f"tools.{i}.input_schema: must be a JSON schema with type 'object'")

    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in {"auto", "any", "tool", "none"}:
            problems.append("tool_choice.type: must be one of auto, any, tool, none")
        elif not tools:
            problems.append("tool_choice: may only be specified while providing tools")
        elif choice["type"] == "tool" and choice.get("name") not in tool_names:
            problems.append(f"tool_choice.name: {choice.get('name')!r} is not one of the provided tools")

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages: at least one message is required"]
    seen_ids: set[str] = set()
    pending: list[str] = []  # tool_use ids of the previous assistant turn awaiting their tool_result
    for i, msg in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(msg, dict) or msg.get("role") not in {"user", "assistant"}:
            problems.append(f"{where}.role: must be 'user' or 'assistant'")
            continue
        role = msg["role"]
        if i == 0 and role != "user":
            problems.append("messages.0.role: the first message must use the user role")
        if i > 0 and isinstance(messages[i - 1], dict) and messages[i - 1].get("role") == role:
            problems.append(f"{where}.role: roles must alternate between user and assistant")
        content = msg.get("content")
        blocks: list[Any]
        if isinstance(content, str):
            if not content:
                problems.append(f"{where}.content: must be non-empty")
            blocks = []
        elif isinstance(content, list) and content:
            blocks = content
        else:
            problems.append(f"{where}.content: must be a non-empty string or list of content blocks")
            blocks = []
        for j, block in enumerate(blocks):
            problems += _check_block(block, role, f"{where}.content.{j}")
        dict_blocks = [b for b in blocks if isinstance(b, dict)]
        if role == "user":
            results = [b.get("tool_use_id") for b in dict_blocks if b.get("type") == "tool_result"]
            if pending:
                missing = [tid for tid in pending if tid not in results]
                if missing:
                    problems.append(
                        f"{where}: tool_use ids were found without tool_result blocks immediately after: {missing}"
                    )
                kinds = [b.get("type") for b in dict_blocks]
                if "tool_result" in kinds and kinds.index("tool_result") != 0:
                    problems.append(f"{where}: tool_result blocks must come first in the content array")
                if any(k != "tool_result" for k in kinds[: len(results)]):
                    problems.append(f"{where}: tool_result blocks must precede any other content")
            for tid in results:
                if tid not in pending:
                    problems.append(
                        f"{where}: unexpected tool_use_id found in tool_result blocks: {tid}. Each tool_result "
                        "block must have a corresponding tool_use block in the previous message."
                    )
            if len(results) != len(set(results)):
                problems.append(f"{where}: duplicate tool_result for one tool_use_id")
            pending = []
        else:
            if pending:
                problems.append(f"{where}: tool_use ids were found without tool_result blocks immediately after")
            pending = []
            for b in dict_blocks:
                if b.get("type") != "tool_use":
                    continue
                tid = b.get("id")
                if isinstance(tid, str):
                    if tid in seen_ids:
                        problems.append(f"{where}: tool_use ids must be unique ({tid})")
                    seen_ids.add(tid)
                    pending.append(tid)
                if b.get("name") not in tool_names:
                    problems.append(f"{where}: tool_use of {b.get('name')!r}, which is not among the provided tools")
    if pending:
        problems.append("messages: the last assistant turn's tool_use blocks have no tool_result")
    return problems


def _script_problems(body: dict[str, Any], reply: dict[str, Any]) -> list[str]:
    """Scripted replies the real API could not produce for this request (a test-script mistake)."""
    offered = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    used = [b.get("name") for b in reply.get("content", []) if isinstance(b, dict) and b.get("type") == "tool_use"]
    problems = [
        f"scripted tool_use of {name!r}, which the request did not offer" for name in used if name not in offered
    ]
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name") not in used:
        problems.append(f"the request forced tool {choice.get('name')!r} but the scripted reply does not call it")
    if choice.get("type") == "any" and not used:
        problems.append("the request forced some tool (tool_choice any) but the scripted reply calls none")
    return problems


# --- the server ---------------------------------------------------------------------------------------


class AnthropicFake(FakeHTTPServer):
    """The fake Messages API on 127.0.0.1:<free port>, answering from a script; use as a context manager."""

    def __init__(self, *, api_key: str = "sk-ant-api03-fake-key-for-tests") -> None:
        super().__init__()
        self.api_key = api_key
        self.violations: list[str] = []
        self._script: deque[Reply] = deque()
        self._counter = 0

    # test API

    def script(self, replies: Iterable[Reply]) -> None:
        """Append replies; each valid request consumes the next one."""
        with self._lock:
            self._script.extend(replies)

    @property
    def remaining(self) -> int:
        """Scripted replies not consumed yet."""
        with self._lock:
            return len(self._script)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the Messages requests received, in order."""
        with self._lock:
            parsed = [_parse(r.body) for r in self.requests if r.target == "/v1/messages"]
        return [body for body in parsed if isinstance(body, dict)]

    # serving

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}_fake{self._counter:04d}"

    def handle(self, request: RecordedRequest) -> HTTPReply:
        if request.method != "POST" or request.target.split("?")[0] != "/v1/messages":
            return self._error(FakeError(404, message=f"{request.method} {request.target}: not found"))
        bad_headers = check_headers(request.headers, self.api_key)
        if bad_headers is not None:
            status, text = bad_headers
            if status != 401:  # a wrong key is a test scenario, not a client defect
                self._violate(text)
            return self._error(FakeError(status, message=text))
        body = _parse(request.body)
        problems = ["request body is not valid JSON"] if body is None and request.body else check_body(body)
        if problems:
            for problem in problems:
                self._violate(problem)
            return self._error(FakeError(400, message="; ".join(problems)))
        with self._lock:
            reply = self._script.popleft() if self._script else None
        if reply is None:
            self._violate("request after the script was exhausted")
            return self._error(FakeError(500, message="fake: the script is exhausted"))
        if isinstance(reply, FakeDelay):
            time.sleep(reply.seconds)
            reply = reply.then
        if isinstance(reply, FakeError):
            return self._error(reply)
        for problem in _script_problems(body, reply):
            self._violate(problem)
        full = {
            "id": self._next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
            **reply,
        }
        return HTTPReply(200, json.dumps(full), headers={"request-id": self._next_id("req")})

    def _error(self, err: FakeError) -> HTTPReply:
        request_id = self._next_id("req")
        error: dict[str, Any] = {
            "type": err.error_type or ERROR_TYPES.get(err.status, "api_error"),
            "message": err.message,
        }
        if err.error_code is not None:
            error["details"] = {"error_code": err.error_code}
        headers = {"request-id": request_id, **err.headers}
        if err.retry_after is not None:
            headers["retry-after"] = err.retry_after
        return HTTPReply(
            err.status, json.dumps({"type": "error", "error": error, "request_id": request_id}), headers=headers
        )

    def _violate(self, problem: str) -> None:
        with self._lock:
            self.violations.append(problem)


def _parse(raw: bytes) -> Any:
    """The JSON in a request body, or None when it is empty or not JSON."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None

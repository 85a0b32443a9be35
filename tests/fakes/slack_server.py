"""A local server that speaks the parts of Slack the notifier uses: the Web API and an incoming webhook.

What it follows (docs.slack.dev, Web API): `POST /api/<method>` with `Authorization: Bearer <token>` and
a JSON body (`Content-Type: application/json`; without `charset` Slack answers with a `missing_charset`
warning); every answer is HTTP 200 JSON `{"ok": true, ...}` or `{"ok": false, "error": "..."}` except rate
limiting (HTTP 429, `Retry-After`, `{"ok": false, "error": "ratelimited"}`).

- `auth.test` → `{"ok": true, "url", "team", "user", "team_id", "user_id", "bot_id"}`.
- `chat.postMessage` (channel id or name, `text` and/or `blocks`, optional `thread_ts`) →
  `{"ok": true, "channel": "<id>", "ts": "1732780800.000100", "message": {...}}`; errors `not_authed`,
  `invalid_auth`, `channel_not_found`, `no_text`, `msg_too_long`, `invalid_blocks` (with
  `response_metadata.messages` naming the offending JSON pointer, as Slack does).
- `chat.update` (channel id, `ts`) → the same shape; `message_not_found` for an unknown ts, `channel_not_found`.
- Block Kit limits checked: ≤ 50 blocks; header plain_text ≤ 150; section text ≤ 3,000 and ≤ 10 fields of
  ≤ 2,000; actions ≤ 25 elements, buttons with text ≤ 75, `action_id` ≤ 255 (unique in the block), `value`
  ≤ 2,000, style primary/danger; context ≤ 10 elements; `block_id` ≤ 255 and unique in the message.

Incoming webhook (`POST /services/T000/B000/XXXX` by default): `ok` (200, text/html) or plain-text errors:
`invalid_payload` (400, not JSON), `no_text` (400, neither text nor blocks), `invalid_blocks` (400);
any other `/services/...` path is a revoked webhook: `no_service` (404).

    with FakeSlack() as slack:
        ...  # SlackNotifier(api_url=slack.api_url, token=SecretStr(slack.token), channel="#incidents")
        blocks = slack.card("C0INCIDENTS", ts)
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import FakeHTTPServer, RecordedRequest, Reply

TOKEN = "xoxb-000000000000-0000000000000-FAKEfakeFAKEfake0000"
WEBHOOK_PATH = "/services/T000/B000/XXXX"
BASE_TS = 1732780800


@dataclass
class SlackMessage:
    """One message as Slack keeps it (latest version; `edits` counts chat.update calls)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    edits: int = 0
    history: list[list[dict[str, Any]]] = field(default_factory=list)


def block_errors(blocks: Any) -> list[str]:
    """Slack's `invalid_blocks` messages for a blocks array (empty when Slack would accept it)."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > 50:
        errors.append("must be less than 51 items [json-pointer:/blocks]")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{where}]")
            continue
        kind = block.get("type")
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > 255:
                errors.append(f"must be a string of at most 255 characters [json-pointer:{where}/block_id]")
            elif block_id in seen_ids:
                errors.append(f"duplicate block_id [json-pointer:{where}/block_id]")
            else:
                seen_ids.add(block_id)
        if kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text":
                errors.append(f"must be plain_text [json-pointer:{where}/text/type]")
            if not isinstance(text.get("text"), str) or not 0 < len(text["text"]) <= 150:
                errors.append(f"must be between 1 and 150 characters [json-pointer:{where}/text/text]")
        elif kind == "section":
            errors.extend(_section_errors(block, where))
        elif kind == "actions":
            errors.extend(_actions_errors(block, where))
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                errors.append(f"must have between 1 and 10 items [json-pointer:{where}/elements]")
            else:
                for j, element in enumerate(elements):
                    errors.extend(_text_errors(element, f"{where}/elements/{j}", limit=3000))
        elif kind not in {"divider", "image", "rich_text", "input", "file", "video"}:
            errors.append(f"unsupported type: {kind!r} [json-pointer:{where}/type]")
    return errors


def _text_errors(text: Any, where: str, *, limit: int) -> list[str]:
    if not isinstance(text, dict) or text.get("type") not in {"plain_text", "mrkdwn"}:
        return [f"must be a text object [json-pointer:{where}]"]
    value = text.get("text")
    if not isinstance(value, str) or not value:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(value) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def _section_errors(block: dict[str, Any], where: str) -> list[str]:
    errors: list[str] = []
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        errors.append(f"must provide text or fields [json-pointer:{where}]")
    if text is not None:
        errors.extend(_text_errors(text, f"{where}/text", limit=3000))
    if fields is not None:
        if not isinstance(fields, list) or not 0 < len(fields) <= 10:
            errors.append(f"must have between 1 and 10 items [json-pointer:{where}/fields]")
        else:
            for j, item in enumerate(fields):
                errors.extend(_text_errors(item, f"{where}/fields/{j}", limit=2000))
    return errors


def _actions_errors(block: dict[str, Any], where: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 0 < len(elements) <= 25:
        return [f"must have between 1 and 25 items [json-pointer:{where}/elements]"]
    errors: list[str] = []
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        here = f"{where}/elements/{j}"
        if not isinstance(element, dict) or element.get("type") != "button":
            continue
        text = element.get("text") or {}
        if text.get("type") != "plain_text" or not isinstance(text.get("text"), str) or not text["text"]:
            errors.append(f"must be plain_text [json-pointer:{here}/text]")
        elif len(text["text"]) > 75:
            errors.append(f"must be less than 76 characters [json-pointer:{here}/text/text]")
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or len(action_id) > 255:
                errors.append(f"must be at most 255 characters [json-pointer:{here}/action_id]")
            elif action_id in action_ids:
                errors.append(f"duplicate action_id [json-pointer:{here}/action_id]")
            else:
                action_ids.add(action_id)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            errors.append(f"must be less than 2001 characters [json-pointer:{here}/value]")
        if "style" in element and element["style"] not in {"primary", "danger"}:
            errors.append(f"must be primary or danger [json-pointer:{here}/style]")
    return errors


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body), content_type="application/json; charset=utf-8", headers=headers or {})


class FakeSlack(FakeHTTPServer):
    """The server; see the module docstring."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        channels: dict[str, str] | None = None,
        webhook_path: str = WEBHOOK_PATH,
    ) -> None:
        super().__init__()
        self.token = token
        self.channels = channels if channels is not None else {"C0INCIDENTS": "incidents", "C0OPS": "ops"}
        self.webhook_path = webhook_path
        self.messages: dict[str, dict[str, SlackMessage]] = {}
        self.webhook_posts: list[dict[str, Any]] = []
        self._counter = 0
        self._failures: deque[Reply] = deque()

    # --- test API ---------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The Web API base URL (`https://slack.com/api` in production)."""
        return f"{self.url}/api"

    @property
    def webhook_url(self) -> str:
        """The incoming webhook URL."""
        return f"{self.url}{self.webhook_path}"

    def fail_next(
        self, status: int = 429, *, times: int = 1, retry_after: int | None = None, error: str | None = None
    ) -> None:
        """Answer the next `times` requests with `status` (429: `ratelimited` plus Retry-After; 200: an
        `{"ok": false, "error": error}` answer; 5xx: a plain server error)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == 200:
            reply = _json(200, {"ok": False, "error": error or "internal_error"}, headers)
        elif status == 429:
            reply = _json(429, {"ok": False, "error": error or "ratelimited"}, headers)
        else:
            reply = Reply(status, "upstream connect error", content_type="text/plain", headers=headers)
        with self._lock:
            self._failures.extend(reply for _ in range(times))

    def top_level(self, channel: str) -> list[SlackMessage]:
        """Messages posted to the channel itself (not thread replies), oldest first."""
        with self._lock:
            return [m for m in self.messages.get(channel, {}).values() if m.thread_ts is None]

    def replies(self, channel: str, thread_ts: str) -> list[SlackMessage]:
        """Replies in a thread, oldest first."""
        with self._lock:
            return [m for m in self.messages.get(channel, {}).values() if m.thread_ts == thread_ts]

    def card(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The current blocks of a message (after any chat.update)."""
        with self._lock:
            return self.messages[channel][ts].blocks

    def message(self, channel: str, ts: str) -> SlackMessage:
        """A message by channel id and ts."""
        with self._lock:
            return self.messages[channel][ts]

    # --- request handling -------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return failure
        if request.path.startswith("/services/"):
            return self._webhook(request)
        if request.method != "POST" or not request.path.startswith("/api/"):
            return Reply(404, "Not Found", content_type="text/plain")
        method = request.path.removeprefix("/api/")
        content_type = request.headers.get("content-type", "")
        if request.body and not content_type:
            return _json(200, {"ok": False, "error": "missing_post_type"})
        if not content_type.startswith("application/json"):
            return _json(200, {"ok": False, "error": "invalid_post_type"})
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return _json(200, {"ok": False, "error": "not_authed"})
        if authorization.removeprefix("Bearer ") != self.token:
            return _json(200, {"ok": False, "error": "invalid_auth"})
        try:
            body = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            return _json(200, {"ok": False, "error": "invalid_json"})
        if not isinstance(body, dict):
            return _json(200, {"ok": False, "error": "invalid_arguments"})
        if method == "auth.test":
            answer: dict[str, Any] = {
                "ok": True,
                "url": "https://fake-workspace.slack.com/",
                "team": "Fake Workspace",
                "user": "aisre",
                "team_id": "T000",
                "user_id": "U0AISRE",
                "bot_id": "B0AISRE",
            }
        elif method == "chat.postMessage":
            answer = self._post(body)
        elif method == "chat.update":
            answer = self._update(body)
        else:
            answer = {"ok": False, "error": "unknown_method"}
        if answer.get("ok") and "charset" not in content_type:
            answer["warning"] = "missing_charset"
            answer["response_metadata"] = {"warnings": ["missing_charset"]}
        return _json(200, answer)

    def _channel_id(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            return None
        if value in self.channels:
            return value
        name = value.removeprefix("#")
        return next((cid for cid, cname in self.channels.items() if cname == name), None)

    def _content_errors(self, body: dict[str, Any]) -> dict[str, Any] | None:
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if isinstance(text, str) and len(text) > 40_000:
            return {"ok": False, "error": "msg_too_long"}
        if blocks is not None:
            errors = block_errors(blocks)
            if errors:
                return {
                    "ok": False,
                    "error": "invalid_blocks",
                    "errors": errors,
                    "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
                }
        return None

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(body.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        refused = self._content_errors(body)
        if refused is not None:
            return refused
        with self._lock:
            self._counter += 1
            ts = f"{BASE_TS}.{self._counter * 100:06d}"
            thread_ts = body.get("thread_ts")
            message = SlackMessage(
                channel=channel,
                ts=ts,
                text=str(body.get("text") or ""),
                blocks=list(body.get("blocks") or []),
                thread_ts=str(thread_ts) if thread_ts else None,
            )
            self.messages.setdefault(channel, {})[ts] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": self._render(message)}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not isinstance(channel, str) or channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        ts = body.get("ts")
        with self._lock:
            message = self.messages.get(channel, {}).get(str(ts))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        refused = self._content_errors(body)
        if refused is not None:
            return refused
        with self._lock:
            message.history.append(message.blocks)
            message.text = str(body.get("text") or message.text)
            message.blocks = list(body.get("blocks") or message.blocks)
            message.edits += 1
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._render(message),
        }

    @staticmethod
    def _render(message: SlackMessage) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": message.text,
            "ts": message.ts,
            "bot_id": "B0AISRE",
            "blocks": message.blocks,
        }
        if message.thread_ts:
            rendered["thread_ts"] = message.thread_ts
        return rendered

    def _webhook(self, request: RecordedRequest) -> Reply:
        if request.path != self.webhook_path:
            return Reply(404, "no_service", content_type="text/html")
        if request.method != "POST":
            return Reply(405, "invalid_method", content_type="text/html")
        try:
            body = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Reply(400, "invalid_payload", content_type="text/html")
        if not isinstance(body, dict):
            return Reply(400, "invalid_payload", content_type="text/html")
        if not body.get("text") and not body.get("blocks"):
            return Reply(400, "no_text", content_type="text/html")
        if body.get("blocks") is not None and block_errors(body["blocks"]):
            return Reply(400, "invalid_blocks", content_type="text/html")
        with self._lock:
            self.webhook_posts.append(body)
        return Reply(200, "ok", content_type="text/html")

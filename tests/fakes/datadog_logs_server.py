"""A local server that speaks Datadog's Logs search API from in-memory logs the test adds.

What it follows (Datadog API reference, "Search logs (POST)", "Validate API key", "Rate limits"):
- `POST /api/v2/logs/events/search` with `DD-API-KEY` and `DD-APPLICATION-KEY` headers (either one
  missing or wrong: 403 `{"errors": ["Forbidden"]}`); body `{"filter": {"query", "from", "to",
  "indexes"}, "sort": "timestamp" | "-timestamp", "page": {"limit" (1..1000, default 10), "cursor"}}`;
  answer `{"data": [{"id", "type": "log", "attributes": {"timestamp", "message", "service", "host",
  "status", "tags", "attributes"}}], "meta": {"page": {"after"}, "status": "done", ...}, "links": {"next"}}`
  where `meta.page.after` is present only while more results remain, and a cursor is only valid for the
  same filter and sort it was issued for.
- `GET /api/v1/validate` with `DD-API-KEY`: `{"valid": true}` or 403.
- Rate limits: every search answer carries `X-RateLimit-Limit/-Period/-Remaining/-Reset/-Name`; past
  `rate_limit` requests it answers 429 `{"errors": ["Too many requests"]}`.
- Errors are `{"errors": [...]}` with 400 for a bad body.

The search syntax it understands: space-separated terms ANDed (`AND` allowed), `key:value` on the reserved
attributes (service, host, status, source) or on tags, `@path:value` on attributes, `*`/`?` wildcards,
backslash escapes (an unescaped special character inside a value is refused), quoted sequences and bare
words matched case-insensitively against the message. `OR`, `NOT`/`-`, parentheses and ranges are real
syntax this fake does not implement: it answers 400 saying so rather than guessing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.http import FakeHTTPServer, RecordedRequest, Reply

SEARCH = "/api/v2/logs/events/search"
VALIDATE = "/api/v1/validate"
MAX_PAGE = 1000
RESERVED = ("service", "host", "status", "source")
SPECIAL = set('+-=&|><!(){}[]^"~*?:\\#')


@dataclass
class DatadogLog:
    """One stored log event."""

    at: datetime
    message: str
    service: str | None = None
    host: str | None = None
    status: str = "info"
    source: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def event(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "timestamp": self.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "message": self.message,
            "status": self.status,
            "tags": list(self.tags),
            "attributes": dict(self.attributes),
        }
        if self.service is not None:
            attributes["service"] = self.service
        if self.host is not None:
            attributes["host"] = self.host
        return {"id": self.id, "type": "log", "attributes": attributes}


class BadQuery(ValueError):
    """A request Datadog answers with 400."""


class FakeDatadogLogs(FakeHTTPServer):
    """The server; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = "fake-dd-api-key-0123456789abcdef",
        app_key: str = "fake-dd-app-key-0123456789abcdef0123",
        rate_limit: int | None = None,
        rate_period_seconds: int = 60,
        rate_reset_seconds: int = 37,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.app_key = app_key
        self.rate_limit = rate_limit
        self.rate_period_seconds = rate_period_seconds
        self.rate_reset_seconds = rate_reset_seconds
        self.delay_seconds = 0.0
        self.logs: list[DatadogLog] = []
        self._searches = 0
        self._replies: deque[Reply] = deque()

    # --- test API ---------------------------------------------------------------------------------

    def add(self, at: datetime, message: str, **fields: Any) -> DatadogLog:
        """Store one log event (fields: service, host, status, source, tags, attributes)."""
        log = DatadogLog(at=at, message=message, **fields)
        with self._lock:
            self.logs.append(log)
        return log

    def fail_next(self, reply: Reply) -> None:
        """Answer the next matching request with `reply` instead of the real handler."""
        with self._lock:
            self._replies.append(reply)

    def searches(self) -> list[RecordedRequest]:
        """The recorded search requests, in order."""
        return [r for r in self.requests if r.path == SEARCH]

    # --- request handling -------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            canned = next((r for r in self._replies if r.path is None or r.path == request.path), None)
            if canned is not None:
                self._replies.remove(canned)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if canned is not None:
            return canned
        if request.path == VALIDATE and request.method == "GET":
            if request.headers.get("dd-api-key") != self.api_key:
                return _errors(403, "Forbidden")
            return _json(200, {"valid": True})
        if request.path != SEARCH:
            return _errors(404, "Not found")
        if request.method != "POST":
            return _errors(405, "Method Not Allowed")
        if (
            request.headers.get("dd-api-key") != self.api_key
            or request.headers.get("dd-application-key") != self.app_key
        ):
            return _errors(403, "Forbidden")
        with self._lock:
            self._searches += 1
            count = self._searches
        headers = self._rate_headers(count)
        if self.rate_limit is not None and count > self.rate_limit:
            return Reply(429, json.dumps({"errors": ["Too many requests"]}), headers=headers)
        try:
            body = self._search(request)
        except BadQuery as exc:
            return Reply(400, json.dumps({"errors": [str(exc)]}), headers=headers)
        return Reply(200, json.dumps(body), headers=headers)

    def _rate_headers(self, count: int) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Period": str(self.rate_period_seconds),
            "X-RateLimit-Remaining": str(max(self.rate_limit - count, 0)),
            "X-RateLimit-Reset": str(self.rate_reset_seconds),
            "X-RateLimit-Name": "logs_search",
        }

    def _search(self, request: RecordedRequest) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadQuery("Invalid JSON body") from None
        if not isinstance(body, dict):
            raise BadQuery("Invalid body: expected an object")
        filt = body.get("filter") or {}
        if not isinstance(filt, dict):
            raise BadQuery("Invalid filter")
        now = datetime.now(UTC)
        start = _parse_time(filt.get("from", "now-15m"), now)
        end = _parse_time(filt.get("to", "now"), now)
        sort = body.get("sort", "timestamp")
        if sort not in {"timestamp", "-timestamp"}:
            raise BadQuery(f"Invalid sort: {sort!r} (allowed: timestamp, -timestamp)")
        page = body.get("page") or {}
        limit = page.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise BadQuery(f"page[limit] must be an integer between 1 and {MAX_PAGE}")
        text = filt.get("query", "*")
        if not isinstance(text, str):
            raise BadQuery("Invalid query")
        predicate = compile_query(text)
        fingerprint = hashlib.sha256(json.dumps([text, filt.get("from"), filt.get("to"), sort]).encode()).hexdigest()[
            :16
        ]
        offset = _read_cursor(page.get("cursor"), fingerprint)
        with self._lock:
            matched = [log for log in self.logs if start <= log.at <= end and predicate(log)]
        matched.sort(key=lambda log: log.at, reverse=sort == "-timestamp")
        chunk = matched[offset : offset + limit]
        response: dict[str, Any] = {
            "data": [log.event() for log in chunk],
            "meta": {"elapsed": 3, "request_id": uuid.uuid4().hex, "status": "done"},
        }
        if offset + limit < len(matched):
            cursor = base64.urlsafe_b64encode(json.dumps({"o": offset + limit, "f": fingerprint}).encode()).decode()
            response["meta"]["page"] = {"after": cursor}
            response["links"] = {"next": f"{self.url}/api/v2/logs/events?page[cursor]={cursor}"}
        return response


def _read_cursor(cursor: Any, fingerprint: str) -> int:
    if cursor is None:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(str(cursor).encode()))
        offset = int(decoded["o"])
        issued_for = decoded["f"]
    except (ValueError, KeyError, TypeError):
        raise BadQuery("Invalid cursor") from None
    if issued_for != fingerprint:
        raise BadQuery("Invalid cursor: it belongs to a different query")
    return offset


def _parse_time(value: Any, now: datetime) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        raise BadQuery(f"Invalid time: {value!r}")
    text = value.strip()
    relative = re.fullmatch(r"now(?:-(\d+)([smhd]))?", text)
    if relative:
        if not relative.group(1):
            return now
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[relative.group(2)]
        return now - timedelta(**{unit: int(relative.group(1))})
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"Invalid time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- search syntax ----------------------------------------------------------------------------------


def _terms(text: str) -> Iterable[tuple[str, str | None, str]]:
    """(kind, key, pattern) per term: kind "text" (message) or "field"; pattern is a regex."""
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        if text[pos] == '"':
            phrase, pos = _quoted(text, pos)
            yield "text", None, re.escape(phrase)
            continue
        key_chars: list[str] = []
        value_pattern: list[str] = []
        in_value = False
        key = None
        while pos < len(text) and not text[pos].isspace():
            char = text[pos]
            if char == "\\":
                if pos + 1 >= len(text):
                    raise BadQuery("Invalid query: dangling escape")
                literal = text[pos + 1]
                (value_pattern if in_value else key_chars).append(re.escape(literal) if in_value else literal)
                pos += 2
                continue
            if char == ":" and not in_value:
                key = "".join(key_chars)
                in_value = True
                pos += 1
                if pos < len(text) and text[pos] == '"':
                    phrase, pos = _quoted(text, pos)
                    value_pattern.append(re.escape(phrase))
                continue
            if char in "()[]{}" or (char == "-" and not key_chars and not in_value):
                raise BadQuery(f"Invalid query: this fake does not implement {char!r} (grouping, ranges, exclusion)")
            if in_value and char == "*":
                value_pattern.append(".*")
            elif in_value and char == "?":
                value_pattern.append(".")
            elif in_value and char in SPECIAL and char != "-":
                raise BadQuery(f"Invalid query: unescaped {char!r} in the value for {key}")
            elif in_value:
                value_pattern.append(re.escape(char))
            else:
                key_chars.append(char)
            pos += 1
        if key is None:
            word = "".join(key_chars)
            if word == "AND":
                continue
            if word in {"OR", "NOT"}:
                raise BadQuery(f"Invalid query: this fake does not implement {word}")
            yield ("all", None, "") if word == "*" else ("text", None, re.escape(word))
        else:
            if not key or not value_pattern:
                raise BadQuery("Invalid query: empty key or value")
            yield "field", key, "".join(value_pattern)


def _quoted(text: str, pos: int) -> tuple[str, int]:
    out = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    raise BadQuery("Invalid query: unterminated quoted sequence")


def compile_query(text: str) -> Any:
    """A predicate over DatadogLog for a search query."""
    checks = list(_terms(text))

    def predicate(log: DatadogLog) -> bool:
        for kind, key, pattern in checks:
            if kind == "all":
                continue
            if kind == "text":
                if re.search(pattern, log.message, re.IGNORECASE) is None:
                    return False
                continue
            assert key is not None
            if not any(re.fullmatch(pattern, value, re.IGNORECASE) for value in _values(log, key)):
                return False
        return True

    return predicate


def _values(log: DatadogLog, key: str) -> list[str]:
    if key.startswith("@"):
        node: Any = log.attributes
        for part in key[1:].split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return [str(node)] if node is not None and not isinstance(node, dict | list) else []
    if key in RESERVED:
        value = getattr(log, key)
        return [value] if value is not None else []
    return [tag.partition(":")[2] for tag in log.tags if tag.partition(":")[0] == key]


def _json(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body))


def _errors(status: int, *messages: str) -> Reply:
    return Reply(status, json.dumps({"errors": list(messages)}))

"""A local server that speaks Grafana Loki's query API from in-memory streams the test pushes.

What it follows (Loki HTTP API docs): `GET /loki/api/v1/query_range` with `query`, `start`/`end`
(nanosecond epoch, epoch seconds or RFC 3339; `end` exclusive), `limit` (default 100, capped by
`max_entries_limit_per_query`), `direction` (backward by default: the newest entries win the limit);
the `{"status": "success", "data": {"resultType": "streams", "result": [{"stream", "values"}]}}`
answer; `GET /ready` ("ready" or 503), `GET /loki/api/v1/labels`; errors as plain-text bodies
("parse error at line 1, col N: ...", "no org id", "max entries limit per query exceeded, ...").

The LogQL it understands is the log-query subset: a stream selector (`=`, `!=`, `=~`, `!~`, at least one
matcher that cannot match the empty string), line filters (`|=`, `!=`, `|~`, `!~`) and label filters
(`| a="x" or b=~"y.*" and c!="z"`), with Go string escaping for double-quoted strings and raw backtick
strings. Anything else is a parse error, as it would be for a real Loki that does not know it.

Auth: with `auth_enabled` (multi-tenant) every request needs `X-Scope-OrgID` and sees only that
tenant's streams (`a|b` queries both); otherwise all data belongs to the tenant "fake" as in Loki's
single-tenant mode. `bearer_token` / `basic` model the gateway in front of Loki (Loki itself has no
user auth): a request without the right `Authorization` gets the gateway's 401.

    with FakeLoki(auth_enabled=True) as loki:
        loki.push({"namespace": "shop", "pod": "checkout-1"}, at, "connection refused", tenant="team-a")
        ...  # point the real client at loki.url
        assert loki.requests[-1].param("direction") == "backward"
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http import FakeHTTPServer, RecordedRequest
from tests.fakes.http import Reply as HTTPReply

SINGLE_TENANT = "fake"
DEFAULT_LIMIT = 100
NOT_FOUND = "404 page not found\n"


@dataclass
class Reply(HTTPReply):
    """An answer, plain text unless told (Loki's errors are plain-text bodies)."""

    content_type: str = "text/plain; charset=utf-8"


@dataclass
class _Stream:
    labels: dict[str, str]
    entries: list[tuple[int, str]] = field(default_factory=list)


class LogQLError(ValueError):
    """A query Loki would refuse with 400; `col` is 1-based like Loki's messages."""

    def __init__(self, message: str, col: int | None = None) -> None:
        super().__init__(f"parse error at line 1, col {col}: {message}" if col is not None else message)


def nanos(at: datetime) -> int:
    """Nanoseconds since the epoch for an aware datetime."""
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class FakeLoki(FakeHTTPServer):
    """The server; see the module docstring."""

    def __init__(
        self,
        *,
        auth_enabled: bool = False,
        bearer_token: str | None = None,
        basic: tuple[str, str] | None = None,
        max_entries_limit: int = 5000,
    ) -> None:
        super().__init__()
        self.auth_enabled = auth_enabled
        self.bearer_token = bearer_token
        self.basic = basic
        self.max_entries_limit = max_entries_limit
        self.ready = True
        self.route_ready = True  # False: a gateway that does not proxy /ready (404)
        self.delay_seconds = 0.0
        self._streams: dict[str, dict[tuple[tuple[str, str], ...], _Stream]] = {}
        self._replies: deque[Reply] = deque()

    # --- test API ---------------------------------------------------------------------------------

    def push(self, labels: Mapping[str, str], at: datetime, line: str, *, tenant: str = SINGLE_TENANT) -> None:
        """Store one entry in the stream with these labels."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            streams = self._streams.setdefault(tenant, {})
            stream = streams.setdefault(key, _Stream(labels=dict(labels)))
            stream.entries.append((nanos(at), line))

    def fail_next(self, reply: Reply) -> None:
        """Answer the next matching request with `reply` instead of the real handler."""
        with self._lock:
            self._replies.append(reply)

    # --- request handling -------------------------------------------------------------------------

    def _take_reply(self, path: str) -> Reply | None:
        with self._lock:
            for reply in self._replies:
                if reply.path is None or reply.path == path:
                    self._replies.remove(reply)
                    return reply
        return None

    def handle(self, request: RecordedRequest) -> Reply:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        canned = self._take_reply(request.path)
        if canned is not None:
            return canned
        denied = self._gateway_auth(request)
        if denied is not None:
            return denied
        if request.path == "/ready":
            if not self.route_ready:
                return Reply(404, NOT_FOUND)
            if not self.ready:
                return Reply(503, "Ingester not ready: waiting for 15s after being ready\n")
            return Reply(200, "ready\n")
        if request.method != "GET" and request.path.startswith("/loki/api/v1/"):
            return Reply(405, "method not allowed\n")
        if request.path not in {"/loki/api/v1/query_range", "/loki/api/v1/labels"}:
            return Reply(404, NOT_FOUND)
        tenants = self._tenants(request)
        if tenants is None:
            return Reply(401, "no org id\n")
        if request.path == "/loki/api/v1/labels":
            names = sorted(
                {name for tenant in tenants for s in self._streams.get(tenant, {}).values() for name in s.labels}
            )
            return _json(200, {"status": "success", "data": names})
        try:
            return _json(200, self._query_range(request, tenants))
        except LogQLError as exc:
            return Reply(400, f"{exc}\n")

    def _gateway_auth(self, request: RecordedRequest) -> Reply | None:
        if self.bearer_token is None and self.basic is None:
            return None
        given = request.headers.get("authorization", "")
        accepted = set()
        if self.bearer_token is not None:
            accepted.add(f"Bearer {self.bearer_token}")
        if self.basic is not None:
            token = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            accepted.add(f"Basic {token}")
        if given in accepted:
            return None
        page = "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        return Reply(401, page, content_type="text/html", headers={"WWW-Authenticate": 'Basic realm="Loki"'})

    def _tenants(self, request: RecordedRequest) -> list[str] | None:
        if not self.auth_enabled:
            return [SINGLE_TENANT]
        org = request.headers.get("x-scope-orgid", "").strip()
        if not org:
            return None
        return [t for t in org.split("|") if t]

    def _query_range(self, request: RecordedRequest, tenants: list[str]) -> dict[str, Any]:
        text = request.param("query")
        if not text:
            raise LogQLError("query parameter is missing")
        now = nanos(datetime.now(UTC))
        end = _parse_time(request.param("end"), default=now)
        start = _parse_time(request.param("start"), default=end - 3600 * 1_000_000_000)
        if end < start:
            raise LogQLError("end timestamp must not be before or equal to start time")
        limit_text = request.param("limit")
        try:
            limit = int(limit_text) if limit_text is not None else DEFAULT_LIMIT
        except ValueError:
            raise LogQLError(f'invalid limit: strconv.Atoi: parsing "{limit_text}": invalid syntax') from None
        if limit <= 0:
            raise LogQLError("limit must be a positive value")
        if limit > self.max_entries_limit:
            raise LogQLError(
                f"max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {self.max_entries_limit})"
            )
        direction = (request.param("direction") or "backward").lower()
        if direction not in {"forward", "backward"}:
            raise LogQLError(f"invalid direction '{request.param('direction')}'")
        query = parse_logql(text)
        matched: list[tuple[int, str, dict[str, str], int]] = []
        with self._lock:
            streams = [s for tenant in tenants for s in self._streams.get(tenant, {}).values()]
            for index, stream in enumerate(streams):
                if not query.selects(stream.labels):
                    continue
                for ts, line in stream.entries:
                    if start <= ts < end and query.keeps(line, stream.labels):
                        matched.append((ts, line, stream.labels, index))
        # Backward is forward read from the end: entries sharing a timestamp come in reverse push order.
        matched.sort(key=lambda e: e[0])
        if direction == "backward":
            matched.reverse()
        result: dict[int, dict[str, Any]] = {}
        for ts, line, labels, index in matched[:limit]:
            entry = result.setdefault(index, {"stream": dict(labels), "values": []})
            entry["values"].append([str(ts), line])
        return {
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": list(result.values()),
                "stats": {"summary": {"totalEntriesReturned": min(len(matched), limit)}},
            },
        }


def _json(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body), content_type="application/json; charset=UTF-8")


def _parse_time(value: str | None, *, default: int) -> int:
    if value is None or value == "":
        return default
    if re.fullmatch(r"\d+", value):
        number = int(value)
        return number * 1_000_000_000 if len(value) <= 10 else number
    if re.fullmatch(r"\d+\.\d+", value):
        return int(float(value) * 1e9)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LogQLError(f'cannot parse "{value}" to a valid timestamp') from None
    return nanos(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


# --- LogQL (log-query subset) ------------------------------------------------------------------------


@dataclass
class _Matcher:
    name: str
    op: str
    value: str

    def test(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        matched = re.fullmatch(self.value, actual) is not None  # Loki anchors label regexes
        return matched if self.op == "=~" else not matched


@dataclass
class _LogQuery:
    selector: list[_Matcher]
    stages: list[Any]  # ("line", op, value) or ("labels", [[_Matcher, ...], ...]) (or of ands)

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(m.test(labels) for m in self.selector)

    def keeps(self, line: str, labels: Mapping[str, str]) -> bool:
        for stage in self.stages:
            if stage[0] == "line":
                _, op, value = stage
                if op == "|=" and value not in line:
                    return False
                if op == "!=" and value in line:
                    return False
                if op == "|~" and re.search(value, line) is None:
                    return False
                if op == "!~" and re.search(value, line) is not None:
                    return False
            elif not any(all(m.test(labels) for m in conj) for conj in stage[1]):
                return False
        return True


_TOKEN = re.compile(r"\s*(?:(\|=|\|~|!=|!~|=~|==|[{}=,|()])|([A-Za-z_][A-Za-z0-9_]*)|(\"|`))")


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> tuple[str, str, int]:
        saved = self.pos
        token = self.next()
        self.pos = saved
        return token

    def next(self) -> tuple[str, str, int]:
        """(kind, value, col): kind is "op", "ident", "string" or "eof"."""
        self._skip()
        col = self.pos + 1
        if self.pos >= len(self.text):
            return "eof", "", col
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            raise LogQLError(f"syntax error: unexpected {self.text[self.pos]!r}", col)
        if match.group(1):
            self.pos = match.end()
            return "op", match.group(1), col
        if match.group(2):
            self.pos = match.end()
            return "ident", match.group(2), col
        return "string", self._string(col), col

    def _string(self, col: int) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        if quote == "`":
            end = self.text.find("`", self.pos)
            if end < 0:
                raise LogQLError("literal not terminated", col)
            value = self.text[self.pos : end]
            self.pos = end + 1
            return value
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise LogQLError("literal not terminated", col)
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\n":
                raise LogQLError("literal not terminated", col)
            if char != "\\":
                out.append(char)
                self.pos += 1
                continue
            escape = self.text[self.pos + 1 : self.pos + 2]
            simple = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
            if escape in simple:
                out.append(simple[escape])
                self.pos += 2
            elif escape == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", self.text[self.pos + 2 : self.pos + 4]):
                out.append(chr(int(self.text[self.pos + 2 : self.pos + 4], 16)))
                self.pos += 4
            elif escape == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", self.text[self.pos + 2 : self.pos + 6]):
                out.append(chr(int(self.text[self.pos + 2 : self.pos + 6], 16)))
                self.pos += 6
            else:
                raise LogQLError("invalid char escape", self.pos + 1)


def parse_logql(text: str) -> _LogQuery:
    """Parse a log query; LogQLError for anything outside the supported subset."""
    lexer = _Lexer(text)
    kind, value, col = lexer.next()
    if (kind, value) != ("op", "{"):
        raise LogQLError(f"syntax error: unexpected {value or 'end of input'}, expecting {{", col)
    selector = []
    while True:
        selector.append(_matcher(lexer, allowed={"=", "!=", "=~", "!~"}))
        kind, value, col = lexer.next()
        if (kind, value) == ("op", "}"):
            break
        if (kind, value) != ("op", ","):
            raise LogQLError(f"syntax error: unexpected {value or 'end of input'}, expecting , or }}", col)
    if not any(m.op in {"=", "=~"} and not _matches_empty(m) for m in selector):
        raise LogQLError(
            "queries require at least one regexp or equality matcher that does not have an empty-compatible value. "
            'For instance, app=~".*" does not meet this requirement, but app=~".+" will'
        )
    stages: list[Any] = []
    while True:
        kind, value, col = lexer.next()
        if kind == "eof":
            break
        if kind == "op" and value in {"|=", "!=", "|~", "!~"}:
            kind2, literal, col2 = lexer.next()
            if kind2 != "string":
                raise LogQLError(f"syntax error: unexpected {literal or 'end of input'}, expecting STRING", col2)
            if value in {"|~", "!~"}:
                _compile(literal, col2)
            stages.append(("line", value, literal))
        elif (kind, value) == ("op", "|"):
            stages.append(("labels", _label_filter(lexer)))
        else:
            raise LogQLError(f"syntax error: unexpected {value}", col)
    return _LogQuery(selector=selector, stages=stages)


def _matcher(lexer: _Lexer, *, allowed: set[str]) -> _Matcher:
    kind, name, col = lexer.next()
    if kind != "ident":
        raise LogQLError(f"syntax error: unexpected {name or 'end of input'}, expecting IDENTIFIER", col)
    kind, op, col = lexer.next()
    if kind != "op" or op not in allowed:
        raise LogQLError(f"syntax error: unexpected {op or 'end of input'}, expecting = or != or =~ or !~", col)
    kind, value, col = lexer.next()
    if kind != "string":
        raise LogQLError(f"syntax error: unexpected {value or 'end of input'}, expecting STRING", col)
    if op in {"=~", "!~"}:
        _compile(value, col)
    return _Matcher(name=name, op="=" if op == "==" else op, value=value)


def _label_filter(lexer: _Lexer) -> list[list[_Matcher]]:
    # `and` binds tighter than `or`, as in LogQL.
    alternatives = [[_matcher(lexer, allowed={"=", "==", "!=", "=~", "!~"})]]
    while True:
        kind, word, _ = lexer.peek()
        if kind != "ident" or word not in {"and", "or"}:
            return alternatives
        lexer.next()
        matcher = _matcher(lexer, allowed={"=", "==", "!=", "=~", "!~"})
        if word == "and":
            alternatives[-1].append(matcher)
        else:
            alternatives.append([matcher])


def _compile(pattern: str, col: int) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise LogQLError(f"error parsing regexp: {exc}", col) from None


def _matches_empty(matcher: _Matcher) -> bool:
    if matcher.op == "=":
        return matcher.value == ""
    return re.fullmatch(matcher.value, "") is not None

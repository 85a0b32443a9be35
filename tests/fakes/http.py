"""The machinery the vendor fakes share: a loopback HTTP/1.1 server that records requests and answers them.

A fake subclasses `FakeHTTPServer` and overrides `handle(request) -> Reply`; the base binds a free port on
127.0.0.1, serves in a daemon thread, appends every request to `requests` (under `_lock`, which subclasses
also use for their own state) and writes the reply.

    class FakeVendor(FakeHTTPServer):
        def handle(self, request: RecordedRequest) -> Reply:
            return Reply(200, json.dumps({"ok": True}))

    with FakeVendor() as fake:
        ...  # point the real client at fake.url
        assert fake.requests[-1].path == "/api/v1/thing"
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    """One request as the server saw it (header names lower-cased; `status` is what it was answered)."""

    method: str
    target: str  # the request-target as sent: path and query string
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def param(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Reply:
    """An answer to write (`path`: for canned replies, the path it answers, or any path when None)."""

    status: int
    body: str | bytes = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None


class FakeHTTPServer:
    """A server on 127.0.0.1:<free port> that records every request and answers it with `handle`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle(self, request: RecordedRequest) -> Reply:
        """The reply to a request (already recorded); subclasses override this."""
        raise NotImplementedError

    def start(self) -> Self:
        """Bind a free loopback port and serve in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"owner": self}))
        server.daemon_threads = True
        server.block_on_close = False  # a delayed reply must not hold up stop()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to hand the client (no trailing slash)."""
        assert self._server is not None, f"{type(self).__name__} is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _dispatch(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        reply = self.handle(request)
        request.status = reply.status
        return reply


class _Handler(BaseHTTPRequestHandler):
    owner: FakeHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            target=self.path,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.owner._dispatch(request)
        payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    do_GET = _serve
    do_POST = _serve

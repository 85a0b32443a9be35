"""`aisre up`: the embedded stack — Temporal dev server, worker and API as supervised child processes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from domain.settings import Settings
from worker.temporal import SEARCH_ATTRIBUTES, temporal_binary

STOP_GRACE_SECONDS = 15.0
START_TIMEOUT_SECONDS = 90.0


class StackError(Exception):
    """A one-line reason the stack cannot start (port in use, data directory locked, ...)."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


@dataclass
class Stack:
    settings: Settings
    children: list[Child] = field(default_factory=list)
    _lock_file: IO[str] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    def lock_data_dir(self) -> None:
        """Refuse a second `aisre up` on the same data directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = (self.data_dir / ".aisre-up.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StackError(f"another `aisre up` is already using the data directory {self.data_dir}") from None
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def check_ports(self) -> None:
        """Fail fast, naming the port, before anything starts."""
        s = self.settings
        for what, port in (("API", s.api_port), ("Temporal", s.temporal_port), ("Temporal UI", s.ui_port)):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                # Like the servers themselves: a port in TIME_WAIT after a restart is free, a listener is not.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    raise StackError(
                        f"port {port} ({what}) is already in use; choose another with --{_flag(what)}"
                    ) from None

    def child_env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            AI_SRE_DATA_DIR=str(self.data_dir),
            AI_SRE_DATABASE_URL=s.resolved_database_url(),
            AI_SRE_TEMPORAL_ADDRESS=f"127.0.0.1:{s.temporal_port}",
            AI_SRE_TEMPORAL_UI_URL=f"http://127.0.0.1:{s.ui_port}",
            AI_SRE_API_PORT=str(s.api_port),
            AI_SRE_TEMPORAL_PORT=str(s.temporal_port),
            AI_SRE_UI_PORT=str(s.ui_port),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _spawn(self, name: str, args: list[str], *, log_to_file: bool) -> None:
        stdout: IO[bytes] | int | None = None
        if log_to_file:
            logs = self.data_dir / "logs"
            logs.mkdir(exist_ok=True)
            handle = (logs / f"{name}.log").open("ab")
            self._logs.append(handle)
            stdout = handle
        # Own process group: Ctrl-C reaches only this supervisor, which stops children in order.
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            args,
            env=self.child_env(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT if log_to_file else None,
            start_new_session=True,
        )
        self.children.append(Child(name, process))

    def start_temporal(self) -> None:
        s = self.settings
        args = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(s.temporal_port),
            "--ui-port", str(s.ui_port),
            "--db-filename", str(self.data_dir / "temporal.db"),
            "--log-level", "warn",
            "--ui-disable-news-fetch",
        ]  # fmt: skip
        if s.temporal_namespace != "default":
            args += ["--namespace", s.temporal_namespace]
        for name in SEARCH_ATTRIBUTES:
            args += ["--search-attribute", f"{name}=Keyword"]
        self._spawn("temporal", args, log_to_file=True)

    def start_worker(self) -> None:
        self._spawn("worker", [sys.executable, "-m", "cli.main", "worker"], log_to_file=False)

    def start_api(self) -> None:
        self._spawn(
            "api",
            [
                sys.executable,
                "-m",
                "cli.main",
                "api",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.settings.api_port),
            ],
            log_to_file=False,
        )

    def wait_for_temporal(self) -> None:
        from worker.temporal import wait_for_temporal

        settings = self.settings.model_copy(update={"temporal_address": f"127.0.0.1:{self.settings.temporal_port}"})
        try:
            asyncio.run(wait_for_temporal(settings, within=START_TIMEOUT_SECONDS, alive=self._alive))
        except TimeoutError:
            raise StackError(
                f"Temporal did not answer on port {self.settings.temporal_port} within {START_TIMEOUT_SECONDS:.0f}s; "
                f"see {self.data_dir / 'logs' / 'temporal.log'}"
            ) from None

    def wait_for_api(self) -> None:
        url = f"http://127.0.0.1:{self.settings.api_port}/health"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self._alive()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise StackError(f"the API did not become healthy at {url} within {START_TIMEOUT_SECONDS:.0f}s")

    def _alive(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise StackError(f"{child.name} exited with code {code} while starting")

    def supervise(self, stop: list[int]) -> int:
        """Block until a signal arrives (exit 0) or a child dies (exit 1)."""
        while not stop:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    print(f"aisre: {child.name} exited unexpectedly with code {code}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.2)
        return 0

    def stop(self) -> None:
        """Stop API, then worker, then Temporal; each gets a grace period before SIGKILL."""
        for child in reversed(self.children):
            proc = child.process
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.children.clear()
        for handle in self._logs:
            handle.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def _flag(what: str) -> str:
    return {"API": "api-port", "Temporal": "temporal-port", "Temporal UI": "ui-port"}[what]

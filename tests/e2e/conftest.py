"""Run the real embedded stack (`aisre up`) in a subprocess, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedStack:
    """One `aisre up` process tree on its own data directory and ports."""

    data_dir: Path
    database_url: str
    api_port: int = field(default_factory=free_port)
    temporal_port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None

    @property
    def log_path(self) -> Path:
        # A file, not a pipe: a pipe nobody drains fills up after ~64 KB of logs and then every process
        # of the stack blocks on its next log line.
        return self.data_dir.parent / f"aisre-up-{self.api_port}.log"

    @property
    def output(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "cli.main", "up",
            "--data-dir", str(self.data_dir),
            "--api-port", str(self.api_port),
            "--temporal-port", str(self.temporal_port),
            "--ui-port", str(self.ui_port),
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AI_SRE_")}
        env["AI_SRE_DATABASE_URL"] = self.database_url
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        return env

    def start(self, *, timeout: float = 120.0) -> None:
        """Start and wait until /health answers 200."""
        with self.log_path.open("a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=self.env(),
                cwd=self.data_dir.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"aisre up exited with {self.process.returncode}:\n{self.output}")
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise AssertionError(f"aisre up did not become healthy in {timeout}s:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send `sig` to the supervisor only (as Ctrl-C/kill would) and return its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
        return code


@pytest.fixture
def make_stack(tmp_path: Path, db_url: str) -> Iterator[Callable[[], EmbeddedStack]]:
    stacks: list[EmbeddedStack] = []

    def make() -> EmbeddedStack:
        stack = EmbeddedStack(data_dir=tmp_path / "data", database_url=db_url)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        if stack.process is not None and stack.process.poll() is None:
            stack.stop()

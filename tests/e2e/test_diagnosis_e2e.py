"""`aisre fire` on the embedded stack: the incident carries a diagnosis from the offline reasoner."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import EmbeddedStack
from tests.helpers import poll

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


async def test_fired_sample_is_diagnosed_from_the_demo_logs(make_stack: Callable[[], EmbeddedStack]) -> None:
    stack = make_stack()
    stack.start()
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:

        async def worker_polling() -> bool:
            return bool((await http.get("/health")).json().get("workers"))

        await poll(worker_polling, timeout=60)
    env = stack.env() | {"AI_SRE_DATA_DIR": str(stack.data_dir)}
    started = time.monotonic()
    fire = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "fire", "--api", stack.api,
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await fire.communicate()
    accepted = time.monotonic()
    assert fire.returncode == 0, out.decode()
    assert (stack.data_dir / "logs-demo" / "shop" / "checkout.log").is_file()

    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:

        async def diagnosis() -> dict[str, Any] | None:
            items = (await http.get("/incidents")).json()["items"]
            if not items:
                return None
            shown: dict[str, Any] = (await http.get(f"/incidents/{items[0]['id']}")).json()
            return shown["diagnosis"]

        found = await poll(diagnosis, timeout=60, interval=0.02)
        done = time.monotonic()
        print(
            f"\n`aisre fire` started -> diagnosis visible: {(done - started) * 1000:.0f} ms; "
            f"alert accepted (202) -> diagnosis visible: {(done - accepted) * 1000:.0f} ms "
            f"({stack.database_url.split(':')[0]})"
        )
    assert found["category"] == "dependency_unreachable"
    assert "payments" in found["root_cause"]
    assert found["model"] == "offline-reasoner/1"  # no Anthropic key in the stack's environment

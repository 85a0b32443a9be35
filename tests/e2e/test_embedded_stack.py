"""The README's run command, end to end: fire, list, Temporal UI, resolve, postmortem, restart."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.e2e.conftest import EmbeddedStack
from tests.helpers import fixture_bytes, poll

pytestmark = pytest.mark.e2e

FIRING = fixture_bytes("alertmanager/firing.json")
RESOLVED = fixture_bytes("alertmanager/resolved.json")


def variant(service: str) -> bytes:
    payload = json.loads(FIRING)
    payload["alerts"][0]["labels"]["service"] = service
    payload["alerts"][0]["fingerprint"] = f"fp-{service}"
    return json.dumps(payload).encode()


async def incidents(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/incidents")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_fire_list_ui_resolve_postmortem(make_stack: Callable[[], EmbeddedStack]) -> None:
    stack = make_stack()
    stack.start()
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        started = time.monotonic()
        response = await http.post("/webhook/alertmanager", content=FIRING)
        assert response.status_code == 202, response.text
        (incident,) = await poll(lambda: incidents(http), interval=0.02)
        elapsed = time.monotonic() - started
        print(f"\nalert visible in GET /incidents after {elapsed * 1000:.0f} ms ({stack.database_url.split(':')[0]})")
        assert incident["title"] == "5xx rate above 5% on checkout"

        # The Temporal UI is served, and visibility lists the run with its search attributes.
        ui = await http.get(f"http://127.0.0.1:{stack.ui_port}/")
        assert ui.status_code == 200
        client = await Client.connect(f"127.0.0.1:{stack.temporal_port}", data_converter=pydantic_data_converter)

        async def listed() -> list[Any]:
            query = "Workspace = 'default' AND Service = 'checkout' AND Severity = 'critical'"
            return [w async for w in client.list_workflows(query)]

        (execution,) = await poll(listed)
        assert execution.id == "incident-default-alertmanager:7d2d332feada5c59"

        # 50 concurrent deliveries of another alert: one incident counting 50.
        payload = variant("payments")
        answers = await asyncio.gather(*(http.post("/webhook/alertmanager", content=payload) for _ in range(50)))
        assert {a.status_code for a in answers} == {202}

        async def payments() -> dict[str, Any] | None:
            found = [i for i in await incidents(http) if i["service"] == "payments"]
            return found[0] if len(found) == 1 and found[0]["alert_count"] == 50 else None

        await poll(payments)
        assert len(await incidents(http)) == 2

        assert (await http.post("/webhook/alertmanager", content=RESOLVED)).status_code == 202

        async def postmortem() -> str | None:
            r = await http.get(f"/incidents/{incident['id']}/postmortem")
            return r.text if r.status_code == 200 else None

        markdown = await poll(postmortem)
        assert "# Postmortem: 5xx rate above 5% on checkout" in markdown
    assert stack.stop() == 0


async def test_restart_keeps_incidents_and_histories(make_stack: Callable[[], EmbeddedStack]) -> None:
    stack = make_stack()
    stack.start()
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        await http.post("/webhook/alertmanager", content=FIRING)
        await http.post("/webhook/alertmanager", content=variant("search"))
        before = await poll(lambda: _two(http))
    assert stack.stop() == 0

    again = make_stack()
    again.data_dir = stack.data_dir
    again.start()
    async with httpx.AsyncClient(base_url=again.api, timeout=30) as http:
        after = await incidents(http)
        assert [i["id"] for i in after] == [i["id"] for i in before]
        open_one = next(i for i in after if i["service"] == "search")
        detail = (await http.get(f"/incidents/{open_one['id']}")).json()
        client = await Client.connect(f"127.0.0.1:{again.temporal_port}", data_converter=pydantic_data_converter)
        history = await client.get_workflow_handle(
            detail["workflow"]["workflow_id"], run_id=detail["workflow"]["run_id"]
        ).fetch_history()
        assert len(history.events) > 5

        # The open incident can still be resolved after the restart, and its postmortem is written.
        response = await http.post(f"/incidents/{open_one['id']}/resolve", json={"by": "bob"})
        assert response.status_code == 202, response.text

        async def written() -> bool:
            return (await http.get(f"/incidents/{open_one['id']}/postmortem")).status_code == 200

        await poll(written)
    assert again.stop() == 0


async def _two(http: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    items = await incidents(http)
    return items if len(items) == 2 else None


def test_port_in_use_is_a_one_line_error(make_stack: Callable[[], EmbeddedStack]) -> None:
    stack = make_stack()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", stack.api_port))
        busy.listen()
        result = subprocess.run(
            stack.command(), env=stack.env(), capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == [f"aisre: port {stack.api_port} (API) is already in use; choose another with --api-port"]
    assert "Traceback" not in result.stdout + result.stderr


def test_second_up_on_same_data_dir_is_refused(make_stack: Callable[[], EmbeddedStack]) -> None:
    first = make_stack()
    first.start()
    second = make_stack()
    result = subprocess.run(second.command(), env=second.env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "already using the data directory" in result.stderr
    assert first.stop() == 0


def test_cli_fire_posts_the_sample(make_stack: Callable[[], EmbeddedStack]) -> None:
    stack = make_stack()
    stack.start()
    fire = [sys.executable, "-m", "cli.main", "fire", "--api", stack.api]
    result = subprocess.run(fire, env=stack.env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert '"accepted": 1' in result.stdout
    resolved = subprocess.run(
        [*fire, "--resolve"], env=stack.env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert resolved.returncode == 0, resolved.stderr

    async def check() -> None:
        async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:

            async def resolved_incident() -> dict[str, Any] | None:
                items = await incidents(http)
                return items[0] if items and items[0]["status"] == "resolved" else None

            incident = await poll(resolved_incident)
            assert incident["service"] == "checkout"
            assert incident["alert_count"] == 2

    asyncio.run(check())
    assert stack.stop() == 0

"""The real Prometheus Alertmanager (Debian package) posting real webhooks to `aisre up`.

`amtool alert add` fires an alert into Alertmanager, which groups it and POSTs its v4 webhook to the
gateway; the incident opens. Re-adding the alert with an end time in the past ends it: Alertmanager
sends the "resolved" notification and the same incident resolves.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import EmbeddedStack, free_port
from tests.helpers import poll

pytestmark = pytest.mark.e2e


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        f"none of {names} is installed: install Debian's prometheus-alertmanager (.ci/run does it when missing)"
    )


CONFIG = """\
route:
  receiver: aisre
  group_by: ['alertname', 'service']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: aisre
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


class Alertmanager:
    def __init__(self, workdir: Path, webhook_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "alertmanager.yml"
        config.write_text(CONFIG.format(url=webhook_url), encoding="utf-8")
        self.process = subprocess.Popen(
            [
                _binary("prometheus-alertmanager", "alertmanager"),
                f"--config.file={config}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # a single instance: no gossip port
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"alertmanager exited: {self.process.stdout.read() if self.process.stdout else ''}"
                )
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("alertmanager did not become ready in 30 s")

    def amtool(self, *args: str) -> None:
        result = subprocess.run(
            [_binary("amtool"), f"--alertmanager.url={self.url}", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def stack(make_stack: Callable[[], EmbeddedStack]) -> EmbeddedStack:
    running = make_stack()
    running.start()
    return running


@pytest.fixture
def alertmanager(stack: EmbeddedStack, tmp_path: Path) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path, f"{stack.api}/webhook/alertmanager")
    yield am
    am.stop()


async def test_amtool_alert_opens_then_ending_it_resolves_the_same_incident(
    stack: EmbeddedStack, alertmanager: Alertmanager
) -> None:
    labels = ["alertname=DiskWillFillIn4h", "service=ledger-db", "severity=critical", "namespace=finance"]
    summary = "--annotation=summary=Disk on ledger-db fills up within 4 hours"
    runbook = "--annotation=runbook_url=https://runbooks.example.com/disk-full"
    alertmanager.amtool("alert", "add", *labels, summary, runbook)

    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:

        async def the_incident() -> dict[str, Any] | None:
            items = (await http.get("/incidents")).json()["items"]
            return items[0] if len(items) == 1 else None

        incident = await poll(the_incident, timeout=60)
        assert incident["title"] == "Disk on ledger-db fills up within 4 hours"
        assert incident["source"] == "alertmanager"
        assert incident["service"] == "ledger-db"
        assert incident["namespace"] == "finance"
        assert incident["severity"] == "critical"
        assert incident["links"]["runbook"] == "https://runbooks.example.com/disk-full"
        assert incident["status"] == "open"

        # End the alert: same labels, an end time already past. Alertmanager sends "resolved".
        ended = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        alertmanager.amtool("alert", "add", *labels, summary, runbook, f"--end={ended}")

        async def resolved() -> dict[str, Any] | None:
            body = (await http.get(f"/incidents/{incident['id']}")).json()
            return body if body["status"] == "resolved" else None

        final = await poll(resolved, timeout=90)
        assert final["resolved_by"] == "alert source"
        assert (await http.get("/incidents")).json()["total"] == 1  # the same incident, not a new one

        async def postmortem() -> str | None:
            # Written by the activity that follows the resolution: it may land a moment later.
            response = await http.get(f"/incidents/{incident['id']}/postmortem")
            return response.text if response.status_code == 200 else None

        assert "Disk on ledger-db" in await poll(postmortem, timeout=30)

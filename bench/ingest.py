"""Ingest benchmark against a real `aisre up` stack (SQLite by default).

Measures, in one run:
- baseline: GET /health requests per second (same HTTP stack, no storage or Temporal write);
- storm: POST /webhook/alertmanager deliveries per second for D deliveries over S distinct streams
  with C concurrent senders, the ratio to the baseline, and how many Temporal signals carried them
  (coalescing: signals / deliveries);
- latency: time from POST to the incident being listed in GET /incidents, and to its diagnosis (offline
  reasoner over the file log backend, with the demo service's logs) being shown, for N fresh alerts.

Usage: .venv/bin/python -m bench.ingest [--deliveries 2000] [--streams 50] [--concurrency 64] [--latency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli.samples import demo_log_lines  # noqa: E402 - after making the repository importable


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _payload(service: str, *, status: str = "firing") -> bytes:
    alert = {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": service, "severity": "critical"},
        "annotations": {"summary": f"5xx rate above 5% on {service}"},
        "startsAt": "2026-11-27T23:14:51.456210332Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.local/graph",
        "fingerprint": f"bench-{service}",
    }
    body = {"receiver": "r", "status": status, "alerts": [alert], "version": "4", "groupKey": service}
    return json.dumps(body).encode()


async def _rate(http: httpx.AsyncClient, total: int, concurrency: int, request: Any) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    failures: list[int] = []

    async def sender() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            response = await request(http, i)
            if response.status_code >= 300:
                failures.append(response.status_code)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return total / elapsed


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="aisre-bench-"))
    api_port, temporal_port, ui_port = _port(), _port(), _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_SRE_")}
    env["AI_SRE_LOG_LEVEL"] = "WARNING"
    if args.database_url:
        env["AI_SRE_DATABASE_URL"] = args.database_url
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the stack runs in the background
        [sys.executable, "-m", "cli.main", "up", "--data-dir", str(data / "data"), "--api-port", str(api_port),
         "--temporal-port", str(temporal_port), "--ui-port", str(ui_port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=256)) as http:
            for _ in range(600):
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise SystemExit("stack did not start")

            # Warm-up: wait for a polling worker, then one alert end to end (the first workflow task imports
            # the sandboxed workflow module; the first diagnosis loads the agent).
            for _ in range(600):
                if (await http.get("/health")).json().get("workers"):
                    break
                await asyncio.sleep(0.2)
            await http.post("/webhook/alertmanager", content=_payload("warmup"))
            for _ in range(600):
                items = (await http.get("/incidents", params={"service": "warmup"})).json()["items"]
                if items and (await http.get(f"/incidents/{items[0]['id']}")).json()["diagnosis"]:
                    break
                await asyncio.sleep(0.1)

            latencies = []
            diagnosed = []
            for i in range(args.latency):
                service = f"latency-{i}"
                logs = data / "data" / "logs-demo" / "shop" / f"{service}.log"
                logs.parent.mkdir(parents=True, exist_ok=True)
                logs.write_text("\n".join(demo_log_lines(now=datetime.now(UTC), service=service)) + "\n")
                started = time.perf_counter()
                r = await http.post("/webhook/alertmanager", content=_payload(service))
                key = r.json()["deliveries"][0]["stream_key"]
                while True:
                    items = (await http.get("/incidents", params={"service": service})).json()["items"]
                    if items and items[0]["stream_key"] == key:
                        break
                    await asyncio.sleep(0.01)
                latencies.append(time.perf_counter() - started)
                while True:
                    if (await http.get(f"/incidents/{items[0]['id']}")).json()["diagnosis"]:
                        break
                    await asyncio.sleep(0.01)
                diagnosed.append(time.perf_counter() - started)

            baseline = await _rate(http, args.deliveries, args.concurrency, lambda h, i: h.get("/health"))
            bodies = [_payload(f"storm-{i % args.streams}") for i in range(args.deliveries)]
            storm = await _rate(
                http, args.deliveries, args.concurrency, lambda h, i: h.post("/webhook/alertmanager", content=bodies[i])
            )

            async def settled() -> int:
                total = 0
                for i in range(args.streams):
                    items = (await http.get("/incidents", params={"service": f"storm-{i}"})).json()["items"]
                    total += items[0]["alert_count"] if items else 0
                return total

            for _ in range(1200):
                counted = await settled()
                if counted >= args.deliveries:
                    break
                await asyncio.sleep(0.25)

            # The same storm with an API key (dev mode ends): key lookup, HMAC check and rate limiting included.
            created = subprocess.run(  # noqa: ASYNC221 - the CLI prints the key once; a second is fine here
                [sys.executable, "-m", "cli.main", "keys", "create", "--workspace", "default", "--role", "ingest"],
                cwd=ROOT, env={**env, "AI_SRE_DATA_DIR": str(data / "data")}, capture_output=True, text=True,
                check=True,
            )  # fmt: skip
            keyed = {"X-API-Key": created.stdout.strip()}
            keyed_bodies = [_payload(f"keyed-{i % args.streams}") for i in range(args.deliveries)]
            keyed_storm = await _rate(
                http,
                args.deliveries,
                args.concurrency,
                lambda h, i: h.post("/webhook/alertmanager", content=keyed_bodies[i], headers=keyed),
            )

        client = await Client.connect(f"127.0.0.1:{temporal_port}")
        signals = 0
        for i in range(args.streams):
            workflow_id = f"incident-default-alertmanager:bench-storm-{i}"
            # Every run of the stream: a long storm continues-as-new, and each run has its own history.
            async for run in client.list_workflows(f'WorkflowId = "{workflow_id}"'):
                handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
                async for event in handle.fetch_history_events():
                    if event.event_type is EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED or (
                        event.event_type is EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
                        and not event.workflow_execution_started_event_attributes.continued_execution_run_id
                    ):
                        signals += 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return {
        "baseline_health_rps": round(baseline, 1),
        "storm_deliveries_per_s": round(storm, 1),
        "storm_to_baseline_ratio": round(storm / baseline, 3),
        "keyed_storm_deliveries_per_s": round(keyed_storm, 1),
        "keyed_to_dev_mode_ratio": round(keyed_storm / storm, 3),
        "deliveries": args.deliveries,
        "streams": args.streams,
        "concurrency": args.concurrency,
        "counted_in_incidents": counted,
        "signals_and_starts": signals,
        "signals_per_delivery": round(signals / args.deliveries, 3),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1),
        "diagnosis_p50_ms": round(statistics.median(diagnosed) * 1000, 1),
        "diagnosis_max_ms": round(max(diagnosed) * 1000, 1),
        "database": (args.database_url or "sqlite").split(":")[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=int, default=20, help="fresh alerts timed from POST to listed")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary data dir")
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

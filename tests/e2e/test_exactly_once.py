"""Exactly-once actions under SIGKILL (issue 5, acceptance 1).

A real worker subprocess (`python -m cli.main worker`) runs `rollout_restart` against the kmock Kubernetes
emulator and is SIGKILLed at one of three points of the execute activity, then replaced by a fresh worker:

- `before_provider`: the intent row says `executing` and the reconciling GET of the deployment (`find`)
  has arrived; the emulator kills the worker before answering it, so no PATCH is ever sent;
- `after_provider`: the emulator has applied the PATCH (restart + key annotation) and kills the worker
  before answering it, so the worker never learns of it and records nothing;
- `after_record`: the row says `succeeded` but Temporal has not heard of it: from the PATCH on, what the
  worker sends to Temporal is dropped (a partition), and the worker is killed once the row is final.

Temporal retries the activity on the new worker after its heartbeat timeout. Every trial must end with
exactly one restart on the emulator (one PATCH, one new `restartedAt`) and one action-log row that agrees
(`succeeded`, or `already_applied` when the retry found the key on the deployment), with a timeline that
says what happened, and the retry must have run on the replacement worker. The API runs in-process (no
worker of its own); the stack and one incident serve all trials, each with its own action and deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import kmock
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from adapters.actions.kubernetes import ACTION_KEY, RESTARTED_AT
from adapters.storage import repositories as repo
from adapters.storage.orm import ActionLogRow
from cli.samples import alertmanager_sample
from tests.api.conftest import Harness, running_harness
from tests.helpers import poll
from tests.unit.test_kubernetes_actions import DEPLOYMENTS, NS, deployment_path, seed_deployment

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

# Kill point -> (trials, the status the action log must end in).
KILL_POINTS: dict[str, tuple[int, str]] = {
    "before_provider": (4, "succeeded"),  # the retry finds nothing, restarts once and verifies
    "after_provider": (3, "already_applied"),  # the retry finds the key on the deployment: no second PATCH
    "after_record": (3, "succeeded"),  # the retry sees the final row and returns it
}
# The activity's heartbeat timeout is 10 s: the retry comes within about 12 s of the kill.
TRIAL_TIMEOUT = 90.0


# --- the worker subprocess and its link to Temporal -------------------------------------------------------


def signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


@dataclass
class WorkerProcess:
    """One `python -m cli.main worker` in its own process group, its output in a file."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-tail:] if self.log.exists() else ""

    async def kill(self) -> None:
        """SIGKILL the whole group (no cleanup of any kind runs) and wait until it is reaped."""
        signal_group(self.process, signal.SIGKILL)
        await poll(lambda: self.process.poll() is not None, timeout=10, interval=0.005)

    def stop(self) -> None:
        if self.process.poll() is None:
            signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=10)


@dataclass
class Workers:
    """Spawns workers with one environment; the last one is the live one."""

    env: dict[str, str]
    log_dir: Path
    all: list[WorkerProcess] = field(default_factory=list)

    @property
    def current(self) -> WorkerProcess:
        return self.all[-1]

    def spawn(self) -> WorkerProcess:
        log = self.log_dir / f"worker-{len(self.all) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "worker"],
                env=self.env,
                cwd=self.log_dir,  # no stray .env file is read
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the kill takes every thread and child
            )
        worker = WorkerProcess(process=process, log=log)
        self.all.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.all:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(f"--- worker {w.pid} ---\n{w.output()}" for w in self.all)


@dataclass(eq=False)
class _Link:
    cut: bool = False


@dataclass
class TemporalLink:
    """A TCP relay between the workers and the Temporal server that can partition the current connections.

    `cut()` drops everything the connections open at that moment send to Temporal from then on (what a
    network partition does), while Temporal's answers still arrive; connections opened later are whole.
    Nothing is closed: the worker's client must not reconnect and resend what was dropped.
    """

    upstream: str
    port: int = 0
    _server: asyncio.Server | None = None
    _links: set[_Link] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def cut(self) -> None:
        for link in self._links:
            link.cut = True

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.upstream.rsplit(":", 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        link = _Link()
        self._links.add(link)
        try:
            await asyncio.gather(self._pipe(reader, up_writer, link), self._pipe(up_reader, writer, None))
        except (ConnectionError, OSError):
            pass
        finally:
            self._links.discard(link)
            writer.close()
            up_writer.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: _Link | None) -> None:
        while data := await src.read(65536):
            if link is not None and link.cut:
                continue
            dst.write(data)
            await dst.drain()
        dst.close()


def worker_env(h: Harness, *, db_url: str, kube_url: str, temporal_address: str) -> dict[str, str]:
    """The in-process API's settings as AI_SRE_* variables (what a deployment sets for its workers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_SRE_")}
    return env | {
        "AI_SRE_DATABASE_URL": db_url,
        "AI_SRE_TEMPORAL_ADDRESS": temporal_address,
        "AI_SRE_TASK_QUEUE": h.settings.task_queue,
        "AI_SRE_CONFIG_DIR": str(h.settings.config_dir),
        "AI_SRE_DATA_DIR": str(h.settings.data_dir),
        "AI_SRE_DEFAULT_WORKSPACE": h.workspace,
        "AI_SRE_DRY_RUN": "false",
        "AI_SRE_APPROVAL_REQUIRED": "false",
        "AI_SRE_AUTONOMY_ENABLED": "true",
        "AI_SRE_AUTONOMOUS_ACTIONS": '["rollout_restart"]',
        "AI_SRE_KUBERNETES_MODE": "url",
        "AI_SRE_KUBERNETES_URL": kube_url,
        "AI_SRE_LOG_BACKEND": "off",
        "AI_SRE_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }


# --- what the database, the emulator and the workflow history say ---------------------------------------


async def action_rows(h: Harness, *, incident_id: int, deployment: str) -> list[ActionLogRow]:
    async with h.db.session() as session:
        rows = (await session.execute(select(ActionLogRow).where(ActionLogRow.incident_id == incident_id))).scalars()
        return [r for r in rows if r.action == "rollout_restart" and r.params.get("deployment") == deployment]


async def status_of(h: Harness, *, incident_id: int, deployment: str) -> str | None:
    rows = await action_rows(h, incident_id=incident_id, deployment=deployment)
    return rows[0].status if rows else None


def patches(cluster: kmock.KubernetesEmulator, deployment: str | None = None) -> list[kmock.Request]:
    """PATCH requests the emulator received: to one deployment, or to anything."""
    if deployment is not None:
        return list(cluster[f"patch {deployment_path(deployment)}"])
    return [r for r in cluster if str(r.method).upper().rsplit(".", 1)[-1] == "PATCH"]


def sets_restart(request: kmock.Request) -> bool:
    template = ((request.data or {}).get("spec") or {}).get("template") or {}
    return bool(((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT))


def restarted_at_history(cluster: kmock.KubernetesEmulator, deployment: str) -> list[str | None]:
    """restartedAt in every stored version of the deployment, oldest first."""
    values = []
    for version in cluster.objects[DEPLOYMENTS, NS, deployment].history:
        if version is not None:
            template = dict(version.raw)["spec"]["template"]
            values.append(((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT))
    return values


async def execute_attempt(h: Harness, *, workflow_id: str, action_id: str) -> tuple[int, str]:
    """(attempt, worker identity) of the execute_action attempt that completed, from the workflow history."""
    history = await h.client.get_workflow_handle(workflow_id).fetch_history()
    scheduled: int | None = None
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "execute_action" and any(
                action_id.encode() in p.data for p in attrs.input.payloads
            ):
                scheduled = event.event_id
    assert scheduled is not None, f"no execute_action scheduled for {action_id}"
    for event in history.events:
        if event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id == scheduled:
                return started.attempt, started.identity
    raise AssertionError(f"execute_action of {action_id} never started")


# --- the kill switch ---------------------------------------------------------------------------------------


@dataclass
class Kill:
    """What the test saw once the worker was dead (nothing can change on its behalf any more)."""

    worker_pid: int
    at: float
    status: str | None  # of the trial's action log row
    patches: int  # of the trial's deployment, as the emulator received them


@dataclass
class KillSwitch:
    """Acts from inside the emulator when the armed request for a deployment arrives (once per arming)."""

    h: Harness
    cluster: kmock.KubernetesEmulator
    workers: Workers
    incident_id: int
    armed: str | None = None
    kill: Kill | None = None
    fired: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[Kill]] = field(default_factory=set)

    def arm(self, verb: str, deployment: str, effect: Callable[[], Awaitable[None]] | None = None) -> None:
        """On the first `verb` request to `deployment`: run `effect` and let it through, or (no effect)
        kill the worker before answering."""
        self.armed, self.kill = deployment, None
        self.fired.clear()

        async def react(request: kmock.Request) -> None:
            if self.armed != deployment:
                return None  # not armed for this one: the emulator answers as usual
            self.armed = None
            if effect is not None:
                await effect()
                return None
            # aiohttp cancels this handler once the dying worker's connection drops: send the kill right
            # here and do the bookkeeping in a task of its own, which that cancellation cannot stop.
            task = asyncio.create_task(self.now(deployment))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            await asyncio.shield(task)
            return None  # the emulator answers a dead worker (a PATCH was applied before any reaction ran)

        self.cluster[f"{verb} {deployment_path(deployment)}"] << react

    async def now(self, deployment: str) -> Kill:
        """SIGKILL the current worker, wait until it is reaped, and note the state it left."""
        worker = self.workers.current
        at = time.monotonic()
        await worker.kill()
        self.kill = Kill(
            worker_pid=worker.pid,
            at=at,
            status=await status_of(self.h, incident_id=self.incident_id, deployment=deployment),
            patches=len(patches(self.cluster, deployment)),
        )
        self.fired.set()
        return self.kill


# --- the stack, shared by the three kill points --------------------------------------------------------


@dataclass
class Stack:
    """The API in-process, a worker subprocess (replaced after every kill), the emulator and one open incident."""

    h: Harness
    cluster: kmock.KubernetesEmulator
    workers: Workers
    link: TemporalLink
    switch: KillSwitch
    incident_id: int
    workflow_id: str
    deployments: int = 0  # one fresh deployment per trial


async def open_incident(h: Harness) -> int:
    """Fire the sample alert and wait until the automatic part (diagnosis and its suggestions) is through."""
    response = await h.http.post("/webhook/alertmanager", json=alertmanager_sample(resolved=False))
    assert response.status_code == 202, response.text

    async def first() -> int | None:
        items = (await h.http.get("/incidents")).json()["items"]
        return int(items[0]["id"]) if items else None

    incident_id: int = await poll(first, timeout=60)

    async def diagnosed() -> bool:
        return bool((await h.http.get(f"/incidents/{incident_id}/diagnoses")).json())

    await poll(diagnosed, timeout=60)
    return incident_id


@pytest.fixture(scope="module")
async def stack(temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Built once for the module (startup costs ~10 s on two cores); SQLite only, to stay in the time budget."""
    began = time.monotonic()
    tmp_path = tmp_path_factory.mktemp("exactly-once")
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'aisre.db'}"
    link = TemporalLink(upstream=temporal_env.client.service_client.config.target_host)
    await link.start()
    async with kmock.KubernetesEmulator() as cluster, kmock.Server(cluster):
        seed_deployment(cluster)  # shop/checkout, the alert's service: diagnosis reads it, nothing may restart it
        kube_url = str(cluster.url).rstrip("/")
        async with running_harness(
            db_url=db_url,
            env=temporal_env,
            task_queue=f"tq-{uuid.uuid4()}",
            tmp_path=tmp_path,
            worker=False,
            dry_run=False,
            approval_required=False,
            autonomy_enabled=True,
            autonomous_actions=["rollout_restart"],
            kubernetes_mode="url",
            kubernetes_url=kube_url,
            log_backend="off",
        ) as h:
            env = worker_env(h, db_url=db_url, kube_url=kube_url, temporal_address=link.address)
            workers = Workers(env=env, log_dir=tmp_path)
            try:
                workers.spawn()

                async def polling() -> bool:
                    if workers.current.process.poll() is not None:
                        raise AssertionError(f"the worker exited:\n{workers.logs()}")
                    return ((await h.http.get("/health")).json().get("workers") or 0) >= 1

                await poll(polling, timeout=60, interval=0.1)
                incident_id = await open_incident(h)
                async with h.db.session() as session:
                    incident = await repo.get_incident(session, incident_id=incident_id)
                assert incident is not None
                print(f"\nsetup (API, worker, incident diagnosed): {time.monotonic() - began:.1f} s")
                yield Stack(
                    h=h,
                    cluster=cluster,
                    workers=workers,
                    link=link,
                    switch=KillSwitch(h=h, cluster=cluster, workers=workers, incident_id=incident_id),
                    incident_id=incident_id,
                    workflow_id=incident.workflow_id,
                )
            finally:
                workers.stop_all()
    link.close()


@pytest.mark.parametrize("point", list(KILL_POINTS))
async def test_rollout_restart_runs_exactly_once_when_the_worker_is_killed(point: str, stack: Stack) -> None:
    trials, expected = KILL_POINTS[point]
    began = time.monotonic()
    before = len(patches(stack.cluster))
    try:
        for trial in range(1, trials + 1):
            await run_trial(stack, point=point, expected=expected, label=f"[{point}] trial {trial}/{trials}")
    except BaseException:
        print(stack.workers.logs())
        raise
    # One restart per trial and nothing else written; the diagnosed service itself was never restarted.
    assert len(patches(stack.cluster)) - before == trials
    assert patches(stack.cluster, "checkout") == []
    print(f"[{point}] {trials} trials: {time.monotonic() - began:.1f} s")


async def run_trial(stack: Stack, *, point: str, expected: str, label: str) -> None:
    h, cluster, switch = stack.h, stack.cluster, stack.switch
    stack.deployments += 1
    deployment = f"checkout-{stack.deployments}"
    seed_deployment(cluster, name=deployment)
    if point == "before_provider":
        switch.arm("get", deployment)  # the first GET after the intent is committed is find()'s
    elif point == "after_provider":
        switch.arm("patch", deployment)
    else:

        async def partition() -> None:
            stack.link.cut()  # the activity is running: its completion (and heartbeats) never reach Temporal

        switch.arm("patch", deployment, partition)
    action = {"action": "rollout_restart", "namespace": NS, "deployment": deployment}
    started = time.monotonic()
    # The update answers when the action is done, i.e. after the kill and the retry: it runs in the background.
    proposal = asyncio.create_task(
        h.http.post("/actions/execute", json={"incident_id": stack.incident_id, "action": action, "by": "sre"})
    )
    try:
        if point == "after_record":

            async def recorded() -> bool:
                return await status_of(h, incident_id=stack.incident_id, deployment=deployment) == "succeeded"

            await poll(recorded, timeout=TRIAL_TIMEOUT, interval=0.005)
            kill = await switch.now(deployment)
        else:
            await asyncio.wait_for(switch.fired.wait(), TRIAL_TIMEOUT)
            assert switch.kill is not None
            kill = switch.kill
        replacement = stack.workers.spawn()
        response = await asyncio.wait_for(proposal, TRIAL_TIMEOUT)
    finally:
        proposal.cancel()
    finished = time.monotonic()

    # The kill landed where this trial says.
    assert kill.status == ("succeeded" if point == "after_record" else "executing")
    assert kill.patches == (0 if point == "before_provider" else 1)

    assert response.status_code == 202, response.text
    proposed = response.json()
    action_id = proposed["action_id"]

    # The provider side first: exactly one restart, carrying this action's key.
    key = f"{stack.workflow_id}:{action_id}"
    sent = patches(cluster, deployment)
    assert len(sent) == 1, [r.data for r in sent]
    assert sets_restart(sent[0])
    assert sent[0].data["metadata"]["annotations"][ACTION_KEY] == key
    history = restarted_at_history(cluster, deployment)
    assert history[0] is None
    assert len({v for v in history if v is not None}) == 1, history
    assert dict(cluster.objects[DEPLOYMENTS, NS, deployment].raw)["metadata"]["annotations"][ACTION_KEY] == key

    # The workflow's answer to the proposal.
    assert proposed["decision"] == "auto_execute", proposed
    assert proposed["status"] == expected, proposed

    # The action log agrees: one row for the key, in the final status, the timeline saying what happened.
    rows = await action_rows(h, incident_id=stack.incident_id, deployment=deployment)
    assert [(r.idempotency_key, r.status) for r in rows] == [(key, expected)]
    row = rows[0]
    assert not row.dry_run
    async with h.db.session() as session:
        timeline = [
            e
            for e in await repo.list_timeline(session, incident_id=stack.incident_id)
            if e.kind == "action" and e.data.get("action_id") == action_id
        ]
    assert [e.data["status"] for e in timeline] == ["executing", expected], [e.message for e in timeline]
    if expected == "already_applied":
        assert "had already been applied" in timeline[-1].message
        assert row.result["status"] == "already_applied"
        assert key in row.result["provider_ref"]
    else:
        assert "succeeded and verified" in timeline[-1].message
        assert row.result["outcome"]["status"] == "succeeded"
        assert "successfully rolled out" in row.result["verification"]

    # The attempt that finished is the retry, on the replacement worker.
    attempt, identity = await execute_attempt(h, workflow_id=stack.workflow_id, action_id=action_id)
    assert attempt == 2, (attempt, identity)
    assert identity.startswith(f"{replacement.pid}@"), (identity, replacement.pid)
    print(
        f"{label}: killed worker {kill.worker_pid} {kill.at - started:.2f} s after the proposal "
        f"(row {kill.status}, {kill.patches} PATCH); {expected} after {finished - started:.1f} s "
        f"(attempt {attempt}, worker {replacement.pid})"
    )

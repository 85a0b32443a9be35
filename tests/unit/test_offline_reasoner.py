"""The offline reasoner: its rules on small, real-looking kubectl outputs and logs, its planning and budget."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from adapters.context.bundle import BundleToolbox, RecordedCall
from adapters.llm.agent import run_agent
from adapters.llm.base import DiagnosisContext, DiagnosisModel, Turn
from adapters.llm.offline import (
    MAX_TURNS,
    REASONER_NAME,
    Diagnoser,
    OfflineReasoner,
    call_key,
    classify_line,
    cpu_millis,
    doubled_quantity,
    host_of,
    memory_bytes,
    parse_age,
    plan_first,
    plan_follow_ups,
)
from domain.diagnosis import (
    Category,
    Diagnosis,
    Investigate,
    RollbackDeployment,
    SuggestConfigFix,
    ToolCall,
    ToolName,
    ToolResult,
)
from domain.models import Alert, Lifecycle

T = ToolName


def out(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def res(tool: ToolName, text: str, *, ok: bool = True, **params: str) -> ToolResult:
    return ToolResult(call_id="c", tool=tool, params=params, output=out(text), ok=ok)


def alert(title: str = "Pod is crash looping.", **fields: object) -> Alert:
    labels = fields.pop("labels", {})
    return Alert.model_validate({"source": "alertmanager", "title": title, "labels": labels, **fields})


def diagnose(a: Alert | None, *results: ToolResult) -> Diagnosis:
    return Diagnoser(a, list(results)).diagnose()


def crashing_pod(name: str, container: str, *, reason: str = "Error", code: int = 1, extra: str = "") -> str:
    return out(f"""
        Name:             {name}
        Namespace:        shop
        Node:             worker-1/10.0.0.1
        Status:           Running
        Controlled By:  ReplicaSet/{name.rsplit("-", 1)[0]}
        Containers:
          {container}:
            Image:          registry.example.com/shop/{container}:1.0.0
            State:          Waiting
              Reason:       CrashLoopBackOff
            Last State:     Terminated
              Reason:       {reason}
              Exit Code:    {code}
              Started:      Fri, 28 Nov 2026 10:11:32 +0000
              Finished:     Fri, 28 Nov 2026 10:13:05 +0000
            Ready:          False
            Restart Count:  7
            Limits:
              cpu:     500m
              memory:  512Mi
            Requests:
              cpu:        100m
              memory:     256Mi
        {extra}
        """)


POD = "api-7d9f8b6c5-x2x4q"
CRASH_ALERT = alert(
    namespace="shop", pod=POD, labels={"container": "api"}, started_at=datetime(2026, 11, 28, 10, 14, tzinfo=UTC)
)


def crash_with_log(log: str, *, code: int = 1) -> Diagnosis:
    return diagnose(
        CRASH_ALERT,
        res(T.kubectl_describe, crashing_pod(POD, "api", code=code), kind="pod", name=POD, namespace="shop"),
        res(T.kubectl_previous_logs, log, name=POD, namespace="shop"),
    )


# --- small parsers -----------------------------------------------------------------------------------


def test_quantities_and_ages() -> None:
    assert cpu_millis("500m") == 500
    assert cpu_millis("1.5") == 1500
    assert cpu_millis("abc") is None
    assert memory_bytes("512Mi") == 512 * 1024**2
    assert memory_bytes("1G") == 10**9
    assert doubled_quantity("512Mi") == "1Gi"
    assert doubled_quantity("768Mi") == "1536Mi"
    assert doubled_quantity("1Gi") == "2Gi"
    assert doubled_quantity("500m") == "1"
    assert doubled_quantity("300m") == "600m"
    assert parse_age("3h4m") is not None
    assert parse_age("3h4m").total_seconds() == 3 * 3600 + 4 * 60  # type: ignore[union-attr]
    assert parse_age("<unknown>") is None


@pytest.mark.parametrize(
    ("line", "host"),
    [
        (
            'Get "http://inventory:8080/api/stock": dial tcp 10.0.1.2:8080: connect: connection refused',
            "inventory:8080",
        ),
        ("dial tcp: lookup payments.svc on 10.96.0.10:53: no such host", "payments.svc"),
        ("HTTPConnectionPool(host='ratings', port=9080): Max retries exceeded", "ratings:9080"),
        ('connection to server at "orders-db" (10.8.1.3), port 5432 failed: Connection refused', "orders-db:5432"),
        ("Error: connect ECONNREFUSED 10.0.0.12:6379", "10.0.0.12:6379"),
        ("Could not connect to Redis at redis-cart:6379: Connection refused", "redis-cart:6379"),
        (
            '{"msg":"cannot connect to redis","error":"dial tcp 10.96.4.1:6379: connection refused","addr":"redis-rl:6379"}',
            "redis-rl:6379",
        ),
        ('Get "http://inventory/api/stock": dial tcp 10.0.1.2:80: connect: connection refused', "inventory"),
        ("error at line:42 while calling pricing:8080", "pricing:8080"),
        ("panic: boom\n\t/src/main.go:42 +0x1d", ""),
    ],
)
def test_host_of_names_the_dependency(line: str, host: str) -> None:
    if host == "":
        assert host_of(line) in ("",)
    else:
        assert host_of(line) == host


@pytest.mark.parametrize(
    ("line", "kind", "detail"),
    [
        ('{"level":"fatal","error":"envconfig.Process: required key STRIPE_KEY missing value"}', "env", "STRIPE_KEY"),
        ("KeyError: 'DATABASE_URL'", "env", "DATABASE_URL"),
        ("Error: Missing required environment variable: SESSION_SECRET", "env", "SESSION_SECRET"),
        ("Could not resolve placeholder 'DB_PASSWORD' in value \"${DB_PASSWORD}\"", "env", "DB_PASSWORD"),
        ("flag provided but not defined: -web.listen-adress", "config", "-web.listen-adress"),
        ('exec: "gunicorn": executable file not found in $PATH: unknown', "command", "gunicorn"),
        ("exec /app/server: exec format error", "command", "/app/server"),
        ("/bin/sh: 1: start.sh: not found", "command", "start.sh"),
        ("x509: certificate has expired or is not yet valid: current time is after", "certificate", ""),
        ("getaddrinfo ENOTFOUND redis-master.cache.svc", "dns", "redis-master.cache.svc"),
        ("socket.gaierror: [Errno -2] Name or service not known", "dns", ""),
        ("java.net.UnknownHostException: kafka-0.kafka", "dns", "kafka-0.kafka"),
        ('could not write to file "pg_wal/xlogtemp.93": No space left on device', "disk", "pg_wal/xlogtemp.93"),
        ('Exception in thread "main" java.lang.OutOfMemoryError: Java heap space', "oom", "OutOfMemoryError"),
        ('FATAL:  password authentication failed for user "app"', "auth", "app"),
        ("FATAL: sorry, too many clients already", "saturated", ""),
        ("java.net.SocketTimeoutException: connect timed out (ratings:9080)", "timeout", "ratings:9080"),
        ("panic: runtime error: invalid memory address or nil pointer dereference", "app", ""),
        ("Nov 28 policy-verdict: DENIED (Policy denied) to 10.0.2.9:5432", "netpol", "10.0.2.9:5432"),
    ],
)
def test_log_lines_are_classified(line: str, kind: str, detail: str) -> None:
    hit = classify_line(line)
    assert hit is not None
    assert hit.kind == kind
    if detail:
        assert hit.detail == detail


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-28T10:00:00Z INFO request completed status=200 duration_ms=12",
        "Started CheckoutApplication in 14.93 seconds (process running for 15.61)",
        'level=info msg="connected to kafka" brokers=kafka:9092',
    ],
)
def test_ordinary_lines_are_not_causes(line: str) -> None:
    assert classify_line(line) is None


# --- rule families ---------------------------------------------------------------------------------------


def test_oom_names_container_and_limit_and_suggests_a_higher_limit() -> None:
    d = diagnose(
        CRASH_ALERT,
        res(T.kubectl_describe, crashing_pod(POD, "api", reason="OOMKilled", code=137), kind="pod", name=POD),
    )
    assert d.category == Category.oom
    assert "api" in d.root_cause
    assert "512Mi" in d.root_cause
    assert "137" in d.root_cause
    assert d.confidence >= 0.8
    fix = d.suggested_actions[0]
    assert isinstance(fix, SuggestConfigFix)
    assert (fix.namespace, fix.deployment, fix.container) == ("shop", "api", "api")
    assert fix.changes["resources.limits.memory"] == "1Gi"
    assert d.evidence[0].tool == T.kubectl_describe
    assert "OOMKilled" in d.evidence[0].excerpt
    assert d.model == REASONER_NAME


def test_an_old_oom_kill_is_history_not_a_confident_finding() -> None:
    describe = (
        crashing_pod(POD, "api", reason="OOMKilled", code=137)
        .replace("State:          Waiting\n      Reason:       CrashLoopBackOff", "State:          Running")
        .replace("Fri, 28 Nov 2026 10:13:05", "Sat, 22 Nov 2026 10:13:05")
    )
    d = diagnose(CRASH_ALERT, res(T.kubectl_describe, describe, kind="pod", name=POD))
    assert d.category == Category.oom
    assert d.confidence <= 0.5


@pytest.mark.parametrize(
    ("log", "category", "culprit"),
    [
        (
            '{"level":"fatal","msg":"invalid configuration","error":"required key STRIPE_API_KEY missing value"}',
            Category.crashloop_config,
            "STRIPE_API_KEY",
        ),
        (
            "flag provided but not defined: -config.fiel\nUsage of /bin/api:\n  -config.file string",
            Category.crashloop_config,
            "-config.fiel",
        ),
        (
            '2026/11/28 vault login failed: Put "https://vault.sec.svc:8200/v1/auth": x509: certificate has expired or is '
            "not yet valid",
            Category.certificate,
            "vault.sec.svc:8200",
        ),
        (
            'psycopg2.OperationalError: connection to server at "orders-db" (10.8.1.3), port 5432 failed: Connection '
            "refused\n\tIs the server running on that host and accepting TCP/IP connections?",
            Category.dependency_unreachable,
            "orders-db:5432",
        ),
        (
            "Error: getaddrinfo ENOTFOUND redis-master.cache.svc.cluster.local\n    at GetAddrInfoReqWrap.onlookup",
            Category.dns_failure,
            "redis-master.cache.svc.cluster.local",
        ),
        (
            'FATAL:  could not write to file "pg_wal/xlogtemp.93": No space left on device',
            Category.storage,
            "No space left on device",
        ),
        (
            "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation "
            "violation]\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:42 +0x1d",
            Category.crashloop_app_error,
            "nil pointer dereference",
        ),
    ],
)
def test_crashloops_are_explained_by_the_log_line(log: str, category: Category, culprit: str) -> None:
    d = crash_with_log(log)
    assert d.category == category
    assert culprit in d.root_cause
    assert "CrashLoopBackOff" in d.root_cause
    assert "exit code 1" in d.root_cause
    log_refs = [e for e in d.evidence if e.tool == T.kubectl_previous_logs]
    assert log_refs
    assert any(line.strip() and line.strip() in log for line in log_refs[0].excerpt.splitlines())


def test_a_noisy_warning_does_not_outrank_the_crash_itself() -> None:
    d = crash_with_log(
        'level=WARN msg="statsd flush failed" err="dial udp 10.0.0.10:8125: connect: connection refused"\n'
        "level=INFO msg=consuming\n"
        "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 7 [running]:\n"
    )
    assert d.category == Category.crashloop_app_error
    assert "index out of range" in d.root_cause


def test_exit_127_and_start_errors_are_config_problems() -> None:
    describe = crashing_pod(POD, "api", reason="StartError", code=128).replace(
        "      Exit Code:    128",
        '      Message:      failed to create containerd task: exec: "gunicorn": executable file not found in $PATH: '
        "unknown\n      Exit Code:    128",
    )
    d = diagnose(CRASH_ALERT, res(T.kubectl_describe, describe, kind="pod", name=POD))
    assert d.category == Category.crashloop_config
    assert "gunicorn" in d.root_cause
    d = diagnose(CRASH_ALERT, res(T.kubectl_describe, crashing_pod(POD, "api", code=127), kind="pod", name=POD))
    assert d.category == Category.crashloop_config
    assert "127" in d.root_cause


def test_a_crash_without_an_explaining_line_is_low_confidence() -> None:
    d = crash_with_log("starting\nready\n")
    assert d.category == Category.crashloop_app_error
    assert d.confidence < 0.5
    assert "no line that explains" in d.root_cause


PULL_POD = out("""
    Name:             web-64f8d9c7b6-m2x7q
    Namespace:        shop
    Status:           Pending
    Controlled By:  ReplicaSet/web-64f8d9c7b6
    Containers:
      web:
        Image:          ghcr.io/acme/web:v2.31.0
        State:          Waiting
          Reason:       ImagePullBackOff
        Ready:          False
        Restart Count:  0
    Events:
      Type     Reason     Age                  From               Message
      ----     ------     ----                 ----               -------
      Warning  Failed     20m (x4 over 22m)    kubelet            {message}
      Normal   BackOff    2m (x85 over 22m)    kubelet            Back-off pulling image "ghcr.io/acme/web:v2.31.0"
    """)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            'Failed to pull image "ghcr.io/acme/web:v2.31.0": rpc error: code = NotFound desc = failed to pull and unpack '
            'image "ghcr.io/acme/web:v2.31.0": failed to resolve reference "ghcr.io/acme/web:v2.31.0": '
            "ghcr.io/acme/web:v2.31.0: not found",
            "not found",
        ),
        (
            'Failed to pull image "ghcr.io/acme/web:v2.31.0": failed to resolve reference: pulling from host ghcr.io failed '
            "with status code [manifests v2.31.0]: 401 Unauthorized",
            "unauthorized",
        ),
        (
            'Failed to pull image "ghcr.io/acme/web:v2.31.0": rpc error: code = Unknown desc = Error response from daemon: '
            "manifest for ghcr.io/acme/web:v2.31.0 not found: manifest unknown: manifest unknown",
            "manifest unknown",
        ),
    ],
)
def test_image_pull_names_image_and_reason(message: str, reason: str) -> None:
    d = diagnose(alert(namespace="shop"), res(T.kubectl_describe, PULL_POD.replace("{message}", message), kind="pod"))
    assert d.category == Category.image_pull
    assert "ghcr.io/acme/web:v2.31.0" in d.root_cause
    assert reason in d.root_cause
    assert any("Failed to pull image" in e.excerpt for e in d.evidence)


def pending(message: str, selectors: str = "<none>") -> str:
    return out(f"""
        Name:             search-2
        Namespace:        search
        Node:             <none>
        Status:           Pending
        Controlled By:    StatefulSet/search
        Containers:
          search:
            Image:      opensearch:2.13.0
            Requests:
              cpu:      4
              memory:   24Gi
        Volumes:
          data:
            Type:       PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)
            ClaimName:  data-search-2
            ReadOnly:   false
        QoS Class:       Burstable
        Node-Selectors:  {selectors}
        Events:
          Type     Reason            Age                 From               Message
          ----     ------            ----                ----               -------
          Warning  FailedScheduling  3m (x7 over 29m)    default-scheduler  {message}
        """)


@pytest.mark.parametrize(
    ("message", "selectors", "category", "words"),
    [
        (
            "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption "
            "victims found for incoming pod.",
            "<none>",
            Category.pending_resources,
            ["memory", "24Gi"],
        ),
        (
            "0/7 nodes are available: 2 Insufficient nvidia.com/gpu, 5 node(s) didn't match Pod's node affinity/selector. "
            "preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling.",
            "<none>",
            Category.pending_resources,
            ["nvidia.com/gpu"],
        ),
        (
            "0/6 nodes are available: 6 node(s) didn't match Pod's node affinity/selector. preemption: 0/6 nodes are "
            "available: 6 Preemption is not helpful for scheduling.",
            "disktype=nvme",
            Category.pending_scheduling,
            ["disktype=nvme"],
        ),
        (
            "0/5 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 4 node(s) "
            "had untolerated taint {dedicated: spot}. preemption: 0/5 nodes are available: 5 Preemption is not helpful for "
            "scheduling.",
            "<none>",
            Category.pending_scheduling,
            ["{dedicated: spot}"],
        ),
    ],
)
def test_pending_pods_are_explained_by_the_scheduler(
    message: str, selectors: str, category: Category, words: list[str]
) -> None:
    d = diagnose(alert(namespace="search"), res(T.kubectl_describe, pending(message, selectors), kind="pod"))
    assert d.category == category
    for word in words:
        assert word in d.root_cause
    assert any("FailedScheduling" in e.excerpt for e in d.evidence)


def test_an_unbound_claim_with_a_missing_storage_class_is_storage() -> None:
    message = (
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are "
        "available: 3 Preemption is not helpful for scheduling."
    )
    pvc = out("""
        Name:          data-search-2
        Namespace:     search
        StorageClass:  fast-ssd
        Status:        Pending
        Volume:
        Capacity:
        Access Modes:
        Used By:       search-2
        Events:
          Type     Reason              Age                 From                         Message
          ----     ------              ----                ----                         -------
          Warning  ProvisioningFailed  12s (x82 over 20m)  persistentvolume-controller  storageclass.storage.k8s.io "fast-ssd" not found
        """)
    d = diagnose(
        alert(namespace="search"),
        res(T.kubectl_describe, pending(message), kind="pod"),
        res(T.kubectl_describe, pvc, kind="pvc", name="data-search-2"),
    )
    assert d.category == Category.storage
    assert "fast-ssd" in d.root_cause
    assert "data-search-2" in d.root_cause


def test_failing_readiness_probe_is_a_probe_failure_not_a_dependency() -> None:
    describe = out("""
        Name:             web-1
        Namespace:        web
        Status:           Running
        Controlled By:  ReplicaSet/web-7d8c9b6f5
        Containers:
          web:
            Image:          nginx:1.27
            State:          Running
              Started:      Tue, 25 Nov 2026 09:14:43 +0000
            Ready:          False
            Restart Count:  0
            Readiness:    http-get http://:8080/ready delay=5s timeout=2s period=5s #success=1 #failure=3
        Events:
          Type     Reason     Age                  From     Message
          ----     ------     ----                 ----     -------
          Warning  Unhealthy  36s (x412 over 35m)  kubelet  Readiness probe failed: Get "http://10.32.0.14:8080/ready": dial tcp 10.32.0.14:8080: connect: connection refused
        """)
    d = diagnose(alert(namespace="web"), res(T.kubectl_describe, describe, kind="pod"))
    assert d.category == Category.probe_failure
    assert "readiness" in d.root_cause
    assert "web" in d.root_cause


def test_cpu_at_its_limit_is_throttling() -> None:
    describe = out("""
        Name:             search-api-85d6c7b9f4-lq2wz
        Namespace:        search
        Status:           Running
        Controlled By:  ReplicaSet/search-api-85d6c7b9f4
        Containers:
          search-api:
            Image:          search-api:7.4.1
            State:          Running
            Ready:          True
            Restart Count:  0
            Limits:
              cpu:     500m
              memory:  1Gi
        """)
    top = """
        NAME                           CPU(cores)   MEMORY(bytes)
        search-api-85d6c7b9f4-lq2wz    499m         418Mi
        """
    a = alert("CPUThrottlingHigh", namespace="search", pod="search-api-85d6c7b9f4-lq2wz")
    d = diagnose(a, res(T.kubectl_describe, describe, kind="pod"), res(T.kubectl_top, top, kind="pod"))
    assert d.category == Category.cpu_throttling
    assert "500m" in d.root_cause
    assert "499m" in d.root_cause
    fix = d.suggested_actions[0]
    assert isinstance(fix, SuggestConfigFix)
    assert fix.changes == {"resources.limits.cpu": "1"}
    # Far below the limit, and no alert about CPU: not throttling.
    latency = alert("search p99 high", namespace="search", pod="search-api-85d6c7b9f4-lq2wz")
    calm = diagnose(
        latency, res(T.kubectl_describe, describe, kind="pod"), res(T.kubectl_top, top.replace("499m", "120m"))
    )
    assert calm.category != Category.cpu_throttling
    # The throttling alert with a low average: bursts, said with less confidence and the figures shown.
    bursty = diagnose(a, res(T.kubectl_describe, describe, kind="pod"), res(T.kubectl_top, top.replace("499m", "120m")))
    assert bursty.category == Category.cpu_throttling
    assert bursty.confidence <= 0.55
    assert "120m" in bursty.root_cause


def test_a_job_past_its_backoff_limit_is_a_job_failure_with_the_script_error() -> None:
    job = out("""
        Name:             db-migrate-v42
        Namespace:        accounts
        Backoff Limit:    3
        Pods Statuses:    0 Active (0 Ready) / 0 Succeeded / 4 Failed
        Events:
          Type     Reason                Age    From            Message
          ----     ------                ----   ----            -------
          Warning  BackoffLimitExceeded  4m58s  job-controller  Job has reached the specified backoff limit
        """)
    pods = """
        NAME                   READY   STATUS   RESTARTS   AGE
        db-migrate-v42-p7d4n   0/1     Error    0          6m21s
        """
    log = 'psql:/migrations/042.sql:3: ERROR:  relation "acount_events" does not exist\n'
    a = alert("Job failed to complete.", namespace="accounts", labels={"job_name": "db-migrate-v42"})
    d = diagnose(
        a,
        res(T.kubectl_describe, job, kind="job", name="db-migrate-v42"),
        res(T.kubectl_get, pods, kind="pod"),
        res(T.kubectl_logs, log, name="db-migrate-v42-p7d4n"),
    )
    assert d.category == Category.job_failure
    assert "db-migrate-v42" in d.root_cause
    assert "BackoffLimitExceeded" in d.root_cause
    assert "acount_events" in d.root_cause


def test_latency_explained_by_a_slow_dependency() -> None:
    logs = """
        2026-11-28T20:08:04Z WARN PaymentsClient: call to payments-gateway:8443 took 5873ms (authorize)
        2026-11-28T20:08:09Z ERROR PaymentsClient: I/O error on POST request for "https://payments-gateway:8443/v2/authorize": Read timed out
        2026-11-28T20:08:12Z WARN PaymentsClient: call to payments-gateway:8443 took 5402ms (authorize)
        """
    a = alert("checkout p99 latency above 2s", namespace="shop", service="checkout")
    d = diagnose(a, res(T.fetch_logs, logs, service="checkout"))
    assert d.category == Category.dependency_unreachable
    assert "payments-gateway:8443" in d.root_cause
    # Without a latency alert, slowness alone is not reported.
    quiet = diagnose(
        alert("checkout errors", namespace="shop", service="checkout"),
        res(T.fetch_logs, logs.replace("Read timed out", "done"), service="checkout"),
    )
    assert quiet.category == Category.unknown


def test_evictions_on_a_node_under_memory_pressure() -> None:
    pods = """
        NAME                           READY   STATUS    RESTARTS   AGE     IP       NODE     NOMINATED NODE   READINESS GATES
        thumbnailer-5c6d7e8f9-2xq8k    0/1     Evicted   0          6h35m   <none>   node-4   <none>           <none>
        """
    events = """
        LAST SEEN   TYPE      REASON    OBJECT                            MESSAGE
        22m         Warning   Evicted   pod/thumbnailer-5c6d7e8f9-2xq8k   The node was low on resource: memory. Threshold quantity: 100Mi, available: 91236Ki.
        """
    node = out("""
        Name:               node-4
        Taints:             node.kubernetes.io/memory-pressure:NoSchedule
        Conditions:
          Type                 Status  LastHeartbeatTime                 LastTransitionTime                Reason                       Message
          ----                 ------  -----------------                 ------------------                ------                       -------
          MemoryPressure       True    Fri, 28 Nov 2026 21:26:44 +0000   Fri, 28 Nov 2026 20:43:10 +0000   KubeletHasInsufficientMemory kubelet has insufficient memory available
          Ready                True    Fri, 28 Nov 2026 21:26:44 +0000   Mon, 03 Nov 2026 08:12:20 +0000   KubeletReady                 kubelet is posting ready status
        """)
    d = diagnose(
        alert(namespace="media", pod="thumbnailer-5c6d7e8f9-2xq8k"),
        res(T.kubectl_get, pods, kind="pod"),
        res(T.kubectl_events, events),
        res(T.kubectl_describe, node, kind="node", name="node-4"),
    )
    assert d.category == Category.node_pressure
    assert "node-4" in d.root_cause
    assert "memory" in d.root_cause


def test_network_policy_drops_and_default_deny() -> None:
    logs = """
        [ERROR] reviews-v2 Error: Couldn't reach ratings service: java.net.SocketTimeoutException: connect timed out (ratings:9080)
        [ERROR] reviews-v2 Error: Couldn't reach ratings service: java.net.SocketTimeoutException: connect timed out (ratings:9080)
        """
    policy = out("""
        Name:         default-deny-egress
        Namespace:    bookinfo
        Spec:
          PodSelector:     <none> (Allowing the specific traffic to all pods in this namespace)
          Not affecting ingress traffic
          Allowing egress traffic:
            <none> (Selected pods are isolated for egress connectivity)
          Policy Types: Egress
        """)
    pods = """
        NAME                          READY   STATUS    RESTARTS   AGE
        reviews-v2-65c4dc6fdc-2bmxq   1/1     Running   0          12d
        """
    a = alert("reviews errors", namespace="bookinfo", service="reviews")
    d = diagnose(
        a, res(T.kubectl_get, pods), res(T.fetch_logs, logs), res(T.kubectl_describe, policy, kind="networkpolicy")
    )
    assert d.category == Category.network_policy
    assert "default-deny-egress" in d.root_cause
    # The same timeouts without any policy in the evidence: a dependency problem.
    d = diagnose(a, res(T.kubectl_get, pods), res(T.fetch_logs, logs))
    assert d.category == Category.dependency_unreachable
    assert "ratings:9080" in d.root_cause


def test_a_service_whose_selector_matches_no_pod() -> None:
    pods = out("""
        Name:             storefront-7b9d6c5f4-8kq2m
        Namespace:        storefront
        Labels:           app.kubernetes.io/name=storefront
                          pod-template-hash=7b9d6c5f4
        Status:           Running
        Containers:
          web:
            Image:          web:3.8.0
            Port:           3000/TCP
            State:          Running
            Ready:          True
            Restart Count:  0
        """)
    service = out("""
        Name:              storefront-web
        Namespace:         storefront
        Selector:          app.kubernetes.io/name=storefront-web
        Type:              ClusterIP
        Port:              http  80/TCP
        TargetPort:        3000/TCP
        Endpoints:         <none>
        """)
    d = diagnose(
        alert("KubeServiceNoEndpoints", namespace="storefront", service="storefront-web"),
        res(T.kubectl_describe, pods, kind="pod"),
        res(T.kubectl_describe, service, kind="service"),
    )
    assert d.category == Category.ingress_or_service_misconfig
    assert "storefront-web" in d.root_cause
    assert "selector" in d.root_cause


def test_a_deploy_before_the_errors_is_a_bad_deploy_with_a_rollback() -> None:
    deploys = """
        TIME                  SERVICE   VERSION   STATUS    AUTHOR
        2026-11-28T15:11:02Z  pricing   3.4.0     success   argocd-bot
        """
    a = alert(
        "pricing 5xx", namespace="pricing", service="pricing", started_at=datetime(2026, 11, 28, 15, 22, tzinfo=UTC)
    )
    describe = crashing_pod("pricing-6b7d8c9f4-2kx8p", "pricing").replace(
        "Namespace:        shop", "Namespace:        pricing"
    )
    log = 'Caused by: java.lang.NullPointerException: Cannot invoke "Tier.getThreshold()" because "rule.tier" is null'
    d = diagnose(
        a,
        res(T.kubectl_describe, describe, kind="pod"),
        res(T.recent_deploys, deploys),
        res(T.kubectl_previous_logs, log, name="pricing-6b7d8c9f4-2kx8p"),
    )
    assert d.category == Category.bad_deploy
    assert "3.4.0" in d.root_cause
    assert "NullPointerException" in d.root_cause
    assert RollbackDeployment(namespace="pricing", deployment="pricing") in d.suggested_actions
    # The same deploy three days earlier is not "shortly before".
    old = deploys.replace("2026-11-28T15:11", "2026-11-25T15:11")
    d = diagnose(
        a,
        res(T.kubectl_describe, describe, kind="pod"),
        res(T.recent_deploys, old),
        res(T.kubectl_previous_logs, log, name="pricing-6b7d8c9f4-2kx8p"),
    )
    assert d.category == Category.crashloop_app_error


@pytest.mark.parametrize("name", ["Watchdog", "DeadMansSwitch", "InfoInhibitor", "prometheus heartbeat"])
async def test_heartbeats_are_no_problem_with_no_actions(name: str) -> None:
    reply = await OfflineReasoner().next(
        DiagnosisContext(alert=alert(name, labels={"alertname": name})), [], must_finish=False
    )
    assert reply.calls == []
    assert reply.diagnosis is not None
    assert reply.diagnosis.category == Category.no_problem
    assert reply.diagnosis.suggested_actions == []


async def test_an_ordinary_alert_is_investigated_not_waved_through() -> None:
    reply = await OfflineReasoner().next(DiagnosisContext(alert=CRASH_ALERT), [], must_finish=False)
    assert reply.diagnosis is None
    assert reply.calls
    assert len({c.id for c in reply.calls}) == len(reply.calls)


def test_no_supported_cause_is_unknown_with_low_confidence() -> None:
    pods = """
        NAME                            READY   STATUS    RESTARTS   AGE
        accounts-api-5d9c8b7a6f-7hx2l   1/1     Running   0          6d
        """
    logs = "2026-11-28T22:13:58Z INFO GET /v1/accounts/7731 200 41ms\n"
    d = diagnose(
        alert("APIHighLatency", namespace="accounts", service="accounts-api"),
        res(T.kubectl_get, pods),
        res(T.fetch_logs, logs),
    )
    assert d.category == Category.unknown
    assert d.confidence <= 0.3
    assert "checked" in d.root_cause
    assert all(isinstance(a, Investigate) for a in d.suggested_actions)
    resolved = alert("TargetDown", namespace="accounts", service="accounts-api", lifecycle=Lifecycle.resolved)
    assert diagnose(resolved, res(T.kubectl_get, pods)).category == Category.no_problem


def test_an_unrelated_broken_pod_is_not_blamed() -> None:
    pods = """
        NAMESPACE   NAME                        READY   STATUS             RESTARTS        AGE
        batch       exporter-6d5c4b3a2-q9w8e    0/1     CrashLoopBackOff   212 (3m ago)    18d
        web         frontend-7d8c9b6f5-4hx2p    1/1     Running            0               3d
        """
    d = diagnose(alert("frontend p99 > 1s", namespace="web", service="frontend"), res(T.kubectl_get, pods))
    assert d.category == Category.unknown


# --- planning, budget, determinism --------------------------------------------------------------------------


def test_turn_one_plans_from_the_alert() -> None:
    plans = plan_first(CRASH_ALERT)
    assert (T.kubectl_describe, {"kind": "pod", "name": POD, "namespace": "shop"}) in plans
    assert (T.kubectl_previous_logs, {"name": POD, "namespace": "shop", "container": "api"}) in plans
    assert (T.kubectl_events, {"namespace": "shop"}) in plans
    assert any(tool == T.recent_deploys for tool, _ in plans)
    broad = plan_first(None)
    assert (T.kubectl_get, {"kind": "pod"}) in broad
    assert (T.kubectl_describe, {"kind": "pod"}) in broad
    assert all("namespace" not in params for _, params in broad)


def test_turn_two_follows_up_on_what_turn_one_revealed() -> None:
    pods = """
        NAME                          READY   STATUS             RESTARTS       AGE
        api-7d9f8b6c5-x2x4q           0/1     CrashLoopBackOff   7 (46s ago)    71m
        search-2                      0/1     Pending            0              20m
        web-5c8d7f9b44-mq2lx          1/1     Running            0              58m
        """
    results = [
        res(T.kubectl_get, pods, kind="pod", namespace="search"),
        res(T.kubectl_describe, pending("x"), kind="pod"),
    ]
    plans = plan_follow_ups(alert(namespace="search"), results, set())
    assert (T.kubectl_previous_logs, {"name": POD, "namespace": "search"}) in plans
    assert (T.kubectl_describe, {"kind": "pod", "name": POD, "namespace": "search"}) in plans
    assert (T.kubectl_describe, {"kind": "pvc", "name": "data-search-2", "namespace": "search"}) in plans
    assert not any(params.get("name", "").startswith("web-") for _, params in plans)  # healthy: left alone
    # Nothing is asked twice.
    again = plan_follow_ups(alert(namespace="search"), results, {call_key(t, p) for t, p in plans})
    assert not [plan for plan in again if plan in plans]


def bundle(*calls: tuple[ToolName, dict[str, str], str]) -> BundleToolbox:
    return BundleToolbox(
        calls=[RecordedCall(file=f"{i:02d}", tool=t, params=p, output=out(o)) for i, (t, p, o) in enumerate(calls)]
    )


CRASH_BUNDLE = (
    (T.kubectl_describe, {"kind": "pod", "name": POD, "namespace": "shop"}, crashing_pod(POD, "api")),
    (T.kubectl_previous_logs, {"name": POD}, 'panic: required environment variable "API_TOKEN" is not set\n'),
)


async def test_the_agent_loop_reaches_the_same_answer_within_the_turn_cap() -> None:
    run = await run_agent(
        model=OfflineReasoner(), toolbox=bundle(*CRASH_BUNDLE), context=DiagnosisContext(alert=CRASH_ALERT)
    )
    assert run.diagnosis.category == Category.crashloop_config
    assert "API_TOKEN" in run.diagnosis.root_cause
    assert 1 <= len(run.turns) <= MAX_TURNS
    assert run.tool_calls <= 16


async def test_must_finish_answers_at_once() -> None:
    reply = await OfflineReasoner().next(DiagnosisContext(alert=CRASH_ALERT), [], must_finish=True)
    assert reply.calls == []
    assert reply.diagnosis is not None
    assert reply.diagnosis.category == Category.unknown  # nothing was looked at yet: no guess
    turn = Turn(
        calls=[ToolCall(id="1", tool=T.kubectl_previous_logs, params={"name": POD})],
        results=[res(T.kubectl_previous_logs, 'panic: required environment variable "API_TOKEN" is not set\n')],
    )
    reply = await OfflineReasoner().next(DiagnosisContext(alert=CRASH_ALERT), [turn], must_finish=True)
    assert reply.calls == []
    assert reply.diagnosis is not None


async def test_a_small_budget_stops_the_loop_with_an_answer() -> None:
    run = await run_agent(
        model=OfflineReasoner(),
        toolbox=bundle(*CRASH_BUNDLE),
        context=DiagnosisContext(alert=CRASH_ALERT),
        max_tool_calls=2,
    )
    assert run.tool_calls == 2
    assert run.stopped_by_budget
    assert run.diagnosis.model == REASONER_NAME


async def test_same_input_same_json() -> None:
    model: DiagnosisModel = OfflineReasoner()
    first = await run_agent(model=model, toolbox=bundle(*CRASH_BUNDLE), context=DiagnosisContext(alert=CRASH_ALERT))
    second = await run_agent(
        model=OfflineReasoner(), toolbox=bundle(*CRASH_BUNDLE), context=DiagnosisContext(alert=CRASH_ALERT)
    )
    assert first.diagnosis.model_dump_json() == second.diagnosis.model_dump_json()
    assert [t.calls for t in first.turns] == [t.calls for t in second.turns]

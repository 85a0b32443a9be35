"""Render official-client Kubernetes objects as the text real `kubectl` (1.28+) prints.

The offline reasoner was written against real `kubectl describe` / `get -o wide` / `get events` / `top`
output, so the live toolbox must print the same layout and wording. These renderers follow kubectl's
printers (k8s.io/kubectl pkg/describe/describe.go, k8s.io/kubernetes pkg/printers/internalversion,
k8s.io/kubectl pkg/metricsutil) line for line where they matter, including Go's text/tabwriter column
alignment: `describe` uses (minwidth 0, padding 2), tables use (minwidth 6, padding 3).

Pure functions: no I/O and no clock. Every age is computed against the `now` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kubernetes.client import (
    CoreV1Event,
    V1Container,
    V1ContainerState,
    V1ContainerStatus,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1Endpoints,
    V1EnvVar,
    V1EphemeralContainer,
    V1Job,
    V1JobSpec,
    V1JobStatus,
    V1LabelSelector,
    V1Node,
    V1NodeSpec,
    V1NodeStatus,
    V1ObjectMeta,
    V1PersistentVolume,
    V1PersistentVolumeClaim,
    V1PersistentVolumeClaimSpec,
    V1PersistentVolumeClaimStatus,
    V1PersistentVolumeSpec,
    V1PersistentVolumeStatus,
    V1Pod,
    V1PodSpec,
    V1PodStatus,
    V1PodTemplateSpec,
    V1Probe,
    V1ReplicaSet,
    V1ReplicaSetSpec,
    V1ReplicaSetStatus,
    V1ResourceRequirements,
    V1Service,
    V1ServiceSpec,
    V1StorageClass,
    V1Toleration,
    V1Volume,
)
from kubernetes.utils import parse_quantity

__all__ = [
    "describe_deployment",
    "describe_endpoints",
    "describe_job",
    "describe_node",
    "describe_pod",
    "describe_pv",
    "describe_pvc",
    "describe_replica_set",
    "describe_service",
    "describe_storage_class",
    "event_time",
    "get_deployments",
    "get_endpoints",
    "get_events",
    "get_jobs",
    "get_nodes",
    "get_pods",
    "get_pvcs",
    "get_pvs",
    "get_replica_sets",
    "get_services",
    "get_storage_classes",
    "human_duration",
    "pod_status",
    "tabwrite",
    "top_nodes",
    "top_pods",
]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}
_MAX_ANNOTATION_LEN = 140
_FLUSH = "\x00flush\x00"  # a PrefixWriter.Flush(): the tabwriter starts new column blocks after it


# --- Go text/tabwriter -----------------------------------------------------------------------------


def tabwrite(text: str, *, minwidth: int = 0, padding: int = 2) -> str:
    """Align tab-separated cells exactly like Go's text/tabwriter (pad char ' ', left-aligned, no flags)."""
    # A column block is a run of consecutive lines that have a tab-terminated cell in that column; the
    # text after a line's last tab belongs to no column and is never padded (Go's format/writeLines).
    cells = [line.split("\t") for line in text.split("\n")]
    widths: list[int] = []
    out: list[str] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            line = cells[i]
            parts: list[str] = []
            for j, cell in enumerate(line):
                parts.append(cell)
                if j < len(widths):
                    parts.append(" " * (widths[j] - len(cell)))
            out.append("".join(parts))
            if i + 1 < len(cells):
                out.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(cells[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(cells[this]) - 1:
                width = max(width, len(cells[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(cells))
    return "".join(out)


class _Writer:
    """kubectl's PrefixWriter over a tabwriter: two spaces per level, Flush() closes the column blocks."""

    def __init__(self) -> None:
        self._buf: list[str] = []

    def w(self, level: int, text: str) -> None:
        self._buf.append("  " * level + text)

    def flush(self) -> None:
        self._buf.append(_FLUSH)

    def text(self) -> str:
        return "".join(tabwrite(chunk) for chunk in "".join(self._buf).split(_FLUSH))


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """kubectl's human-readable table printer: upper-case header, cells joined by tabs, (6, 3) tabwriter."""
    lines = ["\t".join(h.upper() for h in header)]
    lines.extend("\t".join(row) for row in rows)
    return tabwrite("\n".join(lines) + "\n", minwidth=6, padding=3)


# --- time ------------------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc1123z(value: datetime | None) -> str:
    """Go's time.RFC1123Z; a missing time prints as Go's zero time, exactly as kubectl does."""
    if value is None:
        return "Mon, 01 Jan 0001 00:00:00 +0000"
    t = _utc(value)
    return f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} {t:%H:%M:%S} +0000"


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery duration.HumanDuration: "45s", "5m30s", "3h20m", "2d4h", "400d", "2y30d"."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def _since(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "<unknown>"
    return human_duration((_utc(now) - _utc(value)).total_seconds())


# --- small formatting helpers ------------------------------------------------------------------------


def _go_bool(value: bool | None) -> str:
    return "true" if value else "false"


def _title_bool(value: bool | None) -> str:
    return "True" if value else "False"


def _go_list(values: Sequence[str] | None) -> str:
    """Go's %v of a []string: [a b c]."""
    return "[" + " ".join(values or []) + "]"


def _format_labels(labels: Mapping[str, str] | None) -> str:
    """labels.FormatLabels: sorted k=v pairs joined by commas, <none> when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _format_selector(selector: V1LabelSelector | None, *, none: str = "") -> str:
    """A LabelSelector as labels.Selector.String() (requirements sorted by key)."""
    if selector is None:
        return none
    reqs: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector.match_labels or {}).items()]
    for expr in selector.match_expressions or []:
        values = ",".join(sorted(expr.values or []))
        op = expr.operator
        if op == "In":
            reqs.append((expr.key, f"{expr.key} in ({values})"))
        elif op == "NotIn":
            reqs.append((expr.key, f"{expr.key} notin ({values})"))
        elif op == "Exists":
            reqs.append((expr.key, expr.key))
        elif op == "DoesNotExist":
            reqs.append((expr.key, f"!{expr.key}"))
    if not reqs:
        return none
    return ",".join(text for _, text in sorted(reqs))


def _access_modes(modes: Sequence[str] | None) -> str:
    """GetAccessModesAsString: RWO,ROX,RWX,RWOP in that order."""
    present = set(modes or [])
    table = (
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    )
    return ",".join(short for long, short in table if long in present)


def _controller(meta: V1ObjectMeta) -> str:
    for ref in meta.owner_references or []:
        if ref.controller:
            return f"{ref.kind}/{ref.name}"
    return ""


def _meta(obj: Any) -> V1ObjectMeta:
    meta = getattr(obj, "metadata", None)
    return meta if isinstance(meta, V1ObjectMeta) else V1ObjectMeta()


def _labels_multiline(out: _Writer, title: str, labels: Mapping[str, str] | None, *, indent: str = "") -> None:
    out.w(0, f"{indent}{title}:\t")
    if not labels:
        out.w(0, "<none>\n")
        return
    for i, key in enumerate(sorted(labels)):
        if i:
            out.w(0, f"{indent}\t")
        out.w(0, f"{key}={labels[key]}\n")


def _annotations_multiline(out: _Writer, title: str, annotations: Mapping[str, str] | None) -> None:
    out.w(0, f"{title}:\t")
    keys = sorted(k for k in (annotations or {}) if k not in _SKIP_ANNOTATIONS)
    if not keys or annotations is None:
        out.w(0, "<none>\n")
        return
    for i, key in enumerate(keys):
        if i:
            out.w(0, "\t")
        value = annotations[key].removesuffix("\n")
        if len(value) + len(key) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            out.w(0, f"{key}:\n")
            for line in value.split("\n"):
                short = line if len(line) <= _MAX_ANNOTATION_LEN - 2 else line[: _MAX_ANNOTATION_LEN - 2] + "..."
                out.w(0, f"\t  {short}\n")
        else:
            out.w(0, f"{key}: {value}\n")


def _tolerations_multiline(out: _Writer, title: str, tolerations: Sequence[V1Toleration] | None) -> None:
    out.w(0, f"{title}:\t")
    if not tolerations:
        out.w(0, "<none>\n")
        return
    for i, tol in enumerate(sorted(tolerations, key=lambda t: t.key or "")):
        if i:
            out.w(0, "\t")
        text = tol.key or ""
        if tol.value:
            text += f"={tol.value}"
        if tol.effect:
            text += f":{tol.effect}"
        if tol.operator == "Exists" and not tol.value:
            text += " op=Exists" if (tol.key or tol.effect) else "op=Exists"
        if tol.toleration_seconds is not None:
            text += f" for {tol.toleration_seconds}s"
        out.w(0, text + "\n")


# --- quantities ------------------------------------------------------------------------------------

_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
_DECIMAL = (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3))


def _qty(value: str | None) -> Decimal:
    if not value:
        return Decimal(0)
    try:
        return Decimal(parse_quantity(value))
    except (ValueError, InvalidOperation):
        return Decimal(0)


def _milli(value: Decimal) -> int:
    """Quantity.MilliValue(): rounded up, like Go."""
    return math.ceil(value * 1000)


def _whole(value: Decimal) -> int:
    """Quantity.Value(): rounded up, like Go."""
    return math.ceil(value)


def _format_qty(value: Decimal, *, binary: bool) -> str:
    """Quantity.String() for sums: binary suffixes (Mi) when the inputs were binary, else SI (m, k, M)."""
    if value == 0:
        return "0"
    if value != value.to_integral_value():
        return f"{_milli(value)}m"
    whole = int(value)
    for suffix, size in _BINARY if binary and abs(whole) >= 1024 else _DECIMAL:
        if whole % size == 0:
            return f"{whole // size}{suffix}"
    return str(whole)


def _sorted_resources(resources: Mapping[str, str] | None) -> list[tuple[str, str]]:
    return sorted((resources or {}).items())


# --- events ----------------------------------------------------------------------------------------


def event_time(event: CoreV1Event) -> datetime:
    """When an event was last seen (series, lastTimestamp, eventTime, firstTimestamp), for sorting."""
    if event.series is not None and event.series.last_observed_time is not None:
        return _utc(event.series.last_observed_time)
    for value in (event.last_timestamp, event.event_time, event.first_timestamp):
        if value is not None:
            return _utc(value)
    return datetime.min.replace(tzinfo=UTC)


def _describe_events(out: _Writer, events: Sequence[CoreV1Event], now: datetime) -> None:
    """DescribeEvents: the `Type Reason Age From Message` table, oldest first."""
    if not events:
        out.w(0, "Events:\t<none>\n")
        return
    out.flush()
    out.w(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    out.w(1, "----\t------\t----\t----\t-------\n")
    for event in sorted(events, key=event_time):
        first = _since(event.event_time, now) if event.event_time is not None else _since(event.first_timestamp, now)
        if event.series is not None:
            interval = f"{_since(event.series.last_observed_time, now)} (x{event.series.count or 0} over {first})"
        elif (event.count or 0) > 1:
            interval = f"{_since(event.last_timestamp, now)} (x{event.count} over {first})"
        else:
            interval = first
        source = (event.source.component if event.source else None) or event.reporting_component or ""
        message = (event.message or "").strip()
        out.w(1, f"{event.type or ''}\t{event.reason or ''}\t{interval}\t{source}\t{message}\n")


def get_events(events: Sequence[CoreV1Event], *, now: datetime, with_namespace: bool = False) -> str:
    """`kubectl get events` (sorted oldest first, like `--sort-by=.lastTimestamp`)."""
    rows = []
    for event in sorted(events, key=event_time):
        first = _since(event.first_timestamp, now) if event.first_timestamp else _since(event.event_time, now)
        last = _since(event.last_timestamp, now) if event.last_timestamp else first
        if event.series is not None:
            last = _since(event.series.last_observed_time, now)
        obj = event.involved_object
        kind = (obj.kind or "").lower()
        target = f"{kind}/{obj.name}" if obj.name else kind
        row = [last, event.type or "", event.reason or "", target, (event.message or "").strip()]
        if with_namespace:
            row.insert(0, _meta(event).namespace or obj.namespace or "")
        rows.append(row)
    header = ["Last Seen", "Type", "Reason", "Object", "Message"]
    return _table(["Namespace", *header] if with_namespace else header, rows)


# --- containers ------------------------------------------------------------------------------------


def _describe_probe(probe: V1Probe) -> str:
    attrs = (
        f"delay={probe.initial_delay_seconds or 0}s timeout={probe.timeout_seconds or 1}s "
        f"period={probe.period_seconds or 10}s #success={probe.success_threshold or 1} "
        f"#failure={probe.failure_threshold or 3}"
    )
    if probe.var_exec is not None:
        return f"exec {_go_list(probe.var_exec.command)} {attrs}"
    if probe.http_get is not None:
        get = probe.http_get
        host = get.host or ""
        port = str(get.port)
        if port:
            host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        path = get.path or ""
        if path and not path.startswith("/") and host:
            path = "/" + path
        scheme = (get.scheme or "HTTP").lower()
        return f"http-get {scheme}://{host}{path} {attrs}"
    if probe.tcp_socket is not None:
        return f"tcp-socket {probe.tcp_socket.host or ''}:{probe.tcp_socket.port} {attrs}"
    if probe.grpc is not None:
        return f"grpc <pod>:{probe.grpc.port} {probe.grpc.service or ''} {attrs}"
    return f"unknown {attrs}"


def _describe_state(out: _Writer, name: str, state: V1ContainerState | None) -> None:
    if state is not None and state.running is not None:
        out.w(2, f"{name}:\tRunning\n")
        out.w(3, f"Started:\t{_rfc1123z(state.running.started_at)}\n")
    elif state is not None and state.waiting is not None:
        out.w(2, f"{name}:\tWaiting\n")
        if state.waiting.reason:
            out.w(3, f"Reason:\t{state.waiting.reason}\n")
    elif state is not None and state.terminated is not None:
        term = state.terminated
        out.w(2, f"{name}:\tTerminated\n")
        if term.reason:
            out.w(3, f"Reason:\t{term.reason}\n")
        if term.message:
            out.w(3, f"Message:\t{term.message}\n")
        out.w(3, f"Exit Code:\t{term.exit_code}\n")
        if term.signal:
            out.w(3, f"Signal:\t{term.signal}\n")
        out.w(3, f"Started:\t{_rfc1123z(term.started_at)}\n")
        out.w(3, f"Finished:\t{_rfc1123z(term.finished_at)}\n")
    else:
        out.w(2, f"{name}:\tWaiting\n")


def _describe_resources(out: _Writer, resources: V1ResourceRequirements | None, level: int) -> None:
    if resources is None:
        return
    if resources.limits:
        out.w(level, "Limits:\n")
    for name, value in _sorted_resources(resources.limits):
        out.w(level + 1, f"{name}:\t{value}\n")
    if resources.requests:
        out.w(level, "Requests:\n")
    for name, value in _sorted_resources(resources.requests):
        out.w(level + 1, f"{name}:\t{value}\n")


def _field_ref_value(pod: V1Pod | None, path: str) -> str:
    if pod is None:
        return ""
    meta = _meta(pod)
    spec = pod.spec
    status = pod.status
    simple: dict[str, str | None] = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": spec.node_name if spec else None,
        "spec.serviceAccountName": spec.service_account_name if spec else None,
        "status.podIP": status.pod_ip if status else None,
        "status.hostIP": status.host_ip if status else None,
    }
    if path in simple:
        return simple[path] or ""
    for prefix, mapping in (("metadata.labels", meta.labels), ("metadata.annotations", meta.annotations)):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return (mapping or {}).get(path[len(prefix) + 2 : -2], "")
    return ""


def _describe_env(out: _Writer, container: V1Container | V1EphemeralContainer, pod: V1Pod | None) -> None:
    env: list[V1EnvVar] = container.env or []
    out.w(2, "Environment:\t<none>\n" if not env else "Environment:\n")
    for var in env:
        source = var.value_from
        if source is None:
            for i, line in enumerate((var.value or "").split("\n")):
                out.w(3, f"{var.name}:\t{line}\n" if i == 0 else f"\t{line}\n")
        elif source.field_ref is not None:
            ref = source.field_ref
            value = _field_ref_value(pod, ref.field_path)
            out.w(3, f"{var.name}:\t{value} ({ref.api_version or 'v1'}:{ref.field_path})\n")
        elif source.resource_field_ref is not None:
            resource = source.resource_field_ref.resource
            kind, _, name = resource.partition(".")
            requirements = container.resources or V1ResourceRequirements()
            values = (requirements.limits if kind == "limits" else requirements.requests) or {}
            value = values.get(name, "0")
            if value == "0" and resource in ("limits.cpu", "limits.memory"):
                value = "node allocatable"
            out.w(3, f"{var.name}:\t{value} ({resource})\n")
        elif source.secret_key_ref is not None:
            ref_s = source.secret_key_ref
            out.w(
                3,
                f"{var.name}:\t<set to the key '{ref_s.key}' in secret '{ref_s.name or ''}'>\t"
                f"Optional: {_go_bool(ref_s.optional)}\n",
            )
        elif source.config_map_key_ref is not None:
            ref_c = source.config_map_key_ref
            out.w(
                3,
                f"{var.name}:\t<set to the key '{ref_c.key}' of config map '{ref_c.name or ''}'>\t"
                f"Optional: {_go_bool(ref_c.optional)}\n",
            )


def _describe_containers(
    out: _Writer,
    label: str,
    containers: Sequence[V1Container | V1EphemeralContainer],
    statuses: Sequence[V1ContainerStatus] | None,
    space: str,
    pod: V1Pod | None,
) -> None:
    by_name = {s.name: s for s in statuses or []}
    out.w(0, f"{space}{label}:{' <none>' if not containers else ''}\n")
    for container in containers:
        status = by_name.get(container.name)
        out.w(1, f"{' ' if space else ''}{container.name}:\n")
        if status is not None:
            out.w(2, f"Container ID:\t{status.container_id or ''}\n")
        out.w(2, f"Image:\t{container.image or ''}\n")
        if status is not None:
            out.w(2, f"Image ID:\t{status.image_id or ''}\n")
        ports = ", ".join(f"{p.container_port}/{p.protocol or 'TCP'}" for p in container.ports or [])
        out.w(2, f"Ports:\t{ports}\n" if "," in ports else f"Port:\t{ports or '<none>'}\n")
        host_ports = ", ".join(f"{p.host_port or 0}/{p.protocol or 'TCP'}" for p in container.ports or [])
        out.w(2, f"Host Ports:\t{host_ports}\n" if "," in host_ports else f"Host Port:\t{host_ports or '<none>'}\n")
        for title, words in (("Command", container.command), ("Args", container.args)):
            if words:
                out.w(2, f"{title}:\n")
                for word in words:
                    for line in word.split("\n"):
                        out.w(3, f"{line}\n")
        if status is not None:
            _describe_state(out, "State", status.state)
            if status.last_state is not None and status.last_state.terminated is not None:
                _describe_state(out, "Last State", status.last_state)
            out.w(2, f"Ready:\t{_title_bool(status.ready)}\n")
            out.w(2, f"Restart Count:\t{status.restart_count or 0}\n")
        _describe_resources(out, container.resources, 2)
        for title, probe in (
            ("Liveness", container.liveness_probe),
            ("Readiness", container.readiness_probe),
            ("Startup", container.startup_probe),
        ):
            if probe is not None:
                out.w(2, f"{title}:\t{_describe_probe(probe)}\n")
        if container.env_from:
            out.w(2, "Environment Variables from:\n")
            for source in container.env_from:
                if source.config_map_ref is not None:
                    name, origin, optional = source.config_map_ref.name, "ConfigMap", source.config_map_ref.optional
                elif source.secret_ref is not None:
                    name, origin, optional = source.secret_ref.name, "Secret", source.secret_ref.optional
                else:
                    name, origin, optional = "", "", False
                with_prefix = f" with prefix '{source.prefix}'" if source.prefix else ""
                out.w(3, f"{name or ''}\t{origin}{with_prefix}\tOptional: {_go_bool(optional)}\n")
        _describe_env(out, container, pod)
        mounts = sorted(container.volume_mounts or [], key=lambda m: m.mount_path)
        out.w(2, "Mounts:\t<none>\n" if not mounts else "Mounts:\n")
        for mount in mounts:
            flags = ["ro" if mount.read_only else "rw"]
            if mount.sub_path:
                flags.append(f'path="{mount.sub_path}"')
            out.w(3, f"{mount.mount_path} from {mount.name} ({','.join(flags)})\n")
        devices = sorted(container.volume_devices or [], key=lambda d: d.device_path)
        if devices:
            out.w(2, "Devices:\n")
            for device in devices:
                out.w(3, f"{device.device_path} from {device.name}\n")


def _describe_volumes(out: _Writer, volumes: Sequence[V1Volume] | None, space: str) -> None:
    if not volumes:
        out.w(0, f"{space}Volumes:\t<none>\n")
        return
    out.w(0, f"{space}Volumes:\n")
    for volume in volumes:
        out.w(1, f"{' ' if space else ''}{volume.name}:\n")
        if volume.host_path is not None:
            out.w(
                2,
                "Type:\tHostPath (bare host directory volume)\n"
                f"    Path:\t{volume.host_path.path}\n    HostPathType:\t{volume.host_path.type or '<none>'}\n",
            )
        elif volume.empty_dir is not None:
            limit = volume.empty_dir.size_limit or "<unset>"
            out.w(
                2,
                "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"
                f"    Medium:\t{volume.empty_dir.medium or ''}\n    SizeLimit:\t{limit}\n",
            )
        elif volume.secret is not None:
            out.w(
                2,
                "Type:\tSecret (a volume populated by a Secret)\n"
                f"    SecretName:\t{volume.secret.secret_name or ''}\n"
                f"    Optional:\t{_go_bool(volume.secret.optional)}\n",
            )
        elif volume.config_map is not None:
            out.w(
                2,
                "Type:\tConfigMap (a volume populated by a ConfigMap)\n"
                f"    Name:\t{volume.config_map.name or ''}\n    Optional:\t{_go_bool(volume.config_map.optional)}\n",
            )
        elif volume.persistent_volume_claim is not None:
            claim = volume.persistent_volume_claim
            out.w(
                2,
                "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n"
                f"    ClaimName:\t{claim.claim_name}\n    ReadOnly:\t{_go_bool(claim.read_only)}\n",
            )
        elif volume.projected is not None:
            out.w(2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
            for source in volume.projected.sources or []:
                if source.secret is not None:
                    out.w(
                        2,
                        f"SecretName:\t{source.secret.name or ''}\n    Optional:\t{_go_bool(source.secret.optional)}\n",
                    )
                elif source.downward_api is not None:
                    out.w(2, "DownwardAPI:\ttrue\n")
                elif source.config_map is not None:
                    out.w(
                        2,
                        f"ConfigMapName:\t{source.config_map.name or ''}\n"
                        f"    Optional:\t{_go_bool(source.config_map.optional)}\n",
                    )
                elif source.service_account_token is not None:
                    out.w(2, f"TokenExpirationSeconds:\t{source.service_account_token.expiration_seconds or 3607}\n")
        elif volume.downward_api is not None:
            out.w(2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n")
            for item in volume.downward_api.items or []:
                if item.field_ref is not None:
                    out.w(3, f"{item.field_ref.field_path} -> {item.path}\n")
                if item.resource_field_ref is not None:
                    out.w(3, f"{item.resource_field_ref.resource} -> {item.path}\n")
        elif volume.nfs is not None:
            out.w(
                2,
                "Type:\tNFS (an NFS mount that lasts the lifetime of a pod)\n"
                f"    Server:\t{volume.nfs.server}\n    Path:\t{volume.nfs.path}\n"
                f"    ReadOnly:\t{_go_bool(volume.nfs.read_only)}\n",
            )
        elif volume.csi is not None:
            out.w(
                2,
                "Type:\tCSI (a Container Storage Interface (CSI) volume source)\n"
                f"    Driver:\t{volume.csi.driver}\n    FSType:\t{volume.csi.fs_type or ''}\n"
                f"    ReadOnly:\t{_go_bool(volume.csi.read_only)}\n",
            )
        elif volume.ephemeral is not None:
            out.w(
                2,
                "Type:\tEphemeralVolume (an inline specification for a volume that gets created and deleted "
                "with the pod)\n",
            )
        else:
            out.w(1, "<unknown>\n")


def _pod_qos(pod: V1Pod) -> str:
    """The QoS class the kubelet would assign (status.qosClass when the API already reports it)."""
    if pod.status is not None and pod.status.qos_class:
        return pod.status.qos_class
    spec = pod.spec
    containers: list[V1Container] = list(spec.containers) + list(spec.init_containers or []) if spec else []
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for container in containers:
        res = container.resources or V1ResourceRequirements()
        for name in ("cpu", "memory"):
            value = _qty((res.requests or {}).get(name))
            if value > 0:
                requests[name] = requests.get(name, Decimal(0)) + value
        found = set()
        for name in ("cpu", "memory"):
            value = _qty((res.limits or {}).get(name))
            if value > 0:
                found.add(name)
                limits[name] = limits.get(name, Decimal(0)) + value
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    same = all(limits.get(name) == value for name, value in requests.items()) and len(requests) == len(limits)
    if guaranteed and same:
        return "Guaranteed"
    return "Burstable"


# --- pods ------------------------------------------------------------------------------------------


def describe_pod(pod: V1Pod, *, events: Sequence[CoreV1Event] | None, now: datetime) -> str:
    """`kubectl describe pod` (events=None leaves the Events section out, as --show-events=false does)."""
    out = _Writer()
    meta = _meta(pod)
    spec = pod.spec or V1PodSpec(containers=[])
    status = pod.status or V1PodStatus()
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"Namespace:\t{meta.namespace or ''}\n")
    if spec.priority is not None:
        out.w(0, f"Priority:\t{spec.priority}\n")
    if spec.priority_class_name:
        out.w(0, f"Priority Class Name:\t{spec.priority_class_name}\n")
    if spec.runtime_class_name:
        out.w(0, f"Runtime Class Name:\t{spec.runtime_class_name}\n")
    if spec.service_account_name:
        out.w(0, f"Service Account:\t{spec.service_account_name}\n")
    out.w(0, "Node:\t<none>\n" if not spec.node_name else f"Node:\t{spec.node_name}/{status.host_ip or ''}\n")
    if status.start_time is not None:
        out.w(0, f"Start Time:\t{_rfc1123z(status.start_time)}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    if meta.deletion_timestamp is not None and status.phase not in ("Failed", "Succeeded"):
        out.w(0, f"Status:\tTerminating (lasts {_since(meta.deletion_timestamp, now)})\n")
        out.w(0, f"Termination Grace Period:\t{meta.deletion_grace_period_seconds or 0}s\n")
    else:
        out.w(0, f"Status:\t{status.phase or ''}\n")
    if status.reason:
        out.w(0, f"Reason:\t{status.reason}\n")
    if status.message:
        out.w(0, f"Message:\t{status.message}\n")
    if spec.security_context is not None and spec.security_context.seccomp_profile is not None:
        out.w(0, f"SeccompProfile:\t{spec.security_context.seccomp_profile.type}\n")
    out.w(0, f"IP:\t{status.pod_ip or ''}\n")
    if not status.pod_ips:
        out.w(0, "IPs:\t<none>\n")
    else:
        out.w(0, "IPs:\n")
        for ip in status.pod_ips:
            out.w(1, f"IP:\t{ip.ip}\n")
    controlled_by = _controller(meta)
    if controlled_by:
        out.w(0, f"Controlled By:\t{controlled_by}\n")
    if status.nominated_node_name:
        out.w(0, f"NominatedNodeName:\t{status.nominated_node_name}\n")
    if spec.resources is not None:
        out.w(0, "Resources:\n")
        _describe_resources(out, spec.resources, 1)
    if spec.init_containers:
        _describe_containers(out, "Init Containers", spec.init_containers, status.init_container_statuses, "", pod)
    _describe_containers(out, "Containers", spec.containers, status.container_statuses, "", pod)
    if spec.ephemeral_containers:
        _describe_containers(
            out, "Ephemeral Containers", spec.ephemeral_containers, status.ephemeral_container_statuses, "", pod
        )
    if spec.readiness_gates:
        out.w(0, "Readiness Gates:\n  Type\tStatus\n")
        for gate in spec.readiness_gates:
            gate_status = next((c.status for c in status.conditions or [] if c.type == gate.condition_type), "<none>")
            out.w(1, f"{gate.condition_type} \t{gate_status} \n")
    if status.conditions:
        out.w(0, "Conditions:\n  Type\tStatus\n")
        for cond in status.conditions:
            out.w(1, f"{cond.type} \t{cond.status} \n")
    _describe_volumes(out, spec.volumes, "")
    out.w(0, f"QoS Class:\t{_pod_qos(pod)}\n")
    _labels_multiline(out, "Node-Selectors", spec.node_selector)
    _tolerations_multiline(out, "Tolerations", spec.tolerations)
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def _print_pod(pod: V1Pod) -> tuple[str, int, int, int, datetime | None]:
    """printers.go printPod: (STATUS reason, ready containers, total containers, restarts, last restart)."""
    meta = _meta(pod)
    spec = pod.spec or V1PodSpec(containers=[])
    status = pod.status or V1PodStatus()
    conditions = status.conditions or []
    reason = status.reason or status.phase or ""
    for cond in conditions:
        if cond.type == "PodScheduled" and cond.reason == "SchedulingGated":
            reason = "SchedulingGated"
    restartable = {c.name for c in spec.init_containers or [] if c.restart_policy == "Always"}
    total = len(spec.containers) + len(restartable)
    ready = 0
    restarts = restartable_restarts = 0
    last: datetime | None = None
    last_restartable: datetime | None = None

    def later(current: datetime | None, cs: V1ContainerStatus) -> datetime | None:
        term = cs.last_state.terminated if cs.last_state is not None else None
        if term is None or term.finished_at is None:
            return current
        finished = _utc(term.finished_at)
        return finished if current is None or finished > current else current

    initializing = False
    for i, ics in enumerate(status.init_container_statuses or []):
        state = ics.state or V1ContainerState()
        restarts += ics.restart_count or 0
        last = later(last, ics)
        if ics.name in restartable:
            restartable_restarts += ics.restart_count or 0
            last_restartable = later(last_restartable, ics)
        if state.terminated is not None and state.terminated.exit_code == 0:
            continue
        if ics.name in restartable and ics.started:
            ready += 1 if ics.ready else 0
            continue
        if state.terminated is not None:
            term = state.terminated
            if term.reason:
                reason = "Init:" + term.reason
            else:
                reason = f"Init:Signal:{term.signal}" if term.signal else f"Init:ExitCode:{term.exit_code}"
        elif state.waiting is not None and state.waiting.reason and state.waiting.reason != "PodInitializing":
            reason = "Init:" + state.waiting.reason
        else:
            reason = f"Init:{i}/{len(spec.init_containers or [])}"
        initializing = True
        break
    if not initializing or any(c.type == "Initialized" and c.status == "True" for c in conditions):
        restarts, last = restartable_restarts, last_restartable
        has_running = False
        for cs in reversed(status.container_statuses or []):
            state = cs.state or V1ContainerState()
            restarts += cs.restart_count or 0
            last = later(last, cs)
            if state.waiting is not None and state.waiting.reason:
                reason = state.waiting.reason
            elif state.terminated is not None and state.terminated.reason:
                reason = state.terminated.reason
            elif state.terminated is not None:
                term = state.terminated
                reason = f"Signal:{term.signal}" if term.signal else f"ExitCode:{term.exit_code}"
            elif cs.ready and state.running is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
            reason = "Running" if pod_ready else "NotReady"
    if meta.deletion_timestamp is not None and status.reason == "NodeLost":
        reason = "Unknown"
    elif meta.deletion_timestamp is not None and status.phase not in ("Failed", "Succeeded"):
        reason = "Terminating"
    return reason, ready, total, restarts, last


def pod_status(pod: V1Pod) -> str:
    """The STATUS column of `kubectl get pods`: CrashLoopBackOff, OOMKilled, Init:0/1, Terminating, ..."""
    return _print_pod(pod)[0]


def _pod_row(pod: V1Pod, now: datetime) -> list[str]:
    meta = _meta(pod)
    spec = pod.spec or V1PodSpec(containers=[])
    status = pod.status or V1PodStatus()
    reason, ready, total, restarts, last_restart = _print_pod(pod)
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({_since(last_restart, now)} ago)"
    # kubectl reads podIPs only; hand-built objects often carry just podIP.
    ip = status.pod_ips[0].ip if status.pod_ips else status.pod_ip
    gates = "<none>"
    if spec.readiness_gates:
        true = sum(
            1
            for gate in spec.readiness_gates
            if any(c.type == gate.condition_type and c.status == "True" for c in status.conditions or [])
        )
        gates = f"{true}/{len(spec.readiness_gates)}"
    return [
        meta.name or "",
        f"{ready}/{total}",
        reason,
        restarts_text,
        _since(meta.creation_timestamp, now),
        ip or "<none>",
        spec.node_name or "<none>",
        status.nominated_node_name or "<none>",
        gates,
    ]


def get_pods(pods: Sequence[V1Pod], *, now: datetime, with_namespace: bool = False) -> str:
    """`kubectl get pods -o wide`."""
    header = ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    return _namespaced_table(header, pods, lambda p: _pod_row(p, now), with_namespace)


def _namespaced_table(header: list[str], objs: Sequence[Any], row: Any, with_namespace: bool) -> str:
    rows = []
    for obj in objs:
        cells = row(obj)
        if with_namespace:
            cells.insert(0, _meta(obj).namespace or "")
        rows.append(cells)
    return _table(["Namespace", *header] if with_namespace else header, rows)


# --- pod templates, deployments, replica sets ---------------------------------------------------------


def _describe_pod_template(out: _Writer, template: V1PodTemplateSpec | None) -> None:
    out.w(0, "Pod Template:\n")
    if template is None:
        out.w(1, "<unset>")
        return
    meta = _meta(template)
    spec = template.spec or V1PodSpec(containers=[])
    _labels_multiline(out, "  Labels", meta.labels)
    if meta.annotations:
        _annotations_multiline(out, "  Annotations", meta.annotations)
    if spec.service_account_name:
        out.w(1, f"Service Account:\t{spec.service_account_name}\n")
    if spec.init_containers:
        _describe_containers(out, "Init Containers", spec.init_containers, None, "  ", None)
    _describe_containers(out, "Containers", spec.containers, None, "  ", None)
    _describe_volumes(out, spec.volumes, "  ")
    if spec.priority_class_name:
        out.w(1, f"Priority Class Name:\t{spec.priority_class_name}\n")
    _labels_multiline(out, "  Node-Selectors", spec.node_selector)
    _tolerations_multiline(out, "  Tolerations", spec.tolerations)


def _int_or_string(value: int | str | None) -> str:
    return "" if value is None else str(value)


def _rs_summary(replica_sets: Sequence[V1ReplicaSet]) -> str:
    parts = []
    for rs in replica_sets:
        spec = rs.spec or V1ReplicaSetSpec(selector=V1LabelSelector())
        status = rs.status or V1ReplicaSetStatus(replicas=0)
        desired = spec.replicas if spec.replicas is not None else 1
        parts.append(f"{_meta(rs).name} ({status.replicas or 0}/{desired} replicas created)")
    return ", ".join(parts) or "<none>"


def describe_deployment(
    deployment: V1Deployment,
    *,
    old_replica_sets: Sequence[V1ReplicaSet],
    new_replica_set: V1ReplicaSet | None,
    events: Sequence[CoreV1Event] | None,
    now: datetime,
) -> str:
    """`kubectl describe deployment`."""
    out = _Writer()
    meta = _meta(deployment)
    spec = deployment.spec or V1DeploymentSpec(selector=V1LabelSelector(), template=V1PodTemplateSpec())
    status = deployment.status or V1DeploymentStatus()
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"Namespace:\t{meta.namespace or ''}\n")
    out.w(0, f"CreationTimestamp:\t{_rfc1123z(meta.creation_timestamp)}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    out.w(0, f"Selector:\t{_format_selector(spec.selector)}\n")
    desired = spec.replicas if spec.replicas is not None else 1
    out.w(
        0,
        f"Replicas:\t{desired} desired | {status.updated_replicas or 0} updated | {status.replicas or 0} total | "
        f"{status.available_replicas or 0} available | {status.unavailable_replicas or 0} unavailable\n",
    )
    strategy = spec.strategy
    out.w(0, f"StrategyType:\t{(strategy.type if strategy else None) or ''}\n")
    out.w(0, f"MinReadySeconds:\t{spec.min_ready_seconds or 0}\n")
    if strategy is not None and strategy.rolling_update is not None:
        ru = strategy.rolling_update
        out.w(
            0,
            f"RollingUpdateStrategy:\t{_int_or_string(ru.max_unavailable)} max unavailable, "
            f"{_int_or_string(ru.max_surge)} max surge\n",
        )
    _describe_pod_template(out, spec.template)
    if status.conditions:
        out.w(0, "Conditions:\n  Type\tStatus\tReason\n")
        out.w(1, "----\t------\t------\n")
        for cond in status.conditions:
            out.w(1, f"{cond.type} \t{cond.status}\t{cond.reason or ''}\n")
    if old_replica_sets or new_replica_set is not None:
        out.w(0, f"OldReplicaSets:\t{_rs_summary(old_replica_sets)}\n")
        out.w(0, f"NewReplicaSet:\t{_rs_summary([new_replica_set] if new_replica_set else [])}\n")
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def _phase_counts(pods: Sequence[V1Pod]) -> str:
    phases = [(p.status.phase if p.status else None) or "" for p in pods]
    return (
        f"{phases.count('Running')} Running / {phases.count('Pending')} Waiting / "
        f"{phases.count('Succeeded')} Succeeded / {phases.count('Failed')} Failed"
    )


def describe_replica_set(
    replica_set: V1ReplicaSet, *, pods: Sequence[V1Pod], events: Sequence[CoreV1Event] | None, now: datetime
) -> str:
    """`kubectl describe replicaset` (`pods` = the pods this ReplicaSet controls)."""
    out = _Writer()
    meta = _meta(replica_set)
    spec = replica_set.spec or V1ReplicaSetSpec(selector=V1LabelSelector())
    status = replica_set.status or V1ReplicaSetStatus(replicas=0)
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"Namespace:\t{meta.namespace or ''}\n")
    out.w(0, f"Selector:\t{_format_selector(spec.selector, none='<none>')}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    controlled_by = _controller(meta)
    if controlled_by:
        out.w(0, f"Controlled By:\t{controlled_by}\n")
    desired = spec.replicas if spec.replicas is not None else 1
    out.w(0, f"Replicas:\t{status.replicas or 0} current / {desired} desired\n")
    out.w(0, f"Pods Status:\t{_phase_counts(pods)}\n")
    _describe_pod_template(out, spec.template)
    if status.conditions:
        out.w(0, "Conditions:\n  Type\tStatus\tReason\n")
        out.w(1, "----\t------\t------\n")
        for cond in status.conditions:
            out.w(1, f"{cond.type} \t{cond.status}\t{cond.reason or ''}\n")
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def _containers_and_images(template: V1PodTemplateSpec | None) -> tuple[str, str]:
    containers = template.spec.containers if template is not None and template.spec is not None else []
    return ",".join(c.name for c in containers), ",".join(c.image or "" for c in containers)


def get_deployments(deployments: Sequence[V1Deployment], *, now: datetime, with_namespace: bool = False) -> str:
    """`kubectl get deployments -o wide`."""

    def row(d: V1Deployment) -> list[str]:
        spec = d.spec or V1DeploymentSpec(selector=V1LabelSelector(), template=V1PodTemplateSpec())
        status = d.status or V1DeploymentStatus()
        desired = spec.replicas if spec.replicas is not None else 1
        names, images = _containers_and_images(spec.template)
        return [
            _meta(d).name or "",
            f"{status.ready_replicas or 0}/{desired}",
            str(status.updated_replicas or 0),
            str(status.available_replicas or 0),
            _since(_meta(d).creation_timestamp, now),
            names,
            images,
            _format_selector(spec.selector),
        ]

    header = ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]
    return _namespaced_table(header, deployments, row, with_namespace)


def get_replica_sets(replica_sets: Sequence[V1ReplicaSet], *, now: datetime, with_namespace: bool = False) -> str:
    """`kubectl get replicasets -o wide`."""

    def row(rs: V1ReplicaSet) -> list[str]:
        spec = rs.spec or V1ReplicaSetSpec(selector=V1LabelSelector())
        status = rs.status or V1ReplicaSetStatus(replicas=0)
        names, images = _containers_and_images(spec.template)
        return [
            _meta(rs).name or "",
            str(spec.replicas if spec.replicas is not None else 1),
            str(status.replicas or 0),
            str(status.ready_replicas or 0),
            _since(_meta(rs).creation_timestamp, now),
            names,
            images,
            _format_selector(spec.selector, none="<none>"),
        ]

    header = ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"]
    return _namespaced_table(header, replica_sets, row, with_namespace)


# --- nodes -----------------------------------------------------------------------------------------


def _node_roles(node: V1Node) -> list[str]:
    roles = set()
    for key, value in (_meta(node).labels or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return sorted(roles)


def _pod_requests_limits(pod: V1Pod) -> tuple[dict[str, Decimal], dict[str, Decimal], set[str]]:
    """resourcehelper.PodRequestsAndLimits: sum of containers, at least the largest init container."""
    spec = pod.spec or V1PodSpec(containers=[])
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    binary: set[str] = set()
    for container in spec.containers:
        res = container.resources or V1ResourceRequirements()
        for target, values in ((requests, res.requests), (limits, res.limits)):
            for name, value in (values or {}).items():
                target[name] = target.get(name, Decimal(0)) + _qty(value)
                if value.endswith("i"):
                    binary.add(name)
    for container in spec.init_containers or []:
        res = container.resources or V1ResourceRequirements()
        for target, values in ((requests, res.requests), (limits, res.limits)):
            for name, value in (values or {}).items():
                target[name] = max(target.get(name, Decimal(0)), _qty(value))
                if value.endswith("i"):
                    binary.add(name)
    for name, value in (spec.overhead or {}).items():
        for target in (requests, limits):
            if name in target:
                target[name] += _qty(value)
    return requests, limits, binary


def _percent(part: Decimal, whole: Decimal) -> int:
    return int(part / whole * 100) if whole else 0


def _describe_node_resources(out: _Writer, node: V1Node, pods: Sequence[V1Pod], now: datetime) -> None:
    status = node.status or V1NodeStatus()
    allocatable = status.allocatable or status.capacity or {}
    cpu_total = _qty(allocatable.get("cpu"))
    mem_total = _qty(allocatable.get("memory"))
    eph_total = _qty(allocatable.get("ephemeral-storage"))
    out.w(0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    out.w(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
    out.w(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
    totals_req: dict[str, Decimal] = {}
    totals_lim: dict[str, Decimal] = {}
    binary: set[str] = set()
    for pod in pods:
        req, lim, pod_binary = _pod_requests_limits(pod)
        binary |= pod_binary
        for target, values in ((totals_req, req), (totals_lim, lim)):
            for name, value in values.items():
                target[name] = target.get(name, Decimal(0)) + value
        cpu_r, cpu_l = req.get("cpu", Decimal(0)), lim.get("cpu", Decimal(0))
        mem_r, mem_l = req.get("memory", Decimal(0)), lim.get("memory", Decimal(0))
        mem_bin = "memory" in pod_binary
        meta = _meta(pod)
        out.w(
            1,
            f"{meta.namespace or ''}\t{meta.name or ''}\t\t"
            f"{_format_qty(cpu_r, binary=False)} ({_percent(cpu_r, cpu_total)}%)\t"
            f"{_format_qty(cpu_l, binary=False)} ({_percent(cpu_l, cpu_total)}%)\t"
            f"{_format_qty(mem_r, binary=mem_bin)} ({_percent(mem_r, mem_total)}%)\t"
            f"{_format_qty(mem_l, binary=mem_bin)} ({_percent(mem_l, mem_total)}%)\t"
            f"{_since(meta.creation_timestamp, now)}\n",
        )
    out.w(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
    out.w(1, "Resource\tRequests\tLimits\n")
    out.w(1, "--------\t--------\t------\n")
    for name, total in (("cpu", cpu_total), ("memory", mem_total), ("ephemeral-storage", eph_total)):
        used, cap = totals_req.get(name, Decimal(0)), totals_lim.get(name, Decimal(0))
        is_bin = name in binary
        out.w(
            1,
            f"{name}\t{_format_qty(used, binary=is_bin)} ({_percent(used, total)}%)\t"
            f"{_format_qty(cap, binary=is_bin)} ({_percent(cap, total)}%)\n",
        )
    standard = {"cpu", "memory", "ephemeral-storage", "pods", "storage"}
    for name in sorted(allocatable):
        if name.startswith("hugepages-"):
            used, cap, total = (
                totals_req.get(name, Decimal(0)),
                totals_lim.get(name, Decimal(0)),
                _qty(allocatable[name]),
            )
            out.w(
                1,
                f"{name}\t{_format_qty(used, binary=True)} ({_percent(used, total)}%)\t"
                f"{_format_qty(cap, binary=True)} ({_percent(cap, total)}%)\n",
            )
    for name in sorted(allocatable):
        if name not in standard and not name.startswith("hugepages-"):
            out.w(
                1,
                f"{name}\t{_format_qty(totals_req.get(name, Decimal(0)), binary=False)}\t"
                f"{_format_qty(totals_lim.get(name, Decimal(0)), binary=False)}\n",
            )


def describe_node(
    node: V1Node, *, pods: Sequence[V1Pod] | None, events: Sequence[CoreV1Event] | None, now: datetime
) -> str:
    """`kubectl describe node` (`pods` = the node's non-terminated pods; None = not allowed to list them)."""
    out = _Writer()
    meta = _meta(node)
    spec = node.spec or V1NodeSpec()
    status = node.status or V1NodeStatus()
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"Roles:\t{','.join(_node_roles(node)) or '<none>'}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    out.w(0, f"CreationTimestamp:\t{_rfc1123z(meta.creation_timestamp)}\n")
    taints = sorted(spec.taints or [], key=lambda t: f"{t.effect},{t.key}")
    out.w(0, "Taints:\t")
    if not taints:
        out.w(0, "<none>\n")
    for i, taint in enumerate(taints):
        if i:
            out.w(0, "\t")
        value = f"={taint.value}" if taint.value else ""
        out.w(0, f"{taint.key}{value}:{taint.effect}\n")
    out.w(0, f"Unschedulable:\t{_go_bool(spec.unschedulable)}\n")
    if status.conditions:
        out.w(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
        out.w(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for cond in status.conditions:
            out.w(
                1,
                f"{cond.type} \t{cond.status} \t{_rfc1123z(cond.last_heartbeat_time)} \t"
                f"{_rfc1123z(cond.last_transition_time)} \t{cond.reason or ''} \t{cond.message or ''}\n",
            )
    out.w(0, "Addresses:\n")
    for address in status.addresses or []:
        out.w(1, f"{address.type}:\t{address.address}\n")
    for title, resources in (("Capacity", status.capacity), ("Allocatable", status.allocatable)):
        if resources:
            out.w(0, f"{title}:\n")
            for name, value in sorted(resources.items()):
                out.w(0, f"  {name}:\t{value}\n")
    info = status.node_info
    out.w(0, "System Info:\n")
    for label, value in (
        ("Machine ID", info.machine_id if info else ""),
        ("System UUID", info.system_uuid if info else ""),
        ("Boot ID", info.boot_id if info else ""),
        ("Kernel Version", info.kernel_version if info else ""),
        ("OS Image", info.os_image if info else ""),
        ("Operating System", info.operating_system if info else ""),
        ("Architecture", info.architecture if info else ""),
        ("Container Runtime Version", info.container_runtime_version if info else ""),
        ("Kubelet Version", info.kubelet_version if info else ""),
        ("Kube-Proxy Version", info.kube_proxy_version if info else ""),
    ):
        out.w(0, f"  {label}:\t{value or ''}\n")
    if spec.pod_cidr:
        out.w(0, f"PodCIDR:\t{spec.pod_cidr}\n")
    if spec.pod_cidrs:
        out.w(0, f"PodCIDRs:\t{','.join(spec.pod_cidrs)}\n")
    if spec.provider_id:
        out.w(0, f"ProviderID:\t{spec.provider_id}\n")
    if pods is not None:
        _describe_node_resources(out, node, pods, now)
    else:
        out.w(0, "Pods:\tnot authorized\n")
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def get_nodes(nodes: Sequence[V1Node], *, now: datetime) -> str:
    """`kubectl get nodes -o wide`."""
    rows = []
    for node in nodes:
        spec = node.spec or V1NodeSpec()
        status = node.status or V1NodeStatus()
        ready = next((c for c in status.conditions or [] if c.type == "Ready"), None)
        states = ["Unknown"] if ready is None else ["Ready" if ready.status == "True" else "NotReady"]
        if spec.unschedulable:
            states.append("SchedulingDisabled")
        info = status.node_info
        addresses = status.addresses or []
        internal = next((a.address for a in addresses if a.type == "InternalIP"), "<none>")
        external = next((a.address for a in addresses if a.type == "ExternalIP"), "<none>")
        rows.append(
            [
                _meta(node).name or "",
                ",".join(states),
                ",".join(_node_roles(node)) or "<none>",
                _since(_meta(node).creation_timestamp, now),
                (info.kubelet_version if info else "") or "",
                internal,
                external,
                (info.os_image if info else "") or "<unknown>",
                (info.kernel_version if info else "") or "<unknown>",
                (info.container_runtime_version if info else "") or "<unknown>",
            ]
        )
    header = ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image"]
    return _table([*header, "Kernel-Version", "Container-Runtime"], rows)


# --- storage ---------------------------------------------------------------------------------------


def _pvc_class(pvc: V1PersistentVolumeClaim) -> str:
    beta = (_meta(pvc).annotations or {}).get("volume.beta.kubernetes.io/storage-class")
    if beta is not None:
        return beta
    return (pvc.spec.storage_class_name if pvc.spec else None) or ""


def _pv_class(pv: V1PersistentVolume) -> str:
    beta = (_meta(pv).annotations or {}).get("volume.beta.kubernetes.io/storage-class")
    if beta is not None:
        return beta
    return (pv.spec.storage_class_name if pv.spec else None) or ""


def describe_pvc(
    pvc: V1PersistentVolumeClaim,
    *,
    used_by: Sequence[V1Pod],
    events: Sequence[CoreV1Event] | None,
    now: datetime,
) -> str:
    """`kubectl describe pvc` (`used_by` = the pods mounting it)."""
    out = _Writer()
    meta = _meta(pvc)
    spec = pvc.spec or V1PersistentVolumeClaimSpec()
    status = pvc.status or V1PersistentVolumeClaimStatus()
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"Namespace:\t{meta.namespace or ''}\n")
    out.w(0, f"StorageClass:\t{_pvc_class(pvc)}\n")
    if meta.deletion_timestamp is not None:
        out.w(0, f"Status:\tTerminating (lasts {_since(meta.deletion_timestamp, now)})\n")
    else:
        out.w(0, f"Status:\t{status.phase or ''}\n")
    out.w(0, f"Volume:\t{spec.volume_name or ''}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    out.w(0, f"Finalizers:\t{_go_list(meta.finalizers)}\n")
    capacity = access = ""
    if spec.volume_name:
        access = _access_modes(status.access_modes)
        capacity = (status.capacity or {}).get("storage", "0")
    out.w(0, f"Capacity:\t{capacity}\n")
    out.w(0, f"Access Modes:\t{access}\n")
    if spec.volume_mode:
        out.w(0, f"VolumeMode:\t{spec.volume_mode}\n")
    if spec.data_source is not None:
        out.w(0, "DataSource:\n")
        if spec.data_source.api_group:
            out.w(1, f"APIGroup:\t{spec.data_source.api_group}\n")
        out.w(1, f"Kind:\t{spec.data_source.kind}\n")
        out.w(1, f"Name:\t{spec.data_source.name}\n")
    out.w(0, "Used By:\t")
    names = sorted(_meta(p).name or "" for p in used_by)
    if not names:
        out.w(0, "<none>\n")
    for i, name in enumerate(names):
        out.w(0, f"\t{name}\n" if i else f"{name}\n")
    if status.conditions:
        out.w(0, "Conditions:\n")
        out.w(1, "Type\tStatus\tLastProbeTime\tLastTransitionTime\tReason\tMessage\n")
        out.w(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for cond in status.conditions:
            out.w(
                1,
                f"{cond.type} \t{cond.status} \t{_rfc1123z(cond.last_probe_time)} \t"
                f"{_rfc1123z(cond.last_transition_time)} \t{cond.reason or ''} \t{cond.message or ''}\n",
            )
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def get_pvcs(pvcs: Sequence[V1PersistentVolumeClaim], *, now: datetime, with_namespace: bool = False) -> str:
    """`kubectl get pvc -o wide`."""

    def row(pvc: V1PersistentVolumeClaim) -> list[str]:
        meta = _meta(pvc)
        spec = pvc.spec or V1PersistentVolumeClaimSpec()
        status = pvc.status or V1PersistentVolumeClaimStatus()
        capacity = access = ""
        if spec.volume_name:
            access = _access_modes(status.access_modes)
            capacity = (status.capacity or {}).get("storage", "0")
        phase = "Terminating" if meta.deletion_timestamp is not None else (status.phase or "")
        return [
            meta.name or "",
            phase,
            spec.volume_name or "",
            capacity,
            access,
            _pvc_class(pvc),
            spec.volume_attributes_class_name or "<unset>",
            _since(meta.creation_timestamp, now),
            spec.volume_mode or "<unset>",
        ]

    header = ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass"]
    return _namespaced_table([*header, "Age", "VolumeMode"], pvcs, row, with_namespace)


def describe_pv(pv: V1PersistentVolume, *, events: Sequence[CoreV1Event] | None, now: datetime) -> str:
    """`kubectl describe pv`."""
    out = _Writer()
    meta = _meta(pv)
    spec = pv.spec or V1PersistentVolumeSpec()
    status = pv.status or V1PersistentVolumeStatus()
    out.w(0, f"Name:\t{meta.name or ''}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    out.w(0, f"Finalizers:\t{_go_list(meta.finalizers)}\n")
    out.w(0, f"StorageClass:\t{_pv_class(pv)}\n")
    if meta.deletion_timestamp is not None:
        out.w(0, f"Status:\tTerminating (lasts {_since(meta.deletion_timestamp, now)})\n")
    else:
        out.w(0, f"Status:\t{status.phase or ''}\n")
    claim = spec.claim_ref
    out.w(0, f"Claim:\t{f'{claim.namespace}/{claim.name}' if claim else ''}\n")
    out.w(0, f"Reclaim Policy:\t{spec.persistent_volume_reclaim_policy or ''}\n")
    out.w(0, f"Access Modes:\t{_access_modes(spec.access_modes)}\n")
    if spec.volume_mode:
        out.w(0, f"VolumeMode:\t{spec.volume_mode}\n")
    out.w(0, f"Capacity:\t{(spec.capacity or {}).get('storage', '0')}\n")
    required = spec.node_affinity.required if spec.node_affinity else None
    if required is None:
        out.w(0, "Node Affinity:\t<none>\n")
    else:
        out.w(0, "Node Affinity:\t\n")
        out.w(1, "Required Terms:\t" + ("<none>\n" if not required.node_selector_terms else "\n"))
        for i, term in enumerate(required.node_selector_terms or []):
            out.w(2, f"Term {i}:\t")
            exprs = term.match_expressions or []
            if not exprs:
                out.w(0, "<none>\n")
            for j, req in enumerate(exprs):
                if j:
                    out.w(2, "\t")
                text = f"{req.key} {req.operator.lower()}"
                if req.values:
                    text += f" [{', '.join(req.values)}]"
                out.w(0, text + "\n")
    out.w(0, f"Message:\t{status.message or ''}\n")
    out.w(0, "Source:\n")
    if spec.host_path is not None:
        out.w(
            2,
            "Type:\tHostPath (bare host directory volume)\n"
            f"    Path:\t{spec.host_path.path}\n    HostPathType:\t{spec.host_path.type or '<none>'}\n",
        )
    elif spec.nfs is not None:
        out.w(
            2,
            "Type:\tNFS (an NFS mount that lasts the lifetime of a pod)\n"
            f"    Server:\t{spec.nfs.server}\n    Path:\t{spec.nfs.path}\n    ReadOnly:\t{_go_bool(spec.nfs.read_only)}\n",
        )
    elif spec.local is not None:
        out.w(
            2,
            f"Type:\tLocalVolume (a persistent volume backed by local storage on a node)\n    Path:\t{spec.local.path}\n",
        )
    elif spec.csi is not None:
        out.w(
            2,
            "Type:\tCSI (a Container Storage Interface (CSI) volume source)\n"
            f"    Driver:\t{spec.csi.driver}\n    FSType:\t{spec.csi.fs_type or ''}\n"
            f"    VolumeHandle:\t{spec.csi.volume_handle}\n    ReadOnly:\t{_go_bool(spec.csi.read_only)}\n",
        )
    else:
        out.w(1, "<unknown>\n")
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def get_pvs(pvs: Sequence[V1PersistentVolume], *, now: datetime) -> str:
    """`kubectl get pv -o wide`."""
    rows = []
    for pv in pvs:
        meta = _meta(pv)
        spec = pv.spec or V1PersistentVolumeSpec()
        status = pv.status or V1PersistentVolumeStatus()
        claim = f"{spec.claim_ref.namespace or ''}/{spec.claim_ref.name or ''}" if spec.claim_ref else ""
        rows.append(
            [
                meta.name or "",
                (spec.capacity or {}).get("storage", "0"),
                _access_modes(spec.access_modes),
                spec.persistent_volume_reclaim_policy or "",
                "Terminating" if meta.deletion_timestamp is not None else (status.phase or ""),
                claim,
                _pv_class(pv),
                spec.volume_attributes_class_name or "<unset>",
                status.reason or "",
                _since(meta.creation_timestamp, now),
                spec.volume_mode or "<unset>",
            ]
        )
    header = ["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass"]
    return _table([*header, "VolumeAttributesClass", "Reason", "Age", "VolumeMode"], rows)


def _is_default_class(meta: V1ObjectMeta) -> bool:
    annotations = meta.annotations or {}
    return "true" in (
        annotations.get("storageclass.kubernetes.io/is-default-class"),
        annotations.get("storageclass.beta.kubernetes.io/is-default-class"),
    )


def describe_storage_class(sc: V1StorageClass, *, events: Sequence[CoreV1Event] | None, now: datetime) -> str:
    """`kubectl describe storageclass`."""
    out = _Writer()
    meta = _meta(sc)
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"IsDefaultClass:\t{'Yes' if _is_default_class(meta) else 'No'}\n")
    out.w(0, f"Annotations:\t{_format_labels(meta.annotations)}\n")
    out.w(0, f"Provisioner:\t{sc.provisioner}\n")
    out.w(0, f"Parameters:\t{_format_labels(sc.parameters)}\n")
    out.w(
        0,
        f"AllowVolumeExpansion:\t{'<unset>' if sc.allow_volume_expansion is None else _title_bool(sc.allow_volume_expansion)}\n",
    )
    if not sc.mount_options:
        out.w(0, "MountOptions:\t<none>\n")
    else:
        out.w(0, "MountOptions:\n")
        for option in sc.mount_options:
            out.w(1, f"{option}\n")
    if sc.reclaim_policy:
        out.w(0, f"ReclaimPolicy:\t{sc.reclaim_policy}\n")
    if sc.volume_binding_mode:
        out.w(0, f"VolumeBindingMode:\t{sc.volume_binding_mode}\n")
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def get_storage_classes(classes: Sequence[V1StorageClass], *, now: datetime) -> str:
    """`kubectl get storageclass`."""
    rows = []
    for sc in classes:
        meta = _meta(sc)
        name = (meta.name or "") + (" (default)" if _is_default_class(meta) else "")
        rows.append(
            [
                name,
                sc.provisioner,
                sc.reclaim_policy or "Delete",
                sc.volume_binding_mode or "Immediate",
                _go_bool(sc.allow_volume_expansion),
                _since(meta.creation_timestamp, now),
            ]
        )
    header = ["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"]
    return _table(header, rows)


# --- jobs ------------------------------------------------------------------------------------------


def describe_job(job: V1Job, *, events: Sequence[CoreV1Event] | None, now: datetime) -> str:
    """`kubectl describe job` (kubectl prints no Conditions for jobs; the reason is in the events)."""
    out = _Writer()
    meta = _meta(job)
    spec = job.spec or V1JobSpec(template=V1PodTemplateSpec())
    status = job.status or V1JobStatus()
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"Namespace:\t{meta.namespace or ''}\n")
    out.w(0, f"Selector:\t{_format_selector(spec.selector)}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    controlled_by = _controller(meta)
    if controlled_by:
        out.w(0, f"Controlled By:\t{controlled_by}\n")
    if spec.parallelism is not None:
        out.w(0, f"Parallelism:\t{spec.parallelism}\n")
    out.w(0, f"Completions:\t{spec.completions if spec.completions is not None else '<unset>'}\n")
    if spec.completion_mode:
        out.w(0, f"Completion Mode:\t{spec.completion_mode}\n")
    if spec.suspend is not None:
        out.w(0, f"Suspend:\t{_go_bool(spec.suspend)}\n")
    if spec.backoff_limit is not None:
        out.w(0, f"Backoff Limit:\t{spec.backoff_limit}\n")
    if spec.ttl_seconds_after_finished is not None:
        out.w(0, f"TTL Seconds After Finished:\t{spec.ttl_seconds_after_finished}\n")
    if status.start_time is not None:
        out.w(0, f"Start Time:\t{_rfc1123z(status.start_time)}\n")
    if status.completion_time is not None:
        out.w(0, f"Completed At:\t{_rfc1123z(status.completion_time)}\n")
    if status.start_time is not None and status.completion_time is not None:
        took = (_utc(status.completion_time) - _utc(status.start_time)).total_seconds()
        out.w(0, f"Duration:\t{human_duration(took)}\n")
    if spec.active_deadline_seconds is not None:
        out.w(0, f"Active Deadline Seconds:\t{spec.active_deadline_seconds}s\n")
    counts = f"{status.succeeded or 0} Succeeded / {status.failed or 0} Failed"
    if status.ready is None:
        out.w(0, f"Pods Statuses:\t{status.active or 0} Active / {counts}\n")
    else:
        out.w(0, f"Pods Statuses:\t{status.active or 0} Active ({status.ready} Ready) / {counts}\n")
    if spec.completion_mode == "Indexed":
        indexes = status.completed_indexes or "<none>"
        out.w(0, f"Completed Indexes:\t{indexes}\n")
    _describe_pod_template(out, spec.template)
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def _job_status(job: V1Job) -> str:
    conditions = {c.type: c.status == "True" for c in (job.status.conditions if job.status else None) or []}
    if conditions.get("Complete"):
        return "Complete"
    if conditions.get("Failed"):
        return "Failed"
    if _meta(job).deletion_timestamp is not None:
        return "Terminating"
    if conditions.get("Suspended"):
        return "Suspended"
    if conditions.get("FailureTarget"):
        return "FailureTarget"
    return "Running"


def get_jobs(jobs: Sequence[V1Job], *, now: datetime, with_namespace: bool = False) -> str:
    """`kubectl get jobs -o wide`."""

    def row(job: V1Job) -> list[str]:
        spec = job.spec or V1JobSpec(template=V1PodTemplateSpec())
        status = job.status or V1JobStatus()
        if spec.completions is not None:
            completions = f"{status.succeeded or 0}/{spec.completions}"
        elif (spec.parallelism or 0) > 1:
            completions = f"{status.succeeded or 0}/1 of {spec.parallelism}"
        else:
            completions = f"{status.succeeded or 0}/1"
        took = ""
        if status.start_time is not None:
            end = status.completion_time or now
            took = human_duration((_utc(end) - _utc(status.start_time)).total_seconds())
        names, images = _containers_and_images(spec.template)
        return [
            _meta(job).name or "",
            _job_status(job),
            completions,
            took,
            _since(_meta(job).creation_timestamp, now),
            names,
            images,
            _format_selector(spec.selector, none="<none>"),
        ]

    header = ["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    return _namespaced_table(header, jobs, row, with_namespace)


# --- services and endpoints ---------------------------------------------------------------------------


def _format_endpoints(endpoints: V1Endpoints | None, port_name: str | None) -> str:
    """printers.formatEndpoints: ready ip:port pairs, at most three, then "+ N more..."."""
    if endpoints is None or not endpoints.subsets:
        return "<none>"
    listed: list[str] = []
    count = 0
    more = False
    for subset in endpoints.subsets:
        addresses = subset.addresses or []
        if not subset.ports:
            count += len(addresses)
            for address in addresses:
                if len(listed) == 3:
                    more = True
                    break
                listed.append(address.ip)
            continue
        for port in subset.ports:
            if port_name is None or (port.name or "") == port_name:
                count += len(addresses)
                for address in addresses:
                    if len(listed) == 3:
                        more = True
                        break
                    host = f"[{address.ip}]" if ":" in address.ip else address.ip
                    listed.append(f"{host}:{port.port}")
    text = ",".join(listed)
    return f"{text} + {count - 3} more..." if more else text


def describe_service(
    service: V1Service, *, endpoints: V1Endpoints | None, events: Sequence[CoreV1Event] | None, now: datetime
) -> str:
    """`kubectl describe service` (the Endpoints lines come from the service's Endpoints object)."""
    out = _Writer()
    meta = _meta(service)
    spec = service.spec or V1ServiceSpec()
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"Namespace:\t{meta.namespace or ''}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    out.w(0, f"Selector:\t{_format_labels(spec.selector)}\n")
    out.w(0, f"Type:\t{spec.type or ''}\n")
    if spec.ip_family_policy:
        out.w(0, f"IP Family Policy:\t{spec.ip_family_policy}\n")
    out.w(0, f"IP Families:\t{','.join(spec.ip_families) if spec.ip_families else '<none>'}\n")
    out.w(0, f"IP:\t{spec.cluster_ip or ''}\n")
    out.w(0, f"IPs:\t{','.join(spec.cluster_ips) if spec.cluster_ips else '<none>'}\n")
    if spec.external_ips:
        out.w(0, f"External IPs:\t{','.join(spec.external_ips)}\n")
    if spec.load_balancer_ip:
        out.w(0, f"Desired LoadBalancer IP:\t{spec.load_balancer_ip}\n")
    if spec.external_name:
        out.w(0, f"External Name:\t{spec.external_name}\n")
    ingress = service.status.load_balancer.ingress if service.status and service.status.load_balancer else None
    if ingress:
        out.w(0, f"LoadBalancer Ingress:\t{', '.join(i.ip or i.hostname or '' for i in ingress)}\n")
    for port in spec.ports or []:
        name = port.name or "<unset>"
        protocol = port.protocol or "TCP"
        out.w(0, f"Port:\t{name}\t{port.port}/{protocol}\n")
        target = port.target_port if port.target_port is not None else port.port
        out.w(0, f"TargetPort:\t{target}/{protocol}\n")
        if port.node_port:
            out.w(0, f"NodePort:\t{name}\t{port.node_port}/{protocol}\n")
        out.w(0, f"Endpoints:\t{_format_endpoints(endpoints, port.name or '')}\n")
    out.w(0, f"Session Affinity:\t{spec.session_affinity or 'None'}\n")
    if spec.external_traffic_policy:
        out.w(0, f"External Traffic Policy:\t{spec.external_traffic_policy}\n")
    if spec.internal_traffic_policy:
        out.w(0, f"Internal Traffic Policy:\t{spec.internal_traffic_policy}\n")
    if spec.health_check_node_port:
        out.w(0, f"HealthCheck NodePort:\t{spec.health_check_node_port}\n")
    if spec.load_balancer_source_ranges:
        out.w(0, f"LoadBalancer Source Ranges:\t{','.join(spec.load_balancer_source_ranges)}\n")
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def _external_ip(service: V1Service) -> str:
    spec = service.spec or V1ServiceSpec()
    external = list(spec.external_ips or [])
    if spec.type in (None, "ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if spec.type == "LoadBalancer":
        ingress = service.status.load_balancer.ingress if service.status and service.status.load_balancer else None
        lb = sorted({i.ip or i.hostname or "" for i in ingress or []} - {""})
        joined = ",".join(lb)
        if len(joined) > 16:
            joined = joined[:13] + "..."
        if external:
            return ",".join([*([joined] if joined else []), *external])
        return joined or "<pending>"
    if spec.type == "ExternalName":
        return spec.external_name or ""
    return "<unknown>"


def get_services(services: Sequence[V1Service], *, now: datetime, with_namespace: bool = False) -> str:
    """`kubectl get services -o wide`."""

    def row(svc: V1Service) -> list[str]:
        spec = svc.spec or V1ServiceSpec()
        ports = ",".join(
            f"{p.port}:{p.node_port}/{p.protocol or 'TCP'}" if p.node_port else f"{p.port}/{p.protocol or 'TCP'}"
            for p in spec.ports or []
        )
        return [
            _meta(svc).name or "",
            spec.type or "",
            spec.cluster_ips[0] if spec.cluster_ips else (spec.cluster_ip or "<none>"),
            _external_ip(svc),
            ports or "<none>",
            _since(_meta(svc).creation_timestamp, now),
            _format_labels(spec.selector),
        ]

    header = ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    return _namespaced_table(header, services, row, with_namespace)


def describe_endpoints(endpoints: V1Endpoints, *, events: Sequence[CoreV1Event] | None, now: datetime) -> str:
    """`kubectl describe endpoints`."""
    out = _Writer()
    meta = _meta(endpoints)
    out.w(0, f"Name:\t{meta.name or ''}\n")
    out.w(0, f"Namespace:\t{meta.namespace or ''}\n")
    _labels_multiline(out, "Labels", meta.labels)
    _annotations_multiline(out, "Annotations", meta.annotations)
    out.w(0, "Subsets:\n")
    for subset in endpoints.subsets or []:
        ready = ",".join(a.ip for a in subset.addresses or []) or "<none>"
        not_ready = ",".join(a.ip for a in subset.not_ready_addresses or []) or "<none>"
        out.w(1, f"Addresses:\t{ready}\n")
        out.w(1, f"NotReadyAddresses:\t{not_ready}\n")
        if subset.ports:
            out.w(1, "Ports:\n")
            out.w(2, "Name\tPort\tProtocol\n")
            out.w(2, "----\t----\t--------\n")
            for port in subset.ports:
                out.w(2, f"{port.name or '<unset>'}\t{port.port}\t{port.protocol or 'TCP'}\n")
        out.w(0, "\n")
    if events is not None:
        _describe_events(out, events, now)
    return out.text()


def get_endpoints(endpoints: Sequence[V1Endpoints], *, now: datetime, with_namespace: bool = False) -> str:
    """`kubectl get endpoints`."""

    def row(ep: V1Endpoints) -> list[str]:
        return [_meta(ep).name or "", _format_endpoints(ep, None), _since(_meta(ep).creation_timestamp, now)]

    return _namespaced_table(["Name", "Endpoints", "Age"], endpoints, row, with_namespace)


# --- kubectl top -----------------------------------------------------------------------------------


def _usage_cells(usage: Mapping[str, str], available: Mapping[str, str] | None) -> list[str]:
    cells = []
    cpu = _qty(usage.get("cpu"))
    memory = _qty(usage.get("memory"))
    cells.append(f"{_milli(cpu)}m")
    if available is not None:
        total = _milli(_qty(available.get("cpu")))
        cells.append(f"{int(_milli(cpu) / total * 100) if total else 0}%")
    cells.append(f"{_whole(memory) // (1024 * 1024)}Mi")
    if available is not None:
        total = _milli(_qty(available.get("memory")))
        cells.append(f"{int(_milli(memory) / total * 100) if total else 0}%")
    return cells


def _top_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    # The top printer writes a tab after every value, the last one too, so every line is padded.
    lines = ["".join(f"{cell}\t" for cell in header)]
    lines.extend("".join(f"{cell}\t" for cell in row) for row in rows)
    return tabwrite("\n".join(lines) + "\n", minwidth=6, padding=3)


def top_pods(metrics: Sequence[Mapping[str, Any]], *, with_namespace: bool = False) -> str:
    """`kubectl top pod` from metrics.k8s.io/v1beta1 PodMetrics dicts (usage summed over containers)."""
    rows = []
    for item in sorted(
        metrics,
        key=lambda m: ((m.get("metadata") or {}).get("namespace", ""), (m.get("metadata") or {}).get("name", "")),
    ):
        meta = item.get("metadata") or {}
        cpu = Decimal(0)
        memory = Decimal(0)
        for container in item.get("containers") or []:
            usage = container.get("usage") or {}
            cpu += _qty(usage.get("cpu"))
            memory += _qty(usage.get("memory"))
        row = [meta.get("name", ""), f"{_milli(cpu)}m", f"{_whole(memory) // (1024 * 1024)}Mi"]
        if with_namespace:
            row.insert(0, meta.get("namespace", ""))
        rows.append(row)
    header = ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    return _top_table(["NAMESPACE", *header] if with_namespace else header, rows)


def top_nodes(metrics: Sequence[Mapping[str, Any]], *, allocatable: Mapping[str, Mapping[str, str]]) -> str:
    """`kubectl top node` from NodeMetrics dicts; percentages against each node's allocatable."""
    rows = []
    seen = set()
    for item in sorted(metrics, key=lambda m: (m.get("metadata") or {}).get("name", "")):
        name = (item.get("metadata") or {}).get("name", "")
        seen.add(name)
        rows.append([name, *_usage_cells(item.get("usage") or {}, allocatable.get(name, {}))])
    for name in sorted(set(allocatable) - seen):
        rows.append([name, "<unknown>", "<unknown>", "<unknown>", "<unknown>"])
    return _top_table(["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"], rows)

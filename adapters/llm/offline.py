"""The offline reasoner: deterministic, evidence-driven diagnosis over real kubectl output and logs.

It plays the `DiagnosisModel` role without any network: turn 1 plans broad read-only calls from the alert,
turn 2 (and at most turn 3) follows up on what came back (the unhealthy pods' describe and logs, the node
of an evicted pod, the PVC of a pending one, the owning Job or Deployment), then rules read the outputs the
way an SRE does. Each rule cites the tool call and the exact lines it relied on; when nothing supports a
cause the answer is `unknown` with low confidence and says what was checked.

Same input -> same output: no clock, no randomness, no set iteration that reaches the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from adapters.context.bundle import normalize_kind
from adapters.llm.base import DiagnosisContext, ModelReply, Turn
from domain.diagnosis import (
    Category,
    Diagnosis,
    EvidenceRef,
    Investigate,
    RollbackDeployment,
    RolloutRestart,
    SuggestConfigFix,
    SuggestedAction,
    ToolCall,
    ToolName,
    ToolResult,
)
from domain.models import Alert, Lifecycle

REASONER_NAME = "offline-reasoner/1"
MAX_TURNS = 3  # plan, follow up, one more follow-up; then answer
MAX_CALLS_PER_TURN = 8

_WS2 = re.compile(r"\s{2,}")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TOP_KV = re.compile(r"^([A-Za-z][A-Za-z0-9 ._/()-]*?):(?:\s+(.*?))?\s*$")
_EVENT_ROW = re.compile(r"^\s*(Normal|Warning)\s+(\S+)\s+(.*)$")

# --- small helpers --------------------------------------------------------------------------------


def _clip(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _display(text: str, limit: int = 220) -> str:
    """A log line as a person would quote it: a structured (JSON) line reduced to its level, message and error."""
    start = text.find("{")
    if start >= 0:
        try:
            data = json.loads(text[start:])
        except ValueError:
            data = None
        if isinstance(data, dict):
            parts: list[str] = []
            level = data.get("level") or data.get("severity") or data.get("lvl")
            if isinstance(level, str):
                parts.append(level.upper())
            message = data.get("msg") or data.get("message")
            if isinstance(message, str):
                parts.append(message)
            error = data.get("error") or data.get("err") or data.get("exception")
            if isinstance(error, dict):
                error = error.get("message") or error.get("msg")
            if isinstance(error, str) and error:
                parts.append(f"error={error}")
            if parts:
                return _clip(" ".join(parts), limit)
    return _clip(text, limit)


def _q(namespace: str, name: str) -> str:
    """`namespace/name`, or just `name` when the namespace is unknown."""
    return f"{namespace}/{name}" if namespace else name


def _lower(value: str | None) -> str:
    return (value or "").strip().lower()


def cpu_millis(value: str) -> int | None:
    """`500m` -> 500, `1` -> 1000, `1.5` -> 1500 (kubectl quantities)."""
    value = value.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|n|u)?", value)
    if not match:
        return None
    number = float(match.group(1))
    unit = match.group(2)
    if unit == "m":
        return int(number)
    if unit == "n":
        return int(number / 1_000_000)
    if unit == "u":
        return int(number / 1000)
    return int(number * 1000)


_MEM_UNITS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}


def memory_bytes(value: str) -> int | None:
    """`512Mi` -> 536870912; `1G` -> 10**9."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?|k)?", value.strip())
    if not match:
        return None
    return int(float(match.group(1)) * _MEM_UNITS[match.group(2) or ""])


def doubled_quantity(value: str) -> str:
    """Twice a memory/cpu quantity, in the same unit family (`512Mi` -> `1Gi`, `500m` -> `1`)."""
    value = value.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?|k|m)?", value)
    if not match:
        return value
    number = float(match.group(1)) * 2
    unit = match.group(2) or ""
    if unit == "m":
        return f"{int(number)}m" if number < 1000 or number % 1000 else str(int(number // 1000))
    ladder = ["Ki", "Mi", "Gi", "Ti"] if unit.endswith("i") else ["k", "M", "G", "T"]
    step = 1024 if unit.endswith("i") else 1000
    if unit in ladder:
        index = ladder.index(unit)
        while number >= step and number % step == 0 and index + 1 < len(ladder):
            number /= step
            index += 1
        unit = ladder[index]
    text = f"{number:.10g}"
    return f"{text}{unit}"


def parse_age(value: str) -> timedelta | None:
    """kubectl ages: `45s`, `12m`, `3h4m`, `2d`, `5m30s`; `<unknown>` -> None."""
    value = value.strip().split(" ")[0]
    parts = re.findall(r"(\d+)([smhdy])", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
    return timedelta(seconds=sum(int(n) * seconds[u] for n, u in parts))


def _pod_base(name: str) -> str:
    """The workload a pod name belongs to: `web-7d9f8b6c5-x2x4q` -> `web`, `db-0` -> `db`."""
    match = re.fullmatch(r"(.+?)-[a-z0-9]{6,10}-[a-z0-9]{5}", name)
    if match:
        return match.group(1)
    match = re.fullmatch(r"(.+?)-(?:\d+|[a-z0-9]{5})", name)
    return match.group(1) if match else name


# --- parsed evidence --------------------------------------------------------------------------------


@dataclass
class Event:
    """One Kubernetes event, from a describe Events section or an events table."""

    type: str
    reason: str
    kind: str  # pod, node, pvc, job, deployment, ... ("" when unknown)
    name: str
    message: str
    line: str
    source: ToolResult
    age: str = ""


@dataclass
class Container:
    """One container of a described pod: its state, last state, restarts, resources and probes."""

    name: str
    init: bool = False
    image: str = ""
    state: str = ""
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    last_state: str = ""
    last_reason: str = ""
    last_message: str = ""
    last_exit: int | None = None
    last_finished: str = ""  # "Fri, 28 Nov 2026 10:13:05 +0000" as describe prints it
    ready: bool | None = None
    restarts: int = 0
    limits: dict[str, str] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)
    liveness: str = ""
    readiness: str = ""
    ports: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def exit(self) -> int | None:
        """The current exit code, else the last one."""
        return self.exit_code if self.exit_code is not None else self.last_exit


@dataclass
class Block:
    """One object of a `kubectl describe` output."""

    kind: str
    name: str
    namespace: str
    fields: dict[str, str]
    sections: dict[str, list[str]]
    lines: list[str]
    source: ToolResult
    events: list[Event] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)


@dataclass
class Row:
    """One row of a `kubectl get`/`top`/events table."""

    cells: dict[str, str]
    line: str
    source: ToolResult


@dataclass
class Pod:
    """A pod as every output in the evidence shows it (describe block, table row, events)."""

    name: str
    namespace: str = ""
    status: str = ""  # describe Status (phase) or the table's STATUS column
    table_status: str = ""
    ready: str = ""
    restarts: int = 0
    age: str = ""
    node: str = ""
    reason: str = ""
    message: str = ""
    owner: str = ""  # "ReplicaSet/web-7d9f8b6c5", "Job/db-migrate-28391", "StatefulSet/db"
    labels: dict[str, str] = field(default_factory=dict)
    node_selectors: str = ""
    claims: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)
    block: Block | None = None
    row: Row | None = None
    source: ToolResult | None = None  # a `get -o yaml/json` output the pod was read from
    events: list[Event] = field(default_factory=list)

    @property
    def workload(self) -> str:
        """The owning workload's name (a ReplicaSet stands for its Deployment)."""
        kind, _, owner = self.owner.partition("/")
        if kind.lower() == "replicaset" and owner:
            return re.sub(r"-[a-z0-9]{6,10}$", "", owner)
        if owner:
            return owner
        return _pod_base(self.name)

    @property
    def owner_kind(self) -> str:
        """deployment, statefulset, job, ... ("" when unknown)."""
        kind = self.owner.partition("/")[0].lower()
        if kind == "replicaset":
            return "deployment"
        if kind:
            return kind
        if re.fullmatch(r".+-[a-z0-9]{6,10}-[a-z0-9]{5}", self.name):
            return "deployment"
        return ""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _top_fields(lines: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Top-level `Key: value` fields and, for each, the indented lines under it."""
    fields: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if line and not line[0].isspace():
            match = _TOP_KV.match(line)
            if match:
                current = match.group(1).strip()
                fields.setdefault(current, (match.group(2) or "").strip())
                sections.setdefault(current, [])
                continue
        if current:
            sections[current].append(line)
    return fields, sections


def _block_kind(fields: dict[str, str], sections: dict[str, list[str]], hint: str) -> str:
    keys = set(fields)
    if "Containers" in keys and ("Node" in keys or "QoS Class" in keys or "IP" in keys or "Status" in keys):
        return "pod"
    if "Taints" in keys or "Allocatable" in keys or "System Info" in keys or "Kubelet Version" in keys:
        return "node"
    if "Pods Statuses" in keys or "Completions" in keys:
        return "job"
    if "Concurrency Policy" in keys or ("Schedule" in keys and "Suspend" in keys):
        return "cronjob"
    if "StrategyType" in keys or "NewReplicaSet" in keys:
        return "deployment"
    if "Update Strategy" in keys and "Replicas" in keys:
        return "statefulset"
    if "StorageClass" in keys and ("Access Modes" in keys or "Used By" in keys or "Capacity" in keys):
        return "pv" if "Reclaim Policy" in keys else "pvc"
    if "Endpoints" in keys and ("Selector" in keys or "TargetPort" in keys):
        return "service"
    if "Rules" in keys and ("Default backend" in keys or "Ingress Class" in keys or "Address" in keys):
        return "ingress"
    if "Spec" in keys and any("PodSelector" in s for s in sections.get("Spec", [])):
        return "networkpolicy"
    if "Provisioner" in keys:
        return "storageclass"
    return hint


def _parse_events_section(lines: list[str], kind: str, name: str, source: ToolResult) -> list[Event]:
    events: list[Event] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith(("Type ", "----")) or stripped == "<none>":
            continue
        match = _EVENT_ROW.match(line)
        if match:
            parts = _WS2.split(match.group(3).strip(), maxsplit=2)
            message = parts[-1] if len(parts) >= 2 else ""
            events.append(Event(match.group(1), match.group(2), kind, name, message, line.strip(), source, parts[0]))
        elif events and _indent(line) > 4:
            last = events[-1]
            last.message = f"{last.message} {stripped}".strip()
            last.line = f"{last.line} {stripped}"
    return events


_CONTAINER_NAME = re.compile(r"^ {1,3}([a-z0-9][a-z0-9.-]*):\s*$")
_SUB_KV = re.compile(r"^\s+([A-Za-z][A-Za-z0-9 ._/-]*?):(?:\s+(.*?))?\s*$")


def _parse_containers(lines: list[str], init: bool) -> list[Container]:
    containers: list[Container] = []
    current: Container | None = None
    sub = ""  # state | last | limits | requests | other
    for line in lines:
        name = _CONTAINER_NAME.match(line)
        if name:
            current = Container(name=name.group(1), init=init)
            containers.append(current)
            sub = ""
            continue
        if current is None:
            continue
        current.lines.append(line)
        match = _SUB_KV.match(line)
        if not match:
            if sub in ("state", "last") and line.strip():
                # A multi-line termination message continues on deeper-indented lines.
                if sub == "state":
                    current.message = f"{current.message} {line.strip()}".strip()
                else:
                    current.last_message = f"{current.last_message} {line.strip()}".strip()
            continue
        key, value = match.group(1).strip(), (match.group(2) or "").strip()
        if key == "State":
            current.state, sub = value, "state"
        elif key == "Last State":
            current.last_state, sub = value, "last"
        elif key == "Reason" and sub in ("state", "last"):
            if sub == "state":
                current.reason = value
            else:
                current.last_reason = value
        elif key == "Message" and sub in ("state", "last"):
            if sub == "state":
                current.message = value
            else:
                current.last_message = value
        elif key == "Exit Code" and sub in ("state", "last") and re.fullmatch(r"-?\d+", value):
            if sub == "state":
                current.exit_code = int(value)
            else:
                current.last_exit = int(value)
        elif key == "Finished" and sub == "last":
            current.last_finished = value
        elif key in ("Started", "Finished", "Signal") and sub in ("state", "last"):
            pass
        elif key == "Limits":
            sub = "limits"
        elif key == "Requests":
            sub = "requests"
        elif sub in ("limits", "requests") and re.fullmatch(r"[a-z0-9./-]+", key) and value:
            (current.limits if sub == "limits" else current.requests)[key] = value
        else:
            sub = "other"
            if key == "Image":
                current.image = value
            elif key == "Ready":
                current.ready = value.lower() == "true"
            elif key == "Restart Count" and value.isdigit():
                current.restarts = int(value)
            elif key == "Liveness":
                current.liveness = value
            elif key == "Readiness":
                current.readiness = value
            elif key in ("Port", "Ports") and value and value != "<none>":
                current.ports.extend(p.strip() for p in value.split(","))
    return containers


def parse_describe(result: ToolResult) -> list[Block]:
    """Split a (possibly multi-object) `kubectl describe` output into blocks."""
    chunks: list[list[str]] = []
    current: list[str] = []
    for line in result.output.splitlines():
        if re.match(r"^Name:\s+\S", line) and any(x.strip() for x in current):
            chunks.append(current)
            current = []
        current.append(line.rstrip())
    if any(x.strip() for x in current):
        chunks.append(current)
    hint = _lower(result.params.get("kind"))
    hint = normalize_kind(hint) if hint else ""
    blocks: list[Block] = []
    for lines in chunks:
        fields, sections = _top_fields(lines)
        name = fields.get("Name", "")
        if not name:
            continue
        kind = _block_kind(fields, sections, hint)
        block = Block(
            kind,
            name,
            fields.get("Namespace", "") or result.params.get("namespace", ""),
            fields,
            sections,
            lines,
            result,
        )
        block.events = _parse_events_section(sections.get("Events", []), kind, name, result)
        if kind == "pod":
            block.containers = _parse_containers(sections.get("Init Containers", []), True) + _parse_containers(
                sections.get("Containers", []), False
            )
        blocks.append(block)
    return blocks


def _columns(header: str) -> list[tuple[str, int]]:
    return [(m.group(0), m.start()) for m in re.finditer(r"\S+(?: \S+)*", header)]


def _is_header(line: str) -> bool:
    cols = _columns(line)
    if len(cols) < 2:
        return False
    names = [c for c, _ in cols]
    if not all(re.fullmatch(r"[A-Z][A-Z0-9()_/ .-]*", n.replace("(cores)", "").replace("(bytes)", "")) for n in names):
        return False
    return any(n in ("NAME", "LAST SEEN", "LASTSEEN", "POD", "TYPE", "NAMESPACE") for n in names)


def parse_tables(result: ToolResult) -> list[tuple[list[str], list[Row]]]:
    """The tables in a `kubectl get`/`top`/`get events` output (several when outputs were concatenated)."""
    tables: list[tuple[list[str], list[Row]]] = []
    cols: list[tuple[str, int]] = []
    rows: list[Row] = []
    for raw in result.output.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if _is_header(line):
            if cols:
                tables.append(([c for c, _ in cols], rows))
            cols, rows = _columns(line), []
            continue
        if not cols:
            continue
        names = [c for c, _ in cols]
        parts = _WS2.split(line.strip())
        if len(parts) == len(names):
            cells = dict(zip(names, parts, strict=True))
        elif len(parts) > len(names) and names[-1] == "MESSAGE":
            cells = dict(zip(names[:-1], parts[: len(names) - 1], strict=True))
            cells["MESSAGE"] = "  ".join(parts[len(names) - 1 :])
        else:
            cells = {}
            for index, (name, start) in enumerate(cols):
                end = cols[index + 1][1] if index + 1 < len(cols) else len(line)
                cells[name] = line[start:end].strip()
        rows.append(Row(cells, line, result))
    if cols:
        tables.append(([c for c, _ in cols], rows))
    return tables


def _object_of(cells: dict[str, str]) -> tuple[str, str]:
    obj = cells.get("OBJECT") or cells.get("INVOLVED OBJECT") or ""
    if "/" in obj:
        kind, _, name = obj.partition("/")
        return normalize_kind(kind), name
    kind = normalize_kind(cells.get("KIND", "")) if cells.get("KIND") else ""
    name = cells.get("NAME", "")
    # Old-style tables name the event (`<object>.<hex id>`), not the object.
    name = re.sub(r"\.[0-9a-f]{8,}$", "", name)
    return kind, name


def events_from_table(header: list[str], rows: list[Row]) -> list[Event]:
    """The events of a `kubectl get events` table (new and old column layouts)."""
    if "REASON" not in header or "TYPE" not in header:
        return []
    events: list[Event] = []
    for row in rows:
        cells = row.cells
        kind, name = _object_of(cells)
        event_type = cells.get("TYPE", "")
        if event_type not in ("Normal", "Warning"):
            # A misaligned row: recover the fields around the Normal/Warning token.
            match = re.search(r"\b(Normal|Warning)\s+(\S+)\s+(?:(\w+/\S+)\s+)?(.*)$", row.line)
            if not match:
                continue
            event_type, reason, obj, message = match.groups()
            if obj:
                kind, _, name = obj.partition("/")
                kind = normalize_kind(kind)
            events.append(Event(event_type, reason, kind, name, message, row.line.strip(), row.source))
            continue
        events.append(
            Event(
                event_type,
                cells.get("REASON", ""),
                kind,
                name,
                cells.get("MESSAGE", ""),
                row.line.strip(),
                row.source,
                cells.get("LAST SEEN", ""),
            )
        )
    return events


# --- log lines ---------------------------------------------------------------------------------------


@dataclass
class LogLine:
    """One log line and where it came from."""

    text: str
    index: int
    total: int
    source: ToolResult
    pod: str = ""  # the pod the log belongs to, when the call named one
    previous: bool = False  # from `kubectl logs --previous` (the crashed run)


@dataclass
class Hit:
    """A log line that says something about a cause."""

    kind: str
    line: LogLine
    detail: str = ""  # variable, host:port, flag, path, image...
    fatal: bool = False
    final: bool = False  # the exception line that ends a Python traceback

    @property
    def category(self) -> Category:
        """The category a line of this kind points to."""
        return _HIT_CATEGORY[self.kind]


_HIT_CATEGORY: dict[str, Category] = {
    "env": Category.crashloop_config,
    "command": Category.crashloop_config,
    "config": Category.crashloop_config,
    "auth": Category.crashloop_config,
    "certificate": Category.certificate,
    "dns": Category.dns_failure,
    "netpol": Category.network_policy,
    "refused": Category.dependency_unreachable,
    "timeout": Category.dependency_unreachable,
    "saturated": Category.dependency_unreachable,
    "slow": Category.dependency_unreachable,
    "disk": Category.storage,
    "oom": Category.oom,
    "throttle": Category.cpu_throttling,
    "app": Category.crashloop_app_error,
}
# How much a line of each kind explains a crash on its own (a missing variable beats a stack trace).
_HIT_WEIGHT = {
    "env": 60,
    "command": 58,
    "config": 55,
    "auth": 54,
    "certificate": 52,
    "dns": 50,
    "netpol": 49,
    "disk": 48,
    "oom": 47,
    "refused": 46,
    "timeout": 44,
    "saturated": 44,
    "throttle": 35,
    "slow": 30,
    "app": 30,
}

_I = re.IGNORECASE
_VAR = r"([A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Z]{3,}[A-Z0-9]*)"
_ENV_PATTERNS = [
    re.compile(r"required key ([A-Z][A-Z0-9_]+) missing value"),
    re.compile(r"required environment variable [\"'`]?([A-Za-z_][A-Za-z0-9_]+)[\"'`]? is not set"),
    re.compile(
        r"(?:environment variable|env var(?:iable)?|envvar)s?\s*[:=]?\s*[\"'`]?([A-Za-z_][A-Za-z0-9_]{2,})[\"'`]?\s+"
        r"(?:is\s+)?(?:not set|not defined|missing|required|undefined|must be (?:set|provided|defined)|empty|"
        r"not found|unset|was not (?:set|found|provided))",
        _I,
    ),
    re.compile(
        r"(?:missing|required|undefined|unset)\s+(?:required\s+|mandatory\s+)?(?:environment variable|env var(?:iable)?|"
        r"envvar|config(?:uration)? (?:key|value|variable))s?\s*[:=]?\s*[\"'`\[]?([A-Za-z_][A-Za-z0-9_]{2,})",
        _I,
    ),
    re.compile(
        _VAR + r"[\"'`]?\s+(?:environment variable |env var |variable )?(?:is not set|must be set|is required|"
        r"not set|is missing|is undefined|is empty|is not defined|must be provided|is not configured)"
    ),
    re.compile(r"KeyError: [\"']([A-Z][A-Z0-9_]+)[\"']"),
    re.compile(r"key not found: \"([A-Z][A-Z0-9_]+)\""),
    re.compile(r"Could not resolve placeholder '([^']+)'"),
    re.compile(r"UndefinedValueError: ([A-Za-z_][A-Za-z0-9_]+) not found"),
    re.compile(r"Set the ([A-Z][A-Z0-9_]+) environment variable"),
    re.compile(r"\"([A-Z][A-Z0-9_]+)\" is required"),
]
_COMMAND_PATTERNS = [
    re.compile(r"exec: \"([^\"]+)\": executable file not found in \$PATH"),
    re.compile(r"exec: \"([^\"]+)\": stat [^:]+: no such file or directory"),
    re.compile(r"exec ([^:\s]+): exec format error"),
    re.compile(r"(exec format error)"),
    re.compile(r"exec ([^:\s\"]+): no such file or directory"),
    re.compile(r"exec ([^:\s\"]+): permission denied"),
    re.compile(r"(?:/bin/)?(?:ba|da)?sh: (?:line \d+: |\d+: )?([^:\s]+): (?:command )?not found"),
    re.compile(r"([\w./-]+): command not found"),
    re.compile(r"Error: Could not find or load main class ([\w.$]+)"),
    re.compile(r"Error: Unable to access jarfile (\S+)"),
    re.compile(r"Error: Cannot find module '(/[^']+)'"),
    re.compile(r"can't open file '([^']+)': \[Errno 2\] No such file or directory"),
]
_CONFIG_PATTERNS = [
    re.compile(r"flag provided but not defined: (-[\w.-]+)"),
    re.compile(r"unknown (?:shorthand )?flag:? ['\"]?(-{0,2}[\w.-]+)"),
    re.compile(r"unrecognized arguments?: (.+)"),
    re.compile(r"error: unknown option '([^']+)'"),
    re.compile(r"invalid argument \"[^\"]*\" for \"([^\"]+)\""),
    re.compile(
        r"(?:failed to|could not|cannot|can't|unable to|error) (?:load|read|parse|open|decode|unmarshal|validate)(?:ing)? "
        r"(?:the )?(?:config(?:uration)?|settings|conf)(?: file)?\b[^\n]*",
        _I,
    ),
    re.compile(
        r"\b(?:config(?:uration)?|settings) (?:file )?(?:error|is invalid|invalid|validation failed|not found)[^\n]*",
        _I,
    ),
    re.compile(
        r"open (/[\w./-]*(?:conf|config|settings|\.ya?ml|\.json|\.toml|\.ini|\.properties|\.env)[\w./-]*): "
        r"no such file or directory"
    ),
    re.compile(r"yaml: (?:line \d+|unmarshal errors)[^\n]*"),
    re.compile(r"\[emerg\] ([^\n]+)"),
    re.compile(r"Failed to bind properties under '([^']+)'"),
    re.compile(r"Failed to configure a DataSource: ([^\n]+)"),
    re.compile(r"invalid value for parameter \"([^\"]+)\""),
    re.compile(
        r"(?:ConfigurationError|ImproperlyConfigured|InvalidConfigurationException|ConfigException)\b:?\s*([^\n]*)"
    ),
    re.compile(r"Field required \[type=missing"),
]
_AUTH_PATTERNS = [
    re.compile(r"password authentication failed for user \"([^\"]+)\""),
    re.compile(r"Access denied for user '([^']+)'"),
    re.compile(r"(WRONGPASS|NOAUTH Authentication required)"),
    re.compile(r"FATAL:\s+(?:database|role) \"([^\"]+)\" does not exist"),
    re.compile(r"\bSASL authentication failed\b|\bAuthentication failed\b[^\n]*", _I),
]
_CERT = re.compile(
    r"certificate has expired|CERT_HAS_EXPIRED|certificate expired|CertificateExpiredException|expired certificate|"
    r"x509: certificate signed by unknown authority|x509: certificate is (?:not )?valid|certificate verify failed|"
    r"CERTIFICATE_VERIFY_FAILED|PKIX path (?:building|validation) failed|unable to verify the first certificate|"
    r"self[- ]signed certificate in certificate chain|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|"
    r"tls: failed to verify certificate|ERR_TLS_CERT_ALTNAME_INVALID|tls: bad certificate|CertPathValidatorException",
    _I,
)
_DNS_PATTERNS = [
    re.compile(r"lookup ([\w.-]+)(?: on [\w.:\[\]]+)?: no such host"),
    re.compile(r"lookup ([\w.-]+)(?: on [\w.:\[\]]+)?: (?:server misbehaving|read udp[^\n]*i/o timeout|i/o timeout)"),
    re.compile(r"getaddrinfo (?:ENOTFOUND|EAI_AGAIN) ([\w.-]+)"),
    re.compile(r"UnknownHostException:? ([\w.-]+)"),
    re.compile(r"could not translate host name \"([^\"]+)\""),
    re.compile(r"host not found in upstream \"([^\"]+)\""),
    re.compile(r"Could not resolve host:? ([\w.-]+)"),
    re.compile(r"Failed to resolve '([^']+)'"),
    re.compile(r"(?:unable to|failed to|could not|cannot) resolve (?:host(?:name)? )?['\"]?([\w-]+\.[\w.-]+)", _I),
    re.compile(
        r"(Name or service not known|nodename nor servname provided|Temporary failure in name resolution|"
        r"No address associated with hostname|EAI_NONAME|NXDOMAIN|no such host)"
    ),
]
_NETPOL = re.compile(
    r"policy denied|denied by (?:a |the )?network ?policy|policy-verdict[^\n]*DENIED|DROPPED[^\n]*policy|"
    r"blocked by (?:a |the )?network ?policy|networkpolicy[^\n]*(?:deny|denied|drop|block)",
    _I,
)
_REFUSED = re.compile(
    r"connection refused|ECONNREFUSED|Errno 111|error 111|actively refused|could not be established|"
    r"Broker may not be available|Communications link failure|No route to host|EHOSTUNREACH|Network is unreachable|"
    r"ENETUNREACH|no healthy upstream|upstream connect error|ServerSelectionTimeoutError|MongoServerSelectionError|"
    r"Is the server running|Connection to \S+ refused|\brefused\b",
    _I,
)
# "Could not connect" says nothing about how; a timeout word on the same line makes it a timeout.
_UNREACHABLE = re.compile(
    r"(?:unable|failed|could not|couldn't|cannot|can't) (?:to )?(?:connect|establish (?:a )?connection|reach)\b", _I
)
_TIMEOUT = re.compile(
    r"i/o timeout|timed out|timeout exceeded|deadline exceeded|DeadlineExceeded|ETIMEDOUT|ESOCKETTIMEDOUT|"
    r"SocketTimeoutException|ReadTimeout|ConnectTimeout|awaiting headers|statement timeout|Lock wait timeout|"
    r"TimeoutException|Timeout waiting|TimeoutError",
    _I,
)
_SATURATED = re.compile(
    r"too many clients already|remaining connection slots are reserved|Too many connections|"
    r"Connection is not available, request timed out|pool exhausted|connection pool (?:is )?(?:full|exhausted)",
    _I,
)
_SLOW_WORDS = re.compile(
    r"\bslow\b|took|latency|duration|elapsed|response[_ ]time|request_time|upstream_response_time", _I
)
_SLOW_VALUE = re.compile(
    r"(?:took|latency|duration(?:_ms)?|elapsed|response[_ ]time|request_time|upstream_response_time|after)"
    r"[\"'=:\s]+(\d+(?:\.\d+)?)\s?(ms|s|sec|seconds|milliseconds)?\b",
    _I,
)
_DISK = re.compile(
    r"No space left on device|ENOSPC|\bdisk (?:is )?full\b|Disk quota exceeded|database or disk is full|"
    r"could not extend file|out of disk space|insufficient disk space|The disk is full",
    _I,
)
_OOM_LOG = re.compile(
    r"OutOfMemoryError|JavaScript heap out of memory|Reached heap limit|\bMemoryError\b|runtime: out of memory|"
    r"fatal error: out of memory|\bOut of memory\b|Cannot allocate memory|invoked oom-killer|Memory cgroup out of memory|"
    r"std::bad_alloc",
)
_THROTTLE = re.compile(r"cpu[_ ]?throttl|cfs_throttled|throttled_(?:periods|seconds)|CPUThrottling", _I)
_FATAL = re.compile(
    r"\bpanic:|\bfatal\b|\bFATAL\b|\bCRITICAL\b|\bCRIT\b|\bSEVERE\b|level=(?:fatal|crit|panic)|"
    r"\"level\":\s*\"(?:fatal|critical|panic)\"|(?:^|\s)[\w.$]+(?:Error|Exception)\b:|Exception in thread|"
    r"\bUnhandled|\buncaught|Segmentation fault|SIGSEGV|APPLICATION FAILED TO START|Application run failed|"
    r"\bexiting\b|\bexited\b|shutting down|(?:^|\s)Error:|(?:^|\s)Caused by: ",
    _I,
)
_APP_ERROR = re.compile(
    r"\bpanic:|Traceback \(most recent call last\)|(?:^|\s)[\w.$]+(?:Error|Exception)\b:|Exception in thread|"
    r"\bUnhandled|\buncaught|Segmentation fault|SIGSEGV|nil pointer dereference|NullPointerException|"
    r"\bTypeError\b|\bReferenceError\b|\bAttributeError\b|\bfatal error\b|APPLICATION FAILED TO START|"
    r"\bERROR\b|\bSEVERE\b|level=error|\"level\":\s*\"error\"|\[error\]",
)
_ERROR_LINE = re.compile(
    r"\b(?:ERROR|FATAL|CRITICAL|SEVERE)\b|\b(?:error|fatal|crit)(?::|\]|\s*\|)|\[(?:error|fatal)\]|"
    r"level=(?:error|fatal)|\"level\":\s*\"(?:error|fatal)\"|\bpanic:|\b\w*(?:Error|Exception)\b:|Traceback|"
    r"\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+(?: HTTP/[\d.]+\"?)? 5\d\d\b|\bstatus[=:]\s*5\d\d\b",
)
# A leading timestamp and source (the log backend's `<time> <pod>` prefix), to read the message behind it.
_TIME_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?Z?\s+(?:[a-z0-9][\w.-]*\s)?")
_CODE_FILE = re.compile(r"\.(?:go|py|java|js|ts|rb|rs|c|cc|cpp|kt|scala|php|cs|mjs|cjs|jsx|tsx)$")


def _strip_port(host: str) -> str:
    return host.rsplit(":", 1)[0] if re.search(r":\d+$", host) else host


_NOT_HOSTS = frozenset(
    {
        "tcp",
        "udp",
        "http",
        "https",
        "dial",
        "the",
        "server",
        "line",
        "port",
        "pid",
        "code",
        "status",
        "row",
        "col",
        "column",
        "offset",
        "version",
        "attempt",
        "size",
        "time",
        "took",
        "duration",
        "retry",
        "step",
        "id",
    }
)
_HOST_PATTERNS = (
    r"\b(?:https?|grpcs?|wss?|postgres(?:ql)?|mysql|redis|rediss|amqps?|mongodb(?:\+srv)?|nats|kafka|jdbc:\w+)"
    r"://(?:[^@/\s\"']+@)?([\w.-]+(?::\d+)?)",
    r"host='([^']+)', port=(\d+)",
    r"\blookup ([\w.-]+)(?: on [\w.:\[\]]+)?:",
    r"server at \"([^\"]+)\"(?: \([^)]*\))?, port (\d+)",
    r"on host \"([^\"]+)\"[^\n]*?port (\d+)",
    r"(?:connecting to|connect to|connection to|Unable to connect to|Connection to|Connection refused:|"
    r"could not connect to|failed to connect to|error connecting to|reach|dial(?:ing)?|calling|call to|request to)"
    r"\s+(?:node -?\d+ \()?(?:[\"'`])?([a-zA-Z][\w.-]*(?::\d+)?)(?:/[\d.]+(:\d+))?",
    r"Error \d+ connecting to ([\w.-]+:\d+)",
    r"\(([a-zA-Z][\w.-]+)/[\d.]+:(\d+)\)",
    r"(?:ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|dial tcp|upstream:?\s*\"?)\s*([\w.-]+:\d+)",
    r"\b([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*:\d{2,5})\b",
    r"\b(\d{1,3}(?:\.\d{1,3}){3}:\d{2,5})\b",
)


def host_of(text: str) -> str:
    """The dependency a log line talks about: a named `host:port` first, then a bare name, then an IP with its
    port (a line often says the same host several ways: `dial tcp 10.0.0.5:6379 ... addr=redis-cache:6379`)."""
    candidates: list[str] = []
    for pattern in _HOST_PATTERNS:
        for match in re.finditer(pattern, text):
            groups = [g for g in match.groups() if g]
            if not groups:
                continue
            host = groups[0]
            if len(groups) > 1 and ":" not in host:
                host = f"{host}:{groups[1].lstrip(':')}"
            bare = _strip_port(host)
            if _CODE_FILE.search(bare) or bare.lower() in _NOT_HOSTS:
                continue
            # The `on 10.96.0.10:53` of a DNS lookup is the resolver, not the dependency.
            if host.endswith(":53") and re.search(r"lookup \S+ on " + re.escape(host), text):
                continue
            if re.fullmatch(r"\d+(?:\.\d+)*", bare) and "." not in bare:
                continue
            # "connect to Redis at redis-cart:6379": a capitalised bare word is a product, not a host.
            if bare[:1].isupper() and "." not in bare and ":" not in host:
                continue
            if ":" not in host:
                with_port = re.search(re.escape(host) + r":(\d{2,5})\b", text)
                if with_port:
                    host = f"{host}:{with_port.group(1)}"
            if host not in candidates:
                candidates.append(host)
    if not candidates:
        return ""

    def rank(host: str) -> int:
        named = bool(re.search(r"[a-zA-Z]", _strip_port(host)))
        return (2 if named else 0) + (1 if ":" in host else 0)

    best = max(rank(h) for h in candidates)
    return next(h for h in candidates if rank(h) == best)


def _first_group(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    if not match:
        return None
    groups = [g for g in match.groups() if g]
    return groups[0] if groups else match.group(0)


def classify_line(text: str, previous: str = "", following: str = "") -> Hit | None:
    """What one log line says about a cause (None: nothing). `previous`/`following` help multi-line messages."""
    line = LogLine(text, 0, 1, _NO_SOURCE)
    fatal = bool(_FATAL.search(text))
    for pattern in _ENV_PATTERNS:
        found = _first_group(pattern, text)
        if found:
            return Hit("env", line, found, fatal)
    for pattern in _COMMAND_PATTERNS:
        found = _first_group(pattern, text)
        if found:
            return Hit("command", line, found, True)
    if _CERT.search(text):
        return Hit("certificate", line, host_of(text), fatal)
    for pattern in _DNS_PATTERNS:
        found = _first_group(pattern, text)
        if found:
            host = found if "." in found or re.fullmatch(r"[a-z][\w-]*", found) else host_of(text)
            if not host or " " in host:
                host = host_of(text) or host_of(previous)
            return Hit("dns", line, host, fatal)
    for pattern in _AUTH_PATTERNS:
        found = _first_group(pattern, text)
        if found:
            return Hit("auth", line, found, fatal)
    for pattern in _CONFIG_PATTERNS:
        found = _first_group(pattern, text)
        if found:
            if pattern.pattern.startswith("Field required"):
                found = previous.strip() or found
            if "no such host" in text or "host not found" in text:
                break
            return Hit("config", line, found.strip(), fatal)
    if _NETPOL.search(text):
        return Hit("netpol", line, host_of(text), fatal)
    if _DISK.search(text):
        path = re.search(r"\"([^\"\s]*/[^\"\s]*)\"", text) or re.search(r"(/[\w./-]{2,})", text)
        return Hit("disk", line, path.group(1) if path else "", fatal)
    if _OOM_LOG.search(text):
        return Hit("oom", line, _first_group(_OOM_LOG, text) or "", True)
    if _SATURATED.search(text):
        return Hit("saturated", line, host_of(text) or host_of(following), fatal)
    if _REFUSED.search(text):
        return Hit("refused", line, host_of(text) or host_of(following), fatal)
    if _TIMEOUT.search(text):
        return Hit("timeout", line, host_of(text), fatal)
    if _UNREACHABLE.search(text):
        return Hit("refused", line, host_of(text) or host_of(following), fatal)
    if _SLOW_WORDS.search(text):
        for match in _SLOW_VALUE.finditer(text):
            value = float(match.group(1))
            unit = (match.group(2) or "ms").lower()
            seconds = value / 1000 if unit.startswith("m") else value
            if seconds >= 1.0 and (host := host_of(text)):
                return Hit("slow", line, host, False)
    if _THROTTLE.search(text):
        return Hit("throttle", line, "", False)
    if _APP_ERROR.search(text):
        return Hit("app", line, "", fatal or bool(re.search(r"panic:|Traceback|Exception in thread|fatal error", text)))
    return None


_NO_SOURCE = ToolResult(call_id="", tool=ToolName.fetch_logs, output="")


def classify_log(lines: Sequence[LogLine]) -> list[Hit]:
    """Hits for every line of a log that says something about a cause."""
    hits: list[Hit] = []
    in_traceback = False
    for index, line in enumerate(lines):
        previous = lines[index - 1].text if index else ""
        following = " ".join(x.text for x in lines[index + 1 : index + 3])
        hit = classify_line(line.text, previous, following)
        # A Python traceback ends with the first unindented line after its frames: `module.Error: message`,
        # whatever the exception is called.
        body = _TIME_PREFIX.sub("", line.text)
        final = in_traceback and bool(body) and not body[0].isspace() and not body.startswith(("File ", "^"))
        if "Traceback (most recent call last)" in line.text:
            in_traceback = True
        elif final:
            in_traceback = False
            if hit is None and re.match(r"[\w.]+(?::|$)", body):
                hit = Hit("app", line, "", True)
            if hit is not None:
                hit.final = True
        if hit is not None:
            hit.line = line
            hits.append(hit)
    return hits


def _hit_score(hit: Hit) -> float:
    score = float(_HIT_WEIGHT[hit.kind])
    if hit.fatal:
        score += 20
    if hit.line.total and hit.line.index >= hit.line.total - 15:
        score += 10  # a crash's reason is near the end of the crashed run's log
    if hit.detail:
        # A named host says more than an IP (the same error often appears once with each).
        score += 4 if re.search(r"[a-zA-Z]", _strip_port(hit.detail)) else 1
    if hit.line.previous:
        score += 2
    if hit.kind == "app" and (
        hit.final
        or re.search(
            r"Caused by: |(?:^|\s)[\w.]+(?:Error|Exception): |(?:^|\s)panic: |(?:^|\s)fatal error: |Unhandled|uncaught",
            hit.line.text,
        )
    ):
        score += 5  # the innermost exception names the actual failure, not the framework wrapping it
    return score


def best_crash_hit(hits: Sequence[Hit]) -> Hit | None:
    """The line that best explains why a container exited."""
    best: Hit | None = None
    best_score = -1.0
    for hit in hits:
        score = _hit_score(hit)
        if hit.kind == "slow":
            continue
        # Ties go to the later line: a crash log ends with its cause ("Caused by", the last exception).
        if score >= best_score:
            best, best_score = hit, score
    return best


# --- the evidence, parsed -------------------------------------------------------------------------

_IMAGE_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable")
_START_REASONS = ("StartError", "ContainerCannotRun", "RunContainerError", "CreateContainerError")
_CRASH_STATUSES = ("CrashLoopBackOff", "Error", "Init:CrashLoopBackOff", "Init:Error", "RunContainerError")
_HEALTHY_STATUSES = ("Running", "Completed", "Succeeded")
_METRICS_SOURCES = re.compile(r"kube-state-metrics|prometheus|node-exporter|kubelet|cadvisor|alertmanager|blackbox", _I)
_HEARTBEAT = re.compile(r"watchdog|dead\s*man'?s?\s*switch|deadmansswitch|infoinhibitor|heartbeat|always[- ]firing", _I)


def _structured_items(text: str) -> list[Any] | None:
    """The objects of a `kubectl get -o yaml/json` output (None: it is a table, not YAML/JSON)."""
    text = text.strip()
    if not (text.startswith(("apiVersion:", "{", "items:", "kind:"))):
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    items = data.get("items", [data])
    return items if isinstance(items, list) else None


def _events_from_items(items: list[Any], result: ToolResult) -> list[Event]:
    """Events read from `kubectl get events -o yaml/json`."""
    events: list[Event] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("involvedObject") or item.get("regarding"), dict):
            continue
        obj = item.get("involvedObject") or item.get("regarding") or {}
        kind = normalize_kind(str(obj.get("kind", "")))
        name = str(obj.get("name", ""))
        message = str(item.get("message") or item.get("note") or "")
        reason = str(item.get("reason", ""))
        event_type = str(item.get("type", "Normal"))
        line = f"{event_type}  {reason}  {kind}/{name}  {message}"
        events.append(Event(event_type, reason, kind, name, message, line, result))
    return events


def _pods_from_items(items: list[Any], result: ToolResult) -> list[Pod]:
    """`kubectl get pod -o yaml/json` outputs: the same facts as describe, read from the status."""
    pods: list[Pod] = []
    for item in items:
        if not isinstance(item, dict) or item.get("kind", "Pod") != "Pod":
            continue
        meta = item.get("metadata") or {}
        spec = item.get("spec") or {}
        status = item.get("status") or {}
        owners = meta.get("ownerReferences") or []
        pod = Pod(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            status=str(status.get("phase", "")),
            node=str(spec.get("nodeName", "")),
            reason=str(status.get("reason", "")),
            message=str(status.get("message", "")),
            owner=f"{owners[0].get('kind')}/{owners[0].get('name')}" if owners and isinstance(owners[0], dict) else "",
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            source=result,
        )
        resources = {
            c.get("name"): c.get("resources") or {} for c in spec.get("containers") or [] if isinstance(c, dict)
        }
        for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
            for cs in status.get(key) or []:
                if not isinstance(cs, dict):
                    continue
                container = Container(name=str(cs.get("name", "")), init=init, image=str(cs.get("image", "")))
                for state_key, last in (("state", False), ("lastState", True)):
                    state = cs.get(state_key) or {}
                    for state_name, detail in state.items():
                        detail = detail if isinstance(detail, dict) else {}
                        if last:
                            container.last_state = state_name.capitalize()
                            container.last_reason = str(detail.get("reason", ""))
                            container.last_message = str(detail.get("message", ""))
                            container.last_exit = detail.get("exitCode")
                        else:
                            container.state = state_name.capitalize()
                            container.reason = str(detail.get("reason", ""))
                            container.message = str(detail.get("message", ""))
                            container.exit_code = detail.get("exitCode")
                container.ready = bool(cs.get("ready"))
                container.restarts = int(cs.get("restartCount") or 0)
                res = resources.get(cs.get("name"), {})
                container.limits = {str(k): str(v) for k, v in (res.get("limits") or {}).items()}
                container.requests = {str(k): str(v) for k, v in (res.get("requests") or {}).items()}
                container.lines = [
                    f"{container.name}: state={container.state} reason={container.reason} "
                    f"lastState={container.last_state} lastReason={container.last_reason} exitCode={container.exit}"
                ]
                pod.containers.append(container)
        pod.restarts = sum(c.restarts for c in pod.containers)
        pods.append(pod)
    return pods


@dataclass
class Finding:
    """A supported cause, before it becomes the Diagnosis."""

    category: Category
    confidence: float
    root_cause: str
    summary: str
    evidence: list[EvidenceRef]
    actions: list[SuggestedAction] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)
    culprit: str = ""

    @property
    def score(self) -> float:
        """How strongly the finding is supported (confidence, a little more for every pod showing it)."""
        return self.confidence * 100 + min(4, max(0, len(self.pods) - 1))


def _ref(result: ToolResult, lines: Iterable[str]) -> EvidenceRef:
    seen: list[str] = []
    for line in lines:
        text = line.rstrip()
        if text.strip() and text not in seen:
            seen.append(text)
    excerpt = "\n".join(seen)
    if len(excerpt) > 1900:
        excerpt = excerpt[:1896] + " ..."
    return EvidenceRef(tool=result.tool, params=dict(result.params), excerpt=excerpt or "(empty output)")


class Evidence:
    """Everything the tool calls returned, parsed once."""

    def __init__(self, alert: Alert | None, results: Sequence[ToolResult]) -> None:
        self.alert = alert
        self.results = list(results)
        self.blocks: list[Block] = []
        self.tables: list[tuple[list[str], list[Row]]] = []
        self.events: list[Event] = []
        self.logs: list[LogLine] = []
        self.deploys: list[ToolResult] = []
        self.pods: dict[str, Pod] = {}
        self.yaml_events: list[Event] = []
        yaml_pods: list[Pod] = []
        for result in self.results:
            if not result.ok or not result.output.strip():
                continue
            if result.tool == ToolName.kubectl_describe:
                self.blocks.extend(parse_describe(result))
            elif result.tool in (ToolName.kubectl_get, ToolName.kubectl_events, ToolName.kubectl_top):
                items = _structured_items(result.output)
                if items is None:
                    self.tables.extend(parse_tables(result))
                else:
                    yaml_pods.extend(_pods_from_items(items, result))
                    self.yaml_events.extend(_events_from_items(items, result))
            elif result.tool in (ToolName.kubectl_logs, ToolName.kubectl_previous_logs, ToolName.fetch_logs):
                pod = (
                    result.params.get("name", "")
                    if result.tool != ToolName.fetch_logs
                    else result.params.get("pod", "")
                )
                # Colour codes from console loggers would split the words the rules look for.
                raw = [_ANSI.sub("", x) for x in result.output.splitlines() if x.strip()]
                previous = result.tool == ToolName.kubectl_previous_logs
                self.logs.extend(LogLine(t, i, len(raw), result, pod, previous) for i, t in enumerate(raw))
            elif result.tool == ToolName.recent_deploys:
                self.deploys.append(result)
        for block in self.blocks:
            self.events.extend(block.events)
        for header, rows in self.tables:
            self.events.extend(events_from_table(header, rows))
        self.events.extend(self.yaml_events)
        self._merge_pods(yaml_pods)

    # pods ----------------------------------------------------------------------------------------

    def _pod(self, name: str) -> Pod:
        if name not in self.pods:
            self.pods[name] = Pod(name=name)
        return self.pods[name]

    def _merge_pods(self, yaml_pods: list[Pod]) -> None:
        for found in yaml_pods:
            if found.name and found.name not in self.pods:
                self.pods[found.name] = found
        for block in self.blocks:
            if block.kind != "pod":
                continue
            pod = self._pod(block.name)
            if pod.block is not None:
                continue  # the same pod described twice (a broad and a named call): keep the first
            f = block.fields
            pod.block = block
            pod.namespace = block.namespace
            pod.status = f.get("Status", "")
            pod.reason = f.get("Reason", "")
            pod.message = f.get("Message", "")
            node = f.get("Node", "")
            pod.node = "" if node.startswith("<none>") else node.split("/")[0]
            pod.owner = f.get("Controlled By", "")
            pod.node_selectors = f.get("Node-Selectors", "")
            labels = [f.get("Labels", "")] + [x.strip() for x in block.sections.get("Labels", [])]
            for label in labels:
                key, eq, value = label.partition("=")
                if eq:
                    pod.labels[key.strip()] = value.strip()
            pod.claims = re.findall(r"ClaimName:\s+(\S+)", "\n".join(block.sections.get("Volumes", [])))
            pod.containers = block.containers
            pod.restarts = max(pod.restarts, sum(c.restarts for c in block.containers))
        for header, rows in self.tables:
            if not {"READY", "STATUS", "RESTARTS"} <= set(header):
                continue
            for row in rows:
                name = row.cells.get("NAME", "")
                if name.startswith("pod/"):
                    name = name[4:]
                if not name:
                    continue
                pod = self._pod(name)
                if pod.row is None:
                    pod.row = row
                    pod.table_status = row.cells.get("STATUS", "")
                    pod.ready = row.cells.get("READY", "")
                    restarts = re.match(r"\d+", row.cells.get("RESTARTS", ""))
                    pod.restarts = max(pod.restarts, int(restarts.group(0)) if restarts else 0)
                    pod.age = row.cells.get("AGE", "")
                    pod.namespace = (
                        pod.namespace or row.cells.get("NAMESPACE", "") or row.source.params.get("namespace", "")
                    )
                    node = row.cells.get("NODE", "")
                    if node and node != "<none>" and not pod.node:
                        pod.node = node
        for event in self.events:
            if event.kind in ("pod", "") and event.name in self.pods and event not in self.pods[event.name].events:
                self.pods[event.name].events.append(event)

    def pod_logs(self, pod: Pod) -> list[LogLine]:
        """The pod's own log lines: termination messages, then the crashed run, then the current run."""
        own = [x for x in self.logs if x.pod and x.pod.lower() == pod.name.lower()]
        if not own:
            own = [x for x in self.logs if x.source.tool == ToolName.fetch_logs and pod.name in x.text]
        termination: list[LogLine] = []
        for container in pod.containers:
            for message in (container.message, container.last_message):
                if message and pod.block is not None:
                    termination.append(LogLine(message, 0, 1, pod.block.source, pod.name, True))
        previous = [x for x in own if x.previous]
        current = [x for x in own if not x.previous]
        return termination + previous + current

    def unattributed_logs(self) -> list[LogLine]:
        """Log lines whose call named no pod (the log backend's lines for a service, unnamed recordings)."""
        return [x for x in self.logs if not x.pod]

    # other objects -------------------------------------------------------------------------------

    def blocks_of(self, kind: str) -> list[Block]:
        """The described objects of one kind."""
        return [b for b in self.blocks if b.kind == kind]

    def rows_with(self, *columns: str) -> list[Row]:
        """The rows of every table that has these columns."""
        out: list[Row] = []
        for header, rows in self.tables:
            if set(columns) <= set(header):
                out.extend(rows)
        return out

    def events_for(self, kind: str, name: str) -> list[Event]:
        """The events about one object."""
        return [e for e in self.events if e.name == name and (e.kind == kind or not e.kind)]


# --- what the alert points at -----------------------------------------------------------------------


def _alert_text(alert: Alert | None) -> str:
    if alert is None:
        return ""
    parts = [alert.title, alert.description, *alert.labels.values(), *alert.annotations.values()]
    return " ".join(p for p in parts if p)


def _label(alert: Alert | None, *keys: str) -> str:
    if alert is None:
        return ""
    for key in keys:
        value = alert.labels.get(key, "").strip()
        if value:
            return value
    return ""


def alert_namespace(alert: Alert | None) -> str:
    """The namespace the alert names, from the normalized field or its labels."""
    if alert is None:
        return ""
    return (alert.namespace or _label(alert, "namespace", "kubernetes_namespace", "exported_namespace")).strip()


def alert_pod_name(alert: Alert | None) -> str:
    """The pod the alert names, from the normalized field or its labels."""
    if alert is None:
        return ""
    return (alert.pod or _label(alert, "pod", "pod_name", "kubernetes_pod_name", "exported_pod")).strip()


def alert_service(alert: Alert | None) -> str:
    """The service the alert is about, ignoring the metrics exporter that merely reported it."""
    if alert is None:
        return ""
    candidates = [
        alert.deployment,
        _label(alert, "deployment", "statefulset", "daemonset", "app", "app_kubernetes_io_name", "service"),
        alert.service,
    ]
    for value in candidates:
        if value and not _METRICS_SOURCES.search(value):
            return value.strip()
    pod = alert_pod_name(alert)
    return _pod_base(pod) if pod else ""


def alert_workloads(alert: Alert | None) -> list[str]:
    """Workload names the alert names, most specific first."""
    if alert is None:
        return []
    names = [
        alert.deployment or "",
        _label(alert, "deployment"),
        _label(alert, "statefulset"),
        _label(alert, "daemonset"),
        _label(alert, "horizontalpodautoscaler"),  # an HPA is named after the workload it scales
        _label(alert, "job_name"),
        _label(alert, "cronjob"),
        _label(alert, "app", "app_kubernetes_io_name"),
        _label(alert, "container"),
        alert.service or "",
        _label(alert, "service"),
    ]
    out: list[str] = []
    for name in names:
        name = name.strip()
        if name and name not in out and not _METRICS_SOURCES.search(name):
            out.append(name)
    return out


def _is_heartbeat(alert: Alert) -> bool:
    name = alert.labels.get("alertname", "") or alert.title
    return bool(_HEARTBEAT.search(name) or _HEARTBEAT.search(alert.title))


_LATENCY = re.compile(r"latency|slow|p9\d|percentile|duration|response time|timeout|apdex", _I)
_ERRORS = re.compile(r"error|5xx|50[0-9]|fail|exception|unavailable", _I)
_CPU = re.compile(r"cpu|throttl", _I)
_MEMORY = re.compile(r"memory|oom|heap", _I)
_SERVICE_HINT = re.compile(
    r"endpoint|ingress|gateway|upstream|50[234]|bad gateway|service unavailable|target ?down|probe|blackbox|"
    r"unreachable|KubeServiceNoEndpoints|5xx",
    _I,
)


# --- rules ----------------------------------------------------------------------------------------


def _state_lines(container: Container) -> list[str]:
    """The container's state/last state/restarts lines of its describe block."""
    out: list[str] = [f"  {container.name}:"]
    keep = False
    for line in container.lines:
        key = line.strip().split(":", 1)[0]
        if key in ("State", "Last State"):
            keep = True
        elif key in ("Ready", "Restart Count"):
            out.append(line)
            keep = key == "Ready"
            continue
        elif key in ("Limits", "Requests", "Liveness", "Readiness", "Startup", "Environment", "Mounts", "Image"):
            keep = False
        if keep:
            out.append(line)
    return out if len(out) > 1 else container.lines[:12]


def _image_reason(message: str) -> tuple[str, str]:
    """(short reason, what to do) for an image pull failure message."""
    checks = [
        (
            r"toomanyrequests|429 Too Many Requests|pull rate limit",
            "the registry's pull rate limit was hit",
            "authenticate pulls or mirror the image to a registry without rate limits",
        ),
        (
            r"no matching manifest",
            "the image has no build for the node's platform (architecture)",
            "publish a multi-arch image or pin nodes of the matching architecture",
        ),
        (
            r"manifest unknown|manifest for \S+ not found",
            "manifest unknown: the tag does not exist in the registry",
            "point the workload at a tag that exists (or push the missing tag)",
        ),
        (
            r"401 Unauthorized|\bunauthorized\b|authentication required|no basic auth credentials|403 Forbidden|"
            r"\bforbidden\b|authorization failed",
            "unauthorized: the registry refused the credentials",
            "fix the imagePullSecret (or the node's registry credentials) for this registry",
        ),
        (
            r"pull access denied|requested access to the resource is denied|may require 'docker login'",
            "access denied: the repository does not exist or requires credentials",
            "check the repository name and the imagePullSecret",
        ),
        (
            r"not found|NotFound|does not exist",
            "not found: the image or tag does not exist in the registry",
            "correct the image reference (tag typo?) or push the image",
        ),
        (
            r"no such host|i/o timeout|connection refused|dial tcp|TLS handshake|x509|context deadline exceeded",
            "the registry is unreachable from the node",
            "check the node's network/DNS path to the registry",
        ),
        (
            r"InvalidImageName|invalid reference format|couldn't parse image reference",
            "the image reference is invalid",
            "fix the image reference (lowercase repository, valid tag)",
        ),
    ]
    for pattern, reason, fix in checks:
        if re.search(pattern, message, _I):
            return reason, fix
    return "the image could not be pulled", "check the image reference and the registry credentials"


def _scheduling(message: str) -> tuple[Category, str]:
    """Classify a FailedScheduling message: resources, scheduling constraints, storage or node pressure."""
    core = message.split("preemption:")[0]
    if re.search(
        r"PersistentVolumeClaim|persistentvolumeclaim|volume node affinity|persistent volumes to bind|"
        r"VolumeBinding|storageclass",
        core,
        _I,
    ):
        return Category.storage, "the pod's volume cannot be bound"
    insufficient = [x.rstrip(".") for x in re.findall(r"Insufficient ([\w./-]+)", core)]
    if insufficient or re.search(r"Too many pods|no nodes available", core, _I):
        names = ", ".join(dict.fromkeys(insufficient)) or "pods/nodes"
        return Category.pending_resources, f"no node has enough free {names} for the pod's requests"
    pressure = re.findall(r"node\.kubernetes\.io/(memory|disk|pid)-pressure", core)
    constraints = re.findall(
        r"(\d+) node\(s\) (?:didn't match Pod's node affinity/selector|didn't match pod (?:anti-)?affinity rules|"
        r"didn't satisfy existing pods anti-affinity rules|had untolerated taint [^,]+|had taint [^,]+|were unschedulable|"
        r"didn't have free ports)",
        core,
    )
    if pressure and len(pressure) >= len([c for c in constraints if "pressure" not in c]):
        return Category.node_pressure, f"the nodes are tainted for {'/'.join(dict.fromkeys(pressure))} pressure"
    return Category.pending_scheduling, "no node satisfies the pod's scheduling constraints"


def _exit_meaning(code: int | None) -> str:
    return {
        1: "application error",
        2: "Go panic or bad arguments",
        126: "command not executable",
        127: "command not found",
        128: "invalid exit / start failure",
        134: "abort (SIGABRT)",
        137: "killed (SIGKILL)",
        139: "segmentation fault (SIGSEGV)",
        143: "terminated (SIGTERM)",
    }.get(code or 0, "")


class Diagnoser:
    """Turns parsed evidence into findings and picks the best supported one."""

    def __init__(self, alert: Alert | None, results: Sequence[ToolResult]) -> None:
        self.alert = alert
        self.ev = Evidence(alert, results)
        self.namespace = alert_namespace(alert)
        self.alert_text = _alert_text(alert)
        self.focus, self.targeted = self._focus()

    # focus -----------------------------------------------------------------------------------------

    def _in_namespace(self, pod: Pod) -> bool:
        return not self.namespace or not pod.namespace or pod.namespace == self.namespace

    def _belongs(self, pod: Pod, workload: str) -> bool:
        w = workload.lower()
        labels = {k: v.lower() for k, v in pod.labels.items()}
        return (
            pod.name.lower() == w
            or pod.workload.lower() == w
            or (pod.name.lower().startswith(w + "-") and _pod_base(pod.name).lower().startswith(w))
            or labels.get("app") == w
            or labels.get("app.kubernetes.io/name") == w
            or labels.get("job-name") == w
            or labels.get("batch.kubernetes.io/job-name") == w
        )

    def _focus(self) -> tuple[list[Pod], bool]:
        pods = sorted(self.ev.pods.values(), key=lambda p: p.name)
        alert = self.alert
        alert_pod = alert_pod_name(alert)
        if alert_pod:
            exact = [p for p in pods if p.name == alert_pod]
            if exact:
                siblings = [
                    p for p in pods if p is not exact[0] and p.workload == exact[0].workload and self._in_namespace(p)
                ]
                return exact + siblings, True
        for workload in alert_workloads(alert):
            matched = [p for p in pods if self._belongs(p, workload) and self._in_namespace(p)]
            if matched:
                return matched, True
        if alert_pod:
            base = _pod_base(alert_pod)
            matched = [p for p in pods if self._belongs(p, base) and self._in_namespace(p)]
            if matched:
                return matched, True
        return [p for p in pods if self._in_namespace(p)], False

    def _namespace_of(self, pod: Pod | None = None) -> str:
        """The namespace when the evidence or the alert says it ("" when nothing does: never guessed)."""
        if pod is not None and pod.namespace:
            return pod.namespace
        return self.namespace

    def _deployment(self, pod: Pod | None) -> str:
        """The Deployment to act on ("" when the workload is not a Deployment or is not known)."""
        if pod is not None:
            if pod.owner_kind == "deployment":
                return pod.workload
            if pod.owner_kind:
                return ""  # a StatefulSet, DaemonSet or Job: Deployment actions would name the wrong thing
        if self.alert is not None and self.alert.deployment:
            return self.alert.deployment
        names = [b.name for b in self.ev.blocks_of("deployment")]
        for pod_ in [pod] if pod is not None else self.focus:
            if pod_ is not None and pod_.workload in names:
                return pod_.workload
        return alert_service(self.alert) if pod is None else ""

    # pods ------------------------------------------------------------------------------------------

    def _failing_container(self, pod: Pod) -> Container | None:
        wanted = _label(self.alert, "container")

        def bad(c: Container) -> bool:
            return bool(
                (c.state and c.state != "Running" and not (c.state == "Terminated" and c.reason == "Completed"))
                or c.last_reason
                or c.restarts
                or c.ready is False
            )

        candidates = [c for c in pod.containers if bad(c)]
        for container in candidates:
            if container.name == wanted:
                return container
        # A failing app container explains more than a failing init container waiting on it, and vice versa
        # an init container stuck in a crash loop blocks everything after it.
        for container in candidates:
            if container.init and (container.reason == "CrashLoopBackOff" or container.last_reason):
                return container
        for container in candidates:
            if not container.init:
                return container
        return candidates[0] if candidates else (pod.containers[0] if pod.containers else None)

    def _pod_evidence(self, pod: Pod, container: Container | None) -> list[EvidenceRef]:
        refs: list[EvidenceRef] = []
        if pod.block is not None:
            head = [x for x in pod.block.lines[:30] if re.match(r"^(Name|Namespace|Node|Status|Reason|Message):", x)]
            body = _state_lines(container) if container is not None and container.lines else []
            refs.append(_ref(pod.block.source, head + body))
        elif pod.row is not None:
            refs.append(_ref(pod.row.source, [pod.row.line]))
        elif pod.source is not None:
            wanted = re.compile(
                r"\b(?:name: " + re.escape(pod.name) + r"|reason|exitCode|restartCount|phase|message|memory|cpu):"
            )
            refs.append(_ref(pod.source, [x for x in pod.source.output.splitlines() if wanted.search(x)][:20]))
        return refs

    def _event_ref(self, events: Sequence[Event]) -> list[EvidenceRef]:
        if not events:
            return []
        source = events[0].source
        return [_ref(source, [e.line for e in events if e.source is source][:4])]

    def _hit_ref(self, hits: Sequence[Hit]) -> list[EvidenceRef]:
        refs: list[EvidenceRef] = []
        for hit in hits:
            ref = _ref(hit.line.source, [hit.line.text])
            if not any(r.excerpt == ref.excerpt for r in refs):
                refs.append(ref)
        return refs[:3]

    def _where(self, pod: Pod, container: Container | None) -> str:
        ns = self._namespace_of(pod)
        if container is not None:
            kind = "Init container" if container.init else "Container"
            return f"{kind} {container.name} of pod {_q(ns, pod.name)}"
        return f"Pod {_q(ns, pod.name)}"

    def _pod_finding(self, pod: Pod) -> Finding | None:
        container = self._failing_container(pod)
        where = self._where(pod, container)
        ns = self._namespace_of(pod)
        deployment = self._deployment(pod)
        status = pod.table_status
        reasons = [c.reason for c in pod.containers] + [status]

        # 1. Image pulls.
        pull_events = [
            e
            for e in pod.events
            if re.search(
                r"Failed to pull image|pull access denied|Back-off pulling image|InvalidImageName|"
                r"couldn't parse image reference|ErrImagePull",
                e.message,
            )
        ]
        image_container = next((c for c in pod.containers if c.reason in _IMAGE_REASONS), None)
        if (
            image_container is not None
            or any(r in _IMAGE_REASONS for r in reasons)
            or (pull_events and not any(c.state == "Running" for c in pod.containers))
        ):
            container = image_container or container
            where = self._where(pod, container)
            detailed = [e for e in pull_events if "Failed to pull image" in e.message or "rpc error" in e.message]
            message = (
                (detailed or pull_events)[0].message
                if (detailed or pull_events)
                else (container.message if container else "")
            )
            image_match = re.search(r"image \"([^\"]+)\"", message)
            image = image_match.group(1) if image_match else (container.image if container else "")
            reason, fix = _image_reason(message)
            tail = re.split(r"desc = |: ", message)[-1] if message else ""
            root = f'{where} cannot pull image "{image}": {reason}'
            if tail and tail not in root:
                root += f" ({_clip(tail, 160)})"
            refs = self._pod_evidence(pod, container) + self._event_ref(detailed or pull_events)
            actions: list[SuggestedAction] = [Investigate(instructions=f"{fix}: {image}")]
            if deployment and self.recent_deploy():
                actions.append(RollbackDeployment(namespace=ns or "default", deployment=deployment))
            return Finding(
                Category.image_pull,
                0.92 if message else 0.8,
                root + ".",
                f"ImagePullBackOff on {pod.name}: {image} ({reason.split(':')[0]})",
                refs,
                actions,
                [pod.name],
                image,
            )

        # 2. A Secret/ConfigMap the container needs does not exist.
        config_container = next((c for c in pod.containers if c.reason == "CreateContainerConfigError"), None)
        if config_container is not None or status == "CreateContainerConfigError":
            container = config_container or container
            where = self._where(pod, container)
            events = [e for e in pod.events if re.search(r"not found|couldn't find key|Error:", e.message)]
            message = (container.message if container and container.message else "") or (
                events[0].message if events else ""
            )
            missing = re.search(
                r"(secret|configmap) \"([^\"]+)\" not found|couldn't find key (\S+) in (\w+) (\S+)", message, _I
            )
            what = _clip(message, 200) if message else "a referenced Secret or ConfigMap is missing"
            root = f"{where} cannot start (CreateContainerConfigError): {what}"
            culprit = (missing.group(2) or missing.group(3)) if missing else ""
            refs = self._pod_evidence(pod, container) + self._event_ref(events)
            return Finding(
                Category.crashloop_config,
                0.92 if message else 0.75,
                root + ".",
                f"{pod.name} cannot start: {what}",
                refs,
                [Investigate(instructions=f"Create or fix the referenced object{f' in {ns}' if ns else ''}: {what}")],
                [pod.name],
                culprit,
            )

        # 3. Pending: the scheduler's or the volume's reason.
        pending = (pod.status == "Pending" or status in ("Pending", "ContainerCreating")) and not any(
            c.state in ("Running", "Terminated") or c.last_state for c in pod.containers
        )
        if pending:
            finding = self._pending_finding(pod)
            if finding is not None:
                return finding

        # 4. Evicted.
        if pod.reason == "Evicted" or status == "Evicted" or "low on resource" in pod.message:
            return self._evicted_finding(pod)
        if status in ("OutOfcpu", "OutOfmemory", "OutOfpods"):
            resource = status[5:]
            refs = self._pod_evidence(pod, None)
            return Finding(
                Category.pending_resources,
                0.8,
                f"Pod {_q(ns, pod.name)} was rejected by its node ({status}): the node had no free {resource} "
                f"for the pod's requests.",
                f"{pod.name}: {status}",
                refs,
                [Investigate(instructions=f"Add {resource} capacity or lower the pod's {resource} requests")],
                [pod.name],
                resource,
            )

        # 5. OOMKilled.
        oom = next((c for c in pod.containers if "OOMKilled" in (c.reason, c.last_reason)), None)
        if oom is not None or status == "OOMKilled":
            return self._oom_finding(pod, oom or container)

        # 6. Start failures (command not found, exec format error).
        start = next(
            (
                c
                for c in pod.containers
                if c.reason in _START_REASONS or c.last_reason in _START_REASONS or c.exit in (126, 127)
            ),
            None,
        )
        if start is not None or status in ("RunContainerError", "CreateContainerError", "StartError"):
            finding = self._start_finding(pod, start or container)
            if finding is not None:
                return finding

        # 7. Crashes.
        crashed = container is not None and (
            container.reason == "CrashLoopBackOff"
            or (container.state == "Terminated" and container.reason not in ("Completed", "") and container.exit != 0)
            or (container.state == "Terminated" and container.exit not in (None, 0))
            or (
                container.last_state == "Terminated" and container.last_exit not in (None, 0) and container.restarts > 0
            )
        )
        if crashed or status in _CRASH_STATUSES:
            return self._crash_finding(pod, container)

        # 8. Probes.
        probe_events = [
            e
            for e in pod.events
            if e.reason == "Unhealthy" or "probe failed" in e.message or "failed liveness probe" in e.message
        ]
        not_ready = (container is not None and container.ready is False) or self._table_not_ready(pod)
        if probe_events and (not_ready or pod.restarts > 0 or any("Liveness" in e.message for e in probe_events)):
            return self._probe_finding(pod, container, probe_events)
        return None

    @staticmethod
    def _table_not_ready(pod: Pod) -> bool:
        match = re.fullmatch(r"(\d+)/(\d+)", pod.ready)
        return bool(match and int(match.group(1)) < int(match.group(2)) and pod.table_status == "Running")

    def _pending_finding(self, pod: Pod) -> Finding | None:
        ns = self._namespace_of(pod)
        sched = [
            e
            for e in pod.events
            if e.reason in ("FailedScheduling", "NotTriggerScaleUp") or "nodes are available" in e.message
        ]
        sched = [e for e in sched if "nodes are available" in e.message or e.reason == "FailedScheduling"] or sched
        if sched:
            event = next((e for e in sched if e.reason == "FailedScheduling"), sched[0])
            category, why = _scheduling(event.message)
            refs = self._pod_evidence(pod, None) + self._event_ref([event])
            message = _clip(event.message.split(" preemption:")[0], 260)
            if category == Category.storage:
                return self._storage_pending(pod, event) or Finding(
                    Category.storage,
                    0.85,
                    f"Pod {_q(ns, pod.name)} is Pending: {message}.",
                    f"{pod.name} Pending: volume cannot be bound",
                    refs,
                    [Investigate(instructions="Bind the pod's PersistentVolumeClaim")],
                    [pod.name],
                )
            detail = ""
            requests = [f"{k}: {v}" for c in pod.containers for k, v in c.requests.items()]
            if category == Category.pending_resources and requests:
                detail = f" (requests {', '.join(requests)})"
            if category == Category.pending_scheduling:
                if pod.node_selectors and pod.node_selectors != "<none>" and "selector" in message:
                    detail = f" (node selector {pod.node_selectors})"
                taints = list(dict.fromkeys(re.findall(r"taint (\{[^}]*\})", message)))
                # The control-plane taint is on every cluster; the other taints are the ones that matter.
                relevant = [x for x in taints if "control-plane" not in x and "node-role" not in x] or taints
                if relevant:
                    detail += f" (untolerated taint {', '.join(relevant)})"
            root = f'Pod {_q(ns, pod.name)} is Pending: {why}{detail}. The scheduler says: "{message}"'
            fixes = {
                Category.pending_resources: "Add node capacity (or let the autoscaler scale up) or lower the pod's "
                "requests",
                Category.pending_scheduling: "Fix the pod's nodeSelector/affinity/tolerations or label/untaint "
                "nodes so at least one node qualifies",
                Category.node_pressure: "Relieve the pressure on the nodes (free disk/memory) before pods can land",
            }
            return Finding(
                category,
                0.9,
                root,
                f"{pod.name} Pending: {why}",
                refs,
                [Investigate(instructions=fixes[category])],
                [pod.name],
                message,
            )
        mount = [
            e
            for e in pod.events
            if e.reason in ("FailedMount", "FailedAttachVolume", "FailedMapVolume") or "Multi-Attach" in e.message
        ]
        if mount:
            event = mount[0]
            missing = re.search(r"(configmap|secret) \"([^\"]+)\" not found", event.message, _I)
            refs = self._pod_evidence(pod, None) + self._event_ref(mount)
            if missing:
                return Finding(
                    Category.crashloop_config,
                    0.88,
                    f"Pod {_q(ns, pod.name)} is stuck in ContainerCreating: its volume references "
                    f'{missing.group(1).lower()} "{missing.group(2)}", which does not exist.',
                    f"{pod.name}: missing {missing.group(1)} {missing.group(2)}",
                    refs,
                    [Investigate(instructions=f"Create {missing.group(1)} {_q(ns, missing.group(2))}")],
                    [pod.name],
                    missing.group(2),
                )
            return Finding(
                Category.storage,
                0.85,
                f"Pod {_q(ns, pod.name)} cannot mount its volume: {_clip(event.message, 240)}",
                f"{pod.name}: volume mount failing",
                refs,
                [Investigate(instructions="Check the volume attachment / CSI driver for the pod's volume")],
                [pod.name],
            )
        return self._storage_pending(pod, None)

    def _storage_pending(self, pod: Pod, event: Event | None) -> Finding | None:
        ns = self._namespace_of(pod)
        names = list(pod.claims)
        if event is not None:
            names += re.findall(r"persistentvolumeclaim \"([^\"]+)\"", event.message, _I)
        for block in self.ev.blocks_of("pvc"):
            if names and block.name not in names:
                continue
            if block.fields.get("Status", "") == "Bound":
                continue
            storage_class = block.fields.get("StorageClass", "")
            bad = [e for e in block.events if e.type == "Warning"] or block.events
            message = bad[0].message if bad else ""
            if not message:
                message = next((e.message for e in self.ev.events_for("pvc", block.name) if e.type == "Warning"), "")
            cls_missing = re.search(r"storageclass\.storage\.k8s\.io \"([^\"]+)\" not found", message)
            if cls_missing:
                why = f'its StorageClass "{cls_missing.group(1)}" does not exist'
            elif "no storage class is set" in message or not storage_class or storage_class == "<none>":
                why = "no StorageClass is set and no PersistentVolume matches"
            elif message:
                why = f'provisioning with StorageClass "{storage_class}" fails'
            else:
                why = f'it is {block.fields.get("Status", "not bound")} (StorageClass "{storage_class}")'
            root = (
                f"Pod {_q(ns, pod.name)} is Pending because PersistentVolumeClaim {block.name} is not bound: {why}"
                + (f" ({_clip(message, 200)})" if message else "")
                + "."
            )
            refs = [
                *self._pod_evidence(pod, None),
                _ref(
                    block.source,
                    [x for x in block.lines if re.match(r"^(Name|Namespace|StorageClass|Status|Volume):", x)]
                    + [e.line for e in bad[:3]],
                ),
            ]
            if event is not None:
                refs += self._event_ref([event])
            return Finding(
                Category.storage,
                0.9,
                root,
                f"{pod.name} Pending: PVC {block.name} unbound ({why})",
                refs,
                [Investigate(instructions=f"Fix PVC {_q(ns, block.name)}: {why}")],
                [pod.name],
                cls_missing.group(1) if cls_missing else storage_class,
            )
        return None

    def _evicted_finding(self, pod: Pod) -> Finding:
        ns = self._namespace_of(pod)
        message = pod.message or next((e.message for e in pod.events if e.reason == "Evicted"), "")
        resource = re.search(r"low on resource: ([\w-]+)", message)
        what = resource.group(1) if resource else "resources"
        node = pod.node or "its node"
        root = f"Pod {_q(ns, pod.name)} was evicted from node {node}: the node was low on {what}"
        if message:
            root += f' ("{_clip(message, 200)}")'
        refs = self._pod_evidence(pod, None) + self._event_ref([e for e in pod.events if e.reason == "Evicted"])
        node_refs, conditions = self._node_conditions(pod.node)
        if conditions:
            root += f"; the node reports {', '.join(conditions)}"
        # Events expire after an hour by default: an eviction with no event left is likely old news.
        evictions = [e for e in pod.events if e.reason == "Evicted"]
        age = parse_age(evictions[0].age) if evictions and evictions[0].age else None
        confidence = 0.85 if evictions and (age is None or age <= timedelta(hours=6)) else 0.6
        return Finding(
            Category.node_pressure,
            confidence,
            root + ".",
            f"{pod.name} evicted: {node} low on {what}",
            refs + node_refs,
            [
                Investigate(
                    instructions=f"Relieve {what} pressure on node {node} (or drain it); set requests "
                    f"that reflect real usage so pods are not evicted"
                )
            ],
            [pod.name],
            node,
        )

    def _node_conditions(self, node: str) -> tuple[list[EvidenceRef], list[str]]:
        if not node:
            return [], []
        for block in self.ev.blocks_of("node"):
            if block.name != node:
                continue
            lines, names = self._bad_node_lines(block)
            if names:
                return [_ref(block.source, [f"Name: {block.name}", *lines])], names
        return [], []

    @staticmethod
    def _bad_node_lines(block: Block) -> tuple[list[str], list[str]]:
        lines: list[str] = []
        names: list[str] = []
        for line in block.sections.get("Conditions", []):
            match = re.match(
                r"^\s+(MemoryPressure|DiskPressure|PIDPressure|Ready|NetworkUnavailable)\s+"
                r"(True|False|Unknown)\b",
                line,
            )
            if not match:
                continue
            kind, status = match.groups()
            if (kind != "Ready" and status == "True") or (kind == "Ready" and status != "True"):
                lines.append(line.strip())
                names.append(f"{kind}={status}")
        taints = [block.fields.get("Taints", "")] + [x.strip() for x in block.sections.get("Taints", [])]
        lines += [f"Taints: {t}" for t in taints if "pressure" in t or "not-ready" in t or "unreachable" in t]
        return lines, names

    def _oom_finding(self, pod: Pod, container: Container | None) -> Finding:
        ns = self._namespace_of(pod)
        where = self._where(pod, container)
        limit = container.limits.get("memory", "") if container else ""
        code = container.exit if container and container.exit is not None else 137
        restarts = container.restarts if container else pod.restarts
        root = f"{where} is OOMKilled (exit code {code})"
        root += (
            f": it exceeds its memory limit of {limit}" if limit else ": it runs out of memory (no memory limit set)"
        )
        if restarts:
            root += f" and has restarted {restarts} times"
        usage = self._top_usage(pod, container)
        if usage:
            root += f"; kubectl top shows {usage[1]} in use"
        hits = [h for h in classify_log(self.ev.pod_logs(pod)) if h.kind == "oom"]
        if hits:
            root += f'; its log says "{_display(hits[-1].line.text, 160)}"'
        refs = self._pod_evidence(pod, container) + self._hit_ref(hits[-1:])
        if usage:
            refs.append(usage[0])
        deployment = self._deployment(pod)
        actions: list[SuggestedAction] = []
        if deployment and pod.owner_kind in ("deployment", ""):
            changes = (
                {"resources.limits.memory": doubled_quantity(limit)}
                if limit
                else {"resources.limits.memory": "set a limit above the observed peak"}
            )
            actions.append(
                SuggestConfigFix(
                    namespace=ns or "default",
                    deployment=deployment,
                    container=container.name if container else None,
                    changes=changes,
                )
            )
            if container is not None and container.state == "Running" and container.ready is not False:
                actions.append(RolloutRestart(namespace=ns or "default", deployment=deployment))
        else:
            actions.append(
                Investigate(instructions=f"Raise the memory limit of {where} (now {limit or 'unset'}) or find the leak")
            )
        confidence = 0.92
        stale = self._stale(container)
        if stale is not None:
            # An OOM kill long before the alert is history, not necessarily this incident's cause.
            root += f" (the last OOM kill was {stale} before the alert)"
            confidence = 0.5
        return Finding(
            Category.oom,
            confidence,
            root + ".",
            f"{pod.name}: {container.name if container else 'container'} OOMKilled at {limit or 'no limit'}",
            refs,
            actions,
            [pod.name],
            limit,
        )

    def _stale(self, container: Container | None) -> str | None:
        """How long before the alert the container last terminated, when that is more than six hours."""
        started = self.alert.started_at if self.alert is not None else None
        if container is None or started is None or not container.last_finished or container.state != "Running":
            return None
        try:
            finished = datetime.strptime(container.last_finished, "%a, %d %b %Y %H:%M:%S %z")
        except ValueError:
            return None
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        gap = started - finished
        if gap <= timedelta(hours=6):
            return None
        hours = int(gap.total_seconds() // 3600)
        return f"{hours // 24}d{hours % 24}h" if hours >= 24 else f"{hours}h"

    def _top_usage(self, pod: Pod, container: Container | None) -> tuple[EvidenceRef, str, str] | None:
        for row in self.ev.rows_with("CPU(cores)"):
            name = row.cells.get("POD") or row.cells.get("NAME", "")
            if name != pod.name:
                continue
            if "POD" in row.cells and container is not None and row.cells.get("NAME") not in (container.name, ""):
                continue
            return _ref(row.source, [row.line]), row.cells.get("MEMORY(bytes)", ""), row.cells.get("CPU(cores)", "")
        return None

    def _start_finding(self, pod: Pod, container: Container | None) -> Finding | None:
        if container is None:
            return None
        texts = [container.message, container.last_message] + [e.message for e in pod.events if e.type == "Warning"]
        hits = [
            h
            for h in (classify_line(t) for t in texts if t)
            if h is not None and h.kind in ("command", "config", "env")
        ]
        where = self._where(pod, container)
        code = container.exit
        if hits:
            hit = hits[0]
            if hit.kind == "command":
                if "exec format error" in hit.detail or "exec format error" in " ".join(texts):
                    why = f"its entrypoint {hit.detail!r} is built for another CPU architecture (exec format error)"
                else:
                    why = f"its command {hit.detail!r} is not found in the image"
            else:
                why = f"its configuration is invalid ({hit.detail})"
            root = f"{where} cannot start: {why}"
        elif code in (126, 127):
            why = f"the command is {'not executable' if code == 126 else 'not found'} (exit code {code})"
            root = f"{where} cannot start: {why}"
        else:
            return None
        source_events = [e for e in pod.events if any(h.line.text == e.message for h in hits)]
        refs = self._pod_evidence(pod, container) + self._event_ref(source_events)
        return Finding(
            Category.crashloop_config,
            0.9,
            root + ".",
            f"{pod.name}: {why}",
            refs,
            [Investigate(instructions=f"Fix the container command/entrypoint of {where}")],
            [pod.name],
            hits[0].detail if hits else str(code),
        )

    def _crash_finding(self, pod: Pod, container: Container | None) -> Finding:
        ns = self._namespace_of(pod)
        where = self._where(pod, container)
        code = container.exit if container else None
        restarts = container.restarts if container else pod.restarts
        lines = self.ev.pod_logs(pod)
        if not lines and len(self.focus) <= 3:
            lines = self.ev.unattributed_logs()
        hits = classify_log(lines)
        hit = best_crash_hit(hits)
        state = (
            "CrashLoopBackOff"
            if (container and container.reason == "CrashLoopBackOff") or pod.table_status == "CrashLoopBackOff"
            else (pod.table_status or (container.reason if container else "") or "")
        )
        job = self._job_of(pod)
        exit_text = (
            f"exit code {code}" + (f", {_exit_meaning(code)}" if _exit_meaning(code) else "")
            if code is not None
            else "non-zero exit"
        )
        state_text = f"is in {state}" if state and state not in ("Running", "Failed") else "keeps exiting"
        if job is None and state == "Failed":
            state_text = "failed"
        head = f"{where} {state_text} ({exit_text}{f', {restarts} restarts' if restarts else ''})"
        refs = self._pod_evidence(pod, container)
        liveness = [
            e for e in pod.events if "Liveness probe failed" in e.message or "failed liveness probe" in e.message
        ]
        strong = hit is not None and hit.kind not in ("app", "throttle", "slow")
        deployment = self._deployment(pod)
        if not strong and liveness and code in (137, 143, None):
            return self._probe_finding(pod, container, liveness)
        if hit is None and code == 0 and job is None:
            root = (
                f"{head}: its main process exits successfully right after starting, so Kubernetes restarts it; "
                "the command/args run a one-shot task instead of a long-running server"
            )
            category, confidence, culprit = Category.crashloop_config, 0.6, "exit code 0"
            summary = f"{pod.name}: container exits 0 and is restarted"
        elif hit is None:
            root = f"{head}; its logs show no line that explains the exit"
            category, confidence, culprit = Category.crashloop_app_error, 0.45, str(code)
            summary = f"{pod.name} crashing ({exit_text})"
        else:
            category = hit.category
            confidence = {"app": 0.72, "timeout": 0.8, "refused": 0.84, "saturated": 0.8}.get(hit.kind, 0.88)
            culprit = hit.detail
            root = f'{head} because {self._explain(hit)}: "{_display(hit.line.text, 220)}"'
            summary = f"{pod.name} crashing: {self._explain(hit)}"
            refs += self._hit_ref([hit])
        if hit is not None and (hit.kind == "timeout" or (hit.kind == "dns" and "timeout" in hit.line.text)):
            netpol = self.network_policies(hit.detail)
            if netpol is not None and job is None:
                return self._netpol_finding(netpol, [hit], hit.detail)
        if job is not None and category not in (Category.oom,):
            return self._job_finding(job, pod, hit, extra=refs)
        actions = self._actions_for(category, hit, pod, ns, deployment)
        if culprit == "exit code 0":
            actions = [
                Investigate(
                    instructions=f"Give {deployment or pod.workload} a long-running command (its process exits 0), "
                    "or run the task as a Job"
                )
            ]
        if hit is not None and hit.kind in ("refused", "timeout", "dns", "saturated"):
            root += self._dependency_state(hit.detail)
        if hit is not None and hit.kind == "dns":
            root += self._cluster_dns_state()
        if hit is not None and hit.kind == "disk" and pod.claims:
            root += f"; the pod's data lives on PersistentVolumeClaim {', '.join(pod.claims)}"
        return Finding(category, confidence, root + ".", summary, refs, actions, [pod.name], culprit)

    def _explain(self, hit: Hit) -> str:
        d = hit.detail
        return {
            "env": f"the environment variable {d} is not set",
            "command": f"the command {d!r} cannot be executed",
            "config": f"its configuration is invalid ({_clip(d, 120)})",
            "auth": f"the credentials it is configured with are rejected ({_clip(d, 80)})",
            "certificate": "a TLS certificate "
            + ("has expired" if re.search(r"expired|NotAfter|validity", hit.line.text, _I) else "is not trusted")
            + (f" (talking to {d})" if d else ""),
            "dns": f"the host name {d or '(see log)'} does not resolve (DNS)",
            "netpol": f"traffic{f' to {d}' if d else ''} is dropped by a NetworkPolicy",
            "refused": f"its dependency {d or '(see log)'} refuses or drops connections",
            "timeout": f"calls to its dependency {d or '(see log)'} time out",
            "saturated": f"its dependency {d or '(see log)'} has no free connections",
            "slow": f"its dependency {d} responds slowly",
            "disk": f"the disk is full (No space left on device{f' at {d}' if d else ''})",
            "oom": f"it runs out of memory ({d})",
            "throttle": "it is CPU throttled",
            "app": "the application fails",
        }[hit.kind]

    def _cluster_dns_state(self) -> str:
        """When the cluster DNS pods themselves are broken, that is the DNS failure's cause."""
        broken = [
            p
            for p in sorted(self.ev.pods.values(), key=lambda p: p.name)
            if re.match(r"(coredns|kube-dns|node-local-dns)", p.name) and not self._ready(p)
        ]
        if not broken:
            return ""
        status = broken[0].table_status or broken[0].status or "not ready"
        return f"; the cluster DNS pods are unhealthy ({', '.join(p.name for p in broken[:2])}: {status})"

    def _dependency_state(self, host: str) -> str:
        """When the unreachable dependency is a pod in the evidence, say what is wrong with it."""
        name = _strip_port(host).split(".")[0].lower()
        if not name:
            return ""
        for pod in sorted(self.ev.pods.values(), key=lambda p: p.name):
            if pod in self.focus and self.targeted:
                continue
            if pod.workload.lower() == name or pod.name.lower() == name or pod.name.lower().startswith(name + "-"):
                status = pod.table_status or pod.status
                broken = [c for c in pod.containers if c.reason or c.last_reason]
                if status not in _HEALTHY_STATUSES or broken:
                    detail = ", ".join(f"{c.name}: {c.reason or c.state} / last {c.last_reason}" for c in broken[:2])
                    return f"; pod {pod.name} behind it is {status or 'unhealthy'}" + (f" ({detail})" if detail else "")
        return ""

    def _actions_for(
        self, category: Category, hit: Hit | None, pod: Pod | None, ns: str, deployment: str
    ) -> list[SuggestedAction]:
        detail = hit.detail if hit else ""
        text = {
            Category.crashloop_config: f"Fix the workload's configuration: {detail}"
            if detail
            else "Fix the workload's configuration",
            Category.certificate: f"Renew or replace the TLS certificate{f' served by {detail}' if detail else ''}",
            Category.dns_failure: f"Check that {detail or 'the host'} exists (Service name/namespace) and that "
            "cluster DNS answers",
            Category.dependency_unreachable: f"Restore {detail or 'the dependency'} (is it running, listening, "
            "reachable?)",
            Category.network_policy: "Allow the traffic in the NetworkPolicy that selects these pods",
            Category.storage: "Free or expand the volume that is full",
            Category.crashloop_app_error: "Read the stack trace and fix the application (or roll back)",
            Category.oom: "Raise the memory limit or fix the leak",
        }.get(category, "Investigate the failing component")
        workload = deployment or (pod.workload if pod is not None else "") or "the workload"
        kind = hit.kind if hit is not None else ""
        if kind == "env":
            text = f"Set the environment variable {detail} on {workload} (in its manifest or Secret)"
        elif kind == "auth":
            text = (
                f"Fix the credentials {workload} uses ({detail}): the Secret and the account on the server must agree"
            )
        elif kind == "command":
            text = f"Fix the command/entrypoint of {workload} ({detail}) or the image it runs"
        elif kind == "oom":
            text = (
                f"Raise the heap (e.g. -Xmx, --max-old-space-size) or the memory limit of {workload}, or fix the leak"
            )
        elif kind == "disk" and pod is not None and pod.claims:
            text = f"Free space on or expand PersistentVolumeClaim {', '.join(pod.claims)} ({detail or 'full'})"
        actions: list[SuggestedAction] = [Investigate(instructions=text)]
        if (
            deployment
            and self.recent_deploy()
            and category in (Category.crashloop_config, Category.crashloop_app_error, Category.image_pull)
        ):
            actions.append(RollbackDeployment(namespace=ns or "default", deployment=deployment))
        return actions

    def _probe_finding(self, pod: Pod, container: Container | None, events: list[Event]) -> Finding:
        ns = self._namespace_of(pod)
        where = self._where(pod, container)
        lines = self.ev.pod_logs(pod)
        hits = [
            h
            for h in classify_log(lines)
            if h.kind
            in ("dns", "refused", "timeout", "saturated", "certificate", "netpol", "disk", "env", "config", "auth")
        ]
        if hits:
            hit = max(hits, key=lambda h: (_hit_score(h), -h.line.index))
            same = [h for h in hits if h.kind == hit.kind]
            if len(same) >= 2 or hit.fatal:
                root = (
                    f'{where} fails its probes because {self._explain(hit)}: "{_display(hit.line.text, 200)}"'
                    + self._dependency_state(hit.detail)
                )
                refs = self._pod_evidence(pod, container) + self._event_ref(events) + self._hit_ref([hit])
                return Finding(
                    hit.category,
                    0.78,
                    root + ".",
                    f"{pod.name}: {self._explain(hit)}",
                    refs,
                    self._actions_for(hit.category, hit, pod, ns, self._deployment(pod)),
                    [pod.name],
                    hit.detail,
                )
        kinds = sorted(
            {m.group(1) for e in events for m in [re.search(r"(Readiness|Liveness|Startup) probe", e.message)] if m}
        )
        probe = "/".join(kinds).lower() or "health"
        message = _clip(events[0].message, 220)
        definition = ""
        if container is not None:
            definition = container.liveness if "Liveness" in kinds and container.liveness else container.readiness
        root = f'{where} fails its {probe} probe: "{message}"'
        if definition:
            root += f" (probe: {definition})"
        actions: list[SuggestedAction] = []
        deployment = self._deployment(pod)
        if (
            re.search(r"timeout|deadline exceeded|Client\.Timeout", " ".join(e.message for e in events), _I)
            and deployment
        ):
            field_name = "livenessProbe" if "Liveness" in kinds else "readinessProbe"
            timeout = re.search(r"timeout=(\d+)s", definition)
            new = str(max(5, int(timeout.group(1)) * 3)) if timeout else "5"
            actions.append(
                SuggestConfigFix(
                    namespace=ns or "default",
                    deployment=deployment,
                    container=container.name if container else None,
                    changes={f"{field_name}.timeoutSeconds": new},
                )
            )
        actions.append(
            Investigate(
                instructions=f"Check why the {probe} endpoint of {where} fails (path, port, "
                "slow startup) and fix the probe or the handler"
            )
        )
        refs = self._pod_evidence(pod, container) + self._event_ref(events)
        return Finding(
            Category.probe_failure,
            0.78,
            root + ".",
            f"{pod.name}: {probe} probe failing",
            refs,
            actions,
            [pod.name],
            probe,
        )

    # jobs ------------------------------------------------------------------------------------------

    def _job_of(self, pod: Pod) -> Block | Event | None:
        kind, _, owner = pod.owner.partition("/")
        names = [owner] if kind.lower() == "job" else []
        names += [pod.labels.get("job-name", ""), pod.labels.get("batch.kubernetes.io/job-name", "")]
        for block in self.ev.blocks_of("job"):
            if block.name in names or pod.name.startswith(block.name + "-"):
                return block
        for event in self.ev.events:
            if event.kind == "job" and (event.name in names or pod.name.startswith(event.name + "-")):
                return event
        if kind.lower() == "job":
            return Event("Warning", "", "job", owner, "", pod.owner, pod.block.source if pod.block else _NO_SOURCE)
        return None

    def _job_finding(
        self, job: Block | Event, pod: Pod | None, hit: Hit | None, extra: list[EvidenceRef] | None = None
    ) -> Finding:
        name = job.name
        ns = (job.namespace if isinstance(job, Block) else "") or (pod.namespace if pod else "") or self.namespace
        events = job.events if isinstance(job, Block) else [job] if job.reason else []
        events = events + [e for e in self.ev.events_for("job", name) if e not in events]
        failed = [
            e
            for e in events
            if e.reason in ("BackoffLimitExceeded", "DeadlineExceeded", "Failed", "FailedCreate", "PodFailurePolicy")
        ]
        why = ""
        for event in failed:
            if event.reason == "BackoffLimitExceeded" or "backoff limit" in event.message:
                why = "it reached its backoff limit (BackoffLimitExceeded)"
                break
            if event.reason == "DeadlineExceeded" or "deadline" in event.message:
                why = "it ran longer than its activeDeadlineSeconds (DeadlineExceeded)"
                break
        statuses = job.fields.get("Pods Statuses", "") if isinstance(job, Block) else ""
        if not why:
            why = f"its pods failed ({statuses})" if statuses else "its pods failed"
        root = f"Job {_q(ns, name)} failed: {why}"
        if statuses and statuses not in why:
            root += f" [{statuses}]"
        if pod is not None:
            container = self._failing_container(pod)
            code = container.exit if container else None
            root += f"; pod {pod.name} exited" + (f" with code {code}" if code is not None else "")
        if hit is not None:
            root += f' after "{_display(hit.line.text, 200)}"'
        else:
            # No explaining line: the job's last words still tell how far it got.
            last = [x for x in self.ev.logs if name in x.text or (pod is not None and x.pod == pod.name)]
            if last:
                root += f'; its last log line was "{_display(last[-1].text, 160)}"'
                extra = [*(extra or []), _ref(last[-1].source, [x.text for x in last[-2:]])]
        refs = list(extra or [])
        if isinstance(job, Block):
            head = [
                x for x in job.lines if re.match(r"^(Name|Namespace|Controlled By|Pods Statuses|Backoff Limit):", x)
            ]
            refs.insert(0, _ref(job.source, head + [e.line for e in failed[:3]]))
        elif failed:
            refs += self._event_ref(failed)
        if hit is not None and not any(hit.line.text in r.excerpt for r in refs):
            refs += self._hit_ref([hit])
        owner = job.fields.get("Controlled By", "") if isinstance(job, Block) else ""
        fix = "Fix the failing step shown in the log and re-run the job"
        if hit is not None and hit.kind != "app":
            fix = f"{fix} ({self._explain(hit)})"
        if "Deadline" in why:
            fix = "Find why the job is slow or raise activeDeadlineSeconds, then re-run it"
        if owner:
            fix += f" (owned by {owner})"
        return Finding(
            Category.job_failure,
            0.88,
            root + ".",
            f"Job {name} failed: {why}",
            refs,
            [Investigate(instructions=fix)],
            [pod.name] if pod else [],
            name,
        )

    def job_findings(self) -> list[Finding]:
        """Failed Jobs (backoff limit, deadline) and the log line of their most telling pod."""
        findings: list[Finding] = []
        names: list[str] = []
        for block in self.ev.blocks_of("job"):
            names.append(block.name)
        for event in self.ev.events:
            if (
                event.kind == "job"
                and event.reason in ("BackoffLimitExceeded", "DeadlineExceeded")
                and event.name not in names
            ):
                names.append(event.name)
        wanted = alert_workloads(self.alert)
        for name in names:
            job: Block | Event | None = next((b for b in self.ev.blocks_of("job") if b.name == name), None)
            events = (job.events if isinstance(job, Block) else []) + self.ev.events_for("job", name)
            failed = [e for e in events if e.reason in ("BackoffLimitExceeded", "DeadlineExceeded")]
            statuses = job.fields.get("Pods Statuses", "") if isinstance(job, Block) else ""
            failed_count = re.search(r"(\d+) Failed", statuses)
            succeeded = re.search(r"(\d+) Succeeded", statuses)
            if not failed and not (
                failed_count and int(failed_count.group(1)) > 0 and not (succeeded and int(succeeded.group(1)) > 0)
            ):
                continue
            if wanted and self.targeted and not any(name == w or name.startswith(w) for w in wanted):
                continue
            if job is None:
                job = failed[0]
            pods = [
                p
                for p in sorted(self.ev.pods.values(), key=lambda p: p.name)
                if p.name.startswith(name + "-") or getattr(self._job_of(p), "name", None) == name
            ]
            failed_pods = [p for p in pods if (p.table_status or p.status) not in _HEALTHY_STATUSES] or pods
            pod, hit = self._most_telling(failed_pods)
            if pod is not None:
                oom = next((c for c in pod.containers if "OOMKilled" in (c.reason, c.last_reason)), None)
                if oom is not None:
                    findings.append(self._oom_finding(pod, oom))
                    continue
                refs = self._pod_evidence(pod, self._failing_container(pod))
            else:
                refs = []
            findings.append(self._job_finding(job, pod, hit, extra=refs))
        return findings

    def volume_alert_findings(self) -> list[Finding]:
        """A volume-usage alert (KubePersistentVolumeFillingUp and the like) backed by the claim's describe."""
        if not (
            re.search(r"PersistentVolume|volume|disk|filesystem|storage", self.alert_text, _I)
            and re.search(r"fill|full|free|space|usage|available|exhaust", self.alert_text, _I)
        ):
            return []
        claim = _label(self.alert, "persistentvolumeclaim", "pvc")
        blocks = [b for b in self.ev.blocks_of("pvc") if not claim or b.name == claim]
        if not blocks:
            return []
        block = blocks[0]
        ns = block.namespace or self.namespace
        capacity = block.fields.get("Capacity", "")
        used_by = block.fields.get("Used By", "")
        summary = (self.alert.description or self.alert.title) if self.alert is not None else "volume filling up"
        root = (
            f"PersistentVolumeClaim {_q(ns, block.name)}"
            + (f" ({capacity}" if capacity else "")
            + (f", used by {used_by})" if used_by and capacity else ")" if capacity else "")
            + f" is running out of space: {_clip(summary, 160).rstrip('.')}."
        )
        head = [x for x in block.lines if re.match(r"^(Name|Namespace|StorageClass|Status|Capacity|Used By):", x)]
        return [
            Finding(
                Category.storage,
                0.65,
                root,
                f"PVC {block.name} filling up",
                [_ref(block.source, head)],
                [
                    Investigate(
                        instructions=f"Expand PVC {_q(ns, block.name)} (allowVolumeExpansion) or free "
                        "space (retention, compaction)"
                    )
                ],
                [],
                block.name,
            )
        ]

    def _most_telling(self, pods: Sequence[Pod]) -> tuple[Pod | None, Hit | None]:
        """Of several failed pods, the one whose log best explains the failure (else the most recent)."""
        best: tuple[float, float, Pod, Hit | None] | None = None
        for pod in pods:
            hit = best_crash_hit(classify_log(self.ev.pod_logs(pod)))
            score = _hit_score(hit) if hit is not None else 0.0
            age = parse_age(pod.age)
            recency = -age.total_seconds() if age is not None else float("-inf")
            if best is None or (score, recency) > (best[0], best[1]):
                best = (score, recency, pod, hit)
        return (best[2], best[3]) if best is not None else (None, None)

    # nodes -----------------------------------------------------------------------------------------

    def node_findings(self) -> list[Finding]:
        """Nodes under pressure or NotReady that the incident's pods run on (or the alert names)."""
        findings: list[Finding] = []
        focus_nodes = {p.node for p in self.focus if p.node}
        alert_node = _label(self.alert, "node", "instance", "kubernetes_node", "nodename")
        for block in self.ev.blocks_of("node"):
            lines, names = self._bad_node_lines(block)
            node_events = [
                e
                for e in block.events + self.ev.events_for("node", block.name)
                if e.type == "Warning" or e.reason in ("EvictionThresholdMet", "NodeNotReady", "SystemOOM")
            ]
            if not names and not any(
                e.reason in ("EvictionThresholdMet", "SystemOOM", "FreeDiskSpaceFailed") for e in node_events
            ):
                continue
            evicted = [
                p
                for p in self.ev.pods.values()
                if p.node == block.name and (p.reason == "Evicted" or p.table_status == "Evicted")
            ]
            related = (
                block.name in focus_nodes
                or bool(evicted)
                or (alert_node and alert_node.split(":")[0] in (block.name, block.fields.get("Addresses", "")))
                or re.search(re.escape(block.name), self.alert_text) is not None
            )
            if not related:
                continue
            what = ", ".join(names) or ", ".join(dict.fromkeys(e.reason for e in node_events))
            pressure = [n for n in names if not n.startswith("Ready=")]
            root = f"Node {block.name} is " + (
                f"under pressure ({what})" if pressure or not names else f"NotReady ({what})"
            )
            messages = [x for x in lines if "Taints" not in x]
            if messages:
                root += f': "{_clip(_WS2.split(messages[0])[-1], 160)}"'
            if evicted:
                root += f"; {len(evicted)} pod(s) were evicted from it ({', '.join(p.name for p in evicted[:3])})"
            refs = [_ref(block.source, [f"Name: {block.name}", *lines] + [e.line for e in node_events[:3]])]
            refs += self._event_ref([e for p in evicted for e in p.events if e.reason == "Evicted"])
            findings.append(
                Finding(
                    Category.node_pressure,
                    0.85 if names else 0.7,
                    root + ".",
                    f"node {block.name}: {what}",
                    refs,
                    [
                        Investigate(
                            instructions=f"Relieve the pressure on node {block.name}: free "
                            "disk/memory, cordon and drain it, or add capacity"
                        )
                    ],
                    [p.name for p in evicted],
                    block.name,
                )
            )
        for row in self.ev.rows_with("STATUS", "ROLES") + self.ev.rows_with("STATUS", "VERSION"):
            status = row.cells.get("STATUS", "")
            name = row.cells.get("NAME", "")
            if "NotReady" in status and (name in focus_nodes or name in self.alert_text):
                if any(f.culprit == name for f in findings):
                    continue
                findings.append(
                    Finding(
                        Category.node_pressure,
                        0.75,
                        f'Node {name} is NotReady ("{row.line.strip()}"); pods on it are not running.',
                        f"node {name} NotReady",
                        [_ref(row.source, [row.line])],
                        [Investigate(instructions=f"Check the kubelet and the machine of node {name}")],
                        [],
                        name,
                    )
                )
        return findings

    # services ----------------------------------------------------------------------------------------

    def service_findings(self) -> list[Finding]:
        """Services without endpoints, selectors that match no pod, wrong target ports, missing backends."""
        findings: list[Finding] = []
        pods = list(self.ev.pods.values())
        for block in self.ev.blocks_of("service"):
            endpoints = block.fields.get("Endpoints", "")
            selector = block.fields.get("Selector", "")
            ns = block.namespace or self.namespace
            wanted = dict(x.split("=", 1) for x in selector.split(",") if "=" in x)
            selected = [
                p
                for p in pods
                if wanted
                and all(p.labels.get(k) == v for k, v in wanted.items())
                and (not p.namespace or p.namespace == ns)
            ]
            labelled = [p for p in pods if p.labels and (not p.namespace or p.namespace == ns)]
            head = [x for x in block.lines if re.match(r"^(Name|Namespace|Selector|Port|TargetPort|Endpoints):", x)]
            if endpoints in ("", "<none>") and wanted:
                if labelled and not selected:
                    seen = sorted({f"{k}={v}" for p in labelled for k, v in p.labels.items() if k in wanted})
                    root = (
                        f"Service {_q(ns, block.name)} has no endpoints: its selector {selector} matches no pod"
                        + (f" (the pods carry {', '.join(seen[:4])})" if seen else "")
                        + "."
                    )
                    refs = (
                        [
                            _ref(block.source, head),
                            _ref(
                                labelled[0].block.source,
                                [
                                    f"Name: {labelled[0].name}",
                                    "Labels: " + ",".join(f"{k}={v}" for k, v in labelled[0].labels.items()),
                                ],
                            ),
                        ]
                        if labelled[0].block
                        else [_ref(block.source, head)]
                    )
                    findings.append(
                        Finding(
                            Category.ingress_or_service_misconfig,
                            0.88,
                            root,
                            f"service {block.name}: selector matches no pods",
                            refs,
                            [
                                Investigate(
                                    instructions=f"Fix the selector of Service {_q(ns, block.name)} "
                                    f"({selector}) to match the pods' labels"
                                )
                            ],
                            [],
                            block.name,
                        )
                    )
                elif not selected or all(self._ready(p) for p in selected):
                    root = f"Service {_q(ns, block.name)} has no endpoints (selector {selector})."
                    findings.append(
                        Finding(
                            Category.ingress_or_service_misconfig,
                            0.6,
                            root,
                            f"service {block.name}: no endpoints",
                            [_ref(block.source, head)],
                            [Investigate(instructions=f"Check the selector and ports of Service {_q(ns, block.name)}")],
                            [],
                            block.name,
                        )
                    )
                continue
            target = re.match(r"(?:\S+\s+)?(\d+)/", block.fields.get("TargetPort", ""))
            if target and selected:
                ports = {p.split("/")[0] for pod in selected for c in pod.containers for p in c.ports}
                if ports and target.group(1) not in ports:
                    root = (
                        f"Service {_q(ns, block.name)} sends traffic to targetPort {target.group(1)}, but its pods "
                        f"listen on {', '.join(sorted(ports))}."
                    )
                    findings.append(
                        Finding(
                            Category.ingress_or_service_misconfig,
                            0.8,
                            root,
                            f"service {block.name}: wrong targetPort",
                            [_ref(block.source, head)],
                            [
                                Investigate(
                                    instructions=f"Set targetPort of Service {_q(ns, block.name)} to "
                                    f"the container port ({', '.join(sorted(ports))})"
                                )
                            ],
                            [],
                            block.name,
                        )
                    )
        for block in self.ev.blocks_of("ingress"):
            for line in block.lines:
                missing = re.search(r"(\S+):(\S+) \(<error: endpoints \"([^\"]+)\" not found>\)", line)
                if missing:
                    ns = block.namespace or self.namespace
                    root = (
                        f"Ingress {_q(ns, block.name)} routes to Service {missing.group(1)}:{missing.group(2)}, "
                        f'which has no endpoints object (endpoints "{missing.group(3)}" not found: the Service '
                        "does not exist or is misnamed)."
                    )
                    findings.append(
                        Finding(
                            Category.ingress_or_service_misconfig,
                            0.85,
                            root,
                            f"ingress {block.name}: backend {missing.group(1)} missing",
                            [_ref(block.source, [line.strip()])],
                            [
                                Investigate(
                                    instructions=f"Point Ingress {block.name} at an existing "
                                    "Service (name/port) or create the Service"
                                )
                            ],
                            [],
                            missing.group(1),
                        )
                    )
                    break
        for row in self.ev.rows_with("ENDPOINTS"):
            name = row.cells.get("NAME", "")
            if (
                row.cells.get("ENDPOINTS") == "<none>"
                and not any(f.culprit == name for f in findings)
                and (
                    name
                    and any(name == w for w in alert_workloads(self.alert))
                    and all(self._ready(p) for p in self.focus)
                )
            ):
                findings.append(
                    Finding(
                        Category.ingress_or_service_misconfig,
                        0.6,
                        f'Service {name} has no endpoints ("{row.line.strip()}").',
                        f"service {name}: no endpoints",
                        [_ref(row.source, [row.line])],
                        [Investigate(instructions=f"Check the selector and ports of Service {name}")],
                        [],
                        name,
                    )
                )
        controller = [x for x in self.ev.logs if re.search(r"does not have any active Endpoint", x.text)]
        if controller and not findings and all(self._ready(p) for p in self.focus):
            match = re.search(r"Service \"([^\"]+)\" does not have any active Endpoint", controller[-1].text)
            name = match.group(1) if match else "the backend service"
            findings.append(
                Finding(
                    Category.ingress_or_service_misconfig,
                    0.65,
                    f"The ingress controller reports that Service {name} does not have any active endpoint.",
                    f"{name}: no active endpoints",
                    self._hit_ref_lines(controller[-1:]),
                    [Investigate(instructions=f"Check the selector/ports of Service {name}")],
                    [],
                    name,
                )
            )
        return findings

    def _hit_ref_lines(self, lines: Sequence[LogLine]) -> list[EvidenceRef]:
        return [_ref(lines[0].source, [x.text for x in lines])] if lines else []

    def _ready(self, pod: Pod) -> bool:
        status = pod.table_status or pod.status
        if status and status not in ("Running", "Completed", "Succeeded"):
            return False
        if self._table_not_ready(pod):
            return False
        return all(c.ready is not False for c in pod.containers if not c.init)

    # logs of healthy pods ----------------------------------------------------------------------------

    def log_findings(self) -> list[Finding]:
        """Causes the logs of healthy pods show: dependencies refused/timing out/slow, DNS, certificates."""
        lines: list[LogLine] = []
        for pod in self.focus:
            lines.extend(x for x in self.ev.pod_logs(pod) if x.source.tool != ToolName.kubectl_describe)
        lines.extend(x for x in self.ev.unattributed_logs() if x not in lines)
        if not lines:
            return []
        hits = classify_log(lines)
        latency = bool(_LATENCY.search(self.alert_text))
        groups: dict[Category, list[Hit]] = {}
        for hit in hits:
            if hit.kind in ("app", "throttle"):
                continue
            if hit.kind == "slow" and not latency:
                continue
            groups.setdefault(hit.category, []).append(hit)
        findings: list[Finding] = []
        for category, group in groups.items():
            strong = [h for h in group if h.fatal or h.detail]
            if len(group) < 2 and not any(h.fatal for h in group):
                continue
            hosts = [h.detail for h in group if h.detail]
            host = max(dict.fromkeys(hosts), key=hosts.count) if hosts else ""
            sample = [h for h in group if h.detail == host] or group
            hit = sample[-1]
            count = len(group)
            confidence = min(0.8, 0.55 + 0.05 * count) if strong else 0.5
            netpol = self.network_policies(host)
            if (
                category == Category.dependency_unreachable
                and netpol is not None
                and all(h.kind in ("timeout", "slow") for h in group)
            ):
                findings.append(self._netpol_finding(netpol, group, host))
                continue
            if (
                category == Category.dns_failure
                and netpol is not None
                and "egress" in netpol[1].lower()
                and any("i/o timeout" in h.line.text for h in group)
            ):
                findings.append(self._netpol_finding(netpol, group, host))
                continue
            kinds = dict.fromkeys(h.kind for h in group)
            explanation = self._explain(hit)
            if category == Category.dependency_unreachable and len(kinds) > 1 and host:
                explanation = f"its dependency {host} is unreachable or slow ({'/'.join(kinds)})"
            subject = self._subject()
            root = f'{subject}: {explanation}; {count} log line(s) such as "{_display(hit.line.text, 220)}"' + (
                self._dependency_state(host) if category == Category.dependency_unreachable else ""
            )
            deployment = self._deployment(self.focus[0] if self.focus else None)
            findings.append(
                Finding(
                    category,
                    confidence,
                    root + ".",
                    f"{subject}: {explanation}",
                    self._hit_ref(sample[-2:]),
                    self._actions_for(category, hit, None, self._namespace_of(), deployment),
                    [],
                    host,
                )
            )
        return findings

    def _subject(self) -> str:
        service = alert_service(self.alert)
        if service:
            return f"Service {service}" if not service[0].isupper() else service
        if self.focus:
            return f"Workload {self.focus[0].workload}"
        return "The service"

    @staticmethod
    def _selects(selector: str, pod: Pod) -> bool:
        """Whether a NetworkPolicy's PodSelector (`app=x,tier=y`, `<none>` = all pods) selects the pod."""
        if not selector or selector.startswith("<none>"):
            return True
        wanted = dict(x.strip().split("=", 1) for x in selector.split(",") if "=" in x)
        if not wanted:
            return False
        if pod.labels:
            return all(pod.labels.get(k) == v for k, v in wanted.items())
        return all(v in pod.name for v in wanted.values())

    def network_policies(self, host: str = "") -> tuple[Block, str] | None:
        """The NetworkPolicy in the evidence that would drop the focus pods' traffic to `host`: one isolating the
        focus pods for egress, or the dependency's pods for ingress (the usual cause of silent timeouts)."""
        target = _strip_port(host).split(".")[0].lower()
        dependency = [
            p
            for p in self.ev.pods.values()
            if target and (p.workload.lower() == target or p.labels.get("app", "").lower() == target)
        ]
        best: tuple[int, Block, str] | None = None
        for block in self.ev.blocks_of("networkpolicy"):
            text = "\n".join(block.lines)
            selector_line = next((x for x in block.lines if "PodSelector:" in x), "")
            selector = selector_line.split("PodSelector:", 1)[1].strip() if selector_line else ""
            types = re.search(r"Policy Types:\s*(.*)", text)
            kinds = types.group(1).lower() if types else ""
            isolated = re.findall(
                r"Allowing (ingress|egress) traffic:\s*\n?\s*<none> \(Selected pods are isolated", text
            )
            egress = "egress" in kinds and any(self._selects(selector, p) for p in self.focus)
            ingress = "ingress" in kinds and any(self._selects(selector, p) for p in dependency)
            if not (egress or ingress):
                continue
            rank = 2 * bool(isolated) + 1
            direction = ",".join(isolated) or ("egress" if egress else "ingress")
            if best is None or rank > best[0]:
                best = (rank, block, direction)
        return (best[1], best[2]) if best is not None else None

    def _netpol_finding(self, netpol: tuple[Block, str], hits: list[Hit], host: str) -> Finding:
        block, isolated = netpol
        ns = block.namespace or self.namespace
        selector = next((x.strip() for x in block.lines if "PodSelector" in x), "")
        hit = hits[-1]
        root = (
            f"Connections{f' to {host}' if host else ''} time out without being refused, and NetworkPolicy "
            f"{_q(ns, block.name)} ({_clip(selector, 80)}) isolates the selected pods for {isolated} traffic: the "
            f'policy drops the traffic ("{_display(hit.line.text, 160)}").'
        )
        refs = [
            _ref(
                block.source,
                [
                    x
                    for x in block.lines
                    if re.search(
                        r"Name:|Namespace:|PodSelector|Allowing|"
                        r"isolated|Policy Types",
                        x,
                    )
                ],
            )
        ]
        refs += self._hit_ref(hits[-1:])
        return Finding(
            Category.network_policy,
            0.8,
            root,
            f"NetworkPolicy {block.name} drops traffic to {host}",
            refs,
            [
                Investigate(
                    instructions=f"Add an {isolated} rule to NetworkPolicy {_q(ns, block.name)} "
                    f"that allows traffic to {host or 'the dependency'}"
                )
            ],
            [],
            block.name,
        )

    def netpol_log_findings(self) -> list[Finding]:
        """Explicit drop verdicts in logs (Cilium/Calico) name the policy problem directly."""
        lines = [x for x in self.ev.logs if _NETPOL.search(x.text)]
        if not lines:
            return []
        # Flow logs read `source <> destination` (Hubble) or `source -> destination`: the dependency is the latter.
        host = host_of(re.split(r"\s(?:<>|->|=>)\s", lines[-1].text, maxsplit=1)[-1])
        return [
            Finding(
                Category.network_policy,
                0.8,
                f'Traffic{f" to {host}" if host else ""} is denied by a NetworkPolicy: "{_display(lines[-1].text, 200)}".',
                "NetworkPolicy denies traffic",
                self._hit_ref_lines(lines[-2:]),
                [Investigate(instructions="Allow the traffic in the NetworkPolicy that selects the pods")],
                [],
                host,
            )
        ]

    # cpu -------------------------------------------------------------------------------------------

    def cpu_findings(self) -> list[Finding]:
        """CPU usage at the limit (kubectl top against describe), or throttling the alert and logs report."""
        findings: list[Finding] = []
        names = {p.name: p for p in self.focus}
        for row in self.ev.rows_with("CPU(cores)"):
            pod_name = row.cells.get("POD") or row.cells.get("NAME", "")
            pod = names.get(pod_name)
            if pod is None:
                continue
            used = cpu_millis(row.cells.get("CPU(cores)", ""))
            container_name = row.cells.get("NAME") if "POD" in row.cells else None
            containers = [
                c for c in pod.containers if not c.init and (container_name is None or c.name == container_name)
            ]
            limits = [cpu_millis(c.limits.get("cpu", "")) for c in containers]
            if not containers or used is None or any(x is None for x in limits):
                limits = [self._workload_cpu_limit(pod)]
            if used is None or not limits or any(x is None or x == 0 for x in limits):
                continue
            limit = sum(x for x in limits if x)
            if used >= 0.9 * limit:
                container = containers[0] if len(containers) == 1 else None
                where = self._where(pod, container)
                limit_text = containers[0].limits.get("cpu", f"{limit}m") if container else f"{limit}m"
                root = (
                    f"{where} is CPU throttled: kubectl top shows {row.cells.get('CPU(cores)')} against a CPU limit "
                    f"of {limit_text} ({round(100 * used / limit)}% of the limit)"
                )
                refs = [_ref(row.source, [row.line]), *self._pod_evidence(pod, container)]
                throttle = [x for x in self.ev.logs if _THROTTLE.search(x.text)]
                if throttle:
                    refs += self._hit_ref_lines(throttle[-1:])
                deployment = self._deployment(pod)
                actions: list[SuggestedAction] = []
                if deployment:
                    actions.append(
                        SuggestConfigFix(
                            namespace=self._namespace_of(pod) or "default",
                            deployment=deployment,
                            container=container.name if container else None,
                            changes={"resources.limits.cpu": doubled_quantity(limit_text)},
                        )
                    )
                actions.append(
                    Investigate(
                        instructions="Raise the CPU limit (or remove it) or scale out; check what is burning CPU"
                    )
                )
                alert_cpu = bool(_CPU.search(self.alert_text)) or bool(_LATENCY.search(self.alert_text))
                findings.append(
                    Finding(
                        Category.cpu_throttling,
                        0.8 if alert_cpu else 0.6,
                        root + ".",
                        f"{pod.name}: CPU at its limit ({limit_text})",
                        refs,
                        actions,
                        [pod.name],
                        limit_text,
                    )
                )
        if findings:
            best = max(findings, key=lambda f: f.score)
            best.pods = [p for f in findings for p in f.pods]
            return [best]
        throttle = [x for x in self.ev.logs if _THROTTLE.search(x.text)]
        if throttle and _CPU.search(self.alert_text):
            return [
                Finding(
                    Category.cpu_throttling,
                    0.65,
                    f'{self._subject()} is CPU throttled: "{_display(throttle[-1].text, 200)}".',
                    "CPU throttling",
                    self._hit_ref_lines(throttle[-2:]),
                    [Investigate(instructions="Raise the CPU limit or scale out")],
                    [],
                    "",
                )
            ]
        if re.search(r"throttl", self.alert_text, _I):
            for pod in self.focus:
                for container in pod.containers:
                    cpu_limit = container.limits.get("cpu")
                    if cpu_limit:
                        limit_text = cpu_limit
                        usage = self._top_usage(pod, container)
                        seen = (
                            f"kubectl top shows {usage[2]} on average, so bursts hit the limit"
                            if usage is not None and usage[2]
                            else "no usage figures were available to confirm it"
                        )
                        return [
                            Finding(
                                Category.cpu_throttling,
                                0.55,
                                f"{self._where(pod, container)} has a CPU limit of {limit_text} and the alert "
                                f"reports throttling; {seen}.",
                                f"{pod.name}: throttled at {limit_text}",
                                self._pod_evidence(pod, container),
                                [Investigate(instructions=f"Check CPU usage against the {limit_text} limit")],
                                [pod.name],
                                limit_text,
                            )
                        ]
        return findings

    def _workload_cpu_limit(self, pod: Pod) -> int | None:
        for block in self.ev.blocks_of("deployment"):
            if block.name != pod.workload:
                continue
            text = "\n".join(block.lines)
            match = re.search(r"Limits:\s*\n(?:\s+\S+:\s+\S+\s*\n)*?\s+cpu:\s+(\S+)", text)
            if match:
                return cpu_millis(match.group(1))
        return None

    def memory_findings(self) -> list[Finding]:
        """Memory close to the limit when the alert is about memory (an OOM kill waiting to happen)."""
        if not _MEMORY.search(self.alert_text):
            return []
        for row in self.ev.rows_with("MEMORY(bytes)"):
            pod = next((p for p in self.focus if p.name == (row.cells.get("POD") or row.cells.get("NAME"))), None)
            if pod is None:
                continue
            used = memory_bytes(row.cells.get("MEMORY(bytes)", ""))
            for container in pod.containers:
                limit = memory_bytes(container.limits.get("memory", "") or "x")
                if used and limit and used >= 0.9 * limit:
                    where = self._where(pod, container)
                    deployment = self._deployment(pod)
                    actions: list[SuggestedAction] = [
                        Investigate(instructions="Find the memory growth or raise the limit")
                    ]
                    if deployment:
                        actions.insert(
                            0,
                            SuggestConfigFix(
                                namespace=self._namespace_of(pod) or "default",
                                deployment=deployment,
                                container=container.name,
                                changes={"resources.limits.memory": doubled_quantity(container.limits["memory"])},
                            ),
                        )
                    return [
                        Finding(
                            Category.oom,
                            0.6,
                            f"{where} uses {row.cells.get('MEMORY(bytes)')} of its "
                            f"{container.limits['memory']} memory limit and will be OOMKilled if it grows.",
                            f"{pod.name}: memory near its limit",
                            [_ref(row.source, [row.line]), *self._pod_evidence(pod, container)],
                            actions,
                            [pod.name],
                            container.limits["memory"],
                        )
                    ]
        return []

    def disk_findings(self) -> list[Finding]:
        """`No space left on device` in any log: a full volume, whatever state the pod is in."""
        lines = [x for x in self.ev.logs if _DISK.search(x.text)]
        if not lines:
            return []
        hit = classify_line(lines[-1].text)
        path = hit.detail if hit else ""
        pod_name = lines[-1].pod or next((p.name for p in self.focus if p.name in lines[-1].text), "")
        pod = self.ev.pods.get(pod_name)
        claim = ""
        if pod is not None and pod.block is not None:
            claim = next(iter(pod.claims), "")
        subject = f"pod {self._namespace_of(pod)}/{pod_name}" if pod_name else self._subject()
        root = (
            f'The volume of {subject} is full: "{_display(lines[-1].text, 200)}"'
            + (f" (PersistentVolumeClaim {claim})" if claim else "")
            + "."
        )
        return [
            Finding(
                Category.storage,
                0.85,
                root,
                f"{subject}: No space left on device",
                self._hit_ref_lines(lines[-2:]),
                [
                    Investigate(
                        instructions=f"Free space or expand {('PVC ' + claim) if claim else 'the volume'}"
                        f"{f' ({path})' if path else ''}"
                    )
                ],
                [pod_name] if pod_name else [],
                claim or path,
            )
        ]

    # deploys -----------------------------------------------------------------------------------------

    def recent_deploy(self) -> tuple[EvidenceRef, str] | None:
        """A deploy of the service shortly before the alert: (evidence, description) or None."""
        if hasattr(self, "_deploy_cache"):
            return self._deploy_cache
        self._deploy_cache: tuple[EvidenceRef, str] | None = self._find_deploy()
        return self._deploy_cache

    def _find_deploy(self) -> tuple[EvidenceRef, str] | None:
        started = self.alert.started_at if self.alert is not None else None
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        service = alert_service(self.alert).lower()
        for result in self.ev.deploys:
            text = _deploy_lines(result.output)
            if re.search(
                r"\bno (?:recent |recorded )?(?:deploys|deployments|deploy events)\b|^\s*(?:none|\[\])\s*$", text, _I
            ):
                continue
            best: tuple[timedelta | None, str] | None = None
            for line in text.splitlines():
                if not line.strip() or re.fullmatch(r"[A-Z _-]+", line.strip()):
                    continue
                # A line about another service (the tool may list neighbours) is not this service's deploy.
                other = service and service not in line.lower() and _lower(result.params.get("service")) != service
                if other and re.search(r"\bservice\b", line, _I):
                    continue
                when = _line_time(line)
                ago = _line_ago(line)
                if started is not None and when is not None:
                    delta = started - when
                    if not (-timedelta(minutes=5) <= delta <= timedelta(hours=2)):
                        continue
                    ago = delta
                elif (ago is not None and ago > timedelta(hours=2)) or (
                    when is None
                    and ago is None
                    and not re.search(r"deploy|release|rollout|version|v\d+\.\d+|\bsha\b", line, _I)
                ):
                    continue
                if best is None or (ago is not None and (best[0] is None or ago < best[0])):
                    best = (ago, line.strip())
            if best is not None:
                ago, line = best
                when_text = f" {int(ago.total_seconds() // 60)} min before the alert" if ago is not None else ""
                return _ref(result, [line]), f'deployed{when_text} ("{_clip(line, 160)}")'
        for block in self.ev.blocks_of("deployment"):
            if service and block.name.lower() != service and not any(block.name == p.workload for p in self.focus):
                continue
            old = block.fields.get("OldReplicaSets", "")
            scaled = [
                e
                for e in block.events
                if e.reason == "ScalingReplicaSet"
                and "Scaled up" in e.message
                and block.fields.get("NewReplicaSet", "").split(" ")[0] in e.message
            ]
            young = [e for e in scaled if (age := parse_age(e.age)) is not None and age <= timedelta(hours=2)]
            if young and old and old not in ("<none>", ""):
                revision = re.search(r"deployment\.kubernetes\.io/revision:\s*(\d+)", "\n".join(block.lines))
                text = (
                    f"rolled out {block.fields.get('NewReplicaSet', '').split(' ')[0]}"
                    + (f" (revision {revision.group(1)})" if revision else "")
                    + f" {young[0].age} ago"
                )
                lines = [x for x in block.lines if re.match(r"^(Name|OldReplicaSets|NewReplicaSet):", x)]
                return _ref(block.source, [*lines, young[0].line]), text
        return None

    def _error_lines(self) -> list[LogLine]:
        lines: list[LogLine] = []
        for pod in self.focus:
            lines.extend(x for x in self.ev.pod_logs(pod) if x.source.tool != ToolName.kubectl_describe)
        lines.extend(x for x in self.ev.unattributed_logs() if x not in lines)
        return [x for x in lines if _ERROR_LINE.search(x.text)]

    def _bad_deploy(self, best: Finding | None) -> Finding | None:
        deploy = self.recent_deploy()
        if deploy is None:
            return None
        if best is not None and best.category not in (Category.crashloop_app_error, Category.probe_failure):
            return None
        errors = self._error_lines()
        if best is None and len(errors) < 3:
            return None
        pod = self.focus[0] if self.focus else None
        deployment = self._deployment(pod) or alert_service(self.alert)
        if not deployment:
            return None
        ns = self._namespace_of(pod)
        ref, when = deploy
        if best is not None:
            symptom = best.root_cause.rstrip(".")
            refs = [ref, *best.evidence]
        else:
            texts = [re.sub(r"\d+", "N", _display(x.text, 200)) for x in errors]
            common = max(dict.fromkeys(texts), key=texts.count)
            sample = next(x for x, t in zip(errors, texts, strict=True) if t == common)
            symptom = f'since then the logs show {len(errors)} error line(s) such as "{_display(sample.text, 200)}"'
            refs = [ref, *self._hit_ref_lines([sample])]
        root = f"Deployment {_q(ns, deployment)} was {when}; {symptom}."
        return Finding(
            Category.bad_deploy,
            0.8 if best is not None else 0.7,
            root,
            f"bad deploy of {deployment}: errors began after the rollout",
            refs,
            [
                RollbackDeployment(namespace=ns or "default", deployment=deployment),
                Investigate(instructions=f"Compare the new release of {deployment} with the previous one"),
            ],
            best.pods if best else [],
            deployment,
        )

    # the answer --------------------------------------------------------------------------------------

    def findings(self) -> list[Finding]:
        """Every supported cause, pod by pod then object by object."""
        merged: list[Finding] = []
        for pod in self.focus:
            finding = self._pod_finding(pod)
            if finding is None:
                continue
            index = next(
                (i for i, f in enumerate(merged) if f.category == finding.category and f.culprit == finding.culprit),
                None,
            )
            if index is None:
                merged.append(finding)
                continue
            same = merged[index]
            pods = same.pods + [p for p in finding.pods if p not in same.pods]
            # The same cause on several pods: keep the best-supported write-up (more evidence, e.g. a log line).
            if (finding.confidence, len(finding.evidence)) > (same.confidence, len(same.evidence)):
                merged[index] = finding
            merged[index].pods = pods
        merged += self.job_findings()
        merged += self.node_findings()
        merged += self.service_findings()
        merged += self.netpol_log_findings()
        merged += self.disk_findings()
        merged += self.volume_alert_findings()
        merged += self.log_findings()
        merged += self.cpu_findings()
        merged += self.memory_findings()
        return merged

    def diagnose(self) -> Diagnosis:
        """The best supported finding as a Diagnosis, or unknown/no_problem saying what was checked."""
        findings = self.findings()
        best: Finding | None = None
        for finding in findings:
            if best is None or finding.score > best.score:
                best = finding
        deployed = self._bad_deploy(best)
        if deployed is not None:
            best = deployed
        if best is None or best.confidence < 0.4:
            return self._no_cause()
        return Diagnosis(
            category=best.category,
            root_cause=best.root_cause,
            summary=_clip(best.summary, 300),
            confidence=round(best.confidence, 2),
            evidence=best.evidence[:6],
            suggested_actions=best.actions,
            model=REASONER_NAME,
        )

    def _no_cause(self) -> Diagnosis:
        checked: list[str] = []
        pods = self.focus
        if pods:
            healthy = [p for p in pods if self._ready(p)]
            checked.append(
                f"{len(pods)} pod(s) ({len(healthy)} Running and Ready"
                + (f", restarts: {sum(p.restarts for p in pods)}" if any(p.restarts for p in pods) else "")
                + ")"
            )
        warnings = [e for e in self.ev.events if e.type == "Warning"]
        checked.append(f"{len(warnings)} warning event(s)")
        log_count = len(self.ev.logs)
        errors = self._error_lines()
        checked.append(f"{log_count} log line(s) with {len(errors)} error line(s)" if log_count else "no log lines")
        checked.append("a recent deploy" if self.recent_deploy() else "no recent deploy")
        missing = sorted({r.tool.value for r in self.ev.results if not r.ok})
        if missing:
            checked.append(f"no data from {', '.join(missing)}")
        what = "; ".join(checked)
        alert = self.alert
        refs = [_ref(r, r.output.splitlines()[:6]) for r in self.ev.results if r.ok and r.output.strip()][:3]
        if alert is not None and alert.lifecycle == Lifecycle.resolved:
            return Diagnosis(
                category=Category.no_problem,
                root_cause=f'The alert "{alert.title}" has resolved and the evidence shows nothing wrong (checked: '
                f"{what}).",
                summary="resolved on its own; nothing wrong in the evidence",
                confidence=0.5,
                evidence=refs,
                suggested_actions=[],
                model=REASONER_NAME,
            )
        subject = f'"{alert.title}"' if alert is not None else "this incident"
        return Diagnosis(
            category=Category.unknown,
            root_cause=f"No cause found for {subject}: the evidence does not support one (checked: {what}).",
            summary="unknown: no supported cause in the evidence",
            confidence=0.2,
            evidence=refs,
            suggested_actions=[
                Investigate(
                    instructions="No supported cause in the collected evidence; check metrics "
                    "and dependencies the tools cannot see (dashboards, upstream status)"
                )
            ],
            model=REASONER_NAME,
        )


def _deploy_lines(text: str) -> str:
    """Deploy records as one line each: a JSON/YAML list of objects becomes `time service version status ...`."""
    stripped = text.strip()
    if not stripped.startswith(("[", "{", "-")):
        return text
    try:
        data = yaml.safe_load(stripped)
    except yaml.YAMLError:
        return text
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), [data])
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        return text
    keys = ("time", "deployed_at", "timestamp", "created_at", "service", "name", "version", "image", "status", "author")
    lines = []
    for item in data:
        values = [str(item[k]) for k in keys if item.get(k) not in (None, "")]
        values += [f"{k}={v}" for k, v in item.items() if k not in keys and isinstance(v, str | int | float)]
        lines.append(" ".join(values))
    return "\n".join(lines)


_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?\s?(Z|UTC|[+-]\d{2}:?\d{2})?")


def _line_time(line: str) -> datetime | None:
    match = _ISO.search(line)
    if not match:
        return None
    date, clock, zone = match.groups()
    if len(clock) == 5:
        clock += ":00"
    zone = zone or "Z"
    if zone in ("Z", "UTC"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        return datetime.fromisoformat(f"{date}T{clock}{zone}")
    except ValueError:
        return None


def _line_ago(line: str) -> timedelta | None:
    match = re.search(r"(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?)\s+ago", line, _I)
    if not match:
        return None
    unit = match.group(2).lower()[0]
    return timedelta(seconds=int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])


def heartbeat_diagnosis(alert: Alert) -> Diagnosis:
    """Watchdog-style alerts fire on purpose to prove the alerting pipeline works."""
    name = alert.labels.get("alertname", "") or alert.title
    return Diagnosis(
        category=Category.no_problem,
        root_cause=f'"{name}" is a heartbeat alert that fires continuously by design to prove the alerting pipeline '
        "works; it is not a problem and needs no action.",
        summary=f"{name}: heartbeat alert, no action needed",
        confidence=0.95,
        evidence=[],
        suggested_actions=[],
        model=REASONER_NAME,
    )


# --- planning -------------------------------------------------------------------------------------

_Plan = tuple[ToolName, dict[str, str]]


def _plan(tool: ToolName, **params: str) -> _Plan:
    return tool, {k: v for k, v in params.items() if v}


def call_key(tool: ToolName, params: dict[str, str]) -> str:
    """Identity of a call for "already asked" checks (case- and kind-spelling-insensitive)."""
    clean = {k: v.strip().lower() for k, v in params.items() if v.strip()}
    if "kind" in clean:
        clean["kind"] = normalize_kind(clean["kind"])
    return json.dumps([tool.value, sorted(clean.items())])


def plan_first(alert: Alert | None) -> list[_Plan]:
    """Turn 1: broad calls from what the alert names."""
    ns = alert_namespace(alert)
    service = alert_service(alert)
    pod = alert_pod_name(alert)
    container = _label(alert, "container")
    text = _alert_text(alert)
    calls: list[_Plan] = []
    if pod:
        calls += [
            _plan(ToolName.kubectl_describe, kind="pod", name=pod, namespace=ns),
            _plan(ToolName.kubectl_previous_logs, name=pod, namespace=ns, container=container),
            _plan(ToolName.kubectl_logs, name=pod, namespace=ns, container=container),
            _plan(ToolName.kubectl_events, namespace=ns),
        ]
    else:
        calls += [
            _plan(ToolName.kubectl_get, kind="pod", namespace=ns),
            _plan(ToolName.kubectl_describe, kind="pod", namespace=ns),
            _plan(ToolName.kubectl_events, namespace=ns),
        ]
    deployment = (alert.deployment if alert is not None else None) or _label(
        alert, "deployment", "horizontalpodautoscaler"
    )
    for kind, value in (
        ("job", _label(alert, "job_name")),
        ("node", _label(alert, "node", "kubernetes_node")),
        ("pvc", _label(alert, "persistentvolumeclaim")),
        ("deployment", deployment),
    ):
        if value:
            calls.append(
                _plan(ToolName.kubectl_describe, kind=kind, name=value, namespace="" if kind == "node" else ns)
            )
    if pod:
        calls.append(_plan(ToolName.kubectl_get, kind="pod", namespace=ns))
    calls.append(_plan(ToolName.recent_deploys, service=service, namespace=ns))
    if _CPU.search(text) or _LATENCY.search(text) or _MEMORY.search(text):
        calls.append(_plan(ToolName.kubectl_top, kind="pod", namespace=ns))
    calls.append(_plan(ToolName.fetch_logs, service=service, namespace=ns, pod=pod))
    return calls


def plan_follow_ups(alert: Alert | None, results: Sequence[ToolResult], done: set[str]) -> list[_Plan]:
    """Turns 2 and 3: look closer at what the earlier calls revealed."""
    d = Diagnoser(alert, results)
    ev = d.ev
    ns = d.namespace
    calls: list[_Plan] = []
    kube = [r for r in results if r.tool.value.startswith("kubectl")]
    if ns and kube and not any(r.ok and r.output.strip() for r in kube):
        # Nothing under the alert's namespace: the recording may use another one, or none.
        calls += [
            _plan(ToolName.kubectl_get, kind="pod"),
            _plan(ToolName.kubectl_describe, kind="pod"),
            _plan(ToolName.kubectl_events),
        ]

    for failed in results:
        # A named object the recording (or the cluster) does not have: look at its kind more broadly once.
        if (
            not failed.ok
            and failed.tool in (ToolName.kubectl_describe, ToolName.kubectl_get)
            and failed.params.get("name")
        ):
            broader = {k: v for k, v in failed.params.items() if k != "name" and v}
            calls.append(_plan(failed.tool, **broader))

    def severity(pod: Pod) -> tuple[int, float, str]:
        status = pod.table_status or pod.status
        crashed = (
            any(c.reason == "CrashLoopBackOff" or c.last_reason for c in pod.containers) or status in _CRASH_STATUSES
        )
        rank = 0 if crashed or "OOMKilled" in status else 1 if status not in _HEALTHY_STATUSES else 2
        exact = 0 if alert_pod_name(alert) == pod.name else 1
        age = parse_age(pod.age)
        return (exact * 10 + rank, age.total_seconds() if age is not None else float("inf"), pod.name)

    problems = sorted([p for p in d.focus if not d._ready(p) or p.restarts > 0], key=severity)
    for pod in problems[:3]:
        pns = pod.namespace or ns
        status = pod.table_status or pod.status
        if pod.block is None:
            calls.append(_plan(ToolName.kubectl_describe, kind="pod", name=pod.name, namespace=pns))
        failing = d._failing_container(pod)
        container = failing.name if failing is not None and len(pod.containers) > 1 else ""
        crashed = (
            pod.restarts > 0
            or status in _CRASH_STATUSES
            or "OOMKilled" in status
            or any(c.last_state or c.state == "Terminated" for c in pod.containers)
        )
        waiting = status in ("Pending", "ContainerCreating", *_IMAGE_REASONS, "CreateContainerConfigError") or any(
            c.reason in _IMAGE_REASONS or c.reason in ("ContainerCreating", "CreateContainerConfigError")
            for c in pod.containers
        )
        if crashed:
            calls.append(_plan(ToolName.kubectl_previous_logs, name=pod.name, namespace=pns, container=container))
        if not waiting and status != "Evicted":
            calls.append(_plan(ToolName.kubectl_logs, name=pod.name, namespace=pns, container=container))
        kind, _, owner = pod.owner.partition("/")
        if kind.lower() == "job" or pod.labels.get("job-name"):
            calls.append(
                _plan(ToolName.kubectl_describe, kind="job", name=owner or pod.labels["job-name"], namespace=pns)
            )
        elif pod.owner_kind == "deployment" and not any(b.name == pod.workload for b in ev.blocks_of("deployment")):
            calls.append(_plan(ToolName.kubectl_describe, kind="deployment", name=pod.workload, namespace=pns))
        for claim in pod.claims:
            calls.append(_plan(ToolName.kubectl_describe, kind="pvc", name=claim, namespace=pns))
        sched = " ".join(e.message for e in pod.events if e.reason == "FailedScheduling")
        if re.search(r"taint|affinity|selector|unschedulable", sched):
            calls.append(_plan(ToolName.kubectl_get, kind="node"))
        if pod.node and (
            status == "Evicted"
            or pod.reason == "Evicted"
            or any(e.reason in ("Evicted", "SystemOOM", "NodeNotReady") for e in pod.events)
        ):
            calls.append(_plan(ToolName.kubectl_describe, kind="node", name=pod.node))
    for event in ev.events:
        for claim in re.findall(r"persistentvolumeclaim \"([^\"]+)\"", event.message, _I):
            calls.append(_plan(ToolName.kubectl_describe, kind="pvc", name=claim, namespace=ns))
        if event.kind == "pvc" and event.type == "Warning":
            calls.append(_plan(ToolName.kubectl_describe, kind="pvc", name=event.name, namespace=ns))
        if event.kind == "node" and event.type == "Warning":
            calls.append(_plan(ToolName.kubectl_describe, kind="node", name=event.name))
        if event.kind == "job" and event.reason in ("BackoffLimitExceeded", "DeadlineExceeded"):
            calls.append(_plan(ToolName.kubectl_describe, kind="job", name=event.name, namespace=ns))
        if event.reason == "Evicted" and event.name in ev.pods and ev.pods[event.name].node:
            calls.append(_plan(ToolName.kubectl_describe, kind="node", name=ev.pods[event.name].node))
    healthy = bool(d.focus) and all(d._ready(p) for p in d.focus)
    logs_seen = any(
        r.ok and r.output.strip() for r in results if r.tool in (ToolName.fetch_logs, ToolName.kubectl_logs)
    )
    # Usage without limits says nothing: fetch the limits of the busiest pods' workload.
    topped = {row.cells.get("POD") or row.cells.get("NAME", "") for row in ev.rows_with("CPU(cores)")}
    for pod in d.focus:
        if pod.name in topped and pod.block is None and pod.owner_kind == "deployment":
            if not any(b.name == pod.workload for b in ev.blocks_of("deployment")):
                calls.append(
                    _plan(
                        ToolName.kubectl_describe, kind="deployment", name=pod.workload, namespace=pod.namespace or ns
                    )
                )
            calls.append(_plan(ToolName.kubectl_describe, kind="pod", name=pod.name, namespace=pod.namespace or ns))
            break
    events_seen = any(r.ok and r.output.strip() for r in results if r.tool == ToolName.kubectl_events)
    if not events_seen and any(r.tool == ToolName.kubectl_events for r in results):
        # Some recorders keep events as `kubectl get events`.
        calls.append(_plan(ToolName.kubectl_get, kind="event", namespace=ns))
    if healthy and not logs_seen:
        for pod in d.focus[:2]:
            calls.append(_plan(ToolName.kubectl_logs, name=pod.name, namespace=pod.namespace or ns))
    hits = classify_log(ev.logs)
    silent = any(
        h.kind in ("timeout", "slow", "saturated") or (h.kind == "dns" and "timeout" in h.line.text) for h in hits
    )
    if any(h.kind == "dns" for h in hits) and not any(re.match(r"coredns|kube-dns", p) for p in ev.pods):
        calls.append(_plan(ToolName.kubectl_get, kind="pod", namespace="kube-system"))
    if silent and not ev.blocks_of("networkpolicy"):
        # Connections that time out instead of being refused are what a NetworkPolicy drop looks like: read the
        # policies and ask the log backend for the CNI's drop verdicts.
        calls.append(_plan(ToolName.kubectl_describe, kind="networkpolicy", namespace=ns))
        calls.append(_plan(ToolName.fetch_logs, query="policy denied"))
    service = alert_service(alert)
    text = _alert_text(alert)
    if service and (_SERVICE_HINT.search(text) or (healthy and _ERRORS.search(text))):
        calls.append(_plan(ToolName.kubectl_describe, kind="service", name=service, namespace=ns))
        if re.search(r"ingress|gateway|50[234]|bad gateway", text, _I):
            calls.append(_plan(ToolName.kubectl_describe, kind="ingress", namespace=ns))
    if (_CPU.search(text) or _LATENCY.search(text) or _MEMORY.search(text)) and not any(
        r.tool == ToolName.kubectl_top for r in results
    ):
        calls.append(_plan(ToolName.kubectl_top, kind="pod", namespace=ns))
    out: list[_Plan] = []
    keys: set[str] = set(done)
    for tool, params in calls:
        key = call_key(tool, params)
        if key not in keys:
            keys.add(key)
            out.append((tool, params))
    return out[:MAX_CALLS_PER_TURN]


class OfflineReasoner:
    """A `DiagnosisModel` that needs no network: deterministic rules over real kubectl output and logs."""

    name = REASONER_NAME

    async def next(self, context: DiagnosisContext, turns: list[Turn], *, must_finish: bool) -> ModelReply:
        """Plan calls on turn 1, follow up on turns 2-3, then answer (at once when `must_finish`)."""
        alert = context.alert
        if alert is not None and _is_heartbeat(alert):
            diagnosis = heartbeat_diagnosis(alert)
            return ModelReply(text=diagnosis.summary, diagnosis=diagnosis)
        results = [r for turn in turns for r in turn.results]
        if not must_finish and len(turns) < MAX_TURNS:
            if not turns:
                plans = plan_first(alert)[:MAX_CALLS_PER_TURN]
                text = "Collecting the state, events, logs and recent deploys of what the alert names."
            else:
                done = {call_key(c.tool, c.params) for turn in turns for c in turn.calls}
                plans = plan_follow_ups(alert, results, done)
                text = "Following up on the unhealthy objects the first calls revealed."
            if plans:
                calls = [
                    ToolCall(id=f"offline-{len(turns) + 1}-{index + 1}", tool=tool, params=params)
                    for index, (tool, params) in enumerate(plans)
                ]
                return ModelReply(text=text, calls=calls)
        diagnosis = Diagnoser(alert, results).diagnose()
        return ModelReply(text=diagnosis.summary, diagnosis=diagnosis)

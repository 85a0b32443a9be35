"""Evidence bundles: a directory of text files, one per tool call, and a toolbox that replays them.

Each file's first line is a JSON header `{"tool": NAME, "params": {...}}`; the rest is the tool's raw
output. Files are read in sorted name order; `write_bundle` names them `NN-<tool>.txt`. Bundles recorded
by other teams follow the same convention, so matching a call to a recording is deliberately lenient about
params a side did not record (see `BundleToolbox`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.diagnosis import ToolCall, ToolName, ToolResult
from domain.evidence import bundle_header

# Files that live next to a bundle in an eval case and are not tool calls.
COMPANION_FILES = frozenset({"alert.json", "expected.yaml", "expected.yml"})
# A file with one of these suffixes is read only when its first line really is a bundle header.
_LENIENT_SUFFIXES = frozenset({".json", ".yaml", ".yml", ".md", ".rst"})
# Params that shape an output (how much, which lines) without naming a different resource.
_NON_IDENTIFYING = frozenset({"tail", "since_minutes", "since", "limit", "query", "title"})
_KIND_ALIASES = {
    "po": "pod",
    "pods": "pod",
    "deploy": "deployment",
    "deployments": "deployment",
    "deployment.apps": "deployment",
    "deployments.apps": "deployment",
    "no": "node",
    "nodes": "node",
    "persistentvolumeclaim": "pvc",
    "persistentvolumeclaims": "pvc",
    "pvcs": "pvc",
    "persistentvolume": "pv",
    "persistentvolumes": "pv",
    "pvs": "pv",
    "jobs": "job",
    "jobs.batch": "job",
    "job.batch": "job",
    "cronjobs": "cronjob",
    "cj": "cronjob",
    "svc": "service",
    "services": "service",
    "ep": "endpoints",
    "endpoint": "endpoints",
    "ing": "ingress",
    "ingresses": "ingress",
    "netpol": "networkpolicy",
    "networkpolicies": "networkpolicy",
    "sts": "statefulset",
    "statefulsets": "statefulset",
    "ds": "daemonset",
    "daemonsets": "daemonset",
    "rs": "replicaset",
    "replicasets": "replicaset",
    "sc": "storageclass",
    "storageclasses": "storageclass",
    "ev": "event",
    "events": "event",
    "cm": "configmap",
    "configmaps": "configmap",
    "secrets": "secret",
    "hpa": "horizontalpodautoscaler",
    "horizontalpodautoscalers": "horizontalpodautoscaler",
}
_NUMBERED = re.compile(r"^(\d+)-")
# How much sharing a param says that two calls are about the same thing (a name beats a namespace).
_WEIGHT = {"name": 4, "pod": 4, "container": 2, "service": 2}
# Spellings of our tool names seen in hand-made bundles; anything else is an unknown tool.
_TOOL_ALIASES = {
    "kubectl_logs_previous": ToolName.kubectl_previous_logs,
    "kubectl_previous_log": ToolName.kubectl_previous_logs,
    "kubectl_log": ToolName.kubectl_logs,
    "kubectl_get_events": ToolName.kubectl_events,
    "kubectl_event": ToolName.kubectl_events,
    "kubectl_describe_pod": ToolName.kubectl_describe,
    "kubectl_get_pods": ToolName.kubectl_get,
    "kubectl_top_pods": ToolName.kubectl_top,
    "kubectl_top_pod": ToolName.kubectl_top,
    "logs": ToolName.fetch_logs,
    "recent_deployments": ToolName.recent_deploys,
    "deploys": ToolName.recent_deploys,
}


class BundleError(ValueError):
    """A bundle file that cannot be read; the message names the file and says why."""


class UnknownToolError(BundleError):
    """A bundle file whose header names a tool we do not have (skipped when reading leniently)."""


@dataclass(frozen=True)
class RecordedCall:
    """One recorded tool call: the file it came from, the tool, its params and its raw output."""

    file: str
    tool: ToolName
    params: dict[str, str]
    output: str
    ok: bool = True
    truncated: bool = False


def _param_text(value: Any) -> str:
    """Params are strings in our model; other teams (and hand-written bundles) may hold anything."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _clean_params(params: Any) -> dict[str, str]:
    if not isinstance(params, Mapping):
        return {}
    return {str(key): _param_text(value) for key, value in params.items()}


def _existing_numbers(directory: Path) -> list[int]:
    numbers = []
    for path in directory.iterdir():
        match = _NUMBERED.match(path.name)
        if match:
            numbers.append(int(match.group(1)))
    return numbers


def write_bundle(directory: Path, results: Sequence[ToolResult]) -> None:
    """Write one `NN-<tool>.txt` file per result; numbering continues after files already there."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = _existing_numbers(directory)
    number = max(existing, default=0) + 1
    last = number + len(results) - 1
    width = max(2, len(str(last)), *(len(str(n)) for n in existing))
    for result in results:
        while True:
            path = directory / f"{number:0{width}d}-{result.tool.value}.txt"
            number += 1
            try:
                # "x": never replace a file this call did not write (a rerun into the same folder appends).
                with path.open("x", encoding="utf-8", errors="surrogatepass", newline="") as handle:
                    handle.write(bundle_header(result) + "\n" + result.output)
                break
            except FileExistsError:
                continue


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
    return text.removeprefix("\ufeff")


def _parse_header(name: str, line: str) -> tuple[ToolName, dict[str, str], bool, bool]:
    stripped = line.strip()
    if not stripped:
        raise BundleError(
            f'{name}: the first line is empty; expected a JSON header like {{"tool": ..., "params": {{...}}}}'
        )
    try:
        header = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{name}: the first line is not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(header, dict):
        raise BundleError(f"{name}: the header must be a JSON object, got {type(header).__name__}")
    tool = header.get("tool")
    if not isinstance(tool, str) or not tool:
        raise BundleError(f'{name}: the header has no "tool" name')
    spelled = tool.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        tool_name = _TOOL_ALIASES.get(spelled) or ToolName(spelled)
    except ValueError:
        known = ", ".join(t.value for t in ToolName)
        raise UnknownToolError(f"{name}: unknown tool {tool!r} (known: {known})") from None
    params = header.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise BundleError(f'{name}: "params" must be a JSON object, got {type(params).__name__}')
    ok = header.get("ok", True) is not False
    truncated = header.get("truncated", False) is True
    return tool_name, _clean_params(params), ok, truncated


def _looks_like_header(line: str) -> bool:
    try:
        header = json.loads(line.strip())
    except (json.JSONDecodeError, ValueError):
        return False
    return isinstance(header, dict) and "tool" in header


def read_bundle(directory: Path, *, strict: bool = True, skipped: list[str] | None = None) -> list[RecordedCall]:
    """Read every tool-call file of a bundle directory in sorted name order.

    `strict=False` skips files whose header names an unknown tool (their reasons go to `skipped`) instead of
    failing: a bundle from another recorder may hold tools we do not have.
    """
    if not directory.is_dir():
        raise BundleError(f"{directory}: not a directory")
    calls: list[RecordedCall] = []
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if not path.is_file() or path.name.startswith(".") or path.name in COMPANION_FILES:
            continue
        text = _read_text(path)
        first, newline, rest = text.partition("\n")
        if path.suffix.lower() in _LENIENT_SUFFIXES and not _looks_like_header(first):
            continue
        try:
            tool, params, ok, truncated = _parse_header(path.name, first.removesuffix("\r"))
        except UnknownToolError as exc:
            if strict:
                raise
            if skipped is not None:
                skipped.append(str(exc))
            continue
        calls.append(
            RecordedCall(
                file=path.name, tool=tool, params=params, output=rest if newline else "", ok=ok, truncated=truncated
            )
        )
    return calls


def normalize_kind(kind: str) -> str:
    """`pods`, `po`, `Pod` -> `pod`: kubectl accepts many spellings of one kind."""
    value = kind.strip().lower()
    return _KIND_ALIASES.get(value, value)


# Other spellings of our param names (kubectl flags, other recorders); `pod` names the object only for kubectl
# tools: for fetch_logs it is its own param.
_PARAM_ALIASES = {"ns": "namespace", "type": "kind", "resource": "kind", "c": "container"}
_KUBECTL_PARAM_ALIASES = {"pod": "name", "pod_name": "name", "object": "name", "resource_name": "name"}
_LOG_PARAM_ALIASES = {"pod_name": "pod", "app": "service"}


def _normalized(params: Mapping[str, str], tool: ToolName | None = None) -> dict[str, str]:
    """Non-empty params, lower-cased, under our names; `kind` canonical; a `kind/name` name split in two."""
    aliases = dict(_PARAM_ALIASES)
    if tool is not None and tool.value.startswith("kubectl"):
        aliases.update(_KUBECTL_PARAM_ALIASES)
    elif tool == ToolName.fetch_logs:
        aliases.update(_LOG_PARAM_ALIASES)
    out: dict[str, str] = {}
    for key, value in params.items():
        text = value.strip()
        if text:
            name = key.strip().lower()
            out.setdefault(aliases.get(name, name), text.lower())
    name = out.get("name", "")
    if "/" in name and name.count("/") == 1:
        kind, _, bare = name.partition("/")
        out["name"] = bare
        out.setdefault("kind", kind)
    if "kind" in out:
        out["kind"] = ",".join(normalize_kind(k) for k in out["kind"].split(","))
    return out


def _same(key: str, recorded: str, wanted: str) -> bool:
    if key == "kind":
        # `kubectl get pods,svc` / `get all` recorded once answers a call for any of those kinds.
        kinds = set(recorded.split(","))
        return "all" in kinds or bool(kinds & set(wanted.split(",")))
    return recorded == wanted


@dataclass
class _Recording:
    call: RecordedCall
    params: dict[str, str] = field(default_factory=dict)


class BundleToolbox:
    """Answers tool calls from a recorded bundle (a `Toolbox`).

    A recording matches a call when the tool is the same and no resource-naming param conflicts: params
    compare case-insensitively, an empty or missing call param matches anything, and a param only one side
    has is fine (`tail`, `query`... never conflict). Among matches the most specific win: recordings with
    exactly the call's params, else the ones sharing the most telling params with it (every param the call
    gave; else a name over a namespace), else every compatible one; several are concatenated in file order
    (what `kubectl describe pods` without a name prints). Repeated identical calls replay the repeated recordings in order, so a live run replays to the
    same transcript.
    """

    def __init__(
        self, directory: Path | None = None, *, calls: Sequence[RecordedCall] | None = None, strict: bool = True
    ) -> None:
        if directory is None and calls is None:
            raise ValueError("BundleToolbox needs a directory or recorded calls")
        self.skipped: list[str] = []
        if calls is not None:
            recorded = list(calls)
        else:
            assert directory is not None
            recorded = read_bundle(directory, strict=strict, skipped=self.skipped)
        self._recordings = [_Recording(call=c, params=_normalized(c.params, c.tool)) for c in recorded]
        self._served: dict[str, int] = {}

    @property
    def recorded(self) -> list[RecordedCall]:
        """The recorded calls, in file order."""
        return [r.call for r in self._recordings]

    def _matches(self, call: ToolCall) -> list[_Recording]:
        wanted = _normalized(call.params, call.tool)
        compatible: list[_Recording] = []
        for rec in self._recordings:
            if rec.call.tool != call.tool:
                continue
            conflict = any(
                key not in _NON_IDENTIFYING and key in rec.params and not _same(key, rec.params[key], value)
                for key, value in wanted.items()
            )
            if not conflict:
                compatible.append(rec)
        identical = [r for r in compatible if r.params == wanted]
        if identical:
            key = json.dumps([call.tool.value, sorted(wanted.items())])
            index = self._served.get(key, 0)
            self._served[key] = index + 1
            return [identical[min(index, len(identical) - 1)]]
        naming = {k: v for k, v in wanted.items() if k not in _NON_IDENTIFYING}
        # Keep the recordings that share the most telling params with the call: those with every param the call
        # gave, else e.g. the recording of this very pod over the namespace-wide one; all when none shares any.
        ranked = [
            (sum(_WEIGHT.get(k, 1) for k, v in naming.items() if k in r.params and _same(k, r.params[k], v)), r)
            for r in compatible
        ]
        best = max((rank for rank, _ in ranked), default=0)
        return [r for rank, r in ranked if rank == best] if best else compatible

    async def call(self, call: ToolCall) -> ToolResult:
        """Answer one call from the recordings; a call nothing recorded answers gets ok=False "no data"."""
        matches = self._matches(call)
        if not matches:
            shown = {k: v for k, v in sorted(call.params.items()) if v.strip()}
            return ToolResult(
                call_id=call.id,
                tool=call.tool,
                params=dict(call.params),
                output=f"no data: the evidence bundle has no {call.tool.value} output for "
                f"{json.dumps(shown, ensure_ascii=False)}",
                ok=False,
            )
        good = [m for m in matches if m.call.ok]
        chosen = good or matches
        parts: list[str] = []
        for rec in chosen:
            text = rec.call.output
            if parts and not parts[-1].endswith("\n"):
                parts[-1] += "\n"
            parts.append(text)
        return ToolResult(
            call_id=call.id,
            tool=call.tool,
            params=dict(call.params),
            output="".join(parts),
            ok=bool(good),
            truncated=any(r.call.truncated for r in chosen),
        )

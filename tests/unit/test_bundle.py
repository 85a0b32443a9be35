"""Evidence bundles: the file format, reading errors, and how recorded calls answer new ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.context.base import Toolbox
from adapters.context.bundle import BundleError, BundleToolbox, RecordedCall, read_bundle, write_bundle
from adapters.llm.agent import run_agent
from adapters.llm.base import DiagnosisContext
from adapters.llm.offline import OfflineReasoner
from domain.diagnosis import ToolCall, ToolName, ToolResult
from domain.models import Alert

DESCRIBE_WEB = "Name:         web-1\nNamespace:    shop\nStatus:       Running\n"
DESCRIBE_DB = "Name:         db-0\nNamespace:    shop\nStatus:       Pending\n"


def result(tool: ToolName, output: str, *, ok: bool = True, truncated: bool = False, **params: str) -> ToolResult:
    return ToolResult(call_id="c", tool=tool, params=params, output=output, ok=ok, truncated=truncated)


def rec(tool: ToolName, output: str, *, file: str = "x.txt", ok: bool = True, **params: str) -> RecordedCall:
    return RecordedCall(file=file, tool=tool, params=params, output=output, ok=ok)


def call(tool: ToolName, **params: str) -> ToolCall:
    return ToolCall(id="q1", tool=tool, params=params)


def write(directory: Path, name: str, header: object, body: str = "output\n") -> None:
    text = header if isinstance(header, str) else json.dumps(header)
    (directory / name).write_text(f"{text}\n{body}", encoding="utf-8")


# --- format ----------------------------------------------------------------------------------------


def test_write_then_read_round_trips_every_field(tmp_path: Path) -> None:
    results = [
        result(ToolName.kubectl_describe, DESCRIBE_WEB, kind="pod", name="web-1", namespace="shop"),
        result(ToolName.kubectl_logs, "line 1\nünïcode ✓\n\nlast line without newline", name="web-1"),
        result(ToolName.kubectl_previous_logs, "no previous container", ok=False, name="web-1"),
        result(ToolName.fetch_logs, "x" * 50 + "\n[... truncated ...]", truncated=True, service="web"),
        result(ToolName.recent_deploys, ""),
    ]
    write_bundle(tmp_path, results)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "01-kubectl_describe.txt",
        "02-kubectl_logs.txt",
        "03-kubectl_previous_logs.txt",
        "04-fetch_logs.txt",
        "05-recent_deploys.txt",
    ]
    first = (tmp_path / names[0]).read_text(encoding="utf-8").splitlines()[0]
    assert json.loads(first) == {
        "tool": "kubectl_describe",
        "params": {"kind": "pod", "name": "web-1", "namespace": "shop"},
    }
    calls = read_bundle(tmp_path)
    assert [(c.tool, c.params, c.output, c.ok, c.truncated) for c in calls] == [
        (r.tool, r.params, r.output, r.ok, r.truncated) for r in results
    ]


def test_odd_param_values_keep_the_header_on_one_line(tmp_path: Path) -> None:
    odd = {"name": "web\n1", "query": 'say "hi"\t\\', "namespace": "ns/with/slashes", "title": "é ✓ 🚀"}
    write_bundle(tmp_path, [ToolResult(call_id="c", tool=ToolName.fetch_logs, params=odd, output="body\n")])
    # Values that bypassed validation (another recorder's objects) are written as text, not rejected.
    loose_params: dict[str, Any] = {"tail": 200, "follow": True, "extra": None, "x": [1]}
    loose = ToolResult.model_construct(
        call_id="c",
        tool=ToolName.kubectl_get,
        params=loose_params,
        output="o",
        ok=True,
        truncated=False,
    )
    write_bundle(tmp_path, [loose])
    calls = read_bundle(tmp_path)
    assert calls[0].params == odd
    assert calls[1].params == {"tail": "200", "follow": "true", "extra": "", "x": "[1]"}
    for path in tmp_path.iterdir():
        header = path.read_text(encoding="utf-8").split("\n", 1)[0]
        assert json.loads(header)["tool"]


def test_write_never_overwrites_files_it_did_not_write(tmp_path: Path) -> None:
    write(tmp_path, "01-kubectl_get.txt", {"tool": "kubectl_get", "params": {}}, "mine\n")
    (tmp_path / "notes.md").write_text("keep me")
    write_bundle(tmp_path, [result(ToolName.kubectl_get, "new\n"), result(ToolName.kubectl_top, "top\n")])
    assert (tmp_path / "01-kubectl_get.txt").read_text().endswith("mine\n")
    assert (tmp_path / "notes.md").read_text() == "keep me"
    assert [c.output for c in read_bundle(tmp_path)] == ["mine\n", "new\n", "top\n"]
    assert (tmp_path / "02-kubectl_get.txt").exists()
    assert (tmp_path / "03-kubectl_top.txt").exists()


def test_many_results_still_sort_in_call_order(tmp_path: Path) -> None:
    write_bundle(tmp_path, [result(ToolName.kubectl_get, f"{i}\n") for i in range(120)])
    assert [c.output for c in read_bundle(tmp_path)] == [f"{i}\n" for i in range(120)]


def test_read_skips_companion_files_and_reads_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, "b.txt", {"tool": "kubectl_events", "params": {"namespace": "shop"}}, "second")
    write(tmp_path, "a.log", {"tool": "kubectl_get", "params": None}, "first")
    (tmp_path / "alert.json").write_text('{"title": "x"}')
    (tmp_path / "expected.yaml").write_text("category: oom\n")
    (tmp_path / "README.md").write_text("# how this was recorded\n")
    (tmp_path / ".hidden").write_text("junk")
    calls = read_bundle(tmp_path)
    assert [(c.file, c.tool, c.params, c.output) for c in calls] == [
        ("a.log", ToolName.kubectl_get, {}, "first"),
        ("b.txt", ToolName.kubectl_events, {"namespace": "shop"}, "second"),
    ]


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("", "first line is empty"),
        ("kubectl describe pod web-1", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"params": {}}', 'no "tool"'),
        ('{"tool": "kubectl_exec", "params": {}}', "unknown tool 'kubectl_exec'"),
        ('{"tool": "kubectl_get", "params": ["pod"]}', '"params" must be a JSON object'),
    ],
)
def test_bad_headers_name_the_file_and_the_reason(tmp_path: Path, header: str, why: str) -> None:
    write(tmp_path, "07-broken.txt", header)
    with pytest.raises(BundleError) as info:
        read_bundle(tmp_path)
    assert "07-broken.txt" in str(info.value)
    assert why in str(info.value)


def test_lenient_read_skips_unknown_tools_and_says_so(tmp_path: Path) -> None:
    write(tmp_path, "01-a.txt", {"tool": "kubectl_exec", "params": {}})
    write(tmp_path, "02-b.txt", {"tool": "Kubectl-Logs-Previous", "params": {"name": "web-1"}}, "boom")
    skipped: list[str] = []
    calls = read_bundle(tmp_path, strict=False, skipped=skipped)
    assert [c.tool for c in calls] == [ToolName.kubectl_previous_logs]
    assert len(skipped) == 1
    assert "01-a.txt" in skipped[0]
    assert "kubectl_exec" in skipped[0]


def test_missing_directory_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a directory"):
        read_bundle(tmp_path / "nope")


# --- matching --------------------------------------------------------------------------------------


async def test_the_toolbox_is_a_toolbox() -> None:
    assert isinstance(BundleToolbox(calls=[]), Toolbox)


async def test_same_tool_and_case_insensitive_params_match() -> None:
    box = BundleToolbox(
        calls=[rec(ToolName.kubectl_describe, DESCRIBE_WEB, kind="Pod", name="WEB-1", namespace="Shop")]
    )
    got = await box.call(call(ToolName.kubectl_describe, kind="pods", name="web-1", namespace="shop"))
    assert got.ok
    assert got.output == DESCRIBE_WEB
    assert got.call_id == "q1"
    assert got.params == {"kind": "pods", "name": "web-1", "namespace": "shop"}
    other = await box.call(call(ToolName.kubectl_get, kind="pod", name="web-1"))
    assert not other.ok


async def test_empty_or_missing_call_params_match_anything_and_missing_recorded_ones_are_fine() -> None:
    box = BundleToolbox(calls=[rec(ToolName.kubectl_logs, "log\n", name="web-1", namespace="shop")])
    assert (await box.call(call(ToolName.kubectl_logs, name="web-1", namespace=""))).ok
    assert (await box.call(call(ToolName.kubectl_logs, name="web-1"))).ok
    # The container was not recorded (a single-container pod): still the answer.
    assert (await box.call(call(ToolName.kubectl_logs, name="web-1", namespace="shop", container="app"))).ok
    # tail/query shape an output; they never make a recording "another resource".
    assert (await box.call(call(ToolName.kubectl_logs, name="web-1", tail="50"))).ok


async def test_conflicting_values_do_not_match_and_say_no_data() -> None:
    box = BundleToolbox(calls=[rec(ToolName.kubectl_logs, "log\n", name="web-1", namespace="shop", container="app")])
    got = await box.call(call(ToolName.kubectl_logs, name="web-1", namespace="shop", container="sidecar"))
    assert not got.ok
    assert got.output == (
        'no data: the evidence bundle has no kubectl_logs output for {"container": "sidecar", "name": "web-1", '
        '"namespace": "shop"}'
    )
    assert not (await box.call(call(ToolName.kubectl_logs, name="web-2"))).ok


async def test_several_matches_are_concatenated_in_file_order() -> None:
    box = BundleToolbox(
        calls=[
            rec(ToolName.kubectl_describe, DESCRIBE_WEB.rstrip("\n"), kind="pod", name="web-1", namespace="shop"),
            rec(ToolName.kubectl_describe, "Name: node-1\n", kind="node", name="node-1"),
            rec(ToolName.kubectl_describe, DESCRIBE_DB, kind="pod", name="db-0", namespace="shop"),
        ]
    )
    got = await box.call(call(ToolName.kubectl_describe, kind="pod", namespace="shop"))
    assert got.output == DESCRIBE_WEB + DESCRIBE_DB


async def test_the_most_specific_recording_wins() -> None:
    box = BundleToolbox(
        calls=[
            rec(ToolName.kubectl_describe, DESCRIBE_WEB + DESCRIBE_DB, kind="pod", namespace="shop"),
            rec(ToolName.kubectl_describe, DESCRIBE_DB, kind="pod", name="db-0", namespace="shop"),
        ]
    )
    named = await box.call(call(ToolName.kubectl_describe, kind="pod", name="db-0", namespace="shop"))
    assert named.output == DESCRIBE_DB
    broad = await box.call(call(ToolName.kubectl_describe, kind="pod", namespace="shop"))
    assert broad.output == DESCRIBE_WEB + DESCRIBE_DB
    # A name only the broad recording can answer: it still answers (it holds every pod).
    other = await box.call(call(ToolName.kubectl_describe, kind="pod", name="web-1", namespace="shop"))
    assert other.output == DESCRIBE_WEB + DESCRIBE_DB


async def test_a_recording_of_the_very_object_beats_a_broad_one_when_neither_has_every_param() -> None:
    box = BundleToolbox(
        calls=[
            rec(ToolName.kubectl_logs, "every pod's log\n", namespace="shop"),
            rec(ToolName.kubectl_logs, "web-1's log\n", name="web-1"),
        ]
    )
    got = await box.call(call(ToolName.kubectl_logs, name="web-1", namespace="shop", container="app"))
    assert got.output == "web-1's log\n"
    # Nothing shares a param with the call: every compatible recording answers.
    anything = await box.call(call(ToolName.kubectl_logs, container="app"))
    assert anything.output == "every pod's log\nweb-1's log\n"


async def test_kind_name_spelling_is_normalized() -> None:
    box = BundleToolbox(
        calls=[rec(ToolName.kubectl_describe, "Name: data\n", kind="persistentvolumeclaim", name="data")]
    )
    assert (await box.call(call(ToolName.kubectl_describe, name="pvc/data"))).ok
    assert (await box.call(call(ToolName.kubectl_describe, kind="PVC", name="data"))).ok
    assert not (await box.call(call(ToolName.kubectl_describe, kind="pod", name="data"))).ok


async def test_other_spellings_of_params_and_kind_lists_match() -> None:
    box = BundleToolbox(
        calls=[
            rec(ToolName.kubectl_previous_logs, "web-1 crashed\n", pod="web-1", ns="shop"),
            rec(ToolName.kubectl_previous_logs, "web-2 crashed\n", pod="web-2", ns="shop"),
            rec(ToolName.kubectl_get, "NAME  READY\n", kind="pods,svc", namespace="shop"),
            rec(ToolName.fetch_logs, "svc lines\n", pod="web-1"),
        ]
    )
    logs = await box.call(call(ToolName.kubectl_previous_logs, name="web-1", namespace="shop"))
    assert logs.output == "web-1 crashed\n"
    assert (await box.call(call(ToolName.kubectl_get, kind="service", namespace="shop"))).ok
    assert not (await box.call(call(ToolName.kubectl_get, kind="node"))).ok
    # For the log backend `pod` is its own param, not the object's name.
    assert (await box.call(call(ToolName.fetch_logs, pod_name="web-1"))).ok
    assert not (await box.call(call(ToolName.fetch_logs, pod="web-2"))).ok


async def test_repeated_identical_calls_replay_repeated_recordings_in_order() -> None:
    box = BundleToolbox(
        calls=[
            rec(ToolName.kubectl_get, "first\n", kind="pod", namespace="shop"),
            rec(ToolName.kubectl_get, "second\n", kind="pod", namespace="shop"),
        ]
    )
    outputs = [(await box.call(call(ToolName.kubectl_get, kind="pod", namespace="shop"))).output for _ in range(3)]
    assert outputs == ["first\n", "second\n", "second\n"]
    # Each distinct call keeps its own place in the replay.
    box = BundleToolbox(
        calls=[
            rec(ToolName.kubectl_get, "a1\n", kind="pod", name="a"),
            rec(ToolName.kubectl_get, "a2\n", kind="pod", name="a"),
            rec(ToolName.kubectl_get, "b1\n", kind="pod", name="b"),
        ]
    )
    order = [("b", "b1\n"), ("a", "a1\n"), ("a", "a2\n")]
    assert [(await box.call(call(ToolName.kubectl_get, kind="pod", name=n))).output for n, _ in order] == [
        o for _, o in order
    ]


async def test_failed_recordings_replay_as_failures_unless_a_good_one_matches() -> None:
    box = BundleToolbox(
        calls=[rec(ToolName.kubectl_previous_logs, "previous terminated container not found", ok=False)]
    )
    got = await box.call(call(ToolName.kubectl_previous_logs, name="web-1"))
    assert not got.ok
    assert got.output == "previous terminated container not found"
    mixed = BundleToolbox(
        calls=[
            rec(ToolName.fetch_logs, "backend down", ok=False),
            rec(ToolName.fetch_logs, "real lines\n", service="web"),
        ]
    )
    answer = await mixed.call(call(ToolName.fetch_logs, service="web"))
    assert answer.ok
    assert answer.output == "real lines\n"


async def test_a_recorded_run_replays_to_the_same_diagnosis(tmp_path: Path) -> None:
    """Bundles round-trip: record what a run saw, replay it offline, get the identical Diagnosis JSON."""
    source = tmp_path / "cluster"
    source.mkdir()
    write(
        source,
        "01.txt",
        {"tool": "kubectl_get", "params": {"kind": "pod", "namespace": "shop"}},
        "NAME                    READY   STATUS             RESTARTS      AGE\n"
        "api-7d9f8b6c5-x2x4q     0/1     CrashLoopBackOff   4 (10s ago)   5m\n",
    )
    write(
        source,
        "02.txt",
        {"tool": "kubectl_previous_logs", "params": {"name": "api-7d9f8b6c5-x2x4q"}},
        'panic: required environment variable "API_TOKEN" is not set\n',
    )
    alert = Alert(source="test", title="api crashlooping", namespace="shop", service="api")
    context = DiagnosisContext(alert=alert)
    live = await run_agent(model=OfflineReasoner(), toolbox=BundleToolbox(source), context=context)
    recorded = tmp_path / "recorded"
    write_bundle(recorded, [r for turn in live.turns for r in turn.results])
    replay = await run_agent(model=OfflineReasoner(), toolbox=BundleToolbox(recorded), context=context)
    assert live.diagnosis.category.value == "crashloop_config"
    assert replay.diagnosis.model_dump_json() == live.diagnosis.model_dump_json()
    assert [t.results for t in replay.turns] == [t.results for t in live.turns]

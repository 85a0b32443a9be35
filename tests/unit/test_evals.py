"""The eval set and its runner: the offline reasoner's accuracy on our cases, and the runner's own rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.llm.base import DiagnosisContext, ModelReply, Turn
from adapters.llm.evals import (
    EvalError,
    EvalReport,
    case_dirs,
    format_report,
    lenient_alert,
    load_case,
    run_case,
    run_eval,
    score,
)
from domain.diagnosis import Category, Diagnosis
from tests.helpers import fixture_bytes

EVALS = Path(__file__).resolve().parents[2] / "evals"
QUIET = (Category.unknown, Category.no_problem)


@pytest.fixture(scope="module")
async def report() -> EvalReport:
    return await run_eval(EVALS)


def test_the_eval_set_is_big_and_covers_every_category() -> None:
    cases = [load_case(d) for d in case_dirs(EVALS)]
    assert len(cases) >= 25
    assert {c.category for c in cases} == set(Category)
    assert sum(1 for c in cases if c.category in QUIET) >= 3
    # Every case is a real bundle: at least one recorded call, except heartbeats answered without tools.
    for case in cases:
        files = [p for p in case.bundle.iterdir() if p.suffix == ".txt"]
        assert files or case.category == Category.no_problem, case.name


async def test_offline_reasoner_scores_at_least_90_percent(report: EvalReport) -> None:
    failed = [(c.name, c.expected, c.got, c.keywords_missing, c.error) for c in report.cases if not c.passed]
    assert report.accuracy >= 0.9, failed
    assert report.total == len(case_dirs(EVALS))
    print(f"\noffline reasoner accuracy: {report.passed}/{report.total} = {report.accuracy:.1%}")


async def test_unknown_and_no_problem_cases_are_answered_so(report: EvalReport) -> None:
    quiet = [c for c in report.cases if c.expected in QUIET]
    assert len(quiet) >= 3
    for case in quiet:
        assert case.got == case.expected, (case.name, case.root_cause)
        assert case.diagnosis is not None
        if case.expected == Category.unknown:
            assert case.diagnosis.confidence <= 0.3
        else:
            assert case.diagnosis.suggested_actions == []


async def test_every_answer_cites_evidence_and_names_the_model(report: EvalReport) -> None:
    for case in report.cases:
        d = case.diagnosis
        assert d is not None, case.name
        assert d.model == "offline-reasoner/1"
        if case.got not in QUIET:
            assert d.evidence, case.name
            assert d.suggested_actions, case.name
            assert d.confidence > 0.3, case.name


async def test_every_case_gives_identical_json_twice(report: EvalReport) -> None:
    again = await run_eval(EVALS)
    for first, second in zip(report.cases, again.cases, strict=True):
        assert first.diagnosis is not None
        assert second.diagnosis is not None
        assert first.diagnosis.model_dump_json() == second.diagnosis.model_dump_json(), first.name


# --- the runner ---------------------------------------------------------------------------------------


def make_case(
    root: Path, name: str, expected: str, *, alert: object = None, bundle: dict[str, str] | None = None
) -> Path:
    case = root / name
    case.mkdir(parents=True)
    (case / "expected.yaml").write_text(expected)
    if alert is not None:
        (case / "alert.json").write_text(json.dumps(alert))
    for file, body in (bundle or {}).items():
        (case / file).parent.mkdir(parents=True, exist_ok=True)
        (case / file).write_text(body)
    return case


PODS = (
    '{"tool": "kubectl_get", "params": {"kind": "pod"}}\n'
    "NAME                 READY   STATUS      RESTARTS   AGE\n"
    "web-5c8d7f9b44-mq2lx 1/1     Running     0          58m\n"
)


def test_score_needs_the_category_and_every_keyword_case_insensitively(tmp_path: Path) -> None:
    case = load_case(make_case(tmp_path, "c", "category: oom\nkeywords: [Checkout, 512mi]\n"))
    hit = Diagnosis(category=Category.oom, root_cause="checkout hits its 512Mi limit", summary="s", confidence=0.9)
    assert score(case, hit) == (True, [])
    partial = hit.model_copy(update={"root_cause": "checkout hits its limit"})
    assert score(case, partial) == (False, ["512mi"])
    wrong = hit.model_copy(update={"category": Category.storage})
    assert score(case, wrong) == (False, [])


@pytest.mark.parametrize(
    ("expected", "why"),
    [
        ("category: melted\n", "unknown category 'melted'"),
        ("- oom\n", "needs a mapping with a `category`"),
        ("category: oom\nkeywords: {a: 1}\n", "`keywords` must be a list"),
        ("category: [unclosed\n", "not YAML"),
    ],
)
def test_broken_cases_say_why(tmp_path: Path, expected: str, why: str) -> None:
    with pytest.raises(EvalError, match=why.replace("[", r"\[").replace("`", "`")):
        load_case(make_case(tmp_path, "broken", expected))


def test_a_case_without_expected_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalError, match=r"no expected\.yaml"):
        load_case(tmp_path / "empty")


def test_bundles_may_live_in_a_subfolder_and_alerts_in_other_shapes(tmp_path: Path) -> None:
    foreign = {
        "title": "web down",
        "severity": "page",  # not one of ours: dropped, not fatal
        "labels": {"alertname": "WebDown", "namespace": "shop", "pod": "web-5c8d7f9b44-mq2lx"},
        "cluster": "eu-1",  # an unknown field becomes a label
        "started_at": "not a time",
    }
    case = load_case(make_case(tmp_path, "c", "category: unknown\n", alert=foreign, bundle={"recorded/01.txt": PODS}))
    assert case.bundle == tmp_path / "c" / "recorded"
    assert case.alert is not None
    assert case.alert.title == "web down"
    assert case.alert.namespace == "shop"
    assert case.alert.pod == "web-5c8d7f9b44-mq2lx"
    assert case.alert.labels["cluster"] == "eu-1"
    assert case.alert.started_at is None
    assert lenient_alert({"labels": {"alertname": "X"}}).title == "X"
    webhook = json.loads(fixture_bytes("alertmanager/firing.json"))
    from_webhook = lenient_alert(webhook)
    assert from_webhook.title == "5xx rate above 5% on checkout"
    assert from_webhook.labels["alertname"] == "HighErrorRate"
    assert from_webhook.lifecycle.value == "firing"
    assert from_webhook.started_at is not None
    assert from_webhook.ended_at is None
    with pytest.raises(EvalError):
        lenient_alert(["not", "an", "object"])


async def test_run_eval_counts_broken_cases_as_failures_and_keeps_going(tmp_path: Path) -> None:
    make_case(tmp_path, "a-good", "category: unknown\n", bundle={"01.txt": PODS})
    make_case(tmp_path, "b-bad-header", "category: oom\n", bundle={"01.txt": "kubectl get pods\nNAME\n"})
    make_case(tmp_path, "c-wrong", "category: oom\nkeywords: [nothing]\n", bundle={"01.txt": PODS})
    (tmp_path / "not-a-case").mkdir()
    report = await run_eval(tmp_path)
    assert [c.name for c in report.cases] == ["a-good", "b-bad-header", "c-wrong"]
    assert [c.passed for c in report.cases] == [True, False, False]
    assert report.cases[1].error is not None
    assert "01.txt" in report.cases[1].error
    assert report.cases[1].expected == Category.oom
    assert report.cases[2].got == Category.unknown
    assert report.accuracy == round(1 / 3, 4)
    text = format_report(report)
    assert "a-good" in text
    assert "accuracy: 1/3" in text


async def test_unknown_tools_in_a_foreign_bundle_are_skipped_with_a_warning(tmp_path: Path) -> None:
    exec_file = '{"tool": "kubectl_exec", "params": {"command": "df -h"}}\nFilesystem  Size\n'
    make_case(tmp_path, "c", "category: unknown\n", bundle={"01.txt": PODS, "02.txt": exec_file})
    result = await run_case(tmp_path / "c")
    assert result.passed
    assert len(result.warnings) == 1
    assert "kubectl_exec" in result.warnings[0]


async def test_run_case_takes_any_model(tmp_path: Path) -> None:
    class Fixed:
        name = "fixed/1"

        async def next(self, context: DiagnosisContext, turns: list[Turn], *, must_finish: bool) -> ModelReply:
            return ModelReply(
                diagnosis=Diagnosis(
                    category=Category.oom, root_cause="web OOM", summary="s", confidence=0.5, model=self.name
                )
            )

    make_case(tmp_path, "c", "category: oom\nkeywords: [web]\n", bundle={"01.txt": PODS})
    result = await run_case(tmp_path / "c", model=Fixed())
    assert result.passed
    assert result.tool_calls == 0
    report = await run_eval(tmp_path, model=Fixed())
    assert report.model == "fixed/1"

"""Eval cases for the diagnosis agent: a recorded evidence bundle, an alert, and the expected answer.

A case is a directory holding the bundle's tool-call files (or a `bundle/` / `evidence/` subdirectory with
them), `alert.json` (a normalized `Alert`; optional) and `expected.yaml`:

    category: oom
    keywords: [checkout, 512Mi]   # each must appear in root_cause, case-insensitively

A case passes when the category matches and every keyword appears in the root cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.context.bundle import COMPANION_FILES, BundleError, BundleToolbox
from adapters.llm.agent import run_agent
from adapters.llm.base import DiagnosisContext, DiagnosisModel
from adapters.llm.offline import OfflineReasoner
from domain.diagnosis import Category, Diagnosis
from domain.models import Alert

EXPECTED_FILE = "expected.yaml"
ALERT_FILE = "alert.json"
BUNDLE_SUBDIRS = ("bundle", "evidence")


class EvalError(ValueError):
    """A case directory that cannot be run; the message names the file and says why."""


class EvalCase(BaseModel):
    """One case, loaded."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str
    directory: Path
    bundle: Path
    alert: Alert | None
    category: Category
    keywords: list[str] = Field(default_factory=list)


class CaseResult(BaseModel):
    """What the agent answered for one case, against what was expected."""

    model_config = ConfigDict(extra="forbid")

    name: str
    expected: Category | None
    got: Category | None
    keywords: list[str] = Field(default_factory=list)
    keywords_missing: list[str] = Field(default_factory=list)
    passed: bool
    confidence: float | None = None
    root_cause: str = ""
    tool_calls: int = 0
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    diagnosis: Diagnosis | None = None


class EvalReport(BaseModel):
    """Every case's result and the accuracy (passed / total)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    cases: list[CaseResult]
    passed: int
    total: int
    accuracy: float


def _has_bundle_files(directory: Path) -> bool:
    return any(
        p.is_file() and not p.name.startswith(".") and p.name not in COMPANION_FILES for p in directory.iterdir()
    )


def _bundle_dir(directory: Path) -> Path:
    """The case folder itself, or its `bundle/`/`evidence/` subfolder, or its only subfolder holding files."""
    for sub in BUNDLE_SUBDIRS:
        if (directory / sub).is_dir():
            return directory / sub
    if not _has_bundle_files(directory):
        subdirs = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
        if len(subdirs) == 1:
            return subdirs[0]
    return directory


_ALERT_FIELDS = set(Alert.model_fields)


def lenient_alert(data: Any) -> Alert:
    """An alert from a JSON object that is not exactly our normalized shape (another recorder's): known fields
    are kept when valid, unknown scalar fields become labels, and a title is found somewhere."""
    if not isinstance(data, dict):
        raise EvalError("the alert is not a JSON object")
    if isinstance(data.get("alerts"), list) and data["alerts"] and isinstance(data["alerts"][0], dict):
        data = data["alerts"][0]  # a whole Alertmanager/Grafana webhook body: its first alert
    data = dict(data)
    for theirs, ours in (("startsAt", "started_at"), ("endsAt", "ended_at"), ("status", "lifecycle")):
        if theirs in data and ours not in data:
            data[ours] = data.pop(theirs)
    if str(data.get("ended_at", "")).startswith("0001-"):
        data.pop("ended_at")  # Alertmanager's "not ended"
    labels = (
        {str(k): str(v) for k, v in (data.get("labels") or {}).items()} if isinstance(data.get("labels"), dict) else {}
    )
    annotations = (
        {str(k): str(v) for k, v in data["annotations"].items()} if isinstance(data.get("annotations"), dict) else {}
    )
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("labels", "annotations"):
            continue
        if key in _ALERT_FIELDS:
            fields[key] = value
        elif isinstance(value, str | int | float | bool) and value is not None:
            labels.setdefault(str(key), str(value))
    fields["labels"] = labels
    fields["annotations"] = annotations
    fields.setdefault("source", "unknown")
    if not fields.get("title"):
        fields["title"] = annotations.get("summary") or labels.get("alertname") or str(data.get("name") or "alert")
    if not fields.get("description") and annotations.get("description"):
        fields["description"] = annotations["description"]
    for key in ("namespace", "pod", "deployment", "service"):
        if not fields.get(key) and labels.get(key):
            fields[key] = labels[key]
    try:
        return Alert.model_validate(fields)
    except ValidationError as exc:
        # Drop the fields that do not fit (an unknown severity, an odd timestamp) rather than the whole alert.
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        kept = {k: v for k, v in fields.items() if k not in bad or k in ("source", "title")}
        try:
            return Alert.model_validate(kept)
        except ValidationError as again:
            raise EvalError(f"not an alert ({again.error_count()} errors)") from None


def load_case(directory: Path) -> EvalCase:
    """Read a case directory's expected answer, alert and bundle location."""
    if not directory.is_dir():
        raise EvalError(f"{directory}: not a directory")
    expected_path = directory / EXPECTED_FILE
    if not expected_path.is_file():
        raise EvalError(f"{directory.name}: no {EXPECTED_FILE}")
    try:
        expected: Any = yaml.safe_load(expected_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvalError(f"{directory.name}/{EXPECTED_FILE}: not YAML ({exc})") from None
    if not isinstance(expected, dict) or "category" not in expected:
        raise EvalError(f"{directory.name}/{EXPECTED_FILE}: needs a mapping with a `category`")
    try:
        category = Category(str(expected["category"]).strip())
    except ValueError:
        known = ", ".join(c.value for c in Category)
        raise EvalError(
            f"{directory.name}/{EXPECTED_FILE}: unknown category {expected['category']!r} ({known})"
        ) from None
    keywords = expected.get("keywords") or []
    if isinstance(keywords, str):
        keywords = [keywords]
    if not isinstance(keywords, list):
        raise EvalError(f"{directory.name}/{EXPECTED_FILE}: `keywords` must be a list of strings")
    alert: Alert | None = None
    alert_path = directory / ALERT_FILE
    if alert_path.is_file():
        text = alert_path.read_text(encoding="utf-8")
        try:
            alert = Alert.model_validate_json(text)
        except ValidationError:
            # Not exactly our shape: read what we can rather than lose the case.
            try:
                alert = lenient_alert(json.loads(text))
            except (ValueError, EvalError) as exc:
                raise EvalError(f"{directory.name}/{ALERT_FILE}: not an alert ({exc})") from None
    return EvalCase(
        name=directory.name,
        directory=directory,
        bundle=_bundle_dir(directory),
        alert=alert,
        category=category,
        keywords=[str(k) for k in keywords],
    )


def score(case: EvalCase, diagnosis: Diagnosis) -> tuple[bool, list[str]]:
    """(passed, keywords missing from the root cause)."""
    text = diagnosis.root_cause.lower()
    missing = [k for k in case.keywords if k.lower() not in text]
    return diagnosis.category == case.category and not missing, missing


async def run_case(
    directory: Path,
    *,
    model: DiagnosisModel | None = None,
    max_tool_calls: int = 16,
    max_total_tokens: int = 100_000,
    tool_output_chars: int = 20_000,
) -> CaseResult:
    """Diagnose one case from its bundle (the offline reasoner unless `model` is given) and score it."""
    # File reads off the event loop: a case folder may sit on a slow or network filesystem.
    case = await asyncio.to_thread(load_case, directory)
    # Lenient: a file naming a tool we do not have is skipped (and reported), not fatal for the case.
    toolbox = await asyncio.to_thread(lambda: BundleToolbox(case.bundle, strict=False))
    context = DiagnosisContext(alert=case.alert, opened_at=case.alert.started_at if case.alert else None)
    started = time.perf_counter()
    run = await run_agent(
        model=model or OfflineReasoner(),
        toolbox=toolbox,
        context=context,
        max_tool_calls=max_tool_calls,
        max_total_tokens=max_total_tokens,
        tool_output_chars=tool_output_chars,
    )
    passed, missing = score(case, run.diagnosis)
    return CaseResult(
        name=case.name,
        expected=case.category,
        got=run.diagnosis.category,
        keywords=case.keywords,
        keywords_missing=missing,
        passed=passed,
        confidence=run.diagnosis.confidence,
        root_cause=run.diagnosis.root_cause,
        tool_calls=run.tool_calls,
        seconds=round(time.perf_counter() - started, 3),
        warnings=toolbox.skipped,
        diagnosis=run.diagnosis,
    )


def case_dirs(root: Path) -> list[Path]:
    """The case directories under `root` (those with an expected.yaml), sorted; `root` itself if it is one."""
    if not root.is_dir():
        raise EvalError(f"{root}: not a directory")
    if (root / EXPECTED_FILE).is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / EXPECTED_FILE).is_file())


async def run_eval(root: Path, *, model: DiagnosisModel | None = None) -> EvalReport:
    """Run every case under `root`; a broken case counts as failed with its error, it does not stop the run."""
    chosen = model or OfflineReasoner()
    results: list[CaseResult] = []
    for directory in await asyncio.to_thread(case_dirs, root):
        try:
            results.append(await run_case(directory, model=chosen))
        except (EvalError, BundleError) as exc:
            expected: Category | None = None
            with contextlib.suppress(EvalError):
                expected = load_case(directory).category
            results.append(CaseResult(name=directory.name, expected=expected, got=None, passed=False, error=str(exc)))
    passed = sum(1 for r in results if r.passed)
    total = len(results)
    return EvalReport(
        model=chosen.name,
        cases=results,
        passed=passed,
        total=total,
        accuracy=round(passed / total, 4) if total else 0.0,
    )


def format_report(report: EvalReport) -> str:
    """A plain-text table of the report (the CLI may render its own)."""
    rows = [("case", "expected", "got", "keywords", "result")]
    for case in report.cases:
        hit = len(case.keywords) - len(case.keywords_missing)
        rows.append(
            (
                case.name,
                case.expected.value if case.expected else "-",
                case.got.value if case.got else "-",
                f"{hit}/{len(case.keywords)}",
                "pass" if case.passed else f"FAIL{f' ({case.error})' if case.error else ''}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    lines.append(f"accuracy: {report.passed}/{report.total} = {report.accuracy:.1%} ({report.model})")
    return "\n".join(lines)

"""`aisre diagnose --evidence` and `aisre eval` as a user runs them (exit codes, output, bad input)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

EVALS = Path(__file__).resolve().parents[2] / "evals"
runner = CliRunner()


def test_diagnose_json_from_a_case_bundle_uses_its_alert() -> None:
    result = runner.invoke(app, ["diagnose", "--evidence", str(EVALS / "oom-spring-checkout"), "--json"])
    assert result.exit_code == 0, result.output
    diagnosis = json.loads(result.output)
    assert diagnosis["category"] == "oom"
    assert set(diagnosis) >= {"category", "root_cause", "summary", "confidence", "evidence", "suggested_actions"}
    assert diagnosis["model"] == "offline-reasoner/1"
    # Deterministic: the same bundle gives the same JSON.
    again = runner.invoke(app, ["diagnose", "--evidence", str(EVALS / "oom-spring-checkout"), "--json"])
    assert json.loads(again.output) == diagnosis


def test_diagnose_human_output_names_the_cause_and_evidence() -> None:
    result = runner.invoke(app, ["diagnose", "--evidence", str(EVALS / "image-pull-tag-not-found")])
    assert result.exit_code == 0, result.output
    assert "image_pull" in result.output
    assert "tool calls answered from" in result.output


def test_diagnose_accepts_a_vendor_webhook_body_as_the_alert(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(EVALS / "heartbeat-watchdog", bundle)
    (bundle / "alert.json").unlink()
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="Watchdog"}',
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Watchdog", "severity": "none"},
                "annotations": {"summary": "An alert that should always be firing to certify that Alertmanager works."},
                "startsAt": "2026-11-28T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "e5c7e9e6d31b5c53",
            }
        ],
    }
    alert = tmp_path / "am.json"
    alert.write_text(json.dumps(body), encoding="utf-8")
    result = runner.invoke(app, ["diagnose", "--evidence", str(bundle), "--alert", str(alert), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["category"] == "no_problem"


def test_diagnose_refuses_bad_input_with_exit_code_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["diagnose", "--evidence", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "not a directory" in missing.output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "01-kubectl_get.txt").write_text("this is not a JSON header\nNAME READY\n", encoding="utf-8")
    broken = runner.invoke(app, ["diagnose", "--evidence", str(bad)])
    assert broken.exit_code == 2
    assert "bad evidence bundle" in broken.output
    assert "01-kubectl_get.txt" in broken.output
    not_json = tmp_path / "alert.txt"
    not_json.write_text("{", encoding="utf-8")
    alert = runner.invoke(app, ["diagnose", "--evidence", str(EVALS / "oom-spring-checkout"), "--alert", str(not_json)])
    assert alert.exit_code == 2
    assert "is not JSON" in alert.output


def test_eval_prints_the_table_and_accuracy_and_gates_on_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(EVALS), "--min-accuracy", "0.9", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["total"] >= 25
    assert report["accuracy"] >= 0.9
    assert {c["expected"] for c in report["cases"]} >= {"unknown", "no_problem"}

    # One case whose expectation the reasoner cannot meet: the accuracy gate fails the run.
    case = tmp_path / "cases" / "wrong"
    shutil.copytree(EVALS / "oom-spring-checkout", case)
    (case / "expected.yaml").write_text("category: dns_failure\nkeywords: []\n", encoding="utf-8")
    gated = runner.invoke(app, ["eval", str(tmp_path / "cases"), "--min-accuracy", "0.5"])
    assert gated.exit_code == 1
    assert "0/1" in gated.output
    assert runner.invoke(app, ["eval", str(tmp_path / "none")]).exit_code == 2

"""The live toolbox on both databases: logs from the file backend, past incidents, deploys, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.context.toolbox import ContextToolbox
from adapters.logs.file import FileLogBackend
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from adapters.storage.orm import DiagnosisRow
from domain.diagnosis import ToolCall, ToolName
from domain.models import Alert, IncidentStatus, Severity

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def call(tool: ToolName, **params: str) -> ToolCall:
    return ToolCall(id="c1", tool=tool, params=params)


async def past_incident(db: Database, *, title: str, service: str, cause: str | None, stream: str) -> int:
    async with db.session() as session:
        row = await repo.create_incident(
            session,
            workspace="ws",
            stream_key=stream,
            workflow_id=f"incident-ws-{stream}",
            run_id="r1",
            alert=Alert(source="webhook", title=title, service=service, severity=Severity.high),
            opened_at=NOW - timedelta(days=3),
            previous_incident_id=None,
        )
        await repo.set_incident_status(
            session,
            incident=row,
            status=IncidentStatus.resolved,
            at=NOW - timedelta(days=3),
            actor="bob",
            reason="rolled back v41",
        )
        if cause:
            await repo.insert_diagnosis(
                session,
                row=DiagnosisRow(
                    incident_id=row.id,
                    workspace="ws",
                    request_key=f"k-{stream}",
                    model="offline-reasoner/1",
                    category="bad_deploy",
                    confidence=0.8,
                    summary="s",
                    root_cause=cause,
                    diagnosis={},
                    transcript={},
                    tool_calls=3,
                    requested_by="aisre",
                    duration_ms=10,
                    created_at=NOW - timedelta(days=3),
                ),
            )
        return row.id


async def test_similar_incidents_rank_same_service_similar_titles_with_their_cause(database: Database) -> None:
    similar = await past_incident(
        database,
        title="5xx rate above 5% on checkout",
        service="checkout",
        cause="deploy v41 broke payments",
        stream="a",
    )
    await past_incident(database, title="Disk full on ledger", service="ledger", cause=None, stream="b")
    toolbox = ContextToolbox(db=database, workspace="ws", now=NOW)
    result = await toolbox.call(
        call(ToolName.similar_incidents, title="[FIRING:1] 5xx rate above 5% on checkout", service="checkout")
    )
    assert result.ok
    lines = result.output.splitlines()
    assert len(lines) == 2  # header + the one similar incident
    assert lines[1].startswith(f"#{similar} ")
    assert "bad_deploy: deploy v41 broke payments" in lines[1]
    assert "rolled back v41" in lines[1]
    other_workspace = ContextToolbox(db=database, workspace="elsewhere", now=NOW)
    assert (
        await other_workspace.call(call(ToolName.similar_incidents, title="5xx rate", service="checkout"))
    ).output == ("(no similar resolved incidents)")


async def test_recent_deploys_within_the_window_newest_first(database: Database) -> None:
    async with database.session() as session:
        for minutes_ago, version in ((30, "v42"), (90, "v41"), (3000, "v40")):
            await repo.insert_deploy(
                session,
                workspace="ws",
                deploy=repo.NewDeploy(
                    service="checkout",
                    version=version,
                    namespace="shop",
                    environment="prod",
                    commit="abc123",
                    author="jdoe",
                    status="success",
                    url=None,
                    description="",
                    origin="api",
                    external_id=None,
                    deployed_at=NOW - timedelta(minutes=minutes_ago),
                ),
                at=NOW,
            )
    toolbox = ContextToolbox(db=database, workspace="ws", now=NOW)
    result = await toolbox.call(call(ToolName.recent_deploys, service="checkout", since_minutes="120"))
    rows = result.output.splitlines()[1:]
    assert [r.split()[3] for r in rows] == ["v42", "v41"]
    assert rows[0].split()[1] == "30m"
    none = await toolbox.call(call(ToolName.recent_deploys, service="search"))
    assert none.ok
    assert none.output.startswith("(no deploys of search")


async def test_fetch_logs_from_the_file_backend_and_failures_as_results(database: Database, tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "checkout.log").write_text(
        "2026-11-28T11:50:00Z INFO started\n"
        "2026-11-28T11:58:00Z ERROR dial tcp 10.96.41.17:8080: connect: connection refused\n"
        "2026-11-28T09:00:00Z ERROR too old to matter\n",
        encoding="utf-8",
    )
    toolbox = ContextToolbox(db=database, workspace="ws", now=NOW, logs=FileLogBackend(directory=tmp_path))
    result = await toolbox.call(call(ToolName.fetch_logs, service="checkout", namespace="shop", since_minutes="30"))
    assert result.ok
    assert "connection refused" in result.output
    assert "too old" not in result.output
    filtered = await toolbox.call(call(ToolName.fetch_logs, service="checkout", query="refused"))
    assert filtered.output.count("\n") == 0  # one line
    nothing = await toolbox.call(call(ToolName.fetch_logs, service="search"))
    assert nothing.output.startswith("(no log lines matched")

    missing = ContextToolbox(db=database, workspace="ws", now=NOW, logs=FileLogBackend(directory=tmp_path / "gone"))
    failed = await missing.call(call(ToolName.fetch_logs, service="checkout"))
    assert not failed.ok
    assert "file log backend" in failed.output


async def test_kubectl_tools_without_a_cluster_say_so(database: Database) -> None:
    toolbox = ContextToolbox(db=database, workspace="ws", now=NOW)
    result = await toolbox.call(call(ToolName.kubectl_describe, kind="pod", name="api-1", namespace="shop"))
    assert not result.ok
    assert "kubernetes is not configured" in result.output
    no_logs = await toolbox.call(call(ToolName.fetch_logs, service="checkout"))
    assert not no_logs.ok
    assert "no log backend" in no_logs.output

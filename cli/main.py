"""The `aisre` command."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.panel import Panel

from domain.settings import ConfigError, Settings, load_settings

app = typer.Typer(help="AI-SRE: alerts in, durable incident workflows out.", no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # one error = one line, whatever the terminal width


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]aisre:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        _fail(str(exc))


def _logging(settings: Settings) -> None:
    from domain import redaction

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    redaction.install(settings)  # secrets, API keys and tokens never reach the log, whoever logs them


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory [env AI_SRE_DATA_DIR]")]
ApiPort = Annotated[int | None, typer.Option("--api-port", min=1, max=65535, help="API port [env AI_SRE_API_PORT]")]
TemporalPort = Annotated[
    int | None,
    typer.Option("--temporal-port", min=1, max=65535, help="Temporal gRPC port [env AI_SRE_TEMPORAL_PORT]"),
]
UiPort = Annotated[
    int | None, typer.Option("--ui-port", min=1, max=65535, help="Temporal UI port [env AI_SRE_UI_PORT]")
]


@app.command()
def up(
    data_dir: DataDir = None,
    api_port: ApiPort = None,
    temporal_port: TemporalPort = None,
    ui_port: UiPort = None,
) -> None:
    """Run the embedded stack: Temporal dev server + worker + API, SQLite in the data directory."""
    from cli.stack import Stack, StackError

    settings = _settings(data_dir=data_dir, api_port=api_port, temporal_port=temporal_port, ui_port=ui_port)
    stack = Stack(settings)
    stop: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    code = 0
    try:
        stack.lock_data_dir()
        stack.check_ports()
        console.print(f"[dim]data directory: {stack.data_dir}[/]")
        _migrate(settings.model_copy(update={"data_dir": stack.data_dir}))
        with console.status("starting Temporal dev server..."):
            stack.start_temporal()
            stack.wait_for_temporal()
        with console.status("starting worker and API..."):
            stack.start_worker()
            stack.start_api()
            stack.wait_for_api()
        api = f"http://127.0.0.1:{settings.api_port}"
        console.print(
            Panel.fit(
                f"API          {api}  (docs: {api}/docs)\n"
                f"Temporal UI  http://127.0.0.1:{settings.ui_port}\n"
                f"Temporal     127.0.0.1:{settings.temporal_port}\n"
                f"Data         {stack.data_dir}\n\n"
                "Fire a sample alert:  aisre fire      resolve it:  aisre fire --resolve\n"
                "Stop with Ctrl-C.",
                title="AI-SRE is up",
            )
        )
        code = stack.supervise(stop)
    except StackError as exc:
        err.print(f"[bold red]aisre:[/] {exc}", highlight=False)
        code = 1
    finally:
        if stack.children:
            console.print("[dim]stopping API, worker, Temporal...[/]")
        stack.stop()
    raise typer.Exit(code)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address [env AI_SRE_API_HOST]")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port [env AI_SRE_API_PORT]")] = None,
) -> None:
    """Run the API gateway (uvicorn)."""
    import uvicorn

    from api.app import create_app

    settings = _settings(api_host=host, api_port=port)
    _logging(settings)
    _refuse_open_dev_mode(settings)
    try:
        application = create_app(settings)
    except ConfigError as exc:
        _fail(str(exc))
    uvicorn.run(
        application,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        # Our logging (with the secret-redacting filter) for uvicorn's loggers too: access lines carry
        # query strings, and a webhook sender may put its key there.
        log_config=None,
        timeout_graceful_shutdown=10,
        # Longer than the usual load-balancer/webhook-client idle timeout (60 s): a server closing a kept-alive
        # connection just as a sender reuses it makes that sender's POST fail with a connection reset.
        timeout_keep_alive=75,
    )


@app.command()
def worker() -> None:
    """Run a Temporal worker for incident workflows and activities."""
    from worker.temporal import run_worker

    settings = _settings()
    _logging(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, stop=stop)

    try:
        asyncio.run(main())
    except TimeoutError:
        _fail(f"Temporal did not answer at {settings.temporal_address}", code=1)
    except ConfigError as exc:
        _fail(str(exc), code=2)


def _refuse_open_dev_mode(settings: Settings) -> None:
    """Without API keys every caller is admin: allowed on loopback only (the API checks again at start)."""
    from adapters.storage import repositories as repo
    from adapters.storage.db import Database
    from api.auth import is_loopback

    if is_loopback(settings.api_host):
        return

    async def keys_exist(db: Database) -> bool:
        async with db.session() as session:
            return await repo.any_api_key(session)

    if not _db_call(settings, keys_exist):
        _fail(
            f"refusing to serve on {settings.api_host} without API keys: anyone who can reach it would act as "
            "admin. Create a key first (aisre keys create --workspace default --role admin), or bind to 127.0.0.1"
        )


def _migrate(settings: Settings) -> None:
    async def nothing(_db: Any) -> None:
        return None

    _db_call(settings, nothing)  # _db_call migrates before it runs anything


@app.command()
def migrate() -> None:
    """Apply database migrations (aisre up, api and worker also do this at start)."""
    settings = _settings()
    _migrate(settings)
    console.print("database is at the latest migration")


@app.command()
def fire(
    resolve: Annotated[bool, typer.Option("--resolve", help="Send the resolved version of the sample")] = False,
    service: Annotated[str, typer.Option(help="Service label of the sample alert")] = "checkout",
    api_url: Annotated[str | None, typer.Option("--api", help="API base URL [env AI_SRE_API_URL]")] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="AISRE_API_KEY", help="Key with the ingest scope or more")
    ] = None,
) -> None:
    """POST the built-in sample alert (Alertmanager format) to the running API."""
    from cli.samples import alertmanager_sample, demo_log_lines

    settings = _settings(api_url=api_url)
    url = settings.resolved_api_url().rstrip("/") + "/webhook/alertmanager"
    body = alertmanager_sample(resolved=resolve, service=service)
    logs_dir = settings.log_file_dir or settings.data_dir / "logs-demo"
    if not resolve and settings.log_backend == "file" and settings.data_dir.is_dir():
        # The sample service "logs" its failure where the embedded stack's file log backend reads, so
        # the demo diagnosis has evidence (only when the stack's data directory is on this machine).
        target = logs_dir / "shop" / f"{service}.log"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(demo_log_lines(now=datetime.now(UTC), service=service)) + "\n")
    try:
        response = httpx.post(url, json=body, timeout=30, headers={"X-API-Key": api_key} if api_key else None)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the API at {url}: {exc}. Is `aisre up` running?", code=1)
    if response.status_code >= 400:
        _fail(f"the API answered {response.status_code}: {response.text}", code=1)
    console.print_json(json.dumps(response.json()))
    verb = "resolved" if resolve else "firing"
    console.print(f"sent a {verb} HighErrorRate alert for {service}; see GET /incidents")


def _load_alert(path: Path) -> Any:
    """A normalized Alert JSON, or a vendor webhook body (its first alert, source detected)."""
    from adapters.alert_sources import GENERIC, default_registry
    from adapters.llm.evals import EvalError, lenient_alert
    from domain.models import Alert, NormalizationError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
    except ValueError as exc:
        _fail(f"{path} is not JSON: {exc}")
    try:
        return Alert.model_validate(data)
    except ValueError:
        pass
    registry = default_registry()
    matches = registry.detect(data, {}, fallback=GENERIC)
    source = matches[0] if len(matches) == 1 else registry.get(GENERIC)
    try:
        return source.normalize(source.split(data)[0])
    except NormalizationError as exc:
        reason = str(exc)
    try:
        # Another recorder's alert shape: keep what fits, labels for the rest (as `aisre eval` reads them).
        return lenient_alert(data)
    except (EvalError, ValueError):
        _fail(f"{path} is neither a normalized alert nor a webhook body {source.slug} understands: {reason}")


@app.command()
def diagnose(
    evidence: Annotated[Path, typer.Option("--evidence", help="Evidence bundle directory to answer tool calls from")],
    alert: Annotated[
        Path | None,
        typer.Option("--alert", help="Alert JSON (normalized or a vendor webhook body); default DIR/alert.json"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Diagnosis as JSON")] = False,
) -> None:
    """Diagnose offline from an evidence bundle: the offline reasoner's tool calls are answered from DIR."""
    from adapters.context.bundle import BundleError, BundleToolbox
    from adapters.llm.agent import run_agent
    from adapters.llm.base import DiagnosisContext
    from adapters.llm.offline import OfflineReasoner

    if not evidence.is_dir():
        _fail(f"{evidence} is not a directory (an evidence bundle is a folder of tool-call files)")
    alert_file = alert if alert is not None else evidence / "alert.json"
    if alert is not None and not alert.is_file():
        _fail(f"{alert} does not exist")
    parsed = _load_alert(alert_file) if alert_file.is_file() else None
    settings = _settings()
    try:
        toolbox = BundleToolbox(evidence)
    except BundleError as exc:
        _fail(f"bad evidence bundle: {exc}")
    run = asyncio.run(
        run_agent(
            model=OfflineReasoner(),
            toolbox=toolbox,
            context=DiagnosisContext(alert=parsed, opened_at=parsed.started_at if parsed else None),
            max_tool_calls=settings.diagnosis_max_tool_calls,
            max_total_tokens=settings.diagnosis_max_total_tokens,
            tool_output_chars=settings.diagnosis_tool_output_chars,
        )
    )
    diagnosis = run.diagnosis
    if as_json:
        print(diagnosis.model_dump_json(indent=2))
        return
    console.print(
        Panel(
            f"[bold]{diagnosis.category.value}[/] (confidence {diagnosis.confidence:.0%})\n\n"
            f"{diagnosis.root_cause}\n\n[dim]{diagnosis.summary}[/]",
            title="Diagnosis",
            expand=False,
        )
    )
    for ref in diagnosis.evidence:
        params = " ".join(f"{k}={v}" for k, v in ref.params.items() if v)
        console.print(f"[cyan]{ref.tool.value}[/] {params}\n  {ref.excerpt}", highlight=False)
    for action in diagnosis.suggested_actions:
        console.print(f"[green]suggested:[/] {action.model_dump_json()}", highlight=False)
    console.print(f"[dim]{run.tool_calls} tool calls answered from {evidence}[/]")


@app.command(name="eval")
def eval_cases(
    directory: Annotated[Path, typer.Argument(help="Folder of eval cases (each: bundle, alert.json, expected.yaml)")],
    min_accuracy: Annotated[
        float, typer.Option(help="Exit with code 1 when the accuracy is below this (0-1)", min=0, max=1)
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Run the offline reasoner over every eval case and print a table and the accuracy."""
    from rich.table import Table

    from adapters.llm.evals import EvalError, run_eval

    try:
        report = asyncio.run(run_eval(directory))
    except EvalError as exc:
        _fail(str(exc))
    if as_json:
        print(report.model_dump_json(indent=2, exclude={"cases": {"__all__": {"diagnosis"}}}))
    else:
        table = Table(title=f"eval: {directory} ({report.model})")
        for column in ("case", "expected", "got", "keywords", "confidence", "result"):
            table.add_column(column)
        for case in report.cases:
            hit = len(case.keywords) - len(case.keywords_missing)
            result = "[green]pass[/]" if case.passed else f"[red]FAIL[/] {case.error or ''}"
            table.add_row(
                case.name,
                case.expected.value if case.expected else "-",
                case.got.value if case.got else "-",
                f"{hit}/{len(case.keywords)}",
                f"{case.confidence:.2f}" if case.confidence is not None else "-",
                result,
            )
        console.print(table)
        console.print(f"accuracy: {report.passed}/{report.total} = [bold]{report.accuracy:.1%}[/]")
    if report.accuracy < min_accuracy:
        raise typer.Exit(1)


keys_app = typer.Typer(help="API keys: create (printed once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _db_call(settings: Settings, work: Any) -> Any:
    """Open the database (migrated), run `work(db)`, close it."""
    from adapters.storage.db import Database

    async def run() -> Any:
        db = Database(settings.resolved_database_url())
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace from config/workspaces.yaml")],
    role: Annotated[str, typer.Option("--role", help="viewer, operator, admin, or ingest (webhook senders)")],
    name: Annotated[str, typer.Option("--name", help="Who or what uses it (shown in audits)")] = "cli",
    expires_days: Annotated[int | None, typer.Option("--expires-days", min=1, max=3650)] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from datetime import timedelta

    from api.auth import KEY_ROLES, create_key, server_secret
    from domain.settings import WorkspaceDirectory

    settings = _settings()
    if role not in KEY_ROLES:
        _fail(f"unknown role {role!r}: choose one of {', '.join(KEY_ROLES)}")
    try:
        known = WorkspaceDirectory(settings.config_dir).known(workspace)
        secret = server_secret(settings)
    except ConfigError as exc:
        _fail(str(exc))
    if not known:
        _fail(f"unknown workspace {workspace!r}: add it to {settings.config_dir / 'workspaces.yaml'} first")

    async def work(db: Any) -> Any:
        return await create_key(
            db,
            secret=secret,
            workspace=workspace,
            role=role,
            name=name,
            created_by="cli",
            expires_in=timedelta(days=expires_days) if expires_days else None,
        )

    new = _db_call(settings, work)
    err.print(f"key {new.row.key_id} ({role} in {workspace}); it is shown once, store it now:")
    print(new.key.get_secret_value())


@keys_app.command("list")
def keys_list(workspace: Annotated[str, typer.Option("--workspace")]) -> None:
    """List a workspace's keys (ids, roles, last use; never the keys)."""
    from rich.table import Table

    from adapters.storage import repositories as repo

    settings = _settings()

    async def work(db: Any) -> Any:
        async with db.session() as session:
            return await repo.list_api_keys(session, workspace=workspace)

    table = Table("key id", "role", "name", "created", "last used", "revoked")
    for row in _db_call(settings, work):
        table.add_row(
            row.key_id,
            row.role,
            row.name,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "-",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "-",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (second part of the key)")]) -> None:
    """Revoke a key at once (API replicas notice within seconds)."""
    from api.auth import revoke_key

    settings = _settings()

    async def work(db: Any) -> bool:
        return await revoke_key(db, key_id=key_id, workspace=None)

    if not _db_call(settings, work):
        _fail(f"no key {key_id}")
    console.print(f"key {key_id} revoked")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

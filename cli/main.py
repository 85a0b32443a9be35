"""The `aisre` command."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.panel import Panel

from domain.settings import ConfigError, Settings, load_settings

app = typer.Typer(help="AI-SRE: alerts in, durable incident workflows out.", no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]aisre:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        _fail(str(exc))


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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
    try:
        application = create_app(settings)
    except ConfigError as exc:
        _fail(str(exc))
    uvicorn.run(
        application,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
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


def _migrate(settings: Settings) -> None:
    from adapters.storage.db import Database

    async def main() -> None:
        db = Database(settings.resolved_database_url())
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(main())


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
) -> None:
    """POST the built-in sample alert (Alertmanager format) to the running API."""
    from cli.samples import alertmanager_sample

    settings = _settings(api_url=api_url)
    url = settings.resolved_api_url().rstrip("/") + "/webhook/alertmanager"
    body = alertmanager_sample(resolved=resolve, service=service)
    try:
        response = httpx.post(url, json=body, timeout=30)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the API at {url}: {exc}. Is `aisre up` running?", code=1)
    if response.status_code >= 400:
        _fail(f"the API answered {response.status_code}: {response.text}", code=1)
    console.print_json(json.dumps(response.json()))
    verb = "resolved" if resolve else "firing"
    console.print(f"sent a {verb} HighErrorRate alert for {service}; see GET /incidents")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

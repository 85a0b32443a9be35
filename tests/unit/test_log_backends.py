"""Log backends: query building, parsing, auth, pagination, errors and health, each against a real or
documented-API server on loopback (files on disk, FakeLoki, the osmem-server OpenSearch, FakeDatadogLogs)."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from adapters.logs import (
    DatadogLogsBackend,
    ElasticsearchBackend,
    FileLogBackend,
    LogBackend,
    LogBackendError,
    LogBackendRegistry,
    LogLine,
    LogQuery,
    LokiBackend,
    build_log_backend,
    default_registry,
    render_lines,
)
from adapters.logs.base import HttpOptions, VendorHttp, parse_timestamp, unix_nanos
from adapters.logs.datadog import datadog_query, dd_escape
from adapters.logs.elasticsearch import search_body
from adapters.logs.loki import LokiLabels, logql_queries, logql_string
from domain.settings import ConfigError, Settings
from tests.fakes.datadog_logs_server import FakeDatadogLogs
from tests.fakes.datadog_logs_server import Reply as DdReply
from tests.fakes.loki_server import FakeLoki, parse_logql
from tests.fakes.loki_server import Reply as LokiReply

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def window(**filters: Any) -> LogQuery:
    filters.setdefault("start", T0)
    filters.setdefault("end", at(3600))
    return LogQuery(**filters)


def settings(**values: Any) -> Settings:
    values.setdefault("log_timeout_seconds", 5.0)
    return Settings(**values)


def assert_clean(exc: LogBackendError, *secrets: str) -> None:
    """A useful one-line message that holds no credential and no traceback."""
    text = str(exc)
    assert text
    assert "\n" not in text
    assert "Traceback" not in text
    for secret in secrets:
        assert secret not in text
        assert secret not in repr(exc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- models and rendering ------------------------------------------------------------------------------


def test_render_lines_formats_sorts_and_splits_multiline_messages() -> None:
    cest = timezone(timedelta(hours=2))
    lines = [
        LogLine(at=at(2.5), message="second", source="shop/checkout-1[app]"),
        LogLine(
            at=datetime(2026, 11, 28, 12, 0, 1, 123456, tzinfo=cest), message="first", source="shop/checkout-1[app]"
        ),
        LogLine(at=at(3), message="Traceback (most recent call last):\n  File x\nValueError: bad\n", source="shop/api"),
        LogLine(at=at(2.5), message="same instant, other stream", source="other/db-0"),
    ]
    assert render_lines(lines) == "\n".join(
        [
            "2026-11-28T10:00:01.123Z shop/checkout-1[app] first",
            "2026-11-28T10:00:02.500Z other/db-0 same instant, other stream",
            "2026-11-28T10:00:02.500Z shop/checkout-1[app] second",
            "2026-11-28T10:00:03.000Z shop/api Traceback (most recent call last):",
            "2026-11-28T10:00:03.000Z shop/api   File x",
            "2026-11-28T10:00:03.000Z shop/api ValueError: bad",
        ]
    )
    # Same time and stream: input order is kept (the lines of one stack trace).
    trace = [LogLine(at=T0, message=m, source="s") for m in ("b", "a", "c")]
    assert render_lines(trace).splitlines() == [f"2026-11-28T10:00:00.000Z s {m}" for m in ("b", "a", "c")]
    assert render_lines([]) == ""


def test_log_query_validation() -> None:
    query = LogQuery(service=" ", namespace=" shop ", text="", start=T0, end=at(1))
    assert (query.service, query.namespace, query.text, query.limit) == (None, "shop", None, 200)
    with pytest.raises(ValidationError):
        LogQuery(start=datetime(2026, 11, 28), end=at(1))  # naive
    with pytest.raises(ValidationError, match="start must not be after end"):
        LogQuery(start=at(2), end=at(1))
    with pytest.raises(ValidationError):
        LogQuery(start=T0, end=at(1), limit=0)


def test_parse_timestamp_handles_iso_nanoseconds_and_epochs() -> None:
    assert parse_timestamp("2026-11-28T10:00:01.123456789Z") == at(1.123456)
    assert parse_timestamp("2026-11-28T12:00:01+02:00") == at(1)
    assert parse_timestamp("2026-11-28T10:00:01") == at(1)  # naive means UTC
    epoch = int(T0.timestamp())
    assert parse_timestamp(epoch) == T0
    assert parse_timestamp(epoch * 1000 + 250) == at(0.25)
    assert parse_timestamp(str(epoch * 10**9 + 5_000)) == at(0.000005)
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None
    assert unix_nanos(at(1.5)) == (epoch + 1) * 10**9 + 500_000_000


# --- registry and configuration ------------------------------------------------------------------------


def test_registry_rejects_unknown_and_duplicate_slugs() -> None:
    registry = default_registry()
    assert registry.names() == ["datadog", "elasticsearch", "file", "loki", "opensearch"]
    with pytest.raises(KeyError, match="unknown log backend 'splunk'"):
        registry.get("splunk")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("loki", lambda settings, *, slug: FileLogBackend(directory=Path()))
    with pytest.raises(ValueError, match="already registered"):
        registry.register("es", lambda settings, *, slug: FileLogBackend(directory=Path()), aliases=("opensearch",))
    assert "es" not in registry.names()  # a failed registration leaves nothing behind
    with pytest.raises(ValueError, match="reserved"):
        LogBackendRegistry().register("off", lambda settings, *, slug: FileLogBackend(directory=Path()))


def test_build_log_backend_per_setting(tmp_path: Path) -> None:
    assert build_log_backend(settings(log_backend="off")) is None
    backend = build_log_backend(settings(log_backend="file", data_dir=tmp_path))
    assert isinstance(backend, FileLogBackend)
    assert backend.directory == tmp_path / "logs-demo"
    assert isinstance(build_log_backend(settings(log_backend="loki", log_url="http://loki:3100")), LokiBackend)
    es = build_log_backend(settings(log_backend="opensearch", log_url="https://os:9200"))
    assert isinstance(es, ElasticsearchBackend)
    assert es.slug == "opensearch"
    dd = build_log_backend(
        settings(log_backend="datadog", log_url="https://api.datadoghq.eu", log_api_key="a" * 32, log_app_key="b" * 40)
    )
    assert isinstance(dd, DatadogLogsBackend)
    assert all(isinstance(b, LogBackend) for b in (backend, es, dd))
    empty = LogBackendRegistry()
    with pytest.raises(ConfigError, match="AI_SRE_LOG_BACKEND: unknown log backend 'loki'"):
        build_log_backend(settings(log_backend="loki", log_url="http://loki:3100"), registry=empty)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"log_backend": "loki"}, "AI_SRE_LOG_URL is required for the loki"),
        ({"log_backend": "elasticsearch"}, "AI_SRE_LOG_URL is required for the elasticsearch"),
        ({"log_backend": "opensearch"}, "AI_SRE_LOG_URL is required for the opensearch"),
        (
            {"log_backend": "datadog", "log_api_key": "k", "log_app_key": "a"},
            "AI_SRE_LOG_URL is required for the datadog",
        ),
        (
            {"log_backend": "datadog", "log_url": "https://api.datadoghq.com"},
            "AI_SRE_LOG_API_KEY and AI_SRE_LOG_APP_KEY",
        ),
        (
            {"log_backend": "datadog", "log_url": "https://api.datadoghq.com", "log_api_key": "k"},
            "needs AI_SRE_LOG_APP_KEY",
        ),
        ({"log_backend": "loki", "log_url": "loki:3100"}, "not an http"),
        (
            {"log_backend": "elasticsearch", "log_url": "https://es:9200", "log_username": "elastic"},
            "AI_SRE_LOG_PASSWORD",
        ),
        ({"log_backend": "loki", "log_url": "http://loki", "log_password": "p4ss"}, "without AI_SRE_LOG_USERNAME"),
        ({"log_backend": "elasticsearch", "log_url": "https://es:9200", "log_index": " "}, "AI_SRE_LOG_INDEX"),
    ],
)
def test_misconfiguration_names_the_variable(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_log_backend(settings(**values))


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        build_log_backend(settings(log_backend="elasticsearch", log_url="https://elastic:hunter2@es:9200"))
    assert "AI_SRE_LOG_USERNAME" in str(caught.value)
    assert "hunter2" not in str(caught.value)


# --- file backend ---------------------------------------------------------------------------------------


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    (root / "shop").mkdir(parents=True)
    (root / "pay").mkdir()
    (root / "shop" / "checkout.log").write_text(
        "2026-11-28T10:00:01.000Z starting checkout v2.3.1\n"
        "2026-11-28T10:00:02.000Z ERROR dial tcp 10.0.0.7:5432: connect: Connection refused\n"
        "Traceback (most recent call last):\n"
        '  File "app.py", line 3\n'
        "\n"
        "2026-11-28 10:00:03.500 retrying in 5s\n"
        "2026-11-28T09:00:00Z an hour too early\n",
        encoding="utf-8",
    )
    (root / "pay" / "payments.log").write_text(
        '{"ts": "2026-11-28T10:00:04Z", "level": "error", "msg": "card processor timeout", "pod": "payments-5f7c-abcde"}\n'
        '{"time": 1795860005000, "message": "recovered", "labels": {"pod": "payments-5f7c-zzzzz", "container": "api"}}\n'
        "not json and no timestamp\n"
        '{"timestamp": "2026-11-28T10:00:06Z", "event": "no message key"}\n',
        encoding="utf-8",
    )
    (root / "pay" / "checkout-worker.log").write_text(
        "2026-11-28T10:00:07Z worker connection refused\n", encoding="utf-8"
    )
    (root / "pay" / "notes.txt").write_text("2026-11-28T10:00:08Z not a .log file\n", encoding="utf-8")
    return root


async def test_file_backend_reads_plain_and_json_lines(log_dir: Path) -> None:
    backend = FileLogBackend(directory=log_dir)
    lines = await backend.fetch(window())
    assert render_lines(lines).splitlines() == [
        "2026-11-28T10:00:01.000Z shop/checkout starting checkout v2.3.1",
        "2026-11-28T10:00:02.000Z shop/checkout ERROR dial tcp 10.0.0.7:5432: connect: Connection refused",
        "2026-11-28T10:00:02.000Z shop/checkout Traceback (most recent call last):",
        '2026-11-28T10:00:02.000Z shop/checkout   File "app.py", line 3',
        "2026-11-28T10:00:03.500Z shop/checkout retrying in 5s",
        "2026-11-28T10:00:04.000Z pay/payments-5f7c-abcde card processor timeout",
        "2026-11-28T10:00:05.000Z pay/payments-5f7c-zzzzz[api] recovered",
        # No timestamp: a continuation of the entry above it.
        "2026-11-28T10:00:05.000Z pay/payments-5f7c-zzzzz[api] not json and no timestamp",
        '2026-11-28T10:00:06.000Z pay/payments {"event": "no message key"}',
        "2026-11-28T10:00:07.000Z pay/checkout-worker worker connection refused",
    ]
    json_line = next(line for line in lines if line.message == "card processor timeout")
    assert json_line.labels == {"level": "error", "pod": "payments-5f7c-abcde", "namespace": "pay"}


async def test_file_backend_filters(log_dir: Path) -> None:
    backend = FileLogBackend(directory=log_dir)

    async def messages(**filters: Any) -> list[str]:
        return [line.message for line in await backend.fetch(window(**filters))]

    assert await messages(text="connection REFUSED") == [
        "ERROR dial tcp 10.0.0.7:5432: connect: Connection refused",
        "worker connection refused",
    ]
    assert await messages(namespace="shop", text="refused") == [
        "ERROR dial tcp 10.0.0.7:5432: connect: Connection refused"
    ]
    assert await messages(service="checkout", namespace="pay") == ["worker connection refused"]
    assert await messages(service="payments") == [
        "card processor timeout",
        "recovered",
        "not json and no timestamp",
        '{"event": "no message key"}',
    ]
    # A pod of the service: the service's file, but lines labelled with another pod are excluded.
    assert await messages(pod="payments-5f7c-abcde") == ["card processor timeout", '{"event": "no message key"}']
    assert await messages(pod="payments-5f7c-zzzzz", container="api") == [
        "recovered",
        "not json and no timestamp",
        '{"event": "no message key"}',
    ]
    assert await messages(namespace="nope") == []
    assert await messages(namespace="../logs") == []
    assert await messages(start=at(1.5), end=at(3.5), namespace="shop") == [
        "ERROR dial tcp 10.0.0.7:5432: connect: Connection refused",
        "Traceback (most recent call last):",
        '  File "app.py", line 3',
        "retrying in 5s",
    ]
    assert await messages(start=at(-3600), end=at(-3000)) == ["an hour too early"]
    # The limit keeps the newest lines.
    assert await messages(limit=2) == ['{"event": "no message key"}', "worker connection refused"]


async def test_file_backend_health(tmp_path: Path) -> None:
    await FileLogBackend(directory=tmp_path).health()
    with pytest.raises(LogBackendError, match="does not exist"):
        await FileLogBackend(directory=tmp_path / "missing").health()
    (tmp_path / "file").write_text("x")
    with pytest.raises(LogBackendError, match="not a directory"):
        await FileLogBackend(directory=tmp_path / "file").health()
    with pytest.raises(LogBackendError, match="does not exist"):
        await FileLogBackend(directory=tmp_path / "missing").fetch(window())


# --- Loki -------------------------------------------------------------------------------------------------


def test_logql_string_escapes_for_go_unquote() -> None:
    assert logql_string('say "hi" \\ there\n\tnow') == '"say \\"hi\\" \\\\ there\\n\\tnow"'
    # The fake parses with Go's rules: the escaped literal must round-trip exactly.
    for text in ['a "quoted" \\d+ path C:\\tmp', "tab\there", "bell\x07", "ünïcode ✓", "back`tick"]:
        parsed = parse_logql(f'{{a="b"}} |= {logql_string(text)}')
        assert parsed.stages == [("line", "|=", text)]


def test_logql_queries() -> None:
    assert logql_queries(window(namespace="shop", pod="checkout-1", container="app", text="refused")) == [
        '{namespace="shop", pod="checkout-1", container="app"} |= "refused"'
    ]
    assert logql_queries(window(namespace="shop", service="checkout")) == [
        '{namespace="shop"} | app="checkout" or service_name="checkout" or service="checkout"'
    ]
    assert logql_queries(window(service='check"out', text='a "b"')) == [
        '{app="check\\"out"} |= "a \\"b\\""',
        '{service_name="check\\"out"} |= "a \\"b\\""',
        '{service="check\\"out"} |= "a \\"b\\""',
    ]
    assert logql_queries(window()) == ['{namespace=~".+"}']
    labels = LokiLabels(
        namespace="k8s_namespace_name", pod="k8s_pod_name", container="k8s_container_name", service=("app",)
    )
    assert logql_queries(window(namespace="shop", service="checkout"), labels) == [
        '{k8s_namespace_name="shop"} | app="checkout"'
    ]
    for query in [window(namespace="shop", service="x", text="y"), window(service="x"), window()]:
        for logql in logql_queries(query):
            parse_logql(logql)  # every generated query is valid LogQL


@pytest.fixture
def loki() -> Iterator[FakeLoki]:
    with FakeLoki() as fake:
        yield fake


def seed_loki(fake: FakeLoki, tenant: str = "fake") -> None:
    checkout = {"namespace": "shop", "pod": "checkout-7d9f-abcde", "container": "app", "app": "checkout"}
    derived = {
        "namespace": "shop",
        "pod": "checkout-7d9f-fghij",
        "container": "app",
        "app": "checkout",
        "service_name": "checkout",
    }
    db = {"namespace": "shop", "pod": "postgres-0", "container": "postgres", "app": "postgres"}
    otel = {"namespace": "pay", "pod": "payments-1", "service_name": "payments"}
    fake.push(checkout, at(1), "starting checkout", tenant=tenant)
    fake.push(checkout, at(2), 'dial tcp: lookup "db" \\ failed: connection refused', tenant=tenant)
    fake.push(checkout, at(2), "  at retry()", tenant=tenant)
    fake.push(derived, at(3), "connection refused again", tenant=tenant)
    fake.push(db, at(4), "FATAL: too many connections", tenant=tenant)
    fake.push(otel, at(5), "payments connection refused", tenant=tenant)
    fake.push(checkout, at(3600), "exactly at the end", tenant=tenant)
    fake.push(checkout, at(-1), "before the window", tenant=tenant)


def loki_backend(url: str, **values: Any) -> LokiBackend:
    backend = build_log_backend(settings(log_backend="loki", log_url=url, **values))
    assert isinstance(backend, LokiBackend)
    return backend


async def test_loki_fetch_filters_and_orders(loki: FakeLoki) -> None:
    seed_loki(loki)
    backend = loki_backend(loki.url)
    lines = await backend.fetch(window(namespace="shop", text='"db" \\ failed'))
    assert [line.message for line in lines] == ['dial tcp: lookup "db" \\ failed: connection refused']
    request = loki.requests[-1]
    assert request.path == "/loki/api/v1/query_range"
    assert request.param("query") == '{namespace="shop"} |= "\\"db\\" \\\\ failed"'
    assert request.param("direction") == "backward"
    assert request.param("limit") == "200"
    assert request.param("start") == str(unix_nanos(T0))
    assert request.param("end") == str(unix_nanos(at(3600)) + 1)  # Loki's end is exclusive
    assert "x-scope-orgid" not in request.headers
    assert "authorization" not in request.headers

    lines = await backend.fetch(window(namespace="shop", service="checkout"))
    assert render_lines(lines).splitlines() == [
        "2026-11-28T10:00:01.000Z shop/checkout-7d9f-abcde[app] starting checkout",
        '2026-11-28T10:00:02.000Z shop/checkout-7d9f-abcde[app] dial tcp: lookup "db" \\ failed: connection refused',
        "2026-11-28T10:00:02.000Z shop/checkout-7d9f-abcde[app]   at retry()",
        "2026-11-28T10:00:03.000Z shop/checkout-7d9f-fghij[app] connection refused again",
        "2026-11-28T11:00:00.000Z shop/checkout-7d9f-abcde[app] exactly at the end",
    ]
    assert lines[0].labels == {"namespace": "shop", "pod": "checkout-7d9f-abcde", "container": "app", "app": "checkout"}


async def test_loki_service_only_fans_out_and_deduplicates(loki: FakeLoki) -> None:
    seed_loki(loki)
    backend = loki_backend(loki.url)
    lines = await backend.fetch(window(service="checkout", text="refused"))
    # The fghij stream carries both app and service_name: found twice, returned once.
    assert [line.message for line in lines] == [
        'dial tcp: lookup "db" \\ failed: connection refused',
        "connection refused again",
    ]
    queries = sorted(r.param("query") or "" for r in loki.requests)
    assert queries == sorted(
        ['{app="checkout"} |= "refused"', '{service_name="checkout"} |= "refused"', '{service="checkout"} |= "refused"']
    )
    payments = await backend.fetch(window(service="payments"))
    assert [line.source for line in payments] == ["pay/payments-1"]


async def test_loki_limit_keeps_the_newest(loki: FakeLoki) -> None:
    seed_loki(loki)
    lines = await loki_backend(loki.url).fetch(window(namespace="shop", limit=3))
    assert [line.message for line in lines] == [
        "connection refused again",
        "FATAL: too many connections",
        "exactly at the end",
    ]


async def test_loki_tenant_and_auth_headers() -> None:
    with FakeLoki(auth_enabled=True, bearer_token="glc_s3cr3t-token") as fake:
        seed_loki(fake, tenant="team-a")
        fake.push({"namespace": "shop", "app": "checkout"}, at(9), "other tenant", tenant="team-b")
        backend = loki_backend(fake.url, log_tenant="team-a", log_api_key="glc_s3cr3t-token")
        lines = await backend.fetch(window(namespace="shop", service="checkout", text="again"))
        assert [line.message for line in lines] == ["connection refused again"]
        assert fake.requests[-1].headers["x-scope-orgid"] == "team-a"
        assert fake.requests[-1].headers["authorization"] == "Bearer glc_s3cr3t-token"
        assert "glc_s3cr3t-token" not in json.dumps(fake.requests[-1].query)

        no_tenant = loki_backend(fake.url, log_api_key="glc_s3cr3t-token")
        with pytest.raises(LogBackendError, match=r"HTTP 401.*no org id") as caught:
            await no_tenant.fetch(window(namespace="shop"))
        assert caught.value.status == 401
        assert_clean(caught.value, "glc_s3cr3t-token")

        wrong = loki_backend(fake.url, log_tenant="team-a", log_api_key="glc_wrong-token-value")
        with pytest.raises(LogBackendError, match=r"HTTP 401.*credentials.*Authorization Required") as caught:
            await wrong.fetch(window(namespace="shop"))
        assert_clean(caught.value, "glc_wrong-token-value")


async def test_loki_basic_auth_grafana_cloud_style() -> None:
    with FakeLoki(basic=("123456", "glc_token_abc")) as fake:
        seed_loki(fake)
        backend = loki_backend(fake.url, log_username="123456", log_api_key="glc_token_abc")
        assert len(await backend.fetch(window(namespace="pay"))) == 1
        token = base64.b64encode(b"123456:glc_token_abc").decode()
        assert fake.requests[-1].headers["authorization"] == f"Basic {token}"
        bad = loki_backend(fake.url, log_username="123456", log_password="not-the-token")
        with pytest.raises(LogBackendError) as caught:
            await bad.fetch(window())
        bad_token = base64.b64encode(b"123456:not-the-token").decode()
        assert_clean(caught.value, "not-the-token", bad_token)


async def test_loki_errors_become_log_backend_errors(loki: FakeLoki) -> None:
    backend = loki_backend(loki.url)
    loki.fail_next(LokiReply(429, "too many outstanding requests\n", headers={"Retry-After": "7"}))
    with pytest.raises(
        LogBackendError, match="HTTP 429 \\(rate limited; retry in 7 s\\): too many outstanding"
    ) as caught:
        await backend.fetch(window(namespace="shop"))
    assert caught.value.retry_after == 7

    loki.fail_next(LokiReply(500, "rpc error: code = Unavailable desc = connection error\n"))
    with pytest.raises(LogBackendError, match="HTTP 500: rpc error: code = Unavailable"):
        await backend.fetch(window(namespace="shop"))

    loki.fail_next(LokiReply(200, "<html>proxy login</html>", content_type="text/html"))
    with pytest.raises(LogBackendError, match="not JSON: '<html>proxy login</html>'"):
        await backend.fetch(window(namespace="shop"))

    loki.fail_next(LokiReply(200, json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}})))
    with pytest.raises(LogBackendError, match="resultType 'matrix'"):
        await backend.fetch(window(namespace="shop"))

    loki.fail_next(LokiReply(400, json.dumps({"status": "error", "errorType": "bad_data", "error": "query too long"})))
    with pytest.raises(LogBackendError, match="HTTP 400: query too long"):
        await backend.fetch(window(namespace="shop"))


async def test_loki_reports_its_own_parse_and_limit_errors(loki: FakeLoki) -> None:
    # A label name LogQL cannot express: the real parser's message reaches the operator.
    bad_labels = LokiBackend(options=HttpOptions(url=loki.url), labels=LokiLabels(namespace="k8s-namespace"))
    with pytest.raises(LogBackendError, match="HTTP 400: parse error at line 1, col 5: syntax error"):
        await bad_labels.fetch(window(namespace="shop"))
    small = FakeLoki(max_entries_limit=100).start()
    try:
        with pytest.raises(LogBackendError, match=r"max entries limit per query exceeded.*\(200 > 100\)"):
            await loki_backend(small.url).fetch(window(namespace="shop"))
    finally:
        small.stop()


async def test_loki_network_failures() -> None:
    port = free_port()
    backend = loki_backend(f"http://127.0.0.1:{port}", log_api_key="tok-secret-1")
    with pytest.raises(LogBackendError, match=f"loki at http://127.0.0.1:{port}: cannot connect") as caught:
        await backend.fetch(window(namespace="shop"))
    assert_clean(caught.value, "tok-secret-1")
    with FakeLoki() as slow:
        slow.delay_seconds = 1.0
        backend = loki_backend(slow.url, log_timeout_seconds=0.2)
        with pytest.raises(LogBackendError, match=r"no answer within 0\.2 s"):
            await backend.fetch(window(namespace="shop"))


async def test_loki_health(loki: FakeLoki) -> None:
    backend = loki_backend(loki.url)
    await backend.health()
    assert [r.path for r in loki.requests] == ["/ready", "/loki/api/v1/labels"]
    loki.ready = False
    with pytest.raises(LogBackendError, match=r"not ready: HTTP 503.*Ingester not ready"):
        await backend.health()
    loki.ready = True
    loki.route_ready = False  # a gateway without /ready: the labels call decides
    await backend.health()
    with FakeLoki(auth_enabled=True) as tenanted:
        with pytest.raises(LogBackendError, match=r"labels: HTTP 401.*no org id"):
            await loki_backend(tenanted.url).health()
        await loki_backend(tenanted.url, log_tenant="team-a").health()
    with pytest.raises(LogBackendError, match="cannot connect"):
        await loki_backend(f"http://127.0.0.1:{free_port()}").health()


# --- Elasticsearch / OpenSearch (the real osmem-server) -----------------------------------------------


def es_request(
    base: str, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
) -> Any:
    response = httpx.request(method, f"{base}{path}", content=body, headers={"Content-Type": content_type}, timeout=10)
    response.raise_for_status()
    return response.json()


def index_documents(base: str) -> None:
    """Fluent Bit documents through `_bulk`, ECS documents through `_doc`: the real indexing APIs."""
    fluent_bit = [
        {
            "@timestamp": "2026-11-28T10:00:01.000Z",
            "log": "starting checkout\n",
            "stream": "stdout",
            "kubernetes": {
                "namespace_name": "shop",
                "pod_name": "checkout-7d9f-abcde",
                "container_name": "app",
                "labels": {"app": "checkout"},
            },
        },
        {
            "@timestamp": "2026-11-28T10:00:02.000Z",
            "log": "dial tcp 10.0.0.7:5432: connect: Connection refused\n",
            "kubernetes": {
                "namespace_name": "shop",
                "pod_name": "checkout-7d9f-abcde",
                "container_name": "app",
                "labels": {"app": "checkout"},
            },
        },
        {
            "@timestamp": "2026-11-28T10:00:04.000Z",
            "log": "FATAL: too many connections",
            "kubernetes": {
                "namespace_name": "shop",
                "pod_name": "postgres-0",
                "container_name": "postgres",
                "labels": {"app": "postgres"},
            },
        },
        {
            "@timestamp": "2026-11-28T08:00:00.000Z",
            "log": "connection refused long ago",
            "kubernetes": {"namespace_name": "shop", "pod_name": "checkout-7d9f-abcde", "labels": {"app": "checkout"}},
        },
    ]
    bulk = "".join(
        json.dumps({"index": {"_index": "logs-fluentbit-2026.11.28"}}) + "\n" + json.dumps(doc) + "\n"
        for doc in fluent_bit
    )
    result = es_request(base, "POST", "/_bulk?refresh=true", bulk.encode(), "application/x-ndjson")
    assert result["errors"] is False
    ecs = [
        {
            "@timestamp": "2026-11-28T10:00:03.250Z",
            "message": "payment gateway timeout after 30s",
            "service": {"name": "payments"},
            "kubernetes": {"namespace": "pay", "pod": {"name": "payments-5f7c-x2x4q"}, "container": {"name": "api"}},
        },
        {
            "@timestamp": "2026-11-28T10:00:05.000Z",
            "message": "connection refused by upstream checkout",
            "service.name": "payments",
            "kubernetes.namespace": "pay",
            "kubernetes.pod.name": "payments-5f7c-x2x4q",
        },
    ]
    for number, doc in enumerate(ecs):
        es_request(base, "PUT", f"/logs-ecs-2026.11.28/_doc/{number}?refresh=true", json.dumps(doc).encode())


@pytest.fixture
def opensearch(osmem_clone: Any) -> str:
    index_documents(osmem_clone.url)
    return str(osmem_clone.url)


def es_backend(url: str, **values: Any) -> ElasticsearchBackend:
    values.setdefault("log_backend", "opensearch")
    backend = build_log_backend(settings(log_url=url, **values))
    assert isinstance(backend, ElasticsearchBackend)
    return backend


def test_search_body_shape() -> None:
    body = search_body(window(namespace="shop", pod="checkout-1", service="checkout", text='say "hi"', limit=50))
    assert body["size"] == 50
    assert body["sort"] == [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}]
    filters = body["query"]["bool"]["filter"]
    assert filters[0] == {
        "range": {
            "@timestamp": {
                "gte": "2026-11-28T10:00:00.000Z",
                "lte": "2026-11-28T11:00:00.000Z",
                "format": "strict_date_optional_time||epoch_millis",
            }
        }
    }
    namespace_terms = filters[1]["bool"]["should"]
    assert {"term": {"kubernetes.namespace_name.keyword": "shop"}} in namespace_terms
    assert {"term": {"kubernetes.namespace": "shop"}} in namespace_terms
    assert filters[-1] == {
        "bool": {
            "should": [{"match_phrase": {"message": 'say "hi"'}}, {"match_phrase": {"log": 'say "hi"'}}],
            "minimum_should_match": 1,
        }
    }


async def test_opensearch_fetch_across_fluent_bit_and_ecs(opensearch: str) -> None:
    backend = es_backend(opensearch)
    lines = await backend.fetch(window())
    assert render_lines(lines).splitlines() == [
        "2026-11-28T10:00:01.000Z shop/checkout-7d9f-abcde[app] starting checkout",
        "2026-11-28T10:00:02.000Z shop/checkout-7d9f-abcde[app] dial tcp 10.0.0.7:5432: connect: Connection refused",
        "2026-11-28T10:00:03.250Z pay/payments-5f7c-x2x4q[api] payment gateway timeout after 30s",
        "2026-11-28T10:00:04.000Z shop/postgres-0[postgres] FATAL: too many connections",
        "2026-11-28T10:00:05.000Z pay/payments-5f7c-x2x4q connection refused by upstream checkout",
    ]
    assert lines[2].labels == {
        "namespace": "pay",
        "pod": "payments-5f7c-x2x4q",
        "container": "api",
        "service": "payments",
        "index": "logs-ecs-2026.11.28",
    }


async def test_opensearch_filters(opensearch: str) -> None:
    backend = es_backend(opensearch)

    async def messages(**filters: Any) -> list[str]:
        return [line.message for line in await backend.fetch(window(**filters))]

    # A hyphenated pod name only matches through the .keyword sub-field of the dynamic mapping.
    assert await messages(pod="checkout-7d9f-abcde") == [
        "starting checkout",
        "dial tcp 10.0.0.7:5432: connect: Connection refused",
    ]
    assert await messages(pod="checkout-7d9f") == []
    assert await messages(service="checkout", text="connection refused") == [
        "dial tcp 10.0.0.7:5432: connect: Connection refused"
    ]
    assert await messages(service="payments") == [
        "payment gateway timeout after 30s",
        "connection refused by upstream checkout",
    ]
    assert await messages(namespace="pay", pod="payments-5f7c-x2x4q", container="api") == [
        "payment gateway timeout after 30s"
    ]
    assert await messages(text="Connection Refused") == [
        "dial tcp 10.0.0.7:5432: connect: Connection refused",
        "connection refused by upstream checkout",
    ]
    assert await messages(text="refused connection") == []  # a phrase, not a bag of words
    assert await messages(start=T0 - timedelta(hours=3), end=T0, text="refused") == ["connection refused long ago"]
    assert await messages(limit=2) == ["FATAL: too many connections", "connection refused by upstream checkout"]


async def test_opensearch_errors_and_health(osmem_clone: Any) -> None:
    missing = es_backend(osmem_clone.url, log_index="no-such-index")
    with pytest.raises(
        LogBackendError, match=r"_search: HTTP 404: index_not_found_exception: no such index \[no-such-index\]"
    ) as caught:
        await missing.fetch(window())
    assert caught.value.status == 404
    # A pattern that matches nothing is an empty answer, not an error (as in Elasticsearch).
    assert await es_backend(osmem_clone.url, log_index="nothing-*").fetch(window()) == []
    await es_backend(osmem_clone.url).health()
    with pytest.raises(LogBackendError, match=r"opensearch at .*: cannot connect"):
        await es_backend(f"http://127.0.0.1:{free_port()}").health()


class SecuredProxy:
    """Elasticsearch security in front of osmem (which has none): checks Authorization like ES does,
    records requests, forwards the rest; `override` answers a path with a canned response."""

    def __init__(self, upstream: str, authorization: str) -> None:
        self.upstream = upstream
        self.authorization = authorization
        self.seen: list[dict[str, str]] = []
        self.override: dict[str, tuple[int, str]] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append({k.lower(): v for k, v in self.headers.items()} | {":path": self.path})
                status, payload = proxy.answer(self.command, self.path, self.headers.get("Authorization"), body)
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="security" charset="UTF-8"')
                    self.send_header("WWW-Authenticate", "ApiKey")
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, method: str, path: str, authorization: str | None, body: bytes | None) -> tuple[int, str]:
        if authorization != self.authorization:
            reason = (
                f"missing authentication credentials for REST request [{path}]"
                if authorization is None
                else f"unable to authenticate with provided credentials and anonymous access is not allowed for this request [{path}]"
            )
            error = {"type": "security_exception", "reason": reason}
            return 401, json.dumps({"error": {"root_cause": [error], **error}, "status": 401})
        if path in self.override:
            return self.override[path]
        response = httpx.request(
            method, f"{self.upstream}{path}", content=body, headers={"Content-Type": "application/json"}, timeout=10
        )
        return response.status_code, response.text

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_opensearch_api_key_and_basic_auth(opensearch: str) -> None:
    proxy = SecuredProxy(
        opensearch, authorization="ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
    )
    try:
        good = es_backend(proxy.url, log_api_key="VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==")
        assert len(await good.fetch(window(namespace="shop"))) == 3
        await good.health()
        assert all("VnVhQ2ZH" not in seen[":path"] for seen in proxy.seen)

        wrong = es_backend(proxy.url, log_api_key="d3Jvbmc6a2V5LXZhbHVlLTEyMzQ1")
        with pytest.raises(
            LogBackendError, match=r"HTTP 401 \(check the credentials.*security_exception: unable to authenticate"
        ) as caught:
            await wrong.fetch(window())
        assert_clean(caught.value, "d3Jvbmc6a2V5LXZhbHVlLTEyMzQ1")
        with pytest.raises(LogBackendError, match="_cluster/health: HTTP 401"):
            await wrong.health()

        anonymous = es_backend(proxy.url)
        with pytest.raises(LogBackendError, match="missing authentication credentials"):
            await anonymous.fetch(window())

        basic = es_backend(proxy.url, log_username="elastic", log_password="changeme-Really-S3cret")
        with pytest.raises(LogBackendError) as caught:
            await basic.fetch(window())
        token = base64.b64encode(b"elastic:changeme-Really-S3cret").decode()
        assert proxy.seen[-1]["authorization"] == f"Basic {token}"
        assert_clean(caught.value, "changeme-Really-S3cret", token)
    finally:
        proxy.close()


async def test_opensearch_red_health_garbage_and_rejections(opensearch: str) -> None:
    proxy = SecuredProxy(opensearch, authorization="ApiKey k3y")
    try:
        backend = es_backend(proxy.url, log_api_key="k3y")
        red = {"cluster_name": "logs", "status": "red", "unassigned_shards": 4}
        proxy.override["/_cluster/health"] = (200, json.dumps(red))
        with pytest.raises(LogBackendError, match=r"cluster health is red \(unassigned shards: 4\)"):
            await backend.health()
        proxy.override["/_cluster/health"] = (200, json.dumps({**red, "status": "yellow"}))
        await backend.health()

        path = "/logs-*/_search"
        proxy.override[path] = (200, "{not json")
        with pytest.raises(LogBackendError, match=re.escape("not JSON: '{not json'")):
            await backend.fetch(window())
        rejected = {
            "error": {
                "type": "es_rejected_execution_exception",
                "reason": "rejected execution of coordinating operation",
            },
            "status": 429,
        }
        proxy.override[path] = (429, json.dumps(rejected))
        with pytest.raises(LogBackendError, match="HTTP 429 \\(rate limited\\): es_rejected_execution_exception"):
            await backend.fetch(window())
        failed = {
            "_shards": {
                "total": 1,
                "successful": 0,
                "failed": 1,
                "failures": [{"reason": {"type": "query_shard_exception", "reason": "failed to create query"}}],
            },
            "hits": {"hits": []},
        }
        proxy.override[path] = (200, json.dumps(failed))
        with pytest.raises(LogBackendError, match="every shard failed: failed to create query"):
            await backend.fetch(window())
        proxy.override[path] = (503, "<html>bad gateway</html>")
        with pytest.raises(LogBackendError, match="HTTP 503: <html>bad gateway</html>"):
            await backend.fetch(window())
    finally:
        proxy.close()


# --- Datadog ---------------------------------------------------------------------------------------------


def test_datadog_query_escaping() -> None:
    assert datadog_query(window()) == "*"
    assert (
        datadog_query(
            window(
                service="checkout-api", namespace="shop", pod="checkout-7d9f-x", container="app", text='say "hi" \\ now'
            )
        )
        == 'service:checkout\\-api kube_namespace:shop pod_name:checkout\\-7d9f\\-x kube_container_name:app "say \\"hi\\" \\\\ now"'
    )
    assert dd_escape("a b:c*d(e)") == "a\\ b\\:c\\*d\\(e\\)"
    assert dd_escape("path/to") == "path/to"  # '/' is not special


@pytest.fixture
def datadog() -> Iterator[FakeDatadogLogs]:
    with FakeDatadogLogs() as fake:
        yield fake


def seed_datadog(fake: FakeDatadogLogs) -> None:
    k8s = ["kube_namespace:shop", "pod_name:checkout-7d9f-abcde", "kube_container_name:app", "env:prod"]
    for second in range(1, 8):
        fake.add(
            at(second),
            f"checkout request {second} failed: connection refused",
            service="checkout-api",
            host="node-1",
            status="error",
            tags=k8s,
        )
    fake.add(at(8), "payments ok", service="payments", tags=["kube_namespace:pay", "pod_name:payments-0"])
    fake.add(at(-60), "checkout before the window", service="checkout-api", tags=k8s)


def dd_backend(
    url: str, fake: FakeDatadogLogs | None = None, page_size: int = 1000, **values: Any
) -> DatadogLogsBackend:
    if fake is not None:
        values.setdefault("log_api_key", fake.api_key)
        values.setdefault("log_app_key", fake.app_key)
    backend = build_log_backend(settings(log_backend="datadog", log_url=url, **values))
    assert isinstance(backend, DatadogLogsBackend)
    backend.page_size = page_size
    return backend


async def test_datadog_search_request_and_parsing(datadog: FakeDatadogLogs) -> None:
    seed_datadog(datadog)
    backend = dd_backend(datadog.url, datadog)
    lines = await backend.fetch(window(service="checkout-api", namespace="shop", text="request 3 failed"))
    assert (
        render_lines(lines)
        == "2026-11-28T10:00:03.000Z shop/checkout-7d9f-abcde[app] checkout request 3 failed: connection refused"
    )
    assert lines[0].labels == {
        "kube_namespace": "shop",
        "pod_name": "checkout-7d9f-abcde",
        "kube_container_name": "app",
        "env": "prod",
        "service": "checkout-api",
        "host": "node-1",
        "status": "error",
    }
    request = datadog.searches()[-1]
    assert request.headers["dd-api-key"] == datadog.api_key
    assert request.headers["dd-application-key"] == datadog.app_key
    assert request.query == {}  # keys only in headers, never in the URL
    assert request.json() == {
        "filter": {
            "query": 'service:checkout\\-api kube_namespace:shop "request 3 failed"',
            "from": "2026-11-28T10:00:00.000Z",
            "to": "2026-11-28T11:00:00.000Z",
        },
        "sort": "-timestamp",
        "page": {"limit": 200},
    }
    other = await backend.fetch(window(namespace="pay"))
    assert render_lines(other) == "2026-11-28T10:00:08.000Z pay/payments-0 payments ok"


async def test_datadog_follows_the_cursor_up_to_the_limit(datadog: FakeDatadogLogs) -> None:
    seed_datadog(datadog)
    backend = dd_backend(datadog.url, datadog, page_size=2)
    lines = await backend.fetch(window(service="checkout-api", limit=5))
    # The five newest, oldest first.
    assert [line.at for line in lines] == [at(s) for s in (3, 4, 5, 6, 7)]
    pages = [r.json()["page"] for r in datadog.searches()]
    assert [p["limit"] for p in pages] == [2, 2, 1]
    assert "cursor" not in pages[0]
    assert pages[1]["cursor"]
    assert pages[2]["cursor"]
    assert pages[1]["cursor"] != pages[2]["cursor"]
    # Every page repeats the same filter (a cursor is only valid for its query).
    assert len({json.dumps(r.json()["filter"]) for r in datadog.searches()}) == 1

    datadog.requests.clear()
    everything = await backend.fetch(window(service="checkout-api"))
    assert len(everything) == 7
    assert len(datadog.searches()) == 4  # 2+2+2+1, then no meta.page.after


async def test_datadog_auth_rate_limit_and_errors(datadog: FakeDatadogLogs) -> None:
    seed_datadog(datadog)
    wrong = dd_backend(datadog.url, log_api_key=datadog.api_key, log_app_key="dd-wrong-app-key-999")
    with pytest.raises(
        LogBackendError, match="HTTP 403: Forbidden \\(check AI_SRE_LOG_API_KEY and AI_SRE_LOG_APP_KEY"
    ) as caught:
        await wrong.fetch(window())
    assert caught.value.status == 403
    assert_clean(caught.value, datadog.api_key, "dd-wrong-app-key-999")

    backend = dd_backend(datadog.url, datadog)
    datadog.fail_next(DdReply(401, json.dumps({"errors": ["Unauthorized"]})))
    with pytest.raises(LogBackendError, match="HTTP 401: Unauthorized") as caught:
        await backend.fetch(window())
    assert_clean(caught.value, datadog.api_key, datadog.app_key)

    datadog.fail_next(DdReply(500, json.dumps({"errors": ["Internal Server Error"]})))
    with pytest.raises(LogBackendError, match="logs search: HTTP 500: Internal Server Error"):
        await backend.fetch(window())

    datadog.fail_next(DdReply(200, '{"data": [', content_type="application/json"))
    with pytest.raises(LogBackendError, match="not JSON"):
        await backend.fetch(window())

    datadog.fail_next(DdReply(200, json.dumps({"meta": {"status": "done"}})))
    with pytest.raises(LogBackendError, match="without data"):
        await backend.fetch(window())


async def test_datadog_rate_limit_reports_reset() -> None:
    with FakeDatadogLogs(rate_limit=2, rate_reset_seconds=42) as fake:
        seed_datadog(fake)
        backend = dd_backend(fake.url, fake, page_size=2)
        with pytest.raises(
            LogBackendError,
            match=r"rate limit exceeded, retry in 42 s \(X-RateLimit-Reset\); limit 2 requests per 60 s",
        ) as caught:
            await backend.fetch(window(service="checkout-api", limit=6))  # needs 3 pages, the third is refused
        assert caught.value.status == 429
        assert caught.value.retry_after == 42
        assert_clean(caught.value, fake.api_key, fake.app_key)


async def test_datadog_fake_rejects_unescaped_values(datadog: FakeDatadogLogs) -> None:
    # The fake refuses what the search syntax calls special: proves datadog_query's escaping is needed.
    seed_datadog(datadog)
    response = httpx.post(
        f"{datadog.url}/api/v2/logs/events/search",
        json={"filter": {"query": "pod_name:a:b", "from": "now-1d", "to": "now"}},
        headers={"DD-API-KEY": datadog.api_key, "DD-APPLICATION-KEY": datadog.app_key},
    )
    assert response.status_code == 400
    assert "unescaped ':'" in response.json()["errors"][0]
    tricky = dd_backend(datadog.url, datadog)
    datadog.add(at(9), "x", service="svc", tags=["pod_name:a:b (1)"])
    lines = await tricky.fetch(window(pod="a:b (1)"))
    assert [line.message for line in lines] == ["x"]


async def test_datadog_health(datadog: FakeDatadogLogs) -> None:
    await dd_backend(datadog.url, datadog).health()
    validate = datadog.requests[-1]
    assert (validate.method, validate.path, validate.query) == ("GET", "/api/v1/validate", {})
    assert validate.headers["dd-api-key"] == datadog.api_key
    bad = dd_backend(datadog.url, log_api_key="dd-bad-api-key-123", log_app_key=datadog.app_key)
    with pytest.raises(LogBackendError, match="validate: HTTP 403: Forbidden") as caught:
        await bad.health()
    assert_clean(caught.value, "dd-bad-api-key-123", datadog.app_key)
    datadog.fail_next(DdReply(200, json.dumps({"valid": False})))
    with pytest.raises(LogBackendError, match="did not confirm"):
        await dd_backend(datadog.url, datadog).health()
    with pytest.raises(LogBackendError, match="cannot connect"):
        await dd_backend(f"http://127.0.0.1:{free_port()}", datadog).health()


async def test_credentials_echoed_by_a_vendor_are_scrubbed() -> None:
    # Some proxies echo the Authorization header back in their error page.
    with FakeLoki() as fake:
        token = "glc_echoed-secret-token"
        backend = loki_backend(fake.url, log_api_key=token)
        fake.fail_next(LokiReply(401, f"invalid credentials: Authorization: Bearer {token}"))
        with pytest.raises(LogBackendError, match=r"invalid credentials: Authorization: Bearer \*\*\*") as caught:
            await backend.fetch(window(namespace="shop"))
        assert_clean(caught.value, token)
        basic = loki_backend(fake.url, log_username="u", log_password="pw-echoed-123")
        encoded = base64.b64encode(b"u:pw-echoed-123").decode()
        fake.fail_next(LokiReply(200, f"<html>hello {encoded} / pw-echoed-123</html>"))
        with pytest.raises(LogBackendError, match="not JSON") as caught:
            await basic.fetch(window(namespace="shop"))
        assert_clean(caught.value, "pw-echoed-123", encoded)


def test_scrub_replaces_every_credential_form() -> None:
    http = VendorHttp(vendor="x", options=HttpOptions(url="http://h", secrets=("abc", "abcdef", "")))
    assert http.scrub("abcdef then abc") == "*** then ***"

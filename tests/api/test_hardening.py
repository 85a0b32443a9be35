"""Through the real app: rate limits (one process, and two API replicas sharing Redis), JSON depth and size
limits, CORS and security headers."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import create_key, server_secret
from domain.settings import Settings
from tests.api.conftest import running_harness

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_a_key_over_its_limit_gets_429_with_retry_after_and_others_do_not(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, worker=False,
        rate_limit_key="5/minute", rate_limit_ip="off",
    ) as h:  # fmt: skip
        secret = server_secret(h.settings)
        one = (await create_key(h.db, secret=secret, workspace=h.workspace, role="viewer", name="one",
                                created_by="t")).key.get_secret_value()  # fmt: skip
        two = (await create_key(h.db, secret=secret, workspace=h.workspace, role="viewer", name="two",
                                created_by="t")).key.get_secret_value()  # fmt: skip
        codes = [(await h.http.get("/incidents", headers={"X-API-Key": one})).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        limited = await h.http.get("/incidents", headers={"X-API-Key": one})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 12  # one token every 12 s
        assert "rate limit" in limited.json()["detail"]
        assert (await h.http.get("/incidents", headers={"X-API-Key": two})).status_code == 200


async def test_per_ip_limit_applies_before_authentication(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, worker=False,
        rate_limit_ip="3/minute",
    ) as h:  # fmt: skip
        codes = [(await h.http.get("/incidents", headers={"X-API-Key": "wrong"})).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_two_replicas_share_one_budget_through_redis(db_url: str, tmp_path: Path) -> None:
    prefix_run = uuid.uuid4().hex
    settings = Settings(
        data_dir=tmp_path,
        database_url=db_url,
        redis_url=REDIS_URL,
        rate_limit_key="4/minute",
        rate_limit_ip="off",
        temporal_address="127.0.0.1:1",
        default_workspace=f"ws-{prefix_run[:8]}",
    )
    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        new = await create_key(
            first.state.aisre.db,
            secret=server_secret(settings),
            workspace=settings.default_workspace,
            role="viewer",
            name="shared",
            created_by="t",
        )
        key = new.key.get_secret_value()
        bucket = first.state.aisre.limiter.redis_key(f"key:{new.row.key_id}")
        a = httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a")
        b = httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b")
        async with a, b:
            headers = {"X-API-Key": key}
            assert [(await a.get("/incidents", headers=headers)).status_code for _ in range(2)] == [200, 200]
            assert [(await b.get("/incidents", headers=headers)).status_code for _ in range(2)] == [200, 200]
            # Four tokens spent across both replicas: the fifth request is refused wherever it lands.
            assert (await a.get("/incidents", headers=headers)).status_code == 429
            assert (await b.get("/incidents", headers=headers)).status_code == 429
    client = aioredis.from_url(REDIS_URL)
    try:
        assert await client.exists(bucket)  # the budget really lived in Redis
        await client.unlink(bucket)
    finally:
        await client.aclose()


async def test_deep_json_cors_and_headers(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, worker=False,
        max_json_depth=10, cors_origins=["https://console.example.com"],
    ) as h:  # fmt: skip
        deep = b"[" * 50 + b"]" * 50
        refused = await h.http.post("/webhook/webhook", content=deep, headers={"content-type": "application/json"})
        assert refused.status_code == 422
        assert "nested deeper than 10" in refused.json()["detail"]
        # Brackets inside strings are text, not nesting.
        flat = b'{"title": "' + b"[" * 50 + b'", "severity": "high"}'
        accepted = await h.http.post("/webhook/webhook", content=flat, headers={"content-type": "application/json"})
        assert accepted.status_code != 422

        health = await h.http.get("/health")
        assert health.headers["x-content-type-options"] == "nosniff"
        assert health.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in health.headers["content-security-policy"]
        docs = await h.http.get("/docs")
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]

        preflight = await h.http.options(
            "/incidents",
            headers={"Origin": "https://console.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://console.example.com"
        other = await h.http.options(
            "/incidents", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_wildcard_cors_with_credentials_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cors_origins may not be"):
        Settings(data_dir=tmp_path, cors_origins=["*"], cors_allow_credentials=True)

"""Who may call what: every route of the app x every role and scope, keys, dev mode, isolation.

The expected matrix is written out here by hand (not computed with api.access.allows), so a change to
the enforcement that loosens it fails this test.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.access import ROUTE_ACCESS, Access, app_routes, route_patterns
from api.app import create_app
from api.auth import KeyRole, create_key, server_secret, split_key
from cli.samples import alertmanager_sample
from domain.settings import ConfigError, Settings
from tests.api.conftest import Harness, running_harness, write_workspaces
from tests.helpers import poll

CALLERS = ("none", "invalid", "ingest", "viewer", "operator", "admin")
OK = "ok"

# access level -> caller -> what the request must get (OK = the route ran: anything but 401/403).
EXPECTED: dict[Access, dict[str, Any]] = {
    Access.public: dict.fromkeys(CALLERS, OK),
    Access.ingest: {"none": 401, "invalid": 401, "ingest": OK, "viewer": 403, "operator": OK, "admin": OK},
    Access.viewer: {"none": 401, "invalid": 401, "ingest": 403, "viewer": OK, "operator": OK, "admin": OK},
    Access.operator: {"none": 401, "invalid": 401, "ingest": 403, "viewer": 403, "operator": OK, "admin": OK},
    Access.admin: {"none": 401, "invalid": 401, "ingest": 403, "viewer": 403, "operator": 403, "admin": OK},
    # No key is needed, but the route checks Slack's signature itself: unsigned requests are refused.
    Access.slack: dict.fromkeys(CALLERS, 401),
}

PARAMS = {
    "incident_id": "987654",
    "diagnosis_id": "1",
    "action_id": "a1",
    "dead_letter_id": "987654",
    "source": "alertmanager",
    "schedule": "sre-primary",
    "key_id": "000000000000",
}


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: PARAMS[m.group(1)], path)


async def make_keys(h: Harness, workspace: str | None = None) -> dict[str, str]:
    keys = {}
    for role in ("ingest", "viewer", "operator", "admin"):
        new = await create_key(
            h.db,
            secret=server_secret(h.settings),
            workspace=workspace or h.workspace,
            role=role,
            name=f"test-{role}",
            created_by="test",
        )
        keys[role] = new.key.get_secret_value()
    return keys


def headers_for(caller: str, keys: dict[str, str]) -> dict[str, str]:
    if caller == "none":
        return {}
    if caller == "invalid":
        # Well-formed, unknown: the lookup runs and finds nothing.
        return {"X-API-Key": "aisre_0123456789ab_" + "x" * 43}
    return {"X-API-Key": keys[caller]}


async def test_every_route_declares_its_access_and_the_matrix_holds(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, worker=False
    ) as h:
        keys = await make_keys(h)
        served = app_routes(h.app)
        # Every route, hidden ones included (the docs pages are not in the schema): all declared.
        assert ("GET", "/docs") in served
        assert ("POST", "/slack/interactions") in served
        assert {f"{m} {p}" for m, p in served} == set(ROUTE_ACCESS)
        failures = []
        for method, path in served:
            access = ROUTE_ACCESS[f"{method} {path}"]
            for caller in CALLERS:
                response = await h.http.request(
                    method,
                    concrete(path),
                    headers=headers_for(caller, keys),
                    json={} if method in ("POST", "PUT", "PATCH") else None,
                )
                expected = EXPECTED[access][caller]
                got = response.status_code
                if expected == OK:
                    if got in (401, 403) or got >= 500:
                        failures.append(f"{method} {path} as {caller}: {got} {response.text[:120]}")
                elif got != expected:
                    failures.append(f"{method} {path} as {caller}: expected {expected}, got {got}")
                if got == 401 and access is not Access.slack:
                    assert response.headers.get("www-authenticate") == "Bearer"
        assert not failures, "\n".join(failures)


def test_a_route_without_a_declared_access_level_stops_the_app(tmp_path: Path) -> None:
    app: FastAPI = create_app(Settings(data_dir=tmp_path))

    @app.get("/undeclared", include_in_schema=False)
    async def undeclared() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="GET /undeclared"):
        route_patterns(app)


async def test_bearer_query_revoked_expired_and_dev_mode(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, worker=False
    ) as h:
        # Dev mode: no key exists and the API is bound to loopback, so a keyless request is the admin.
        assert (await h.http.get("/incidents")).status_code == 200
        # A key presented in dev mode is still checked: unknown -> 401.
        assert (await h.http.get("/incidents", headers={"X-API-Key": "nope"})).status_code == 401

        created = await h.http.post("/admin/keys", json={"name": "ops-bot", "role": "operator"})
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        assert split_key(key) == created.json()["key_id"]
        # The first key ends dev mode at once.
        assert (await h.http.get("/incidents")).status_code == 401
        assert (await h.http.get("/incidents", headers={"Authorization": f"Bearer {key}"})).status_code == 200
        assert (await h.http.get("/incidents", headers={"Authorization": f"Basic {key}"})).status_code == 401
        # Query-string keys: refused unless the workspace opts in, and then on ingest routes only.
        webhook = alertmanager_sample(resolved=False)
        refused = await h.http.post("/webhook/alertmanager", params={"api_key": key}, json=webhook)
        assert refused.status_code == 401
        assert "allow_query_key" in refused.json()["detail"]
        h.configure(allow_query_key=True)
        accepted = await h.http.post("/webhook/alertmanager", params={"api_key": key}, json=webhook)
        assert accepted.status_code == 202, accepted.text
        assert (await h.http.get("/incidents", params={"api_key": key})).status_code == 401

        # Only the hash is stored; listing never shows keys.
        admin = await create_key(
            h.db, secret=server_secret(h.settings), workspace=h.workspace, role="admin", name="root", created_by="t"
        )
        admin_headers = {"X-API-Key": admin.key.get_secret_value()}
        listed = await h.http.get("/admin/keys", headers=admin_headers)
        assert listed.status_code == 200
        assert key not in listed.text
        assert "digest" not in listed.text
        async with h.db.session() as session:
            from adapters.storage import repositories as repo

            row = await repo.get_api_key(session, key_id=created.json()["key_id"])
            assert row is not None
            assert row.digest != key
            assert key not in row.digest

        # Revocation takes effect at once on this replica.
        revoked = await h.http.delete(f"/admin/keys/{created.json()['key_id']}", headers=admin_headers)
        assert revoked.status_code == 204
        assert (await h.http.get("/incidents", headers={"X-API-Key": key})).status_code == 401

        expired = await create_key(
            h.db,
            secret=server_secret(h.settings),
            workspace=h.workspace,
            role="viewer",
            name="old",
            created_by="t",
            now=datetime.now(UTC) - timedelta(days=10),
            expires_in=timedelta(days=1),
        )
        response = await h.http.get("/incidents", headers={"X-API-Key": expired.key.get_secret_value()})
        assert response.status_code == 401


async def test_non_loopback_without_keys_is_refused(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, api_host="0.0.0.0"))  # noqa: S104 - the point of the test
    with pytest.raises(ConfigError, match="without API keys"):
        async with app.router.lifespan_context(app):
            pass


async def test_another_workspace_cannot_see_or_touch_an_incident(
    db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with running_harness(db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path) as h:
        other = f"{h.workspace}-b"
        write_workspaces(h.settings.config_dir, {"name": h.workspace}, {"name": other})
        mine = await make_keys(h)
        theirs = await make_keys(h, workspace=other)
        as_me = {"X-API-Key": mine["admin"]}
        as_them = {"X-API-Key": theirs["admin"]}
        sent = await h.http.post(
            "/webhook/alertmanager", json=alertmanager_sample(resolved=False), headers={"X-API-Key": mine["ingest"]}
        )
        assert sent.status_code == 202, sent.text

        async def first() -> dict[str, Any] | None:
            items = (await h.http.get("/incidents", headers=as_me)).json()["items"]
            return items[0] if items else None

        incident = await poll(first)
        iid = incident["id"]

        proposed = await h.http.post(
            "/actions/execute",
            headers=as_me,
            json={"incident_id": iid, "action": {"action": "rollout_restart", "namespace": "shop", "deployment": "a"}},
        )
        assert proposed.status_code == 202, proposed.text
        action_id = proposed.json()["action_id"]
        status_before = proposed.json()["status"]

        assert (await h.http.get("/incidents", headers=as_them)).json()["items"] == []
        attempts = [
            ("GET", f"/incidents/{iid}"),
            ("GET", f"/incidents/{iid}/timeline"),
            ("GET", f"/incidents/{iid}/alerts"),
            ("GET", f"/incidents/{iid}/actions"),
            ("GET", f"/incidents/{iid}/diagnoses"),
            ("GET", f"/incidents/{iid}/notifications"),
            ("GET", f"/incidents/{iid}/postmortem"),
            ("POST", f"/incidents/{iid}/actions/{action_id}/approve"),
            ("POST", f"/incidents/{iid}/actions/{action_id}/reject"),
            ("POST", f"/incidents/{iid}/resolve"),
            ("POST", f"/incidents/{iid}/acknowledge"),
            ("POST", f"/incidents/{iid}/diagnosis"),
        ]
        for method, path in attempts:
            response = await h.http.request(method, path, headers=as_them, json={} if method == "POST" else None)
            assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
        execute = await h.http.post(
            "/actions/execute",
            headers=as_them,
            json={"incident_id": iid, "action": {"action": "rollout_restart", "namespace": "shop", "deployment": "x"}},
        )
        assert execute.status_code == 404
        # Their key listing shows only their keys; mine stay invisible.
        listed = (await h.http.get("/admin/keys", headers=as_them)).json()
        assert {k["workspace"] for k in listed} == {other}
        mine_id = split_key(mine["viewer"])
        assert (await h.http.delete(f"/admin/keys/{mine_id}", headers=as_them)).status_code == 404
        # Nothing happened to the incident: still open, the action still pending, my key still works.
        detail = (await h.http.get(f"/incidents/{iid}", headers=as_me)).json()
        assert detail["status"] == "open"
        rows = (await h.http.get(f"/incidents/{iid}/actions", headers=as_me)).json()
        assert next(r for r in rows if r["action_id"] == action_id)["status"] == status_before
        assert (await h.http.get("/incidents", headers={"X-API-Key": mine["viewer"]})).status_code == 200


def test_roles_are_the_documented_ones() -> None:
    assert set(KeyRole.__args__) == {"ingest", "viewer", "operator", "admin"}  # type: ignore[attr-defined]

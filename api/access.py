"""Who may call what: every route's access level, declared here and nowhere else, and its enforcement.

`ROUTE_ACCESS` maps "METHOD /path" to an access level. The app refuses to start when a route has no
entry (or an entry names no route), so a route added later is closed until someone declares it. The
`AccessMiddleware` runs before routing, body parsing and validation: an unauthenticated request never
reaches a handler, and an unknown or missing key is a 401 whatever else is wrong with the request.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers, QueryParams
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import KeyRole, Principal
from api.ratelimit import Limit, MemoryRateLimiter, RateLimitUnavailable
from api.security import reject

log = logging.getLogger(__name__)


class Access(StrEnum):
    """What a route needs. viewer < operator < admin; `ingest` keys reach only ingest routes."""

    public = "public"  # no key (health, the API description)
    slack = "slack"  # no key: the route verifies Slack's request signature itself
    ingest = "ingest"  # webhook senders: ingest keys, and operators or admins
    viewer = "viewer"
    operator = "operator"
    admin = "admin"


ROUTE_ACCESS: dict[str, Access] = {
    # API description and health
    "GET /openapi.json": Access.public,
    "HEAD /openapi.json": Access.public,
    "GET /docs": Access.public,
    "HEAD /docs": Access.public,
    "GET /docs/oauth2-redirect": Access.public,
    "HEAD /docs/oauth2-redirect": Access.public,
    "GET /redoc": Access.public,
    "HEAD /redoc": Access.public,
    "GET /health": Access.public,
    # alert and deploy intake
    "POST /webhook": Access.ingest,
    "POST /webhook/{source}": Access.ingest,
    "POST /deploys": Access.ingest,
    # incidents
    "GET /incidents": Access.viewer,
    "GET /incidents/{incident_id}": Access.viewer,
    "GET /incidents/{incident_id}/alerts": Access.viewer,
    "GET /incidents/{incident_id}/timeline": Access.viewer,
    "GET /incidents/{incident_id}/postmortem": Access.viewer,
    "POST /incidents/{incident_id}/resolve": Access.operator,
    "POST /incidents/{incident_id}/acknowledge": Access.operator,
    "GET /incidents/{incident_id}/diagnoses": Access.viewer,
    "GET /incidents/{incident_id}/diagnoses/{diagnosis_id}": Access.viewer,
    "GET /incidents/{incident_id}/diagnoses/{diagnosis_id}/evidence": Access.viewer,
    "POST /incidents/{incident_id}/diagnosis": Access.operator,
    "GET /incidents/{incident_id}/notifications": Access.viewer,
    # actions and policy
    "GET /incidents/{incident_id}/actions": Access.viewer,
    "POST /incidents/{incident_id}/actions/{action_id}/approve": Access.operator,
    "POST /incidents/{incident_id}/actions/{action_id}/reject": Access.operator,
    "POST /actions/execute": Access.operator,
    "GET /policies/preview": Access.viewer,
    # dead letters and deploys
    "GET /dead-letters": Access.viewer,
    "GET /dead-letters/{dead_letter_id}": Access.viewer,
    "POST /dead-letters/{dead_letter_id}/redrive": Access.operator,
    "GET /deploys": Access.viewer,
    # on-call
    "GET /oncall": Access.viewer,
    "GET /oncall/{schedule}/shifts": Access.viewer,
    "GET /oncall/{schedule}.ics": Access.viewer,
    # Slack buttons
    "POST /slack/interactions": Access.slack,
    # administration of the caller's workspace
    "GET /admin/keys": Access.admin,
    "POST /admin/keys": Access.admin,
    "DELETE /admin/keys/{key_id}": Access.admin,
    "GET /admin/workspace": Access.admin,
}

_RANK = {"viewer": 0, "operator": 1, "admin": 2}


def allows(access: Access, role: KeyRole | None) -> bool:
    """The allow/deny matrix: may a caller with `role` (None = no valid key) use a route of `access`?"""
    if access in (Access.public, Access.slack):
        return True
    if role is None:
        return False
    if access is Access.ingest:
        return role in ("ingest", "operator", "admin")
    if role == "ingest":
        return False
    return _RANK[role] >= _RANK[access.value]


@dataclass(frozen=True)
class _Pattern:
    method: str
    path: str
    regex: re.Pattern[str]
    access: Access


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, including routes hidden from the schema."""
    out: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        methods = getattr(context.original_route, "methods", None) or set()
        path = context.path_format or context.path
        if path is None:
            continue
        out.extend((method, path) for method in sorted(methods))
    return out


def route_patterns(app: FastAPI) -> list[_Pattern]:
    """The access table compiled against the app's routes; refuses any route without a declaration."""
    served = app_routes(app)
    missing = [f"{m} {p}" for m, p in served if f"{m} {p}" not in ROUTE_ACCESS]
    if missing:
        raise RuntimeError(f"routes without a declared access level in api/access.py: {', '.join(missing)}")
    stale = sorted(set(ROUTE_ACCESS) - {f"{m} {p}" for m, p in served})
    if stale:
        raise RuntimeError(f"api/access.py declares routes the app does not serve: {', '.join(stale)}")
    return [_Pattern(method=m, path=p, regex=compile_path(p)[0], access=ROUTE_ACCESS[f"{m} {p}"]) for m, p in served]


def match(patterns: Iterable[_Pattern], method: str, path: str) -> _Pattern | None:
    """The route a request will reach (first full match in routing order), or None (404/405 follow)."""
    return next((p for p in patterns if p.method == method and p.regex.match(path)), None)


class AccessMiddleware:
    """Authenticate, rate-limit and authorize every request before anything reads its body."""

    def __init__(self, app: ASGIApp, *, patterns: list[_Pattern]) -> None:
        self.app = app
        self._patterns = patterns  # route_patterns(app), computed once when the app is built
        self._limits: dict[str, Limit | None] | None = None
        self._limiter_warned = 0.0
        self._fallback = MemoryRateLimiter()  # per-replica limits while a shared Redis is unavailable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = match(self._patterns, scope["method"], scope["path"])
        if route is None:
            await self.app(scope, receive, send)  # 404 / 405 from the router
            return
        state: Any = scope["app"].state.aisre
        limits = self._parsed_limits(state.settings)
        client = (scope.get("client") or ("unknown", 0))[0]
        if not await self._allow(scope, send, state, f"ip:{client}", limits["ip"]):
            return
        if route.access in (Access.public, Access.slack):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        presented, via_query, problem = _presented_key(headers, QueryParams(scope.get("query_string", b"")))
        principal: Principal | None = None
        if problem is None and presented is None:
            if not await state.keys.keys_exist() and state.dev_mode_allowed:
                principal = Principal(workspace=state.settings.default_workspace, role="admin", actor="dev", dev=True)
            else:
                problem = "missing API key: send X-API-Key or Authorization: Bearer <key>"
        elif problem is None and presented is not None:
            principal = await state.keys.authenticate(presented)
            if principal is None:
                problem = "invalid API key"
            elif via_query and not (
                route.access is Access.ingest and state.workspaces.get(principal.workspace).allow_query_key
            ):
                principal, problem = (
                    None,
                    (
                        "API keys in the query string are accepted only on webhook routes of workspaces that set "
                        "allow_query_key; send X-API-Key or Authorization: Bearer <key>"
                    ),
                )
        if principal is None:
            # Always 401 (never 429 or 403) so a caller learns nothing about keys; the per-IP bucket above
            # already bounds guessing, and 256-bit keys make guessing pointless anyway.
            await reject(send, 401, problem or "invalid API key", headers={"www-authenticate": "Bearer"})
            return
        if principal.key_id is not None and not await self._allow(
            scope, send, state, f"key:{principal.key_id}", limits["key"]
        ):
            return
        if not allows(route.access, principal.role):
            needed = {"ingest": "the ingest scope (or operator)"}.get(route.access.value, f"the {route.access} role")
            await reject(send, 403, f"{route.method} {route.path} needs {needed}; this key has {principal.role}")
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _parsed_limits(self, settings: Any) -> dict[str, Limit | None]:
        if self._limits is None:
            self._limits = {
                "ip": _limit(settings.rate_limit_ip),
                "key": _limit(settings.rate_limit_key),
            }
        return self._limits

    async def _allow(self, scope: Scope, send: Send, state: Any, key: str, limit: Limit | None) -> bool:
        """Take a token; False (and a 429 with Retry-After sent) once the bucket is empty."""
        if limit is None:
            return True
        try:
            decision = await state.limiter.hit(key, limit)
        except RateLimitUnavailable as exc:
            # Degrade to this replica's own buckets: refusing alerts because the limiter's Redis is down
            # would lose more than it saves, and unlimited would invite abuse during the outage.
            now = time.monotonic()
            if now - self._limiter_warned > 60:
                self._limiter_warned = now
                log.error("rate limits are per replica while the shared store is unavailable: %s", exc)
            decision = await self._fallback.hit(key, limit)
        if decision.allowed:
            return True
        await reject(
            send,
            429,
            "rate limit exceeded; retry after the number of seconds in Retry-After",
            headers={"retry-after": str(max(1, math.ceil(decision.retry_after)))},
        )
        return False


def _limit(text: str) -> Limit | None:
    return None if text.strip().lower() in {"off", "none", ""} else Limit.parse(text)


def _presented_key(headers: Headers, query: QueryParams) -> tuple[str | None, bool, str | None]:
    """(key, came from the query string, problem): X-API-Key, else Authorization: Bearer, else ?api_key=."""
    header_key = headers.get("x-api-key")
    if header_key:
        return header_key.strip(), False, None
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, False, "unsupported Authorization scheme: send Authorization: Bearer <key>"
        return value.strip(), False, None
    query_key = query.get("api_key")
    if query_key:
        return query_key.strip(), True, None
    return None, False, None

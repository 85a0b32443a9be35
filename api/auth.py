"""API keys: generation, hashing, lookup, and who a request acts as (the Principal).

A key reads `aisre_<key id>_<secret>`. Only HMAC-SHA256(server secret, key) is stored, next to the
public key id that finds the row; a lookup costs one HMAC and a constant-time compare (never bcrypt per
request: an alert storm is thousands of requests a minute). Keys belong to one workspace and carry one
role (viewer < operator < admin) or the separate `ingest` scope (post alerts and deploys, nothing else).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from adapters.storage import repositories as repo
from adapters.storage.db import Database
from adapters.storage.orm import ApiKeyRow
from domain.settings import ConfigError, Settings

KeyRole = Literal["ingest", "viewer", "operator", "admin"]
KEY_ROLES: tuple[KeyRole, ...] = ("ingest", "viewer", "operator", "admin")
KEY_PREFIX = "aisre"
SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: one workspace, one role; `actor` names them in timelines and approvals."""

    workspace: str
    role: KeyRole
    actor: str
    key_id: str | None = None
    dev: bool = False  # dev mode: no keys exist yet and the API is bound to loopback


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the only binds where dev mode (no keys) is allowed."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_secret(settings: Settings) -> bytes:
    """The HMAC key for API keys: AI_SRE_SECRET_KEY, or in dev a random one kept in the data directory."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    if settings.env != "dev":
        raise ConfigError("AI_SRE_SECRET_KEY is not set: production needs a server secret to hash API keys")
    path: Path = settings.data_dir / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting together agree on the first one's secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if len(value) < 32:
            raise ConfigError(f"{path} holds no usable secret; delete it (existing API keys stop working)") from None
        return value.encode("utf-8")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def key_digest(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()


def split_key(key: str) -> str | None:
    """The key id of a well-formed key, else None."""
    prefix, _, rest = key.partition("_")
    key_id, _, body = rest.partition("_")
    if prefix != KEY_PREFIX or len(key_id) != 12 or not key_id.isalnum() or len(body) < 32:
        return None
    return key_id


@dataclass(frozen=True)
class NewKey:
    row: ApiKeyRow
    key: SecretStr  # shown once, never stored


async def create_key(
    db: Database,
    *,
    secret: bytes,
    workspace: str,
    role: KeyRole,
    name: str,
    created_by: str,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> NewKey:
    """Create a key; the caller shows `key` once (only its digest is stored)."""
    if role not in KEY_ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(KEY_ROLES)}")
    at = now or datetime.now(UTC)
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKeyRow(
        key_id=key_id,
        workspace=workspace,
        role=role,
        name=name,
        digest=key_digest(secret, key),
        created_by=created_by,
        created_at=at,
        expires_at=at + expires_in if expires_in is not None else None,
        revoked_at=None,
        last_used_at=None,
    )
    async with db.session() as session:
        await repo.add_api_key(session, row=row)
    return NewKey(row=row, key=SecretStr(key))


async def revoke_key(db: Database, *, key_id: str, workspace: str | None, now: datetime | None = None) -> bool:
    """Revoke a key (of `workspace` when given); False when there is no such key."""
    async with db.session() as session:
        row = await repo.get_api_key(session, key_id=key_id)
        if row is None or (workspace is not None and row.workspace != workspace):
            return False
        if row.revoked_at is None:
            row.revoked_at = now or datetime.now(UTC)
        return True


@dataclass
class _Cached:
    workspace: str
    role: KeyRole
    name: str
    digest: str
    expires_at: datetime | None
    revoked: bool
    fetched: float


class KeyStore:
    """Authenticates presented keys against the database, caching rows briefly.

    A revocation takes effect at once on the replica that made it and within `ttl` seconds on the
    others. `keys_exist` flips to True once and stays: dev mode never comes back after the first key.
    """

    def __init__(self, db: Database, *, secret: bytes, ttl: float = 5.0) -> None:
        self._db = db
        self._secret = secret
        self._ttl = ttl
        self._cache: dict[str, _Cached] = {}
        self._exist = False
        self._exist_checked = float("-inf")
        self._used: dict[str, float] = {}

    @property
    def secret(self) -> bytes:
        """The server secret keys are hashed under (read once, at start)."""
        return self._secret

    async def keys_exist(self) -> bool:
        """True once any key exists. While none does, the answer is re-checked at most once a second (a key
        made by `aisre keys create` in another process ends dev mode within a second; one made through
        this replica's API ends it at once), instead of a database transaction per keyless request."""
        now = time.monotonic()
        if not self._exist and now - self._exist_checked >= 1.0:
            async with self._db.session() as session:
                self._exist = await repo.any_api_key(session)
            self._exist_checked = now
        return self._exist

    def invalidate(self, key_id: str) -> None:
        self._cache.pop(key_id, None)
        self._exist = True

    async def authenticate(self, presented: str) -> Principal | None:
        """The key's principal, or None when it is unknown, wrong, revoked or expired."""
        key_id = split_key(presented)
        if key_id is None:
            return None
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or now - cached.fetched > self._ttl:
            async with self._db.session() as session:
                row = await repo.get_api_key(session, key_id=key_id)
            if row is None:
                self._cache.pop(key_id, None)
                return None
            cached = _Cached(
                workspace=row.workspace,
                role=row.role,  # type: ignore[arg-type]
                name=row.name,
                digest=row.digest,
                expires_at=row.expires_at,
                revoked=row.revoked_at is not None,
                fetched=now,
            )
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_id] = cached
            self._exist = True
        if not hmac.compare_digest(key_digest(self._secret, presented), cached.digest):
            return None
        if cached.revoked or (cached.expires_at is not None and cached.expires_at <= datetime.now(UTC)):
            return None
        await self._touch(key_id, now)
        return Principal(workspace=cached.workspace, role=cached.role, actor=cached.name, key_id=key_id)

    async def _touch(self, key_id: str, now: float) -> None:
        # last_used_at is for audits ("is this key still in use?"): once a minute is plenty.
        if now - self._used.get(key_id, float("-inf")) < 60:
            return
        self._used[key_id] = now
        async with self._db.session() as session:
            row = await repo.get_api_key(session, key_id=key_id)
            if row is not None:
                row.last_used_at = datetime.now(UTC)

"""Annotated dependency aliases: routes declare what they need, the app state provides it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from temporalio.client import Client

from adapters.storage.db import Database
from api.auth import KeyStore, Principal
from api.ingest import IngestService, TemporalGate
from api.ratelimit import RateLimiter
from domain.settings import Settings, WorkspaceDirectory


@dataclass
class AppState:
    """Everything a request may use; built once by the app's lifespan."""

    settings: Settings
    db: Database
    temporal: TemporalGate
    ingest: IngestService
    workspaces: WorkspaceDirectory
    keys: KeyStore
    limiter: RateLimiter
    dev_mode_allowed: bool  # bound to loopback: without any key, requests act as the default workspace's admin


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.aisre
    return state


def _settings(state: Annotated[AppState, Depends(_state)]) -> Settings:
    return state.settings


def _db(state: Annotated[AppState, Depends(_state)]) -> Database:
    return state.db


def _ingest(state: Annotated[AppState, Depends(_state)]) -> IngestService:
    return state.ingest


async def _temporal(state: Annotated[AppState, Depends(_state)]) -> Client:
    return await state.temporal.client()


def _principal(request: Request) -> Principal:
    # Set by api.access.AccessMiddleware for every route that needs a key (or dev mode).
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise RuntimeError(f"{request.method} {request.url.path} uses the caller's identity but is not authenticated")
    return principal


def acting_as(principal: Principal, claimed: str) -> str:
    """Who an action is recorded as: the key's name; the body's `by` only in dev mode (there is no key).

    Trusting a claimed name would let one key approve twice as two people.
    """
    return claimed if principal.dev else principal.actor


def _workspace(principal: Annotated[Principal, Depends(_principal)]) -> str:
    # The key's workspace, never a parameter: a caller cannot even name another tenant's data.
    return principal.workspace


# Database ids are 64-bit: a larger number in a path is "no such thing" (422), never a driver overflow (500).
MAX_ID = 2**63 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_ID)]

StateDep = Annotated[AppState, Depends(_state)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DbDep = Annotated[Database, Depends(_db)]
IngestDep = Annotated[IngestService, Depends(_ingest)]
TemporalDep = Annotated[Client, Depends(_temporal)]
WorkspaceDep = Annotated[str, Depends(_workspace)]
PrincipalDep = Annotated[Principal, Depends(_principal)]

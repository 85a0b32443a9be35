"""Annotated dependency aliases: routes declare what they need, the app state provides it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from adapters.storage.db import Database
from api.ingest import IngestService, TemporalGate
from domain.settings import Settings, WorkspaceDirectory


@dataclass
class AppState:
    """Everything a request may use; built once by the app's lifespan."""

    settings: Settings
    db: Database
    temporal: TemporalGate
    ingest: IngestService
    workspaces: WorkspaceDirectory


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


def _workspace(state: Annotated[AppState, Depends(_state)]) -> str:
    # Until API keys exist every request acts in the default workspace (dev mode, loopback only).
    return state.settings.default_workspace


StateDep = Annotated[AppState, Depends(_state)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DbDep = Annotated[Database, Depends(_db)]
IngestDep = Annotated[IngestService, Depends(_ingest)]
TemporalDep = Annotated[Client, Depends(_temporal)]
WorkspaceDep = Annotated[str, Depends(_workspace)]

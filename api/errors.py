"""Domain and infrastructure errors mapped to HTTP answers in one place (never a traceback)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from temporalio.service import RPCError, RPCStatusCode

from api.ingest import IngestError, TemporalUnavailable

log = logging.getLogger(__name__)


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Conflict(Exception):
    pass


class Unavailable(Exception):
    """A dependency (Temporal, the database) cannot be reached right now."""


_UNAVAILABLE_RPC = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into JSON errors."""

    @app.exception_handler(IngestError)
    async def _ingest(_: Request, exc: IngestError) -> JSONResponse:
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": f"{exc.what} not found"}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(Unavailable)
    @app.exception_handler(TemporalUnavailable)
    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RPCError)
    async def _rpc(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status in _UNAVAILABLE_RPC:
            log.warning("Temporal unavailable: %s", exc.message)
            return JSONResponse(
                {"detail": "the workflow engine is unavailable; retry later"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        log.error("Temporal refused a request: %s %s", exc.status, exc.message)
        return JSONResponse({"detail": "the workflow engine refused the request"}, status_code=502)

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: DBAPIError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return JSONResponse(
            {"detail": "the database is unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

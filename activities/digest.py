"""The digest activity: read a workspace's period from SQL into a `Digest` (read-only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.storage import reports
from adapters.storage.db import Database
from domain.digest import BuildDigestInput, Digest
from domain.settings import Settings


class DigestActivities:
    """Reporting for the scheduled digest; sending it is the notify activity's job."""

    def __init__(self, *, db: Database, settings: Settings | None = None) -> None:
        self._db = db
        # The approval window is global (Settings.approval_timeout_seconds); without settings no expiry is shown.
        self._approval_timeout = timedelta(seconds=settings.approval_timeout_seconds) if settings is not None else None

    @activity.defn(name="build_digest")
    async def build_digest(self, inp: BuildDigestInput) -> Digest:
        """The workspace's digest for [inp.start, inp.end); pending approvals as of now."""
        if inp.start >= inp.end:
            # A bad input never gets better by retrying.
            raise ApplicationError(
                f"empty digest period {inp.start.isoformat()} .. {inp.end.isoformat()}",
                type="ValidationError",
                non_retryable=True,
            )
        async with self._db.session() as session:
            return await reports.build_digest(
                session,
                workspace=inp.workspace,
                start=inp.start,
                end=inp.end,
                now=datetime.now(UTC),
                approval_timeout=self._approval_timeout,
            )

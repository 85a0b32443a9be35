"""Alembic environment: runs on a connection handed over by Database.migrate() (no asyncio.run here)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from adapters.storage.orm import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        # Offline/CLI use with a sync URL (e.g. `alembic revision --autogenerate`).
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no connection given and no sqlalchemy.url set")
        with create_engine(url).connect() as conn:
            _run(conn)
            conn.commit()
        return
    _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

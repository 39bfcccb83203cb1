"""Alembic environment: runs the migrations on the connection ``migrate`` hands over.

Alembic executes this file itself; the guard at the bottom keeps a plain import (for
example by documentation tools) from doing anything.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dxkit.service.storage.database import make_engine
from dxkit.service.storage.models import Base


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    """Migrate over the given connection, or over ``sqlalchemy.url`` when run by hand."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    engine = make_engine(url) if url else make_engine()
    try:
        with engine.begin() as own:
            _configure_and_run(own)
    finally:
        engine.dispose()


if hasattr(context, "config"):  # set only while Alembic runs this file
    run_migrations()

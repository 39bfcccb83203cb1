"""Engines, sessions and migrations: SQLite file by default, PostgreSQL by URL.

Why ``session_scope``: a request's writes (case, prediction, audit) either all land or
none do. Commit happens once, on success; any exception - a validation error, a crash in
the model, a dropped connection - rolls everything back, so a failed request leaves
nothing behind.

SQLite runs in WAL mode (readers do not block the writer, which matters when the service
answers several requests at once) and with foreign keys on (SQLite ignores them
otherwise, and feedback on a deleted prediction would dangle).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from dxkit.errors import InputError

DEFAULT_URL = "sqlite:///dxkit.sqlite3"
_MIGRATIONS = "dxkit.service.storage:migrations"
_MIGRATION_LOCK = 0x64786B6974  # "dxkit": serialises concurrent migrations on PostgreSQL


def parse_url(url: str | URL) -> URL:
    """Check a database URL and pick the driver dxkit ships with.

    ``postgresql://`` (and ``postgres://``, as some hosting platforms write it) always
    uses the psycopg 3 driver, the one dxkit depends on; other dialects are refused
    rather than half supported.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError(
            "database URL",
            expected="sqlite:///PATH or postgresql://USER@HOST/DB",
            found="a string that is not a URL",
            fix="set the database URL to one of the expected forms",
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise InputError(
            "database URL",
            expected="a sqlite or postgresql URL",
            found=f"the {backend!r} dialect",
            fix="use sqlite:///PATH (default) or postgresql://USER@HOST/DB",
        )
    return parsed


def make_engine(url: str | URL = DEFAULT_URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created if missing.

    Args:
        url: database URL; see :func:`parse_url`.
        **kwargs: passed on to :func:`sqlalchemy.create_engine` (e.g. ``echo``).
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")  # ms: wait for the writer, do not fail
        cursor.execute("PRAGMA journal_mode=WAL")  # a no-op for in-memory databases
    finally:
        cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (routes render them afterwards)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception, always close.

    >>> engine = make_engine("sqlite://")
    >>> with session_scope(make_session_factory(engine)) as session:
    ...     session.connection().exec_driver_sql("SELECT 1").scalar()
    1
    """
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(url: str | URL | Engine = DEFAULT_URL) -> None:
    """Bring the database at ``url`` to the newest schema (``alembic upgrade head``).

    The Alembic configuration is built here, so no ``alembic.ini`` is needed at run time;
    the service calls this once at startup. Running it again is a no-op, and on
    PostgreSQL an advisory lock makes workers that start together migrate one at a time.
    """
    from alembic import command
    from alembic.config import Config

    engine = url if isinstance(url, Engine) else make_engine(url)
    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # several workers may start at once
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        if not isinstance(url, Engine):
            engine.dispose()

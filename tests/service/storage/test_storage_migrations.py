"""The Alembic migrations: they build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import glob
import importlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.report.differential import Differential
from dxkit.service.storage import (
    Base,
    get_case,
    live_accuracy,
    make_engine,
    make_session_factory,
    migrate,
    pseudonym,
    record_audit,
    record_feedback,
    session_scope,
    store_case_and_prediction,
)

SECRET = "another-test-secret-0123456789"
# trust on a private unix socket only; no fsync: a throw-away server that starts in ~1 s
_INITDB_OPTIONS = ("-U", "postgres", "-A", "trust", "--no-sync", "--no-instructions")


def _schema_diff(engine: Engine) -> list[object]:
    """What autogenerate would change: empty when the database matches the models."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _names(engine: Engine) -> dict[str, set[str]]:
    """Check-constraint, index and foreign-key names per table, as the database has them."""
    inspector = inspect(engine)
    return {
        table: {c["name"] or "" for c in inspector.get_check_constraints(table)}
        | {i["name"] or "" for i in inspector.get_indexes(table)}
        | {f["name"] or "" for f in inspector.get_foreign_keys(table)}
        for table in Base.metadata.tables
    }


def _model_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for name, table in Base.metadata.tables.items():
        constraints = {str(c.name) for c in table.constraints} - {f"pk_{name}"}
        names[name] = constraints | {str(i.name) for i in table.indexes}
    return names


def test_migrations_build_exactly_the_models(storage_engine: Engine) -> None:
    assert _schema_diff(storage_engine) == []
    assert _names(storage_engine) == _model_names()


def test_migrate_is_idempotent_and_reversible(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'again.sqlite3'}"
    migrate(url)
    migrate(url)  # a restart runs it again: nothing to do, nothing broken
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", "dxkit.service.storage:migrations")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate(engine)
    assert _schema_diff(engine) == []
    engine.dispose()


def test_env_module_is_inert_on_import() -> None:
    # Documentation tools and doctest collection import it; only Alembic may run it.
    module = importlib.import_module("dxkit.service.storage.migrations.env")
    assert callable(module.run_migrations)


def _postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parts[-3]
    return tuple(int(p) for p in version.split(".") if p.isdigit())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on a unix socket in a temporary folder.

    ``DXKIT_TEST_POSTGRES_URL`` points the test at an existing server instead. PostgreSQL
    refuses to run as root, so under root the server runs as the ``postgres`` user.
    """
    if url := os.environ.get("DXKIT_TEST_POSTGRES_URL"):
        yield url
        return
    bindir = _postgres_binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries: apt-get install postgresql")
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None or _uid("postgres") is None:
            pytest.skip("running as root without a 'postgres' user and runuser to start one")
        prefix = [runuser, "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="dxkit-pg-"))
    if prefix:
        shutil.chown(folder, user="postgres")
    data, log = folder / "data", folder / "server.log"
    run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run
    try:
        run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), *_INITDB_OPTIONS],
            check=True,
            capture_output=True,
            timeout=60,
        )
        options = f"-k {folder} -c listen_addresses='' -F"  # socket only, in the folder
        start = ["-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
        run(
            [*prefix, str(bindir / "pg_ctl"), *start],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        pytest.skip(f"PostgreSQL server could not start here: {type(exc).__name__} {detail}")
    try:
        yield f"postgresql://postgres@/postgres?host={folder}"
    finally:
        stop = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        run(stop, capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def test_postgres_roundtrip(
    postgres_url: str,
    storage_case: Callable[..., Case],
    storage_answer: Callable[..., Differential],
) -> None:
    migrate(postgres_url)
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    assert engine.dialect.name == "postgresql"
    try:
        assert _schema_diff(engine) == []
        assert _names(engine) == _model_names()
        sessions = make_session_factory(engine)
        with session_scope(sessions) as session:
            ids = store_case_and_prediction(
                session, storage_case("fever"), storage_answer(), None, SECRET
            )
            clinician = pseudonym("dr-who", SECRET)
            record_feedback(
                session,
                prediction_id=ids.prediction_id,
                verdict="confirmed",
                clinician_key=clinician,
            )
            record_audit(
                session,
                endpoint="/v1/diagnose",
                method="POST",
                status_code=200,
                request_id="pg-1",
                actor_key=clinician,
            )
        with session_scope(sessions) as session:
            stored = get_case(session, ids.case_id)
            assert stored is not None and stored.case().notes == "fever"
            assert stored.patient_key == pseudonym("patient-4711-raw", SECRET)
            assert stored.predictions[0].probabilities["Pneumonia"] == 0.7
            assert stored.created_at.utcoffset() is not None
            assert live_accuracy(session)["Pneumonia"].confirmed == 1
        with pytest.raises(InputError, match="no prediction"), session_scope(sessions) as session:
            store_case_and_prediction(session, storage_case(), storage_answer(), None, SECRET)
            record_feedback(
                session, prediction_id="missing", verdict="confirmed", clinician_key=clinician
            )
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar_one() == 1
            with pytest.raises(IntegrityError, match="ck_feedback_verdict"):
                conn.exec_driver_sql(
                    "INSERT INTO feedback VALUES ('f', %s, 'A', 'maybe', NULL, %s, now())",
                    (ids.prediction_id, clinician),
                )
    finally:
        engine.dispose()

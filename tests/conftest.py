"""Fixtures: settings, a migrated database (SQLite and PostgreSQL), signing keys, the app.

PostgreSQL tests use AUTHSERVER_TEST_POSTGRES_URL (default: the machine's local server);
each run creates its own database there and drops it at the end. Where no PostgreSQL
answers, those tests are skipped with the reason.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import authserver.models  # noqa: F401 - every table on the metadata
from authserver.app import create_app
from authserver.clock import utcnow
from authserver.db import Database
from authserver.keys.rotation import ensure_signing_keys
from authserver.keys.store import FileKeyStore
from authserver.schema import upgrade_database
from authserver.settings import Settings

POSTGRES_URL = os.environ.get(
    "AUTHSERVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ISSUER = "http://127.0.0.1:8000"


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'authserver.db'}"
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means no PostgreSQL here
        admin.dispose()
        pytest.skip(
            f"no PostgreSQL answers at AUTHSERVER_TEST_POSTGRES_URL: {type(error).__name__}"
        )
    name = f"authserver_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def end_other_backends(database: Database) -> None:
    """PostgreSQL ends every other connection to the database (a failover, a restart), the
    servers' pooled ones included; the test's own pool is emptied too."""
    with database.reading() as session:
        session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    database.engine.dispose()


def database_for_a_test(url: str) -> Iterator[Database]:
    """For a fixture to `yield from`: the migrated database at `url`, emptied afterwards."""
    database = Database(url)
    yield database
    with database.transaction() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.execute(table.delete())
    database.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    yield from database_for_a_test(database_url)


@pytest.fixture(scope="session")
def template_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keys generated once per run; each test gets its own copy (RSA keygen is slow)."""
    directory = tmp_path_factory.mktemp("template") / "keys"
    ensure_signing_keys(FileKeyStore(directory, None), 2048, utcnow())
    return directory


@pytest.fixture
def keys_dir(tmp_path: Path, template_keys_dir: Path) -> Path:
    return copy_of_template_keys(template_keys_dir, tmp_path)


def copy_of_template_keys(template_keys_dir: Path, parent: Path) -> Path:
    """`parent`/keys: a copy of the run's template keys, private as a key store must be."""
    directory = parent / "keys"
    shutil.copytree(template_keys_dir, directory)
    directory.chmod(0o700)
    return directory


def migrated_sqlite(directory: Path) -> Database:
    """A SQLite database in `directory`, migrated to the latest revision."""
    database = Database(f"sqlite:///{directory / 'authserver.db'}")
    upgrade_database(database)
    return database


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"mode": "development", "issuer": ISSUER}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database: Database, keys_dir: Path) -> Settings:
    return make_settings(database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=ISSUER) as client:
        yield client


def _migrate(url: str) -> None:
    database = Database(url)
    try:
        upgrade_database(database)
    finally:
        database.dispose()

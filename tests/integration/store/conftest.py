"""Store backends for the contract tests: memory, a SQLite file, a fresh PostgreSQL database."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tracker_bridge.store import Store, open_store
from tracker_bridge.store.url import parse_store_url
from tracker_bridge.testing.clock import FakeClock
from tracker_bridge.testing.memory_store import MemoryStore
from tracker_bridge.testing.unavailable import unavailable

POSTGRES_ENV = "TRACKER_BRIDGE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Backend:
    """A store under test and, for SQL backends, the URL it was opened with."""

    name: str
    store: MemoryStore | Store
    url: str | None = None


def _libpq_url(url: str) -> str:
    # psycopg speaks plain postgresql:// URIs; SQLAlchemy spellings carry a driver suffix.
    return (
        parse_store_url(url).url.set(drivername="postgresql").render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL server to make test databases on; skips locally when none answers."""
    configured = os.environ.get(POSTGRES_ENV)
    url = _libpq_url(configured or DEFAULT_POSTGRES_URL)
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True):
            pass
    except psycopg.OperationalError as err:
        if configured:
            pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL does not answer: {err}")
        reason = f"no PostgreSQL at {DEFAULT_POSTGRES_URL} and {POSTGRES_ENV} unset: {err}"
        print(reason)
        unavailable(reason)
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database (tb_test_<random>), dropped after the test."""
    name = f"tb_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file URL in a directory that does not exist yet."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'state' / 'bridge.db'}"


@pytest.fixture
def clock() -> FakeClock:
    """The clock the SQL stores stamp researcher rows with."""
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Backend]:
    """Each store implementation in turn, empty and migrated."""
    if request.param == "memory":
        yield Backend("memory", MemoryStore())
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    store = open_store(url, clock=clock)
    try:
        yield Backend(request.param, store, url)
    finally:
        store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest) -> str:
    """An empty SQL database of each kind, not yet opened."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url

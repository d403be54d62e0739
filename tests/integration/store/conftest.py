"""Store backends for the contract tests: memory, a SQLite file, a fresh PostgreSQL database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.memory_store import MemoryStore
from tracker_bridge._testsupport.postgres import fresh_database
from tracker_bridge._testsupport.postgres import postgres_admin_url as probe_postgres
from tracker_bridge.store import Store, open_store
from tracker_bridge.testing.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Backend:
    """A store under test and, for SQL backends, the URL it was opened with."""

    name: str
    store: MemoryStore | Store
    url: str | None = None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL server to make test databases on; skips locally when none answers."""
    return probe_postgres()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database (tb_test_<random>), dropped after the test."""
    with fresh_database(postgres_admin_url) as url:
        yield url


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

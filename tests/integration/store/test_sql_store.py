"""What only the SQL stores do: migrations, SQLite pragmas, locks, concurrency and error seams."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from tracker_bridge.domain.report import ReportId
from tracker_bridge.errors import ConfigurationError, StoreBusy
from tracker_bridge.store import (
    StoreError,
    StoreUnavailable,
    head_revision,
    open_store,
    redact_url,
    upgrade,
)
from tracker_bridge.store.engine import create_store_engine
from tracker_bridge.store.tables import metadata
from tracker_bridge.store.url import parse_store_url

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_upgrade_from_empty_builds_exactly_the_declared_schema(sql_url: str) -> None:
    """`db upgrade` on an empty database reaches head with no drift from tables.py."""
    upgrade(sql_url)
    engine = create_store_engine(sql_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert (head_revision(), []) == (
                context.get_current_revision(),
                compare_metadata(context, metadata),
            )
    finally:
        engine.dispose()


def test_open_store_refuses_a_database_at_an_older_revision(sql_url: str) -> None:
    """An existing database behind head is refused with the command that fixes it."""
    upgrade(sql_url, revision="0001")
    with pytest.raises(ConfigurationError, match="run `tracker-bridge db upgrade`"):
        open_store(sql_url)
    upgrade(sql_url)
    store = open_store(sql_url)
    try:
        with store.unit_of_work() as uow:
            assert ReportId("CVD", 2026, 1) == uow.reports.next_id("acme", "CVD", 2026)
    finally:
        store.dispose()


def test_open_store_refuses_a_database_from_a_newer_version(sql_url: str) -> None:
    """A revision this code does not know is refused instead of being used blindly."""
    upgrade(sql_url)
    engine = create_store_engine(sql_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="f00d, which this tracker-bridge does not know"):
        open_store(sql_url)


def test_open_store_refuses_tables_it_did_not_create(sql_url: str) -> None:
    """A database holding someone else's tables is not migrated over."""
    engine = create_store_engine(sql_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="holds tables but no tracker-bridge schema"):
        open_store(sql_url)


def test_new_sqlite_file_is_created_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    """First use creates the directory and file, in WAL mode with foreign keys enforced."""
    path = tmp_path / "not" / "yet" / "bridge.db"
    store = open_store(f"sqlite:///{path}")
    try:
        with store.engine.connect() as connection:
            pragmas = (
                connection.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
                connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one(),
                connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one(),
            )
    finally:
        store.dispose()
    assert (True, ("wal", 1, 5000)) == (path.is_file(), pragmas)


def test_concurrent_workers_never_get_the_same_report_id(sql_url: str) -> None:
    """Two threads on two connections allocating at once get distinct, gapless ids."""
    store = open_store(sql_url)
    start = threading.Barrier(2)
    allocated: list[str] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            for _ in range(10):
                with store.unit_of_work() as uow:
                    report_id = uow.reports.next_id("acme", "CVD", 2026)
                    uow.commit()
                allocated.append(str(report_id))
        except BaseException as err:  # noqa: BLE001 - reported to the main thread below
            failures.append(err)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    store.dispose()
    expected = sorted(f"CVD-2026-{n:04d}" for n in range(1, 21))
    assert ([], expected) == (failures, sorted(allocated))


def test_postgres_allocation_does_not_wait_for_another_workers_transaction(
    postgres_url: str,
) -> None:
    """A worker inside a long transaction does not block another worker's id allocation."""
    store = open_store(postgres_url)
    try:
        with store.unit_of_work() as slow, store.unit_of_work() as fast:
            first = slow.reports.next_id("acme", "CVD", 2026)
            slow.bookmarks.set("gitlab:security/cvd", T0)  # holds its transaction open
            second = fast.reports.next_id("acme", "CVD", 2026)
    finally:
        store.dispose()
    assert ("CVD-2026-0001", "CVD-2026-0002") == (str(first), str(second))


def test_sqlite_lock_held_by_another_worker_is_store_busy(sqlite_url: str) -> None:
    """A writer that cannot get the lock within the busy timeout raises StoreBusy."""
    store = open_store(sqlite_url, busy_timeout_ms=50)
    try:
        with store.unit_of_work() as holder, store.unit_of_work() as waiter:
            holder.bookmarks.set("gitlab:security/cvd", T0)
            with pytest.raises(StoreBusy, match="locked by another worker"):
                waiter.bookmarks.set("jira:SEC", T0)
    finally:
        store.dispose()


def test_postgres_lock_timeout_is_store_busy(postgres_url: str) -> None:
    """A PostgreSQL lock wait that times out comes out of the engine as StoreBusy."""
    store = open_store(postgres_url)
    try:
        with store.unit_of_work() as holder:
            holder.bookmarks.set("gitlab:security/cvd", T0)
            holder.commit()
            holder.bookmarks.set("gitlab:security/cvd", T0)
            with store.engine.connect() as waiter:
                waiter.execute(text("SET lock_timeout = '50ms'"))
                with pytest.raises(StoreBusy, match="55P03"):
                    waiter.execute(text("UPDATE sync_bookmarks SET name = name"))
    finally:
        store.dispose()


def test_unreachable_server_is_store_unavailable_without_the_password() -> None:
    """A refused connection is retriable and its message hides the password."""
    url = "postgresql://tb:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(StoreUnavailable) as caught:
        open_store(url)
    message = str(caught.value)
    assert (False, True) == ("s3cret-pw" in message, "tb:***@127.0.0.1:1/nowhere" in message)


def test_constraint_violation_is_store_error_without_statement_parameters(sql_url: str) -> None:
    """A database refusal names the problem but never echoes the values sent with it.

    The chained driver error may quote the violated key (PostgreSQL's DETAIL line); our own
    message does not, and bound parameters appear in neither.
    """
    store = open_store(sql_url)
    try:
        with store.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO sync_bookmarks VALUES ('secret-name', '2026-01-01 00:00+00')")
            )
        with pytest.raises(StoreError) as caught, store.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO sync_bookmarks VALUES (:name, :value)"),
                {"name": "secret-name", "value": "2027-03-04T05:06:07.000000+00:00"},
            )
    finally:
        store.dispose()
    assert (
        False,
        False,
    ) == ("secret-name" in str(caught.value), "2027-03-04" in str(caught.value.__cause__))


@pytest.mark.parametrize(
    "url",
    ["mysql://bridge@db.example/bridge", "postgresql+psycopg2://x@y/z", "not a url"],
)
def test_unsupported_urls_are_configuration_errors(url: str) -> None:
    """Only SQLite and PostgreSQL through psycopg 3 are accepted, with the URL named."""
    with pytest.raises(ConfigurationError, match=r"store\.url"):
        open_store(url)


def test_redacted_url_hides_only_the_password() -> None:
    """Messages show user, host and database but never the password."""
    assert "postgresql://tb:***@db.example:5432/bridge" == redact_url(
        "postgresql://tb:hunter2@db.example:5432/bridge"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgres://tb@db.example/bridge",
        "postgresql://tb@db.example/bridge",
        "postgresql+psycopg://tb@db.example/bridge",
    ],
)
def test_every_postgres_spelling_is_one_postgresql_store(url: str) -> None:
    """postgres://, postgresql:// and postgresql+psycopg:// all mean PostgreSQL through psycopg 3."""
    parsed = parse_store_url(url)
    assert ("postgresql", "postgresql+psycopg://tb@db.example/bridge", None) == (
        parsed.backend,
        parsed.render(),
        parsed.sqlite_path,
    )


def test_relative_sqlite_path_is_relative_to_the_given_base(tmp_path: Path) -> None:
    """A relative SQLite path resolves against the config folder; absolute and :memory: stay."""
    assert (
        tmp_path / "state" / "b.db",
        Path("/var/lib/b.db"),
        None,
    ) == (
        parse_store_url("sqlite:///state/b.db", base=tmp_path).sqlite_path,
        parse_store_url("sqlite:////var/lib/b.db", base=tmp_path).sqlite_path,
        parse_store_url("sqlite:///:memory:", base=tmp_path).sqlite_path,
    )

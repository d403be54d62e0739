"""Turn a ``store.url`` into a configured SQLAlchemy engine (SQLite pragmas, psycopg, error seam)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool

from tracker_bridge.files import create_private_file, make_private_dir
from tracker_bridge.store.errors import translate_error
from tracker_bridge.store.url import parse_store_url

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import URL, ExceptionContext

__all__ = ["BUSY_TIMEOUT_MS", "create_store_engine"]

# How long a SQLite writer waits for another worker's transaction before StoreBusy.
BUSY_TIMEOUT_MS = 5000


def sqlite_path(url: URL) -> Path | None:
    """The file a SQLite URL points at, or None for an in-memory database or a URI filename."""
    if url.get_backend_name() != "sqlite":
        return None
    return parse_store_url(url.render_as_string(hide_password=False)).sqlite_path


def create_store_engine(url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    """An engine for ``url``, with SQLite in WAL mode, foreign keys on and a busy timeout.

    ``busy_timeout_ms`` is how long a SQLite writer waits for another worker's lock.

    Database errors raised through the engine come out as StoreBusy, StoreUnavailable or
    StoreError, with the URL's password hidden and without statement parameters.

    Raises:
        ConfigurationError: the URL is not a supported database URL.
    """
    store_url = parse_store_url(url)
    parsed = store_url.url
    options: dict[str, Any] = {"hide_parameters": True}
    if store_url.backend == "sqlite":
        path = store_url.sqlite_path
        if path is not None:
            create_private_database_file(path)
        if store_url.is_memory:
            # One shared connection, or every checkout would see a different empty database.
            options["poolclass"] = StaticPool
            options["connect_args"] = {"check_same_thread": False}
    else:
        options["pool_pre_ping"] = True
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms)
    dialect_name = engine.dialect.name

    @event.listens_for(engine, "handle_error")
    def _translate(context: ExceptionContext) -> None:
        error = context.sqlalchemy_exception
        if isinstance(error, sa_exc.DBAPIError):
            raise translate_error(error, url, dialect_name) from error
        if isinstance(context.original_exception, ValueError):
            # A value our column types refused (a naive datetime): the caller's mistake,
            # reported as the ValueError it is rather than wrapped in a statement error.
            raise context.original_exception

    return engine


def create_private_database_file(path: Path) -> None:
    """Create the SQLite file (and missing folders) owner-only before SQLite opens it.

    SQLite creates a new database 0644 (less the umask) and gives its ``-wal`` and ``-shm``
    files the database file's mode (sqlite.org/src os_unix.c ``findCreateFileMode``), so a
    file made 0600 here keeps the decrypted report text in all three private. An existing
    file keeps the mode the operator gave it; ``check`` warns when others can read it.
    """
    make_private_dir(path.parent)
    create_private_file(path)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and later writes
        # fails at once (no busy wait) when another worker committed in between.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

"""Turn a ``store.url`` into a configured SQLAlchemy engine (SQLite pragmas, psycopg, error seam)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.pool import StaticPool

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.store.errors import redact_url, translate_error

__all__ = ["BUSY_TIMEOUT_MS", "create_store_engine", "normalise_url"]

# How long a SQLite writer waits for another worker's transaction before StoreBusy.
BUSY_TIMEOUT_MS = 5000


def normalise_url(url: str) -> URL:
    """Parse ``url`` and pick our driver: ``postgresql://`` becomes ``postgresql+psycopg://``.

    Raises:
        ConfigurationError: the URL cannot be read or names a database we do not support.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as err:
        raise ConfigurationError(
            f"store.url {redact_url(url)!r} is not a database URL "
            "(expected sqlite:///path/to/bridge.db or postgresql://user@host/dbname)"
        ) from err
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed.set(drivername="sqlite+pysqlite")
    raise ConfigurationError(
        f"store.url {redact_url(url)!r} names an unsupported database driver "
        f"{parsed.drivername!r} (use sqlite:///path or postgresql:// with psycopg 3)"
    )


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def sqlite_path(url: URL) -> Path | None:
    """The file a SQLite URL points at, or None for an in-memory database or a URI filename."""
    if url.get_backend_name() != "sqlite" or _is_memory(url):
        return None
    database = url.database or ""
    if database.startswith("file:"):
        return None
    return Path(database)


def create_store_engine(url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    """An engine for ``url``, with SQLite in WAL mode, foreign keys on and a busy timeout.

    ``busy_timeout_ms`` is how long a SQLite writer waits for another worker's lock.

    Database errors raised through the engine come out as StoreBusy, StoreUnavailable or
    StoreError, with the URL's password hidden and without statement parameters.

    Raises:
        ConfigurationError: the URL is not a supported database URL.
    """
    parsed = normalise_url(url)
    options: dict[str, Any] = {"hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if _is_memory(parsed):
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

"""The state store: SQLAlchemy tables, repositories, unit of work and Alembic migrations.

``open_store(url)`` is the one way in for the application; ``upgrade(url)`` is what
``tracker-bridge db upgrade`` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker_bridge.store.engine import BUSY_TIMEOUT_MS, create_store_engine
from tracker_bridge.store.errors import StoreError, StoreUnavailable, redact_url
from tracker_bridge.store.migrate import current_revision, head_revision, migrate
from tracker_bridge.store.unit_of_work import SqlUnitOfWork, Store

if TYPE_CHECKING:
    from tracker_bridge.ports.clock import Clock

__all__ = [
    "SqlUnitOfWork",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "head_revision",
    "open_store",
    "redact_url",
    "upgrade",
]


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database at ``url`` to ``revision`` (the newest by default).

    Returns:
        The schema revision before and after: ``(None, head)`` when the schema was created.

    Raises:
        ConfigurationError: the URL is unsupported or the database is at an unknown revision.
        StoreUnavailable: the database server cannot be reached.
        StoreError: the database refused a migration step.
    """
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            before = current_revision(connection)
        migrate(engine, url, only_if_new=False, revision=revision)
        with engine.connect() as connection:
            after = current_revision(connection)
    finally:
        engine.dispose()
    return before, after


def open_store(
    url: str, *, clock: Clock | None = None, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> Store:
    """Open the store at ``url``, creating the schema when the database is new.

    A new SQLite file (its directory too) or a database without tables is migrated to the
    newest revision; an existing one must already be there.

    Args:
        url: ``sqlite:///path/bridge.db`` or ``postgresql://user@host/dbname``.
        clock: where researcher created/updated times come from; the system clock by default.
        busy_timeout_ms: how long a SQLite writer waits for another worker before StoreBusy.

    Raises:
        ConfigurationError: unsupported URL, or an existing database at an older revision
            (the message says to run ``tracker-bridge db upgrade``).
        StoreUnavailable: the database server cannot be reached.
    """
    engine = create_store_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        migrate(engine, url, only_if_new=True)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, url, clock)

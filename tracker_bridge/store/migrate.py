"""Alembic migrations run programmatically: ``upgrade`` for ``db upgrade``, checks for ``open_store``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.store.errors import redact_url

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "migrate"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed number: serialises concurrent first starts that would both create the schema.
_PG_MIGRATION_LOCK = 0x7472_6272  # "trbr"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration without alembic.ini; env.py uses ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this version of tracker-bridge knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The schema revision the database is at, or None when it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})


def migrate(engine: Engine, url: str, *, only_if_new: bool, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction.

    Args:
        engine: the store engine.
        url: the configured URL, for messages (its password is hidden).
        only_if_new: migrate only a database without tables; otherwise check that an
            existing one is at the head revision (what ``open_store`` does).
        revision: target revision (tests use older ones).

    Raises:
        ConfigurationError: ``only_if_new`` and the database is at another revision, or it
            holds tables that tracker-bridge did not create.
    """
    with engine.begin() as connection:
        _lock(connection)
        current = current_revision(connection)
        if only_if_new:
            if current is None and not inspect(connection).get_table_names():
                command.upgrade(alembic_config(connection), revision)
                return
            _check_current(current, url)
            return
        try:
            command.upgrade(alembic_config(connection), revision)
        except CommandError as err:
            raise ConfigurationError(
                f"database {redact_url(url)} cannot be upgraded: {err} "
                "(was it made by a newer tracker-bridge?)"
            ) from err


def _check_current(current: str | None, url: str) -> None:
    head = head_revision()
    where = redact_url(url)
    if current == head:
        return
    if current is None:
        raise ConfigurationError(
            f"database {where} holds tables but no tracker-bridge schema version; "
            "point store.url at an empty database or one tracker-bridge created"
        )
    script = ScriptDirectory.from_config(alembic_config())
    try:
        known = script.get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise ConfigurationError(
            f"database {where} is at schema revision {current}, which this tracker-bridge "
            f"does not know (head is {head}); it was probably made by a newer version"
        )
    raise ConfigurationError(
        f"database {where} is at schema revision {current}, this tracker-bridge needs {head}; "
        "run `tracker-bridge db upgrade`"
    )

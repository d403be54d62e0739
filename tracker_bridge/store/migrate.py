"""Alembic migrations run programmatically: ``upgrade`` for ``db upgrade``, checks for ``open_store``.

Alembic (with every SQL dialect's DDL module, Mako and Pygments behind it) costs about 0.15 s of
CPU to import, so it is imported only when a schema is created, upgraded or found wrong: a store
already at the head revision is recognised with one plain query against ``alembic_version``
and the ``revision`` / ``down_revision`` assignments of the migration scripts.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.store.errors import redact_url

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "migrate"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed number: serialises concurrent first starts that would both create the schema.
_PG_MIGRATION_LOCK = 0x7472_6272  # "trbr"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration without alembic.ini; env.py uses ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this version of tracker-bridge knows.

    Read from the migration scripts' ``revision`` and ``down_revision`` assignments without
    importing Alembic; the head is the one revision no script names as its ``down_revision``.

    Raises:
        RuntimeError: the scripts hold no revision, or more than one head (unmerged branches).
    """
    heads = _script_heads()
    if len(heads) != 1:
        msg = f"expected one head revision in {MIGRATIONS_DIR}, found {heads}"
        raise RuntimeError(msg)
    return heads[0]


@lru_cache(maxsize=1)
def _script_heads() -> tuple[str, ...]:
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = _module_constants(script, ("revision", "down_revision"))
        revision = found.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = found.get("down_revision")
        # A merge revision names its parents as a tuple (Alembic "merge" scripts).
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(name) for name in down)
    return tuple(sorted(revisions - parents))


def _module_constants(script: Path, names: tuple[str, ...]) -> dict[str, object]:
    """The literal values assigned to ``names`` at the top level of a Python file."""
    found: dict[str, object] = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = list(node.targets), node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names:
                found[target.id] = ast.literal_eval(value)
    return found


def current_revision(connection: Connection) -> str | None:
    """The schema revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _stored_revisions(connection: Connection) -> set[str] | None:
    """The rows of ``alembic_version`` by plain SQL, or None when the table does not exist."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return {str(row[0]) for row in rows}


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
    if only_if_new and revision == "head":
        # The usual case for every command: an existing store already at head. One read, no
        # lock (nothing is written) and no Alembic import; anything else takes the full path.
        with engine.connect() as connection:
            if _stored_revisions(connection) == set(_script_heads()):
                return
    from alembic import command
    from alembic.util.exc import CommandError

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
            msg = (
                f"database {redact_url(url)} cannot be upgraded: {err} "
                "(was it made by a newer tracker-bridge?)"
            )
            raise ConfigurationError(msg) from err


def _check_current(current: str | None, url: str) -> None:
    head = head_revision()
    where = redact_url(url)
    if current == head:
        return
    if current is None:
        msg = (
            f"database {where} holds tables but no tracker-bridge schema version; "
            "point store.url at an empty database or one tracker-bridge created"
        )
        raise ConfigurationError(msg)
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    script = ScriptDirectory.from_config(alembic_config())
    try:
        known = script.get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        msg = (
            f"database {where} is at schema revision {current}, which this tracker-bridge "
            f"does not know (head is {head}); it was probably made by a newer version"
        )
        raise ConfigurationError(msg)
    msg = (
        f"database {where} is at schema revision {current}, this tracker-bridge needs {head}; "
        "run `tracker-bridge db upgrade`"
    )
    raise ConfigurationError(msg)

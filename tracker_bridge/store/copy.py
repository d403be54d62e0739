"""``tracker-bridge db copy``: move a whole store (every table, the audit log, the store id) to another database."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Integer, Table, func, select

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.store import tables as t
from tracker_bridge.store.engine import create_store_engine
from tracker_bridge.store.errors import redact_url
from tracker_bridge.store.migrate import current_revision, head_revision, migrate
from tracker_bridge.store.url import parse_store_url

__all__ = ["CopiedStore", "copy_store"]

# Rows moved per INSERT: bounded memory however large the attachments table is.
_BATCH = 500


@dataclass(frozen=True)
class CopiedStore:
    """What ``copy_store`` moved: rows per table and the store id that came along."""

    store_id: str
    rows: dict[str, int] = field(default_factory=dict)


def copy_store(source_url: str, target_url: str) -> CopiedStore:
    """Copy every row of the store at ``source_url`` into the empty database at ``target_url``.

    The target gets the schema first (``db upgrade``), then every table in foreign-key order in
    one transaction, the store id included, so the tracker issues the source opened stay this
    installation's. PostgreSQL id sequences are moved past the copied ids. The source is only
    read.

    Raises:
        ConfigurationError: the source is not at this version's schema revision, or the
            target already holds reports, mail or audit entries (nothing is written then),
            or the source is a SQLite file that does not exist (nothing is created then).
    """
    source_file = parse_store_url(source_url).sqlite_path
    if source_file is not None and not source_file.exists():
        msg = (
            f"db copy: source {redact_url(source_url)} does not exist; nothing was copied "
            "or created"
        )
        raise ConfigurationError(msg)
    source = create_store_engine(source_url)
    target = create_store_engine(target_url)
    try:
        with source.connect() as reading:
            revision = current_revision(reading)
            if revision != head_revision():
                msg = (
                    f"db copy: source {redact_url(source_url)} is at schema revision "
                    f"{revision or '(none)'}, not {head_revision()}; run `tracker-bridge db "
                    "upgrade` on it first"
                )
                raise ConfigurationError(msg)
        migrate(target, target_url, only_if_new=False)
        with source.connect() as reading, target.begin() as writing:
            _require_empty(writing, target_url)
            writing.execute(t.store_meta.delete())
            rows = {table.name: _copy_table(reading, writing, table.name) for table in _ordered()}
            if writing.dialect.name == "postgresql":
                _advance_sequences(writing)
            store_id = writing.execute(
                select(t.store_meta.c.value).where(t.store_meta.c.key == "store_id")
            ).scalar_one()
        return CopiedStore(store_id=str(store_id), rows=rows)
    finally:
        source.dispose()
        target.dispose()


def _ordered() -> list[Table]:
    return list(t.metadata.sorted_tables)


def _require_empty(connection: Connection, url: str) -> None:
    held = {
        table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
        for table in _ordered()
        if table.name != "store_meta"
    }
    filled = sorted(name for name, count in held.items() if count)
    if filled:
        msg = (
            f"db copy: target {redact_url(url)} already holds data (tables: {', '.join(filled)}); "
            "copy into an empty database so no installation's data is mixed with another's"
        )
        raise ConfigurationError(msg)


def _copy_table(reading: Connection, writing: Connection, name: str) -> int:
    table = t.metadata.tables[name]
    copied = 0
    result = reading.execution_options(yield_per=_BATCH).execute(select(table))
    for batch in result.mappings().partitions(_BATCH):
        writing.execute(table.insert(), [dict(row) for row in batch])
        copied += len(batch)
    return copied


def _advance_sequences(connection: Connection) -> None:
    """Move each serial id's sequence past the copied ids, so new rows do not collide."""
    for table in _ordered():
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement is True:
                highest = select(func.max(column)).scalar_subquery()
                connection.execute(
                    select(
                        func.setval(
                            func.pg_get_serial_sequence(table.name, column.name),
                            func.coalesce(highest, 0) + 1,
                            False,
                        )
                    )
                )

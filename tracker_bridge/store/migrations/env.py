"""Alembic environment: migrates over the connection handed in by tracker_bridge.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tracker_bridge.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    msg = (
        "tracker-bridge migrations run through `tracker-bridge db upgrade` "
        "(tracker_bridge.store.upgrade), which passes the connection in"
    )
    raise RuntimeError(msg)  # noqa: TRY004 - not a type check: Alembic was started without the connection
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    # Our SQLite connections leave transaction control to SQLAlchemy, so DDL can roll back.
    transactional_ddl=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

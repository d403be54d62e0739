"""The one reader of ``store.url``: which database, which driver, and for SQLite which file.

The store's engine, ``check``, the step locks (``tracker_bridge.locks``) and the tests all
parse the URL here, so every spelling the store accepts (``postgresql://``, ``postgres://``,
``postgresql+psycopg://``, ``sqlite:///path``) means the same thing to each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.store.errors import redact_url

__all__ = ["StoreUrl", "parse_store_url"]

Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class StoreUrl:
    """A parsed, supported store URL.

    Attributes:
        url: the SQLAlchemy URL with our driver chosen (``postgresql+psycopg``,
            ``sqlite+pysqlite``); relative SQLite paths resolved when a base was given.
        backend: ``sqlite`` or ``postgresql`` (``postgres://`` is PostgreSQL too).
    """

    url: URL
    backend: Backend

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL; None for PostgreSQL, ``:memory:`` or a URI name."""
        if self.backend != "sqlite" or self.is_memory:
            return None
        database = self.url.database or ""
        if database.startswith("file:"):
            return None
        return Path(database)

    @property
    def is_memory(self) -> bool:
        """Whether this is an in-memory SQLite database (nothing on disk, one process)."""
        return self.backend == "sqlite" and self.url.database in (None, "", ":memory:")

    def render(self) -> str:
        """The URL as a string, password included (for connecting, never for printing)."""
        return self.url.render_as_string(hide_password=False)


def parse_store_url(url: str, *, base: Path | None = None) -> StoreUrl:
    """Parse ``url`` the way the store reads it.

    Args:
        url: ``sqlite:///relative/or/absolute/path``, ``sqlite:///:memory:``,
            ``postgresql://user@host/db``, ``postgres://...`` or ``postgresql+psycopg://...``.
        base: the folder a relative SQLite path is relative to (the config file's folder);
            None leaves it relative to the working directory.

    Raises:
        ConfigurationError: the URL cannot be read or names a database or driver we do not
            support; the message shows the URL with its password hidden.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as err:
        msg = (
            f"store.url {redact_url(url)!r} is not a database URL "
            "(expected sqlite:///path/to/bridge.db or postgresql://user@host/dbname)"
        )
        raise ConfigurationError(msg) from err
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return StoreUrl(parsed.set(drivername="postgresql+psycopg"), "postgresql")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        parsed = parsed.set(drivername="sqlite+pysqlite")
        database = parsed.database or ""
        if (
            base is not None
            and database not in ("", ":memory:")
            and not database.startswith("file:")
            and not Path(database).is_absolute()
        ):
            parsed = parsed.set(database=str(base / database))
        return StoreUrl(parsed, "sqlite")
    msg = (
        f"store.url {redact_url(url)!r} names an unsupported database driver "
        f"{parsed.drivername!r} (use sqlite:///path or postgresql:// with psycopg 3)"
    )
    raise ConfigurationError(msg)

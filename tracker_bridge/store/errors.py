"""The one seam that translates database errors into the tracker_bridge exception tree."""

from __future__ import annotations

import re

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from tracker_bridge.errors import ConfigurationError, StoreBusy, StoreError, StoreUnavailable

__all__ = ["StoreError", "StoreUnavailable", "redact_url", "translate_error"]


# Fragments of driver messages (SQLite) and SQLSTATE codes (PostgreSQL) that mean another
# transaction holds what we need: retrying later is the cure.
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_PG_BUSY_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "57014",  # query_canceled (statement_timeout / lock_timeout)
    }
)
_PG_UNAVAILABLE_PREFIXES = ("08", "57P")  # connection exceptions, admin shutdown / cannot connect
# The server's start-up refusals that a wrong store.url causes, not an outage. libpq reports them
# as connection failures without a SQLSTATE, so the server's message text is matched (its
# FATAL messages for 3D000 invalid_catalog_name and 28000/28P01 authorisation failures).
_PG_CONFIGURATION = re.compile(
    r'database "[^"]*" does not exist|role "[^"]*" does not exist'
    r"|password authentication failed|no password supplied|no pg_hba\.conf entry"
)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to print and log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable database URL>"


def _first_line(err: BaseException) -> str:
    # Only the driver's headline: later lines (PostgreSQL DETAIL) may quote stored values.
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def translate_error(err: sa_exc.DBAPIError, url: str, dialect: str) -> Exception:
    """The tracker_bridge error for a database error raised while using ``url``.

    Args:
        err: what SQLAlchemy raised around the driver's exception.
        url: the database URL; it appears in the message with its password hidden.
        dialect: ``sqlite`` or ``postgresql``.

    Returns:
        StoreBusy for lock contention, StoreUnavailable for a lost or refused connection,
        ConfigurationError when the server refuses the URL's database or role (a wrong
        ``store.url``, exit 2, not an outage), StoreError for everything else. The message
        never carries statement parameters.
    """
    original = err.orig
    headline = _first_line(original) if original is not None else type(err).__name__
    where = redact_url(url)
    sqlstate = getattr(original, "sqlstate", None)
    if dialect != "sqlite" and _PG_CONFIGURATION.search(headline):
        return ConfigurationError(f"store.url: database {where} refused the connection: {headline}")
    if isinstance(sqlstate, str):
        if sqlstate in _PG_BUSY_SQLSTATES:
            return StoreBusy(f"database {where} is busy ({sqlstate}: {headline}); retry later")
        if sqlstate.startswith(_PG_UNAVAILABLE_PREFIXES):
            return StoreUnavailable(f"database {where} is unavailable: {headline}")
    if isinstance(err, sa_exc.OperationalError):
        lowered = headline.lower()
        if any(fragment in lowered for fragment in _SQLITE_BUSY):
            return StoreBusy(f"database {where} is locked by another worker; retry later")
        # A server dialect without SQLSTATE failed before speaking SQL: refused or lost connection.
        if err.connection_invalidated or (dialect != "sqlite" and sqlstate is None):
            return StoreUnavailable(f"database {where} is unavailable: {headline}")
    return StoreError(f"database {where} refused the operation: {headline}")

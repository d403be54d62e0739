"""Column types that keep datetimes time-zone aware and in UTC on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator, TypeEngine

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

__all__ = ["UTCDateTime", "as_utc"]

# Fixed width and always UTC, so that text order is time order on SQLite.
_SQLITE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused because its zone would be a guess."""
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        msg = f"naive datetime {moment.isoformat()} refused: the store needs time zones"
        raise ValueError(msg)
    return moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in time: ``timestamptz`` on PostgreSQL, fixed-width UTC ISO text on SQLite.

    Binding a naive datetime raises ValueError; results are always aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Text on SQLite, which has no time-zone type; a native aware type elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Convert to UTC (ISO text on SQLite); refuse naive datetimes."""
        if value is None:
            return None
        moment = as_utc(value)
        if dialect.name == "sqlite":
            return moment.strftime(_SQLITE_FORMAT)
        return moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002 - SQLAlchemy's TypeDecorator signature
        """Read back as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).astimezone(UTC)
        if isinstance(value, datetime):
            return as_utc(value)
        msg = f"unexpected stored datetime value of type {type(value).__name__}"
        raise TypeError(msg)

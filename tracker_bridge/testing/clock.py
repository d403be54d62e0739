"""A clock tests can set and move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """Returns a fixed, time-zone aware moment until told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        if self.current.tzinfo is None:
            msg = "FakeClock needs a time-zone aware start"
            raise ValueError(msg)

    def now(self) -> datetime:
        """The current fake moment."""
        return self.current

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)`` and return the new moment."""
        self.current += timedelta(**delta)
        return self.current

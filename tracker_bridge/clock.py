"""The one system clock: real time in UTC, the ``ports.Clock`` every production part is given."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["SystemClock"]


class SystemClock:
    """The real clock, in UTC (tests pass a settable clock instead)."""

    def now(self) -> datetime:
        """The current moment, time-zone aware (UTC)."""
        return datetime.now(UTC)

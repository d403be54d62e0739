"""Where "now" comes from: the clock every service and store reads (aware UTC datetimes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime


class Clock(Protocol):
    """Where "now" comes from; production reads the system clock in UTC, tests a settable one."""

    def now(self) -> datetime:
        """The current moment: an aware datetime (UTC in production). Never raises."""
        ...

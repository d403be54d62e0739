"""Where "now" comes from: the clock every service and store reads (aware UTC datetimes)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from; production reads the system clock in UTC, tests a settable one."""

    def now(self) -> datetime:
        """The current moment: an aware datetime (UTC in production). Never raises."""
        ...

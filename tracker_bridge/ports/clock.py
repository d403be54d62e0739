"""Where "now" comes from: the clock every service and store reads (aware UTC datetimes)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from; tests pass a settable clock."""

    def now(self) -> datetime:
        """The current moment, time-zone aware."""
        ...

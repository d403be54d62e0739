"""The sandbox's "now": real time plus an offset tests can move, strictly increasing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Real UTC time plus a movable offset; each reading is at least a millisecond after the last.

    Trackers show timestamps at millisecond precision (GitLab ``updated_at``, Jira
    ``updated``), so two changes in the same millisecond would look simultaneous to a client
    paging by time; the clock never hands out the same millisecond twice. Thread-safe.
    """

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The next moment: an aware UTC datetime, whole milliseconds, strictly increasing."""
        with self._lock:
            moment = datetime.now(UTC) + self.offset
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            if moment <= self._last:
                moment = self._last + timedelta(milliseconds=1)
            self._last = moment
            return moment

    def peek(self) -> datetime:
        """The current time plus the offset, without taking a moment (for "how long ago" checks)."""
        with self._lock:
            return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta`` (later readings include it)."""
        with self._lock:
            self.offset += delta

"""What every use case needs to know about the program: its policy, calendar and vocabulary."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from tracker_bridge.domain.deadlines import (
    Deadline,
    DeadlineKind,
    DeadlinePolicy,
    DeadlineStatus,
    WorkingCalendar,
    compute_deadlines,
    next_time_change,
)
from tracker_bridge.domain.labels import LabelScheme, StateRules, worst_status
from tracker_bridge.domain.regulatory import RegulatoryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker_bridge.domain.report import Report
    from tracker_bridge.domain.severity import Severity

_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class Program:
    """One disclosure program as the services see it (built by app.py from mappings/)."""

    name: str
    organisation: str
    id_prefix: str
    contact: str
    policy: DeadlinePolicy
    calendar: WorkingCalendar
    labels: LabelScheme
    states: StateRules
    researcher_marker: str = "[to researcher]"
    show_address_in_tracker: bool = False
    policy_url: str = ""
    score_vector: Callable[[str], Severity] | None = field(default=None, compare=False)
    regulatory: RegulatoryPolicy = field(default_factory=RegulatoryPolicy)

    def deadlines(self, report: Report, now: datetime) -> list[Deadline]:
        """Every deadline of ``report`` at ``now``."""
        return compute_deadlines(report, self.policy, self.calendar, now)

    def deadline(self, report: Report, kind: DeadlineKind, now: datetime) -> Deadline | None:
        """One deadline of ``report``, or None when it does not apply."""
        return next((d for d in self.deadlines(report, now) if d.kind is kind), None)

    @property
    def policy_digest(self) -> str:
        """A digest of what stored next moments came from (deadlines, labels, zone, legal clocks).

        A pass that finds no record of this digest recomputes every report once.
        """
        basis = repr((self.policy, self.labels, self.calendar.tz, self.regulatory))
        return hashlib.sha256(basis.encode()).hexdigest()[:16]

    def next_change(
        self, report: Report, now: datetime, deadlines: list[Deadline] | None = None
    ) -> datetime | None:
        """The next moment anything about ``report`` changes by time alone (None: never).

        ``deadlines``: ``self.deadlines(report, now)`` when the caller has them already.
        """
        return next_time_change(report, self.policy, self.calendar, now, deadlines)

    def deadline_status(self, report: Report, now: datetime) -> DeadlineStatus:
        """The status one label shows: the worst of the deadlines still running."""
        return self.status_of(self.deadlines(report, now), now)

    def status_of(self, deadlines: list[Deadline], now: datetime) -> DeadlineStatus:
        """The label's status for deadlines already computed (the disclosure horizon aside)."""
        relevant = [
            d.status(now, self.calendar, self.policy)
            for d in deadlines
            if d.kind is not DeadlineKind.DISCLOSURE
        ]
        return worst_status(relevant)

    def local_date(self, moment: datetime) -> date:
        """The program's calendar date of ``moment`` (what researchers read)."""
        return self.calendar.local_date(moment)

    def last_day(self, due: datetime) -> date:
        """The last day on which a deadline due at ``due`` can still be kept."""
        return self.calendar.local_date(due.astimezone(self.calendar.tz) - _EPSILON)

    def reply_address(self, report_id: str) -> str:
        """The plus-address that threads a researcher's reply to its report."""
        local, _, domain = self.contact.partition("@")
        return f"{local}+{report_id}@{domain}"

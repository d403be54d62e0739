"""Deadline policy, the working-day calendar, and deadline status with clocks that pause."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING

from tracker_bridge.domain.report import Report, State
from tracker_bridge.domain.severity import Severity

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


class SpanUnit(StrEnum):
    """Whether a span counts every day or only working days."""

    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


@dataclass(frozen=True)
class Span:
    """A length of time a policy promises, e.g. three working days."""

    amount: int
    unit: SpanUnit

    def __post_init__(self) -> None:
        if self.amount < 0:
            msg = f"a deadline span cannot be negative ({self.amount} {self.unit})"
            raise ValueError(msg)

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value.replace('_', ' ')}"


def working_days(amount: int) -> Span:
    """A span of ``amount`` working days."""
    return Span(amount, SpanUnit.WORKING_DAYS)


def calendar_days(amount: int) -> Span:
    """A span of ``amount`` calendar days."""
    return Span(amount, SpanUnit.CALENDAR_DAYS)


_WEEKEND = frozenset({5, 6})


class WorkingCalendar:
    """Working days in one time zone: weekends and public holidays do not count.

    Holidays come in as a predicate so the domain stays free of the ``holidays`` package;
    the composition root builds it for the configured country.
    """

    def __init__(
        self,
        tz: tzinfo,
        is_holiday: Callable[[date], bool],
        weekend: frozenset[int] = _WEEKEND,
    ) -> None:
        self.tz = tz
        self._is_holiday = is_holiday
        self._weekend = weekend

    def is_working_day(self, day: date) -> bool:
        """True when ``day`` is neither a weekend day nor a public holiday."""
        return day.weekday() not in self._weekend and not self._is_holiday(day)

    def local_date(self, moment: datetime) -> date:
        """The calendar date of ``moment`` in this calendar's time zone."""
        return _aware(moment).astimezone(self.tz).date()

    def start_of(self, day: date) -> datetime:
        """Local midnight at the start of ``day``."""
        return datetime.combine(day, time(0), tzinfo=self.tz)

    def nth_working_day_after(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself never counts)."""
        current = day
        remaining = count
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, first: date, last: date) -> int:
        """How many working days lie in ``(first, last]``."""
        count = 0
        current = first
        while current < last:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def add(self, start: datetime, span: Span, *, extra_working_days: int = 0) -> datetime:
        """When a span that starts at ``start`` ends.

        Working days end at the close of the last working day (local midnight after it): a
        report received on Friday with one working day to answer is due at the end of Monday.
        The day of receipt never counts.
        """
        if span.unit is SpanUnit.CALENDAR_DAYS:
            return _aware(start) + timedelta(days=span.amount)
        last = self.nth_working_day_after(self.local_date(start), span.amount + extra_working_days)
        return self.start_of(last + timedelta(days=1))

    def working_days_before(self, due: datetime, count: int) -> datetime:
        """The start of the ``count``-th last working day before ``due`` (inclusive of its day)."""
        day = self.local_date(_aware(due) - timedelta(microseconds=1))
        found = 0
        while True:
            if self.is_working_day(day):
                found += 1
                if found >= count:
                    return self.start_of(day)
            day -= timedelta(days=1)


class DeadlineKind(StrEnum):
    """The promises a disclosure policy makes, each with its own clock."""

    ACKNOWLEDGE = "acknowledge"
    ASSESSMENT = "assessment"
    FIX = "fix"
    PROGRESS_UPDATE = "progress_update"
    DISCLOSURE = "disclosure"


class DeadlineStatus(StrEnum):
    """How a deadline stands at a moment."""

    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    MET = "met"


_DEFAULT_FIX: Mapping[Severity, Span] = {
    Severity.CRITICAL: calendar_days(30),
    Severity.HIGH: calendar_days(30),
    Severity.MEDIUM: calendar_days(90),
    Severity.LOW: calendar_days(180),
}


@dataclass(frozen=True)
class DeadlinePolicy:
    """A program's promises: how soon we answer, fix, update and disclose.

    ``due_soon`` and ``due_soon_fraction`` each open a "due soon" window before the due
    moment; the wider of the two applies.
    """

    acknowledge: Span = field(default_factory=lambda: working_days(1))
    assessment: Span = field(default_factory=lambda: working_days(3))
    fix: Mapping[Severity, Span] = field(default_factory=lambda: dict(_DEFAULT_FIX))
    progress_update: Span = field(default_factory=lambda: calendar_days(14))
    disclosure: Span = field(default_factory=lambda: calendar_days(60))
    due_soon: Span = field(default_factory=lambda: working_days(1))
    due_soon_fraction: float = 0.2

    def fix_span(self, severity: Severity) -> Span | None:
        """The fix target for a severity band, or None (unassessed, none)."""
        return self.fix.get(severity)


@dataclass(frozen=True)
class Deadline:
    """One promise on one report: when its clock started, when it is due, when it was kept."""

    kind: DeadlineKind
    start: datetime
    due: datetime
    met_at: datetime | None = None

    def status(
        self, now: datetime, calendar: WorkingCalendar, policy: DeadlinePolicy
    ) -> DeadlineStatus:
        """On track, due soon, overdue or met at ``now``."""
        if self.met_at is not None:
            return DeadlineStatus.MET
        now = _aware(now)
        if now >= self.due:
            return DeadlineStatus.OVERDUE
        if now >= self.due_soon_from(calendar, policy):
            return DeadlineStatus.DUE_SOON
        return DeadlineStatus.ON_TRACK

    def due_soon_from(self, calendar: WorkingCalendar, policy: DeadlinePolicy) -> datetime:
        """The moment this deadline becomes due soon (the wider of the two windows)."""
        by_fraction = self.due - (self.due - self.start) * policy.due_soon_fraction
        if policy.due_soon.unit is SpanUnit.WORKING_DAYS:
            by_span = calendar.working_days_before(self.due, max(policy.due_soon.amount, 1))
        else:
            by_span = self.due - timedelta(days=policy.due_soon.amount)
        return min(by_fraction, by_span)


_ASSESSED = frozenset(
    {
        State.TRIAGED,
        State.IN_REMEDIATION,
        State.FIX_AVAILABLE,
        State.RESOLVED,
        State.DISCLOSURE_PENDING,
        State.PUBLISHED,
    }
)
_FIXED = frozenset({State.FIX_AVAILABLE, State.RESOLVED, State.DISCLOSURE_PENDING, State.PUBLISHED})
_LEFT_RECEIVED = frozenset(State) - {State.RECEIVED}


def compute_deadlines(
    report: Report, policy: DeadlinePolicy, calendar: WorkingCalendar, now: datetime
) -> list[Deadline]:
    """Every deadline that applies to ``report`` at ``now``, with needs_info pauses added.

    A closure (duplicate, out of scope, ...) keeps only the deadlines already met; the
    others no longer apply. The progress-update clock restarts at each update sent.
    """
    pauses = report.paused_intervals(now)
    deadlines: list[Deadline] = []

    def add(kind: DeadlineKind, start: datetime, span: Span, met_at: datetime | None) -> None:
        if report.state.is_closed and met_at is None:
            return
        clipped = _clip(pauses, start, met_at)
        if span.unit is SpanUnit.CALENDAR_DAYS:
            paused = sum((end - begin for begin, end in clipped), timedelta())
            due = calendar.add(start, span) + paused
        else:
            extra = sum(
                calendar.working_days_between(calendar.local_date(b), calendar.local_date(e))
                for b, e in clipped
            )
            due = calendar.add(start, span, extra_working_days=extra)
        deadlines.append(Deadline(kind=kind, start=start, due=due, met_at=met_at))

    received = _aware(report.received_at)
    add(
        DeadlineKind.ACKNOWLEDGE,
        received,
        policy.acknowledge,
        report.first_time_in(_LEFT_RECEIVED),
    )
    add(DeadlineKind.ASSESSMENT, received, policy.assessment, report.first_time_in(_ASSESSED))
    fix_span = policy.fix_span(report.severity)
    if fix_span is not None:
        add(DeadlineKind.FIX, received, fix_span, report.first_time_in(_FIXED))
    add(
        DeadlineKind.DISCLOSURE,
        received,
        policy.disclosure,
        report.first_time_in(frozenset({State.PUBLISHED})),
    )
    if report.state.is_open:
        last_update = report.last_researcher_update_at or received
        add(DeadlineKind.PROGRESS_UPDATE, _aware(last_update), policy.progress_update, None)
    return deadlines


# Deadlines that drive nothing a pass does by time alone: no label, note or mail watches the
# disclosure horizon (Program.status_of leaves it out of the deadline label).
_UNWATCHED = frozenset({DeadlineKind.DISCLOSURE})


def next_status_change(
    deadlines: Sequence[Deadline], now: datetime, calendar: WorkingCalendar, policy: DeadlinePolicy
) -> datetime | None:
    """The first moment after ``now`` at which one of ``deadlines`` changes status, or None.

    A deadline that is not met changes status twice by time alone: it becomes due soon at
    ``due_soon_from`` and overdue at ``due``. Both are fixed moments once a report's clocks
    no longer run paused, so between ``now`` and the returned moment every status is the one
    at ``now``.
    """
    now = _aware(now)
    upcoming = [
        moment
        for deadline in deadlines
        if deadline.met_at is None
        for moment in (deadline.due_soon_from(calendar, policy), deadline.due)
        if moment > now
    ]
    return min(upcoming, default=None)


def next_time_change(
    report: Report,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar,
    now: datetime,
    deadlines: Sequence[Deadline] | None = None,
) -> datetime | None:
    """The next moment at which anything about ``report`` changes by time alone, or None.

    That is the first status change of a deadline a pass watches (acknowledgement, assessment,
    fix, progress update): the deadline label moving to due soon or overdue, a missed-deadline
    note falling due, a progress update falling due. None when nothing will change until the
    report itself does (closed, or every watched deadline met or overdue).

    While the report waits in needs_info its clocks are paused, so every due moment moves
    with time and the status can change at any moment: the answer is ``now`` itself (look
    again at the next pass).

    ``deadlines``, when given, are ``compute_deadlines(report, policy, calendar, now)`` already
    computed by the caller (a pass computes them once per report).
    """
    if report.state is State.NEEDS_INFO:
        return _aware(now)
    if deadlines is None:
        deadlines = compute_deadlines(report, policy, calendar, now)
    watched = [deadline for deadline in deadlines if deadline.kind not in _UNWATCHED]
    return next_status_change(watched, now, calendar, policy)


def _clip(
    pauses: list[tuple[datetime, datetime]], start: datetime, met_at: datetime | None
) -> list[tuple[datetime, datetime]]:
    """The parts of each pause that fall after ``start`` and before ``met_at``."""
    clipped = []
    for paused, resumed in pauses:
        begin = max(_aware(paused), start)
        end = _aware(resumed) if met_at is None else min(_aware(resumed), _aware(met_at))
        if end > begin:
            clipped.append((begin, end))
    return clipped


def _aware(moment: datetime) -> datetime:
    """Refuse naive datetimes: every time in the bridge carries its zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"naive datetime {moment.isoformat()} (times must carry a time zone)"
        raise ValueError(msg)
    return moment

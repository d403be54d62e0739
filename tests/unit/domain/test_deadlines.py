"""Working-day deadlines across Dutch holidays, pauses in needs_info, and deadline status."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tracker_bridge.calendars import working_calendar
from tracker_bridge.domain.deadlines import (
    Deadline,
    DeadlineKind,
    DeadlinePolicy,
    DeadlineStatus,
    calendar_days,
    compute_deadlines,
    working_days,
)
from tracker_bridge.domain.report import Report, ReportId, State
from tracker_bridge.domain.severity import Severity

AMS = ZoneInfo("Europe/Amsterdam")
CAL = working_calendar("Europe/Amsterdam", "NL")
POLICY = DeadlinePolicy()


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment in Amsterdam time."""
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def report_at(received: datetime) -> Report:
    """A fresh report received at ``received``."""
    return Report(ReportId("CVD", 2026, 1), "default", received)


def deadline(report: Report, kind: DeadlineKind, now: datetime) -> Deadline:
    """The one deadline of ``kind`` for ``report`` at ``now``."""
    return next(d for d in compute_deadlines(report, POLICY, CAL, now) if d.kind is kind)


@pytest.mark.parametrize(
    ("received", "span", "due", "why"),
    [
        (ams(2026, 11, 2, 10), working_days(1), ams(2026, 11, 4), "Monday: end of Tuesday"),
        (ams(2026, 11, 6, 16), working_days(1), ams(2026, 11, 10), "Friday: end of Monday"),
        (ams(2026, 11, 7, 12), working_days(1), ams(2026, 11, 10), "Saturday: end of Monday"),
        (ams(2026, 4, 24, 10), working_days(1), ams(2026, 4, 29), "Friday before Koningsdag"),
        (ams(2026, 12, 24, 10), working_days(1), ams(2026, 12, 29), "Christmas Eve"),
        (ams(2026, 4, 2, 10), working_days(3), ams(2026, 4, 10), "Good Friday, Easter Monday"),
        (ams(2026, 12, 23, 10), working_days(3), ams(2026, 12, 30), "Thu 24, Mon 28, Tue 29"),
        (ams(2026, 11, 2, 10), calendar_days(14), ams(2026, 11, 16, 10), "calendar days"),
    ],
)
def test_span_end(received: datetime, span: object, due: datetime, why: str) -> None:
    """Working days skip weekends and Dutch holidays; the receipt day never counts."""
    assert CAL.add(received, span) == due, why  # type: ignore[arg-type]


def test_dutch_holidays_of_the_pinned_calendar() -> None:
    """The pinned holidays package treats Koningsdag, Good Friday, Easter Monday, Christmas as holidays."""
    for day in (ams(2026, 4, 27), ams(2026, 4, 3), ams(2026, 4, 6), ams(2026, 12, 25)):
        assert CAL.is_working_day(day.date()) is False
    assert CAL.is_working_day(ams(2026, 4, 28).date()) is True


def test_default_policy_deadlines_for_a_new_report() -> None:
    """A Monday report: acknowledge by end of Tuesday, assess by end of Thursday."""
    report = report_at(ams(2026, 11, 2, 10))
    now = ams(2026, 11, 2, 11)
    assert ams(2026, 11, 4) == deadline(report, DeadlineKind.ACKNOWLEDGE, now).due
    assert ams(2026, 11, 6) == deadline(report, DeadlineKind.ASSESSMENT, now).due
    assert ams(2027, 1, 1, 10) == deadline(report, DeadlineKind.DISCLOSURE, now).due
    assert ams(2026, 11, 16, 10) == deadline(report, DeadlineKind.PROGRESS_UPDATE, now).due


def test_fix_deadline_follows_severity() -> None:
    """The fix clock depends on the severity band and is absent while unassessed."""
    report = report_at(ams(2026, 11, 2, 10))
    now = ams(2026, 11, 2, 11)
    kinds = {d.kind for d in compute_deadlines(report, POLICY, CAL, now)}
    assert DeadlineKind.FIX not in kinds
    report.severity = Severity.MEDIUM
    assert ams(2026, 11, 2, 10) + timedelta(days=90) == deadline(report, DeadlineKind.FIX, now).due


def test_needs_info_pauses_working_day_clock() -> None:
    """Two working days waiting for the researcher push a working-day deadline two working days."""
    report = report_at(ams(2026, 11, 2, 10))
    report.transition(State.ACKNOWLEDGED, ams(2026, 11, 2, 11))
    report.transition(State.NEEDS_INFO, ams(2026, 11, 3, 10))
    report.transition(State.TRIAGING, ams(2026, 11, 5, 10))
    assessment = deadline(report, DeadlineKind.ASSESSMENT, ams(2026, 11, 5, 11))
    # Unpaused: end of Thursday 5 Nov. Paused Wed and Thu: end of Monday 9 Nov.
    assert ams(2026, 11, 10) == assessment.due


def test_needs_info_pauses_calendar_clock_while_still_waiting() -> None:
    """An ongoing pause keeps extending a calendar-day deadline until the researcher answers."""
    report = report_at(ams(2026, 11, 2, 10))
    report.severity = Severity.HIGH
    report.transition(State.TRIAGING, ams(2026, 11, 2, 11))
    report.transition(State.NEEDS_INFO, ams(2026, 11, 3, 10))
    fix = deadline(report, DeadlineKind.FIX, ams(2026, 11, 8, 10))
    assert ams(2026, 12, 2, 10) + timedelta(days=5) == fix.due


def test_pause_after_a_deadline_was_met_does_not_move_it() -> None:
    """Waiting for the researcher after acknowledging does not change the acknowledgement."""
    report = report_at(ams(2026, 11, 2, 10))
    report.transition(State.ACKNOWLEDGED, ams(2026, 11, 2, 11))
    report.transition(State.NEEDS_INFO, ams(2026, 11, 3, 10))
    ack = deadline(report, DeadlineKind.ACKNOWLEDGE, ams(2026, 11, 9))
    assert (ams(2026, 11, 4), ams(2026, 11, 2, 11)) == (ack.due, ack.met_at)


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (ams(2026, 11, 2, 12), DeadlineStatus.ON_TRACK),
        (ams(2026, 11, 5, 9), DeadlineStatus.DUE_SOON),
        (ams(2026, 11, 6, 0, 0), DeadlineStatus.OVERDUE),
        (ams(2026, 11, 20), DeadlineStatus.OVERDUE),
    ],
)
def test_assessment_status_over_time(now: datetime, status: DeadlineStatus) -> None:
    """On track, then due soon on the last working day, then overdue at its end."""
    report = report_at(ams(2026, 11, 2, 10))
    assert deadline(report, DeadlineKind.ASSESSMENT, now).status(now, CAL, POLICY) is status


def test_due_soon_by_fraction_of_a_long_span() -> None:
    """A 90-day fix deadline is due soon in its last 20% (18 days), not only its last day."""
    report = report_at(ams(2026, 11, 2, 10))
    report.severity = Severity.MEDIUM
    fix = deadline(report, DeadlineKind.FIX, ams(2026, 11, 2, 11))
    assert fix.status(fix.due - timedelta(days=19), CAL, POLICY) is DeadlineStatus.ON_TRACK
    assert fix.status(fix.due - timedelta(days=17), CAL, POLICY) is DeadlineStatus.DUE_SOON


def test_met_deadline_stays_met() -> None:
    """Once triaged, the assessment deadline is met, even long after its due date."""
    report = report_at(ams(2026, 11, 2, 10))
    report.transition(State.TRIAGED, ams(2026, 11, 3, 10))
    later = ams(2026, 12, 1)
    assert deadline(report, DeadlineKind.ASSESSMENT, later).status(later, CAL, POLICY) is (
        DeadlineStatus.MET
    )


def test_closed_report_drops_unmet_deadlines() -> None:
    """A report closed as out of scope owes no fix, assessment or progress update any more."""
    report = report_at(ams(2026, 11, 2, 10))
    report.transition(State.ACKNOWLEDGED, ams(2026, 11, 2, 11))
    report.transition(State.OUT_OF_SCOPE, ams(2026, 11, 3, 11))
    kinds = {d.kind for d in compute_deadlines(report, POLICY, CAL, ams(2026, 11, 4))}
    assert {DeadlineKind.ACKNOWLEDGE} == kinds


def test_naive_times_are_refused() -> None:
    """Deadline arithmetic refuses times without a zone."""
    with pytest.raises(ValueError, match="naive datetime"):
        CAL.add(datetime(2026, 11, 2, 10), calendar_days(1))  # noqa: DTZ001 - the naive datetime is the input under test

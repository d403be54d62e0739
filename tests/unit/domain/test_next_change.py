"""The next moment a report changes by time alone: nothing changes before it, something at it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tracker_bridge.calendars import working_calendar
from tracker_bridge.domain.deadlines import (
    DeadlineKind,
    DeadlinePolicy,
    DeadlineStatus,
    compute_deadlines,
    next_time_change,
)
from tracker_bridge.domain.report import TRANSITIONS, Report, ReportId, State
from tracker_bridge.domain.severity import Severity

AMS = ZoneInfo("Europe/Amsterdam")
CAL = working_calendar("Europe/Amsterdam", "NL")
POLICY = DeadlinePolicy()
START = datetime(2026, 1, 1, tzinfo=UTC)


def watched(report: Report, now: datetime) -> dict[DeadlineKind, DeadlineStatus]:
    """The status of every deadline a pass acts on (labels, notes, progress mail) at ``now``."""
    return {
        d.kind: d.status(now, CAL, POLICY)
        for d in compute_deadlines(report, POLICY, CAL, now)
        if d.kind is not DeadlineKind.DISCLOSURE
    }


@st.composite
def reports(draw: st.DrawFn) -> tuple[Report, datetime]:
    """A report walked through allowed moves at random times, and a moment after its last move."""
    received = START + timedelta(minutes=draw(st.integers(0, 60 * 24 * 540)))
    report = Report(
        ReportId("CVD", 2026, 1),
        "default",
        received,
        severity=draw(st.sampled_from(list(Severity))),
    )
    at = received
    for _ in range(draw(st.integers(0, 6))):
        targets = sorted(TRANSITIONS[report.state], key=lambda s: s.value)
        if not targets:
            break
        at += timedelta(minutes=draw(st.integers(1, 60 * 24 * 20)))
        report.transition(draw(st.sampled_from(targets)), at)
    if draw(st.booleans()):
        report.last_researcher_update_at = at + timedelta(
            minutes=draw(st.integers(0, 60 * 24 * 30))
        )
    now = at + timedelta(
        minutes=draw(st.integers(0, 60 * 24 * 200)), seconds=draw(st.integers(0, 59))
    )
    return report, now


@settings(max_examples=400, deadline=None)
@given(reports(), st.floats(0, 1, exclude_max=True))
def test_nothing_changes_before_the_next_moment(
    case: tuple[Report, datetime], fraction: float
) -> None:
    """For a random report and a random moment before its next moment, every status is as now."""
    report, now = case
    moment = next_time_change(report, POLICY, CAL, now)
    horizon = moment if moment is not None else now + timedelta(days=800)
    later = now + (horizon - now) * fraction
    if later >= horizon:  # rounding at the edge of a microsecond
        later = now
    assert watched(report, now) == watched(report, later)


@settings(max_examples=300, deadline=None)
@given(reports())
def test_something_changes_at_the_next_moment(case: tuple[Report, datetime]) -> None:
    """The next moment is not early: at it some deadline's status differs (clocks not paused)."""
    report, now = case
    moment = next_time_change(report, POLICY, CAL, now)
    if moment is None or report.state is State.NEEDS_INFO:
        return
    assert moment > now
    assert watched(report, now) != watched(report, moment)


def test_received_report_changes_when_acknowledgement_is_due_soon() -> None:
    """Received on Monday 10:00: the acknowledgement (end of Tuesday) is due soon from Tuesday 0:00."""
    received = datetime(2026, 11, 2, 10, tzinfo=AMS)
    report = Report(ReportId("CVD", 2026, 1), "default", received)
    assert datetime(2026, 11, 3, tzinfo=AMS) == next_time_change(report, POLICY, CAL, received)


def test_overdue_report_with_every_deadline_passed_changes_no_more() -> None:
    """When every watched deadline is overdue, nothing changes until the report does: None."""
    received = datetime(2026, 1, 5, 10, tzinfo=AMS)
    report = Report(ReportId("CVD", 2026, 1), "default", received)
    assert None is next_time_change(report, POLICY, CAL, received + timedelta(days=400))


def test_report_waiting_for_the_researcher_is_looked_at_every_pass() -> None:
    """In needs_info the clocks are paused and due moments move with time: the answer is now."""
    received = datetime(2026, 11, 2, 10, tzinfo=AMS)
    report = Report(ReportId("CVD", 2026, 1), "default", received)
    report.transition(State.NEEDS_INFO, received + timedelta(hours=1))
    now = received + timedelta(days=3)
    assert now == next_time_change(report, POLICY, CAL, now)


def test_closed_report_changes_no_more_by_time() -> None:
    """A closed report keeps only met deadlines: nothing changes by time alone."""
    received = datetime(2026, 11, 2, 10, tzinfo=AMS)
    report = Report(ReportId("CVD", 2026, 1), "default", received)
    report.transition(State.DUPLICATE, received + timedelta(hours=1))
    assert None is next_time_change(report, POLICY, CAL, received + timedelta(hours=2))

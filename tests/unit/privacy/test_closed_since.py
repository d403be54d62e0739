"""When a report's retention clock starts: the beginning of its current closed period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracker_bridge.domain.report import Report, ReportId, State
from tracker_bridge.services.retention import closed_since

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def a_report(*moves: State) -> Report:
    """A report moved through ``moves``, one day apart."""
    report = Report(ReportId("CVD", 2026, 1), "default", T0)
    for day, state in enumerate(moves, start=1):
        report.transition(state, T0 + timedelta(days=day))
    return report


def test_open_report_has_no_close_time() -> None:
    """An open report is never due for retention."""
    assert closed_since(a_report(State.TRIAGING)) is None


def test_resolved_then_published_counts_from_resolved() -> None:
    """Publishing after resolving does not restart the clock: resolved is closed too."""
    report = a_report(State.TRIAGED, State.RESOLVED, State.PUBLISHED)
    assert T0 + timedelta(days=2) == closed_since(report)


def test_resolved_disclosure_pending_published_counts_from_published() -> None:
    """Disclosure pending is open work, so the clock starts again at publication."""
    report = a_report(State.TRIAGED, State.RESOLVED, State.DISCLOSURE_PENDING, State.PUBLISHED)
    assert T0 + timedelta(days=4) == closed_since(report)


def test_reopened_and_closed_again_counts_from_the_second_close() -> None:
    """A reopened report's earlier closure does not count."""
    report = a_report(State.DUPLICATE, State.TRIAGING, State.INFORMATIVE)
    assert T0 + timedelta(days=3) == closed_since(report)


def test_closed_without_history_counts_from_receipt() -> None:
    """A closed report with no recorded moves (imported) counts from when it was received."""
    report = Report(ReportId("CVD", 2026, 2), "default", T0, state=State.SPAM)
    assert T0 == closed_since(report)

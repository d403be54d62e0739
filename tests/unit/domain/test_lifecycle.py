"""Lifecycle states, allowed transitions and report ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracker_bridge.domain.errors import InvalidReportId, TransitionNotAllowed
from tracker_bridge.domain.report import (
    CLOSURES,
    TRANSITIONS,
    Report,
    ReportId,
    State,
    can_transition,
    check_transition,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_every_state_has_a_transition_entry() -> None:
    """The transition table names every state, so no state is a silent dead end."""
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (State.RECEIVED, State.ACKNOWLEDGED),
        (State.ACKNOWLEDGED, State.TRIAGING),
        (State.TRIAGING, State.NEEDS_INFO),
        (State.NEEDS_INFO, State.TRIAGING),
        (State.TRIAGING, State.TRIAGED),
        (State.TRIAGED, State.IN_REMEDIATION),
        (State.IN_REMEDIATION, State.FIX_AVAILABLE),
        (State.FIX_AVAILABLE, State.RESOLVED),
        (State.RESOLVED, State.DISCLOSURE_PENDING),
        (State.DISCLOSURE_PENDING, State.PUBLISHED),
        (State.ACKNOWLEDGED, State.SPAM),
        (State.TRIAGING, State.OUT_OF_SCOPE),
        (State.IN_REMEDIATION, State.WITHDRAWN),
    ],
)
def test_allowed_transitions(source: State, target: State) -> None:
    """The happy path and the usual closures are allowed."""
    assert can_transition(source, target) is True


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (State.RECEIVED, State.PUBLISHED),
        (State.RECEIVED, State.FIX_AVAILABLE),
        (State.PUBLISHED, State.TRIAGING),
        (State.RESOLVED, State.SPAM),
        (State.IN_REMEDIATION, State.SPAM),
        (State.DUPLICATE, State.RESOLVED),
    ],
)
def test_impossible_transition_names_both_states(source: State, target: State) -> None:
    """An impossible move raises an error whose message names the source and the target."""
    with pytest.raises(TransitionNotAllowed) as caught:
        check_transition(source, target)
    assert f"'{source.value}'" in str(caught.value)
    assert f"'{target.value}'" in str(caught.value)


@pytest.mark.parametrize("closure", sorted(CLOSURES))
def test_every_closure_can_be_reopened_to_triage(closure: State) -> None:
    """Reopening moves any closure back to triaging."""
    assert can_transition(closure, State.TRIAGING) is True
    assert closure.is_closed is True


def test_published_is_final() -> None:
    """Nothing follows publication."""
    assert TRANSITIONS[State.PUBLISHED] == frozenset()


def test_report_transition_records_history() -> None:
    """A transition moves the state and appends a dated change."""
    report = Report(ReportId("CVD", 2026, 7), "default", T0)
    change = report.transition(State.ACKNOWLEDGED, T0)
    assert report.state is State.ACKNOWLEDGED
    assert report.history == [change]
    assert (State.RECEIVED, State.ACKNOWLEDGED) == (change.source, change.target)


def test_refused_transition_leaves_report_unchanged() -> None:
    """A refused transition changes neither state nor history."""
    report = Report(ReportId("CVD", 2026, 7), "default", T0)
    with pytest.raises(TransitionNotAllowed):
        report.transition(State.PUBLISHED, T0)
    assert (State.RECEIVED, []) == (report.state, report.history)


def test_report_id_formats_and_parses() -> None:
    """Report ids read like CVD-2026-0007 and parse back to the same value."""
    report_id = ReportId("CVD", 2026, 7)
    assert "CVD-2026-0007" == str(report_id)
    assert ReportId.parse("CVD-2026-0007") == report_id
    assert "SEC-2027-12345" == str(ReportId("SEC", 2027, 12345))


@pytest.mark.parametrize(
    "text", ["", "CVD-26-0007", "cvd-2026-0007", "CVD-2026-7", "CVD 2026 0007"]
)
def test_report_id_rejects_malformed_text(text: str) -> None:
    """Malformed ids are refused with the offending text in the message."""
    with pytest.raises(InvalidReportId, match="is not a report id"):
        ReportId.parse(text)

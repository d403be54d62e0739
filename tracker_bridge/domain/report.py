"""Report identity, lifecycle states and the transitions between them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from tracker_bridge.domain.errors import InvalidReportId, TransitionNotAllowed
from tracker_bridge.domain.severity import Severity

if TYPE_CHECKING:
    from datetime import datetime


class State(StrEnum):
    """Where a report stands in the disclosure lifecycle."""

    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    TRIAGING = "triaging"
    NEEDS_INFO = "needs_info"
    TRIAGED = "triaged"
    IN_REMEDIATION = "in_remediation"
    FIX_AVAILABLE = "fix_available"
    RESOLVED = "resolved"
    DISCLOSURE_PENDING = "disclosure_pending"
    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    NOT_APPLICABLE = "not_applicable"
    OUT_OF_SCOPE = "out_of_scope"
    INFORMATIVE = "informative"
    SPAM = "spam"
    WITHDRAWN = "withdrawn"

    @property
    def is_closure(self) -> bool:
        """True for the states that close a report without a fix."""
        return self in CLOSURES

    @property
    def is_closed(self) -> bool:
        """True when no further work is expected unless the report is reopened."""
        return self in CLOSURES or self in (State.RESOLVED, State.PUBLISHED)

    @property
    def is_open(self) -> bool:
        """True while the team still owes the researcher something."""
        return not self.is_closed


CLOSURES: frozenset[State] = frozenset(
    {
        State.DUPLICATE,
        State.NOT_APPLICABLE,
        State.OUT_OF_SCOPE,
        State.INFORMATIVE,
        State.SPAM,
        State.WITHDRAWN,
    }
)

# Before assessment the team may close for any reason; the researcher may withdraw at any open point.
_EARLY_CLOSURES = CLOSURES
_ANY_OPEN_CLOSURE = frozenset({State.DUPLICATE, State.INFORMATIVE, State.WITHDRAWN})

TRANSITIONS: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset({State.ACKNOWLEDGED, State.TRIAGING, State.NEEDS_INFO, State.TRIAGED})
    | _EARLY_CLOSURES,
    State.ACKNOWLEDGED: frozenset({State.TRIAGING, State.NEEDS_INFO, State.TRIAGED})
    | _EARLY_CLOSURES,
    State.TRIAGING: frozenset({State.NEEDS_INFO, State.TRIAGED, State.IN_REMEDIATION})
    | _EARLY_CLOSURES,
    State.NEEDS_INFO: frozenset({State.TRIAGING, State.TRIAGED, State.IN_REMEDIATION})
    | _EARLY_CLOSURES,
    State.TRIAGED: frozenset(
        {State.NEEDS_INFO, State.IN_REMEDIATION, State.FIX_AVAILABLE, State.RESOLVED}
    )
    | _ANY_OPEN_CLOSURE
    | {State.NOT_APPLICABLE, State.OUT_OF_SCOPE},
    State.IN_REMEDIATION: frozenset({State.NEEDS_INFO, State.FIX_AVAILABLE, State.RESOLVED})
    | _ANY_OPEN_CLOSURE,
    State.FIX_AVAILABLE: frozenset({State.IN_REMEDIATION, State.RESOLVED, State.NEEDS_INFO})
    | _ANY_OPEN_CLOSURE,
    State.RESOLVED: frozenset({State.DISCLOSURE_PENDING, State.PUBLISHED, State.IN_REMEDIATION}),
    State.DISCLOSURE_PENDING: frozenset({State.PUBLISHED, State.RESOLVED}),
    State.PUBLISHED: frozenset(),
    # Reopening: a closure goes back to triage when the team reconsiders.
    **{closure: frozenset({State.TRIAGING}) for closure in CLOSURES},
}


def can_transition(source: State, target: State) -> bool:
    """Whether the lifecycle allows moving from ``source`` to ``target``."""
    return target in TRANSITIONS[source]


def check_transition(source: State, target: State) -> None:
    """Raise TransitionNotAllowed, naming both states, unless the move is allowed."""
    if not can_transition(source, target):
        raise TransitionNotAllowed(source.value, target.value)


_REPORT_ID = re.compile(r"^(?P<prefix>[A-Z][A-Z0-9]{1,15})-(?P<year>\d{4})-(?P<seq>\d{4,})$")
REPORT_ID_SEARCH = re.compile(r"\b[A-Z][A-Z0-9]{1,15}-\d{4}-\d{4,}\b")


@dataclass(frozen=True, order=True)
class ReportId:
    """A report id people can read aloud, unique per program: ``CVD-2026-0007``."""

    prefix: str
    year: int
    sequence: int

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year:04d}-{self.sequence:04d}"

    @classmethod
    def parse(cls, text: str) -> ReportId:
        """Read ``CVD-2026-0007``; raise InvalidReportId naming the text otherwise."""
        match = _REPORT_ID.match(text.strip())
        if match is None:
            msg = f"{text!r} is not a report id (expected PREFIX-YYYY-NNNN, e.g. CVD-2026-0007)"
            raise InvalidReportId(msg)
        return cls(match["prefix"], int(match["year"]), int(match["seq"]))


@dataclass(frozen=True)
class StateChange:
    """One recorded move in a report's lifecycle."""

    at: datetime
    source: State
    target: State


@dataclass
class Report:
    """A vulnerability report and the lifecycle facts deadlines are computed from."""

    report_id: ReportId
    program: str
    received_at: datetime
    state: State = State.RECEIVED
    severity: Severity = Severity.UNASSESSED
    cvss_vector: str | None = None
    expected_fix_date: datetime | None = None
    history: list[StateChange] = field(default_factory=list)
    last_researcher_update_at: datetime | None = None

    def transition(self, target: State, at: datetime) -> StateChange:
        """Move to ``target`` at ``at`` if the lifecycle allows it; return the recorded change."""
        check_transition(self.state, target)
        change = StateChange(at=at, source=self.state, target=target)
        self.history.append(change)
        self.state = target
        return change

    def first_time_in(self, states: frozenset[State]) -> datetime | None:
        """When the report first entered one of ``states``, or None."""
        for change in self.history:
            if change.target in states:
                return change.at
        return None

    def paused_intervals(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """Intervals spent in needs_info (the clock stops while we wait for the researcher)."""
        intervals: list[tuple[datetime, datetime]] = []
        started: datetime | None = None
        for change in self.history:
            if change.target is State.NEEDS_INFO and started is None:
                started = change.at
            elif change.source is State.NEEDS_INFO and started is not None:
                intervals.append((started, change.at))
                started = None
        if started is not None:
            intervals.append((started, max(started, now)))
        return intervals

"""How severity, lifecycle state and deadline status are named on tracker issues, and read back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tracker_bridge.domain.deadlines import DeadlineStatus
from tracker_bridge.domain.report import State
from tracker_bridge.domain.severity import Severity


@dataclass(frozen=True)
class LabelScheme:
    """Label names for severity, lifecycle state and deadline status in one tracker."""

    severity_template: str
    state_template: str
    deadline_template: str
    status_names: Mapping[DeadlineStatus, str]

    def severity(self, severity: Severity) -> str:
        """The label for a severity band."""
        return self.severity_template.format(severity=severity.value)

    def state(self, state: State) -> str:
        """The label for a lifecycle state."""
        return self.state_template.format(state=state.value)

    def deadline(self, status: DeadlineStatus) -> str:
        """The label for a deadline status."""
        return self.deadline_template.format(status=self.status_names[status])

    def family(self, label: str) -> str | None:
        """Which family (severity, state, deadline) a label belongs to, or None."""
        if label in {self.severity(s) for s in Severity}:
            return "severity"
        if label in {self.state(s) for s in State}:
            return "state"
        if label in {self.deadline(s) for s in DeadlineStatus}:
            return "deadline"
        return None

    def for_report(
        self, severity: Severity, state: State, deadline: DeadlineStatus
    ) -> frozenset[str]:
        """The three labels the bridge keeps on an issue."""
        return frozenset({self.severity(severity), self.state(state), self.deadline(deadline)})

    def exclusive_update(
        self, current: frozenset[str], desired: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Labels to add and remove so each family holds only its desired label.

        Scoped-label exclusivity is a paid GitLab feature and Jira has none, so the bridge
        removes the other labels of a family itself.
        """
        families = {self.family(label) for label in desired} - {None}
        remove = frozenset(
            label for label in current if self.family(label) in families and label not in desired
        )
        return desired - current, remove

    def read_state(self, labels: frozenset[str]) -> State | None:
        """The lifecycle state a label says, or None (several conflicting labels: None too)."""
        found = {s for s in State if self.state(s) in labels}
        return found.pop() if len(found) == 1 else None

    def read_severity(self, labels: frozenset[str]) -> Severity | None:
        """The severity a label says, or None."""
        found = {s for s in Severity if self.severity(s) in labels}
        return found.pop() if len(found) == 1 else None


@dataclass(frozen=True)
class StateRules:
    """How a tracker's own status maps to a lifecycle state when no state label says it."""

    closed: State
    reopened: State
    by_status: Mapping[str, State] = field(default_factory=dict)
    by_category: Mapping[str, State] = field(default_factory=dict)


def worst_status(statuses: list[DeadlineStatus]) -> DeadlineStatus:
    """The status one label shows for several deadlines: overdue, then due soon, then on track."""
    for status in (DeadlineStatus.OVERDUE, DeadlineStatus.DUE_SOON, DeadlineStatus.ON_TRACK):
        if status in statuses:
            return status
    return DeadlineStatus.MET

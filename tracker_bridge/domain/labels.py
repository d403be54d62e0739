"""How severity, lifecycle state and deadline status are named on tracker issues, and read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from tracker_bridge.domain.deadlines import DeadlineStatus
from tracker_bridge.domain.report import State
from tracker_bridge.domain.severity import Severity

if TYPE_CHECKING:
    from collections.abc import Mapping

_K = TypeVar("_K", Severity, State)


@dataclass(frozen=True)
class LabelScheme:
    """Label names for severity, lifecycle state and deadline status in one tracker.

    Every name is formatted once, when the scheme is built: a sync pass asks for labels and
    their families per report, and formatting them anew each time was most of a quiet pass.
    """

    severity_template: str
    state_template: str
    deadline_template: str
    status_names: Mapping[DeadlineStatus, str]
    _severity_labels: Mapping[Severity, str] = field(init=False, repr=False, compare=False)
    _state_labels: Mapping[State, str] = field(init=False, repr=False, compare=False)
    _deadline_labels: Mapping[DeadlineStatus, str] = field(init=False, repr=False, compare=False)
    _families: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _states_by_label: Mapping[str, frozenset[State]] = field(init=False, repr=False, compare=False)
    _severities_by_label: Mapping[str, frozenset[Severity]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        severities = {s: self.severity_template.format(severity=s.value) for s in Severity}
        states = {s: self.state_template.format(state=s.value) for s in State}
        deadlines = {
            s: self.deadline_template.format(status=self.status_names[s]) for s in DeadlineStatus
        }
        # Later families are written first so an earlier one wins a shared name, as before.
        families: dict[str, str] = {}
        for family, names in (
            ("deadline", deadlines.values()),
            ("state", states.values()),
            ("severity", severities.values()),
        ):
            families.update(dict.fromkeys(names, family))
        object.__setattr__(self, "_severity_labels", severities)
        object.__setattr__(self, "_state_labels", states)
        object.__setattr__(self, "_deadline_labels", deadlines)
        object.__setattr__(self, "_families", families)
        object.__setattr__(self, "_states_by_label", _inverse(states))
        object.__setattr__(self, "_severities_by_label", _inverse(severities))

    def severity(self, severity: Severity) -> str:
        """The label for a severity band."""
        return self._severity_labels[severity]

    def state(self, state: State) -> str:
        """The label for a lifecycle state."""
        return self._state_labels[state]

    def deadline(self, status: DeadlineStatus) -> str:
        """The label for a deadline status."""
        return self._deadline_labels[status]

    def family(self, label: str) -> str | None:
        """Which family (severity, state, deadline) a label belongs to, or None."""
        return self._families.get(label)

    def states_named(self, labels: frozenset[str]) -> frozenset[State]:
        """Every lifecycle state whose label is among ``labels``."""
        found: set[State] = set()
        for label in labels:
            found |= self._states_by_label.get(label, frozenset())
        return frozenset(found)

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
        found = self.states_named(labels)
        return next(iter(found)) if len(found) == 1 else None

    def read_severity(self, labels: frozenset[str]) -> Severity | None:
        """The severity a label says, or None."""
        found: set[Severity] = set()
        for label in labels:
            found |= self._severities_by_label.get(label, frozenset())
        return found.pop() if len(found) == 1 else None


@dataclass(frozen=True)
class StateRules:
    """How a tracker's own status maps to a lifecycle state when no state label says it."""

    closed: State
    reopened: State
    by_status: Mapping[str, State] = field(default_factory=dict)
    by_category: Mapping[str, State] = field(default_factory=dict)


def _inverse(names: Mapping[_K, str]) -> dict[str, frozenset[_K]]:
    """Each label with every key that formats to it (a template may ignore its placeholder)."""
    inverse: dict[str, set[_K]] = {}
    for key, name in names.items():
        inverse.setdefault(name, set()).add(key)
    return {name: frozenset(keys) for name, keys in inverse.items()}


def worst_status(statuses: list[DeadlineStatus]) -> DeadlineStatus:
    """The status one label shows for several deadlines: overdue, then due soon, then on track."""
    for status in (DeadlineStatus.OVERDUE, DeadlineStatus.DUE_SOON, DeadlineStatus.ON_TRACK):
        if status in statuses:
            return status
    return DeadlineStatus.MET

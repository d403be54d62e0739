"""Label names are formatted once per scheme and read back to severity, state and status."""

from __future__ import annotations

import pytest

from tracker_bridge.domain.deadlines import DeadlineStatus
from tracker_bridge.domain.labels import LabelScheme
from tracker_bridge.domain.report import State
from tracker_bridge.domain.severity import Severity

STATUS_NAMES = {
    DeadlineStatus.ON_TRACK: "on-track",
    DeadlineStatus.DUE_SOON: "due-soon",
    DeadlineStatus.OVERDUE: "overdue",
    DeadlineStatus.MET: "met",
}
GITLAB = LabelScheme("severity::{severity}", "cvd::{state}", "sla::{status}", STATUS_NAMES)


def test_every_label_names_its_family() -> None:
    """Each severity, state and status label maps back to its family; others to None."""
    families = (
        {GITLAB.family(GITLAB.severity(s)) for s in Severity},
        {GITLAB.family(GITLAB.state(s)) for s in State},
        {GITLAB.family(GITLAB.deadline(s)) for s in DeadlineStatus},
    )
    assert ({"severity"}, {"state"}, {"deadline"}) == families
    assert None is GITLAB.family("team::looked-at")


def test_states_named_reads_every_state_label_among_others() -> None:
    """states_named finds the states whose labels are present and ignores the rest."""
    labels = frozenset({"cvd::triaged", "cvd::needs_info", "severity::high", "bug"})
    assert frozenset({State.TRIAGED, State.NEEDS_INFO}) == GITLAB.states_named(labels)
    assert None is GITLAB.read_state(labels)
    assert State.TRIAGED is GITLAB.read_state(frozenset({"cvd::triaged", "bug"}))


def test_a_template_without_its_placeholder_reads_as_no_single_state() -> None:
    """A state template that ignores {state} names every state alike: read_state says None."""
    scheme = LabelScheme("sev-{severity}", "security", "sla-{status}", STATUS_NAMES)
    assert None is scheme.read_state(frozenset({"security"}))
    assert Severity.LOW is scheme.read_severity(frozenset({"sev-low"}))


def test_exclusive_update_removes_the_family_rivals_only() -> None:
    """Moving to due-soon removes on-track, keeps team labels, adds the new one."""
    current = frozenset({"sla::on-track", "cvd::triaged", "severity::high", "team::x"})
    desired = GITLAB.for_report(Severity.HIGH, State.TRIAGED, DeadlineStatus.DUE_SOON)
    add, remove = GITLAB.exclusive_update(current, desired)
    assert (frozenset({"sla::due-soon"}), frozenset({"sla::on-track"})) == (add, remove)


def test_a_status_without_a_name_is_refused_when_the_scheme_is_built() -> None:
    """Names are formatted up front: a missing status name fails at once, not mid-pass."""
    with pytest.raises(KeyError):
        LabelScheme("s-{severity}", "c-{state}", "d-{status}", {DeadlineStatus.MET: "met"})

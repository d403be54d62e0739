"""The fake tracker's marker index answers find_issue as a scan of every issue would."""

from __future__ import annotations

from tracker_bridge.ports.tracker import IssueDraft, IssueUpdate
from tracker_bridge.testing.fake_tracker import FakeTracker
from tracker_bridge.testing.payloads import BIDI_TITLE


def test_a_marker_moved_by_the_team_is_found_on_its_new_issue() -> None:
    """A marker removed from one issue and given to another is found on the other one."""
    tracker = FakeTracker()
    first = tracker.open_issue(IssueDraft("CVD-2026-0001", "s", "b"))
    second = tracker.open_issue(IssueDraft("CVD-2026-0002", "s", "b"))
    tracker.team_set_labels(first.key, set(), {"cvd-report::CVD-2026-0001"})
    tracker.team_set_labels(second.key, {"cvd-report::CVD-2026-0001"})
    found = tracker.find_issue("CVD-2026-0001")
    assert second.key == (found.key if found else None)


def test_of_two_issues_with_one_marker_the_first_created_is_found() -> None:
    """When two issues carry a marker, find_issue gives the one created first."""
    tracker = FakeTracker()
    first = tracker.open_issue(IssueDraft("CVD-2026-0001", "s", "b"))
    second = tracker.open_issue(IssueDraft("CVD-2026-0002", "s", "b"))
    tracker.update_issue(second, IssueUpdate(add_labels=frozenset({"cvd-report::CVD-2026-0001"})))
    found = tracker.find_issue("CVD-2026-0001")
    assert first.key == (found.key if found else None)


def test_a_deleted_issue_is_not_found() -> None:
    """An issue the team deleted is no longer found by its marker."""
    tracker = FakeTracker()
    ref = tracker.open_issue(IssueDraft("CVD-2026-0001", "s", "b"))
    tracker.team_delete(ref.key)
    assert tracker.find_issue("CVD-2026-0001") is None


def test_bidi_controls_in_a_title_are_revealed() -> None:
    """Every bidirectional control in a title is shown as [U+XXXX]."""
    tracker = FakeTracker()
    ref = tracker.open_issue(IssueDraft("CVD-2026-0001", BIDI_TITLE, "b"))
    expected = (
        "CVD-2026-0001: Invoice [U+202E]exe.fdp[U+202C] and [U+2067]admin[U+2069] [U+200F][U+061C]"
    )
    assert expected == tracker.issues[ref.key].title

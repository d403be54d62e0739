"""The fake tracker passes the same contract suite as the real plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tracker_bridge.testing.contract import ObservedIssue, TrackerContract
from tracker_bridge.testing.fake_tracker import FakeTracker

if TYPE_CHECKING:
    from datetime import date

    from tracker_bridge.ports.tracker import IssueRef


class FakeHarness:
    """Contract harness around the in-memory fake tracker."""

    def __init__(self) -> None:
        self.tracker = FakeTracker()

    def observe(self, ref: IssueRef) -> ObservedIssue:
        issue = self.tracker.issues[ref.key]
        return ObservedIssue(
            confidential=issue.confidential,
            title=issue.title,
            body=issue.body,
            labels=frozenset(issue.labels),
            status_open=issue.status == "opened",
            due_date=issue.due_date,
            notes=tuple(n.body for n in issue.notes),
        )

    def side_effects(self) -> list[str]:
        return []

    def all_text(self) -> str:
        return "\n".join(
            "\n".join([i.title, i.body, *(n.body for n in i.notes)])
            for i in self.tracker.issues.values()
        )

    def issue_count(self) -> int:
        return len(self.tracker.issues)

    def deny_confidentiality(self) -> None:
        self.tracker.deny_confidentiality = True

    def fail_after_placeholder(self) -> None:
        self.tracker.crash_after_placeholder = True

    def heal(self) -> None:
        self.tracker.crash_after_placeholder = False
        self.tracker.deny_confidentiality = False
        self.tracker.fail_calls = 0

    def team_set_labels(self, ref: IssueRef, add: set[str], remove: set[str]) -> None:
        self.tracker.team_set_labels(ref.key, add, remove)

    def team_close(self, ref: IssueRef) -> None:
        self.tracker.team_set_status(ref.key, "closed")

    def team_set_due_date(self, ref: IssueRef, due: date) -> None:
        self.tracker.team_set_due_date(ref.key, due)

    def team_comment(self, ref: IssueRef, body: str) -> None:
        self.tracker.team_comment(ref.key, body)


class TestFakeTrackerContract(TrackerContract):
    @pytest.fixture
    def harness(self) -> FakeHarness:
        """A fresh fake tracker per test."""
        return FakeHarness()

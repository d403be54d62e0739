"""The tracker contract suite against the Jira plugin and the sandbox, Cloud and Data Center."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import pytest
from tracker_bridge_jira import JiraTracker
from tracker_bridge_jira.markup import adf_to_text
from tracker_bridge_jira.sandbox import JiraSandbox, start_sandbox

from tracker_bridge.testing.contract import ObservedIssue, TrackerContract

from .conftest import FLAVORS, settings_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tracker_bridge.ports import IssueRef

OVERLAP = timedelta(seconds=0.3)
SECURITY_TEAM_LEVEL = "10100"


class SandboxHarness:
    """Contract harness: the plugin over HTTP, the sandbox's team control around it."""

    def __init__(self, sandbox: JiraSandbox) -> None:
        self.sandbox = sandbox
        self.team = sandbox.team
        self.tracker = JiraTracker.from_settings(
            settings_for(sandbox, overlap_minutes=OVERLAP.total_seconds() / 60)
        )

    def observe(self, ref: IssueRef) -> ObservedIssue:
        issue = self.team.issue(ref.key)
        return ObservedIssue(
            confidential=issue.security_level == SECURITY_TEAM_LEVEL,
            title=issue.summary,
            body=issue.description,
            labels=issue.labels,
            status_open=issue.status_category != "done",
            due_date=issue.duedate,
            notes=issue.comments,
        )

    def side_effects(self) -> list[str]:
        return self.team.side_effects()

    def all_text(self) -> str:
        return "\n".join(adf_to_text(text) for text in self.team.raw_texts())

    def issue_count(self) -> int:
        return len(self.team.issue_keys())

    def deny_confidentiality(self) -> None:
        self.team.drop_security()

    def fail_after_placeholder(self) -> None:
        # Every content write after the next create fails, beyond the plugin's retries.
        self.team.inject(500, method="PUT", path=r"/issue/", times=10, after=("POST", r"^/issue$"))

    def heal(self) -> None:
        self.team.heal()

    def team_set_labels(self, ref: IssueRef, add: set[str], remove: set[str]) -> None:
        self.team.relabel(ref.key, add=add, remove=remove)

    def team_close(self, ref: IssueRef) -> None:
        self.team.transition(ref.key, "Done")

    def team_set_due_date(self, ref: IssueRef, due: date) -> None:
        self.team.set_due_date(ref.key, due)

    def team_comment(self, ref: IssueRef, body: str) -> None:
        self.team.comment(ref.key, body)


class TestJiraContract(TrackerContract):
    overlap = OVERLAP
    store_label_prefix = "cvd-store-"

    @pytest.fixture(params=FLAVORS)
    def harness(self, request: pytest.FixtureRequest) -> Iterator[SandboxHarness]:
        sandbox = start_sandbox(flavor=request.param)
        yield SandboxHarness(sandbox)
        sandbox.stop()

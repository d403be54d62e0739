"""Fixtures for the GitLab plugin tests: a sandbox on loopback and the plugin pointed at it."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import gitlab
import pytest
from tracker_bridge_gitlab import GitLabSettings, GitLabTracker
from tracker_bridge_gitlab.sandbox import GitLabSandbox, start_sandbox

from tracker_bridge.testing.contract import ObservedIssue

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tracker_bridge.ports import IssueRef

TOKEN = "sandbox-token"


class GitLabHarness:
    """The contract suite's view of the plugin, the sandbox and the security team."""

    def __init__(self, sandbox: GitLabSandbox, max_retries: int = 2) -> None:
        self.sandbox = sandbox
        self.team = sandbox.team
        self.max_retries = max_retries
        self.tracker = GitLabTracker.from_settings(
            GitLabSettings(
                url=sandbox.url,
                project="security/cvd",
                token=TOKEN,
                timeout=5,
                max_retries=max_retries,
            )
        )

    def observe(self, ref: IssueRef) -> ObservedIssue:
        """The issue as the sandbox stores it."""
        issue = self.team.issue(int(ref.key))
        return ObservedIssue(
            confidential=issue.confidential,
            title=issue.title,
            body=issue.description,
            labels=frozenset(issue.labels),
            status_open=issue.state == "opened",
            due_date=date.fromisoformat(issue.due_date) if issue.due_date else None,
            notes=tuple(self.team.notes(int(ref.key))),
        )

    def side_effects(self) -> list[str]:
        """Quick actions run, notifications sent, images loaded, cross-references made."""
        return self.team.side_effects()

    def all_text(self) -> str:
        """Every stored title, description, label and note."""
        return self.team.all_text()

    def issue_count(self) -> int:
        """Issues in the project."""
        return len(self.team.issues())

    def deny_confidentiality(self) -> None:
        """The token cannot set confidential: GitLab drops the field and still answers 201."""
        self.team.drop_fields("confidential")

    def fail_after_placeholder(self) -> None:
        """Every write of the content fails with 500 until healed (retries included)."""
        self.team.inject_fault(500, count=1000, method="PUT", path_pattern=r"/issues/\d+$")

    def heal(self) -> None:
        """Remove faults and dropped fields."""
        self.team.heal()

    def team_set_labels(self, ref: IssueRef, add: set[str], remove: set[str]) -> None:
        """A team member edits labels."""
        self.team.set_labels(int(ref.key), add, remove)

    def team_close(self, ref: IssueRef) -> None:
        """A team member closes the issue."""
        self.team.close(int(ref.key))

    def team_set_due_date(self, ref: IssueRef, due: date) -> None:
        """A team member sets the due date."""
        self.team.set_due_date(int(ref.key), due)

    def team_comment(self, ref: IssueRef, body: str) -> None:
        """A team member comments."""
        self.team.comment(int(ref.key), body)


@pytest.fixture
def sandbox() -> Iterator[GitLabSandbox]:
    """A fresh GitLab sandbox on a free loopback port."""
    running = start_sandbox()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def gitlab_harness(sandbox: GitLabSandbox) -> GitLabHarness:
    """The plugin pointed at the sandbox, with the team's hands."""
    return GitLabHarness(sandbox)


@pytest.fixture
def gl(sandbox: GitLabSandbox) -> gitlab.Gitlab:
    """A plain python-gitlab client on the sandbox, retrying like the plugin does."""
    return gitlab.Gitlab(sandbox.url, private_token=TOKEN, retry_transient_errors=True)

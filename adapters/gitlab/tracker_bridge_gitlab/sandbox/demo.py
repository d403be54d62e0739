"""The GitLab sandbox as the demo drives it (the ``tracker_bridge.demo_sandboxes`` entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker_bridge.testing.sandbox.demo import DemoSandbox, demo_files
from tracker_bridge_gitlab.sandbox.server import GitLabSandbox, start_sandbox

if TYPE_CHECKING:
    from datetime import date
    from pathlib import Path


class GitLabDemoSandbox(DemoSandbox[GitLabSandbox]):
    """A started GitLab sandbox with the team's hands keyed by issue iid strings."""

    kind = "gitlab"

    def tracker_section(self) -> dict[str, object]:
        """Settings for the GitLab plugin: the sandbox's default project and token."""
        return {"url": self.url, "project": "security/cvd", "token": "sandbox-token"}

    def team_set_labels(self, key: str, add: set[str], remove: set[str]) -> None:
        """Edit labels as a team member."""
        self._sandbox.team.set_labels(int(key), add, remove)

    def team_comment(self, key: str, body: str) -> None:
        """Comment as a team member."""
        self._sandbox.team.comment(int(key), body)

    def team_set_due_date(self, key: str, due: date) -> None:
        """Set the due date as a team member."""
        self._sandbox.team.set_due_date(int(key), due)

    def team_close(self, key: str) -> None:
        """Close the issue as a team member."""
        self._sandbox.team.close(int(key))

    def describe(self, key: str) -> list[tuple[str, str]]:
        """The issue as GitLab shows it to the team."""
        issue = self._sandbox.team.issue(int(key))
        return [
            ("Issue", f"#{issue.iid} ({issue.state}) {self.url}/security/cvd/-/issues/{issue.iid}"),
            ("Title", issue.title),
            ("Confidential", "yes" if issue.confidential else "NO"),
            ("Labels", ", ".join(sorted(issue.labels))),
            ("Due date", issue.due_date or "-"),
            ("Description", issue.description),
            *(("Note", body) for body in self._sandbox.team.notes(int(key))),
        ]

    def refuse_confidentiality(self, refuse: bool = True) -> None:
        """Drop the confidential flag on create and edit (a token lacking the permission)."""
        if refuse:
            self._sandbox.team.drop_fields("confidential")
        else:
            self._sandbox.team.heal()


def start(directory: Path) -> GitLabDemoSandbox:
    """Start a GitLab sandbox whose state and request log live in ``directory``."""
    state_file, log_file = demo_files(directory, GitLabDemoSandbox.kind)
    return GitLabDemoSandbox(start_sandbox(state_file=state_file, log_file=log_file))

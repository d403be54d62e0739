"""The Jira sandbox as the demo drives it (the ``tracker_bridge.demo_sandboxes`` entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker_bridge.testing.sandbox.demo import DemoSandbox, demo_files
from tracker_bridge_jira.sandbox.control import JiraSandbox, start_sandbox

if TYPE_CHECKING:
    from datetime import date
    from pathlib import Path


class JiraDemoSandbox(DemoSandbox[JiraSandbox]):
    """A started Jira Cloud sandbox with the team's hands keyed by issue key."""

    kind = "jira"

    def tracker_section(self) -> dict[str, object]:
        """Settings for the Jira plugin: project SEC, level "Security team", the sandbox user."""
        return {
            "url": self.url,
            "project": "SEC",
            "security_level": "Security team",
            "email": self._sandbox.email,
            "token": self._sandbox.token,
            "retry_wait_seconds": 0.2,
        }

    def team_set_labels(self, key: str, add: set[str], remove: set[str]) -> None:
        """Edit labels as a team member."""
        self._sandbox.team.relabel(key, add=add, remove=remove)

    def team_comment(self, key: str, body: str) -> None:
        """Comment as a team member."""
        self._sandbox.team.comment(key, body)

    def team_set_due_date(self, key: str, due: date) -> None:
        """Set the due date as a team member."""
        self._sandbox.team.set_due_date(key, due)

    def team_close(self, key: str) -> None:
        """Move the issue to Done."""
        self._sandbox.team.transition(key, "Done")

    def describe(self, key: str) -> list[tuple[str, str]]:
        """The issue as Jira shows it to the team."""
        issue = self._sandbox.team.issue(key)
        return [
            ("Issue", f"{issue.key} ({issue.status}) {self.url}/browse/{issue.key}"),
            ("Summary", issue.summary),
            ("Security level", issue.security_level or "NONE"),
            ("Labels", ", ".join(sorted(issue.labels))),
            ("Due date", issue.duedate.isoformat() if issue.duedate else "-"),
            ("Description", issue.description),
            *(("Comment", body) for body in issue.comments),
        ]

    def refuse_confidentiality(self, refuse: bool = True) -> None:
        """Ignore the security level (a token without Set Issue Security)."""
        self._sandbox.team.drop_security(refuse)


def start(directory: Path) -> JiraDemoSandbox:
    """Start a Jira Cloud sandbox whose state and request log live in ``directory``."""
    state_file, log_file = demo_files(directory, JiraDemoSandbox.kind)
    return JiraDemoSandbox(start_sandbox(state_file=state_file, log_file=log_file))

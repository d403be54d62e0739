"""The tracker sandbox a plugin offers the demo and the end-to-end tests.

Plugins register a factory under the entry-point group ``tracker_bridge.demo_sandboxes``;
``tracker_bridge.demo.installation.start_sandbox`` loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import date


class TrackerSandbox(Protocol):
    """A running tracker sandbox the demo drives: the plugin's settings for it and the team's hands.

    Plugins offer one through the entry-point group ``tracker_bridge.demo_sandboxes``, a callable
    taking the demo's working directory and returning a started sandbox.
    """

    kind: str
    url: str

    def tracker_section(self) -> dict[str, object]:
        """The ``[tracker.<kind>]`` settings that point the plugin at this sandbox."""
        ...

    def team_set_labels(self, key: str, add: set[str], remove: set[str]) -> None:
        """A team member edits labels."""
        ...

    def team_comment(self, key: str, body: str) -> None:
        """A team member comments."""
        ...

    def team_set_due_date(self, key: str, due: date) -> None:
        """A team member sets the due date."""
        ...

    def team_close(self, key: str) -> None:
        """A team member closes the issue (GitLab: close; Jira: transition to Done)."""
        ...

    def describe(self, key: str) -> list[tuple[str, str]]:
        """The issue as the team sees it: (field, value) rows, description and notes included."""
        ...

    def side_effects(self) -> list[str]:
        """Everything the tracker did on its own (commands run, people notified, images fetched)."""
        ...

    def advance_clock(self, **delta: float) -> None:
        """Move the tracker's clock (issues' and notes' times) by ``timedelta(**delta)``."""
        ...

    def stop(self) -> None:
        """Stop serving."""
        ...

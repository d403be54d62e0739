"""Everything the Jira sandbox holds (accounts, issues, counters, settings), behind one lock."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracker_bridge.testing.sandbox import FaultSchedule, RequestLog, SandboxClock
from tracker_bridge_jira.sandbox.models import TEAM_TOKEN, SandboxIssue, SandboxUser
from tracker_bridge_jira.sandbox.persistence import load_state, save_state
from tracker_bridge_jira.sandbox.render import adf_side_effects, wiki_side_effects

if TYPE_CHECKING:
    from pathlib import Path


class SandboxState:
    """Everything the sandbox holds, behind one lock."""

    def __init__(
        self,
        flavor: str,
        token: str,
        security_field: bool,
        state_file: Path | None,
        log_file: Path | None,
    ) -> None:
        if flavor not in ("cloud", "datacenter"):
            msg = f"unknown Jira sandbox flavor {flavor!r}; use cloud or datacenter"
            raise ValueError(msg)
        self.flavor = flavor
        self.token = token
        self.security_field = security_field
        self.state_file = state_file
        # One JSON line per request: method, path, status and milliseconds taken.
        self.request_log = RequestLog(log_file, file_fields=("method", "path", "status", "ms"))
        self.lock = threading.RLock()
        self.clock = SandboxClock()
        self.base_url = ""
        # The bridge account lives west of UTC on purpose: JQL minute dates are read in its zone, so
        # a bridge that wrote UTC digits there would ask for a later bound and miss changes.
        self.bridge = SandboxUser(
            "712020:5a1d0c3e-bridge",
            "tracker-bridge",
            "sandbox@example.org",
            "Tracker Bridge",
            "America/Los_Angeles",
        )
        self.team_member = SandboxUser(
            "712020:9b7e4f21-alice",
            "alice",
            "alice@example.org",
            "Alice Security",
            "America/New_York",
        )
        # The team member's own API token (Cloud: with alice's email; Data Center: bearer).
        self.team_token = TEAM_TOKEN
        # The account of the request being answered (set under the lock by the handler).
        self.caller = self.bridge
        self.issues: dict[str, SandboxIssue] = {}
        self.next_issue = 10001
        self.next_comment = 20001
        self.next_history = 30001
        self.notifications: list[str] = []
        self.fetches: list[str] = []
        self.faults = FaultSchedule()
        self.drop_security = False
        # Cloud search/jql is eventually consistent: an issue created or changed within this
        # long is missing from search results unless its id is in ``reconcileIssues``.
        self.search_lag = timedelta(0)
        # Issue key -> (status, field, message): edits of that issue are refused, as Jira
        # answers 400 for a field the project requires or a label it will not take.
        self.refused_edits: dict[str, tuple[int, str, str]] = {}
        load_state(self)

    # -- persistence

    def save(self) -> None:
        """Write the issues to the state file, if there is one."""
        save_state(self)

    def render(self, text: Any) -> None:
        """Do what Jira does when it renders stored text: notify mentions, fetch images."""
        effects = adf_side_effects(text) if isinstance(text, dict) else wiki_side_effects(text)
        for effect in effects:
            if effect.startswith("mention:"):
                self.notifications.append(effect)
            else:
                self.fetches.append(effect)

    def touch(self, issue: SandboxIssue) -> datetime:
        """Move an issue's ``updated`` to now."""
        issue.updated = self.clock.now()
        return issue.updated

    def add_history(
        self, issue: SandboxIssue, author: SandboxUser, items: list[dict[str, Any]]
    ) -> None:
        """Record a changelog entry."""
        issue.histories.append(
            {
                "id": str(self.next_history),
                "author": author.name,
                "created": issue.updated.isoformat(),
                "items": items,
            }
        )
        self.next_history += 1

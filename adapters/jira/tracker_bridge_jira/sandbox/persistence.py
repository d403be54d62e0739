"""The Jira sandbox's state file: issues, comments and id counters as JSON, kept across restarts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from tracker_bridge_jira.sandbox.models import SandboxComment, SandboxIssue

if TYPE_CHECKING:
    from tracker_bridge_jira.sandbox.state import SandboxState


def load_state(state: SandboxState) -> None:
    """Read the issues and id counters from the state file, when it exists.

    Raises:
        ValueError: The file is not the JSON :func:`save_state` writes.
    """
    if state.state_file is None or not state.state_file.exists():
        return
    saved = json.loads(state.state_file.read_text(encoding="utf-8"))
    users = {u.name: u for u in (state.bridge, state.team_member)}
    for raw in saved.get("issues", []):
        comments = [
            SandboxComment(
                c["id"],
                users.get(c["author"], state.team_member),
                c["body"],
                datetime.fromisoformat(c["created"]),
                c.get("visibility"),
            )
            for c in raw.pop("comments")
        ]
        raw["created"] = datetime.fromisoformat(raw["created"])
        raw["updated"] = datetime.fromisoformat(raw["updated"])
        raw["reporter"] = users.get(raw["reporter"], state.bridge)
        issue = SandboxIssue(**raw, comments=comments)
        state.issues[issue.key] = issue
    state.next_issue = saved.get("next_issue", state.next_issue)
    state.next_comment = saved.get("next_comment", state.next_comment)
    state.next_history = saved.get("next_history", state.next_history)


def save_state(state: SandboxState) -> None:
    """Write the issues and id counters to the state file, if there is one."""
    if state.state_file is None:
        return
    issues = []
    for issue in state.issues.values():
        issues.append(
            {
                "issue_id": issue.issue_id,
                "key": issue.key,
                "summary": issue.summary,
                "description": issue.description,
                "labels": issue.labels,
                "duedate": issue.duedate,
                "priority": issue.priority,
                "status": issue.status,
                "security": issue.security,
                "created": issue.created.isoformat(),
                "updated": issue.updated.isoformat(),
                "reporter": issue.reporter.name,
                "histories": issue.histories,
                "comments": [
                    {
                        "id": c.comment_id,
                        "author": c.author.name,
                        "body": c.body,
                        "created": c.created.isoformat(),
                        "visibility": c.visibility,
                    }
                    for c in issue.comments
                ],
            }
        )
    payload = {
        "issues": issues,
        "next_issue": state.next_issue,
        "next_comment": state.next_comment,
        "next_history": state.next_history,
    }
    state.state_file.write_text(json.dumps(payload, indent=1), encoding="utf-8")

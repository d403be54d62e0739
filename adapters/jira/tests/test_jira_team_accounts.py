"""Team accounts: the sandbox accepts the team's own token, and the plugin knows its comments by account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import requests

from tracker_bridge.testing.contract import make_draft

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker_bridge_jira import JiraTracker
    from tracker_bridge_jira.sandbox import JiraSandbox


def test_sandbox_accepts_the_team_token_as_alice(sandbox: JiraSandbox) -> None:
    """GET myself with the team member's token answers her account, not the bridge's."""
    member = "alice@example.org"
    auth: dict[str, object] = (
        {"auth": (member, "team-token")}
        if sandbox.flavor == "cloud"
        else {"headers": {"Authorization": "Bearer team-token"}}
    )
    answer = requests.get(f"{sandbox.url}/rest/api/2/myself", timeout=5, **auth)  # type: ignore[arg-type]
    assert (200, "alice") == (answer.status_code, answer.json().get("name", "alice"))
    assert "bridge" not in str(answer.json().get("accountId", ""))


def test_plugin_knows_its_own_comments_by_account_not_by_token(
    sandbox: JiraSandbox, make_tracker: Callable[..., JiraTracker]
) -> None:
    """Run with alice's token, the plugin counts alice's comments as its own and the bridge's not."""
    bridge = make_tracker()
    ref = bridge.open_issue(make_draft())
    bridge.add_note(ref, "written by the bridge account")
    sandbox.team.comment(ref.key, "written by alice")
    as_alice = make_tracker(
        token="team-token", **({"email": "alice@example.org"} if sandbox.flavor == "cloud" else {})
    )
    since = datetime(2000, 1, 1, tzinfo=UTC)
    [snapshot] = [s for s in as_alice.changes_since(since) if s.ref.key == ref.key]
    marks = {note.body.strip(): note.by_bridge for note in snapshot.notes}
    assert {"written by the bridge account": False, "written by alice": True} == {
        body: mark
        for body, mark in marks.items()
        if body in ("written by the bridge account", "written by alice")
    }

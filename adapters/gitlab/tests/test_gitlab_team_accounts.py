"""Team accounts: the sandbox accepts the team's own token, and the plugin knows its notes by account."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests
from tracker_bridge_gitlab import GitLabSettings, GitLabTracker

from tracker_bridge.testing.contract import make_draft

if TYPE_CHECKING:
    from tracker_bridge_gitlab.sandbox import GitLabSandbox


def plugin(sandbox: GitLabSandbox, token: str) -> GitLabTracker:
    """The plugin with ``token``; the account is read from GET /user."""
    return GitLabTracker(
        GitLabSettings(url=sandbox.url, project="security/cvd", token=token, max_retries=0)
    )


def test_sandbox_accepts_the_team_token_as_alice(sandbox: GitLabSandbox) -> None:
    """GET /user answers the token's own account; an unknown token is refused."""
    users = [
        requests.get(f"{sandbox.url}/api/v4/user", headers={"PRIVATE-TOKEN": token}, timeout=5)
        for token in ("sandbox-token", "team-token", "nobody")
    ]
    assert [(200, "tracker-bridge"), (200, "alice"), (401, None)] == [
        (u.status_code, u.json().get("username")) for u in users
    ]


def test_team_hands_act_through_the_team_token(sandbox: GitLabSandbox) -> None:
    """A team comment reaches GitLab over HTTP with alice's token and is hers."""
    ref = plugin(sandbox, "sandbox-token").open_issue(make_draft())
    sandbox.team.comment(int(ref.key), "looking into it")
    authors = [
        (n["author"]["username"], n["body"])
        for n in requests.get(
            f"{sandbox.url}/api/v4/projects/1/issues/{ref.key}/notes",
            headers={"PRIVATE-TOKEN": "sandbox-token"},
            timeout=5,
        ).json()
        if not n["system"]
    ]
    assert ("alice", "looking into it") in authors
    assert 1 == sum(1 for r in sandbox.requests if r.method == "POST" and r.path.endswith("/notes"))


def test_plugin_knows_its_own_notes_by_account_not_by_token(sandbox: GitLabSandbox) -> None:
    """Run with alice's token, the plugin counts alice's notes as its own and the bridge's not."""
    bridge = plugin(sandbox, "sandbox-token")
    ref = bridge.open_issue(make_draft())
    bridge.add_note(ref, "written by the bridge account")
    sandbox.team.comment(int(ref.key), "written by alice")
    [snapshot] = [s for s in plugin(sandbox, "team-token").changes_since(None) if s.ref == ref]
    assert {"written by the bridge account": False, "written by alice": True} == {
        n.body: n.by_bridge for n in snapshot.notes
    }

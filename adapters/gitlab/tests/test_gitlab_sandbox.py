"""Sandbox fidelity: python-gitlab (and raw HTTP) see GitLab's behaviour, shapes and headers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import gitlab
import gitlab.exceptions
import pytest
import requests
from tracker_bridge_gitlab.sandbox import GitLabSandbox, start_sandbox

from tracker_bridge.testing import INJECTION_PAYLOADS

if TYPE_CHECKING:
    from pathlib import Path

TOKEN = "sandbox-token"
HEADERS = {"PRIVATE-TOKEN": TOKEN}


def test_close_line_in_description_closes_the_issue(gl: gitlab.Gitlab) -> None:
    """A /close line in a new issue's description closes it and is stripped from the text."""
    project = gl.projects.get("security/cvd", lazy=True)
    issue = project.issues.create({"title": "t", "description": "found a bug\n/close\nthanks"})
    stored = project.issues.get(issue.iid)
    assert ("closed", "found a bug\nthanks") == (stored.state, stored.description)


def test_quick_actions_inside_a_fenced_block_do_nothing(
    gl: gitlab.Gitlab, sandbox: GitLabSandbox
) -> None:
    """Quick actions inside ``` or ~~~ fences stay as text and run nothing."""
    project = gl.projects.get(1, lazy=True)
    text = "```\n/close\n/label ~x\n```\n~~~\n/reopen\n~~~"
    issue = project.issues.create({"title": "t", "description": text})
    assert ("opened", text, []) == (issue.state, issue.description, sandbox.team.side_effects())


@pytest.mark.parametrize(
    ("text", "closed"),
    [
        ("<!-- comment -->\n/close", True),  # an HTML comment block ends at its own line
        ("> quoted\n/close", False),  # lazy continuation: /close is inside the blockquote
        ("   /close", False),  # GitLab's regex wants "/" in the first column
        ("/closed", False),  # a longer word is not the command
        ("\r\n/close\r\n", True),  # GitLab deletes \r first
        ("/CLOSE", True),  # command names are case-insensitive
        ("`x\n/close\ny`", False),  # inside an inline-code span over lines
    ],
)
def test_quick_action_position_rules_follow_gitlab(
    gl: gitlab.Gitlab, text: str, closed: bool
) -> None:
    """Where a /close line runs follows GitLab's extractor (top-level paragraphs only)."""
    issue = gl.projects.get(1, lazy=True).issues.create({"title": "t", "description": text})
    assert closed == (issue.state == "closed")


def test_note_quick_actions_run_and_mentions_notify(
    gl: gitlab.Gitlab, sandbox: GitLabSandbox
) -> None:
    """A note's /label runs and its @all mention is recorded as a notification."""
    issue = gl.projects.get(1, lazy=True).issues.create({"title": "t"})
    note = issue.notes.create({"body": "hi @all\n/label ~public", "internal": True})
    stored = gl.projects.get(1, lazy=True).issues.get(issue.iid)
    assert (["public"], "hi @all", True) == (stored.labels, note.body, note.internal)
    assert any("notify @all" in effect for effect in sandbox.team.side_effects())


def test_project_by_id_and_by_encoded_path_is_the_same(gl: gitlab.Gitlab) -> None:
    """GET /projects/1 and /projects/security%2Fcvd answer the same project."""
    by_id = gl.projects.get(1)
    by_path = gl.projects.get("security/cvd")
    assert (1, "security/cvd") == (by_path.id, by_path.path_with_namespace)
    assert by_id.id == by_path.id


def test_pagination_headers_match_gitlab(sandbox: GitLabSandbox, gl: gitlab.Gitlab) -> None:
    """A middle page carries X-Page, X-Next-Page, X-Total(-Pages) and a Link with next/prev."""
    project = gl.projects.get(1, lazy=True)
    for n in range(25):
        project.issues.create({"title": f"issue {n}"})
    answer = requests.get(
        f"{sandbox.url}/api/v4/projects/security%2Fcvd/issues",
        params={"per_page": 10, "page": 2},
        headers=HEADERS,
        timeout=5,
    )
    headers = answer.headers
    assert ("2", "10", "25", "3", "3", "1") == (
        headers["X-Page"],
        headers["X-Per-Page"],
        headers["X-Total"],
        headers["X-Total-Pages"],
        headers["X-Next-Page"],
        headers["X-Prev-Page"],
    )
    assert {"next", "prev", "first", "last"} == set(answer.links)
    assert "page=3" in answer.links["next"]["url"]
    assert 25 == len(project.issues.list(get_all=True, per_page=10))


def test_429_then_success_through_python_gitlab_retry(
    gl: gitlab.Gitlab, sandbox: GitLabSandbox
) -> None:
    """Two 429s with Retry-After are retried by python-gitlab and the third request succeeds."""
    sandbox.team.inject_fault(429, count=2, method="GET", path_pattern="/projects/")
    project = gl.projects.get(1)
    assert 1 == project.id
    assert [429, 429, 200] == [r.status for r in sandbox.team.requests()]


def test_429_carries_retry_after_and_ratelimit_headers(sandbox: GitLabSandbox) -> None:
    """A rate-limited answer has an integer Retry-After and RateLimit-* headers."""
    sandbox.team.inject_fault(429, retry_after=7)
    answer = requests.get(f"{sandbox.url}/api/v4/user", headers=HEADERS, timeout=5)
    assert (429, "7", "0") == (
        answer.status_code,
        answer.headers["Retry-After"],
        answer.headers["RateLimit-Remaining"],
    )
    assert {"RateLimit-Limit", "RateLimit-Reset", "RateLimit-ResetTime"} <= set(answer.headers)


def test_401_body_shape(sandbox: GitLabSandbox) -> None:
    """A wrong token gets 401 with GitLab's JSON body; python-gitlab raises its auth error."""
    answer = requests.get(
        f"{sandbox.url}/api/v4/user", headers={"PRIVATE-TOKEN": "wrong"}, timeout=5
    )
    assert (401, "application/json", {"message": "401 Unauthorized"}) == (
        answer.status_code,
        answer.headers["Content-Type"],
        answer.json(),
    )
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        gitlab.Gitlab(sandbox.url, private_token="wrong").auth()


def test_404_body_shape(sandbox: GitLabSandbox) -> None:
    """An unknown project gets 404 with a message body."""
    answer = requests.get(
        f"{sandbox.url}/api/v4/projects/evil%2Fpublic", headers=HEADERS, timeout=5
    )
    assert (404, {"message": "404 Project Not Found"}) == (answer.status_code, answer.json())


def test_drop_fields_answers_201_without_the_field(gl: gitlab.Gitlab) -> None:
    """With confidential dropped, create still answers 201 but the issue is not confidential."""
    sandbox = start_sandbox(drop_fields=("confidential",))
    try:
        client = gitlab.Gitlab(sandbox.url, private_token=TOKEN)
        issue = client.projects.get(1, lazy=True).issues.create(
            {"title": "t", "confidential": True}
        )
        assert (201, False) == (sandbox.team.requests()[-1].status, issue.confidential)
    finally:
        sandbox.stop()


def test_updated_after_is_inclusive_and_sorted_ascending(gl: gitlab.Gitlab) -> None:
    """updated_after keeps an issue updated exactly then; sort=asc lists oldest change first."""
    project = gl.projects.get(1, lazy=True)
    first = project.issues.create({"title": "first"})
    second = project.issues.create({"title": "second"})
    project.issues.update(first.iid, {"add_labels": "touched"})
    listed = project.issues.list(
        updated_after=second.updated_at, order_by="updated_at", sort="asc", get_all=True
    )
    assert [second.iid, first.iid] == [i.iid for i in listed]


def test_updated_at_moves_on_every_change(gl: gitlab.Gitlab) -> None:
    """Each edit and note moves updated_at forward."""
    project = gl.projects.get(1, lazy=True)
    issue = project.issues.create({"title": "t"})
    stamps = [issue.updated_at]
    project.issues.update(issue.iid, {"due_date": "2027-01-15"})
    stamps.append(project.issues.get(issue.iid).updated_at)
    issue.notes.create({"body": "seen"})
    stamps.append(project.issues.get(issue.iid).updated_at)
    assert sorted(set(stamps)) == stamps


def test_advanced_clock_stamps_later_changes_later(
    gl: gitlab.Gitlab, sandbox: GitLabSandbox
) -> None:
    """After advance_clock(days=2), a new issue's created_at is two days after the last one's."""
    project = gl.projects.get(1, lazy=True)
    before = project.issues.create({"title": "before"})
    sandbox.team.advance_clock(days=2)
    after = project.issues.create({"title": "after"})
    gap = datetime.fromisoformat(after.created_at) - datetime.fromisoformat(before.created_at)
    assert timedelta(days=2) == gap - gap % timedelta(minutes=1)


def test_events_list_note_bodies(gl: gitlab.Gitlab) -> None:
    """Project events with target_type=note carry the note body and the issue iid."""
    project = gl.projects.get(1, lazy=True)
    issue = project.issues.create({"title": "t"})
    issue.notes.create({"body": "we reproduced it", "internal": True})
    events = project.events.list(target_type="note", action="commented", get_all=True)
    note = events[0].note
    assert ("commented on", "we reproduced it", issue.iid, "Issue", True) == (
        events[0].action_name,
        note["body"],
        note["noteable_iid"],
        note["noteable_type"],
        note["internal"],
    )


def test_resource_state_and_label_events(gl: gitlab.Gitlab, sandbox: GitLabSandbox) -> None:
    """Closing and labelling leave resource state and label events."""
    project = gl.projects.get(1, lazy=True)
    issue = project.issues.create({"title": "t"})
    sandbox.team.set_labels(issue.iid, {"severity::high"})
    sandbox.team.close(issue.iid)
    fresh = project.issues.get(issue.iid)
    states = [e.state for e in fresh.resourcestateevents.list(get_all=True)]
    labels = [(e.action, e.label["name"]) for e in fresh.resourcelabelevents.list(get_all=True)]
    assert (["closed"], [("add", "severity::high")]) == (states, labels)


def test_state_file_keeps_issues_across_restarts(tmp_path: Path) -> None:
    """With a state file, a restarted sandbox still has its issues."""
    state = tmp_path / "state.json"
    first = start_sandbox(state_file=state)
    try:
        gitlab.Gitlab(first.url, private_token=TOKEN).projects.get(1, lazy=True).issues.create(
            {"title": "kept"}
        )
    finally:
        first.stop()
    second = start_sandbox(state_file=state)
    try:
        assert ["kept"] == [i.title for i in second.team.issues()]
    finally:
        second.stop()


def test_log_file_has_one_json_line_per_request(tmp_path: Path) -> None:
    """--log writes method, path, query and status for each request."""
    log = tmp_path / "requests.jsonl"
    sandbox = start_sandbox(log_file=log)
    try:
        requests.get(f"{sandbox.url}/api/v4/version?x=1", headers=HEADERS, timeout=5)
    finally:
        sandbox.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [
        {"method": "GET", "path": "/api/v4/version", "query": {"x": ["1"]}, "status": 200}
    ] == lines


# The GitLab payloads of the shared list (the rest are Jira wiki markup).
GITLAB_PAYLOADS = INJECTION_PAYLOADS[:32]
# Payloads GitLab itself leaves alone when posted raw (wrong column, code, quote, a reference
# to the issue itself or to nothing, markup that loads nothing): the neutraliser still
# defuses them, but the sandbox cannot show a failure for these.
INERT_WHEN_RAW = frozenset(
    {
        "   /close",
        "```\n/close\n```",
        "````\n```\n/close\n````",
        "> quoted\n/close",
        "\u200b/close",
        "see #1 and !1 and ~public and %v1.0 and $1",
        "security/cvd#1 and evil/project!2",
        '<a href="https://evil.example">click</a>',
        "<script>alert(1)</script>",
        "[link](javascript:alert(1))",
    }
)


@pytest.mark.parametrize("payload", GITLAB_PAYLOADS)
def test_sandbox_shows_raw_payloads(
    gl: gitlab.Gitlab, sandbox: GitLabSandbox, payload: str
) -> None:
    """Posted raw (not neutralised), live payloads cause a side effect the contract suite sees."""
    gl.projects.get(1, lazy=True).issues.create({"title": "t", "description": payload})
    assert (payload not in INERT_WHEN_RAW) == bool(sandbox.team.side_effects())


def test_cli_prints_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The click command prints the base URL first, serves, and exits 0 on SIGTERM."""
    code = "from tracker_bridge_gitlab.sandbox.cli import command; command()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--drop-fields", "confidential"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        answer = requests.get(f"{url}/api/v4/version", headers=HEADERS, timeout=5)
        assert (200, "17.11.0") == (answer.status_code, answer.json()["version"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert 0 == proc.returncode


def test_upload_answers_like_gitlab(gl: gitlab.Gitlab, sandbox: GitLabSandbox) -> None:
    """POST /projects/:id/uploads through python-gitlab returns id, alt, url, full_path, markdown."""
    project = gl.projects.get(1, lazy=True)
    answer = project.upload("trace.txt", filedata=b"stack trace")
    assert {"id", "alt", "url", "full_path", "markdown"} <= set(answer)
    assert answer["url"].startswith("/uploads/")
    assert answer["url"].endswith("/trace.txt")
    assert f"[trace]({answer['url']})" == answer["markdown"]
    assert b"stack trace" == sandbox.state.uploads[0].data

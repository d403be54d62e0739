"""The GitLab plugin beyond the contract: request budget, neutralised titles, errors at the seam."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError
from tracker_bridge_gitlab import GitLabSettings, GitLabTracker

from tracker_bridge.errors import ConfidentialityError, TrackerAuthError, TrackerUnavailable
from tracker_bridge.ports.intake import Attachment, AttachmentInfo
from tracker_bridge.ports.tracker import IssueDraft, IssueUpdate
from tracker_bridge.testing import CANARY

if TYPE_CHECKING:
    from tracker_bridge_gitlab.sandbox import GitLabSandbox

TOKEN = "sandbox-token"


def tracker_for(sandbox: GitLabSandbox, **settings: object) -> GitLabTracker:
    """The plugin on the sandbox with test-friendly settings."""
    values: dict[str, object] = {
        "url": sandbox.url,
        "project": "security/cvd",
        "token": TOKEN,
        "timeout": 5,
        "max_retries": 1,
    }
    values.update(settings)
    return GitLabTracker.from_settings(GitLabSettings.model_validate(values))


def draft(report_id: str = "CVD-2026-0001", **fields: object) -> IssueDraft:
    """A draft with the canary in its body."""
    values: dict[str, object] = {
        "report_id": report_id,
        "title": "XSS in login",
        "body": f"{CANARY}\nsteps",
        "summary": (("Report", report_id),),
    }
    values.update(fields)
    return IssueDraft(**values)  # type: ignore[arg-type]


def test_no_changes_since_the_bookmark_costs_at_most_two_requests(sandbox: GitLabSandbox) -> None:
    """With 30 tracked issues and nothing changed, changes_since makes at most 2 requests."""
    tracker = tracker_for(sandbox)
    for n in range(30):
        tracker.open_issue(draft(f"CVD-2026-{n:04d}"))
    bookmark = max(s.updated_at for s in tracker.changes_since(None)) + timedelta(milliseconds=1)
    sandbox.team.reset_request_log()
    assert [] == list(tracker.changes_since(bookmark))
    assert sandbox.team.request_count() <= 2


def test_hundred_changed_issues_cost_one_page_plus_two(sandbox: GitLabSandbox) -> None:
    """100 changed issues, each with a team comment, cost at most 2 + ceil(100/100) requests."""
    tracker = tracker_for(sandbox)
    for n in range(100):
        tracker.open_issue(draft(f"CVD-2026-{n:04d}"))
    bookmark = max(s.updated_at for s in tracker.changes_since(None)) + timedelta(milliseconds=1)
    for issue in sandbox.team.issues():
        sandbox.team.comment(issue.iid, "triaged")
    sandbox.team.reset_request_log()
    changed = list(tracker.changes_since(bookmark))
    assert (100, 100) == (len(changed), sum(len(s.notes) for s in changed))
    assert sandbox.team.request_count() <= 3


def test_changes_since_marks_the_bridges_own_notes(sandbox: GitLabSandbox) -> None:
    """Notes written by the token's user are by_bridge; a team member's are not."""
    tracker = tracker_for(sandbox)
    ref = tracker.open_issue(draft())
    tracker.add_note(ref, "Acknowledgement sent")
    sandbox.team.comment(int(ref.key), "[to researcher]\nthanks", internal=False)
    (snapshot,) = list(tracker.changes_since(None))
    assert [
        ("Acknowledgement sent", True, True),
        ("[to researcher]\nthanks", False, False),
    ] == [(n.body, n.by_bridge, n.internal) for n in snapshot.notes]


def test_changes_since_lists_only_notes_after_the_bookmark(sandbox: GitLabSandbox) -> None:
    """A note older than the bookmark is not listed again."""
    tracker = tracker_for(sandbox, bridge_username="tracker-bridge")
    ref = tracker.open_issue(draft())
    sandbox.team.comment(int(ref.key), "old")
    bookmark = next(iter(tracker.changes_since(None))).updated_at + timedelta(milliseconds=1)
    sandbox.team.comment(int(ref.key), "new")
    (snapshot,) = list(tracker.changes_since(bookmark))
    assert ["new"] == [n.body for n in snapshot.notes]


def test_hostile_title_is_inert(sandbox: GitLabSandbox) -> None:
    """Mentions and references in the researcher's subject notify nobody."""
    tracker = tracker_for(sandbox)
    ref = tracker.open_issue(draft(title="@all see #1 /close ~public %v1 $2 & more"))
    assert ([], "opened") == (sandbox.team.side_effects(), sandbox.team.issue(int(ref.key)).state)
    assert "CVD-2026-0001: @" in sandbox.team.issue(int(ref.key)).title


def test_hostile_summary_and_attachment_names_are_inert(sandbox: GitLabSandbox) -> None:
    """Researcher-controlled summary values and file names cause no side effect."""
    tracker = tracker_for(sandbox)
    tracker.open_issue(
        draft(
            summary=(("Credit", "@all\n/close"), ("Pseudonym", "![x](https://evil.example/a.png)")),
            attachments=(AttachmentInfo("`/close` @root.png", "image/png", 10, "ab" * 32),),
            unencrypted_parts=("<img src=https://evil.example/p.gif>",),
        )
    )
    assert [] == sandbox.team.side_effects()


def test_researcher_address_is_withheld_unless_configured(sandbox: GitLabSandbox) -> None:
    """Mail addresses in summary values are withheld by default and kept when configured."""
    summary = (("Researcher", "Eve <eve@research.example>"),)
    hidden = tracker_for(sandbox).open_issue(draft("CVD-2026-0001", summary=summary))
    shown = tracker_for(sandbox, show_researcher_address=True).open_issue(
        draft("CVD-2026-0002", summary=summary)
    )
    assert "eve@research.example" not in sandbox.team.issue(int(hidden.key)).description
    assert "eve@research.example" in sandbox.team.issue(int(shown.key)).description


def test_attachments_are_listed_with_size_and_digest(sandbox: GitLabSandbox) -> None:
    """Attachments are described (name, size, sha256), not uploaded."""
    digest = "0f" * 32
    ref = tracker_for(sandbox).open_issue(
        draft(attachments=(AttachmentInfo("poc.py", "text/x-python", 1234, digest),))
    )
    description = sandbox.team.issue(int(ref.key)).description
    assert "1234 bytes" in description
    assert digest in description


def test_attachments_are_not_uploaded_unless_configured(sandbox: GitLabSandbox) -> None:
    """By default no upload request is made even when the draft carries the bytes."""
    poc = Attachment("poc.py", "text/x-python", b"print(1)\n", "ab" * 32)
    tracker_for(sandbox).open_issue(draft(attachments=(poc.info,), attachment_files=(poc,)))
    assert 0 == sandbox.team.request_count("POST", "/uploads")
    assert [] == sandbox.state.uploads


def test_attachments_are_uploaded_when_configured(sandbox: GitLabSandbox) -> None:
    """With upload_attachments the files reach GitLab and the issue links them by GitLab's URL."""
    poc = Attachment("@all #1 poc.py", "text/x-python", b"print(1)\n", "ab" * 32)
    ref = tracker_for(sandbox, upload_attachments=True).open_issue(
        draft(attachments=(poc.info,), attachment_files=(poc,))
    )
    [upload] = sandbox.state.uploads
    assert b"print(1)\n" == upload.data
    description = sandbox.team.issue(int(ref.key)).description
    assert f"]({upload.url})" in description
    assert "uploaded to this issue" in description
    assert [] == sandbox.team.side_effects()


def test_upload_waits_for_confidentiality(sandbox: GitLabSandbox) -> None:
    """When the issue cannot be made confidential, no attachment is uploaded."""
    sandbox.team.drop_fields("confidential")
    poc = Attachment("poc.py", "text/x-python", b"secret exploit", "ab" * 32)
    with pytest.raises(ConfidentialityError):
        tracker_for(sandbox, upload_attachments=True).open_issue(
            draft(attachments=(poc.info,), attachment_files=(poc,))
        )
    assert [] == sandbox.state.uploads


def test_open_writes_due_date_and_labels(sandbox: GitLabSandbox) -> None:
    """The draft's labels, the marker and its due date are on the issue."""
    ref = tracker_for(sandbox).open_issue(
        draft(labels=frozenset({"severity::high", "cvd::received"}), due_date=date(2027, 2, 1))
    )
    issue = sandbox.team.issue(int(ref.key))
    assert (["cvd-report::CVD-2026-0001", "cvd::received", "severity::high"], "2027-02-01") == (
        issue.labels,
        issue.due_date,
    )


def test_update_issue_is_one_put(sandbox: GitLabSandbox) -> None:
    """Labels added and removed and the due date go in one PUT."""
    tracker = tracker_for(sandbox)
    ref = tracker.open_issue(draft(labels=frozenset({"sla::on-track"})))
    sandbox.team.reset_request_log()
    tracker.update_issue(
        ref,
        IssueUpdate(
            add_labels=frozenset({"sla::due-soon"}),
            remove_labels=frozenset({"sla::on-track"}),
            set_due_date=True,
            due_date=date(2027, 1, 1),
        ),
    )
    assert [("PUT", 200)] == [(r.method, r.status) for r in sandbox.team.requests()]


def test_rate_limit_once_is_retried(sandbox: GitLabSandbox) -> None:
    """One 429 with Retry-After is waited out and the open succeeds."""
    sandbox.team.inject_fault(429, count=1, method="POST")
    ref = tracker_for(sandbox).open_issue(draft())
    assert CANARY in sandbox.team.issue(int(ref.key)).description


def test_persistent_rate_limit_is_retriable_and_leaks_nothing(sandbox: GitLabSandbox) -> None:
    """429 beyond max_retries raises TrackerUnavailable without token or report text."""
    sandbox.team.inject_fault(429, count=10)
    with pytest.raises(TrackerUnavailable) as caught:
        tracker_for(sandbox).open_issue(draft())
    assert (False, False, "HTTP 429" in str(caught.value)) == (
        TOKEN in str(caught.value),
        CANARY in str(caught.value),
        True,
    )


def test_server_errors_become_retriable_after_bounded_retries(sandbox: GitLabSandbox) -> None:
    """500s on reading are retried max_retries times, then TrackerUnavailable."""
    sandbox.team.inject_fault(500, count=10, method="GET")
    with pytest.raises(TrackerUnavailable):
        tracker_for(sandbox, max_retries=2).find_issue("CVD-2026-0001")
    assert 3 == sandbox.team.request_count("GET")


def test_slow_gitlab_times_out_as_retriable(sandbox: GitLabSandbox) -> None:
    """A response slower than the timeout becomes TrackerUnavailable."""
    sandbox.team.inject_fault(0, count=1, delay=1.0)
    with pytest.raises(TrackerUnavailable):
        tracker_for(sandbox, timeout=0.2, max_retries=0).find_issue("CVD-2026-0001")


def test_wrong_token_is_an_auth_error_without_the_token(sandbox: GitLabSandbox) -> None:
    """401 becomes TrackerAuthError and the message does not carry the token."""
    with pytest.raises(TrackerAuthError) as caught:
        tracker_for(sandbox, token="glpat-secret-value").find_issue("CVD-2026-0001")
    assert "glpat-secret-value" not in str(caught.value)


def test_forbidden_is_an_auth_error(sandbox: GitLabSandbox) -> None:
    """403 becomes TrackerAuthError."""
    sandbox.team.inject_fault(403, count=1, retry_after=None)
    with pytest.raises(TrackerAuthError):
        tracker_for(sandbox).find_issue("CVD-2026-0001")


def test_from_settings_makes_no_request() -> None:
    """Building the tracker contacts nothing (the URL points at a closed port)."""
    tracker = GitLabTracker.from_settings(
        GitLabSettings(url="http://127.0.0.1:9", project="security/cvd", token=TOKEN)
    )
    assert "gitlab" == tracker.kind


def test_settings_refuse_unknown_keys() -> None:
    """A misspelt setting is an error, not silently ignored."""
    with pytest.raises(ValidationError):
        GitLabSettings.model_validate(
            {"url": "http://x", "project": "p", "token": "t", "max_retry": 3}
        )


def test_confidentiality_refused_leaves_only_the_placeholder(sandbox: GitLabSandbox) -> None:
    """When GitLab drops confidential, only the report id was written, in the title."""
    sandbox.team.drop_fields("confidential")
    with pytest.raises(Exception, match="not confidential"):
        tracker_for(sandbox).open_issue(draft())
    (issue,) = sandbox.team.issues()
    assert ("CVD-2026-0001", "", False) == (issue.title, issue.description, issue.confidential)

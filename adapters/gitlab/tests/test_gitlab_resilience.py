"""The GitLab plugin under refusals, deleted issues, lost answers and updated_at that stands still."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import stamina
from tracker_bridge_gitlab import GitLabSettings, GitLabTracker

from tracker_bridge.errors import (
    ConfigurationError,
    NotFoundError,
    TrackerRefused,
    TrackerUnavailable,
)
from tracker_bridge.ports import IssueDraft, IssueRef, IssueUpdate
from tracker_bridge.testing import CANARY

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tracker_bridge_gitlab.sandbox import GitLabSandbox

TOKEN = "sandbox-token"


@pytest.fixture
def no_waiting() -> Iterator[None]:
    """Stamina's test mode: up to three attempts, none of them waited for."""
    with stamina.set_testing(True, attempts=3):
        yield


def tracker_for(sandbox: GitLabSandbox, **settings: object) -> GitLabTracker:
    """The plugin on the sandbox; waits long enough that any real backoff would show."""
    values: dict[str, object] = {
        "url": sandbox.url,
        "project": "security/cvd",
        "token": TOKEN,
        "timeout": 5,
        "max_retries": 2,
        "retry_wait_seconds": 30,
    }
    values.update(settings)
    return GitLabTracker.from_settings(GitLabSettings.model_validate(values))


def draft(report_id: str = "CVD-2026-0001") -> IssueDraft:
    """A draft with the canary in its body."""
    return IssueDraft(
        report_id=report_id,
        title="XSS in login",
        body=f"{CANARY}\nsteps",
        summary=(("Report", report_id),),
        labels=frozenset({"cvd::received"}),
    )


def test_retries_run_without_waiting_under_stamina_testing(
    sandbox: GitLabSandbox, no_waiting: None
) -> None:
    """Two 500s and a 30 s backoff setting: stamina's test mode retries at once and succeeds."""
    sandbox.team.inject_fault(500, count=2, method="GET")
    started = time.monotonic()
    found = tracker_for(sandbox).find_issue("CVD-2026-0001")
    assert (None, 3, True) == (
        found,
        sandbox.team.request_count("GET"),
        time.monotonic() - started < 5,
    )


def test_a_refused_edit_is_skippable_and_names_only_the_field(
    sandbox: GitLabSandbox, no_waiting: None
) -> None:
    """422 on one issue's edit is TrackerRefused naming the field, without the label sent."""
    tracker = tracker_for(sandbox)
    ref = tracker.open_issue(draft())
    sandbox.team.refuse_edits(int(ref.key), status=422, field="labels")
    sandbox.team.reset_request_log()
    with pytest.raises(TrackerRefused) as caught:
        tracker.update_issue(ref, IssueUpdate(add_labels=frozenset({"secret-label-value"})))
    assert (True, False, 1) == (
        "HTTP 422 (fields: labels)" in str(caught.value),
        "secret-label-value" in str(caught.value),
        sandbox.team.request_count("PUT", f"/issues/{ref.key}"),
    )


def test_an_issue_deleted_by_hand_is_not_found(sandbox: GitLabSandbox, no_waiting: None) -> None:
    """An edit of an issue that no longer exists is NotFoundError (skippable), not a crash."""
    ref = IssueRef("gitlab", "security/cvd", "404", f"{sandbox.url}/issues/404")
    with pytest.raises(NotFoundError, match="issue 404"):
        tracker_for(sandbox).update_issue(ref, IssueUpdate(add_labels=frozenset({"x"})))


def test_a_wrong_project_is_a_configuration_error(sandbox: GitLabSandbox) -> None:
    """A project the token cannot see is fatal and says which setting to fix."""
    with pytest.raises(ConfigurationError, match=r"tracker\.gitlab\.project"):
        tracker_for(sandbox, project="security/nope").find_issue("CVD-2026-0001")


def test_a_create_that_timed_out_but_succeeded_opens_one_issue(sandbox: GitLabSandbox) -> None:
    """GitLab makes the issue but the answer is lost: the next open finds it, no second issue."""
    sandbox.team.inject_fault(0, count=1, method="POST", delay=0.6, applied=True)
    tracker = tracker_for(sandbox, timeout=0.3)
    with pytest.raises(TrackerUnavailable):
        tracker.open_issue(draft())
    ref = tracker.open_issue(draft())
    assert (1, True) == (
        len(sandbox.team.issues()),
        CANARY in sandbox.team.issue(int(ref.key)).description,
    )


def test_label_edits_that_keep_updated_at_are_still_seen(sandbox: GitLabSandbox) -> None:
    """A label edit that leaves updated_at behind the bookmark is still listed once."""
    sandbox.team.keep_updated_at_on_label_edits(60)
    tracker = tracker_for(sandbox)
    first = tracker.open_issue(draft("CVD-2026-0001"))
    tracker.open_issue(draft("CVD-2026-0002"))
    bookmark = max(s.updated_at for s in tracker.changes_since(None))
    sandbox.team.set_labels(int(first.key), {"cvd::triaged"}, {"cvd::received"})
    seen = [s for s in tracker.changes_since(bookmark) if s.ref.key == first.key]
    again = [s for s in tracker.changes_since(bookmark) if s.ref.key == first.key]
    assert ([True], [True], []) == (
        [s.updated_at < bookmark for s in seen],
        ["cvd::triaged" in s.labels for s in seen],
        again,
    )

"""The Jira plugin under refusals, lost answers and a search that lags behind writes (Cloud)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import stamina
from tracker_bridge_jira import JiraTracker
from tracker_bridge_jira.sandbox import start_sandbox

from tracker_bridge.errors import ConfigurationError, NotFoundError, TrackerRefused
from tracker_bridge.ports import IssueDraft, IssueRef, IssueUpdate

from .conftest import settings_for

if TYPE_CHECKING:
    from tracker_bridge_jira.sandbox.control import JiraSandbox

Build = Callable[..., JiraTracker]
LAG = 1.5  # seconds the lagging sandbox leaves fresh writes out of search/jql


def draft(report_id: str = "CVD-2026-0042") -> IssueDraft:
    """A small draft."""
    return IssueDraft(report_id=report_id, title="Open redirect", body="steps")


@pytest.fixture
def cloud() -> Iterator[JiraSandbox]:
    """A Jira Cloud sandbox whose search/jql lags ``LAG`` seconds behind writes."""
    running = start_sandbox(flavor="cloud")
    running.team.lag_search(LAG)
    yield running
    running.stop()


def cloud_tracker(sandbox: JiraSandbox, **overrides: object) -> JiraTracker:
    """The plugin on the lagging Cloud sandbox; it knows the lag may last up to 3 s."""
    return JiraTracker.from_settings(settings_for(sandbox, search_lag_seconds=3, **overrides))


def test_retries_run_without_waiting_under_stamina_testing(sandbox: JiraSandbox) -> None:
    """Two 503s and a 30 s backoff setting: stamina's test mode retries at once and succeeds."""
    tracker = JiraTracker.from_settings(settings_for(sandbox, retry_wait_seconds=30))
    sandbox.team.inject(503, path=r"/search", times=2, retry_after=30)
    started = time.monotonic()
    with stamina.set_testing(True, attempts=3):
        found = tracker.find_issue("CVD-2026-0042")
    assert (None, 3, True) == (
        found,
        sandbox.team.request_count(path=r"/search"),
        time.monotonic() - started < 5,
    )


def test_a_refused_edit_is_skippable_and_names_only_the_field(
    make_tracker: Build, sandbox: JiraSandbox
) -> None:
    """400 on one issue's edit is TrackerRefused naming the field, without the label sent."""
    tracker = make_tracker()
    ref = tracker.open_issue(draft())
    sandbox.team.refuse_edits(ref.key, status=400, field="customfield_10042", message="required")
    with pytest.raises(TrackerRefused) as caught:
        tracker.update_issue(ref, IssueUpdate(add_labels=frozenset({"secret-label-value"})))
    assert (True, False) == (
        "(fields: customfield_10042)" in str(caught.value),
        "secret-label-value" in str(caught.value),
    )


def test_an_issue_deleted_by_hand_is_not_found(make_tracker: Build, sandbox: JiraSandbox) -> None:
    """An edit of an issue that no longer exists is NotFoundError (skippable)."""
    ref = IssueRef("jira", "SEC", "SEC-999", f"{sandbox.url}/browse/SEC-999")
    with pytest.raises(NotFoundError, match="SEC-999"):
        make_tracker().update_issue(ref, IssueUpdate(add_labels=frozenset({"x"})))


def test_a_wrong_project_is_a_configuration_error(make_tracker: Build) -> None:
    """A project key that does not exist is fatal and names the setting."""
    with pytest.raises(ConfigurationError, match=r"tracker\.jira\.project"):
        make_tracker(project="NOPE").open_issue(draft())


def test_own_writes_are_read_back_through_reconcile_issues(cloud: JiraSandbox) -> None:
    """A lagging search hides a new issue from others but not from the tracker that made it."""
    tracker = cloud_tracker(cloud)
    ref = tracker.open_issue(draft())
    stranger = cloud_tracker(cloud).find_issue("CVD-2026-0042")
    assert (None, ref) == (stranger, tracker.find_issue("CVD-2026-0042"))


def test_a_create_that_timed_out_but_succeeded_opens_one_issue(cloud: JiraSandbox) -> None:
    """Jira makes the issue but the answer is lost and search lags: still exactly one issue."""
    cloud.team.inject(0, method="POST", path=r"/issue$", delay=0.6, applied=True)
    tracker = cloud_tracker(cloud, timeout=0.3, max_retries=1)
    ref = tracker.open_issue(draft())
    assert ([ref.key], "CVD-2026-0042: Open redirect") == (
        cloud.team.issue_keys(),
        cloud.team.issue(ref.key).summary,
    )


def test_every_change_is_seen_though_search_lags(cloud: JiraSandbox) -> None:
    """A team change the lagging search hides is listed by the next read once the lag passed."""
    tracker = cloud_tracker(cloud)
    ref = tracker.open_issue(draft())
    time.sleep(LAG)
    bookmark = max(s.updated_at for s in tracker.changes_since(None))
    cloud.team.relabel(ref.key, add={"cvd-triaged"})
    hidden = [s.ref.key for s in cloud_tracker(cloud).changes_since(bookmark)]
    time.sleep(LAG)
    later = [s.ref.key for s in tracker.changes_since(bookmark) if "cvd-triaged" in s.labels]
    assert ([], [ref.key]) == (hidden, later)

"""Jira plugin behaviour beyond the contract: refusals, time zones, retries, notes, priority."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from tracker_bridge_jira import JiraSettings, JiraTracker
from tracker_bridge_jira.sandbox import start_sandbox

from tracker_bridge.errors import (
    ConfidentialityError,
    ConfigurationError,
    TrackerAuthError,
    TrackerUnavailable,
)
from tracker_bridge.ports import IssueDraft, IssueUpdate

from .conftest import FLAVORS, settings_for

if TYPE_CHECKING:
    from tracker_bridge_jira.sandbox.control import JiraSandbox

Build = Callable[..., JiraTracker]


def draft(report_id: str = "CVD-2026-0042", **extra: object) -> IssueDraft:
    """A small draft."""
    return IssueDraft(report_id=report_id, title="Open redirect", body="steps", **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_refuses_when_security_is_not_on_the_create_screen(flavor: str) -> None:
    """Without `security` on the create screen, open_issue refuses and creates nothing."""
    sandbox = start_sandbox(flavor=flavor, security_field=False)
    try:
        tracker = JiraTracker.from_settings(settings_for(sandbox))
        with pytest.raises(ConfidentialityError, match="Security Level field is not on the create"):
            tracker.open_issue(draft())
        assert [] == sandbox.team.issue_keys()
        assert 0 == sandbox.team.request_count("POST", r"/issue$")
    finally:
        sandbox.stop()


def test_refuses_an_unknown_security_level(make_tracker: Build, sandbox: JiraSandbox) -> None:
    """A security level the project lacks is a configuration error, raised before any create."""
    with pytest.raises(ConfigurationError, match="security_level: 'Nobody'"):
        make_tracker(security_level="Nobody").open_issue(draft())
    assert [] == sandbox.team.issue_keys()


def test_security_level_may_be_given_by_id(make_tracker: Build, sandbox: JiraSandbox) -> None:
    """The security level setting accepts the level's id as well as its name."""
    ref = make_tracker(security_level="10100").open_issue(draft())
    assert "10100" == sandbox.team.issue(ref.key).security_level


def test_status_change_a_minute_before_sync_in_another_zone_is_seen_once(
    make_tracker: Build, sandbox: JiraSandbox
) -> None:
    """A status change one minute before a sync is listed once, though Jira's zone is not ours."""
    tracker = make_tracker()  # default 2-minute overlap; the bridge works in UTC
    assert "America/Los_Angeles" == tracker._connected().myself()["timeZone"]  # noqa: SLF001 - the test reads the zone the tracker's own client sees
    ref = tracker.open_issue(draft())
    team = sandbox.team
    team.advance_clock(minutes=30)
    first_sync = team.now()
    assert [ref] == [s.ref for s in tracker.changes_since(first_sync - timedelta(hours=1))]
    team.advance_clock(minutes=10)
    team.transition(ref.key, "Done")
    team.advance_clock(minutes=1)
    second_sync = team.now()
    seen = [s for s in tracker.changes_since(first_sync) if s.ref == ref]
    team.advance_clock(seconds=20)
    seen += [s for s in tracker.changes_since(second_sync) if s.ref == ref]
    assert [("Done", "done")] == [(s.status, s.status_category) for s in seen]
    assert UTC.utcoffset(None) == seen[0].updated_at.utcoffset()


def test_overlap_window_relists_a_late_change(make_tracker: Build, sandbox: JiraSandbox) -> None:
    """A change made just before the bookmark (within 2 minutes) is listed by a fresh bridge."""
    tracker = make_tracker()
    ref = tracker.open_issue(draft())
    sandbox.team.relabel(ref.key, add={"cvd-triaged"})
    bookmark = sandbox.team.now() + timedelta(seconds=90)
    listed = [s.ref for s in make_tracker().changes_since(bookmark)]
    outside = [s.ref for s in make_tracker().changes_since(bookmark + timedelta(minutes=1))]
    assert ([ref], []) == (listed, outside)


def test_bridge_notes_are_restricted_and_marked_as_the_bridges(
    make_tracker: Build, sandbox: JiraSandbox
) -> None:
    """add_note writes a restricted comment; changes_since tells it from a team comment."""
    tracker = make_tracker()
    ref = tracker.open_issue(draft())
    since = sandbox.team.now()
    tracker.add_note(ref, "Acknowledgement sent", untrusted="[~admin] thanks")
    sandbox.team.comment(ref.key, "[to researcher]\nFixed in 2.1")
    (snapshot,) = [s for s in tracker.changes_since(since) if s.ref == ref]
    assert [(True, True), (False, False)] == [(n.by_bridge, n.internal) for n in snapshot.notes]
    assert {"type": "role", "value": "Administrators"}.items() <= (
        sandbox.team.issue(ref.key).comment_visibility[0] or {}
    ).items()
    assert [] == sandbox.team.side_effects()


def test_update_issue_is_one_put(make_tracker: Build, sandbox: JiraSandbox) -> None:
    """Labels and due date change in a single PUT."""
    tracker = make_tracker()
    ref = tracker.open_issue(draft(labels=frozenset({"severity-low"})))
    before = sandbox.team.request_count("PUT")
    tracker.update_issue(
        ref,
        IssueUpdate(
            add_labels=frozenset({"severity-high"}),
            remove_labels=frozenset({"severity-low"}),
            set_due_date=True,
            due_date=date(2027, 2, 1),
        ),
    )
    issue = sandbox.team.issue(ref.key)
    assert 1 == sandbox.team.request_count("PUT") - before
    assert {"severity-high", "cvd-report-CVD-2026-0042"} == set(issue.labels)
    assert date(2027, 2, 1) == issue.duedate


def test_label_with_a_space_is_refused_before_jira(make_tracker: Build) -> None:
    """A label with a space is a configuration error, named, not a Jira 400."""
    tracker = make_tracker()
    ref = tracker.open_issue(draft())
    with pytest.raises(ConfigurationError, match="'severity high'"):
        tracker.update_issue(ref, IssueUpdate(add_labels=frozenset({"severity high"})))


def test_priority_follows_severity_when_on_the_screen(
    make_tracker: Build, sandbox: JiraSandbox
) -> None:
    """priority_by_severity sets the Jira priority from the severity label."""
    tracker = make_tracker(priority_by_severity={"critical": "Highest"})
    ref = tracker.open_issue(draft(labels=frozenset({"severity-critical"})))
    assert "Highest" == sandbox.team.issue(ref.key).priority


def test_rate_limit_is_retried(make_tracker: Build, sandbox: JiraSandbox) -> None:
    """A 429 with Retry-After is retried within the bound, and the call then succeeds."""
    tracker = make_tracker()
    sandbox.team.inject(429, method="POST", path=r"/issue$", times=2, retry_after=1)
    ref = tracker.open_issue(draft())
    assert 3 == sandbox.team.request_count("POST", r"/issue$")
    assert [ref.key] == sandbox.team.issue_keys()


def test_persistent_5xx_becomes_tracker_unavailable(
    make_tracker: Build, sandbox: JiraSandbox
) -> None:
    """5xx beyond the retry bound surfaces as TrackerUnavailable without tokens in the message."""
    tracker = make_tracker(max_retries=2)
    sandbox.team.inject(503, path=r"/search", times=5, retry_after=7)
    with pytest.raises(TrackerUnavailable) as caught:
        tracker.find_issue("CVD-2026-0042")
    assert 3 == sandbox.team.request_count(path=r"/search")
    assert 7.0 == caught.value.retry_after
    assert "sandbox-token" not in str(caught.value)


def test_500_on_create_is_not_resent(make_tracker: Build, sandbox: JiraSandbox) -> None:
    """A 500 on POST /issue may have created the issue, so it is not resent blindly."""
    tracker = make_tracker()
    sandbox.team.inject(500, method="POST", path=r"/issue$", times=1)
    with pytest.raises(TrackerUnavailable):
        tracker.open_issue(draft())
    assert 1 == sandbox.team.request_count("POST", r"/issue$")


def test_timeout_is_retried_then_unavailable(make_tracker: Build, sandbox: JiraSandbox) -> None:
    """A request slower than the timeout counts as unavailable after the bounded retries."""
    tracker = make_tracker(timeout=0.2, max_retries=1)
    tracker._connected()  # noqa: SLF001 - connect first, so only the search is slowed
    sandbox.team.inject(0, path=r"/search", times=2, delay=0.5)
    with pytest.raises(TrackerUnavailable, match="did not answer"):
        tracker.find_issue("CVD-2026-0042")


def test_wrong_token_is_an_auth_error(sandbox: JiraSandbox) -> None:
    """A refused token is TrackerAuthError, and the message does not carry the token."""
    tracker = JiraTracker.from_settings(settings_for(sandbox, token="wrong-secret-token"))
    with pytest.raises(TrackerAuthError) as caught:
        tracker.find_issue("CVD-2026-0042")
    assert "wrong-secret-token" not in str(caught.value)


def test_cloud_without_email_is_a_configuration_error() -> None:
    """Jira Cloud needs the account email with an API token; its absence is named."""
    sandbox = start_sandbox(flavor="cloud")
    try:
        settings = settings_for(sandbox)
        tracker = JiraTracker.from_settings(settings.model_copy(update={"email": None}))
        with pytest.raises((ConfigurationError, TrackerAuthError)):
            tracker.find_issue("CVD-2026-0042")
    finally:
        sandbox.stop()


def test_from_settings_does_no_network() -> None:
    """Building the tracker from settings touches no network (port 9 is closed)."""
    settings = JiraSettings(
        url="http://127.0.0.1:9", project="SEC", token="t", security_level="Security team"
    )
    assert "jira" == JiraTracker.from_settings(settings).kind


def test_settings_forbid_unknown_keys() -> None:
    """A misspelt setting is refused rather than ignored."""
    with pytest.raises(ValueError, match="securty_level"):
        JiraSettings.model_validate(
            {"url": "u", "project": "SEC", "token": "t", "securty_level": "x"}
        )


def test_jql_uses_epoch_milliseconds_not_local_dates(
    make_tracker: Build, sandbox: JiraSandbox
) -> None:
    """An issue updated exactly at the bookmark is listed (millisecond, zone-free comparison)."""
    tracker = make_tracker(overlap_minutes=0)
    ref = tracker.open_issue(draft())
    stamp = sandbox.team.issue(ref.key).updated
    assert [ref] == [s.ref for s in tracker.changes_since(stamp)]
    assert [] == [s.ref for s in tracker.changes_since(stamp + timedelta(milliseconds=1))]
    assert datetime(2026, 1, 1, tzinfo=UTC) < stamp

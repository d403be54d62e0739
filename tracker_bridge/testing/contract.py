"""The Tracker contract suite: every plugin, and the fake, must pass it.

Use it from a plugin's tests::

    class TestMyTrackerContract(TrackerContract):
        @pytest.fixture
        def harness(self) -> Iterator[TrackerHarness]:
            yield MyHarness(...)

The harness gives the suite the tracker under test plus the security team's hands and a
view of what the tracker holds and did (notifications, executed commands, fetched images).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Protocol

import pytest

from tracker_bridge.errors import ConfidentialityError, ForeignIssueError, RetriableError
from tracker_bridge.ports.intake import AttachmentInfo
from tracker_bridge.ports.tracker import (
    ERASED_ON_REQUEST,
    IssueDraft,
    IssueRef,
    IssueUpdate,
    TextErasure,
    Tracker,
)
from tracker_bridge.testing.payloads import (
    BIDI_CONTROLS,
    BIDI_FILENAME,
    BIDI_TITLE,
    CANARY,
    INJECTION_PAYLOADS,
)


@dataclass(frozen=True)
class ObservedIssue:
    """An issue as the tracker stores it, read around the plugin."""

    confidential: bool
    title: str
    body: str
    labels: frozenset[str]
    status_open: bool
    due_date: date | None
    notes: tuple[str, ...]


class TrackerHarness(Protocol):
    """What the contract suite needs around a tracker under test."""

    tracker: Tracker

    def observe(self, ref: IssueRef) -> ObservedIssue:
        """Read an issue directly from the tracker, not through the plugin."""
        ...

    def side_effects(self) -> list[str]:
        """Every action the tracker took on its own: commands run, mentions, image fetches."""
        ...

    def all_text(self) -> str:
        """Everything stored anywhere in the tracker (titles, bodies, notes), for leak checks."""
        ...

    def issue_count(self) -> int:
        """How many issues exist in the project."""
        ...

    def deny_confidentiality(self) -> None:
        """Make the tracker silently drop the confidential flag (a token lacking permission)."""
        ...

    def fail_after_placeholder(self) -> None:
        """Make the next open fail, after bounded retries, once the placeholder exists."""
        ...

    def heal(self) -> None:
        """Remove every injected fault."""
        ...

    def team_set_labels(self, ref: IssueRef, add: set[str], remove: set[str]) -> None:
        """A team member edits labels."""
        ...

    def team_close(self, ref: IssueRef) -> None:
        """A team member closes the issue."""
        ...

    def team_set_due_date(self, ref: IssueRef, due: date) -> None:
        """A team member sets the due date."""
        ...

    def team_comment(self, ref: IssueRef, body: str) -> None:
        """A team member comments."""
        ...


# Two installations' store ids (16 hex digits, as migration 0004_identity makes them).
STORE_A = "a1a1a1a1a1a1a1a1"
STORE_B = "b2b2b2b2b2b2b2b2"


def make_draft(
    report_id: str = "CVD-2026-0001",
    body: str = CANARY,
    installation: str = STORE_A,
    **extra: object,
) -> IssueDraft:
    """A draft with recognisable content, opened by store ``installation``."""
    return IssueDraft(
        installation=installation,
        report_id=report_id,
        title=f"XSS in login {CANARY}",
        body=body,
        summary=(("Report", report_id), ("Severity", "unassessed")),
        labels=frozenset({"severity::unassessed"}) if not extra.get("labels") else extra["labels"],  # type: ignore[arg-type]
        due_date=extra.get("due_date"),  # type: ignore[arg-type]
    )


class TrackerContract:
    """Semantics every tracker plugin keeps; subclass and provide a ``harness`` fixture."""

    # Plugins whose label syntax differs override this with names that are valid for them.
    label_a = "severity-high"
    label_b = "severity-low"
    # How far before ``since`` a plugin may still list issues (Jira's search lags; GitLab's
    # does not). The core is idempotent, so re-listing is harmless; it only costs requests.
    overlap = timedelta(0)
    # The label naming the store that opened an issue, in the plugin's label syntax.
    store_label_prefix = "cvd-store::"

    def test_open_issue_is_confidential_and_carries_the_report(
        self, harness: TrackerHarness
    ) -> None:
        """An opened issue is confidential and holds the report text and the report id."""
        ref = harness.tracker.open_issue(make_draft())
        issue = harness.observe(ref)
        assert issue.confidential is True
        assert "CVD-2026-0001" in issue.title
        assert CANARY in issue.body

    def test_open_issue_twice_makes_one_issue(self, harness: TrackerHarness) -> None:
        """Opening the same report id twice returns the same issue and creates no second one."""
        first = harness.tracker.open_issue(make_draft())
        second = harness.tracker.open_issue(make_draft())
        assert first == second
        assert 1 == harness.issue_count()

    def test_find_issue_by_report_id(self, harness: TrackerHarness) -> None:
        """find_issue finds an opened issue by report id and returns None for an unknown id."""
        ref = harness.tracker.open_issue(make_draft())
        assert harness.tracker.find_issue("CVD-2026-0001") == ref
        assert harness.tracker.find_issue("CVD-2026-9999") is None

    def test_refuses_when_confidentiality_is_not_proven(self, harness: TrackerHarness) -> None:
        """When the tracker drops the confidential flag, open fails and no report text exists."""
        harness.deny_confidentiality()
        with pytest.raises(ConfidentialityError):
            harness.tracker.open_issue(make_draft())
        assert CANARY not in harness.all_text()

    def test_crash_after_placeholder_then_retry_leaves_one_complete_issue(
        self, harness: TrackerHarness
    ) -> None:
        """A failure between placeholder and content, then a retry, leaves exactly one full issue."""
        harness.fail_after_placeholder()
        with pytest.raises(RetriableError):
            harness.tracker.open_issue(make_draft())
        harness.heal()
        ref = harness.tracker.open_issue(make_draft())
        assert 1 == harness.issue_count()
        assert CANARY in harness.observe(ref).body

    @pytest.mark.parametrize("payload", INJECTION_PAYLOADS)
    def test_hostile_report_text_stays_inert(self, harness: TrackerHarness, payload: str) -> None:
        """Quick actions, mentions, references, images and markup in a report cause nothing."""
        body = f"{CANARY}\n{payload}\n{payload}\nend of report"
        ref = harness.tracker.open_issue(make_draft(body=body))
        harness.tracker.add_note(ref, "Researcher replied:", untrusted=body)
        issue = harness.observe(ref)
        assert [] == harness.side_effects()
        assert issue.confidential is True
        assert issue.status_open is True
        assert CANARY in issue.body

    def test_bidirectional_controls_are_shown_not_obeyed(self, harness: TrackerHarness) -> None:
        """U+202E and the other bidi controls in a title, file name or text appear as [U+XXXX]."""
        draft = replace(
            make_draft(body=f"{CANARY}\nsee {BIDI_FILENAME}"),
            title=BIDI_TITLE,
            attachments=(AttachmentInfo(BIDI_FILENAME, "image/png", 3, "0" * 64),),
        )
        ref = harness.tracker.open_issue(draft)
        harness.tracker.add_note(ref, "Researcher replied:", untrusted=BIDI_TITLE)
        issue = harness.observe(ref)
        shown = issue.title + issue.body + "".join(issue.notes)
        assert [] == sorted({f"U+{ord(ch):04X}" for ch in shown if ch in BIDI_CONTROLS})
        # As rendered: markup escapes (Jira "\\[") and GitLab's word joiners are not seen.
        assert "[U+202E]" in issue.title.replace("\u2060", "").replace("\\", "")
        assert "[U+202E]" in issue.body.replace("\u2060", "").replace("\\", "")

    def test_update_issue_changes_labels_and_due_date(self, harness: TrackerHarness) -> None:
        """update_issue adds and removes labels and sets, then clears, the native due date."""
        ref = harness.tracker.open_issue(make_draft(labels=frozenset({self.label_b})))
        due = date(2026, 12, 24)
        harness.tracker.update_issue(
            ref,
            IssueUpdate(
                add_labels=frozenset({self.label_a}),
                remove_labels=frozenset({self.label_b}),
                set_due_date=True,
                due_date=due,
            ),
        )
        issue = harness.observe(ref)
        assert self.label_a in issue.labels
        assert self.label_b not in issue.labels
        assert issue.due_date == due
        harness.tracker.update_issue(ref, IssueUpdate(set_due_date=True, due_date=None))
        assert harness.observe(ref).due_date is None

    def test_add_note_is_stored(self, harness: TrackerHarness) -> None:
        """add_note stores the bridge's text and the untrusted text on the issue."""
        ref = harness.tracker.open_issue(make_draft())
        harness.tracker.add_note(ref, "Acknowledgement sent", untrusted=f"reply {CANARY}")
        notes = "\n".join(harness.observe(ref).notes)
        assert "Acknowledgement sent" in notes
        assert CANARY in notes

    def test_erase_bridge_text_rewrites_the_bridges_text_only(
        self, harness: TrackerHarness
    ) -> None:
        """Erasure replaces the name and copied replies the bridge wrote; team comments stay."""
        draft = make_draft()
        named = replace(
            draft,
            summary=(*draft.summary, ("Researcher", "Ada Lovelace; contact kept in the bridge")),
        )
        ref = harness.tracker.open_issue(named)
        harness.tracker.add_note(ref, "The researcher replied (encrypted):", untrusted="my flat")
        harness.tracker.add_note(
            ref, "Credit recorded: credit by the name below.", untrusted="Ada Lovelace"
        )
        harness.tracker.add_note(ref, "Deadline missed: the assessment was due on 2026-11-05.")
        harness.team_comment(ref, "Ada Lovelace said the same on the phone")
        erasure = TextErasure(words=("Ada Lovelace",), notes_starting=("The researcher replied",))
        changed = harness.tracker.erase_bridge_text(ref, erasure)
        again = harness.tracker.erase_bridge_text(ref, erasure)
        issue = harness.observe(ref)
        notes = "\n".join(issue.notes)
        assert (3, 0) == (changed, again)
        assert "Ada Lovelace" not in issue.body
        assert ERASED_ON_REQUEST in issue.body
        assert CANARY in issue.body
        assert "my flat" not in notes
        assert "Erased on request." in notes
        assert "Deadline missed" in notes
        assert "Ada Lovelace said the same on the phone" in notes
        assert 1 == notes.count("Ada Lovelace")

    def test_changes_since_reports_team_changes(self, harness: TrackerHarness) -> None:
        """After the team relabels, sets a due date, comments and closes, the change is listed."""
        ref = harness.tracker.open_issue(make_draft())
        since = max(s.updated_at for s in harness.tracker.changes_since(None))
        harness.team_set_labels(ref, {self.label_a}, set())
        harness.team_set_due_date(ref, date(2027, 1, 15))
        harness.team_comment(ref, "[to researcher]\nThanks, we reproduced it.")
        harness.team_close(ref)
        changed = [s for s in harness.tracker.changes_since(since) if s.ref == ref]
        assert 1 == len(changed)
        snapshot = changed[0]
        assert "CVD-2026-0001" == snapshot.report_id
        assert self.label_a in snapshot.labels
        assert date(2027, 1, 15) == snapshot.due_date
        team_notes = [n for n in snapshot.notes if not n.by_bridge]
        assert any("we reproduced it" in n.body for n in team_notes)
        assert snapshot.updated_at >= since

    def test_changes_since_skips_untouched_issues(self, harness: TrackerHarness) -> None:
        """An issue not updated since the bookmark (beyond the plugin's overlap) is not listed."""
        quiet = harness.tracker.open_issue(make_draft("CVD-2026-0001"))
        time.sleep(self.overlap.total_seconds() + 0.05)
        busy = harness.tracker.open_issue(make_draft("CVD-2026-0002"))
        harness.team_comment(busy, "looking into it")
        since = next(s.updated_at for s in harness.tracker.changes_since(None) if s.ref == busy)
        listed = {s.ref for s in harness.tracker.changes_since(since)}
        assert busy in listed
        assert quiet not in listed

    def test_changes_since_lists_oldest_first(self, harness: TrackerHarness) -> None:
        """Changes come oldest first so a bookmark can move forward as they are applied."""
        for n in range(1, 4):
            harness.tracker.open_issue(make_draft(f"CVD-2026-000{n}"))
        stamps = [s.updated_at for s in harness.tracker.changes_since(None)]
        assert stamps == sorted(stamps)
        assert len(stamps) >= 3

    def test_issue_of_another_store_is_never_adopted(self, harness: TrackerHarness) -> None:
        """An issue another store opened for the same report id is refused, named, and untouched."""
        ref = harness.tracker.open_issue(make_draft(installation=STORE_A))
        before = harness.observe(ref)
        with pytest.raises(ForeignIssueError) as refused:
            harness.tracker.open_issue(make_draft(body="other researcher", installation=STORE_B))
        message = str(refused.value)
        assert (True, True, True) == (
            STORE_A in message,
            STORE_B in message,
            "CVD-2026-0001" in message,
        )
        assert 1 == harness.issue_count()
        assert before == harness.observe(ref)

    def test_refusal_of_another_stores_issue_says_what_the_operator_does(
        self, harness: TrackerHarness
    ) -> None:
        """The refusal names the store label to set and says the report keeps its id."""
        harness.tracker.open_issue(make_draft(installation=STORE_A))
        with pytest.raises(ForeignIssueError) as refused:
            harness.tracker.open_issue(make_draft(body="other researcher", installation=STORE_B))
        message = str(refused.value)
        assert (True, True) == (
            f"by {self.store_label_prefix}{STORE_B}" in message,
            "CVD-2026-0001 keeps its id" in message,
        )

    def test_issue_without_a_store_marker_is_never_adopted(self, harness: TrackerHarness) -> None:
        """An issue carrying only the report marker (older bridge, made by hand) is refused."""
        ref = harness.tracker.open_issue(make_draft(installation=STORE_A))
        harness.team_set_labels(ref, set(), {self.store_label_prefix + STORE_A})
        with pytest.raises(ForeignIssueError):
            harness.tracker.open_issue(make_draft(installation=STORE_A))
        assert 1 == harness.issue_count()

    def test_snapshot_names_the_store_that_opened_the_issue(self, harness: TrackerHarness) -> None:
        """changes_since tells each issue's store id, so the core applies only its own issues."""
        ref = harness.tracker.open_issue(make_draft(installation=STORE_A))
        snapshot = next(s for s in harness.tracker.changes_since(None) if s.ref == ref)
        assert (STORE_A, "CVD-2026-0001") == (snapshot.installation, snapshot.report_id)

    def test_find_issue_finds_the_marker_of_any_store(self, harness: TrackerHarness) -> None:
        """find_issue finds another store's issue, so a new store's ids move past the tracker's."""
        ref = harness.tracker.open_issue(make_draft("CVD-2026-0002", installation=STORE_B))
        assert ref == harness.tracker.find_issue("CVD-2026-0002")

    def test_open_retried_after_confidentiality_is_granted_completes_the_placeholder(
        self, harness: TrackerHarness
    ) -> None:
        """A refused open retried once the token may set confidentiality leaves one full issue."""
        harness.deny_confidentiality()
        with pytest.raises(ConfidentialityError):
            harness.tracker.open_issue(make_draft())
        harness.heal()
        ref = harness.tracker.open_issue(make_draft())
        issue = harness.observe(ref)
        assert (1, True, True) == (harness.issue_count(), issue.confidential, CANARY in issue.body)

    def test_own_notes_and_team_notes_are_told_apart(self, harness: TrackerHarness) -> None:
        """A note the plugin wrote comes back by_bridge; a team member's comment does not."""
        ref = harness.tracker.open_issue(make_draft())
        harness.tracker.add_note(ref, "bridge wrote this")
        harness.team_comment(ref, "team wrote this")
        [snapshot] = [s for s in harness.tracker.changes_since(None) if s.ref == ref]
        marks = {
            text: n.by_bridge
            for n in snapshot.notes
            for text in ("bridge wrote this", "team wrote this")
            if text in n.body
        }
        assert {"bridge wrote this": True, "team wrote this": False} == marks

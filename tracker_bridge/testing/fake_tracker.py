"""An in-memory tracker that keeps the plugin contract, for unit tests and the contract suite."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from tracker_bridge.errors import (
    ConfidentialityError,
    ForeignIssueError,
    NotFoundError,
    TrackerRefused,
    TrackerUnavailable,
)
from tracker_bridge.ports.tracker import (
    IssueDraft,
    IssueRef,
    IssueSnapshot,
    IssueUpdate,
    TextErasure,
    TrackerNote,
)
from tracker_bridge.testing.payloads import BIDI_CONTROLS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@dataclass
class FakeIssue:
    """An issue held by the fake tracker."""

    key: str
    title: str
    body: str
    labels: set[str]
    confidential: bool
    status: str = "opened"
    due_date: date | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    notes: list[TrackerNote] = field(default_factory=list)


class FakeTracker:
    """A tracker in memory. Text is stored as given: the fake has no live markup to neutralise.

    Switches let tests play the security team and break things: ``deny_confidentiality``
    (the tracker silently drops the confidential flag), ``fail_calls`` (the next N calls raise
    TrackerUnavailable), ``crash_after_placeholder`` (the next open stops after the placeholder),
    ``refuse_edits`` (issue keys whose edits answer TrackerRefused, as a 422 would; notes still
    go through), ``team_delete`` (an issue deleted by hand: NotFoundError from then on).

    ``find_issue`` answers from an index of report markers, as a tracker's label search does,
    so a bench of thousands of reports does not pay a scan of every issue per lookup. The
    fake's own methods keep it; a test that edits ``issues[key].labels`` by hand changes other
    labels only (or goes through ``team_set_labels``).
    """

    kind: ClassVar[str] = "fake"
    marker_prefix: ClassVar[str] = "cvd-report::"
    store_prefix: ClassVar[str] = "cvd-store::"

    def __init__(
        self, project: str = "security/cvd", now: Callable[[], datetime] | None = None
    ) -> None:
        self.project = project
        self.issues: dict[str, FakeIssue] = {}
        self.deny_confidentiality = False
        self.fail_calls = 0
        self.crash_after_placeholder = False
        self.refuse_edits: set[str] = set()
        self.calls: list[str] = []
        self._now = now or (lambda: datetime.now(UTC))
        self._last_tick = datetime.min.replace(tzinfo=UTC)
        self._next_key = 1
        self._next_note = 1
        # Report marker label -> keys of the issues carrying it, in the order they got it.
        self._by_marker: dict[str, list[str]] = {}

    # -- the Tracker protocol

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Open the confidential issue, or find and complete the one a crash left behind."""
        self._call("open_issue")
        marker = {self.marker_prefix + draft.report_id}
        if draft.installation:
            marker.add(self.store_prefix + draft.installation)
        ref = self.find_issue(draft.report_id)
        if ref is not None:
            theirs = self._installation(self.issues[ref.key])
            if theirs != (draft.installation or None):
                msg = f"fake tracker issue {ref.key}"
                raise ForeignIssueError.not_adopted(
                    msg,
                    draft.report_id,
                    marker_prefix=self.marker_prefix,
                    store_prefix=self.store_prefix,
                    theirs=theirs,
                    ours=draft.installation,
                )
        if ref is None:
            key = str(self._next_key)
            self._next_key += 1
            self.issues[key] = FakeIssue(
                key=key,
                title=draft.report_id,
                body="",
                labels=marker,
                confidential=not self.deny_confidentiality,
                updated_at=self._tick(),
            )
            self._index_labels(key, marker)
            ref = self._ref(key)
        issue = self.issues[ref.key]
        if not issue.confidential and not issue.body:
            # Our own empty placeholder: try to make it confidential again.
            issue.confidential = not self.deny_confidentiality
        if not issue.confidential:
            msg = (
                f"fake tracker issue {ref.key} for {draft.report_id} is not confidential; "
                "no report text was written"
            )
            raise ConfidentialityError(msg)
        if self.crash_after_placeholder:
            self.crash_after_placeholder = False
            msg = "fake tracker crashed after the placeholder"
            raise TrackerUnavailable(msg)
        self._check_edit(ref.key)
        self._index_labels(ref.key, set(draft.labels))
        issue.title = _reveal_bidi(f"{draft.report_id}: {draft.title}")
        summary = "\n".join(f"{label}: {value}" for label, value in draft.summary)
        names = "\n".join(f"attachment: {item.filename}" for item in draft.attachments)
        body = f"{summary}\n\n{draft.body}" if summary else draft.body
        issue.body = _reveal_bidi(f"{body}\n\n{names}" if names else body)
        issue.labels |= set(draft.labels)
        issue.due_date = draft.due_date
        issue.updated_at = self._tick()
        return ref

    def find_issue(self, report_id: str) -> IssueRef | None:
        """The issue carrying the report's marker label."""
        self._call("find_issue")
        marker = self.marker_prefix + report_id
        carriers = [
            key
            for key in self._by_marker.get(marker, ())
            if key in self.issues and marker in self.issues[key].labels
        ]
        if not carriers:
            return None
        # The first in creation order, as a scan of ``issues`` would find it.
        order = {key: number for number, key in enumerate(self.issues)}
        return self._ref(min(carriers, key=order.__getitem__) if len(carriers) > 1 else carriers[0])

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Apply label and due-date changes."""
        self._call("update_issue")
        issue = self._existing(ref.key)
        self._check_edit(ref.key)
        self._index_labels(ref.key, set(update.add_labels))
        issue.labels = (issue.labels - set(update.remove_labels)) | set(update.add_labels)
        if update.set_due_date:
            issue.due_date = update.due_date
        issue.updated_at = self._tick()

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Add an internal note written by the bridge."""
        self._call("add_note")
        issue = self._existing(ref.key)
        body = text if untrusted is None else f"{text}\n\n{_reveal_bidi(untrusted)}"
        issue.notes.append(self._note(body, author="tracker-bridge", by_bridge=True))
        issue.updated_at = self._tick()

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Issues updated at or after ``since``, oldest change first."""
        self._call("changes_since")
        changed = [i for i in self.issues.values() if since is None or i.updated_at >= since]
        for issue in sorted(changed, key=lambda i: i.updated_at):
            notes = tuple(n for n in issue.notes if since is None or n.created_at >= since)
            yield self._snapshot(issue, notes)

    def erase_bridge_text(self, ref: IssueRef, erasure: TextErasure) -> int:
        """Erase from the description and the bridge's notes; how many texts changed."""
        self._call("erase_bridge_text")
        issue = self.issues[ref.key]
        changed = 0
        body = erasure.erase_words(issue.body)
        if body != issue.body:
            issue.body = body
            changed += 1
        for index, note in enumerate(issue.notes):
            if not note.by_bridge:
                continue
            text = (
                erasure.note_replacement
                if erasure.replaces_note(note.body)
                else erasure.erase_words(note.body)
            )
            if text != note.body:
                issue.notes[index] = replace(note, body=text)
                changed += 1
        if changed:
            issue.updated_at = self._tick()
        return changed

    # -- the security team's hands

    def team_set_labels(self, key: str, add: set[str], remove: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """A team member edits labels."""
        issue = self.issues[key]
        self._index_labels(key, set(add))
        issue.labels = (issue.labels - set(remove)) | set(add)
        issue.updated_at = self._tick()

    def team_set_status(self, key: str, status: str) -> None:
        """A team member closes or reopens the issue."""
        self.issues[key].status = status
        self.issues[key].updated_at = self._tick()

    def team_set_due_date(self, key: str, due: date | None) -> None:
        """A team member sets the due date."""
        self.issues[key].due_date = due
        self.issues[key].updated_at = self._tick()

    def team_comment(self, key: str, body: str, *, internal: bool = False) -> None:
        """A team member comments."""
        issue = self.issues[key]
        issue.notes.append(self._note(body, author="alice", internal=internal))
        issue.updated_at = self._tick()

    def team_delete(self, key: str) -> None:
        """A team member deletes the issue by hand."""
        del self.issues[key]

    # -- helpers

    def _index_labels(self, key: str, labels: set[str]) -> None:
        """Note ``key`` under each report marker in ``labels`` (removals are checked on lookup)."""
        for label in labels:
            if label.startswith(self.marker_prefix):
                keys = self._by_marker.setdefault(label, [])
                if key not in keys:
                    keys.append(key)

    def _existing(self, key: str) -> FakeIssue:
        issue = self.issues.get(key)
        if issue is None:
            msg = f"fake tracker: issue {key} not found (HTTP 404)"
            raise NotFoundError(msg)
        return issue

    def _check_edit(self, key: str) -> None:
        if key in self.refuse_edits:
            msg = f"fake tracker: issue {key} refused the edit (HTTP 422: labels)"
            raise TrackerRefused(msg)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_calls > 0:
            self.fail_calls -= 1
            msg = f"fake tracker: injected failure in {name}"
            raise TrackerUnavailable(msg)

    def _tick(self) -> datetime:
        # Strictly increasing, like updated_at in a real tracker, even within one clock tick.
        moment = max(self._now(), self._last_tick + timedelta(microseconds=1))
        self._last_tick = moment
        return moment

    def _note(
        self, body: str, *, author: str, by_bridge: bool = False, internal: bool = True
    ) -> TrackerNote:
        note = TrackerNote(
            note_id=str(self._next_note),
            author=author,
            body=body,
            created_at=self._tick(),
            internal=internal,
            by_bridge=by_bridge,
        )
        self._next_note += 1
        return note

    def _ref(self, key: str) -> IssueRef:
        return IssueRef("fake", self.project, key, f"fake://{self.project}/issues/{key}")

    def _installation(self, issue: FakeIssue) -> str | None:
        label = next((lab for lab in issue.labels if lab.startswith(self.store_prefix)), None)
        return label[len(self.store_prefix) :] if label else None

    def _snapshot(self, issue: FakeIssue, notes: tuple[TrackerNote, ...]) -> IssueSnapshot:
        marker = next((lab for lab in issue.labels if lab.startswith(self.marker_prefix)), None)
        return IssueSnapshot(
            ref=self._ref(issue.key),
            report_id=marker[len(self.marker_prefix) :] if marker else None,
            status=issue.status,
            labels=frozenset(issue.labels),
            due_date=issue.due_date,
            updated_at=issue.updated_at,
            notes=notes,
            confidential=issue.confidential,
            installation=self._installation(issue),
        )


_REVEALED_BIDI = str.maketrans({ch: f"[U+{ord(ch):04X}]" for ch in BIDI_CONTROLS})


def _reveal_bidi(text: str) -> str:
    """Bidirectional controls shown as ``[U+XXXX]``, as the real plugins' markup does."""
    return text.translate(_REVEALED_BIDI)

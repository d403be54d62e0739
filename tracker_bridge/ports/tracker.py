"""The tracker boundary: what the core asks a tracker plugin, and the data that crosses it.

Plugins implement ``Tracker`` (and optionally ``TrackerAccessCheck``) and register a
``TrackerPlugin`` under the entry-point group ``tracker_bridge.trackers``; every error they
raise is one of ``tracker_bridge.errors``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import date, datetime

    from tracker_bridge.ports.intake import Attachment, AttachmentInfo


@dataclass(frozen=True)
class IssueRef:
    """Where a report lives in a tracker: ``gitlab`` ``security/cvd`` ``#12``.

    ``tracker`` is the plugin kind, ``project`` the GitLab project path or Jira project key,
    ``key`` the issue's key as the tracker shows it (GitLab IID, Jira ``SEC-12``), ``url`` its
    web address.
    """

    tracker: str
    project: str
    key: str
    url: str


@dataclass(frozen=True)
class IssueDraft:
    """What the bridge asks a tracker to open for a report.

    ``title`` and ``body`` are the researcher's words: untrusted, rendered inert by the plugin.
    ``summary`` is the bridge's own block (label, value) the team reads first; it never holds
    the researcher's address unless the program allows it.
    """

    report_id: str
    title: str
    body: str
    summary: Sequence[tuple[str, str]] = ()  # (label, value) rows, in display order
    labels: frozenset[str] = frozenset()
    due_date: date | None = None  # a calendar date in the program's time zone
    attachments: Sequence[AttachmentInfo] = ()
    unencrypted_parts: Sequence[str] = ()
    # The bytes, for plugins configured to upload attachments (off by default: uploads on a
    # confidential issue in a public GitLab project are reachable by anyone with the URL).
    attachment_files: Sequence[Attachment] = ()
    # The store id of the installation opening it; the plugin writes it into the marker and
    # adopts an existing marked issue only when it carries the same id.
    installation: str = ""


@dataclass(frozen=True)
class IssueUpdate:
    """Label and due-date changes; ``set_due_date`` False leaves the due date alone.

    ``due_date`` is a calendar date (the tracker's native due date); None with
    ``set_due_date`` clears it.
    """

    add_labels: frozenset[str] = frozenset()
    remove_labels: frozenset[str] = frozenset()
    set_due_date: bool = False
    due_date: date | None = None

    @property
    def is_empty(self) -> bool:
        """True when applying it would change nothing."""
        return not (self.add_labels or self.remove_labels or self.set_due_date)


@dataclass(frozen=True)
class TrackerNote:
    """A comment on an issue; ``by_bridge`` marks the ones the bridge wrote itself.

    ``note_id`` is the tracker's id for the note, ``author`` the account name, ``created_at`` an
    aware datetime (UTC), ``internal`` whether only the team sees it.
    """

    note_id: str
    author: str
    body: str
    created_at: datetime
    internal: bool
    by_bridge: bool = False


@dataclass(frozen=True)
class IssueSnapshot:
    """An issue as the tracker shows it now, returned by ``Tracker.changes_since``.

    ``status`` is the tracker's own word (GitLab ``opened``/``closed``, a Jira status name);
    ``status_category`` is Jira's category key (``new``, ``indeterminate``, ``done``) or None.
    ``notes`` holds the non-system notes created since the bookmark that was asked for.
    ``updated_at`` is an aware datetime (UTC): the bookmark moves to the latest one read.
    """

    ref: IssueRef
    report_id: str | None
    status: str
    labels: frozenset[str]
    due_date: date | None
    updated_at: datetime
    status_category: str | None = None
    notes: tuple[TrackerNote, ...] = ()
    confidential: bool = True
    # The store id in the issue's marker, or None for an issue without one (made before
    # markers carried it, or by hand); the core applies a change only to its own issues.
    installation: str | None = None


ERASED_ON_REQUEST = "(erased on request)"
"""What an erased name, address or fingerprint reads as on the issue."""


@dataclass(frozen=True)
class TextErasure:
    """What to erase from the text the bridge wrote on an issue (a researcher's erasure request).

    Every occurrence of a string in ``words`` (their name, address, key fingerprint) in the
    description and in the bridge's own notes becomes ``replacement``; a bridge note whose text
    starts with one of ``notes_starting`` (a reply the bridge copied there) is replaced as a
    whole by ``note_replacement``. Both replacements are the bridge's plain words.
    """

    words: tuple[str, ...] = ()
    notes_starting: tuple[str, ...] = ()
    replacement: str = ERASED_ON_REQUEST
    note_replacement: str = "Erased on request."

    def erase_words(self, text: str) -> str:
        """``text`` with every whole occurrence of ``words`` replaced (longest first, any case).

        "Jan" is erased in "Jan de Vries" but not in "January".
        """
        for word in sorted({w.strip() for w in self.words if w.strip()}, key=len, reverse=True):
            pattern = rf"(?<!\w){re.escape(word)}(?!\w)"
            text = re.sub(pattern, lambda _: self.replacement, text, flags=re.IGNORECASE)
        return text

    def replaces_note(self, text: str) -> bool:
        """Whether a bridge note with ``text`` is replaced as a whole."""
        return text.lstrip().startswith(self.notes_starting) if self.notes_starting else False


@runtime_checkable
class Tracker(Protocol):
    """An issue tracker holding confidential CVD issues. See ARCHITECTURE.md for semantics.

    Implementations must: open confidential or not at all (placeholder, read back, verify,
    then content); be idempotent by report id and installation (marker labels: the report id
    and ``IssueDraft.installation``), never adopting an issue whose marker names another or no
    installation (``ForeignIssueError`` naming both); render researcher text inert;
    translate vendor errors into ``tracker_bridge.errors`` at this seam; retry 429/5xx/
    timeouts with bounded backoff and then raise ``TrackerUnavailable``.

    Every method raises only errors of the three recovery groups (``tracker_bridge.errors``):

    - ``TrackerUnavailable`` (retriable): 429, 5xx, timeouts, after the bounded retries.
    - ``TrackerRefused`` (skippable): HTTP 400/409/422 for this report's write, e.g. a label
      the project refuses or a field required on its create screen.
    - ``NotFoundError`` (skippable): the named issue is gone (deleted by hand: 404).
    - ``TrackerAuthError`` (fatal): 401/403, the token is refused or lacks a permission.
    - ``ConfigurationError`` (fatal): the project, issue type or security level named in
      the settings does not exist.
    """

    kind: ClassVar[str]

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Open (or find, after a crash) the confidential issue for ``draft.report_id``.

        Raises:
            ForeignIssueError: an issue carries the report's marker with another store id or
                none; it is left alone and the message names the issue and both stores (fatal).
            ConfidentialityError: the tracker did not show the issue confidential; nothing
                of the report was written (fatal).
            TrackerRefused: the tracker refused the placeholder or the content (skippable).
            TrackerUnavailable: after bounded retries (retriable); a create whose answer
                was lost is found by its marker on the next call, never made twice.
            TrackerAuthError, ConfigurationError: fatal.
        """
        ...

    def find_issue(self, report_id: str) -> IssueRef | None:
        """An issue carrying the report's marker, made by any installation, or None.

        The core uses it to move its report-id sequence past ids a tracker already holds.

        Raises:
            TrackerUnavailable: retriable. TrackerAuthError, ConfigurationError: fatal.
        """
        ...

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Add and remove labels and set the native due date, in one write where possible.

        Raises:
            TrackerRefused: the tracker refused this edit (a label, a field; skippable).
            NotFoundError: the issue was deleted (skippable).
            TrackerUnavailable: retriable. TrackerAuthError: fatal.
        """
        ...

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Add an internal note: the bridge's ``text``, then ``untrusted`` rendered inert.

        Raises:
            TrackerRefused: the tracker refused the note (skippable).
            NotFoundError: the issue was deleted (skippable).
            TrackerUnavailable: retriable; a note whose answer was lost is not resent.
            TrackerAuthError: fatal.
        """
        ...

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Issues updated at or after ``since`` (all when None), oldest change first, paged.

        Raises:
            TrackerUnavailable: retriable (the bookmark stays where it was).
            TrackerAuthError, ConfigurationError: fatal.
        """
        ...

    def erase_bridge_text(self, ref: IssueRef, erasure: TextErasure) -> int:
        """Apply ``erasure`` to the description and to every note the bridge's account wrote.

        The team's own comments are never changed. Returns how many texts (description and
        notes) were rewritten; applying the same erasure again rewrites nothing.

        Raises:
            NotFoundError: the issue was deleted (skippable).
            TrackerRefused: the tracker refused a rewrite (skippable).
            TrackerUnavailable: retriable. TrackerAuthError: fatal.
        """
        ...


@runtime_checkable
class TrackerAccessCheck(Protocol):
    """What ``check --online`` asks a plugin that offers it (optional for plugins)."""

    def check_access(self) -> list[str]:
        """Problems found asking the tracker; [] when the bridge can work.

        Checks that the token works, the project exists, and the token may make issues
        confidential (GitLab: Reporter role or higher; Jira: the security level is offered on
        the create screen). Writes nothing. Each problem names the tracker, project and setting.

        Returns:
            One sentence per problem found; an unreachable tracker is a problem, not an error.
        """
        ...


@runtime_checkable
class TrackerPlugin(Protocol):
    """What the entry point ``tracker_bridge.trackers`` names: a tracker class and its settings.

    ``Settings`` is a pydantic model for the plugin's ``[tracker.<kind>]`` section;
    ``from_settings`` builds a ready tracker from a validated instance.
    """

    kind: ClassVar[str]
    Settings: ClassVar[type]

    @classmethod
    def from_settings(cls, settings: object) -> Tracker:
        """Build the tracker client from validated settings (no network at construction).

        Raises:
            TypeError: ``settings`` is not an instance of the plugin's ``Settings`` model.
        """
        ...

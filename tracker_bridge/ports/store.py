"""The store boundary: the repositories one unit of work holds, and the rows they return.

Reports, researchers, messages, issue links, bookmarks, outbox rows and installation facts.
Implemented by ``tracker_bridge.store`` (SQLite, PostgreSQL). Every datetime is aware (UTC).

Any repository method may raise, from the store's error seam: ``StoreBusy`` (retriable: another
worker holds the lock; SQLite waits up to its busy timeout first), ``StoreUnavailable``
(retriable: the server cannot be reached) or ``StoreError`` (fatal: the database refused the
operation). Only the further errors a method raises are listed on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from tracker_bridge.domain.report import Report, ReportId, State
    from tracker_bridge.domain.researcher import Researcher
    from tracker_bridge.ports.intake import Attachment, Verdict
    from tracker_bridge.ports.mail import OutboxItem
    from tracker_bridge.ports.openpgp import SignatureCheck
    from tracker_bridge.ports.tracker import IssueRef


@dataclass(frozen=True)
class StoredMessage:
    """A mail as received (encrypted at rest) and what became of it."""

    message_id: str
    digest: str
    received_at: datetime
    verdict: Verdict
    reason: str
    encrypted_raw: bytes
    report_id: str | None = None
    source: str = ""
    ciphertext_digest: str | None = None


@dataclass(frozen=True)
class ReportContent:
    """The researcher's words for a report; purged after the retention period."""

    report_id: str
    subject: str
    body: str
    encrypted: bool
    signature: SignatureCheck
    unencrypted_parts: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class ReportEvent:
    """Something that happened to a report (state change, label sync, refused move)."""

    report_id: str
    at: datetime
    kind: str
    detail: str
    dedupe_key: str | None = None


DUE_NOW = datetime(1970, 1, 1, tzinfo=UTC)
"""The next moment the store gives an open report that was added or changed: before any clock,
so the next pass looks at it and stores the real one (``ReportRepository.set_next_due``)."""


class ReportRepository(Protocol):
    """Reports, their content and their history.

    Each report carries the next moment at which anything about it changes by time alone:
    while open a deadline label, a missed-deadline note, a progress update (sync); once
    closed a retention step (purge). Adding or saving a report, linking its first issue,
    storing a mail for it or queueing one sets it to ``DUE_NOW``. A pass reads only the
    reports whose moment has come (``due_reports_page``) and stores the next one
    (``set_next_due``).
    """

    def next_id(self, program: str, prefix: str, year: int) -> ReportId:
        """Allocate the next id for the program and year (never reused)."""
        ...

    def last_sequence(self, prefix: str, year: int) -> int:
        """The highest sequence number handed out for the prefix and year (0 before the first)."""
        ...

    def skip_past(self, prefix: str, year: int, sequence: int) -> None:
        """Make ``next_id`` hand out numbers above ``sequence`` (never moves the counter back)."""
        ...

    def add(self, report: Report, researcher_email: str, content: ReportContent) -> None:
        """Store a new report with its researcher and content (due now)."""
        ...

    def get(self, report_id: str) -> Report | None:
        """The report with its history, or None."""
        ...

    def save(self, report: Report) -> None:
        """Persist state, severity, fix date, history and last update time.

        The report's next moment becomes ``DUE_NOW``: whatever changed, the next pass (sync
        while it is open, purge once closed) looks at it again.

        Raises:
            NotFoundError: the report was never added.
        """
        ...

    def note_researcher_update(self, report_id: str, at: datetime) -> None:
        """Record that the researcher was last told something at ``at``, without reading it.

        The same as ``get``, setting ``last_researcher_update_at`` and ``save``, for a change
        that moves nothing else: the report becomes ``DUE_NOW``. Nothing happens when no
        report has this id (as ``get`` returning None would skip the save).
        """
        ...

    def content(self, report_id: str) -> ReportContent | None:
        """The researcher's words, or None once purged."""
        ...

    def researcher_of(self, report_id: str) -> Researcher | None:
        """Who reported it, or None once forgotten."""
        ...

    def credit_name_of(self, report_id: str) -> str | None:
        """The name to credit for the report, kept after contact details are erased; or None."""
        ...

    def open_reports(self, program: str | None = None) -> Iterator[Report]:
        """Every report not closed, oldest first."""
        ...

    def open_reports_page(self, after: str | None, limit: int) -> list[Report]:
        """Up to ``limit`` open reports whose id sorts after ``after``, in id order.

        Keyset paging: a pass walks every open report in pages, so memory stays the size of a
        page however many reports are tracked.
        """
        ...

    def unlinked_reports_page(self, after: str | None, limit: int) -> list[str]:
        """Ids of up to ``limit`` open reports with no tracker issue, after ``after``, in id order.

        What ``open_pending_issues`` retries; read from the links, not by walking every report.
        """
        ...

    def due_reports_page(
        self, now: datetime, after: str | None, limit: int, *, closed: bool | None = False
    ) -> list[Report]:
        """Up to ``limit`` open reports whose next moment is at or before ``now``, in id order.

        With ``closed`` True the closed ones instead (retention); with None both (the sync:
        a closed report's legal clocks keep running). Keyset paging on the report id,
        like ``open_reports_page``; reports whose next moment is None or later than ``now``
        are not read at all.
        """
        ...

    def mark_all_due(self) -> int:
        """Make every report due at the next pass (the policy its moments came from changed).

        Returns:
            How many reports were marked.
        """
        ...

    def set_next_due(self, report: Report, moment: datetime | None) -> bool:
        """Store ``moment`` as the next time anything about ``report`` changes by time alone.

        ``report`` is the report as the moment was computed from; the moment is stored only
        while the stored report still has the same state, severity, fix date, last update time
        and history length, so a change saved meanwhile (which made it due) is not hidden.

        Args:
            report: the report the moment was computed from.
            moment: an aware datetime, or None when nothing changes until the report does.

        Returns:
            True when stored; False when the report changed or is gone (it stays as it is).
        """
        ...

    def reports_in(self, states: frozenset[State]) -> Iterator[Report]:
        """Every report in one of ``states``, oldest first (credits, retention)."""
        ...

    def add_event(self, event: ReportEvent) -> bool:
        """Record an event; False (and nothing stored) when its dedupe key was seen."""
        ...

    def events(self, report_id: str) -> list[ReportEvent]:
        """A report's events, oldest first."""
        ...

    def report_ids_with_event(self, kind: str) -> list[str]:
        """The ids of the reports with at least one event of ``kind``, sorted, each once.

        Read through the events' (kind, report id) index, so its cost follows the reports with
        such an event (e.g. ``reg_started``: the few with a legal clock), not all reports.
        """
        ...


class ResearcherRepository(Protocol):
    """Researchers, keyed by mail address (case-insensitive)."""

    def get(self, email: str) -> Researcher | None:
        """The researcher with this address, or None."""
        ...

    def save(self, researcher: Researcher) -> None:
        """Insert or update by address."""
        ...


class MessageRepository(Protocol):
    """Raw messages as received, so the same mail read twice creates nothing new."""

    def seen(self, message_id: str, digest: str) -> StoredMessage | None:
        """The stored message with this Message-ID and digest, or None."""
        ...

    def add(self, message: StoredMessage) -> None:
        """Store a message and its outcome."""
        ...

    def report_for_message_ids(self, message_ids: Sequence[str]) -> str | None:
        """The report a thread belongs to, from In-Reply-To / References ids (ours or theirs)."""
        ...

    def first_message_id(self, report_id: str) -> str | None:
        """The Message-ID of the mail that opened the report (the root of its thread)."""
        ...

    def report_for_ciphertext(self, ciphertext_digest: str) -> str | None:
        """The report whose mail carried this ciphertext first (a replay finds it), or None."""
        ...


class TrackerLinkRepository(Protocol):
    """Which tracker issue holds which report."""

    def get(self, report_id: str) -> IssueRef | None:
        """The linked issue, or None."""
        ...

    def link(self, report_id: str, ref: IssueRef, labels: frozenset[str] | None = None) -> None:
        """Remember the issue for a report (idempotent); a new link makes an open report due.

        ``labels``, when given, are remembered as ``set_labels`` would (one write instead of
        two); None keeps the labels remembered (none for a new link).
        """
        ...

    def report_for(self, tracker: str, project: str, key: str) -> str | None:
        """The report id linked to an issue, or None."""
        ...

    def labels(self, report_id: str) -> frozenset[str]:
        """The labels the bridge last saw or wrote on the issue."""
        ...

    def links_of(self, report_ids: Sequence[str]) -> dict[str, tuple[IssueRef, frozenset[str]]]:
        """Issue and last known labels of each linked report among ``report_ids`` (one query)."""
        ...

    def set_labels(self, report_id: str, labels: frozenset[str]) -> None:
        """Remember the labels now on the issue.

        Raises:
            NotFoundError: the report has no tracker issue.
        """
        ...


class BookmarkRepository(Protocol):
    """How far each tracker project has been read."""

    def get(self, name: str) -> datetime | None:
        """The bookmark, or None before the first pass."""
        ...

    def set(self, name: str, value: datetime) -> None:
        """Move the bookmark (callers only ever move it forward)."""
        ...


class OutboxRepository(Protocol):
    """Mail to researchers, waiting to be delivered."""

    def add(self, item: OutboxItem) -> bool:
        """Queue a mail; False (nothing queued) when its dedupe key exists."""
        ...

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Up to ``limit`` pending rows whose next attempt is at or before ``now``, oldest first."""
        ...

    def save(self, item: OutboxItem) -> None:
        """Persist status, attempts, next attempt and error.

        Raises:
            NotFoundError: the row was never queued.
        """
        ...

    def for_report(self, report_id: str) -> list[OutboxItem]:
        """Every row of one report, oldest first."""
        ...

    def sent_since(self, recipient: str, since: datetime) -> int:
        """How many mails went to ``recipient`` (case-insensitive) at or after ``since``."""
        ...

    def release_withheld(self, recipient: str, now: datetime) -> int:
        """Make every withheld row of ``recipient`` (any letter case) pending and due at ``now``.

        Their queue order (oldest first) is kept; returns how many rows were released.
        """
        ...


class InstallationRepository(Protocol):
    """Facts about this installation kept with its data.

    ``store_id`` is made with the store and travels with it (``db copy``): the tracker
    plugins write it into every issue marker, so a new store never adopts an old one's issues.
    """

    def store_id(self) -> str:
        """This store's id (16 hex digits).

        Raises:
            StoreError: the store has none (its schema predates store ids: run ``db upgrade``).
        """
        ...

    def get(self, key: str) -> str | None:
        """A stored fact (``tracker_unavailable_since`` as ISO 8601), or None."""
        ...

    def put(self, key: str, value: str | None) -> None:
        """Set a fact; None removes it."""
        ...

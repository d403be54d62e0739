"""The boundaries as typing.Protocol, and the small data objects that cross them.

Services depend on these protocols only; adapters (store, intake, mail, tracker plugins)
implement them, and ``app.py`` wires the concrete classes together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from types import TracebackType
from typing import ClassVar, Protocol, Self, runtime_checkable

from tracker_bridge.domain.report import Report, ReportId, State
from tracker_bridge.domain.researcher import Researcher

# ---------------------------------------------------------------------------- time


class Clock(Protocol):
    """Where "now" comes from; tests pass a settable clock."""

    def now(self) -> datetime:
        """The current moment, time-zone aware."""
        ...


# ---------------------------------------------------------------------------- trackers


@dataclass(frozen=True)
class IssueRef:
    """Where a report lives in a tracker: ``gitlab`` ``security/cvd`` ``#12``."""

    tracker: str
    project: str
    key: str
    url: str


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment described to the team (the bytes stay in the store unless configured)."""

    filename: str
    content_type: str
    size: int
    sha256: str


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
    summary: Sequence[tuple[str, str]] = ()
    labels: frozenset[str] = frozenset()
    due_date: date | None = None
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
    """Label and due-date changes; ``set_due_date`` False leaves the due date alone."""

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
    """A comment on an issue; ``by_bridge`` marks the ones the bridge wrote itself."""

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
        """Build the tracker client from validated settings (no network at construction)."""
        ...


# ---------------------------------------------------------------------------- OpenPGP


class SignatureStatus(StrEnum):
    """What a signature check concluded."""

    VALID = "valid"
    BAD = "bad"
    UNKNOWN_KEY = "unknown_key"
    NONE = "none"


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on a signature and who made it (primary key fingerprint when known)."""

    status: SignatureStatus
    fingerprint: str | None = None


@dataclass(frozen=True)
class Decryption:
    """A decryption gpg vouched for: integrity-protected, complete, within the size limit."""

    plaintext: bytes
    signature: SignatureCheck
    # Set when a bridge secret key other than the configured one decrypted (a rotated,
    # expired or revoked key a researcher still uses): its primary fingerprint and state.
    older_key: str | None = None


class OpenPGP(Protocol):
    """The bridge's OpenPGP operations (real gpg through python-gnupg in production)."""

    def decrypt(self, ciphertext: bytes) -> Decryption:
        """Decrypt and verify, or raise QuarantineError naming the reason (no partial output)."""
        ...

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        """Check a detached signature over ``signed``."""
        ...

    def encrypt_and_sign(self, plaintext: bytes, recipient_fingerprints: Sequence[str]) -> bytes:
        """Armoured ciphertext for the recipients (and the bridge), signed by the bridge key."""
        ...

    def sign_detached(self, data: bytes) -> bytes:
        """An armoured detached signature by the bridge key."""
        ...

    def encrypt_to_self(self, plaintext: bytes) -> bytes:
        """Ciphertext only the bridge key opens (how unencrypted mail is kept at rest)."""
        ...

    def decrypt_own(self, ciphertext: bytes) -> bytes:
        """Open what ``encrypt_to_self`` produced."""
        ...

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        """Import only the uid that matches ``address``; its fingerprint, or None if no match."""
        ...

    def has_key(self, fingerprint: str) -> bool:
        """Whether a public key with this fingerprint is in the keyring."""
        ...

    def delete_public_key(self, fingerprint: str) -> bool:
        """Remove a researcher's public key from the keyring; whether one was removed."""
        ...

    @property
    def bridge_fingerprint(self) -> str:
        """The fingerprint of the bridge's own signing and encryption key."""
        ...


# ---------------------------------------------------------------------------- intake


class Verdict(StrEnum):
    """What becomes of an incoming message."""

    REPORT = "report"
    REPLY = "reply"
    QUARANTINE = "quarantine"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Attachment:
    """A decrypted attachment with its digest; ``content`` stays in the store."""

    filename: str
    content_type: str
    content: bytes
    sha256: str

    @property
    def info(self) -> AttachmentInfo:
        """The description a tracker may show without the bytes."""
        return AttachmentInfo(self.filename, self.content_type, len(self.content), self.sha256)


# An entry of ``unencrypted_parts`` the bridge wrote itself (not researcher text); the issue
# shows it in the bridge's summary block, apart from the parts that arrived unencrypted.
BRIDGE_NOTE_PREFIX = "[tracker-bridge note] "


class Origin(StrEnum):
    """What the operator's trusted MTA said about the From domain (RFC 8601 Authentication-Results)."""

    UNCHECKED = "unchecked"  # no trusted authserv-id configured: the From address is believed
    UNKNOWN = "unknown"  # no field from the trusted MTA, or nothing decisive in it
    VERIFIED = "verified"  # DMARC, or DKIM/SPF aligned with the From domain, passed
    SPOOFED = "spoofed"  # DMARC failed, or DKIM and SPF failed for the From domain


@dataclass(frozen=True)
class OriginCheck:
    """The origin verdict on one mail and the reason, naming the authserv-id that gave it."""

    verdict: Origin = Origin.UNCHECKED
    reason: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A parsed, decrypted and verified mail, ready for the ingest service to decide on.

    ``verdict`` and ``reason`` are the reader's view (quarantine with a reason, or a
    report/reply candidate); the ingest service settles report versus reply from the store.
    """

    message_id: str
    digest: str
    sender: str
    sender_name: str | None
    subject: str
    body: str
    encrypted: bool
    decrypted: bool
    signature: SignatureCheck
    verdict: Verdict
    reason: str
    in_reply_to: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    unencrypted_parts: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    keys_found: tuple[str, ...] = ()
    auto_submitted: bool = False
    # A delivery report (RFC 3464 multipart/report, or from MAILER-DAEMON/postmaster): automatic
    # mail that returns ours, as opposed to an automatic reply such as an out-of-office.
    bounce: bool = False
    language: str | None = None
    raw_size: int = 0
    origin: OriginCheck = OriginCheck()
    # SHA-256 of the encrypted data packet that was decrypted (intake.provenance); None when
    # nothing was decrypted. The same ciphertext resent by someone else has the same digest.
    ciphertext_digest: str | None = None


class MessageReader(Protocol):
    """Turns the bytes of one mail into an InboundMessage; never raises for bad input."""

    def read(self, raw: bytes) -> InboundMessage:
        """Parse, decrypt and verify ``raw``; problems become a quarantine verdict."""
        ...


@dataclass(frozen=True)
class MailboxItem:
    """One message waiting in a source, with the handle needed to move it afterwards."""

    source: str
    handle: str
    raw: bytes


class MailSource(Protocol):
    """A place mail arrives (stdin, Maildir, IMAP). Items move only after the outcome is committed."""

    name: str

    def fetch(self) -> Iterator[MailboxItem]:
        """Yield waiting messages without removing them."""
        ...

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        """Move a handled message to Processed, or to Quarantine for that verdict."""
        ...


# ---------------------------------------------------------------------------- outbound mail


class NotificationKind(StrEnum):
    """Why the bridge writes to a researcher; each has a template per language."""

    ACKNOWLEDGEMENT = "acknowledgement"
    STATE_CHANGE = "state_change"
    FIX_DATE_CHANGED = "fix_date_changed"
    TEAM_MESSAGE = "team_message"
    PROGRESS_UPDATE = "progress_update"
    KEY_REQUEST = "key_request"


class OutboxStatus(StrEnum):
    """Delivery state of an outbox row."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # No usable key for the researcher and the program keeps this mail out of clear text: it
    # waits, and goes back to pending when their key arrives.
    WITHHELD = "withheld"


@dataclass
class OutboxItem:
    """A mail to a researcher, queued in the same transaction as the change that causes it.

    ``dedupe_key`` makes queuing idempotent: the same change read twice queues nothing new.
    ``message_id`` is fixed at queue time so a resend after a crash carries the same id.
    """

    outbox_id: str
    report_id: str
    recipient: str
    kind: NotificationKind
    template: str
    language: str
    params: Mapping[str, str]
    message_id: str
    dedupe_key: str
    created_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


TEMPLATE_PARAMETERS: frozenset[str] = frozenset(
    {
        # every template
        "report_id",
        "organisation",
        "researcher_name",
        "contact_address",
        "reply_address",
        "policy_url",
        # acknowledgement
        "subject",
        "received_date",
        "assessment_due",
        "arrived_encrypted",
        "arrived_signed",
        # state changes, fix date, team messages, progress updates
        "state",
        "severity",
        "severity_sentence",
        "expected_fix_date",
        "previous_fix_date",
        "team_message",
        "publish_date",
        "credit_question",
    }
)
"""Placeholders templates may use. Names ending in ``_date`` or ``_due`` carry ISO dates that
the composer writes out in the researcher's language; ``arrived_*`` carry "yes" or "no";
``severity_sentence`` is derived from ``severity`` when rendering (a whole sentence, with its
own wording for a severity not yet assessed)."""


@dataclass(frozen=True)
class ComposedMail:
    """A mail ready for the transport: who sends, to whom, and the bytes (PGP/MIME or signed)."""

    sender: str
    recipients: tuple[str, ...]
    message: bytes
    encrypted: bool


class MailComposer(Protocol):
    """Renders an outbox row in the researcher's language and protects it (encrypt + sign)."""

    def compose(
        self, item: OutboxItem, researcher: Researcher, references: Sequence[str] = ()
    ) -> ComposedMail:
        """The mail for ``item``; without a key for the researcher, what the policy allows."""
        ...


class MailTransport(Protocol):
    """Delivers composed mail (SMTP in production, a recorder in unit tests)."""

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        """Deliver one message or raise MailUnavailable / MailRejected."""
        ...


# ---------------------------------------------------------------------------- store


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

    def link(self, report_id: str, ref: IssueRef) -> None:
        """Remember the issue for a report (idempotent); a new link makes an open report due."""
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
        """Remember the labels now on the issue."""
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
        """Pending rows whose next attempt is due, oldest first."""
        ...

    def save(self, item: OutboxItem) -> None:
        """Persist status, attempts, next attempt and error."""
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
        """This store's id (16 hex digits)."""
        ...

    def get(self, key: str) -> str | None:
        """A stored fact (``tracker_unavailable_since`` as ISO 8601), or None."""
        ...

    def put(self, key: str, value: str | None) -> None:
        """Set a fact; None removes it."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; leaving the block without commit rolls back."""

    reports: ReportRepository
    researchers: ResearcherRepository
    messages: MessageRepository
    links: TrackerLinkRepository
    bookmarks: BookmarkRepository
    outbox: OutboxRepository
    audit: AuditRepository
    privacy: PrivacyRepository
    installation: InstallationRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make everything done in this block durable."""
        ...

    def rollback(self) -> None:
        """Throw away everything done in this block."""
        ...


@dataclass
class PassSummary:
    """What one step of a pass did, for the one-line summary and ``--json``."""

    step: str
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def bump(self, key: str, by: int = 1) -> None:
        """Count one more of ``key``."""
        self.counts[key] = self.counts.get(key, 0) + by


# ---------------------------------------------------------------------------- sandboxes


class TrackerSandbox(Protocol):
    """A running tracker sandbox the demo drives: the plugin's settings for it and the team's hands.

    Plugins offer one through the entry-point group ``tracker_bridge.demo_sandboxes``, a callable
    taking the demo's working directory and returning a started sandbox.
    """

    kind: str
    url: str

    def tracker_section(self) -> dict[str, object]:
        """The ``[tracker.<kind>]`` settings that point the plugin at this sandbox."""
        ...

    def team_set_labels(self, key: str, add: set[str], remove: set[str]) -> None:
        """A team member edits labels."""
        ...

    def team_comment(self, key: str, body: str) -> None:
        """A team member comments."""
        ...

    def team_set_due_date(self, key: str, due: date) -> None:
        """A team member sets the due date."""
        ...

    def team_close(self, key: str) -> None:
        """A team member closes the issue (GitLab: close; Jira: transition to Done)."""
        ...

    def describe(self, key: str) -> list[tuple[str, str]]:
        """The issue as the team sees it: (field, value) rows, description and notes included."""
        ...

    def side_effects(self) -> list[str]:
        """Everything the tracker did on its own (commands run, people notified, images fetched)."""
        ...

    def stop(self) -> None:
        """Stop serving."""
        ...


# ---------------------------------------------------------------------------- privacy and audit


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit log: who did what to which report, and how it ended.

    Never holds report text, addresses or secrets: ``detail`` carries only references the
    bridge made itself (a template name, an issue key, our own Message-ID, a digest) or counts.
    """

    at: datetime
    actor: str
    action: str
    outcome: str
    report_id: str | None = None
    detail: str = ""


class AuditRepository(Protocol):
    """The audit log; append-only, so it offers no way to change or delete an entry."""

    def record(self, entry: AuditEntry) -> None:
        """Append one entry."""
        ...

    def entries(self, report_id: str | None = None) -> list[AuditEntry]:
        """Every entry (of one report when given), oldest first."""
        ...


@dataclass(frozen=True)
class HeldContent:
    """What the store still holds of a report that retention deletes (counts and mail ids).

    ``message_ids`` and ``digests`` name the stored mails so their mailbox copies can be found.
    """

    report_id: str
    contents: int = 0
    attachments: int = 0
    messages: int = 0
    outbox_rows: int = 0
    message_ids: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing of the report's content is left to delete."""
        return not (self.contents or self.attachments or self.messages or self.outbox_rows)


@dataclass(frozen=True)
class ContactHolder:
    """A researcher whose contact details are still held, and every report they made."""

    researcher_key: str
    report_ids: tuple[str, ...]


@dataclass(frozen=True)
class ErasedContact:
    """What erasing one researcher's contact details changed."""

    researcher_key: str
    report_ids: tuple[str, ...]
    outbox_rows: int = 0
    outbox_cancelled: int = 0
    events_scrubbed: int = 0


@dataclass(frozen=True)
class ResearcherRecord:
    """A researcher as stored, with the store's own key and timestamps (for access requests)."""

    researcher_key: str
    researcher: Researcher
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OwedNote:
    """A purge or erasure the team has not been told about on the issue yet."""

    report_id: str
    what: str
    at: datetime


PURGE_NOTE_KINDS: Mapping[str, str] = {
    "content_purged": "content",
    "contact_erased": "contact",
    "forgotten": "forget",
}
"""Report events that owe a note on the issue, and what the ``purge_noted`` event says."""


class PrivacyRepository(Protocol):
    """Retention and erasure: find and delete personal data and report content."""

    def held_content(self, report_id: str) -> HeldContent:
        """What purging the report's content would delete now (nothing is changed)."""
        ...

    def purge_content(self, report_id: str) -> HeldContent:
        """Delete the report's text, attachments and stored mails; strip its outbox rows.

        The skeleton stays (id, dates, states, severity, tracker link, events); outbox rows
        lose their recipient and parameters. Returns what was deleted.
        """
        ...

    def unlinked_messages(self, received_before: datetime) -> list[StoredMessage]:
        """Stored mails that belong to no report (quarantined, ignored) received before then."""
        ...

    def delete_messages(self, keys: Sequence[tuple[str, str]]) -> int:
        """Delete stored mails by (Message-ID, digest); how many were deleted."""
        ...

    def messages_of(self, report_id: str) -> list[StoredMessage]:
        """The stored mails of one report, oldest first."""
        ...

    def contact_holders(self) -> list[ContactHolder]:
        """Every researcher whose contact details are held, with their reports."""
        ...

    def owed_notes(self) -> list[OwedNote]:
        """Purges and erasures of linked reports not yet noted on their issue.

        One per report and kind (``content``, ``contact``, ``forget``), at its first event;
        ordered by report receipt, then report id, then time. Read in one query, so a pass
        with nothing owed costs nothing per report.
        """
        ...

    def researcher_key_for(self, email: str) -> str | None:
        """The store's key of the researcher with this address (any letter case), or None."""
        ...

    def researcher_record(self, researcher_key: str) -> ResearcherRecord | None:
        """The researcher under this key while their contact details are held, or None."""
        ...

    def erase_contact(self, researcher_key: str, *, keep_credit: bool = True) -> ErasedContact:
        """Erase address, display name and fingerprint, keeping a pseudonymous row.

        With ``keep_credit`` (retention) the credit name stays when they consented to credit;
        an erasure request (``keep_credit`` False) erases it too. Their outbox rows lose recipient
        and parameters (pending ones are cancelled); their address and fingerprint are
        removed from their reports' events and their own Message-IDs from the thread index.
        """
        ...


class Keyring(Protocol):
    """The bridge keyring as erasure sees it: researchers' public keys can be removed."""

    def delete_public_key(self, fingerprint: str) -> bool:
        """Remove the public key with this fingerprint (never the bridge's own); whether it was there."""
        ...


class MailboxArchive(Protocol):
    """Where the bridge keeps settled mail (Processed and Quarantine folders)."""

    name: str

    def delete_copies(
        self, message_ids: Sequence[str], digests: Sequence[str], *, dry_run: bool = False
    ) -> int:
        """Delete settled copies matching a Message-ID or a digest of the raw bytes; the count.

        With ``dry_run`` nothing is deleted and the count says what would be.
        """
        ...

"""The privacy and audit boundary: audit log, retention, erasure, keyring and mailbox copies.

Retention follows GDPR Art. 5(1)(e) (storage limitation); access and erasure requests follow
Art. 15 and Art. 17.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from tracker_bridge.domain.researcher import Researcher
    from tracker_bridge.ports.store import StoredMessage


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit log: who did what to which report, and how it ended.

    ``at`` is an aware datetime (UTC).

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
    """A researcher as stored, with the store's own key and timestamps (for access requests).

    ``created_at`` and ``updated_at`` are aware datetimes (UTC); GDPR Art. 15 access requests
    show them.
    """

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
        """Stored mails that belong to no report (quarantined, ignored) received before then.

        ``received_before`` is an aware datetime (UTC): the retention cut-off.
        """
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

        With ``dry_run`` nothing is deleted and the count says what would be. ``digests`` are
        hex SHA-256 digests of the raw message bytes.

        Raises:
            RetriableError: the IMAP server is unreachable or failed temporarily.
            SkippableError: the IMAP server refused a command.
            ConfigurationError: the IMAP login was refused.
        """
        ...

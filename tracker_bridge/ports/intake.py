"""The inbound-mail boundary: where mail arrives, the reader that parses it, and the result.

Implemented by ``tracker_bridge.intake`` (stdin, Maildir, IMAP; RFC 5322 and RFC 3156 parsing).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tracker_bridge.ports.openpgp import SignatureCheck


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment described to the team (the bytes stay in the store unless configured).

    ``size`` is in bytes; ``sha256`` the hex SHA-256 of the content.
    """

    filename: str
    content_type: str
    size: int
    sha256: str


class Verdict(StrEnum):
    """What becomes of an incoming message."""

    REPORT = "report"
    REPLY = "reply"
    QUARANTINE = "quarantine"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Attachment:
    """A decrypted attachment with its digest; ``content`` stays in the store.

    ``sha256`` is the hex SHA-256 of ``content``; ``content_type`` the MIME type the sender gave.
    """

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
    ``message_id`` is the RFC 5322 Message-ID (a synthetic one made from the digest when the mail
    has none), ``digest`` the hex SHA-256 of the raw bytes, ``raw_size`` their length in bytes,
    ``in_reply_to`` the ids in In-Reply-To and References.
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
        """Parse, decrypt and verify ``raw`` (RFC 5322 bytes); problems become a quarantine verdict.

        Never raises: every input, and every failure of gpg on it, ends in a verdict with a reason.
        """
        ...

    def prepare(self, raw: bytes) -> Callable[[], InboundMessage]:
        """Read ``raw`` as far as it goes without gpg; calling the result reads the rest.

        ``read(raw)`` is ``prepare(raw)()``, whichever threads make the two calls: a reader
        service prepares the next message while gpg works on the one before. Neither call
        raises for bad input; ``prepare`` stores nothing and runs no gpg.
        """
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
        """Yield waiting messages without removing them.

        Raises:
            RetriableError: the IMAP server is unreachable or a command failed temporarily.
            SkippableError: one message cannot be read (it is left where it is).
            ConfigurationError: the folder is not a Maildir, or the IMAP login was refused.
        """
        ...

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        """Move a handled message to Processed, or to Quarantine for that verdict.

        Raises:
            SkippableError: the message vanished or the server refused the move.
            RetriableError: the IMAP server failed temporarily.
        """
        ...

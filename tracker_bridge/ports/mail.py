"""The outbound-mail boundary: outbox rows, template parameters, the composer and the transport.

Implemented by ``tracker_bridge.mail`` (PGP/MIME per RFC 3156, SMTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from tracker_bridge.domain.researcher import Researcher


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
    Every datetime is aware (UTC); ``attempts`` counts delivery attempts so far.
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

    @property
    def carries_team_words(self) -> bool:
        """Whether the mail holds the team's own words (a team message or a state mail quoting one).

        Such a mail is never sent in clear text (``mail.compose``), and its delivery is noted on
        the issue (``services.notify``).
        """
        return self.kind is NotificationKind.TEAM_MESSAGE or bool(
            str(self.params.get("team_message", "")).strip()
        )


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
        """The mail for ``item``; without a key for the researcher, what the policy allows.

        ``references`` are Message-IDs for the References header (RFC 5322 section 3.6.4).

        Raises:
            RecipientKeyMissing: no usable key and the cleartext policy keeps this mail out of
                clear text (skippable: the caller withholds it until a key arrives).
            ConfigurationError: a template is missing or broken.
            FatalError: the bridge key cannot sign.
        """
        ...


class MailTransport(Protocol):
    """Delivers composed mail (SMTP in production, a recorder in unit tests)."""

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        """Deliver one message (RFC 5322 bytes) to ``recipients`` from ``sender``.

        Raises:
            MailUnavailable: the server is unreachable, timed out or answered 4xx (retriable).
            MailRejected: the server answered 5xx for the recipient or the data (skippable).
            ConfigurationError: TLS or AUTH as configured is refused or impossible.
        """
        ...

"""Hand-written fakes of the mail-side ports, for unit tests of the services."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from tracker_bridge.errors import (
    ConfigurationError,
    MailRejected,
    MailUnavailable,
    RecipientKeyMissing,
)
from tracker_bridge.ports.intake import InboundMessage, MailboxItem, Verdict
from tracker_bridge.ports.mail import ComposedMail, OutboxItem
from tracker_bridge.ports.openpgp import Decryption, SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from tracker_bridge.domain.researcher import Researcher


def inbound(
    body: str = "The login form is injectable.",
    *,
    sender: str = "ada@example.org",
    subject: str = "SQL injection in login",
    message_id: str = "<m1@example.org>",
    **changes: object,
) -> InboundMessage:
    """An InboundMessage as the reader would produce for a good encrypted, signed report."""
    message = InboundMessage(
        message_id=message_id,
        digest=hashlib.sha256(f"{message_id}{body}".encode()).hexdigest(),
        sender=sender,
        sender_name="Ada",
        subject=subject,
        body=body,
        encrypted=True,
        decrypted=True,
        signature=SignatureCheck(SignatureStatus.VALID, "A" * 40),
        verdict=Verdict.REPORT,
        reason="decrypted and verified",
        recipients=("security@example.org",),
    )
    return replace(message, **changes)  # type: ignore[arg-type]


class FakeReader:
    """Returns the InboundMessage registered for each raw message (by its bytes)."""

    def __init__(self) -> None:
        self.messages: dict[bytes, InboundMessage] = {}

    def add(self, message: InboundMessage) -> MailboxItem:
        """Register a parsed message and return a mailbox item carrying its raw form."""
        raw = f"raw:{message.message_id}:{message.digest}".encode()
        self.messages[raw] = message
        return MailboxItem(source="test", handle=message.message_id, raw=raw)

    def read(self, raw: bytes) -> InboundMessage:
        """The registered message for ``raw``."""
        return self.messages[raw]

    def prepare(self, raw: bytes) -> Callable[[], InboundMessage]:
        """A call returning the registered message for ``raw``."""
        return partial(self.read, raw)


class FakeOpenPGP:
    """Reversible stand-ins for encryption at rest; enough for services that only store bytes.

    ``keys`` is the keyring's public keys by fingerprint; erasure removes from it.
    """

    bridge_fingerprint = "B" * 40

    def __init__(self, keys: Sequence[str] = ()) -> None:
        self.keys: set[str] = set(keys)

    def delete_public_key(self, fingerprint: str) -> bool:
        """Remove a key from the fake keyring; whether it was there."""
        if fingerprint in self.keys and fingerprint != self.bridge_fingerprint:
            self.keys.discard(fingerprint)
            return True
        return False

    def encrypt_to_self(self, plaintext: bytes) -> bytes:
        """A marked, reversed copy (never the plaintext as is)."""
        return b"FAKE-PGP:" + plaintext[::-1]

    def decrypt_own(self, ciphertext: bytes) -> bytes:
        """Undo encrypt_to_self."""
        return ciphertext.removeprefix(b"FAKE-PGP:")[::-1]

    def decrypt(self, ciphertext: bytes) -> Decryption:
        """Undo encrypt_to_self, as if gpg had verified it."""
        return Decryption(self.decrypt_own(ciphertext), SignatureCheck(SignatureStatus.NONE))

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        """Not faked: services that only store bytes never verify.

        Raises:
            NotImplementedError: always.
        """
        msg = "FakeOpenPGP.verify_detached: not faked; use a real GnuPG for signatures"
        raise NotImplementedError(msg)

    def encrypt_and_sign(self, plaintext: bytes, recipient_fingerprints: Sequence[str]) -> bytes:
        """Not faked: services that only store bytes never encrypt to a researcher.

        Raises:
            NotImplementedError: always.
        """
        msg = "FakeOpenPGP.encrypt_and_sign: not faked; use a real GnuPG for outgoing mail"
        raise NotImplementedError(msg)

    def sign_detached(self, data: bytes) -> bytes:
        """Not faked: services that only store bytes never sign.

        Raises:
            NotImplementedError: always.
        """
        msg = "FakeOpenPGP.sign_detached: not faked; use a real GnuPG for signatures"
        raise NotImplementedError(msg)

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        """Not faked: services that only store bytes never import keys.

        Raises:
            NotImplementedError: always.
        """
        msg = f"FakeOpenPGP.learn_key: not faked (key for {address}); use a real GnuPG"
        raise NotImplementedError(msg)

    def has_key(self, fingerprint: str) -> bool:
        """Whether ``fingerprint`` is in the fake keyring."""
        return fingerprint in self.keys


@dataclass
class FakeComposer:
    """Renders an outbox row as a readable text mail; records what it composed.

    With ``withhold_without_key`` a researcher without a fingerprint gets only the key request:
    every other row raises ``RecipientKeyMissing``, as the real composer does under
    ``cleartext = "none"``; otherwise mail to them is reported as sent in clear.
    """

    sender: str = "security@example.org"
    composed: list[tuple[OutboxItem, Researcher, tuple[str, ...]]] = field(default_factory=list)
    withhold_without_key: bool = False
    # Report mail to a researcher without a fingerprint as sent in clear (cleartext = "all").
    clear_without_key: bool = False

    def compose(
        self, item: OutboxItem, researcher: Researcher, references: Sequence[str] = ()
    ) -> ComposedMail:
        """A plain mail with the template name, language and parameters."""
        keyless = researcher.fingerprint is None and item.template != "key_request"
        if self.withhold_without_key and keyless:
            msg = f"{item.report_id}: no key for the researcher (fake)"
            raise RecipientKeyMissing(msg)
        self.composed.append((item, researcher, tuple(references)))
        params = "\n".join(f"{key}={value}" for key, value in sorted(item.params.items()))
        text = (
            f"Message-ID: {item.message_id}\nTo: {researcher.email}\n"
            f"X-Template: {item.template}\nContent-Language: {item.language}\n\n{params}\n"
        )
        # Reported as encrypted unless it is a key request to a researcher without a key.
        keyless_clear = self.clear_without_key or item.template == "key_request"
        protected = not (keyless_clear and researcher.fingerprint is None)
        return ComposedMail(self.sender, (researcher.email,), text.encode(), encrypted=protected)


@dataclass
class RecordingTransport:
    """Keeps sent mail in a list; ``down`` and ``reject`` make it fail like a real server."""

    sent: list[tuple[str, tuple[str, ...], bytes]] = field(default_factory=list)
    down: bool = False
    reject: set[str] = field(default_factory=set)
    login_refused: bool = False

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        """Record the mail, or raise as a down, rejecting or misconfigured server would."""
        if self.login_refused:
            msg = "SMTP 127.0.0.1:25 refused the login: 535 (fake)"
            raise ConfigurationError(msg)
        if self.down:
            msg = "connection refused by 127.0.0.1:25 (fake)"
            raise MailUnavailable(msg)
        refused = [r for r in recipients if r in self.reject]
        if refused:
            msg = f"550 5.1.1 mailbox unavailable: {refused[0]} (fake)"
            raise MailRejected(msg)
        self.sent.append((sender, tuple(recipients), message))

    def templates(self) -> Iterator[str]:
        """The template name of each sent mail, in order."""
        for _, _, message in self.sent:
            for line in message.decode().splitlines():
                if line.startswith("X-Template: "):
                    yield line.removeprefix("X-Template: ")

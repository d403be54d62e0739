"""Bytes of one mail -> an InboundMessage: size limits, envelope, decryption, verdict.

The reader is the entry point; the header fields are read in ``intake.headers`` (a typed
``Envelope``), the MIME tree is walked and decrypted in ``intake.mime``, and part bytes and
text are decoded in ``intake.parts``.

How the reader decides (the rules the ingest service and ``inspect`` rely on):

- ``encrypted`` is True only when the message as a whole is one encrypted unit: RFC 3156
  multipart/encrypted at the top; the Exchange/GpgOL shape (multipart/mixed of empty text,
  application/pgp-encrypted and application/octet-stream); a text part (or a
  text/plain + text/html alternative) holding one or more armoured blocks; or a top-level
  multipart/mixed with exactly one such unit as a direct child. Other direct children of that
  multipart/mixed are kept as labelled ``unencrypted_parts`` (and unencrypted attachments),
  never merged into ``body``.
- Inline blocks with text around them in the same part (a Mailman or Google Groups footer,
  "see below", a signature line) are each decrypted; the text around them becomes labelled
  ``unencrypted_parts`` exactly like a separate unencrypted part, never part of ``body``. A
  block the bridge cannot open quarantines the whole message with gpg's reason: a report whose
  only readable text is the unencrypted part would mislead the team.
- An encrypted unit anywhere else (multipart/encrypted nested deeper, blocks in several
  parts, armour inside an attachment) sits inside attacker-writable plaintext: the reader
  does not decrypt it. The verdict stays ``report`` with ``encrypted=False``; the unit is kept
  aside as an attachment so the team can open it by hand, and the reason says so.
- Any secret key of the bridge keyring decrypts; when it is not the configured key (a rotated,
  expired or revoked one), the reason and a ``[tracker-bridge note]`` entry of
  ``unencrypted_parts`` tell the team the researcher used an old key.
- Decryption is accepted only as ``OpenPGP.decrypt`` vouches for it; any refusal becomes
  ``quarantine`` with gpg's reason. Limits (size, MIME depth, part count) also quarantine.
- ``ignore`` is used for mail whose sender is one of the bridge's own addresses (a loop) and for
  empty unencrypted junk (no subject, no text, no attachment). Bounces and other RFC 3834
  automatic mail stay ``report`` with ``auto_submitted=True`` so the service can record them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import Message
from functools import partial
from typing import TYPE_CHECKING

from tracker_bridge.errors import QuarantineError
from tracker_bridge.intake.headers import (
    Envelope,
    autocrypt_key,
    header_text,
    parse_headers_only,
    read_envelope,
)
from tracker_bridge.intake.mime import (
    EncryptedUnit,
    LimitExceeded,
    MimeContent,
    MimeWalker,
    find_encrypted_unit,
)
from tracker_bridge.intake.parts import parse_message
from tracker_bridge.ports.intake import BRIDGE_NOTE_PREFIX, InboundMessage, Verdict
from tracker_bridge.ports.openpgp import OpenPGP, SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["DEFAULT_LIMITS", "MailReader", "ReaderLimits"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class ReaderLimits:
    """Bounds beyond which a message is quarantined instead of parsed further.

    Attributes:
        max_message_bytes: Largest raw message read, in bytes (25 MiB).
        max_mime_depth: Deepest MIME nesting walked.
        max_parts: Most MIME parts in one message or decrypted entity.
    """

    max_message_bytes: int = 25 * _MIB
    max_mime_depth: int = 20
    max_parts: int = 500


DEFAULT_LIMITS = ReaderLimits()


@dataclass
class _Prepared:
    """A message read as far as it goes without gpg (``MailReader.prepare``)."""

    raw: bytes
    digest: str
    message: Message
    envelope: Envelope
    outer_subject: str
    unit: EncryptedUnit | None = None
    # What looking for the unit raised; raised again by _finish after keys are learned.
    unit_error: Exception | None = None


class MailReader:
    """Reads one mail into an InboundMessage; never raises for bad input (``ports.MessageReader``).

    Args:
        openpgp: The OpenPGP adapter that decrypts, verifies and learns keys.
        limits: Size, MIME depth and part-count limits.
        own_addresses: The bridge's own mail addresses; mail from them is ignored (loops).
        trusted_authserv_id: The authserv-id of the operator's receiving MTA whose
            Authentication-Results (RFC 8601) decide ``origin``; None checks nothing.
        learn_keys: Import attached / Autocrypt keys whose uid matches From. False (for
            ``inspect``) changes nothing in the keyring; ``keys_found`` then lists what would be
            learned when the adapter offers ``matching_key``.
    """

    def __init__(
        self,
        openpgp: OpenPGP,
        limits: ReaderLimits = DEFAULT_LIMITS,
        *,
        own_addresses: Sequence[str] = (),
        learn_keys: bool = True,
        trusted_authserv_id: str | None = None,
    ) -> None:
        self._openpgp = openpgp
        self._trusted_authserv_id = trusted_authserv_id
        self.limits = limits
        self._walker = MimeWalker(
            openpgp, max_mime_depth=limits.max_mime_depth, max_parts=limits.max_parts
        )
        self._own = frozenset(a.strip().lower() for a in own_addresses)
        self._learn_keys = learn_keys

    # ------------------------------------------------------------------ entry point

    def read(self, raw: bytes) -> InboundMessage:
        """Parse, decrypt and verify ``raw``; problems become a quarantine verdict."""
        return self.prepare(raw)()

    def prepare(self, raw: bytes) -> Callable[[], InboundMessage]:
        """Read ``raw`` as far as it goes without gpg; the returned call reads the rest.

        ``prepare`` parses the message, reads its envelope and finds its encrypted unit; the
        call it returns learns keys, decrypts, verifies and decides. ``read(raw)`` is
        ``prepare(raw)()``: the verdict, its reason and the keys learned are the same whichever
        thread makes each call, so the ingest service prepares the next message on its own
        thread while gpg works on the one before (``ports.MessageReader``). Neither raises for
        bad input.
        """
        digest = hashlib.sha256(raw).hexdigest()
        try:
            prepared = self._prepare(raw, digest)
        except Exception as err:  # noqa: BLE001 - the promise is: every input ends in a verdict
            unreadable = self._unreadable(raw, digest, err)
            return lambda: unreadable
        if isinstance(prepared, InboundMessage):
            return lambda: prepared
        return partial(self._finish_or_unreadable, prepared)

    def _prepare(self, raw: bytes, digest: str) -> InboundMessage | _Prepared:
        """Everything before gpg: an early verdict, or what ``_finish`` goes on from."""
        if len(raw) > self.limits.max_message_bytes:
            headers = parse_headers_only(raw)
            return self._verdict_only(
                raw,
                digest,
                headers,
                Verdict.QUARANTINE,
                f"message is {len(raw)} bytes, over the limit of {self.limits.max_message_bytes}",
            )
        try:
            message = parse_message(raw)
        except RecursionError:
            return self._verdict_only(
                raw,
                digest,
                parse_headers_only(raw),
                Verdict.QUARANTINE,
                "MIME structure nested too deeply to parse",
            )
        return self._prepare_message(raw, digest, message)

    def _finish_or_unreadable(self, prepared: _Prepared) -> InboundMessage:
        try:
            return self._finish(prepared)
        except Exception as err:  # noqa: BLE001 - the promise is: every input ends in a verdict
            return self._unreadable(prepared.raw, prepared.digest, err)

    def _unreadable(self, raw: bytes, digest: str, err: Exception) -> InboundMessage:
        try:
            headers = parse_headers_only(raw)
        except Exception:  # noqa: BLE001 - even the header block is unreadable
            headers = Message()
        return self._verdict_only(
            raw,
            digest,
            headers,
            Verdict.QUARANTINE,
            f"message could not be read ({type(err).__name__})",
        )

    # ------------------------------------------------------------------ envelope

    def _envelope(self, raw: bytes, digest: str, message: Message) -> Envelope:
        return read_envelope(
            raw,
            digest,
            message,
            own_addresses=self._own,
            trusted_authserv_id=self._trusted_authserv_id,
        )

    def _verdict_only(
        self, raw: bytes, digest: str, message: Message, verdict: Verdict, reason: str
    ) -> InboundMessage:
        return self._envelope(raw, digest, message).inbound_message(
            subject=header_text(message, "Subject"),
            body="",
            encrypted=False,
            decrypted=False,
            signature=SignatureCheck(SignatureStatus.NONE),
            verdict=verdict,
            reason=reason,
        )

    # ------------------------------------------------------------------ structure

    def _prepare_message(
        self, raw: bytes, digest: str, message: Message
    ) -> InboundMessage | _Prepared:
        envelope = self._envelope(raw, digest, message)
        outer_subject = header_text(message, "Subject")
        try:
            self._walker.check_structure(message, depth=0, counter=[0])
        except LimitExceeded as err:
            return self._verdict_only(raw, digest, message, Verdict.QUARANTINE, str(err))

        if envelope.from_problem is not None:
            # RFC 5322 section 3.6.2: exactly one From mailbox; without it nobody is the sender.
            return self._verdict_only(
                raw, digest, message, Verdict.QUARANTINE, envelope.from_problem
            )
        if envelope.sender.lower() in self._own:
            return self._verdict_only(
                raw, digest, message, Verdict.IGNORE, "sent by the bridge's own address (loop)"
            )
        prepared = _Prepared(raw, digest, message, envelope, outer_subject)
        try:
            prepared.unit = find_encrypted_unit(message)
        except Exception as err:  # noqa: BLE001 - raised by _finish, after keys are learned
            prepared.unit_error = err
        return prepared

    def _finish(self, prepared: _Prepared) -> InboundMessage:
        raw, digest, message = prepared.raw, prepared.digest, prepared.message
        envelope, outer_subject = prepared.envelope, prepared.outer_subject
        sender = envelope.sender
        encrypted = False
        decrypted = False
        reason = "unencrypted report"
        content = MimeContent()
        # An Autocrypt key in the outer headers is learned before decrypting, so the signature
        # inside verifies against it (Thunderbird signs with the key it announces).
        announced = self._learn([], message, sender) if self._learn_keys else ()
        replay_digest: str | None = None
        try:
            if prepared.unit_error is not None:
                # Where the unit was looked for in one pass before: after the key was learned.
                raise prepared.unit_error
            unit = prepared.unit
            if unit is not None:
                encrypted = True
                content = self._walker.open_unit(unit)
                replay_digest = unit.digest
                decrypted = True
                reason = f"decrypted {unit.kind}"
                if unit.around:
                    reason += "; unencrypted text around the encrypted blocks kept apart"
                for older in content.older_keys:
                    reason += f"; encrypted to older bridge key {older}"
                    content.unencrypted.append(
                        f"{BRIDGE_NOTE_PREFIX}The researcher encrypted to an older bridge key, "
                        f"{older}, not the current one; replies carry the current key "
                        "(Autocrypt)."
                    )
            else:
                content = self._walker.read_plain(message, raw)
                if content.notes:
                    reason = "; ".join(dict.fromkeys(content.notes))
        except QuarantineError as err:
            return envelope.inbound_message(
                subject=outer_subject,
                body="",
                encrypted=encrypted,
                decrypted=False,
                signature=SignatureCheck(SignatureStatus.NONE),
                verdict=Verdict.QUARANTINE,
                reason=str(err),
            )
        except LimitExceeded as err:
            return self._verdict_only(raw, digest, message, Verdict.QUARANTINE, str(err))

        # The outer Autocrypt key was learned above; only keys found inside are new here.
        inner = self._learn(content.key_blobs, message, sender, autocrypt=not self._learn_keys)
        keys_found = tuple(dict.fromkeys((*announced, *inner)))
        body = "\n\n".join(t for t in content.texts if t.strip()).strip("\n")
        subject = content.subject if content.subject is not None else outer_subject
        verdict = Verdict.REPORT
        if (
            not encrypted
            and not body.strip()
            and not subject.strip()
            and not content.attachments
            and not content.unencrypted
        ):
            verdict, reason = Verdict.IGNORE, "empty message (no subject, text or attachment)"
        return envelope.inbound_message(
            subject=subject,
            body=body,
            encrypted=encrypted,
            decrypted=decrypted,
            signature=content.signature,
            verdict=verdict,
            reason=reason,
            unencrypted_parts=tuple(content.unencrypted),
            attachments=tuple(content.attachments),
            keys_found=keys_found,
            ciphertext_digest=replay_digest,
        )

    # ------------------------------------------------------------------ keys

    def _learn(
        self, key_blobs: list[bytes], message: Message, sender: str, *, autocrypt: bool = True
    ) -> tuple[str, ...]:
        """Learn (or, not learning, peek at) ``key_blobs`` and, if ``autocrypt``, the header's key."""
        blobs = list(key_blobs)
        announced = autocrypt_key(message, sender) if autocrypt else None
        if announced is not None:
            blobs.append(announced)
        found: list[str] = []
        if not sender:
            return ()
        for blob in blobs:
            fingerprint: str | None
            if self._learn_keys:
                fingerprint = self._openpgp.learn_key(blob, sender)
            else:
                peek = getattr(self._openpgp, "matching_key", None)
                fingerprint = peek(blob, sender) if callable(peek) else None
            if fingerprint and fingerprint not in found:
                found.append(str(fingerprint))
        return tuple(found)

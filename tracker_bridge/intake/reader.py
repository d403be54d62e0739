"""Bytes of one mail -> an InboundMessage: MIME parsing, decryption, verification, verdict.

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

import base64
import binascii
import codecs
import email
import email.errors
import email.policy
import email.utils
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.feedparser import BytesFeedParser
from email.header import decode_header, make_header
from email.message import Message
from typing import Protocol

from tracker_bridge.errors import QuarantineError
from tracker_bridge.intake.armour import (
    ArmouredBlock,
    find_message_blocks,
    has_begin_marker,
    html_to_text,
    normalise_text,
)
from tracker_bridge.intake.provenance import check_origin, ciphertext_digest
from tracker_bridge.ports.intake import BRIDGE_NOTE_PREFIX, Attachment, InboundMessage, Verdict
from tracker_bridge.ports.openpgp import Decryption, OpenPGP, SignatureCheck, SignatureStatus

__all__ = ["DEFAULT_LIMITS", "MailReader", "ReaderLimits"]

_MIB = 1024 * 1024
_HEADER_SCAN_BYTES = 256 * 1024
_MSGID = re.compile(r"<[^<>\s]+>")
_ENCRYPTED_SUFFIXES = (".pgp", ".gpg", ".asc")
# Mail is parsed and base64 is decoded this many bytes or characters at a time (see _parse).
_SLICE = 64 * 1024
# Which signature verdict speaks for a message of several inline blocks: the weakest one.
_SIGNATURE_STRENGTH = {
    SignatureStatus.BAD: 0,
    SignatureStatus.NONE: 1,
    SignatureStatus.UNKNOWN_KEY: 2,
    SignatureStatus.VALID: 3,
}


@dataclass(frozen=True)
class ReaderLimits:
    """Bounds beyond which a message is quarantined instead of parsed further."""

    max_message_bytes: int = 25 * _MIB
    max_mime_depth: int = 20
    max_parts: int = 500


DEFAULT_LIMITS = ReaderLimits()


class _LimitExceeded(Exception):
    """A structural limit was crossed while walking the MIME tree."""


class KeyPeeker(Protocol):
    """An OpenPGP adapter that can tell which key would be learned without importing it."""

    def matching_key(self, key_data: bytes, address: str) -> str | None:
        """The fingerprint ``learn_key`` would import, without importing it."""
        ...


@dataclass
class _Content:
    """What the walk over one MIME tree collected."""

    texts: list[str] = field(default_factory=list)
    unencrypted: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    key_blobs: list[bytes] = field(default_factory=list)
    signature: SignatureCheck = field(default_factory=lambda: SignatureCheck(SignatureStatus.NONE))
    subject: str | None = None
    notes: list[str] = field(default_factory=list)
    older_keys: list[str] = field(default_factory=list)


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
        self._own = frozenset(a.strip().lower() for a in own_addresses)
        self._learn_keys = learn_keys

    # ------------------------------------------------------------------ entry point

    def read(self, raw: bytes) -> InboundMessage:
        """Parse, decrypt and verify ``raw``; problems become a quarantine verdict."""
        digest = hashlib.sha256(raw).hexdigest()
        try:
            if len(raw) > self.limits.max_message_bytes:
                headers = _parse_headers_only(raw)
                return self._verdict_only(
                    raw,
                    digest,
                    headers,
                    Verdict.QUARANTINE,
                    f"message is {len(raw)} bytes, over the limit of "
                    f"{self.limits.max_message_bytes}",
                )
            try:
                message = _parse(raw)
            except RecursionError:
                return self._verdict_only(
                    raw,
                    digest,
                    _parse_headers_only(raw),
                    Verdict.QUARANTINE,
                    "MIME structure nested too deeply to parse",
                )
            return self._read_message(raw, digest, message)
        except Exception as err:  # noqa: BLE001 - the promise is: every input ends in a verdict
            try:
                headers = _parse_headers_only(raw)
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

    def _envelope(self, raw: bytes, digest: str, message: Message) -> dict[str, object]:
        sender_name, sender = _sender(message)
        origin = check_origin(
            _raw_header_values(message, "Authentication-Results"),
            sender,
            self._trusted_authserv_id,
        )
        return {
            "message_id": _message_id(message, digest),
            "digest": digest,
            "sender": sender,
            "sender_name": sender_name,
            "in_reply_to": _thread_ids(message),
            "recipients": _recipients(message),
            "auto_submitted": _is_automatic(message, sender, self._own),
            "bounce": message.get_content_type() == "multipart/report"
            or sender.split("@", 1)[0].lower() in ("mailer-daemon", "postmaster"),
            "language": _language(message),
            "raw_size": len(raw),
            "origin": origin,
        }

    def _verdict_only(
        self, raw: bytes, digest: str, message: Message, verdict: Verdict, reason: str
    ) -> InboundMessage:
        envelope = self._envelope(raw, digest, message)
        return InboundMessage(
            subject=_header_text(message, "Subject"),
            body="",
            encrypted=False,
            decrypted=False,
            signature=SignatureCheck(SignatureStatus.NONE),
            verdict=verdict,
            reason=reason,
            **envelope,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ structure

    def _read_message(self, raw: bytes, digest: str, message: Message) -> InboundMessage:
        envelope = self._envelope(raw, digest, message)
        outer_subject = _header_text(message, "Subject")
        try:
            self._check_structure(message, depth=0, counter=[0])
        except _LimitExceeded as err:
            return self._verdict_only(raw, digest, message, Verdict.QUARANTINE, str(err))

        sender = str(envelope["sender"])
        _, _, from_problem = parse_from(message)
        if from_problem is not None:
            # RFC 5322 section 3.6.2: exactly one From mailbox; without it nobody is the sender.
            return self._verdict_only(raw, digest, message, Verdict.QUARANTINE, from_problem)
        if sender.lower() in self._own:
            return self._verdict_only(
                raw, digest, message, Verdict.IGNORE, "sent by the bridge's own address (loop)"
            )

        encrypted = False
        decrypted = False
        reason = "unencrypted report"
        content = _Content()
        # An Autocrypt key in the outer headers is learned before decrypting, so the signature
        # inside verifies against it (Thunderbird signs with the key it announces).
        announced = self._learn([], message, sender) if self._learn_keys else ()
        replay_digest: str | None = None
        try:
            unit = _find_encrypted_unit(message)
            if unit is not None:
                encrypted = True
                content = self._open_unit(unit)
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
                content = self._read_plain(message, raw)
                if content.notes:
                    reason = "; ".join(dict.fromkeys(content.notes))
        except QuarantineError as err:
            return InboundMessage(
                subject=outer_subject,
                body="",
                encrypted=encrypted,
                decrypted=False,
                signature=SignatureCheck(SignatureStatus.NONE),
                verdict=Verdict.QUARANTINE,
                reason=str(err),
                **envelope,  # type: ignore[arg-type]
            )
        except _LimitExceeded as err:
            return self._verdict_only(raw, digest, message, Verdict.QUARANTINE, str(err))

        keys_found = tuple(
            dict.fromkeys((*announced, *self._learn(content.key_blobs, message, sender)))
        )
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
        return InboundMessage(
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
            **envelope,  # type: ignore[arg-type]
        )

    def _check_structure(self, part: Message, depth: int, counter: list[int]) -> None:
        counter[0] += 1
        if counter[0] > self.limits.max_parts:
            raise _LimitExceeded(f"message has more than {self.limits.max_parts} MIME parts")
        if depth > self.limits.max_mime_depth:
            raise _LimitExceeded(
                f"MIME structure deeper than the limit of {self.limits.max_mime_depth}"
            )
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for child in payload:
                    if isinstance(child, Message):
                        self._check_structure(child, depth + 1, counter)

    # ------------------------------------------------------------------ encrypted unit

    def _open_unit(self, unit: _EncryptedUnit) -> _Content:
        content = _Content()
        if unit.blocks:
            # A replay is recognised by its first block (intake.provenance).
            unit.digest = ciphertext_digest(unit.blocks[0].armour)
            for number, block in enumerate(unit.blocks, start=1):
                try:
                    decryption = self._openpgp.decrypt(block.armour)
                except QuarantineError as err:
                    if len(unit.blocks) == 1:
                        raise
                    raise QuarantineError(
                        f"{unit.kind} block {number} of {len(unit.blocks)}: {err}"
                    ) from err
                if _is_mime_entity(decryption.plaintext):
                    # A PGP/MIME payload whose multipart wrapper a gateway flattened into text:
                    # read it as the MIME entity it is, not as text with headers in it.
                    inner = _parse(decryption.plaintext)
                    self._check_structure(inner, depth=unit.depth + 1, counter=[unit.part_count])
                    self._read_decrypted_entity(decryption.plaintext, inner, content)
                else:
                    text = _decode_text(decryption.plaintext, [block.charset, unit.charset])
                    content.texts.append(_newlines(text).rstrip("\n"))
                self._note_older_key(decryption, content)
                weaker = (
                    _SIGNATURE_STRENGTH[decryption.signature.status]
                    < (_SIGNATURE_STRENGTH[content.signature.status])
                )
                if number == 1 or weaker:
                    # Several blocks: the weakest signature is the message's signature.
                    content.signature = decryption.signature
            for text in unit.around:
                content.unencrypted.append(f"[unencrypted {unit.around_type}]\n{text.strip()}")
            for attachment in unit.inline_attachments:
                self._add_inline_attachment(attachment, content)
        else:
            ciphertext = unit.take_ciphertext()
            unit.digest = ciphertext_digest(ciphertext)
            decryption = self._openpgp.decrypt(ciphertext)
            # Only gpg's plaintext stays in memory from here on.
            del ciphertext
            content.signature = decryption.signature
            self._note_older_key(decryption, content)
            inner = _parse(decryption.plaintext)
            self._check_structure(inner, depth=unit.depth + 1, counter=[unit.part_count])
            self._read_decrypted_entity(decryption.plaintext, inner, content)
        for part in unit.beside:
            self._keep_beside(part, content)
        return content

    @staticmethod
    def _note_older_key(decryption: Decryption, content: _Content) -> None:
        """Tell the team when an older bridge key (rotated, expired, revoked) decrypted."""
        older = decryption.older_key
        if older and older not in content.older_keys:
            content.older_keys.append(older)

    def _read_decrypted_entity(self, plaintext: bytes, inner: Message, content: _Content) -> None:
        protected = inner
        if inner.get_content_type() == "multipart/signed":
            check = self._verify_multipart_signed(plaintext, inner)
            if content.signature.status in (SignatureStatus.NONE, SignatureStatus.UNKNOWN_KEY):
                content.signature = check
            signed_parts = _children(inner)
            if signed_parts:
                protected = signed_parts[0]
        if protected.get("Subject") is not None:
            content.subject = _header_text(protected, "Subject")
        elif inner.get("Subject") is not None:
            content.subject = _header_text(inner, "Subject")
        self._walk(inner, content, in_encrypted=True)

    def _verify_multipart_signed(self, entity_bytes: bytes, signed: Message) -> SignatureCheck:
        payload = _children(signed)
        boundary = signed.get_boundary()
        if len(payload) != 2 or not boundary:
            return SignatureCheck(SignatureStatus.BAD)
        signature = payload[1].get_payload(decode=True)
        signed_bytes = _first_part_bytes(entity_bytes, boundary)
        if signed_bytes is None or not isinstance(signature, bytes):
            return SignatureCheck(SignatureStatus.BAD)
        return self._openpgp.verify_detached(signed_bytes, signature)

    def _add_inline_attachment(self, part: Message, content: _Content) -> None:
        data = _payload_bytes(part)
        filename = part.get_filename() or "attachment"
        try:
            decryption = self._openpgp.decrypt(data)
        except QuarantineError as err:
            raise QuarantineError(f"encrypted attachment {filename!r}: {err}") from err
        name = filename
        for suffix in _ENCRYPTED_SUFFIXES:
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
        content.attachments.append(
            _attachment(name, "application/octet-stream", decryption.plaintext)
        )

    def _keep_beside(self, part: Message, content: _Content) -> None:
        """An unencrypted part next to the encrypted unit: labelled, never part of the body."""
        ctype = part.get_content_type()
        if part.is_multipart():
            for child in part.walk():
                if not child.is_multipart():
                    self._keep_beside(child, content)
            return
        if ctype == "application/pgp-keys":
            content.key_blobs.append(_payload_bytes(part))
        if part.get_filename() or not ctype.startswith("text/"):
            data = _payload_bytes(part)
            name = part.get_filename() or "unnamed"
            content.attachments.append(_attachment(name, ctype, data))
            content.unencrypted.append(
                f"[unencrypted attachment {name} ({ctype}, {len(data)} bytes)]"
            )
            return
        text = _part_text(part)
        if text.strip():
            content.unencrypted.append(f"[unencrypted {ctype}]\n{text.strip()}")

    # ------------------------------------------------------------------ plaintext

    def _read_plain(self, message: Message, raw: bytes) -> _Content:
        content = _Content()
        if message.get_content_type() == "multipart/signed":
            payload = _children(message)
            content.signature = self._verify_multipart_signed(raw, message)
            if payload:
                self._walk(payload[0], content, in_encrypted=False)
            return content
        self._walk(message, content, in_encrypted=False)
        return content

    def _walk(self, part: Message, content: _Content, *, in_encrypted: bool) -> None:
        ctype = part.get_content_type()
        if part.is_multipart():
            children = _children(part)
            if ctype == "multipart/alternative":
                chosen = _choose_alternative(children)
                if chosen is not None:
                    self._walk(chosen, content, in_encrypted=in_encrypted)
                return
            if ctype == "multipart/signed" and len(children) == 2:
                self._walk(children[0], content, in_encrypted=in_encrypted)
                return
            if ctype == "multipart/encrypted" and not in_encrypted:
                self._keep_encrypted_aside(part, content)
                return
            for child in children:
                self._walk(child, content, in_encrypted=in_encrypted)
            return
        if _is_legacy_display(part):
            return
        if ctype == "application/pgp-signature":
            return
        if ctype == "application/pgp-keys":
            content.key_blobs.append(_payload_bytes(part))
        is_attachment = bool(part.get_filename()) or (
            (part.get("Content-Disposition") or "").strip().lower().startswith("attachment")
        )
        if ctype in ("text/plain", "text/html") and not is_attachment:
            text = _part_text(part)
            if not in_encrypted and has_begin_marker(normalise_text(text)):
                text = self._set_blocks_aside(text, content)
            content.texts.append(text)
            return
        data = _payload_bytes(part)
        if (
            ctype == "application/pgp-encrypted"
            and not in_encrypted
            and b"-----BEGIN PGP MESSAGE-----" not in data
        ):
            return  # the RFC 3156 control part ("Version: 1"): nothing to keep
        if not in_encrypted and b"-----BEGIN PGP MESSAGE-----" in data[:4096]:
            content.notes.append(
                "encrypted attachment inside unencrypted content was not decrypted"
            )
        name = part.get_filename() or _default_name(ctype)
        content.attachments.append(_attachment(name, ctype, data))

    def _set_blocks_aside(self, text: str, content: _Content) -> str:
        normal = normalise_text(text)
        blocks = find_message_blocks(normal)
        for number, block in enumerate(blocks, start=1):
            content.attachments.append(
                _attachment(
                    f"encrypted-part-{number}.asc", "application/pgp-encrypted", block.armour
                )
            )
        if blocks:
            content.notes.append(
                "encrypted block inside unencrypted content was not decrypted "
                "(kept as an attachment)"
            )
        pieces: list[str] = []
        position = 0
        for block in blocks:
            pieces.append(normal[position : block.start])
            pieces.append("[encrypted block set aside, not decrypted]")
            position = block.end
        pieces.append(normal[position:])
        return "".join(pieces)

    def _keep_encrypted_aside(self, part: Message, content: _Content) -> None:
        data = part.as_bytes()
        content.attachments.append(_attachment("encrypted-part.eml", "multipart/encrypted", data))
        content.notes.append(
            "encrypted part nested inside unencrypted content was not decrypted "
            "(kept as an attachment)"
        )

    # ------------------------------------------------------------------ keys

    def _learn(self, key_blobs: list[bytes], message: Message, sender: str) -> tuple[str, ...]:
        blobs = list(key_blobs)
        autocrypt = _autocrypt_key(message, sender)
        if autocrypt is not None:
            blobs.append(autocrypt)
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


# ---------------------------------------------------------------------------- encrypted units


@dataclass
class _EncryptedUnit:
    """The one encrypted unit a message consists of, and the unencrypted parts beside it."""

    kind: str
    ciphertext_part: Message | None = None
    # SHA-256 of the encrypted data packet, set when the unit is opened (replay detection).
    digest: str | None = None
    blocks: list[ArmouredBlock] = field(default_factory=list)
    charset: str | None = None
    beside: list[Message] = field(default_factory=list)
    inline_attachments: list[Message] = field(default_factory=list)
    depth: int = 0
    part_count: int = 1
    # Inline PGP only: the unencrypted text around the blocks in their own part, and its type.
    around: list[str] = field(default_factory=list)
    around_type: str = "text/plain"

    def take_ciphertext(self) -> bytes:
        """The ciphertext of a PGP/MIME unit; its MIME part lets go of the armour text.

        The armour is the largest object in memory at this point, and nothing reads that part's
        body again: the message keeps its headers and structure for the envelope.
        """
        if self.ciphertext_part is None:
            return b""
        ciphertext = _payload_bytes(self.ciphertext_part)
        self.ciphertext_part.set_payload("")
        return ciphertext


def _find_encrypted_unit(message: Message) -> _EncryptedUnit | None:
    """The whole-message encrypted unit, or None when the message is not encrypted as a whole."""
    unit = _unit_of(message)
    if unit is not None:
        return unit
    if message.get_content_type() != "multipart/mixed":
        return None
    children = _children(message)
    exchange = _exchange_unit(children)
    if exchange is not None:
        return exchange
    units = [
        (index, _unit_of(child) or _armoured_control_unit(child))
        for index, child in enumerate(children)
    ]
    found = [(index, u) for index, u in units if u is not None]
    if len(found) != 1:
        return None
    index, only = found[0]
    others = [c for i, c in enumerate(children) if i != index]
    if only.blocks:
        # Enigmail's inline mode: the text is armour, attachments are each encrypted (*.pgp).
        only.inline_attachments = [c for c in others if _is_encrypted_attachment(c)]
        others = [c for c in others if not _is_encrypted_attachment(c)]
    only.beside = others
    only.depth = 1
    return only


def _unit_of(part: Message) -> _EncryptedUnit | None:
    ctype = part.get_content_type()
    if ctype == "multipart/encrypted":
        payload = _children(part)
        if len(payload) != 2:
            raise QuarantineError(
                "multipart/encrypted does not have the two parts RFC 3156 requires"
            )
        control, data = payload
        if control.get_content_type() != "application/pgp-encrypted":
            raise QuarantineError("multipart/encrypted is not application/pgp-encrypted (RFC 3156)")
        return _EncryptedUnit("PGP/MIME", ciphertext_part=data)
    if ctype == "multipart/alternative":
        children = _children(part)
        plain = [c for c in children if c.get_content_type() == "text/plain"]
        for candidate in plain + children:
            unit = _inline_unit(candidate)
            if unit is not None:
                return unit
        return None
    if ctype in ("text/plain", "text/html") and not part.get_filename():
        return _inline_unit(part)
    return None


def _inline_unit(part: Message) -> _EncryptedUnit | None:
    """The inline PGP blocks of one text part, with the unencrypted text around them.

    Text before, between and after the blocks (a list footer from Mailman or Google Groups,
    "see below", a signature line) is kept as labelled unencrypted content, never merged into
    the decrypted text.
    """
    if part.get_content_type() not in ("text/plain", "text/html") or part.get_filename():
        return None
    normal = normalise_text(_part_text(part))
    if not has_begin_marker(normal):
        return None
    blocks = find_message_blocks(normal)
    if not blocks:
        if not normal.strip().startswith("-----BEGIN PGP MESSAGE-----"):
            return None
        raise QuarantineError("armoured PGP message is truncated (no END line)")
    around: list[str] = []
    position = 0
    for block in blocks:
        around.append(normal[position : block.start])
        position = block.end
    around.append(normal[position:])
    return _EncryptedUnit(
        "inline PGP",
        blocks=blocks,
        charset=part.get_content_charset(),
        around=[text.strip("\n") for text in around if text.strip()],
        around_type=part.get_content_type(),
    )


def _armoured_control_unit(part: Message) -> _EncryptedUnit | None:
    """An armoured message in an ``application/pgp-encrypted`` leaf, read like inline PGP.

    RFC 3156 section 4 puts only the control line ``Version: 1`` in that part; some webmail
    clients attach the whole armoured message under that type inside multipart/mixed instead.
    """
    if part.get_content_type() != "application/pgp-encrypted" or part.is_multipart():
        return None
    normal = normalise_text(_payload_bytes(part).decode("utf-8", "replace"))
    blocks = find_message_blocks(normal)
    if not blocks:
        return None
    return _EncryptedUnit("PGP armour in an application/pgp-encrypted part", blocks=blocks)


def _exchange_unit(children: list[Message]) -> _EncryptedUnit | None:
    """Exchange/GpgOL: multipart/mixed of empty text, pgp-encrypted control, octet-stream data."""
    types = [c.get_content_type() for c in children]
    if "application/pgp-encrypted" not in types:
        return None
    index = types.index("application/pgp-encrypted")
    if index + 1 >= len(children) or types[index + 1] != "application/octet-stream":
        return None
    others = [c for i, c in enumerate(children) if i not in (index, index + 1)]
    beside = [
        c for c in others if not (c.get_content_maintype() == "text" and not _part_text(c).strip())
    ]
    return _EncryptedUnit(
        "PGP/MIME (Exchange shape)",
        ciphertext_part=children[index + 1],
        beside=beside,
        depth=1,
    )


_MIME_ENTITY_START = re.compile(
    rb"\A(?:content-type|content-transfer-encoding|mime-version):[^\r\n]*\r?\n"
    rb"(?:[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r?\n|[ \t][^\r\n]*\r?\n)*\r?\n",
    re.IGNORECASE,
)


def _is_mime_entity(plaintext: bytes) -> bool:
    """Whether decrypted inline data is a MIME entity (RFC 2045 headers, blank line, body)."""
    return _MIME_ENTITY_START.match(plaintext[:16384]) is not None


def _is_encrypted_attachment(part: Message) -> bool:
    name = (part.get_filename() or "").lower()
    if not name.endswith(_ENCRYPTED_SUFFIXES) or part.get_content_maintype() == "text":
        return False
    data = _payload_bytes(part)
    return bool(data) and (b"-----BEGIN PGP MESSAGE-----" in data[:256] or data[0] & 0x80 != 0)


# ---------------------------------------------------------------------------- MIME helpers


def _children(part: Message) -> list[Message]:
    """The sub-parts of a multipart (empty for a leaf or a broken multipart)."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def _first_part_bytes(entity: bytes, boundary: str) -> bytes | None:
    """The exact bytes of a multipart's first body part, CRLF-canonical (RFC 3156 section 5).

    A delimiter line is ``--boundary`` followed only by spaces or tabs (RFC 2046 section
    5.1.1). The part is found by searching for the first two delimiter lines, so memory holds
    the part (and its canonical form when line ends need fixing), never a list of all lines.
    """
    delimiter = re.escape(b"--" + boundary.encode("ascii", "replace"))
    lines = re.finditer(rb"^" + delimiter + rb"[ \t]*(?=\r\n|\n|\Z)", entity, re.MULTILINE)
    first = next(lines, None)
    second = next(lines, None)
    if first is None or second is None:
        return None
    start = entity.find(b"\n", first.end()) + 1
    # The line break before a delimiter belongs to the delimiter, not to the part.
    end = second.start() - 1
    if end > start and entity[end - 1 : end] == b"\r":
        end -= 1
    part = entity[start:end]
    if re.search(rb"(?<!\r)\n", part):
        part = part.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return part


def _choose_alternative(children: list[Message]) -> Message | None:
    for wanted in ("text/plain", "text/html"):
        for child in children:
            if child.get_content_type() == wanted:
                return child
    for child in children:
        if child.is_multipart():
            return child
    return children[0] if children else None


def _is_legacy_display(part: Message) -> bool:
    """The copy of protected headers meant for old clients (draft-autocrypt, RFC 9788)."""
    ctype = part.get_content_type()
    if ctype == "text/rfc822-headers":
        return True
    if part.get_param("hp-legacy-display") is not None:
        return True
    if ctype == "text/plain" and part.get_param("protected-headers") is not None:
        text = _part_text(part).strip()
        lines = [line for line in text.splitlines() if line.strip()]
        return bool(lines) and all(
            re.match(r"^(Subject|From|To|Cc|Date|Reply-To|Message-ID):", line, re.IGNORECASE)
            for line in lines
        )
    return False


def _parse(data: bytes) -> Message:
    """``email.message_from_bytes(data)``, fed to the same parser one slice at a time.

    ``message_from_bytes`` decodes all of ``data`` into one str and copies that into a
    ``StringIO`` (four bytes a character): about 8 times the message at its peak. Fed in
    slices, the parser holds one slice plus the lines of the part it is reading.
    """
    parser = BytesFeedParser()
    view = memoryview(data)
    for start in range(0, len(data), _SLICE):
        parser.feed(bytes(view[start : start + _SLICE]))
    return parser.close()


def _payload_bytes(part: Message) -> bytes:
    """``part.get_payload(decode=True)`` (bytes), without its extra copies for ASCII payloads.

    The stdlib encodes the payload to check it for surrogates, again to bytes, then splits
    and joins base64 lines before decoding: four copies of an attachment. An ASCII payload is
    encoded once, and base64 is decoded one slice at a time; anything else, and base64 that
    is not well formed (where the stdlib repairs padding and records defects), takes the
    stdlib path, so the bytes are the same either way.
    """
    if not part.is_multipart():
        text = part.get_payload()
        if isinstance(text, str) and text.isascii():
            cte = str(part.get("content-transfer-encoding", "")).lower()
            if cte == "base64":
                decoded = _decode_base64_slices(text)
                if decoded is not None:
                    return decoded
            elif cte not in ("quoted-printable", "x-uuencode", "uuencode", "uue", "x-uue"):
                return text.encode("ascii")
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _decode_base64_slices(text: str) -> bytes | None:
    """Well-formed base64 ``text`` decoded slice by slice; None when it is not well formed.

    Well formed: alphabet characters and CR/LF line breaks only, a length (without the line
    breaks) that is a multiple of four, padding only at the very end; exactly what
    ``base64.b64decode(..., validate=True)`` accepts after the stdlib removes line breaks.
    """
    decoded = io.BytesIO()
    carry = b""
    padded = False
    for start in range(0, len(text), _SLICE):
        piece = text[start : start + _SLICE].encode("ascii")
        compact = carry + piece.replace(b"\r", b"").replace(b"\n", b"")
        if not compact:
            continue
        if padded:
            return None  # data after the padding
        whole = len(compact) - len(compact) % 4
        carry = compact[whole:]
        try:
            decoded.write(binascii.a2b_base64(compact[:whole], strict_mode=True))
        except binascii.Error:
            return None
        padded = b"=" in compact[:whole]
    if carry:
        return None
    return decoded.getvalue()


def _part_text(part: Message) -> str:
    text = _decode_text(_payload_bytes(part), [part.get_content_charset()])
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return _newlines(text)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip('"')).name
    except (LookupError, ValueError):
        return None


def _decode_text(data: bytes, declared: Sequence[str | None]) -> str:
    """Text from bytes whose declared charset may be missing, wrong or unknown."""
    codecs_to_try: list[str] = []
    for name in declared:
        known = _known_codec(name)
        if known and known not in codecs_to_try:
            codecs_to_try.append(known)
    single_byte = {"ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"}
    # Text that is valid UTF-8 and not ASCII is UTF-8 whatever the label says: Latin-1 text
    # almost never happens to be valid UTF-8, so this fixes mislabelled mail without harm.
    if (not codecs_to_try or codecs_to_try[0] in single_byte) and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    for name in [*codecs_to_try, "utf-8"]:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", errors="replace")


def _attachment(filename: str, content_type: str, data: bytes) -> Attachment:
    return Attachment(filename, content_type, data, hashlib.sha256(data).hexdigest())


def _default_name(content_type: str) -> str:
    return "part." + (content_type.split("/", 1)[-1] or "bin")


# ---------------------------------------------------------------------------- headers


def _parse_headers_only(raw: bytes) -> Message:
    head = raw[:_HEADER_SCAN_BYTES]
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = head.find(separator)
        if end != -1:
            head = head[:end] + separator
            break
    return email.message_from_bytes(head)


def _header_text(message: Message, name: str) -> str:
    """The first ``name`` header as text: 8-bit UTF-8 (RFC 6532) or encoded words (RFC 2047)."""
    value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return ""
    value = _eight_bit_text(str(value))
    try:
        text = str(make_header(decode_header(str(value))))
    except (UnicodeDecodeError, LookupError, ValueError, binascii.Error):
        text = str(value)
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def _eight_bit_text(text: str) -> str:
    """``text`` with the raw 8-bit bytes the parser kept (as surrogates) read as UTF-8.

    RFC 6532 section 3 allows UTF-8 in header fields; bytes that are not UTF-8 are read as
    Latin-1, so nothing is lost to replacement characters.
    """
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    data = text.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _raw_header_values(message: Message, name: str) -> list[str]:
    """Every value of header ``name`` as received, 8-bit (RFC 6532 UTF-8) text decoded."""
    values: list[str] = []
    for key, value in message.raw_items():
        if key.lower() != name.lower():
            continue
        text = str(value)
        if any("\udc80" <= char <= "\udcff" for char in text):
            text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        values.append(text)
    return values


# Defects that still leave one unambiguous addr-spec: RFC 6532 UTF-8 local parts and obsolete
# (RFC 5322 section 4) phrase syntax such as an unquoted "J. Smith".
_HARMLESS_DEFECTS = (email.errors.NonASCIILocalPartDefect, email.errors.ObsoleteHeaderDefect)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A forward-path holds at most 256 octets, brackets included (RFC 5321 section 4.5.3.1.3).
_MAX_ADDRESS_OCTETS = 254


def parse_from(message: Message) -> tuple[str | None, str, str | None]:
    """The sender of ``message``: display name, addr-spec, and a problem (None when usable).

    The From field is parsed as an address list first (``email.headerregistry`` with
    ``email.policy.default``, RFC 5322 section 3.4) and only then are display names decoded
    (RFC 2047 section 6.2), so an encoded word can never supply the address, a comma or a
    line break. The address is only ever the addr-spec; UTF-8 addresses (RFC 6532) are kept.

    Returns:
        ``(display_name or None, addr_spec, None)`` for exactly one usable mailbox, else
        ``(None, "", reason)`` naming why the sender cannot be known.
    """
    values = _raw_header_values(message, "From")
    if len(values) != 1:
        return None, "", f"message has {len(values)} From fields, not exactly one"
    try:
        header = email.policy.default.header_factory("From", values[0])
    except (ValueError, TypeError, IndexError) as err:
        # headerregistry refuses CR or LF inside an address part (a decoded encoded word).
        return None, "", f"From field cannot be parsed ({err})"
    addresses = list(getattr(header, "addresses", ()))
    bad = [d for d in header.defects if not isinstance(d, _HARMLESS_DEFECTS)]
    if len(addresses) != 1 or bad or len(getattr(header, "groups", ())) != 1:
        found = ", ".join(str(d) for d in bad) or f"{len(addresses)} addresses"
        return None, "", f"From field is not exactly one mailbox ({found})"
    address = addresses[0]
    addr_spec = str(address.addr_spec).strip()
    if (
        not address.username
        or not address.domain
        or _CONTROL.search(addr_spec)
        or any(char.isspace() for char in addr_spec)
    ):
        return None, "", "From field has no usable address (local-part@domain)"
    if "\ufffd" in addr_spec:
        return None, "", "From address is neither ASCII nor UTF-8 (RFC 6532)"
    if len(addr_spec.encode("utf-8")) > _MAX_ADDRESS_OCTETS:
        return None, "", f"From address is longer than {_MAX_ADDRESS_OCTETS} octets"
    name = " ".join(_CONTROL.sub(" ", str(address.display_name)).split())
    return (name or None), addr_spec, None


def _sender(message: Message) -> tuple[str | None, str]:
    name, address, _ = parse_from(message)
    return name, address


def _message_id(message: Message, digest: str) -> str:
    found = _MSGID.findall(_header_text(message, "Message-ID"))
    if found:
        return str(found[0])
    return f"<{digest}@tracker-bridge.invalid>"


def _thread_ids(message: Message) -> tuple[str, ...]:
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        for found in _MSGID.findall(_header_text(message, name)):
            if found not in ids:
                ids.append(found)
    for found in _returned_message_ids(message):
        if found not in ids:
            ids.append(found)
    return tuple(ids)


def _returned_message_ids(message: Message) -> list[str]:
    """The Message-ID of the mail a bounce returns (RFC 3464 DSN, RFC 3462 multipart/report).

    MTAs answer the envelope sender without In-Reply-To; the only link to the mail that
    bounced is the copy of its headers (text/rfc822-headers) or of itself (message/rfc822).
    """
    if message.get_content_type() != "multipart/report":
        return []
    found: list[str] = []
    for part in _children(message):
        ctype = part.get_content_type()
        returned: Message | None = None
        if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            returned = _parse_headers_only(_payload_bytes(part))
        elif ctype == "message/rfc822":
            inner = _children(part)
            returned = inner[0] if inner else None
        if returned is not None:
            found += _MSGID.findall(_header_text(returned, "Message-ID"))[:1]
    return found


def _recipients(message: Message) -> tuple[str, ...]:
    values = [_header_text(message, name) for name in ("To", "Cc")]
    values += [str(v) for v in message.get_all("Delivered-To", [])]
    addresses: list[str] = []
    for _, address in email.utils.getaddresses(values):
        address = address.strip()
        if address and address not in addresses:
            addresses.append(address)
    return tuple(addresses)


# Markers of automatic mail beside RFC 3834's Auto-Submitted: what vacation programs, Exchange
# and list servers write (X-Autoreply / X-Autorespond from procmail-era responders and
# Yahoo, X-Auto-Response-Suppress from Exchange [MS-OXCMAIL] 2.2.3.2.20, Precedence from
# sendmail's vacation(1)).
_AUTOMATIC_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "auto-reply"})


def _is_automatic(message: Message, sender: str, own: frozenset[str] = frozenset()) -> bool:
    """RFC 3834: no automatic answer to automatic, bounce, list or bulk mail.

    A security address run as a mailing list (Mailman, Google Groups) delivers researchers'
    reports with list headers; list mail of the bridge's own list is not bulk mail.
    """
    auto = _header_text(message, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return True
    for name in _AUTOMATIC_HEADERS:
        value = _header_text(message, name).lower()
        if value and value not in ("no", "false", "0"):
            return True
    own_list = _is_own_list(message, own)
    suppress = _header_text(message, "X-Auto-Response-Suppress").lower()
    if suppress and suppress not in ("none",) and not own_list:
        # Exchange marks its own automatic replies (OOF, delivery reports) "All" or "OOF".
        return True
    return_path = _header_text(message, "Return-Path")
    if return_path.replace(" ", "") == "<>" or not sender:
        return True
    local = sender.split("@", 1)[0].lower()
    if local in ("mailer-daemon", "postmaster"):
        return True
    if message.get("List-Id") is not None and not own_list:
        return True
    precedence = _header_text(message, "Precedence").lower()
    if precedence in _AUTOMATIC_PRECEDENCE or (precedence == "list" and not own_list):
        return True
    return message.get_content_type() == "multipart/report"


def _is_own_list(message: Message, own: frozenset[str]) -> bool:
    """Whether the list that delivered ``message`` is one of the bridge's own addresses.

    RFC 2369 ``List-Post`` names the list's address (``<mailto:security@example.org>``); RFC
    2919 ``List-Id`` is, for Mailman 3 and Google Groups, that address with ``@`` as ``.``.
    """
    if not own:
        return False
    posts = re.findall(r"<mailto:([^>?]+)", _header_text(message, "List-Post"), re.IGNORECASE)
    if any(address.strip().lower() in own for address in posts):
        return True
    list_id = re.search(r"<([^<>]+)>", _header_text(message, "List-Id"))
    return list_id is not None and list_id.group(1).strip().lower() in {
        address.replace("@", ".", 1) for address in own
    }


def _language(message: Message) -> str | None:
    for name in ("Content-Language", "Accept-Language"):
        value = _header_text(message, name)
        if value:
            first = value.split(",")[0].split(";")[0].strip()
            if first:
                return first
    return None


def _autocrypt_key(message: Message, sender: str) -> bytes | None:
    header = message.get("Autocrypt")
    if header is None or not sender:
        return None
    attributes: dict[str, str] = {}
    for item in str(header).split(";"):
        key, _, value = item.strip().partition("=")
        attributes[key.strip().lower()] = value.strip()
    if attributes.get("addr", "").lower() != sender.lower():
        return None
    keydata = re.sub(r"\s+", "", attributes.get("keydata", ""))
    try:
        return base64.b64decode(keydata, validate=True) or None
    except (binascii.Error, ValueError):
        return None

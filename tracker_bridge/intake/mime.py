"""MIME walking: the one encrypted unit of a mail, PGP/MIME and inline parts, EFAIL separation.

``find_encrypted_unit`` decides whether a message is encrypted as a whole (the shapes are
listed in ``intake.reader``'s docstring); ``MimeWalker`` decrypts that unit through the
OpenPGP adapter and walks the decrypted entity, or walks an unencrypted message. Text from
outside the encrypted unit is never merged into the decrypted body (EFAIL, Poddebniak et al.
2018): it is kept as labelled ``unencrypted`` parts, and encrypted pieces nested inside
unencrypted content are set aside undecrypted as attachments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING

from tracker_bridge.errors import QuarantineError
from tracker_bridge.intake.armour import (
    ArmouredBlock,
    find_message_blocks,
    has_begin_marker,
    normalise_text,
)
from tracker_bridge.intake.headers import header_text
from tracker_bridge.intake.parts import (
    child_parts,
    decode_text,
    default_filename,
    make_attachment,
    normalise_newlines,
    parse_message,
    part_text,
    payload_bytes,
)
from tracker_bridge.intake.provenance import ciphertext_digest
from tracker_bridge.ports.openpgp import Decryption, OpenPGP, SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from tracker_bridge.ports.intake import Attachment

__all__ = ["EncryptedUnit", "LimitExceeded", "MimeContent", "MimeWalker", "find_encrypted_unit"]

_ENCRYPTED_SUFFIXES = (".pgp", ".gpg", ".asc")
# Which signature verdict speaks for a message of several inline blocks: the weakest one.
_SIGNATURE_STRENGTH = {
    SignatureStatus.BAD: 0,
    SignatureStatus.NONE: 1,
    SignatureStatus.UNKNOWN_KEY: 2,
    SignatureStatus.VALID: 3,
}


class LimitExceeded(Exception):
    """A structural limit (MIME depth, part count) was crossed while walking the MIME tree."""


@dataclass
class MimeContent:
    """What the walk over one MIME tree collected."""

    texts: list[str] = field(default_factory=list)
    unencrypted: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    key_blobs: list[bytes] = field(default_factory=list)
    signature: SignatureCheck = field(default_factory=lambda: SignatureCheck(SignatureStatus.NONE))
    subject: str | None = None
    notes: list[str] = field(default_factory=list)
    older_keys: list[str] = field(default_factory=list)


class MimeWalker:
    """Opens the encrypted unit of a mail, or walks an unencrypted one, into MimeContent.

    Args:
        openpgp: The OpenPGP adapter that decrypts and verifies.
        max_mime_depth: The deepest nesting of MIME parts walked.
        max_parts: The most MIME parts one message (or decrypted entity) may hold.
    """

    def __init__(self, openpgp: OpenPGP, *, max_mime_depth: int, max_parts: int) -> None:
        self._openpgp = openpgp
        self._max_mime_depth = max_mime_depth
        self._max_parts = max_parts

    def check_structure(self, part: Message, depth: int, counter: list[int]) -> None:
        """Count the parts below ``part`` (at ``depth``) into ``counter[0]``.

        Raises:
            LimitExceeded: More parts than ``max_parts``, or deeper than ``max_mime_depth``.
        """
        counter[0] += 1
        if counter[0] > self._max_parts:
            msg = f"message has more than {self._max_parts} MIME parts"
            raise LimitExceeded(msg)
        if depth > self._max_mime_depth:
            msg = f"MIME structure deeper than the limit of {self._max_mime_depth}"
            raise LimitExceeded(msg)
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for child in payload:
                    if isinstance(child, Message):
                        self.check_structure(child, depth + 1, counter)

    # ------------------------------------------------------------------ encrypted unit

    def open_unit(self, unit: EncryptedUnit) -> MimeContent:
        """Decrypt the message's one encrypted unit; the parts beside it are kept labelled.

        Raises:
            QuarantineError: gpg refused a block, the whole-message ciphertext or an
                encrypted attachment (the reason names which).
            LimitExceeded: The decrypted MIME entity crosses the structure limits.
        """
        content = MimeContent()
        if unit.blocks:
            # A replay is recognised by its first block (intake.provenance).
            unit.digest = ciphertext_digest(unit.blocks[0].armour)
            for number, block in enumerate(unit.blocks, start=1):
                try:
                    decryption = self._openpgp.decrypt(block.armour)
                except QuarantineError as err:
                    if len(unit.blocks) == 1:
                        raise
                    msg = f"{unit.kind} block {number} of {len(unit.blocks)}: {err}"
                    raise QuarantineError(msg) from err
                if _is_mime_entity(decryption.plaintext):
                    # A PGP/MIME payload whose multipart wrapper a gateway flattened into text:
                    # read it as the MIME entity it is, not as text with headers in it.
                    inner = parse_message(decryption.plaintext)
                    self.check_structure(inner, depth=unit.depth + 1, counter=[unit.part_count])
                    self._read_decrypted_entity(decryption.plaintext, inner, content)
                else:
                    text = decode_text(decryption.plaintext, [block.charset, unit.charset])
                    content.texts.append(normalise_newlines(text).rstrip("\n"))
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
            inner = parse_message(decryption.plaintext)
            self.check_structure(inner, depth=unit.depth + 1, counter=[unit.part_count])
            self._read_decrypted_entity(decryption.plaintext, inner, content)
        for part in unit.beside:
            self._keep_beside(part, content)
        return content

    @staticmethod
    def _note_older_key(decryption: Decryption, content: MimeContent) -> None:
        """Tell the team when an older bridge key (rotated, expired, revoked) decrypted."""
        older = decryption.older_key
        if older and older not in content.older_keys:
            content.older_keys.append(older)

    def _read_decrypted_entity(
        self, plaintext: bytes, inner: Message, content: MimeContent
    ) -> None:
        protected = inner
        if inner.get_content_type() == "multipart/signed":
            check = self._verify_multipart_signed(plaintext, inner)
            if content.signature.status in (SignatureStatus.NONE, SignatureStatus.UNKNOWN_KEY):
                content.signature = check
            signed_parts = child_parts(inner)
            if signed_parts:
                protected = signed_parts[0]
        if protected.get("Subject") is not None:
            content.subject = header_text(protected, "Subject")
        elif inner.get("Subject") is not None:
            content.subject = header_text(inner, "Subject")
        self._walk(inner, content, in_encrypted=True)

    def _verify_multipart_signed(self, entity_bytes: bytes, signed: Message) -> SignatureCheck:
        payload = child_parts(signed)
        boundary = signed.get_boundary()
        if len(payload) != 2 or not boundary:
            return SignatureCheck(SignatureStatus.BAD)
        signature = payload[1].get_payload(decode=True)
        signed_bytes = _first_part_bytes(entity_bytes, boundary)
        if signed_bytes is None or not isinstance(signature, bytes):
            return SignatureCheck(SignatureStatus.BAD)
        return self._openpgp.verify_detached(signed_bytes, signature)

    def _add_inline_attachment(self, part: Message, content: MimeContent) -> None:
        data = payload_bytes(part)
        filename = part.get_filename() or "attachment"
        try:
            decryption = self._openpgp.decrypt(data)
        except QuarantineError as err:
            msg = f"encrypted attachment {filename!r}: {err}"
            raise QuarantineError(msg) from err
        name = filename
        for suffix in _ENCRYPTED_SUFFIXES:
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
        content.attachments.append(
            make_attachment(name, "application/octet-stream", decryption.plaintext)
        )

    def _keep_beside(self, part: Message, content: MimeContent) -> None:
        """An unencrypted part next to the encrypted unit: labelled, never part of the body."""
        ctype = part.get_content_type()
        if part.is_multipart():
            for child in part.walk():
                if not child.is_multipart():
                    self._keep_beside(child, content)
            return
        if ctype == "application/pgp-keys":
            content.key_blobs.append(payload_bytes(part))
        if part.get_filename() or not ctype.startswith("text/"):
            data = payload_bytes(part)
            name = part.get_filename() or "unnamed"
            content.attachments.append(make_attachment(name, ctype, data))
            content.unencrypted.append(
                f"[unencrypted attachment {name} ({ctype}, {len(data)} bytes)]"
            )
            return
        text = part_text(part)
        if text.strip():
            content.unencrypted.append(f"[unencrypted {ctype}]\n{text.strip()}")

    # ------------------------------------------------------------------ plaintext

    def read_plain(self, message: Message, raw: bytes) -> MimeContent:
        """Walk a message that is not encrypted as a whole; encrypted pieces inside are set aside."""
        content = MimeContent()
        if message.get_content_type() == "multipart/signed":
            payload = child_parts(message)
            content.signature = self._verify_multipart_signed(raw, message)
            if payload:
                self._walk(payload[0], content, in_encrypted=False)
            return content
        self._walk(message, content, in_encrypted=False)
        return content

    def _walk(self, part: Message, content: MimeContent, *, in_encrypted: bool) -> None:
        ctype = part.get_content_type()
        if part.is_multipart():
            children = child_parts(part)
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
            content.key_blobs.append(payload_bytes(part))
        is_attachment = bool(part.get_filename()) or (
            (part.get("Content-Disposition") or "").strip().lower().startswith("attachment")
        )
        if ctype in ("text/plain", "text/html") and not is_attachment:
            text = part_text(part)
            if not in_encrypted and has_begin_marker(normalise_text(text)):
                text = self._set_blocks_aside(text, content)
            content.texts.append(text)
            return
        data = payload_bytes(part)
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
        name = part.get_filename() or default_filename(ctype)
        content.attachments.append(make_attachment(name, ctype, data))

    def _set_blocks_aside(self, text: str, content: MimeContent) -> str:
        normal = normalise_text(text)
        blocks = find_message_blocks(normal)
        for number, block in enumerate(blocks, start=1):
            content.attachments.append(
                make_attachment(
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

    def _keep_encrypted_aside(self, part: Message, content: MimeContent) -> None:
        data = part.as_bytes()
        content.attachments.append(
            make_attachment("encrypted-part.eml", "multipart/encrypted", data)
        )
        content.notes.append(
            "encrypted part nested inside unencrypted content was not decrypted "
            "(kept as an attachment)"
        )


# ---------------------------------------------------------------------------- encrypted units


@dataclass
class EncryptedUnit:
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
        ciphertext = payload_bytes(self.ciphertext_part)
        self.ciphertext_part.set_payload("")
        return ciphertext


def find_encrypted_unit(message: Message) -> EncryptedUnit | None:
    """The whole-message encrypted unit, or None when the message is not encrypted as a whole."""
    unit = _unit_of(message)
    if unit is not None:
        return unit
    if message.get_content_type() != "multipart/mixed":
        return None
    children = child_parts(message)
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


def _unit_of(part: Message) -> EncryptedUnit | None:
    ctype = part.get_content_type()
    if ctype == "multipart/encrypted":
        payload = child_parts(part)
        if len(payload) != 2:
            msg = "multipart/encrypted does not have the two parts RFC 3156 requires"
            raise QuarantineError(msg)
        control, data = payload
        if control.get_content_type() != "application/pgp-encrypted":
            msg = "multipart/encrypted is not application/pgp-encrypted (RFC 3156)"
            raise QuarantineError(msg)
        return EncryptedUnit("PGP/MIME", ciphertext_part=data)
    if ctype == "multipart/alternative":
        children = child_parts(part)
        plain = [c for c in children if c.get_content_type() == "text/plain"]
        for candidate in plain + children:
            unit = _inline_unit(candidate)
            if unit is not None:
                return unit
        return None
    if ctype in ("text/plain", "text/html") and not part.get_filename():
        return _inline_unit(part)
    return None


def _inline_unit(part: Message) -> EncryptedUnit | None:
    """The inline PGP blocks of one text part, with the unencrypted text around them.

    Text before, between and after the blocks (a list footer from Mailman or Google Groups,
    "see below", a signature line) is kept as labelled unencrypted content, never merged into
    the decrypted text.
    """
    if part.get_content_type() not in ("text/plain", "text/html") or part.get_filename():
        return None
    normal = normalise_text(part_text(part))
    if not has_begin_marker(normal):
        return None
    blocks = find_message_blocks(normal)
    if not blocks:
        if not normal.strip().startswith("-----BEGIN PGP MESSAGE-----"):
            return None
        msg = "armoured PGP message is truncated (no END line)"
        raise QuarantineError(msg)
    around: list[str] = []
    position = 0
    for block in blocks:
        around.append(normal[position : block.start])
        position = block.end
    around.append(normal[position:])
    return EncryptedUnit(
        "inline PGP",
        blocks=blocks,
        charset=part.get_content_charset(),
        around=[text.strip("\n") for text in around if text.strip()],
        around_type=part.get_content_type(),
    )


def _armoured_control_unit(part: Message) -> EncryptedUnit | None:
    """An armoured message in an ``application/pgp-encrypted`` leaf, read like inline PGP.

    RFC 3156 section 4 puts only the control line ``Version: 1`` in that part; some webmail
    clients attach the whole armoured message under that type inside multipart/mixed instead.
    """
    if part.get_content_type() != "application/pgp-encrypted" or part.is_multipart():
        return None
    normal = normalise_text(payload_bytes(part).decode("utf-8", "replace"))
    blocks = find_message_blocks(normal)
    if not blocks:
        return None
    return EncryptedUnit("PGP armour in an application/pgp-encrypted part", blocks=blocks)


def _exchange_unit(children: list[Message]) -> EncryptedUnit | None:
    """Exchange/GpgOL: multipart/mixed of empty text, pgp-encrypted control, octet-stream data."""
    types = [c.get_content_type() for c in children]
    if "application/pgp-encrypted" not in types:
        return None
    index = types.index("application/pgp-encrypted")
    if index + 1 >= len(children) or types[index + 1] != "application/octet-stream":
        return None
    others = [c for i, c in enumerate(children) if i not in (index, index + 1)]
    beside = [
        c for c in others if not (c.get_content_maintype() == "text" and not part_text(c).strip())
    ]
    return EncryptedUnit(
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
    data = payload_bytes(part)
    return bool(data) and (b"-----BEGIN PGP MESSAGE-----" in data[:256] or data[0] & 0x80 != 0)


# ---------------------------------------------------------------------------- MIME helpers


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
        text = part_text(part).strip()
        lines = [line for line in text.splitlines() if line.strip()]
        return bool(lines) and all(
            re.match(r"^(Subject|From|To|Cc|Date|Reply-To|Message-ID):", line, re.IGNORECASE)
            for line in lines
        )
    return False

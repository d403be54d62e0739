"""MIME parts as bytes and text: parsing mail in slices, decoding payloads and charsets.

The leaf helpers the header reader (``intake.headers``) and the MIME walk (``intake.mime``)
share. Each avoids the stdlib's extra copies of large payloads and never raises for a
malformed part: a part that cannot be decoded the short way takes the stdlib's path.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import io
from email.feedparser import BytesFeedParser
from email.message import Message
from typing import TYPE_CHECKING

from tracker_bridge.intake.armour import html_to_text
from tracker_bridge.ports.intake import Attachment

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "child_parts",
    "decode_text",
    "default_filename",
    "make_attachment",
    "normalise_newlines",
    "parse_message",
    "part_text",
    "payload_bytes",
]

# Mail is parsed and base64 is decoded this many bytes or characters at a time (see parse_message).
_SLICE = 64 * 1024


def child_parts(part: Message) -> list[Message]:
    """The sub-parts of a multipart (empty for a leaf or a broken multipart)."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def parse_message(data: bytes) -> Message:
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


def payload_bytes(part: Message) -> bytes:
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


def part_text(part: Message) -> str:
    """The text of a leaf part: charset-decoded, HTML reduced to text, LF line ends."""
    text = decode_text(payload_bytes(part), [part.get_content_charset()])
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return normalise_newlines(text)


def normalise_newlines(text: str) -> str:
    """``text`` with CRLF and lone CR line ends as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip('"')).name
    except (LookupError, ValueError):
        return None


def decode_text(data: bytes, declared: Sequence[str | None]) -> str:
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


def make_attachment(filename: str, content_type: str, data: bytes) -> Attachment:
    """An Attachment of ``data`` with its hex SHA-256."""
    return Attachment(filename, content_type, data, hashlib.sha256(data).hexdigest())


def default_filename(content_type: str) -> str:
    """The name of an unnamed part: ``part.<subtype>`` (``part.bin`` without one)."""
    return "part." + (content_type.split("/", 1)[-1] or "bin")

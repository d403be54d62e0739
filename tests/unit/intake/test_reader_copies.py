"""The reader's copy-saving paths give the bytes the stdlib would: attachments and signed parts."""

from __future__ import annotations

import base64
import email
from email.message import Message

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.intake.test_reader import FakeOpenPGP
from tracker_bridge.intake.reader import MailReader
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus

HEAD = (
    "From: Rita <rita@research.example>\r\nTo: security@vendor.example\r\nSubject: Dump\r\n"
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n'
    '--zz\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nSee the dump.\r\n'
)


def _attachment_mail(body: bytes, encoding: str) -> bytes:
    return (
        HEAD.encode()
        + b'--zz\r\nContent-Type: application/octet-stream; name="dump.bin"\r\n'
        + b'Content-Disposition: attachment; filename="dump.bin"\r\n'
        + f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode()
        + body
        + b"\r\n--zz--\r\n"
    )


@st.composite
def _base64_bodies(draw: st.DrawFn) -> bytes:
    data = draw(st.binary(max_size=300))
    width = draw(st.sampled_from([4, 60, 76, 77, 1000]))
    newline = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    encoded = base64.b64encode(data)
    body = newline.join(encoded[i : i + width] for i in range(0, len(encoded), width))
    damage = draw(st.sampled_from(["none", "cut", "insert", "space", "non-ascii", "pad"]))
    where = draw(st.integers(min_value=0, max_value=max(len(body), 1)))
    if damage == "cut":
        body = body[:where]
    elif damage == "insert":
        body = body[:where] + draw(st.sampled_from([b"=", b"*", b"A", b"=="])) + body[where:]
    elif damage == "space":
        body = body[:where] + b" " + body[where:]
    elif damage == "non-ascii":
        body = body[:where] + b"\xe9" + body[where:]
    elif damage == "pad":
        body += b"=="
    return body


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_base64_bodies(), st.sampled_from(["base64", "BASE64", "7bit", "binary"]))
def test_attachment_bytes_equal_the_stdlib_decoding(body: bytes, encoding: str) -> None:
    """Well-formed or damaged, an attachment decodes to what email.get_payload(decode=True) gives."""
    raw = _attachment_mail(body, encoding)
    parts = email.message_from_bytes(raw).get_payload()
    assert isinstance(parts, list)
    attachment = parts[1]
    assert isinstance(attachment, Message)
    expected = attachment.get_payload(decode=True)
    message = MailReader(FakeOpenPGP()).read(raw)
    assert [expected] == [a.content for a in message.attachments]


class RecordingOpenPGP(FakeOpenPGP):
    """Remembers the bytes it was asked to verify a detached signature over."""

    def __init__(self) -> None:
        super().__init__()
        self.signed: list[bytes] = []

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        self.signed.append(signed)
        return SignatureCheck(SignatureStatus.UNKNOWN_KEY)


def _canonical_first_part(entity: bytes, boundary: bytes) -> bytes:
    """RFC 3156 section 5 read literally: lines between the first two delimiter lines, CRLF."""
    lines = entity.replace(b"\r\n", b"\n").split(b"\n")
    starts = [i for i, line in enumerate(lines) if line.rstrip(b" \t") == b"--" + boundary]
    return b"\r\n".join(lines[starts[0] + 1 : starts[1]])


_LINE_ENDS = st.sampled_from([b"\r\n", b"\n", b"\r\r\n", b" \r\n", b"\t\n"])


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from([b"Hello", b"", b" ", b"--s", b"--sx", b"\r", b"=20"]), max_size=8),
    st.lists(_LINE_ENDS, min_size=12, max_size=12),
)
def test_signed_part_bytes_are_the_canonical_first_part(
    words: list[bytes], ends: list[bytes]
) -> None:
    """The bytes handed to gpg for multipart/signed are the first part's lines joined by CRLF."""
    body_lines = [b"Content-Type: text/plain", b"", *words, b"--s--"][:10]
    entity = (
        b"From: Rita <rita@research.example>\r\nSubject: Signed\r\nContent-Type: multipart/signed;"
        b' boundary="s"; protocol="application/pgp-signature"; micalg=pgp-sha256\r\n\r\n'
        b"--s"
        + ends[0]
        + b"".join(line + end for line, end in zip(body_lines, ends[1:], strict=False))
        + b"--s\r\nContent-Type: application/pgp-signature\r\n\r\nc2ln\r\n--s--\r\n"
    )
    # A stray delimiter among the words can give the signed entity other than two parts: then
    # the reader calls it BAD without asking gpg.
    parts = email.message_from_bytes(entity).get_payload()
    expected = [_canonical_first_part(entity, b"s")] if len(parts) == 2 else []
    openpgp = RecordingOpenPGP()
    MailReader(openpgp).read(entity)
    assert expected == openpgp.signed

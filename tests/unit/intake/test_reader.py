"""MailReader with a hand-written OpenPGP fake: headers, limits, structure rules, verdicts."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from tracker_bridge.errors import QuarantineError
from tracker_bridge.intake.reader import MailReader, ReaderLimits
from tracker_bridge.ports.intake import Verdict
from tracker_bridge.ports.openpgp import Decryption, SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

ARMOUR = (
    "-----BEGIN PGP MESSAGE-----\n\nhQEMA1234567890abcdefABCDEF\nZZZZ\n=abcd\n"
    "-----END PGP MESSAGE-----\n"
)


class FakeOpenPGP:
    """Decrypts only ciphertexts it was told about; everything else is refused like gpg would."""

    def __init__(self, plaintexts: dict[bytes, bytes] | None = None) -> None:
        self.plaintexts = plaintexts or {}
        self.learned: list[tuple[bytes, str]] = []

    def decrypt(self, ciphertext: bytes) -> Decryption:
        for marker, plaintext in self.plaintexts.items():
            if marker in ciphertext:
                return Decryption(plaintext, SignatureCheck(SignatureStatus.NONE))
        msg = "fake: not decryptable"
        raise QuarantineError(msg)

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        return SignatureCheck(SignatureStatus.UNKNOWN_KEY)

    def encrypt_and_sign(self, plaintext: bytes, recipient_fingerprints: Sequence[str]) -> bytes:
        return plaintext

    def sign_detached(self, data: bytes) -> bytes:
        return b"sig"

    def encrypt_to_self(self, plaintext: bytes) -> bytes:
        return plaintext

    def decrypt_own(self, ciphertext: bytes) -> bytes:
        return ciphertext

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        self.learned.append((key_data, address))
        return "A" * 40

    def has_key(self, fingerprint: str) -> bool:
        return False

    def delete_public_key(self, fingerprint: str) -> bool:
        msg = f"fake: deleting key {fingerprint} is not part of this test"
        raise NotImplementedError(msg)

    @property
    def bridge_fingerprint(self) -> str:
        return "B" * 40


def _mail(headers: str, body: str = "hello\n") -> bytes:
    return (headers.strip("\n").replace("\n", "\r\n") + "\r\n\r\n" + body).encode("utf-8")


BASE = "From: Rita <rita@research.example>\nTo: security@vendor.example\nSubject: Bug"


def test_missing_message_id_gets_a_stable_generated_one() -> None:
    """Without Message-ID the id is <sha256 of the raw bytes@tracker-bridge.invalid>."""
    raw = _mail(BASE)
    message = MailReader(FakeOpenPGP()).read(raw)
    digest = hashlib.sha256(raw).hexdigest()
    assert (f"<{digest}@tracker-bridge.invalid>", digest) == (message.message_id, message.digest)


def test_thread_ids_recipients_and_language() -> None:
    """In-Reply-To + References, To/Cc/Delivered-To and Content-Language are read."""
    raw = _mail(
        BASE
        + "\nCc: Other <other@x.example>\nDelivered-To: security+CVD-2026-0007@vendor.example"
        + "\nMessage-ID: <m1@x>\nIn-Reply-To: <a@x>\nReferences: <r@x> <a@x>"
        + "\nContent-Language: nl-BE"
    )
    message = MailReader(FakeOpenPGP()).read(raw)
    assert (
        "<m1@x>",
        ("<a@x>", "<r@x>"),
        ("security@vendor.example", "other@x.example", "security+CVD-2026-0007@vendor.example"),
        "nl-BE",
        "rita@research.example",
        "Rita",
    ) == (
        message.message_id,
        message.in_reply_to,
        message.recipients,
        message.language,
        message.sender,
        message.sender_name,
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: no", False),
        ("Precedence: bulk", True),
        ("Precedence: junk", True),
        ("List-Id: <dev.lists.example>", True),
        ("Return-Path: <>", True),
        ("X-Nothing: 1", False),
    ],
)
def test_rfc3834_automatic_mail_is_flagged(extra: str, expected: bool) -> None:
    """Auto-Submitted, Precedence, List-Id and null sender mark mail as automatic."""
    message = MailReader(FakeOpenPGP()).read(_mail(BASE + "\n" + extra))
    assert expected == message.auto_submitted


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # Mailman 3 delivering a report sent to the bridge's own list address.
        (
            "List-Id: Security <security.vendor.example>\nList-Post: <mailto:security@vendor.example>",
            False,
        ),
        # Google Groups: List-Id only, with Precedence: list.
        ("List-Id: <security.vendor.example>\nPrecedence: list", False),
        # Another list that merely forwards to the bridge stays list mail.
        ("List-Id: <dev.lists.example>\nList-Post: <mailto:dev@lists.example>", True),
        ("List-Id: <security.vendor.example>\nPrecedence: bulk", True),
    ],
)
def test_list_mail_of_the_bridges_own_list_is_not_automatic(extra: str, expected: bool) -> None:
    """A security address run as a Mailman / Google Groups list delivers reports, not bulk."""
    reader = MailReader(FakeOpenPGP(), own_addresses=["security@vendor.example"])
    assert expected == reader.read(_mail(BASE + "\n" + extra)).auto_submitted


def test_mailer_daemon_bounce_is_automatic() -> None:
    """A bounce from MAILER-DAEMON is automatic but still a report for the service to record."""
    raw = _mail("From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail")
    message = MailReader(FakeOpenPGP()).read(raw)
    assert (True, Verdict.REPORT) == (message.auto_submitted, message.verdict)


def test_mail_from_own_address_is_ignored() -> None:
    """Mail from the bridge's own address is a loop and ignored."""
    raw = _mail("From: security@vendor.example\nSubject: x")
    reader = MailReader(FakeOpenPGP(), own_addresses=["Security@Vendor.example"])
    assert Verdict.IGNORE == reader.read(raw).verdict


def test_empty_junk_is_ignored() -> None:
    """An unencrypted message with no subject, text or attachment is ignored."""
    message = MailReader(FakeOpenPGP()).read(_mail("From: a@b.example", body=""))
    assert Verdict.IGNORE == message.verdict


def test_oversize_message_is_quarantined_with_headers_read() -> None:
    """A message over the size limit is quarantined; its Message-ID is still read."""
    raw = _mail(BASE + "\nMessage-ID: <big@x>", body="x" * 2000)
    message = MailReader(FakeOpenPGP(), ReaderLimits(max_message_bytes=1000)).read(raw)
    assert (Verdict.QUARANTINE, "<big@x>") == (message.verdict, message.message_id)
    assert "over the limit of 1000" in message.reason


def _nested(depth: int) -> bytes:
    body = "x\r\n"
    content_type = "text/plain"
    for level in range(depth):
        boundary = f"b{level}"
        body = f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n{body}\r\n--{boundary}--\r\n"
        content_type = f'multipart/mixed; boundary="{boundary}"'
    return _mail(BASE + f"\nMIME-Version: 1.0\nContent-Type: {content_type}", body)


def test_mime_depth_limit_quarantines() -> None:
    """A structure deeper than the limit is quarantined with the limit in the reason."""
    reader = MailReader(FakeOpenPGP(), ReaderLimits(max_mime_depth=5))
    assert Verdict.REPORT == reader.read(_nested(4)).verdict
    message = reader.read(_nested(8))
    assert (Verdict.QUARANTINE, "MIME structure deeper than the limit of 5") == (
        message.verdict,
        message.reason,
    )


def test_part_count_limit_quarantines() -> None:
    """More parts than allowed means quarantine."""
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(30))
    raw = _mail(
        BASE + '\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
        parts + "--b--\r\n",
    )
    message = MailReader(FakeOpenPGP(), ReaderLimits(max_parts=20)).read(raw)
    assert (Verdict.QUARANTINE, "message has more than 20 MIME parts") == (
        message.verdict,
        message.reason,
    )


def test_exchange_shape_is_one_encrypted_unit() -> None:
    """Empty text + application/pgp-encrypted + octet-stream is read as PGP/MIME."""
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\n\r\n"
        "--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        '--b\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
        + ARMOUR.replace("\n", "\r\n")
        + "--b--\r\n"
    )
    raw = _mail(BASE + '\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"', body)
    fake = FakeOpenPGP({b"hQEMA": b"Content-Type: text/plain\r\n\r\nsecret text\r\n"})
    message = MailReader(fake).read(raw)
    assert (Verdict.REPORT, True, True, "secret text", ()) == (
        message.verdict,
        message.encrypted,
        message.decrypted,
        message.body,
        message.unencrypted_parts,
    )


def test_refused_decryption_becomes_quarantine_with_reason() -> None:
    """When the adapter refuses, the verdict is quarantine with the adapter's reason."""
    raw = _mail(BASE + "\nContent-Type: text/plain", ARMOUR)
    message = MailReader(FakeOpenPGP()).read(raw)
    assert (Verdict.QUARANTINE, "fake: not decryptable", True) == (
        message.verdict,
        message.reason,
        message.encrypted,
    )


def test_autocrypt_key_for_another_address_is_not_offered() -> None:
    """An Autocrypt header whose addr differs from From is not learned."""
    fake = FakeOpenPGP()
    raw = _mail(BASE + "\nAutocrypt: addr=ceo@vendor.example; keydata=AAAA")
    assert () == MailReader(fake).read(raw).keys_found
    assert [] == fake.learned


def test_html_only_report_is_read_as_text() -> None:
    """An HTML-only unencrypted report becomes readable text."""
    raw = _mail(
        BASE + "\nContent-Type: text/html; charset=utf-8",
        "<p>Step&nbsp;1</p><script>x()</script><p>Step 2</p>",
    )
    message = MailReader(FakeOpenPGP()).read(raw)
    assert ["Step 1", "Step 2"] == [
        line.replace("\xa0", " ") for line in message.body.split("\n") if line.strip()
    ]

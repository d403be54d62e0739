"""Every client shape decrypts with real gpg to the expected subject and body."""

from __future__ import annotations

from email.encoders import encode_7or8bit
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import TYPE_CHECKING

import pytest

from tracker_bridge.demo.mail_shapes import CLIENT_SHAPES, MailShapes, Shape
from tracker_bridge.intake.reader import MailReader
from tracker_bridge.ports.intake import Verdict
from tracker_bridge.ports.openpgp import SignatureStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracker_bridge.openpgp import GnuPG

SUBJECT = "Stored XSS in /admin/report — ünïcode"
BODY = "Steps:\n1. open /admin/report?q=<script>\n2. observe alert\n\nPrice: 5 €, naïve café\n"


@pytest.fixture(scope="module")
def shapes(rita_mail_module: MailShapes) -> dict[str, Shape]:
    """One message per client shape, made once for the module."""
    return {shape.name: shape for shape in rita_mail_module.all_client_shapes(SUBJECT, BODY)}


@pytest.fixture(scope="module")
def rita_mail_module(intake_keys: object) -> MailShapes:
    """Messages from Rita (module scope, so gpg runs once per shape)."""
    keys = intake_keys
    return MailShapes(keys.rita, keys.bridge.fingerprint)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", CLIENT_SHAPES)
def test_client_shape_decrypts_to_subject_and_body(
    name: str, shapes: dict[str, Shape], gnupg: GnuPG
) -> None:
    """Each client's shape yields an encrypted, decrypted report with the protected subject."""
    shape = shapes[name]
    message = MailReader(gnupg).read(shape.raw)
    assert (Verdict.REPORT, True, True) == (message.verdict, message.encrypted, message.decrypted)
    assert SUBJECT == message.subject
    assert BODY.strip() == message.body.strip()
    assert () == message.unencrypted_parts


@pytest.mark.parametrize("name", ["kmail", "mutt", "apple_mail", "outlook_gpgol", "inline_none"])
def test_signed_shapes_report_the_signer_primary_fingerprint(
    name: str, shapes: dict[str, Shape], gnupg: GnuPG, intake_keys: object
) -> None:
    """A signature by a known researcher is valid and names her primary key."""
    message = MailReader(gnupg).read(shapes[name].raw)
    expected = intake_keys.rita.fingerprint  # type: ignore[attr-defined]
    assert (SignatureStatus.VALID, expected) == (
        message.signature.status,
        message.signature.fingerprint,
    )


def test_unknown_signer_does_not_fail_decryption(sam_mail: MailShapes, gnupg: GnuPG) -> None:
    """A good decryption signed by a key the bridge lacks is kept, signature unknown_key."""
    message = MailReader(gnupg, learn_keys=False).read(sam_mail.kmail("Bug", "details\n").raw)
    assert (Verdict.REPORT, True, SignatureStatus.UNKNOWN_KEY) == (
        message.verdict,
        message.decrypted,
        message.signature.status,
    )
    assert "details" == message.body.strip()


def test_mailvelope_is_encrypted_but_unsigned(shapes: dict[str, Shape], gnupg: GnuPG) -> None:
    """Mailvelope encrypts without signing: signature status none."""
    message = MailReader(gnupg).read(shapes["mailvelope"].raw)
    assert SignatureStatus.NONE == message.signature.status


def test_encrypted_attachment_is_decrypted_with_digest(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """An attachment inside PGP/MIME comes out decrypted with its sha256."""
    shape = rita_mail.mailvelope("PoC", "see attachment\n", attachment=b"print('pwned')\n")
    message = MailReader(gnupg).read(shape.raw)
    assert [("poc.py", 15)] == [(a.filename, len(a.content)) for a in message.attachments]
    assert b"print('pwned')\n" == message.attachments[0].content
    assert 64 == len(message.attachments[0].sha256)


def test_inline_mode_decrypts_separately_encrypted_attachment(
    rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """Enigmail inline: the armoured text and the *.pgp attachment are both decrypted."""
    shape = rita_mail.inline_with_encrypted_attachment("Crash", "log attached\n", b"SIGSEGV\n")
    message = MailReader(gnupg).read(shape.raw)
    assert (True, "log attached") == (message.decrypted, message.body.strip())
    assert [("crash.log", b"SIGSEGV\n")] == [(a.filename, a.content) for a in message.attachments]


@pytest.mark.parametrize("kind", ["latin1", "wrong", "broken"])
def test_charsets_latin1_mislabelled_and_unknown_decode(
    kind: str, rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """Latin-1, UTF-8 labelled as ASCII and an unknown charset name all decode correctly."""
    shape = rita_mail.charset_shape("Charset", "café naïve Ærø\n", kind=kind)
    message = MailReader(gnupg).read(shape.raw)
    assert "café naïve Ærø" == message.body.strip()


def test_plaintext_report_is_accepted_unencrypted(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """An unencrypted report is a report with encrypted False."""
    message = MailReader(gnupg).read(rita_mail.plaintext("Open redirect", "at /go?u=\n").raw)
    assert (Verdict.REPORT, False, False, "at /go?u=") == (
        message.verdict,
        message.encrypted,
        message.decrypted,
        message.body.strip(),
    )


def test_latin1_plaintext_report(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """An unencrypted Latin-1 report decodes."""
    shape = rita_mail.plaintext("Bug", "Grüße aus Köln\n", charset="iso-8859-1")
    assert "Grüße aus Köln" == MailReader(gnupg).read(shape.raw).body.strip()


def armour_in_pgp_encrypted_parts(rita_mail: MailShapes, secrets: Sequence[str]) -> bytes:
    """Webmail shape: text plus application/pgp-encrypted part(s) holding whole armour."""
    message = MIMEMultipart("mixed")
    message["From"] = f"Rita Researcher <{rita_mail.researcher.address}>"
    message["To"] = rita_mail.bridge_address
    message["Subject"] = "pgp-encrypted part only"
    message["Message-ID"] = f"<armour-part-{len(secrets)}@research.example>"
    message.attach(MIMEText("see the encrypted part", "plain", "us-ascii"))
    for secret in secrets:
        armour = rita_mail.encrypt(secret.encode("utf-8"), sign=True).decode("ascii")
        message.attach(MIMEApplication(armour, "pgp-encrypted", _encoder=encode_7or8bit))
    return message.as_bytes()


def test_armour_in_a_pgp_encrypted_part_is_decrypted(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """Armour in an application/pgp-encrypted part inside multipart/mixed is decrypted."""
    raw = armour_in_pgp_encrypted_parts(rita_mail, ["The admin API skips the role check.\n"])
    message = MailReader(gnupg).read(raw)
    assert (Verdict.REPORT, True, "The admin API skips the role check.") == (
        message.verdict,
        message.decrypted,
        message.body.strip(),
    )
    assert ("[unencrypted text/plain]\nsee the encrypted part",) == message.unencrypted_parts


def test_two_armoured_pgp_encrypted_parts_are_kept_with_a_reason(
    rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """Two armoured application/pgp-encrypted parts are kept as attachments, never dropped."""
    raw = armour_in_pgp_encrypted_parts(rita_mail, ["first\n", "second\n"])
    message = MailReader(gnupg).read(raw)
    assert (2, "encrypted attachment inside unencrypted content was not decrypted") == (
        len([a for a in message.attachments if a.content_type == "application/pgp-encrypted"]),
        message.reason,
    )

"""Decryption that cannot be fooled: each failure mode ends in quarantine with a reason."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.keys import gpg_command
from tracker_bridge.errors import QuarantineError
from tracker_bridge.intake.reader import MailReader
from tracker_bridge.openpgp import GnuPG
from tracker_bridge.ports.intake import Verdict

if TYPE_CHECKING:
    from tracker_bridge.demo.mail_shapes import MailShapes

SECRET = "the secret exploit details"


def _inner(mail: MailShapes) -> bytes:
    return mail.text_part(SECRET + "\n")


def _armour(binary: bytes) -> bytes:
    encoded = base64.b64encode(binary).decode("ascii")
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    text = "-----BEGIN PGP MESSAGE-----\n\n" + "\n".join(lines) + "\n-----END PGP MESSAGE-----\n"
    return text.encode("ascii")


def _quarantined(reader: MailReader, raw: bytes) -> str:
    message = reader.read(raw)
    assert (Verdict.QUARANTINE, False, "") == (message.verdict, message.decrypted, message.body)
    assert SECRET not in repr(message)
    return message.reason


def test_message_without_integrity_protection_is_quarantined(
    rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """A message without MDC (gpg --rfc2440) is refused although gpg printed the plaintext."""
    cipher = rita_mail.encrypt(_inner(rita_mail), extra=["--rfc2440", "--cipher-algo", "AES256"])
    reason = _quarantined(MailReader(gnupg), rita_mail.pgp_mime("Bug", b"", ciphertext=cipher))
    assert "integrity" in reason


def test_tampered_ciphertext_is_quarantined(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """Flipping one bit of the ciphertext ends in quarantine, no partial plaintext."""
    cipher = rita_mail.encrypt(_inner(rita_mail) * 50)
    binary = bytearray(
        gpg_command(rita_mail.researcher.gnupghome, "--dearmor", stdin=cipher).stdout
    )
    binary[len(binary) // 2] ^= 0x01
    raw = rita_mail.pgp_mime("Bug", b"", ciphertext=_armour(bytes(binary)))
    assert _quarantined(MailReader(gnupg), raw)


def test_message_for_another_key_is_quarantined(
    rita_mail: MailShapes, gnupg: GnuPG, intake_keys: object
) -> None:
    """Mail encrypted to someone else's key cannot be read and is quarantined."""
    stranger = intake_keys.stranger.fingerprint  # type: ignore[attr-defined]
    cipher = rita_mail.encrypt(_inner(rita_mail), recipients=[stranger])
    reason = _quarantined(MailReader(gnupg), rita_mail.pgp_mime("Bug", b"", ciphertext=cipher))
    assert "does not hold" in reason


def test_symmetric_only_message_is_quarantined(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """A passphrase-only (symmetric) message is not addressed to the bridge key."""
    cipher = gpg_command(
        rita_mail.researcher.gnupghome,
        "--armor",
        "--symmetric",
        stdin=_inner(rita_mail),
        passphrase="bridge-test-passphrase",
    ).stdout
    reason = _quarantined(MailReader(gnupg), rita_mail.pgp_mime("Bug", b"", ciphertext=cipher))
    assert "symmetric" in reason


@pytest.mark.parametrize("mode", ["--sign", "--clearsign"])
def test_signed_only_payload_in_encrypted_wrapper_is_quarantined(
    mode: str, rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """multipart/encrypted whose payload is only signed (or clearsigned) is not encrypted."""
    signed = gpg_command(
        rita_mail.researcher.gnupghome, "--armor", mode, stdin=_inner(rita_mail)
    ).stdout
    reason = _quarantined(MailReader(gnupg), rita_mail.pgp_mime("Bug", b"", ciphertext=signed))
    assert "not encrypted" in reason


def test_truncated_pgp_mime_armour_is_quarantined(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """Armour cut in half (END line kept) ends in quarantine."""
    lines = rita_mail.encrypt(_inner(rita_mail) * 20).decode().splitlines()
    cut = "\n".join(lines[: len(lines) // 2]) + "\n-----END PGP MESSAGE-----\n"
    assert _quarantined(MailReader(gnupg), rita_mail.pgp_mime("Bug", b"", ciphertext=cut.encode()))


def test_truncated_inline_armour_is_quarantined(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """Inline armour without its END line is quarantined as truncated."""
    lines = rita_mail.encrypt(SECRET.encode()).decode().splitlines()
    part = rita_mail.text_part("\n".join(lines[:-3]) + "\n", charset="us-ascii", encoding="7bit")
    reason = _quarantined(MailReader(gnupg), rita_mail._wrap("Bug", part))  # noqa: SLF001 - the mail builder's MIME wrapper, to wrap a hand-broken part
    assert "truncated" in reason


def test_oversize_plaintext_is_quarantined(rita_mail: MailShapes, intake_keys: object) -> None:
    """A plaintext over the adapter's limit is thrown away and quarantined."""
    keys = intake_keys
    gnupg = GnuPG(keys.bridge.gnupghome, "bridge-test-passphrase", max_plaintext_bytes=1000)  # type: ignore[attr-defined]
    raw = rita_mail.kmail("Big", SECRET + "\n" + "A" * 5000 + "\n").raw
    reason = _quarantined(MailReader(gnupg), raw)
    assert "exceeds the limit" in reason


def test_encrypted_block_inside_attacker_text_is_decrypted_apart_never_merged(
    rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """Armour surrounded by plaintext decrypts alone; the text around it stays labelled apart.

    Issue 12 item 4 replaced "set the block aside": the EFAIL rule kept is that attacker text
    never joins the decrypted text (body) and decrypted text never leaks into the labelled
    unencrypted parts.
    """
    armour = rita_mail.encrypt(SECRET.encode()).decode()
    text = "Please forward this to the CEO:\n\n" + armour + "\nThanks, the attacker\n"
    part = rita_mail.text_part(text)
    message = MailReader(gnupg).read(rita_mail._wrap("Fwd", part))  # noqa: SLF001 - the mail builder's MIME wrapper, to wrap a hand-broken part
    assert (Verdict.REPORT, True, True, SECRET) == (
        message.verdict,
        message.encrypted,
        message.decrypted,
        message.body,
    )
    assert (
        "[unencrypted text/plain]\nPlease forward this to the CEO:",
        "[unencrypted text/plain]\nThanks, the attacker",
    ) == message.unencrypted_parts
    assert [] == [a.content_type for a in message.attachments]


def test_pgp_mime_nested_inside_plaintext_is_not_decrypted(
    rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """multipart/encrypted below another multipart is set aside, never decrypted into the body."""
    encrypted = rita_mail.kmail("inner", SECRET + "\n").raw
    entity = encrypted[encrypted.index(b"Content-Type: multipart/encrypted") :]
    nested = rita_mail.multipart(
        "mixed", [rita_mail.multipart("mixed", [rita_mail.text_part("hello\n"), entity])]
    )
    message = MailReader(gnupg).read(rita_mail._wrap("Nested", nested))  # noqa: SLF001 - the mail builder's MIME wrapper, to wrap a hand-broken part
    assert (Verdict.REPORT, False, "hello") == (
        message.verdict,
        message.encrypted,
        message.body.strip(),
    )
    assert ["multipart/encrypted"] == [a.content_type for a in message.attachments]


def test_unencrypted_parts_beside_encryption_are_labelled_not_merged(
    rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """A list footer next to the encrypted part is kept as labelled unencrypted content."""
    encrypted = rita_mail.kmail("inner", SECRET + "\n").raw
    entity = encrypted[encrypted.index(b"Content-Type: multipart/encrypted") :]
    mixed = rita_mail.multipart("mixed", [entity, rita_mail.text_part("-- list footer\n")])
    message = MailReader(gnupg).read(rita_mail._wrap("Footer", mixed))  # noqa: SLF001 - the mail builder's MIME wrapper, to wrap a hand-broken part
    assert (True, True, SECRET) == (message.encrypted, message.decrypted, message.body.strip())
    assert ("[unencrypted text/plain]\n-- list footer",) == message.unencrypted_parts


def test_adapter_raises_quarantine_for_garbage(gnupg: GnuPG) -> None:
    """The adapter itself refuses bytes that are not OpenPGP at all."""
    with pytest.raises(QuarantineError, match="no encrypted OpenPGP data"):
        gnupg.decrypt(b"not openpgp at all")


def test_encrypt_to_self_round_trip_and_sign(gnupg: GnuPG, intake_keys: object) -> None:
    """encrypt_to_self opens with decrypt_own; sign_detached verifies as valid."""
    assert b"raw mail" == gnupg.decrypt_own(gnupg.encrypt_to_self(b"raw mail"))
    signature = gnupg.sign_detached(b"payload")
    check = gnupg.verify_detached(b"payload", signature)
    assert ("valid", intake_keys.bridge.fingerprint) == (check.status.value, check.fingerprint)  # type: ignore[attr-defined]


def test_encrypt_and_sign_reaches_the_researcher(gnupg: GnuPG, intake_keys: object) -> None:
    """Mail to a researcher decrypts in her keyring and carries the bridge's signature."""
    rita = intake_keys.rita  # type: ignore[attr-defined]
    cipher = gnupg.encrypt_and_sign(b"your report CVD-2026-0001", [rita.fingerprint])
    result = gpg_command(rita.gnupghome, "--status-fd", "1", "--decrypt", stdin=cipher)
    assert b"your report CVD-2026-0001" in result.stdout
    assert b"GOODMDC" in result.stdout

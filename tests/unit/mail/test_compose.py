"""PGP/MIME composition against a hand-written OpenPGP fake: structure, headers, policy."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge.domain.researcher import Language, Researcher
from tracker_bridge.errors import RecipientKeyMissing, SkippableError
from tracker_bridge.mail.compose import PgpMimeComposer, plus_address, signature_micalg
from tracker_bridge.mail.templates import TemplateSet
from tracker_bridge.ports.mail import NotificationKind, OutboxItem
from tracker_bridge.testing import FakeClock

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracker_bridge.ports.openpgp import Decryption, SignatureCheck

TEMPLATES = Path(__file__).resolve().parents[3] / "mappings" / "templates"
RESEARCHER_KEY = "A" * 40
BRIDGE_KEY = "B" * 40
CANARY = "Stored XSS in /admin/users via the display name"


def _armour(kind: str, data: bytes) -> bytes:
    return (
        f"-----BEGIN PGP {kind}-----\n\n".encode()
        + base64.encodebytes(data)
        + b"=AAAA\n"
        + f"-----END PGP {kind}-----\n".encode()
    )


# A v4 signature packet header (new format, tag 2): version 4, binary document, EdDSA, SHA-512.
FAKE_SIGNATURE = _armour("SIGNATURE", bytes([0xC2, 0x10, 4, 0x00, 22, 10]) + b"\x00" * 14)


class FakeOpenPGP:
    """Records what it was asked to protect; "encryption" is armoured plaintext."""

    bridge_fingerprint = BRIDGE_KEY

    def __init__(self, keys: Sequence[str] = (), *, unusable: bool = False) -> None:
        self.keys = set(keys)
        self.unusable = unusable
        self.encrypted: list[tuple[bytes, list[str]]] = []
        self.signed: list[bytes] = []

    def has_key(self, fingerprint: str) -> bool:
        return fingerprint in self.keys

    def delete_public_key(self, fingerprint: str) -> bool:
        msg = f"fake: deleting key {fingerprint} is not part of this test"
        raise NotImplementedError(msg)

    def encrypt_and_sign(self, plaintext: bytes, recipient_fingerprints: Sequence[str]) -> bytes:
        if self.unusable or not set(recipient_fingerprints) <= self.keys:
            # What GnuPG does for a missing, expired or revoked recipient key.
            msg = "cannot encrypt: a recipient key is unusable"
            raise SkippableError(msg)
        self.encrypted.append((plaintext, list(recipient_fingerprints)))
        return _armour("MESSAGE", b"sealed")

    def sign_detached(self, data: bytes) -> bytes:
        self.signed.append(data)
        return FAKE_SIGNATURE

    def export_public_key(self) -> bytes:
        return _armour("PUBLIC KEY BLOCK", b"bridge-public-key")

    def decrypt(self, ciphertext: bytes) -> Decryption:
        raise NotImplementedError

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        raise NotImplementedError

    def encrypt_to_self(self, plaintext: bytes) -> bytes:
        raise NotImplementedError

    def decrypt_own(self, ciphertext: bytes) -> bytes:
        raise NotImplementedError

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        raise NotImplementedError


def _item(template: str = "team_message", language: str = "en", **params: str) -> OutboxItem:
    kind = (
        NotificationKind.ACKNOWLEDGEMENT
        if template == "acknowledgement"
        else NotificationKind.TEAM_MESSAGE
    )
    return OutboxItem(
        outbox_id="ob-1",
        report_id="CVD-2026-0007",
        recipient="rita@researcher.example",
        kind=kind,
        template=template,
        language=language,
        params={"team_message": CANARY, **params},
        message_id="<ob-1.CVD-2026-0007@bridge.example.org>",
        dedupe_key="d-1",
        created_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
    )


def _researcher(fingerprint: str | None = RESEARCHER_KEY) -> Researcher:
    return Researcher(
        "rita@researcher.example", pseudonym="n0body", fingerprint=fingerprint, language=Language.NL
    )


def _composer(openpgp: FakeOpenPGP, without_key: str = "key_request") -> PgpMimeComposer:
    return PgpMimeComposer(
        openpgp,
        TemplateSet(TEMPLATES),
        organisation="Example Organisation",
        from_address="security@example.org",
        contact_address="security@example.org",
        without_key=without_key,  # type: ignore[arg-type]
        clock=FakeClock(),
    )


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_with_a_key_the_mail_is_pgp_mime_encrypted_with_a_neutral_subject() -> None:
    """RFC 3156 multipart/encrypted: version part, encrypted.asc, and a neutral outer subject."""
    openpgp = FakeOpenPGP([RESEARCHER_KEY])

    mail = _composer(openpgp).compose(_item(language="nl"), _researcher())
    message = _parse(mail.message)
    parts = list(message.iter_parts())

    assert True is mail.encrypted
    assert "multipart/encrypted" == message.get_content_type()
    assert "application/pgp-encrypted" == message.get_param("protocol")
    assert "Melding CVD-2026-0007: update" == message["Subject"]
    assert ["application/pgp-encrypted", "application/octet-stream"] == [
        part.get_content_type() for part in parts
    ]
    assert b"Version: 1" == parts[0].get_content().strip()
    assert "encrypted.asc" == parts[1].get_filename()
    assert [RESEARCHER_KEY] == openpgp.encrypted[0][1]
    assert CANARY.encode() not in mail.message


def test_the_encrypted_part_carries_the_real_headers_as_protected_headers() -> None:
    """The inner text/plain part has protected-headers="v1" with the real Subject/From/To/Date."""
    openpgp = FakeOpenPGP([RESEARCHER_KEY])

    mail = _composer(openpgp).compose(_item(language="nl"), _researcher())
    inner = _parse(openpgp.encrypted[0][0])
    outer = _parse(mail.message)

    assert "v1" == inner.get_param("protected-headers")
    assert "Melding CVD-2026-0007: bericht van ons team" == inner["Subject"]
    assert outer["From"] == inner["From"]
    assert "rita@researcher.example" == inner["To"]
    assert outer["Date"] == inner["Date"]
    assert "nl" == inner["Content-Language"]
    assert CANARY in " ".join(inner.get_content().split())


def test_headers_thread_replies_and_mark_the_mail_automatic() -> None:
    """Message-ID, Reply-To plus-address, References, Auto-Submitted and Content-Language."""
    mail = _composer(FakeOpenPGP([RESEARCHER_KEY])).compose(
        _item(),
        _researcher(),
        references=["<first@researcher.example>", "<second@researcher.example>"],
    )
    message = _parse(mail.message)

    assert "<ob-1.CVD-2026-0007@bridge.example.org>" == message["Message-ID"]
    assert "security+CVD-2026-0007@example.org" == message["Reply-To"]
    assert "<second@researcher.example>" == message["In-Reply-To"]
    assert "<first@researcher.example> <second@researcher.example>" == message["References"]
    assert "auto-generated" == message["Auto-Submitted"]
    assert "en" == message["Content-Language"]
    assert "Mon, 02 Nov 2026 09:00:00 +0000" == message["Date"]
    assert "Example Organisation <security@example.org>" == message["From"]
    assert ("security@example.org", ("rita@researcher.example",)) == (
        mail.sender,
        mail.recipients,
    )


def test_acknowledgement_is_marked_auto_replied() -> None:
    """The acknowledgement answers the researcher's mail: Auto-Submitted: auto-replied."""
    mail = _composer(FakeOpenPGP([RESEARCHER_KEY])).compose(_item("acknowledgement"), _researcher())

    assert "auto-replied" == _parse(mail.message)["Auto-Submitted"]


def test_autocrypt_header_carries_the_bridge_key() -> None:
    """Autocrypt names the From address, prefers encryption and holds the binary key."""
    mail = _composer(FakeOpenPGP([RESEARCHER_KEY])).compose(_item(), _researcher())
    value = "".join(str(_parse(mail.message)["Autocrypt"]).split())

    assert value.startswith("addr=security@example.org;prefer-encrypt=mutual;keydata=")
    assert b"bridge-public-key" == base64.b64decode(value.split("keydata=", 1)[1])
    assert all(len(line) <= 78 for line in mail.message.split(b"\r\n"))


def test_without_a_key_a_signed_key_request_without_details_is_sent() -> None:
    """No key: the key request row goes multipart/signed; no detail the row holds gets in."""
    openpgp = FakeOpenPGP()

    mail = _composer(openpgp).compose(_item("key_request", severity="critical"), _researcher())
    message = _parse(mail.message)
    signed, signature = message.iter_parts()

    assert False is mail.encrypted
    assert "multipart/signed" == message.get_content_type()
    assert "pgp-sha512" == message.get_param("micalg")
    assert "application/pgp-signature" == signature.get_content_type()
    assert "Report CVD-2026-0007: update" == message["Subject"]
    assert "send us your OpenPGP public key" in " ".join(signed.get_content().split())
    assert CANARY.encode() not in mail.message
    assert b"critical" not in mail.message
    assert [] == openpgp.encrypted


def test_the_signature_covers_the_part_exactly_as_transmitted() -> None:
    """The bytes handed to the signer appear verbatim between the boundaries (CRLF kept)."""
    openpgp = FakeOpenPGP()

    mail = _composer(openpgp).compose(_item("key_request"), _researcher())
    boundary = _parse(mail.message).get_boundary()
    assert boundary is not None
    delimiter = f"\r\n--{boundary}\r\n".encode()
    signed_part = mail.message.split(delimiter)[1]

    assert openpgp.signed == [signed_part]
    assert b"\n" not in signed_part.replace(b"\r\n", b"")


def test_fingerprint_without_key_in_the_keyring_is_treated_as_no_key() -> None:
    """A researcher fingerprint the keyring does not hold: the mail is withheld, not sent."""
    with pytest.raises(RecipientKeyMissing, match="'team_message' mail waits"):
        _composer(FakeOpenPGP()).compose(_item(), _researcher())


def test_unusable_researcher_key_withholds_the_mail_and_the_key_request_goes_signed() -> None:
    """An expired or revoked key withholds the mail; the key request itself goes out signed."""
    composer = _composer(FakeOpenPGP([RESEARCHER_KEY], unusable=True))

    with pytest.raises(RecipientKeyMissing):
        composer.compose(_item(), _researcher())
    mail = composer.compose(_item("key_request"), _researcher())

    assert False is mail.encrypted
    assert CANARY.encode() not in mail.message


@pytest.mark.parametrize(
    ("template", "kind", "team_message", "sent_in_clear"),
    [
        ("acknowledgement", NotificationKind.ACKNOWLEDGEMENT, "", True),
        ("state_triaged", NotificationKind.STATE_CHANGE, "", True),
        ("state_needs_info", NotificationKind.STATE_CHANGE, CANARY, False),
        ("team_message", NotificationKind.TEAM_MESSAGE, CANARY, False),
    ],
)
def test_without_details_policy_sends_dates_and_state_in_clear_but_holds_team_words(
    template: str, kind: NotificationKind, team_message: str, sent_in_clear: bool
) -> None:
    """Cleartext = "without-details": mails without the team's words go signed; the rest waits."""
    composer = PgpMimeComposer(
        FakeOpenPGP(),
        TemplateSet(TEMPLATES),
        organisation="Example Organisation",
        from_address="security@example.org",
        contact_address="security@example.org",
        cleartext="without-details",
        clock=FakeClock(),
    )
    item = _item(template, expected_fix_date="2026-12-24")
    item.kind = kind
    item.params = {**item.params, "team_message": team_message}
    try:
        mail = composer.compose(item, _researcher(fingerprint=None))
    except RecipientKeyMissing:
        outcome = "withheld"
    else:
        outcome = "sent in clear" if "multipart/signed" in mail.message.decode() else "other"

    assert ("sent in clear" if sent_in_clear else "withheld") == outcome


def test_cleartext_policy_sends_the_full_text_signed() -> None:
    """Policy "cleartext": the real subject and text go out signed, not encrypted."""
    mail = _composer(FakeOpenPGP(), without_key="cleartext").compose(
        _item(language="nl"), _researcher(fingerprint=None)
    )
    message = _parse(mail.message)
    signed, _ = message.iter_parts()

    assert "Melding CVD-2026-0007: bericht van ons team" == message["Subject"]
    assert CANARY in " ".join(signed.get_content().split())
    assert "multipart/signed" == message.get_content_type()


def test_message_id_is_stable_across_compositions() -> None:
    """Composing the same row twice (a resend after a crash) keeps the Message-ID."""
    composer = _composer(FakeOpenPGP([RESEARCHER_KEY]))

    first = _parse(composer.compose(_item(), _researcher()).message)
    second = _parse(composer.compose(_item(), _researcher()).message)

    assert first["Message-ID"] == second["Message-ID"]


def test_non_ascii_names_are_encoded_in_headers() -> None:
    """A researcher name with accents reaches the inner headers intact and the mail stays 7-bit."""
    openpgp = FakeOpenPGP()
    researcher = Researcher("rita@researcher.example", display_name="Jürgen Ørsted")

    mail = _composer(openpgp, without_key="cleartext").compose(_item(), researcher)

    assert mail.message.isascii()
    assert "Dear Jürgen Ørsted," in _parse(openpgp.signed[0]).get_content()


def test_plus_address_replaces_an_existing_tag() -> None:
    """The report id becomes the plus-address tag of the contact address."""
    assert "security+CVD-2026-0007@example.org" == plus_address(
        "security+cvd@example.org", "CVD-2026-0007"
    )


@pytest.mark.parametrize(("algorithm", "micalg"), [(8, "pgp-sha256"), (10, "pgp-sha512")])
def test_micalg_is_read_from_the_signature_packet(algorithm: int, micalg: str) -> None:
    """The micalg parameter names the hash the bridge key actually signed with."""
    packet = bytes([0x89, 0x00, 0x10, 4, 0x00, 1, algorithm]) + b"\x00" * 12

    assert micalg == signature_micalg(_armour("SIGNATURE", packet))

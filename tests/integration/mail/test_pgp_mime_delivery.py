"""Researcher mail end to end: real gpg composes, real aiosmtpd receives, the researcher reads."""

from __future__ import annotations

import base64
import email
import email.policy
import re
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.keys import gpg_command
from tracker_bridge.domain.researcher import Language, Researcher
from tracker_bridge.errors import RecipientKeyMissing
from tracker_bridge.mail.compose import PgpMimeComposer
from tracker_bridge.mail.smtp import SmtpTransport
from tracker_bridge.mail.templates import TemplateSet
from tracker_bridge.openpgp import GnuPG, GpgStatus
from tracker_bridge.ports.mail import NotificationKind, OutboxItem
from tracker_bridge.ports.openpgp import SignatureStatus
from tracker_bridge.testing import FakeClock

if TYPE_CHECKING:
    from collections.abc import Callable

    from .conftest import MailKeys, SmtpServer

TEMPLATES = Path(__file__).resolve().parents[3] / "mappings" / "templates"
CANARY = "Heap overflow in the avatar resizer (CANARY-1d9e)"


def _item(template: str, language: str, number: int = 1, **params: str) -> OutboxItem:
    return OutboxItem(
        outbox_id=f"ob-{number}",
        report_id="CVD-2026-0007",
        recipient="rita@researcher.example",
        kind=NotificationKind.STATE_CHANGE,
        template=template,
        language=language,
        params={"team_message": CANARY, **params},
        message_id=f"<ob-{number}.CVD-2026-0007@bridge.example.org>",
        dedupe_key=f"d-{number}",
        created_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
    )


def _researcher(keys: MailKeys, *, with_key: bool = True) -> Researcher:
    return Researcher(
        "rita@researcher.example",
        display_name="Rita Researcher",
        fingerprint=keys.researcher.fingerprint if with_key else None,
        language=Language.NL,
    )


def _composer(openpgp: GnuPG) -> PgpMimeComposer:
    return PgpMimeComposer(
        openpgp,
        TemplateSet(TEMPLATES),
        organisation="Example Organisation",
        from_address="security@example.org",
        contact_address="security@example.org",
        clock=FakeClock(),
    )


def _deliver(
    composer: PgpMimeComposer,
    server: SmtpServer,
    item: OutboxItem,
    researcher: Researcher,
) -> bytes:
    mail = composer.compose(item, researcher, references=["<report@researcher.example>"])
    SmtpTransport("127.0.0.1", server.port, security="none", timeout=10).send(
        mail.sender, mail.recipients, mail.message
    )
    return server.handler.messages[-1].content


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _open_as_researcher(keys: MailKeys, raw: bytes) -> tuple[EmailMessage, GpgStatus]:
    """Decrypt the encrypted.asc part with the researcher's secret key; parse the inner part."""
    encrypted = list(_parse(raw).iter_parts())[1].get_content()
    ciphertext = encrypted if isinstance(encrypted, bytes) else encrypted.encode("ascii")
    result = gpg_command(
        keys.researcher.gnupghome, "--status-fd", "2", "--decrypt", stdin=ciphertext
    )
    return _parse(result.stdout), GpgStatus.parse(result.stderr.decode("utf-8", "replace"))


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_encrypted_mail_decrypts_for_the_researcher_and_verifies_as_the_bridge(
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """The received mail opens with the researcher's key; the bridge key signed it."""
    server = start_smtp_server()

    raw = _deliver(
        _composer(bridge_openpgp),
        server,
        _item("state_triaged", "en", severity="high", expected_fix_date="2026-12-24"),
        _researcher(mail_keys),
    )
    inner, status = _open_as_researcher(mail_keys, raw)

    assert "multipart/encrypted" == _parse(raw).get_content_type()
    assert SignatureStatus.VALID == status.signature().status
    assert mail_keys.bridge.fingerprint == status.signature().fingerprint
    assert "We rate its severity as high." in _flat(inner.get_content())
    assert "24 December 2026" in _flat(inner.get_content())
    assert b"high" not in raw
    assert b"December" not in raw


def test_inner_subject_is_real_and_outer_subject_is_neutral(
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """Protected headers: the real Subject inside, "Report ...: update" outside."""
    server = start_smtp_server()

    raw = _deliver(
        _composer(bridge_openpgp), server, _item("state_needs_info", "en"), _researcher(mail_keys)
    )
    inner, _ = _open_as_researcher(mail_keys, raw)
    outer = _parse(raw)

    assert "Report CVD-2026-0007: update" == outer["Subject"]
    assert "Report CVD-2026-0007: we need more information" == inner["Subject"]
    assert "v1" == inner.get_param("protected-headers")
    assert (outer["From"], outer["To"], outer["Date"]) == (
        inner["From"],
        inner["To"],
        inner["Date"],
    )
    assert CANARY in _flat(inner.get_content())
    assert CANARY.encode() not in raw


def test_dutch_researcher_gets_dutch_mail(
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """A Dutch rendering: Dutch subject inside and out, Dutch salutation, Dutch date."""
    server = start_smtp_server()

    raw = _deliver(
        _composer(bridge_openpgp),
        server,
        _item("state_disclosure_pending", "nl", publish_date="2027-01-15"),
        _researcher(mail_keys),
    )
    inner, _ = _open_as_researcher(mail_keys, raw)
    body = inner.get_content().replace("\r\n", "\n")

    assert "Melding CVD-2026-0007: update" == _parse(raw)["Subject"]
    assert "Melding CVD-2026-0007: publicatie gepland" == inner["Subject"]
    assert body.startswith("Beste Rita Researcher,\n")
    assert "op 15 januari 2027 openbaar te maken" in _flat(body)
    assert "nl" == _parse(raw)["Content-Language"]


def test_message_id_is_stable_across_two_compositions(
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """A resend of the same row (crash before marking) carries the same Message-ID."""
    server = start_smtp_server()
    composer = _composer(bridge_openpgp)
    item = _item("team_message", "en")

    first = _deliver(composer, server, item, _researcher(mail_keys))
    second = _deliver(composer, server, item, _researcher(mail_keys))

    assert ["<ob-1.CVD-2026-0007@bridge.example.org>"] * 2 == [
        _parse(first)["Message-ID"],
        _parse(second)["Message-ID"],
    ]
    assert "<report@researcher.example>" == _parse(first)["References"]


def _signed_part(raw: bytes) -> tuple[bytes, bytes]:
    """The signed MIME part exactly as received, and the detached signature (RFC 3156 §5)."""
    boundary = _parse(raw).get_boundary()
    assert boundary is not None
    delimiter = b"\r\n--" + boundary.encode() + b"\r\n"
    _, signed, rest = raw.split(delimiter, 2)
    signature = re.search(
        rb"-----BEGIN PGP SIGNATURE-----.*?-----END PGP SIGNATURE-----", rest, re.DOTALL
    )
    assert signature is not None
    return signed, signature.group(0)


def test_without_a_key_a_signed_key_request_without_details_arrives(
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """No key: multipart/signed key request; gpg verifies it; no report details anywhere."""
    server = start_smtp_server()

    raw = _deliver(
        _composer(bridge_openpgp),
        server,
        _item("key_request", "en", severity="critical", expected_fix_date="2026-12-24"),
        _researcher(mail_keys, with_key=False),
    )
    signed, signature = _signed_part(raw)
    with tempfile.NamedTemporaryFile(prefix="tbs", suffix=".asc") as signature_file:
        signature_file.write(signature)
        signature_file.flush()
        result = gpg_command(
            mail_keys.researcher.gnupghome,
            "--status-fd",
            "2",
            "--verify",
            signature_file.name,
            "-",
            stdin=signed,
        )
    check = GpgStatus.parse(result.stderr.decode("utf-8", "replace")).signature()
    message = _parse(raw)

    assert (SignatureStatus.VALID, mail_keys.bridge.fingerprint) == (
        check.status,
        check.fingerprint,
    )
    assert "multipart/signed" == message.get_content_type()
    assert "Report CVD-2026-0007: update" == message["Subject"]
    request = next(iter(message.iter_parts())).get_content()
    assert "send us your OpenPGP public key" in _flat(request)
    assert [] == [word for word in (CANARY, "critical", "December") if word.encode() in raw]


def test_signature_micalg_matches_the_hash_gpg_used(
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """The micalg parameter in the Content-Type names the hash of the bridge's actual signature."""
    server = start_smtp_server()

    raw = _deliver(
        _composer(bridge_openpgp),
        server,
        _item("key_request", "en"),
        _researcher(mail_keys, with_key=False),
    )
    _, signature = _signed_part(raw)
    listing = gpg_command(
        mail_keys.researcher.gnupghome, "--list-packets", stdin=signature
    ).stdout.decode()
    digest = re.search(r"digest algo (\d+)", listing)
    assert digest is not None
    names = {"8": "pgp-sha256", "9": "pgp-sha384", "10": "pgp-sha512", "11": "pgp-sha224"}

    assert names[digest.group(1)] == _parse(raw).get_param("micalg")


def test_autocrypt_header_carries_the_bridge_public_key(
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """The Autocrypt keydata is the bridge's key: gpg shows the bridge fingerprint."""
    server = start_smtp_server()

    raw = _deliver(
        _composer(bridge_openpgp), server, _item("team_message", "en"), _researcher(mail_keys)
    )
    header = "".join(str(_parse(raw)["Autocrypt"]).split())
    keydata = base64.b64decode(header.split("keydata=", 1)[1])
    shown = gpg_command(
        mail_keys.researcher.gnupghome, "--with-colons", "--show-keys", stdin=keydata
    ).stdout.decode()

    assert header.startswith("addr=security@example.org;prefer-encrypt=mutual;")
    assert f"fpr:::::::::{mail_keys.bridge.fingerprint}:" in shown


@pytest.mark.parametrize("language", ["en", "nl"])
def test_acknowledgement_is_auto_replied_and_encrypted(
    language: str,
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """The acknowledgement goes out encrypted, marked auto-replied, in the chosen language."""
    server = start_smtp_server()
    item = _item(
        "acknowledgement",
        language,
        received_date="2026-11-02",
        assessment_due="2026-11-05",
        arrived_encrypted="yes",
        arrived_signed="yes",
    )
    item.kind = NotificationKind.ACKNOWLEDGEMENT

    raw = _deliver(_composer(bridge_openpgp), server, item, _researcher(mail_keys))
    inner, _ = _open_as_researcher(mail_keys, raw)
    expected = {
        "en": "Your message reached us encrypted and signed.",
        "nl": "Uw bericht kwam versleuteld en ondertekend bij ons binnen.",
    }

    assert "auto-replied" == _parse(raw)["Auto-Submitted"]
    assert expected[language] in _flat(inner.get_content())
    assert "security+CVD-2026-0007@example.org" in _flat(inner.get_content())


def test_fingerprint_missing_from_the_keyring_gets_the_key_request(
    mail_keys: MailKeys,
    bridge_openpgp: GnuPG,
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """A fingerprint gpg does not hold: the mail is withheld and the key request goes signed."""
    server = start_smtp_server()
    researcher = Researcher(
        "rita@researcher.example", fingerprint="0123456789ABCDEF0123456789ABCDEF01234567"
    )

    with pytest.raises(RecipientKeyMissing):
        _composer(bridge_openpgp).compose(_item("team_message", "en"), researcher)
    raw = _deliver(_composer(bridge_openpgp), server, _item("key_request", "en"), researcher)

    assert "multipart/signed" == _parse(raw).get_content_type()
    assert CANARY.encode() not in raw

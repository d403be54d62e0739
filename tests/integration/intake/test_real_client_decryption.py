"""Real clients' mail decrypts: older keys, OpenPGP.js armour, text around blocks, text mode.

Issue 12 items 1, 3, 4, 5; and gpg's work per message is bounded (issue 15 item 4).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.integration.intake.conftest import BRIDGE_PASSPHRASE, IntakeKeys
from tracker_bridge._testsupport.keys import (
    WHILE_OLD_KEY_VALID,
    TestKey,
    export_public_key,
    generate_key,
    generate_older_key,
    gpg_command,
    import_key,
    make_gnupghome,
    remove_gnupghome,
    revoke_key,
)
from tracker_bridge.demo.mail_shapes import MailShapes
from tracker_bridge.errors import QuarantineError
from tracker_bridge.intake.reader import MailReader
from tracker_bridge.openpgp import GnuPG, GpgStatus
from tracker_bridge.ports.intake import Verdict
from tracker_bridge.ports.openpgp import SignatureStatus

if TYPE_CHECKING:
    from collections.abc import Iterator

BODY = "Heap overflow in /api/upload\n1. send 70000 bytes\n2. observe the crash\n"


# ---------------------------------------------------------------------------- OpenPGP.js armour


def test_openpgpjs_armour_has_the_v6_shape(rita_mail: MailShapes) -> None:
    """The test armour is OpenPGP.js v6's: no header, 60-char lines, no CRC, unpadded base64."""
    lines = rita_mail.openpgpjs_encrypt(BODY.encode()).decode("ascii").split("\n")
    data = lines[2:-2]
    assert (["-----BEGIN PGP MESSAGE-----", ""], ["-----END PGP MESSAGE-----", ""]) == (
        lines[:2],
        lines[-2:],
    )
    assert (True, False, False) == (
        all(len(line) == 60 for line in data[:-1]),
        any(line.startswith("=") for line in data),
        data[-1].endswith("="),
    )


T7071_SEQUENCES = {
    # OpenPGP.js v6 default (no compression): both NODATA lines after END_DECRYPTION.
    "none": [
        "PLAINTEXT_LENGTH",
        "DECRYPTION_OKAY",
        "GOODMDC",
        "END_DECRYPTION",
        "NODATA",
        "NODATA",
    ],
    # Compressed data: the invalid-packet NODATA 3 comes before DECRYPTION_OKAY.
    "zlib": [
        "PLAINTEXT_LENGTH",
        "NODATA",
        "DECRYPTION_OKAY",
        "GOODMDC",
        "END_DECRYPTION",
        "NODATA",
    ],
}


@pytest.mark.parametrize("compression", ["none", "zlib"])
def test_crc_less_unpadded_armour_gives_gpg_the_t7071_status_sequence(
    compression: str, rita_mail: MailShapes, gnupg: GnuPG, intake_keys: IntakeKeys
) -> None:
    """Real gpg 2.2 decrypts CRC-less armour fully, prints NODATA 3 and 1, exits 2; accepted."""
    armour = rita_mail.openpgpjs_encrypt(BODY.encode(), compression=compression)
    result = gpg_command(
        intake_keys.bridge.gnupghome,
        "--status-fd",
        "2",
        "--pinentry-mode",
        "loopback",
        f"--passphrase={BRIDGE_PASSPHRASE}",
        "--decrypt",
        stdin=armour,
        check=False,
    )
    status = GpgStatus.parse(result.stderr.decode("utf-8", "replace"))
    keywords = [k for k, _ in status.lines if k not in ("KEY_CONSIDERED", "ENC_TO", "NO_SECKEY")]
    assert (2, BODY.encode()) == (result.returncode, result.stdout)
    assert ["DECRYPTION_KEY", "BEGIN_DECRYPTION", "DECRYPTION_INFO", "PLAINTEXT"] == keywords[:4]
    assert T7071_SEQUENCES[compression] == keywords[4:]
    assert ["3", "1"] == status.values("NODATA")
    assert BODY.encode() == gnupg.decrypt(armour).plaintext


@pytest.mark.parametrize("client", ["mailvelope", "protonmail"])
def test_openpgpjs_pgp_mime_without_checksum_decrypts(
    client: str, rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """Mailvelope v6 / Proton web PGP/MIME with CRC-less armour is a decrypted report."""
    shape = rita_mail.openpgpjs_pgp_mime("Heap overflow", BODY, client=client)
    message = MailReader(gnupg).read(shape.raw)
    assert (Verdict.REPORT, True, True, BODY.strip(), ()) == (
        message.verdict,
        message.encrypted,
        message.decrypted,
        message.body.strip(),
        message.unencrypted_parts,
    )


def test_flowcrypt_inline_without_checksum_decrypts(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """FlowCrypt inline (OpenPGP.js armour in text/plain) decrypts and its signature is valid."""
    message = MailReader(gnupg).read(rita_mail.openpgpjs_inline("Heap overflow", BODY).raw)
    assert (Verdict.REPORT, True, BODY.strip(), SignatureStatus.VALID) == (
        message.verdict,
        message.decrypted,
        message.body.strip(),
        message.signature.status,
    )


def test_crc_less_armour_cut_short_stays_quarantined(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """The NODATA tolerance never covers missing data: CRC-less armour cut in half is refused."""
    lines = rita_mail.openpgpjs_encrypt(BODY.encode() * 30).decode().split("\n")
    cut = "\n".join(lines[: len(lines) // 2]) + "\n-----END PGP MESSAGE-----\n"
    message = MailReader(gnupg).read(rita_mail.pgp_mime("Cut", b"", ciphertext=cut.encode()))
    assert (Verdict.QUARANTINE, False, "") == (message.verdict, message.decrypted, message.body)


# ---------------------------------------------------------------------------- Enigmail text mode


@pytest.mark.parametrize("charset", ["iso-8859-1", "utf-8"])
def test_enigmail_inline_text_mode_is_not_a_false_truncation(
    charset: str, rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """Enigmail inline (gpg --textmode, CRLF, message charset) decrypts: gpg drops each CR."""
    body = "Grüße aus Köln,\nthe session cookie lacks HttpOnly.\n"
    message = MailReader(gnupg).read(rita_mail.enigmail_inline("Cookie", body, charset=charset).raw)
    assert (Verdict.REPORT, True, body.strip(), SignatureStatus.VALID) == (
        message.verdict,
        message.decrypted,
        message.body.strip(),
        message.signature.status,
    )


# ---------------------------------------------------------------------------- text around blocks


def test_see_below_and_signature_line_stay_apart_from_the_decrypted_text(
    rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """A "see below" line before and a signature line after the block are labelled apart."""
    shape = rita_mail.inline_with_text(
        "SQLi", [BODY], before="Hi team, see below.\n\n", after="\n-- \nRita\n"
    )
    message = MailReader(gnupg).read(shape.raw)
    assert (Verdict.REPORT, True, True, BODY.strip()) == (
        message.verdict,
        message.encrypted,
        message.decrypted,
        message.body,
    )
    assert (
        "[unencrypted text/plain]\nHi team, see below.",
        # Trailing blanks go with the transport repair of inline text ("-- " keeps its dashes).
        "[unencrypted text/plain]\n--\nRita",
    ) == message.unencrypted_parts


@pytest.mark.parametrize(
    ("style", "footer_start", "footer_end"),
    [
        ("mailman3", "_______________", "security-leave@vendor.example"),
        ("google_groups", "--\nYou received this message", "%40example."),
    ],
)
def test_list_footer_in_the_same_part_is_labelled_unencrypted(
    style: str, footer_start: str, footer_end: str, rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """A Mailman 3 / Google Groups footer appended to the armoured part becomes labelled text."""
    shape = rita_mail.inline_with_text("SQLi", [BODY], list_style=style)
    message = MailReader(gnupg).read(shape.raw)
    assert (Verdict.REPORT, True, BODY.strip()) == (
        message.verdict,
        message.decrypted,
        message.body,
    )
    (footer,) = message.unencrypted_parts
    assert (True, True, True) == (
        footer.startswith("[unencrypted text/plain]\n" + footer_start),
        footer.endswith(footer_end),
        "Heap overflow" not in footer,
    )


def test_several_blocks_in_one_part_each_decrypt(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """Two armoured blocks with text between them: both decrypt, the text between is apart."""
    shape = rita_mail.inline_with_text(
        "Two findings",
        ["Finding one: XSS\n", "Finding two: CSRF\n"],
        before="Two findings:\n",
        between="\nand the second:\n",
    )
    message = MailReader(gnupg).read(shape.raw)
    assert (True, "Finding one: XSS\n\nFinding two: CSRF") == (message.decrypted, message.body)
    assert (
        "[unencrypted text/plain]\nTwo findings:",
        "[unencrypted text/plain]\nand the second:",
    ) == message.unencrypted_parts


def test_several_blocks_carry_the_weakest_signature(rita_mail: MailShapes, gnupg: GnuPG) -> None:
    """A signed block next to an unsigned one: the message counts as unsigned."""
    signed = rita_mail.encrypt(b"Finding one\n", sign=True).decode()
    unsigned = rita_mail.encrypt(b"Finding two\n").decode()
    part = rita_mail.text_part(signed + "\n" + unsigned, charset="us-ascii", encoding="7bit")
    message = MailReader(gnupg).read(rita_mail._wrap("Two", part))  # noqa: SLF001 - the mail builder's MIME wrapper, to wrap a hand-made part
    assert ("Finding one\n\nFinding two", SignatureStatus.NONE) == (
        message.body,
        message.signature.status,
    )


def test_pgp_mime_flattened_into_text_reads_its_inner_entity(
    rita_mail: MailShapes, gnupg: GnuPG
) -> None:
    """A gateway that turned PGP/MIME into one text part: the inner MIME entity is read."""
    raw = rita_mail.kmail("Flattened", BODY).raw
    head, _, body = raw.partition(b"\r\n\r\n")
    flat_head = head.replace(b"multipart/encrypted", b"text/plain; x-was=multipart/encrypted")
    message = MailReader(gnupg).read(flat_head + b"\r\n\r\n" + body)
    assert (Verdict.REPORT, True, BODY.strip()) == (
        message.verdict,
        message.decrypted,
        message.body.strip(),
    )
    assert "Content-Type" not in message.body


def test_block_for_a_key_the_bridge_lacks_quarantines_the_message(
    rita_mail: MailShapes, gnupg: GnuPG, intake_keys: IntakeKeys
) -> None:
    """A block the bridge cannot open sends the message to quarantine, not a footer-only report."""
    shape = rita_mail.inline_with_text(
        "SQLi", [BODY], recipients=[intake_keys.stranger.fingerprint], list_style="mailman3"
    )
    message = MailReader(gnupg).read(shape.raw)
    assert (Verdict.QUARANTINE, False, "", "encrypted to a key the bridge does not hold") == (
        message.verdict,
        message.decrypted,
        message.body,
        message.reason,
    )


def test_second_block_for_a_key_the_bridge_lacks_names_the_block(
    rita_mail: MailShapes, gnupg: GnuPG, intake_keys: IntakeKeys
) -> None:
    """With several blocks, the reason says which one did not open; nothing is filed."""
    good = rita_mail.encrypt(b"Finding one\n", sign=True).decode()
    foreign = rita_mail.encrypt(
        b"Finding two\n", recipients=[intake_keys.stranger.fingerprint]
    ).decode()
    part = rita_mail.text_part(good + "\n" + foreign, charset="us-ascii", encoding="7bit")
    message = MailReader(gnupg).read(rita_mail._wrap("Two", part))  # noqa: SLF001 - the mail builder's MIME wrapper, to wrap a hand-made part
    assert (
        Verdict.QUARANTINE,
        "inline PGP block 2 of 2: encrypted to a key the bridge does not hold",
    ) == (
        message.verdict,
        message.reason,
    )


# ---------------------------------------------------------------------------- older bridge keys


@dataclass(frozen=True)
class RotatedBridge:
    """A bridge home with the current key and two older ones (expired, revoked)."""

    current: TestKey
    expired: TestKey
    revoked: TestKey
    rita: TestKey


@pytest.fixture(scope="module")
def rotated(intake_keys: IntakeKeys) -> Iterator[RotatedBridge]:
    """The bridge rotated twice; Rita still holds both older public keys."""
    bridge_home, rita_home = make_gnupghome(), make_gnupghome()
    address = "security@vendor.example"
    # The current key first: generate_key names the first key listed for the address.
    current = generate_key(bridge_home, "CVD Bridge", address, BRIDGE_PASSPHRASE)
    expired = generate_older_key(
        bridge_home, "CVD Bridge", address, BRIDGE_PASSPHRASE, state="expired"
    )
    revoked = generate_older_key(
        bridge_home, "CVD Bridge", address, BRIDGE_PASSPHRASE, state="revoked"
    )
    rita = generate_key(rita_home, "Rita Researcher", "rita@research.example")
    for key in (expired, revoked, current):
        import_key(rita_home, export_public_key(bridge_home, key.fingerprint))
    import_key(bridge_home, export_public_key(rita_home, rita.fingerprint))
    # Revoked after Rita fetched it: her copy is still good, as an old security.txt key would be.
    revoke_key(bridge_home, revoked.fingerprint)
    yield RotatedBridge(current, expired, revoked, rita)
    for home in (bridge_home, rita_home):
        remove_gnupghome(home)


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_mail_to_an_older_bridge_key_decrypts_with_a_note(
    state: str, rotated: RotatedBridge
) -> None:
    """Mail to an expired or revoked older bridge key decrypts; the team is told about the key."""
    old = rotated.expired if state == "expired" else rotated.revoked
    options = ("--faked-system-time", WHILE_OLD_KEY_VALID) if state == "expired" else ()
    shapes = MailShapes(rotated.rita, old.fingerprint, encrypt_options=options)
    gnupg = GnuPG(rotated.current.gnupghome, BRIDGE_PASSPHRASE, rotated.current.fingerprint)
    message = MailReader(gnupg).read(shapes.mailvelope("Old key", BODY).raw)
    note = (
        f"[tracker-bridge note] The researcher encrypted to an older bridge key, "
        f"{old.fingerprint} ({state}), not the current one; replies carry the current key "
        "(Autocrypt)."
    )
    assert (Verdict.REPORT, True, BODY.strip(), (note,)) == (
        message.verdict,
        message.decrypted,
        message.body.strip(),
        message.unencrypted_parts,
    )
    assert f"decrypted PGP/MIME; encrypted to older bridge key {old.fingerprint} ({state})" == (
        message.reason
    )
    assert rotated.current.fingerprint == gnupg.bridge_fingerprint


def test_mail_to_the_current_key_carries_no_note(rotated: RotatedBridge) -> None:
    """The configured key decrypting is the normal case: no note, plain reason."""
    shapes = MailShapes(rotated.rita, rotated.current.fingerprint)
    gnupg = GnuPG(rotated.current.gnupghome, BRIDGE_PASSPHRASE, rotated.current.fingerprint)
    message = MailReader(gnupg).read(shapes.kmail("New key", BODY).raw)
    assert ("decrypted PGP/MIME", (), SignatureStatus.VALID) == (
        message.reason,
        message.unencrypted_parts,
        message.signature.status,
    )


# ---------------------------------------------------------------------------- bounded gpg work


@pytest.fixture(scope="module")
def compression_bomb(intake_keys: IntakeKeys) -> bytes:
    """About 400 kB of armoured OpenPGP that inflates to 300 MB of zeros (zlib level 9)."""
    command = (
        f"head -c 300000000 /dev/zero | gpg --homedir {intake_keys.rita.gnupghome} --batch "
        f"--trust-model always --compress-algo zlib -z 9 --armor --encrypt "
        f"--recipient {intake_keys.bridge.fingerprint}"
    )
    return subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, check=True, timeout=120
    ).stdout


def test_compression_bomb_stops_at_the_output_limit(
    compression_bomb: bytes, intake_keys: IntakeKeys
) -> None:
    """Output past the limit stops gpg at once, well before gpg's own --max-output would."""
    home = intake_keys.bridge.gnupghome
    started = time.monotonic()
    # gpg's own limit alone (what the adapter used to rely on) refuses to write but keeps
    # decompressing the whole bomb.
    gpg_command(
        home,
        "--pinentry-mode",
        "loopback",
        f"--passphrase={BRIDGE_PASSPHRASE}",
        "--max-output",
        "1000001",
        "--decrypt",
        stdin=compression_bomb,
        check=False,
    )
    gpg_alone = time.monotonic() - started
    gnupg = GnuPG(home, BRIDGE_PASSPHRASE, max_plaintext_bytes=1_000_000)
    started = time.monotonic()
    with pytest.raises(
        QuarantineError, match="decrypted output exceeds the limit of 1000000 bytes"
    ):
        gnupg.decrypt(compression_bomb)
    assert time.monotonic() - started < gpg_alone / 2


def test_gpg_over_its_time_limit_is_stopped_and_quarantined(
    compression_bomb: bytes, intake_keys: IntakeKeys, rita_mail: MailShapes
) -> None:
    """A decryption running past intake.gpg_timeout is stopped; the reader quarantines it."""
    gnupg = GnuPG(
        intake_keys.bridge.gnupghome,
        BRIDGE_PASSPHRASE,
        max_plaintext_bytes=400_000_000,
        gpg_timeout=0.2,
    )
    raw = rita_mail.pgp_mime("Bomb", b"", ciphertext=compression_bomb)
    message = MailReader(gnupg).read(raw)
    assert (Verdict.QUARANTINE, "gpg took longer than 0.2 s; stopped") == (
        message.verdict,
        message.reason,
    )

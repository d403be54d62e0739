"""`inspect` and `ingest` on real clients' mail: OpenPGP.js armour, footers, old keys, bombs."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from email import message_from_bytes
from pathlib import Path

import pytest

from tests.e2e.conftest import CliResult
from tracker_bridge._testsupport.keys import (
    WHILE_OLD_KEY_VALID,
    TestKey,
    export_public_key,
    generate_older_key,
    gpg_command,
    import_key,
    make_gnupghome,
    remove_gnupghome,
    revoke_key,
)
from tracker_bridge.demo.installation import BRIDGE_PASSPHRASE, Installation
from tracker_bridge.demo.mail_shapes import MailShapes

JAN = "jan@onderzoek.example"
BODY = "IDOR on /api/invoices/{id}: any logged-in user reads every invoice."

Cli = Callable[..., CliResult]
MessageFile = Callable[[str, bytes], Path]


@pytest.fixture(scope="module")
def older_keys(installation: Installation) -> dict[str, TestKey]:
    """The bridge rotated twice: an expired and a revoked older key stay in its keyring.

    Jan fetched both older public keys while they were good. The configuration now names the
    current key, as it must once the keyring holds several secret keys.
    """
    home = installation.bridge.gnupghome
    address = installation.bridge.address
    keys = {
        state: generate_older_key(
            home, "Example security team", address, BRIDGE_PASSPHRASE, state=state
        )
        for state in ("expired", "revoked")
    }
    for key in keys.values():
        import_key(
            installation.researchers[JAN].gnupghome, export_public_key(home, key.fingerprint)
        )
    revoke_key(home, keys["revoked"].fingerprint)
    config = installation.config_path.read_text(encoding="utf-8")
    installation.config_path.write_text(
        config.replace(
            "[openpgp]\n", f'[openpgp]\nfingerprint = "{installation.bridge.fingerprint}"\n', 1
        ),
        encoding="utf-8",
    )
    return keys


def _autocrypt_fingerprints(raw: bytes) -> list[str]:
    """The primary fingerprints of the key in a message's Autocrypt header (gpg --show-keys)."""
    header = str(message_from_bytes(raw).get("Autocrypt", ""))
    keydata = "".join(header.split("keydata=", 1)[1].split())
    scratch = make_gnupghome()
    try:
        listing = gpg_command(
            scratch, "--with-colons", "--show-keys", stdin=base64.b64decode(keydata)
        ).stdout.decode("ascii")
    finally:
        remove_gnupghome(scratch)
    lines = listing.splitlines()
    return [
        lines[i + 1].split(":")[9]
        for i, line in enumerate(lines[:-1])
        if line.startswith("pub:") and lines[i + 1].startswith("fpr:")
    ]


def _signer(installation: Installation, raw: bytes) -> str:
    """The primary fingerprint that signed a mail to Jan (RFC 3156 multipart/signed), per gpg.

    The bridge does not know Jan's key in this module, so the acknowledgement is signed only.
    """
    message = message_from_bytes(raw)
    boundary = message.get_boundary()
    assert ("multipart/signed", True) == (message.get_content_type(), boundary is not None)
    delimiter = b"\r\n--" + str(boundary).encode("ascii")
    body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signed_part = body.split(delimiter)[1].split(b"\r\n", 1)[1]
    signature = body.split(delimiter)[2].split(b"\r\n\r\n", 1)[1]
    scratch = make_gnupghome()
    try:
        signature_file = Path(scratch, "signature.asc")
        signature_file.write_bytes(signature)
        import_key(
            scratch, export_public_key(installation.bridge.gnupghome, "security@example.org")
        )
        status = gpg_command(
            scratch, "--status-fd", "1", "--verify", str(signature_file), "-", stdin=signed_part
        ).stdout.decode("utf-8", "replace")
    finally:
        remove_gnupghome(scratch)
    validsig = next(line for line in status.splitlines() if line.startswith("[GNUPG:] VALIDSIG"))
    return validsig.split()[-1]


def _inspect(cli: Cli, message_file: MessageFile, name: str, raw: bytes) -> dict[str, object]:
    result = cli("inspect", "--json", str(message_file(name, raw)))
    assert 0 == result.code, result.stderr
    shown: dict[str, object] = json.loads(result.stdout)
    return shown


def _verdicts(result: CliResult) -> list[tuple[str, str]]:
    """(verdict, reason) per message line of an ``ingest`` run (the last line is the summary)."""
    rows = []
    for line in result.lines[:-1]:
        _, verdict, rest = line.split(None, 2)
        # The line ends with two spaces and the Message-ID.
        rows.append((verdict, rest.rsplit("  <", 1)[0]))
    return rows


def test_openpgpjs_pgp_mime_and_inline_without_checksum_are_read(
    installation: Installation, older_keys: object, cli: Cli, message_file: MessageFile
) -> None:
    """Mailvelope v6 PGP/MIME and FlowCrypt inline (no CRC line) decrypt through inspect/ingest."""
    shapes = installation.shapes(JAN)
    mailvelope = shapes.openpgpjs_pgp_mime("IDOR", BODY + "\n")
    flowcrypt = shapes.openpgpjs_inline("IDOR", BODY + "\n")
    for name, shape in (("mailvelope-v6.eml", mailvelope), ("flowcrypt-v6.eml", flowcrypt)):
        shown = _inspect(cli, message_file, name, shape.raw)
        assert (True, BODY, [], "report") == (
            shown["decrypted"],
            shown["body"],
            shown["unencrypted_parts"],
            shown["verdict"],
        )
    result = cli(
        "ingest",
        str(message_file("mailvelope-v6.eml", mailvelope.raw)),
        str(message_file("flowcrypt-v6.eml", flowcrypt.raw)),
    )
    assert 0 == result.code, result.stderr
    assert [("report", "new report"), ("report", "new report")] == _verdicts(result)


def test_enigmail_inline_text_mode_is_filed_not_quarantined(
    installation: Installation, older_keys: object, cli: Cli, message_file: MessageFile
) -> None:
    """Thunderbird + Enigmail inline (text mode, CRLF, Latin-1) is a report, not "truncated"."""
    body = "Grüße: the password reset token is reused.\nSteps: request twice."
    shape = installation.shapes(JAN).enigmail_inline("Token reuse", body + "\n")
    shown = _inspect(cli, message_file, "enigmail-inline.eml", shape.raw)
    assert (True, body, "decrypted inline PGP") == (
        shown["decrypted"],
        shown["body"],
        shown["reason"],
    )
    result = cli("ingest", str(message_file("enigmail-inline.eml", shape.raw)))
    assert (0, [("report", "new report")]) == (result.code, _verdicts(result))


@pytest.mark.parametrize("style", ["mailman3", "google_groups"])
def test_list_footer_around_inline_block_is_labelled_and_filed(
    style: str,
    installation: Installation,
    older_keys: object,
    cli: Cli,
    message_file: MessageFile,
) -> None:
    """A Mailman 3 / Google Groups footer in the armoured part is a labelled unencrypted part."""
    shape = installation.shapes(JAN).inline_with_text("IDOR", [BODY + "\n"], list_style=style)
    shown = _inspect(cli, message_file, f"{style}.eml", shape.raw)
    parts = shown["unencrypted_parts"]
    assert isinstance(parts, list)
    assert (True, BODY, 1, "report") == (
        shown["decrypted"],
        shown["body"],
        len(parts),
        shown["verdict"],
    )
    assert parts[0].startswith("[unencrypted text/plain]\n")
    assert BODY not in parts[0]
    result = cli("ingest", str(message_file(f"{style}.eml", shape.raw)))
    assert (0, [("report", "new report")]) == (result.code, _verdicts(result))


def test_block_the_bridge_cannot_open_is_quarantined_with_its_reason(
    installation: Installation, older_keys: object, cli: Cli, message_file: MessageFile
) -> None:
    """An inline block for a stranger's key beside a footer is quarantined, not filed."""
    ada = installation.researchers["ada@research.example"]
    import_key(
        installation.researchers[JAN].gnupghome, export_public_key(ada.gnupghome, ada.fingerprint)
    )
    stranger = ada.fingerprint
    shape = installation.shapes(JAN).inline_with_text(
        "IDOR", [BODY + "\n"], recipients=[stranger], list_style="mailman3"
    )
    result = cli("ingest", str(message_file("stranger.eml", shape.raw)))
    assert (3, [("quarantine", "encrypted to a key the bridge does not hold")]) == (
        result.code,
        _verdicts(result),
    )


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_mail_to_an_older_bridge_key_is_filed_with_a_note_for_the_team(
    state: str,
    installation: Installation,
    older_keys: dict[str, TestKey],
    cli: Cli,
    message_file: MessageFile,
) -> None:
    """Mail to an expired or revoked older bridge key is filed; the issue tells the team."""
    old = older_keys[state]
    options = ("--faked-system-time", WHILE_OLD_KEY_VALID) if state == "expired" else ()
    shapes = MailShapes(
        installation.researchers[JAN],
        old.fingerprint,
        installation.bridge.address,
        encrypt_options=options,
    )
    raw = shapes.mailvelope(f"Old key ({state})", BODY + "\n").raw
    note = (
        "[tracker-bridge note] The researcher encrypted to an older bridge key, "
        f"{old.fingerprint} ({state}), not the current one; replies carry the current key "
        "(Autocrypt)."
    )
    shown = _inspect(cli, message_file, f"old-{state}.eml", raw)
    assert (True, BODY, [note]) == (shown["decrypted"], shown["body"], shown["unencrypted_parts"])
    result = cli("ingest", str(message_file(f"old-{state}.eml", raw)))
    assert (0, [("report", "new report")]) == (result.code, _verdicts(result))
    listing = json.loads(cli("reports", "--json").stdout)
    issue = next(r["issue"] for r in listing if r["report_id"] == result.lines[0].split()[0])
    description = dict(installation.sandbox.describe(issue.rsplit("/", 1)[1]))["Description"]
    # The bridge's note is in its summary block, not listed as researcher text sent in clear.
    shown_note = note.removeprefix("[tracker-bridge note] ")
    assert (True, False) == (
        f"Bridge note: ` {shown_note} `" in description,
        "Parts that arrived unencrypted" in description,
    ), description
    # The acknowledgement goes to Jan with the current key in Autocrypt, not the old one.
    assert 0 == cli("notify").code
    acknowledgement = [m for m in installation.smtp.messages if JAN in m.recipients][-1]
    assert [installation.bridge.fingerprint] == _autocrypt_fingerprints(acknowledgement.data)
    assert installation.bridge.fingerprint == _signer(installation, acknowledgement.data)


def test_compression_bomb_is_quarantined_at_the_output_limit(
    installation: Installation, older_keys: object, cli: Cli, message_file: MessageFile
) -> None:
    """A 100 MB-inflating message stops at intake.max_message_bytes and is quarantined."""
    jan = installation.researchers[JAN]
    command = (
        f"head -c 100000000 /dev/zero | gpg --homedir {jan.gnupghome} --batch "
        "--trust-model always --compress-algo zlib -z 9 --armor --encrypt "
        f"--recipient {installation.bridge.fingerprint}"
    )
    bomb = subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, check=True, timeout=120
    ).stdout
    raw = installation.shapes(JAN).pgp_mime("Bomb", b"", ciphertext=bomb)
    result = cli("ingest", str(message_file("bomb.eml", raw)))
    assert (3, [("quarantine", "decrypted output exceeds the limit of 26214400 bytes")]) == (
        result.code,
        _verdicts(result),
    )

"""`tracker-bridge key rotate` end to end: the old key keeps decrypting, the new one signs and is published."""

from __future__ import annotations

import base64
import email
import re
import sqlite3
import tomllib
from dataclasses import dataclass
from email import policy
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import ADA, JAN, CliResult
from tracker_bridge._testsupport.keys import gpg_command, import_key
from tracker_bridge.demo.mail_shapes import MailShapes
from tracker_bridge.demo.researcher_mail import read_as_researcher

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker_bridge.demo.installation import Installation


@dataclass(frozen=True)
class Rotated:
    """The two keys and what `key rotate` printed."""

    old: str
    new: str
    result: CliResult


def _fingerprints(armoured: bytes, home: str) -> list[str]:
    listing = gpg_command(home, "--with-colons", "--show-keys", stdin=armoured).stdout
    return [
        line.split(":")[9] for line in listing.decode("ascii").splitlines() if line[:4] == "fpr:"
    ][:1]


def _report_count(installation: Installation) -> int:
    database = installation.directory / "state" / "bridge.sqlite3"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM reports").fetchone()[0])


@pytest.fixture(scope="module")
def rotated(installation: Installation, cli: Callable[..., CliResult]) -> Rotated:
    """The installation after one `key rotate` (module-wide: every test looks at the result)."""
    result = cli("key", "rotate")
    assert 0 == result.code, result.stderr
    config = tomllib.loads(installation.config_path.read_text(encoding="utf-8"))
    return Rotated(installation.bridge.fingerprint, config["openpgp"]["fingerprint"], result)


def test_rotate_sets_the_fingerprint_and_writes_the_new_public_key_file(
    installation: Installation, rotated: Rotated, cli: Callable[..., CliResult]
) -> None:
    """The config names the new key, the public key file holds it, and the old secret key stays."""
    public = (installation.directory / "bridge-public-key.asc").read_bytes()
    listing = cli("key", "list")
    roles = {
        line.split()[0]: line.split()[1].rstrip(",") for line in listing.lines if line[0] != "/"
    }
    assert (True, [rotated.new], {rotated.old: "decrypts", rotated.new: "signs"}) == (
        rotated.new != rotated.old,
        _fingerprints(public, installation.bridge.gnupghome),
        roles,
    )


def test_policy_and_signed_security_txt_show_the_new_key(
    installation: Installation, rotated: Rotated, cli: Callable[..., CliResult]
) -> None:
    """The policy page prints the new fingerprint only; security.txt is signed by the new key."""
    page = re.sub(r"\s+", "", cli("policy", "--lang", "en").stdout)
    signed = cli("security-txt", "--sign")
    verified = gpg_command(
        installation.bridge.gnupghome,
        "--status-fd",
        "1",
        "--verify",
        stdin=signed.stdout.encode("utf-8"),
        check=False,
    ).stdout.decode("utf-8")
    validsig = [line.split()[-1] for line in verified.splitlines() if "VALIDSIG" in line]
    assert (True, False, 0, [rotated.new]) == (
        rotated.new in page,
        rotated.old in page,
        signed.code,
        validsig,
    )


def test_replies_after_rotation_are_signed_by_the_new_key_and_carry_it(
    installation: Installation, rotated: Rotated, cli: Callable[..., CliResult]
) -> None:
    """The acknowledgement of a report is signed by the new key; its Autocrypt header is the new key."""
    researcher = installation.researchers[ADA]
    import_key(
        researcher.gnupghome, (installation.directory / "bridge-public-key.asc").read_bytes()
    )
    shapes = MailShapes(researcher, rotated.new, "security@example.org")
    installation.deliver(shapes.thunderbird("SQL injection in login", "' OR 1=1 --").raw)
    ingested = cli("ingest")
    sent_before = len(installation.smtp.messages)
    notified = cli("notify")
    replies = [
        mail.data for mail in installation.smtp.messages[sent_before:] if ADA in mail.recipients
    ]
    view = read_as_researcher(researcher.gnupghome, replies[0])
    header = email.message_from_bytes(replies[0], policy=policy.default)["Autocrypt"]
    keydata = base64.b64decode(re.sub(r"\s+", "", str(header).split("keydata=", 1)[1]))
    assert (0, 0, True, rotated.new, [rotated.new]) == (
        ingested.code,
        notified.code,
        view.signature_valid,
        view.signer,
        _fingerprints(keydata, researcher.gnupghome),
    )


def test_mail_to_the_old_key_decrypts_after_rotation(
    installation: Installation, rotated: Rotated, cli: Callable[..., CliResult]
) -> None:
    """A researcher still using the old key from an old security.txt is read, not quarantined."""
    before = _report_count(installation)
    shape = installation.shapes(JAN).kmail("Old key, new bug", "Steps: open /admin")
    installation.deliver(shape.raw)
    result = cli("ingest")
    assert (0, before + 1) == (result.code, _report_count(installation)), result.stdout


def test_the_rotated_key_has_its_self_signatures_marked_checked_and_check_is_quiet(
    installation: Installation, rotated: Rotated, cli: Callable[..., CliResult]
) -> None:
    """The successor's self-signatures are stored as checked (sigcache 03), so no gpg run
    verifies them again, its expiry stays never, and `check` gives no self-signature warning.
    """
    home = installation.bridge.gnupghome
    backup = gpg_command(home, "--export-options", "backup", "--export", rotated.new).stdout
    packets = gpg_command(home, "--list-packets", stdin=backup).stdout.decode()
    caches = [
        line.split("sigcache=")[1][:2] for line in packets.splitlines() if "sigcache=" in line
    ]
    listing = gpg_command(home, "--with-colons", "--list-keys", rotated.new).stdout.decode()
    expiry = [line.split(":")[6] for line in listing.splitlines() if line[:4] in {"pub:", "sub:"}]
    checked = cli("check")
    assert (["03", "03"], ["", ""], False) == (
        caches,
        expiry,
        f"key {rotated.new} has its self-signatures stored unchecked"
        in checked.stdout + checked.stderr,
    ), checked.stdout

"""Researcher keys are learned from attachments and Autocrypt only when a uid matches From."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tracker_bridge._testsupport.keys import (
    export_public_key,
    generate_key,
    gpg_command,
    make_gnupghome,
    remove_gnupghome,
)
from tracker_bridge.intake.reader import MailReader
from tracker_bridge.openpgp import GnuPG

if TYPE_CHECKING:
    from tracker_bridge.demo.mail_shapes import MailShapes


def _uids(home: str, fingerprint: str) -> list[str]:
    listing = subprocess.run(
        ["gpg", "--homedir", home, "--with-colons", "--list-keys", fingerprint],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [line.split(":")[9] for line in listing.splitlines() if line.startswith("uid:")]


def test_attached_key_with_matching_uid_is_learned(
    sam_mail: MailShapes, intake_keys: object
) -> None:
    """An application/pgp-keys attachment whose uid matches From is imported; keys_found names it."""
    home = make_gnupghome()
    try:
        bridge = generate_key(home, "Bridge", "security@vendor.example")
        gnupg = GnuPG(home)
        message = MailReader(gnupg).read(
            sam_mail.plaintext("Key attached", "hi\n", attach_key=True).raw
        )
        sam = intake_keys.sam  # type: ignore[attr-defined]
        assert (sam.fingerprint,) == message.keys_found
        assert gnupg.has_key(sam.fingerprint)
        assert bridge.fingerprint == gnupg.bridge_fingerprint
    finally:
        remove_gnupghome(home)


def test_autocrypt_header_key_is_learned(sam_mail: MailShapes, intake_keys: object) -> None:
    """An Autocrypt header with addr = From teaches the bridge the key."""
    home = make_gnupghome()
    try:
        generate_key(home, "Bridge", "security@vendor.example")
        gnupg = GnuPG(home)
        shape = sam_mail.plaintext("Hello", "hi\n", extra_headers=[sam_mail.autocrypt_header()])
        message = MailReader(gnupg).read(shape.raw)
        assert (intake_keys.sam.fingerprint,) == message.keys_found  # type: ignore[attr-defined]
    finally:
        remove_gnupghome(home)


def test_only_the_matching_uid_is_kept() -> None:
    """A key carrying a second, unrelated uid is imported with the From uid only."""
    homes = [make_gnupghome(), make_gnupghome()]
    try:
        generate_key(homes[0], "Bridge", "security@vendor.example")
        mallory = generate_key(homes[1], "Mallory", "mallory@evil.example")
        gpg_command(homes[1], "--quick-add-uid", mallory.fingerprint, "CEO <ceo@vendor.example>")
        gnupg = GnuPG(homes[0])
        learned = gnupg.learn_key(
            export_public_key(homes[1], mallory.fingerprint), "mallory@evil.example"
        )
        assert mallory.fingerprint == learned
        assert ["Mallory <mallory@evil.example>"] == _uids(homes[0], mallory.fingerprint)
    finally:
        for home in homes:
            remove_gnupghome(home)


def test_key_without_matching_uid_is_not_learned(intake_keys: object, gnupg: GnuPG) -> None:
    """A key whose uids do not match the From address is refused."""
    stranger = intake_keys.stranger  # type: ignore[attr-defined]
    key = export_public_key(stranger.gnupghome, stranger.fingerprint)
    assert gnupg.learn_key(key, "rita@research.example") is None
    assert not gnupg.has_key(stranger.fingerprint)


def test_inspect_mode_does_not_touch_the_keyring(sam_mail: MailShapes) -> None:
    """With learn_keys False the key is reported but not imported."""
    home = make_gnupghome()
    try:
        generate_key(home, "Bridge", "security@vendor.example")
        gnupg = GnuPG(home)
        message = MailReader(gnupg, learn_keys=False).read(
            sam_mail.plaintext("Key", "hi\n", attach_key=True).raw
        )
        sam_fpr = sam_mail.researcher.fingerprint
        assert ((sam_fpr,), False) == (message.keys_found, gnupg.has_key(sam_fpr))
    finally:
        remove_gnupghome(home)


def test_autocrypt_key_verifies_the_signature_of_the_first_mail(
    sam_mail: MailShapes, intake_keys: object
) -> None:
    """A first Thunderbird mail announcing its key via Autocrypt verifies as signed by that key."""
    from tracker_bridge._testsupport.keys import export_secret_key, import_key
    from tracker_bridge.ports.openpgp import SignatureStatus

    keys = intake_keys  # the session's bridge keyring must stay without Sam's key
    bridge = keys.bridge  # type: ignore[attr-defined]
    home = make_gnupghome()
    try:
        secret = export_secret_key(
            bridge.gnupghome, bridge.fingerprint, passphrase=bridge.passphrase
        )
        import_key(home, secret, passphrase=bridge.passphrase)
        gnupg = GnuPG(home, bridge.passphrase, bridge.fingerprint)
        message = MailReader(gnupg).read(sam_mail.thunderbird("First contact", "hello\n").raw)
        sam = keys.sam  # type: ignore[attr-defined]
        assert (SignatureStatus.VALID, sam.fingerprint) == (
            message.signature.status,
            message.signature.fingerprint,
        )
        assert (sam.fingerprint,) == message.keys_found
    finally:
        remove_gnupghome(home)


def test_an_erasure_removes_the_learned_key_but_never_the_bridge_key(
    sam_mail: MailShapes, intake_keys: object
) -> None:
    """delete_public_key takes a researcher's key out of the keyring; the bridge key stays."""
    home = make_gnupghome()
    try:
        generate_key(home, "Bridge", "security@vendor.example")
        gnupg = GnuPG(home)
        MailReader(gnupg).read(sam_mail.plaintext("Key attached", "hi\n", attach_key=True).raw)
        sam = intake_keys.sam.fingerprint  # type: ignore[attr-defined]
        removed = gnupg.delete_public_key(sam)
        again = gnupg.delete_public_key(sam)
        bridge_kept = not gnupg.delete_public_key(gnupg.bridge_fingerprint)
        assert (True, False, False, True) == (removed, again, gnupg.has_key(sam), bridge_kept)
        assert gnupg.has_key(gnupg.bridge_fingerprint)
    finally:
        remove_gnupghome(home)


def _logging_gpg(directory: Path) -> tuple[str, Path]:
    """A gpg wrapper that appends each call's arguments to a log, then runs the real gpg."""
    gpg = shutil.which("gpg")
    assert gpg is not None
    log = directory / "calls.log"
    script = directory / "gpg-logging"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {gpg} "$@"\n')
    script.chmod(0o700)
    return str(script), log


def test_thunderbird_mails_examine_the_announced_key_once_per_pass(
    sam_mail: MailShapes, intake_keys: object
) -> None:
    """Three Thunderbird mails (Autocrypt in each) examine Sam's key data once, start no agent."""
    from tracker_bridge._testsupport.keys import export_secret_key, import_key

    bridge = intake_keys.bridge  # type: ignore[attr-defined]
    home = make_gnupghome()
    wrappers = Path(tempfile.mkdtemp(prefix="tbw", dir="/tmp"))
    try:
        secret = export_secret_key(
            bridge.gnupghome, bridge.fingerprint, passphrase=bridge.passphrase
        )
        import_key(home, secret, passphrase=bridge.passphrase)
        gpgbinary, log = _logging_gpg(wrappers)
        reader = MailReader(GnuPG(home, bridge.passphrase, bridge.fingerprint, gpgbinary=gpgbinary))
        found = [
            reader.read(sam_mail.thunderbird(f"Finding {n}", "details\n").raw).keys_found
            for n in range(3)
        ]
        calls = log.read_text().splitlines()
    finally:
        remove_gnupghome(home)
        shutil.rmtree(wrappers, ignore_errors=True)
    sam = intake_keys.sam.fingerprint  # type: ignore[attr-defined]
    scratch_imports = [c for c in calls if "--import-filter" in c and "--no-autostart" in c]
    assert ([(sam,)] * 3, 1) == (found, len(scratch_imports))


def test_a_key_erased_and_learned_for_another_address_is_learned_again_for_this_one() -> None:
    """Key bytes remembered for an address whose uid the keyring no longer holds import it again."""
    homes = [make_gnupghome(), make_gnupghome()]
    try:
        generate_key(homes[0], "Bridge", "security@vendor.example")
        sam = generate_key(homes[1], "Sam", "sam@research.example")
        gpg_command(homes[1], "--quick-add-uid", sam.fingerprint, "Sam <sam@lab.example>")
        key = export_public_key(homes[1], sam.fingerprint)
        gnupg = GnuPG(homes[0])
        gnupg.learn_key(key, "sam@research.example")
        gnupg.learn_key(key, "sam@lab.example")
        gnupg.delete_public_key(sam.fingerprint)  # an erasure takes the whole key
        gnupg.learn_key(key, "sam@lab.example")  # learned again with that uid only
        learned = gnupg.learn_key(key, "sam@research.example")
        assert (sam.fingerprint, ["Sam <sam@lab.example>", "Sam <sam@research.example>"]) == (
            learned,
            sorted(_uids(homes[0], sam.fingerprint)),
        )
    finally:
        for home in homes:
            remove_gnupghome(home)


def test_a_key_dated_ahead_of_the_clock_is_learned_once_its_time_has_come() -> None:
    """No match is not remembered: a key made 3 s ahead of this clock is learned 4 s later."""
    researcher_home, bridge_home = make_gnupghome(), make_gnupghome()
    try:
        generate_key(bridge_home, "Bridge", "security@vendor.example")
        ahead = int(time.time()) + 3
        gpg_command(
            researcher_home,
            "--faked-system-time",
            f"{ahead}!",
            "--quick-gen-key",
            "Early Bird <early@research.example>",
            "future-default",
            "default",
            "never",
        )
        fingerprint = _first_fingerprint(researcher_home)
        key_data = export_public_key(researcher_home, fingerprint)
        gnupg = GnuPG(bridge_home)
        first = gnupg.learn_key(key_data, "early@research.example")
        time.sleep(max(ahead + 1 - time.time(), 0))
        later = gnupg.learn_key(key_data, "early@research.example")
    finally:
        remove_gnupghome(researcher_home)
        remove_gnupghome(bridge_home)
    assert (None, fingerprint) == (first, later)


def _first_fingerprint(home: str) -> str:
    """The fingerprint of the first key in ``home``."""
    listing = gpg_command(home, "--with-colons", "--list-keys").stdout.decode()
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))

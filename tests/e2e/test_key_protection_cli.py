"""The key `init` makes: protection with the minimum work factor, its migration, expiry and signing limits."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.installations import init_installation, invoke
from tracker_bridge._testsupport.keys import (
    export_public_key,
    generate_key,
    gpg_command,
    import_key,
    make_gnupghome,
    remove_gnupghome,
)
from tracker_bridge.bridge_key import (
    MINIMUM_S2K_COUNT,
    create_bridge_key,
    mark_self_signatures_checked,
    secret_keys,
    self_signatures_checked,
    unlock_problem,
)
from tracker_bridge.installation_check import check
from tracker_bridge.testing.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def installation() -> Iterator[Path]:
    """A fresh installation made by `init` without a terminal; its config path."""
    with init_installation("tbk") as config:
        yield config


def _counts(config: Path) -> list[tuple[int | None, ...]]:
    return [key.s2k_counts for key in secret_keys(config.parent / "gnupg")]


def test_init_protects_its_generated_passphrase_with_the_minimum_work_factor(
    installation: Path,
) -> None:
    """The key init makes is stored with gpg-agent's minimum S2K count, primary key and subkey."""
    conf = (installation.parent / "gnupg" / "gpg-agent.conf").read_text(encoding="utf-8")
    assert ([(MINIMUM_S2K_COUNT, MINIMUM_S2K_COUNT)], True) == (
        _counts(installation),
        "s2k-count 65536" in conf.splitlines(),
    )


def test_reprotect_migrates_a_calibrated_key_to_the_minimum(installation: Path) -> None:
    """A key with the calibrated count (as older installs have): check warns, reprotect fixes it."""
    slowed = invoke(installation, "key", "reprotect", "--work-factor", "calibrated")
    calibrated = _counts(installation)
    warned = invoke(installation, "check")
    migrated = invoke(installation, "key", "reprotect")
    quiet = invoke(installation, "check")
    signed = invoke(installation, "security-txt", "--sign")
    assert (
        0,
        True,
        True,
        0,
        [(MINIMUM_S2K_COUNT, MINIMUM_S2K_COUNT)],
        False,
        0,
        True,
    ) == (
        slowed.exit_code,
        all(count is not None and count > MINIMUM_S2K_COUNT for count in calibrated[0]),
        "`tracker-bridge key reprotect` lowers that to the minimum" in warned.output,
        migrated.exit_code,
        _counts(installation),
        "key reprotect" in quiet.output,
        signed.exit_code,
        "BEGIN PGP SIGNATURE" in signed.stdout,
    ), (slowed.output, migrated.output)


def test_rotation_keeps_the_minimum_and_check_warns_30_days_before_expiry(
    installation: Path,
) -> None:
    """A successor expiring in 10 days: protected with the minimum, and `check` warns (exit 0)."""
    rotated = invoke(installation, "key", "rotate", "--expires", "10d")
    new = secret_keys(installation.parent / "gnupg")[-1]
    checked = invoke(installation, "check")
    expected = (
        f"warning: openpgp.fingerprint: bridge key {new.fingerprint} expires on "
        f"{new.expires:%Y-%m-%d}; make its successor with `tracker-bridge key rotate`"
    )
    assert (0, (MINIMUM_S2K_COUNT, MINIMUM_S2K_COUNT), 0, True) == (
        rotated.exit_code,
        new.s2k_counts,
        checked.exit_code,
        expected in checked.output.splitlines(),
    ), checked.output


def test_security_txt_sign_refuses_an_expires_after_the_key_expiry(
    installation: Path, tmp_path: Path
) -> None:
    """Signing a file that outlives the signing key is refused with both dates; nothing is written."""
    key = secret_keys(installation.parent / "gnupg")[-1]
    output = tmp_path / "security.txt"
    result = invoke(installation, "security-txt", "--sign", "--output", str(output))
    assert key.expires is not None, "the key rotated in with --expires 10d"
    reason = (
        f"the signing key {key.fingerprint} expires ({key.expires:%Y-%m-%dT%H:%M:%SZ}); "
        "the signature would stop verifying first"
    )
    assert (2, True, False) == (result.exit_code, reason in result.output, output.exists()), (
        result.output
    )


def test_check_warns_when_the_encryption_subkey_expires_before_the_primary(
    installation: Path,
) -> None:
    """A primary key that never expires with an encryption subkey that does: its date is warned."""
    home = installation.parent / "gnupg"
    passphrase = (installation.parent / "secrets" / "openpgp-passphrase").read_text().strip()
    uid = "Subkey expiry <security@example.org>"
    gpg_command(
        str(home), "--quick-gen-key", uid, "ed25519", "sign", "never", passphrase=passphrase
    )
    primary = next(key for key in secret_keys(home) if key.uid == uid)
    gpg_command(
        str(home),
        "--quick-add-key",
        primary.fingerprint,
        "cv25519",
        "encr",
        "20d",
        passphrase=passphrase,
    )
    key = next(key for key in secret_keys(home) if key.uid == uid)
    result = invoke(
        installation, "check", env={"TRACKER_BRIDGE_OPENPGP__FINGERPRINT": key.fingerprint}
    )
    expected = (
        f"warning: openpgp.fingerprint: bridge key {key.fingerprint} expires on "
        f"{datetime.now(UTC) + timedelta(days=20):%Y-%m-%d}; "
        "make its successor with `tracker-bridge key rotate`"
    )
    assert (0, True) == (result.exit_code, expected in result.output.splitlines()), result.output


def test_check_errors_when_the_bridge_key_has_expired(installation: Path) -> None:
    """A bridge key past its expiry is a configuration problem: `check` exits 2 and names it."""
    home = installation.parent / "gnupg"
    passphrase = (installation.parent / "secrets" / "openpgp-passphrase").read_text().strip()
    gpg_command(
        str(home),
        "--faked-system-time",
        "20250101T000000",
        "--quick-gen-key",
        "Expired bridge <security@example.org>",
        "future-default",
        "default",
        "1d",
        passphrase=passphrase,
    )
    expired = next(key for key in secret_keys(home) if key.created.year == 2025)
    result = invoke(
        installation, "check", env={"TRACKER_BRIDGE_OPENPGP__FINGERPRINT": expired.fingerprint}
    )
    expected = (
        f"problem: openpgp.fingerprint: bridge key {expired.fingerprint} expired on 2025-01-02; "
        "make its successor with `tracker-bridge key rotate`"
    )
    assert (2, True) == (result.exit_code, expected in result.output.splitlines()), result.output


def test_the_key_init_makes_has_its_self_signatures_marked_checked() -> None:
    """The new key's self-signatures are stored as checked, so no later gpg run verifies them."""
    home = Path(tempfile.mkdtemp(prefix="tbk", dir="/tmp"))
    try:
        made = create_bridge_key(home, "Example security team <security@example.org>")
        backup = gpg_command(
            str(home), "--export-options", "backup", "--export", made.fingerprint
        ).stdout
        packets = gpg_command(str(home), "--list-packets", stdin=backup).stdout.decode()
        secret = [key.fingerprint for key in secret_keys(home)]
    finally:
        remove_gnupghome(str(home))
    # Ring trust packets (GnuPG doc/DETAILS): sigcache 03 is "checked and valid", 00 unchecked.
    caches = [line.split("sigcache=")[1] for line in packets.splitlines() if "sigcache=" in line]
    assert (["03", "03"], [made.fingerprint]) == (caches, secret)


def test_check_reads_expiry_against_the_clock_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The clock given to check decides expiry: 20 days on, a key valid for 10 is a problem."""
    with init_installation("tbc") as config:
        home = config.parent / "gnupg"
        passphrase = (config.parent / "secrets" / "openpgp-passphrase").read_text().strip()
        uid = "Ten days <security@example.org>"
        gpg_command(
            str(home),
            "--quick-gen-key",
            uid,
            "future-default",
            "default",
            "10d",
            passphrase=passphrase,
        )
        key = next(key for key in secret_keys(home) if key.uid == uid)
        assert key.expires is not None, "the key was made to expire"
        monkeypatch.setenv("TRACKER_BRIDGE_OPENPGP__FINGERPRINT", key.fingerprint)
        report = check(config, clock=FakeClock(datetime.now(UTC) + timedelta(days=20)))
    expected = (
        f"openpgp.fingerprint: bridge key {key.fingerprint} expired on {key.expires:%Y-%m-%d}; "
        "make its successor with `tracker-bridge key rotate`"
    )
    assert True is (expected in report.problems), report.problems


def _self_signature_caches(home: Path, fingerprint: str) -> list[str]:
    """The sigcache of each signature key ``fingerprint`` made on itself (GnuPG doc/DETAILS)."""
    backup = gpg_command(str(home), "--export-options", "backup", "--export", fingerprint).stdout
    packets = gpg_command(str(home), "--list-packets", stdin=backup).stdout.decode()
    caches: list[str] = []
    issuer = ""
    for line in packets.splitlines():
        if line.startswith(":signature packet:"):
            issuer = line.rsplit("keyid", 1)[-1].strip()
        elif "sigcache=" in line and issuer == fingerprint[-16:]:
            caches.append(line.split("sigcache=")[1][:2])
    return caches


def _primary_expiry(home: Path, fingerprint: str) -> str:
    """The primary key's expiry as gpg lists it: epoch seconds, empty for never."""
    listing = gpg_command(str(home), "--with-colons", "--list-keys", fingerprint).stdout
    return next(line.split(":")[6] for line in listing.decode().splitlines() if line[:4] == "pub:")


def test_reprotect_marks_the_self_signatures_of_a_key_made_the_old_way_checked() -> None:
    """A key made by plain --quick-gen-key in an existing home: check warns; reprotect marks it
    checked (sigcache 03), keeping fingerprint, expiry to the second, protection and passphrase;
    mail encrypted to it before still decrypts; a researcher's key in the keybox is untouched.
    """
    with init_installation("tbm") as config:
        home = config.parent / "gnupg"
        passphrase = (config.parent / "secrets" / "openpgp-passphrase").read_text().strip()
        researcher_home = make_gnupghome("tbr")
        try:
            researcher = generate_key(researcher_home, "Rita Researcher", "rita@example.net")
            import_key(str(home), export_public_key(researcher_home, researcher.fingerprint))
        finally:
            remove_gnupghome(researcher_home)
        researcher_before = gpg_command(
            str(home), "--export-options", "backup", "--export", researcher.fingerprint
        ).stdout
        uid = "Old way <security@example.org>"
        gpg_command(
            str(home), "--quick-gen-key", uid, "future-default", "default", "1y",
            passphrase=passphrase,
        )  # fmt: skip
        old = next(key for key in secret_keys(home) if key.uid == uid)
        sent = gpg_command(
            str(home), "--trust-model", "always", "--encrypt", "--recipient", old.fingerprint,
            stdin=b"sent before the migration",
        ).stdout  # fmt: skip
        env = {"TRACKER_BRIDGE_OPENPGP__FINGERPRINT": old.fingerprint}
        caches_before = _self_signature_caches(home, old.fingerprint)
        expiry_before = _primary_expiry(home, old.fingerprint)
        warned = invoke(config, "check", env=env)
        migrated = invoke(config, "key", "reprotect", env=env)
        caches_after = _self_signature_caches(home, old.fingerprint)
        quiet = invoke(config, "check", env=env)
        after = next(key for key in secret_keys(home) if key.uid == uid)
        opened = gpg_command(str(home), "--decrypt", stdin=sent, passphrase=passphrase).stdout
        researcher_after = gpg_command(
            str(home), "--export-options", "backup", "--export", researcher.fingerprint
        ).stdout
        unlocks = unlock_problem(home, old.fingerprint, passphrase, now=datetime.now(UTC))
        expiry_after = _primary_expiry(home, old.fingerprint)
    assert (
        ["00", "00"],
        True,
        0,
        f"stored the self-signatures of {old.fingerprint} as checked" in migrated.output,
        ["03", "03"],
        old,
        expiry_before,
        False,
        b"sent before the migration",
        None,
        researcher_before,
    ) == (
        caches_before,
        f"bridge key {old.fingerprint} has its self-signatures stored unchecked" in warned.output,
        migrated.exit_code,
        True,
        caches_after,
        after,
        expiry_after,
        "self-signatures stored unchecked" in quiet.output,
        opened,
        unlocks,
        researcher_after,
    ), (warned.output, migrated.output, quiet.output)


def test_the_unchecked_self_signature_warning_names_a_reprotect_that_runs() -> None:
    """With a passphrase a person chose, check's warning names `key reprotect --work-factor
    calibrated`, and that command stores the self-signatures as checked (the plain one refuses).
    """
    with init_installation("tbp") as config:
        home = config.parent / "gnupg"
        chosen = "a phrase a person chose"
        (config.parent / "secrets" / "openpgp-passphrase").write_text(chosen)
        uid = "Chosen <security@example.org>"
        gpg_command(
            str(home), "--quick-gen-key", uid, "future-default", "default", "1y",
            passphrase=chosen,
        )  # fmt: skip
        chosen_key = next(key for key in secret_keys(home) if key.uid == uid)
        for key in secret_keys(home):
            if key.fingerprint != chosen_key.fingerprint:
                gpg_command(
                    str(home), "--yes", "--delete-secret-and-public-key", key.fingerprint
                )  # fmt: skip
        env = {"TRACKER_BRIDGE_OPENPGP__FINGERPRINT": chosen_key.fingerprint}
        warned = invoke(config, "check", env=env)
        plain = invoke(config, "key", "reprotect", env=env)
        named = invoke(config, "key", "reprotect", "--work-factor", "calibrated", env=env)
        quiet = invoke(config, "check", env=env)
    assert (True, 2, 0, False) == (
        "`tracker-bridge key reprotect --work-factor calibrated` stores them" in warned.output,
        plain.exit_code,
        named.exit_code,
        "self-signatures stored unchecked" in quiet.output,
    ), (warned.output, plain.output, named.output, quiet.output)


def test_marking_self_signatures_checked_keeps_the_primary_user_id() -> None:
    """A key with two user ids keeps the one gpg showed first after its sigs are re-written."""
    home = Path(tempfile.mkdtemp(prefix="tbk", dir="/tmp"))
    passphrase = "a passphrase a person chose"
    try:
        home.chmod(0o700)
        gpg_command(
            str(home),
            "--quick-gen-key",
            "Old Bridge <security@example.org>",
            "future-default",
            "default",
            "2y",
            passphrase=passphrase,
        )
        fingerprint = secret_keys(home)[0].fingerprint
        time.sleep(1)  # the second user id's self-signature is a second newer: it ranks first
        gpg_command(
            str(home),
            "--quick-add-uid",
            fingerprint,
            "Second <cvd@example.org>",
            passphrase=passphrase,
        )
        before = secret_keys(home)[0].uid
        marked = mark_self_signatures_checked(home, fingerprint, passphrase)
        after = secret_keys(home)[0]
        checked = self_signatures_checked(home, fingerprint)
    finally:
        remove_gnupghome(str(home))
    assert ("Second <cvd@example.org>", True, True) == (before, marked, checked)
    assert (before, fingerprint) == (after.uid, after.fingerprint)


def test_a_passphrase_starting_with_a_dash_reaches_gpg_as_a_passphrase() -> None:
    """gpg_command hands gpg a leading-dash passphrase as one argument, not as an option."""
    home = make_gnupghome()
    passphrase = "-kIEio5HTNg0ZR4wRCrK7AvQcCP4TJpY"
    try:
        made = gpg_command(
            home,
            "--quick-gen-key",
            "Dash <dash@example.org>",
            "future-default",
            "default",
            "1y",
            passphrase=passphrase,
            check=False,
        )
        signed = gpg_command(
            home,
            "--local-user",
            "dash@example.org",
            "--detach-sign",
            stdin=b"data",
            passphrase=passphrase,
            check=False,
        )
    finally:
        remove_gnupghome(home)
    assert (0, 0, True) == (made.returncode, signed.returncode, bool(signed.stdout))

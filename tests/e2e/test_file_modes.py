"""Files that hold decrypted reports, keys or secrets are owner-only whatever the umask; check warns otherwise."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge.intake.sources import MaildirSource
from tracker_bridge.ports.intake import MailboxItem, Verdict
from tracker_bridge.store import open_store

if TYPE_CHECKING:
    from collections.abc import Iterator

UMASKS = [0o022, 0o002]
OPEN_TO_OTHERS = "open to group or others"


def mode(path: Path) -> str:
    """``path``'s permission bits as four octal digits."""
    return f"{stat.S_IMODE(path.stat().st_mode):04o}"


@contextmanager
def umask(value: int) -> Iterator[None]:
    """This process's umask set to ``value`` for the block."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def cli(*args: str, mask: int = 0o022) -> subprocess.CompletedProcess[str]:
    """``python -m tracker_bridge ARGS`` as an operator's shell with umask ``mask`` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "tracker_bridge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        umask=mask,
    )


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder under /tmp short enough for gpg-agent's socket path."""
    directory = Path(tempfile.mkdtemp(prefix="tbfm", dir="/tmp"))
    try:
        yield directory
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(directory / "site" / "gnupg"), "--kill", "gpg-agent"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("mask", UMASKS, ids=["umask022", "umask002"])
def test_init_and_the_store_are_owner_only_whatever_the_umask(short_dir: Path, mask: int) -> None:
    """Init's state, secrets and GNUPGHOME and the SQLite store with its -wal/-shm are 0700/0600."""
    site = short_dir / "site"
    init = cli("init", str(site), "--org", "Example B.V.", "--contact", "s@example.org", mask=mask)
    assert 0 == init.returncode, init.stderr
    database = site / "state" / "tracker-bridge.sqlite3"
    with umask(mask):
        store = open_store(f"sqlite:///{database}")
        try:
            with store.unit_of_work() as uow:
                uow.reports.reports_in(frozenset())
                live = {name: mode(Path(f"{database}{name}")) for name in ("", "-wal", "-shm")}
        finally:
            store.dispose()
    assert {"": "0600", "-wal": "0600", "-shm": "0600"} == live
    assert {
        "state": "0700",
        "secrets": "0700",
        "secrets/openpgp-passphrase": "0600",
        "gnupg": "0700",
        "gnupg/private-keys-v1.d": "0700",
    } == {
        name: mode(site / name)
        for name in (
            "state",
            "secrets",
            "secrets/openpgp-passphrase",
            "gnupg",
            "gnupg/private-keys-v1.d",
        )
    }
    checked = cli("--config", str(site / "tracker-bridge.toml"), "check", mask=mask)
    assert [] == [line for line in checked.stdout.splitlines() if OPEN_TO_OTHERS in line]


def test_check_warns_about_a_store_others_can_read(short_dir: Path) -> None:
    """A store file made 0644 and a state folder made 0755 are each named with the chmod fix."""
    site = short_dir / "site"
    assert 0 == cli("init", str(site), "--no-key").returncode
    database = site / "state" / "tracker-bridge.sqlite3"
    open_store(f"sqlite:///{database}").dispose()
    database.chmod(0o644)
    (site / "state").chmod(0o755)
    checked = cli("--config", str(site / "tracker-bridge.toml"), "check")
    assert [
        (
            f"warning: store.url (state folder): {site / 'state'} is mode 0755, {OPEN_TO_OTHERS}; "
            f"it holds report text, keys or secrets (chmod 0700 {site / 'state'})"
        ),
        (
            f"warning: store.url: {database} is mode 0644, {OPEN_TO_OTHERS}; "
            f"it holds report text, keys or secrets (chmod 0600 {database})"
        ),
    ] == [line for line in checked.stdout.splitlines() if OPEN_TO_OTHERS in line]


@pytest.mark.parametrize("mask", UMASKS, ids=["umask022", "umask002"])
def test_maildir_copies_the_bridge_writes_are_owner_only(tmp_path: Path, mask: int) -> None:
    """Delivered mail is 0600 and the .Processed/.Quarantine folders settled mail moves to are 0700."""
    root = tmp_path / "mail"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    source = MaildirSource(root)
    with umask(mask):
        handle = source.deliver(b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n")
        delivered = mode(root / handle)
        source.settle(MailboxItem("maildir", handle, b""), Verdict.REPORT)
    settled = next((root / ".Processed" / "cur").iterdir())
    assert {
        "delivered": "0600",
        "settled": "0600",
        ".Processed": "0700",
        ".Processed/cur": "0700",
    } == {
        "delivered": delivered,
        "settled": mode(settled),
        ".Processed": mode(root / ".Processed"),
        ".Processed/cur": mode(root / ".Processed" / "cur"),
    }

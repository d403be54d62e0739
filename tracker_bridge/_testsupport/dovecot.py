"""A throwaway Dovecot IMAP server on a free loopback port (recipe: shared/recipes/dovecot-for-tests.md)."""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracker_bridge._testsupport.unavailable import unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

PASSWORD = "secret"  # noqa: S105 (the throwaway test server accepts any user with this)

_CONFIG = """\
protocols = imap
first_valid_uid = 100
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{d}/mail/%n
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@dataclass(frozen=True)
class Dovecot:
    """A running Dovecot: where to connect, and a helper to put mail into a user's folder."""

    host: str
    port: int
    directory: str

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver ``raw`` into ``folder`` over IMAP APPEND."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(user, PASSWORD)
            imap.append(folder, None, None, raw)
        finally:
            imap.logout()

    def count(self, user: str, folder: str) -> int:
        """How many messages ``folder`` holds (0 when it does not exist)."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(user, PASSWORD)
            typ, data = imap.select(folder, readonly=True)
            if typ != "OK":
                return 0
            return int(data[0] or b"0")
        finally:
            imap.logout()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def start_dovecot() -> Iterator[Dovecot]:
    """Start Dovecot, yield it, stop it; skip (fail under CI) with the reason when it cannot run."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        unavailable("dovecot is not installed (apt-get install dovecot-imapd); IMAP tests skipped")
    if os.geteuid() != 0:
        unavailable("the throwaway Dovecot needs root to switch to the dovecot users")
    directory = tempfile.mkdtemp(prefix="tbdovecot", dir="/tmp")
    # The recipe: Dovecot's unprivileged processes must be able to reach the directory.
    Path(directory).chmod(0o755)
    mail = Path(directory, "mail")
    mail.mkdir()
    shutil.chown(mail, "dovecot", "dovecot")
    port = _free_port()
    config = Path(directory, "dovecot.conf")
    config.write_text(_CONFIG.format(d=directory, port=port, password=PASSWORD), encoding="ascii")
    started = subprocess.run(
        [binary, "-c", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=30,
    )
    if started.returncode != 0 or not _wait_for_port(port, time.monotonic() + 10):
        log = Path(directory, "dovecot.log")
        detail = log.read_text(errors="replace")[-500:] if log.exists() else "no log"
        shutil.rmtree(directory, ignore_errors=True)
        unavailable(f"dovecot did not start on 127.0.0.1:{port}: {detail}")
    try:
        yield Dovecot("127.0.0.1", port, directory)
    finally:
        subprocess.run(
            ["doveadm", "-c", str(config), "stop"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=30,
        )
        shutil.rmtree(directory, ignore_errors=True)

"""Throwaway GnuPG homes and keys for the demo, tests and benchmarks (real gpg, fast curves).

Test-only key helpers (older, revoked and exported secret keys) are in
``tracker_bridge._testsupport.keys``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TestKey",
    "export_public_key",
    "generate_key",
    "gpg_command",
    "import_key",
    "make_gnupghome",
    "remove_gnupghome",
    "stop_agent",
]

# Key generation and export never need more than a few seconds; a hang means a prompt slipped through.
_GPG_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class TestKey:
    """A generated key pair: its home, fingerprint, address and passphrase."""

    __test__ = False  # pytest: this is not a test class despite its name

    gnupghome: str
    fingerprint: str
    address: str
    name: str
    passphrase: str | None


def make_gnupghome(prefix: str = "tbg") -> str:
    """Create an empty, private GNUPGHOME short enough for gpg-agent's socket path.

    Args:
        prefix: Start of the directory name under /tmp.

    Returns:
        The directory path (mode 0700).
    """
    home = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    Path(home).chmod(0o700)
    # Tests and benchmarks never talk to a person; loopback lets gpg take passphrases from us.
    Path(home, "gpg-agent.conf").write_text("allow-loopback-pinentry\n", encoding="ascii")
    return home


def stop_agent(gnupghome: str) -> None:
    """Stop the home's gpg-agent, if one runs (the next gpg call starts it again)."""
    subprocess.run(
        ["gpgconf", "--homedir", gnupghome, "--kill", "all"],
        capture_output=True,
        check=False,
        timeout=_GPG_TIMEOUT_SECONDS,
    )


def remove_gnupghome(gnupghome: str) -> None:
    """Stop the home's gpg-agent (if any) and delete the directory."""
    stop_agent(gnupghome)
    shutil.rmtree(gnupghome, ignore_errors=True)


def gpg_command(
    gnupghome: str,
    *args: str,
    stdin: bytes = b"",
    passphrase: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run gpg in batch mode against ``gnupghome``.

    Args:
        gnupghome: The GnuPG home directory.
        *args: gpg arguments after the common batch options.
        stdin: Bytes fed to gpg's standard input.
        passphrase: Passed with loopback pinentry when given.
        check: Raise ``subprocess.CalledProcessError`` on a non-zero exit.

    Returns:
        The completed process with stdout and stderr as bytes.
    """
    command = ["gpg", "--homedir", gnupghome, "--batch", "--yes", "--no-tty"]
    # One argument, "--passphrase=VALUE": as two, a passphrase starting with "-" (a generated
    # one may) is read by gpg as an option of its own ("invalid option").
    command += ["--pinentry-mode", "loopback", f"--passphrase={passphrase or ''}"]
    command += list(args)
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        check=check,
        timeout=_GPG_TIMEOUT_SECONDS,
    )


def generate_key(
    gnupghome: str,
    name: str,
    address: str,
    passphrase: str | None = None,
    *,
    s2k_count: int | None = None,
) -> TestKey:
    """Generate a modern-curve key (ed25519 + cv25519) that never expires.

    Args:
        gnupghome: Where the key is made.
        name: The real-name part of the user id.
        address: The mail address of the user id.
        passphrase: Protects the secret key; None for no protection.
        s2k_count: The S2K iteration count gpg-agent protects this key with (65536, its
            minimum, is what ``init`` uses for a generated passphrase); None keeps the agent's
            calibration (about 100 ms of hashing on every unlock). The home's
            ``gpg-agent.conf`` is left as it was, so it still records the calibrated choice.

    Returns:
        The new key's description.
    """
    conf = Path(gnupghome, "gpg-agent.conf")
    kept = conf.read_text(encoding="ascii") if conf.exists() else None
    if s2k_count is not None:
        # The agent reads s2k-count when it starts: restart it before and after the key is made.
        conf.write_text(f"{kept or ''}s2k-count {s2k_count}\n", encoding="ascii")
        stop_agent(gnupghome)
    try:
        gpg_command(
            gnupghome,
            "--quick-gen-key",
            f"{name} <{address}>",
            "future-default",
            "default",
            "never",
            passphrase=passphrase,
        )
    finally:
        if s2k_count is not None:
            if kept is None:
                conf.unlink()
            else:
                conf.write_text(kept, encoding="ascii")
            stop_agent(gnupghome)
    listing = gpg_command(
        gnupghome, "--with-colons", "--list-secret-keys", f"<{address}>"
    ).stdout.decode("utf-8")
    fingerprint = _first_fingerprint(listing)
    return TestKey(gnupghome, fingerprint, address, name, passphrase)


def export_public_key(gnupghome: str, fingerprint: str, *, armor: bool = True) -> bytes:
    """Export one public key (armoured by default)."""
    args = ["--export", fingerprint]
    if armor:
        args.insert(0, "--armor")
    return gpg_command(gnupghome, *args).stdout


def import_key(gnupghome: str, key_data: bytes, passphrase: str | None = None) -> None:
    """Import public or secret key material into ``gnupghome``."""
    gpg_command(gnupghome, "--import", stdin=key_data, passphrase=passphrase)


def _first_fingerprint(colons: str) -> str:
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "fpr":
            return fields[9]
    msg = "gpg listed no fingerprint for the key just generated"
    raise ValueError(msg)

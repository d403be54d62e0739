"""Key helpers for our tests and benchmarks (real gpg, fast curves).

The demo's key generation (``tracker_bridge.demo.keys``) plus older, revoked and exported
secret keys.
"""

from __future__ import annotations

from pathlib import Path

from tracker_bridge.demo.keys import (
    TestKey,
    export_public_key,
    generate_key,
    gpg_command,
    import_key,
    make_gnupghome,
    remove_gnupghome,
    stop_agent,
)

__all__ = [
    "OLD_KEY_CREATED",
    "WHILE_OLD_KEY_VALID",
    "TestKey",
    "export_public_key",
    "export_secret_key",
    "generate_key",
    "generate_older_key",
    "gpg_command",
    "import_key",
    "make_gnupghome",
    "remove_gnupghome",
    "revoke_key",
    "stop_agent",
]


def export_secret_key(
    gnupghome: str, fingerprint: str, passphrase: str | None = None, *, armor: bool = True
) -> bytes:
    """Export one secret key (armoured by default)."""
    args = ["--export-secret-keys", fingerprint]
    if armor:
        args.insert(0, "--armor")
    return gpg_command(gnupghome, *args, passphrase=passphrase).stdout


# A key made at this (faked) time with a one-year life expired on 2025-01-01.
OLD_KEY_CREATED = "20240101T000000"
WHILE_OLD_KEY_VALID = "20240601T000000"


def generate_older_key(
    gnupghome: str, name: str, address: str, passphrase: str | None, *, state: str
) -> TestKey:
    """A second secret key in ``gnupghome``, as a rotated-out bridge key is kept for decryption.

    Args:
        gnupghome: The home that already holds the current key.
        name: The real-name part of the user id.
        address: The mail address of the user id.
        passphrase: Protects the secret key.
        state: ``expired`` (made on 2024-01-01, valid one year) or ``revoked`` (valid
            until ``revoke_key`` imports the revocation certificate gpg wrote for it).

    Returns:
        The older key's description.
    """
    before = set(_primary_fingerprints(gnupghome))
    if state == "expired":
        when = ["--faked-system-time", OLD_KEY_CREATED]
        expiry = "1y"
    elif state == "revoked":
        when, expiry = [], "never"
    else:
        msg = f"unknown key state {state!r}: expired or revoked"
        raise ValueError(msg)
    gpg_command(
        gnupghome,
        *when,
        "--quick-gen-key",
        f"{name} ({state} key) <{address}>",
        "future-default",
        "default",
        expiry,
        passphrase=passphrase,
    )
    (fingerprint,) = set(_primary_fingerprints(gnupghome)) - before
    return TestKey(gnupghome, fingerprint, address, name, passphrase)


def revoke_key(gnupghome: str, fingerprint: str) -> None:
    """Import the revocation certificate gpg wrote when it generated ``fingerprint``."""
    certificate = Path(gnupghome, "openpgp-revocs.d", f"{fingerprint}.rev").read_bytes()
    # gpg prefixes the armour with ":" so the certificate is not imported by accident.
    import_key(gnupghome, certificate.replace(b":-----BEGIN", b"-----BEGIN"))


def _primary_fingerprints(gnupghome: str) -> list[str]:
    """Primary fingerprints of every secret key in ``gnupghome``."""
    listing = gpg_command(gnupghome, "--with-colons", "--list-secret-keys", check=False)
    found: list[str] = []
    previous = ""
    for line in listing.stdout.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if fields[0] == "fpr" and previous == "sec":
            found.append(fields[9])
        previous = fields[0]
    return found

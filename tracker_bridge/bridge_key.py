"""Creates the bridge's own OpenPGP key (ed25519 signing, cv25519 encryption) with real gpg."""

from __future__ import annotations

import os
from pathlib import Path

import gnupg

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.files import PRIVATE_DIR_MODE, make_private_dir


def generate_key(home: Path, uid: str, passphrase: str | None) -> str:
    """Generate a key in ``home`` (created 0700) for ``uid``; return its fingerprint.

    Modern curves take milliseconds where RSA takes seconds. gpg runs with ``--batch`` and a
    loopback pinentry, so it never prompts.
    """
    make_private_dir(home)
    os.chmod(home, PRIVATE_DIR_MODE)  # gpg warns about (and the agent refuses) an open home
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n", encoding="utf-8")
    gpg = gnupg.GPG(gnupghome=str(home), options=["--pinentry-mode", "loopback"])
    params = {
        "key_type": "EDDSA",
        "key_curve": "ed25519",
        "key_usage": "sign",
        "subkey_type": "ECDH",
        "subkey_curve": "cv25519",
        "subkey_usage": "encrypt",
        "name_real": uid.split("<")[0].strip() or uid,
        "expire_date": "0",
    }
    if "<" in uid:
        params["name_email"] = uid.split("<", 1)[1].rstrip(">").strip()
    if passphrase:
        params["passphrase"] = passphrase
    script = gpg.gen_key_input(no_protection=not passphrase, **params)
    result = gpg.gen_key(script)
    fingerprint = str(result.fingerprint or "")
    if not fingerprint:
        # gpg's status text explains the failure; it never contains the passphrase.
        raise ConfigurationError(f"gpg could not create the bridge key in {home}: {result.status}")
    return fingerprint


def export_public_key(home: Path, fingerprint: str) -> str:
    """The armoured public key, for the policy page and security.txt ``Encryption:``."""
    gpg = gnupg.GPG(gnupghome=str(home))
    armoured = str(gpg.export_keys(fingerprint))
    if "BEGIN PGP PUBLIC KEY BLOCK" not in armoured:
        raise ConfigurationError(f"no public key {fingerprint} in {home}")
    return armoured

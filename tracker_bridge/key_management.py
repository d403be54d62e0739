"""The configured bridge key: which key signs, its expiry, rotation and re-protection (``key`` commands).

These read the configuration through the composition root (``app.load_config``) and work on
the GnuPG home with ``tracker_bridge.bridge_key``; rotation also writes ``openpgp.fingerprint``
into the config file and the public key file beside it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker_bridge.app import Bridge, load_config, passphrase_setting
from tracker_bridge.bridge_key import (
    SecretKey,
    WorkFactor,
    export_public_key,
    reprotect,
    rotate,
    secret_keys,
    set_fingerprint_in_config,
    unlock_problem,
)
from tracker_bridge.clock import SystemClock
from tracker_bridge.config import ENV_PREFIX, MISSING_SECRET, LoadedConfig
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.security_txt import signed_security_txt, signing_refusal

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from pathlib import Path

PUBLIC_KEY_FILE = "bridge-public-key.asc"  # beside the config, where `init` writes it


def configured_passphrase(config: LoadedConfig) -> str | None:
    """The bridge key's passphrase as configured (``MISSING_SECRET`` for a missing file), or None."""
    passphrase = config.settings.openpgp.passphrase
    return passphrase.get_secret_value() if passphrase else None


def bridge_fingerprint(config: LoadedConfig, keys: Sequence[SecretKey]) -> str:
    """The fingerprint of the configured bridge key, else of the only secret key in the home.

    Raises:
        ConfigurationError: ``openpgp.fingerprint`` names no key in ``keys``, or none is
            configured and the home does not hold exactly one secret key.
    """
    configured = config.settings.openpgp.fingerprint
    if configured:
        compact = re.sub(r"\s+", "", configured).upper()
        if compact not in {key.fingerprint for key in keys}:
            msg = (
                f"openpgp.fingerprint: no secret key {compact} in "
                f"{config.resolve(config.settings.openpgp.home)}"
            )
            raise ConfigurationError(msg)
        return compact
    if len(keys) != 1:
        msg = (
            f"openpgp.fingerprint: {config.resolve(config.settings.openpgp.home)} holds "
            f"{len(keys)} secret keys; name the bridge key's fingerprint"
        )
        raise ConfigurationError(msg)
    return keys[0].fingerprint


def bridge_key_expires(config: LoadedConfig, fingerprint: str) -> datetime | None:
    """When the bridge key ``fingerprint`` expires (UTC), or None for never."""
    home = config.resolve(config.settings.openpgp.home)
    found = [key for key in secret_keys(home) if key.fingerprint == fingerprint.upper()]
    return found[0].expires if found else None


@dataclass(frozen=True)
class KeyListing:
    """The secret keys in the bridge home and which one signs."""

    home: Path
    bridge_fingerprint: str
    keys: list[SecretKey]
    work_factor: WorkFactor


def list_bridge_keys(config_path: Path | None) -> KeyListing:
    """Every secret key in the bridge home, oldest first, naming the one that signs."""
    from tracker_bridge.bridge_key import work_factor

    config = load_config(config_path, missing_secrets=[], untouched=("tracker",))
    home = config.resolve(config.settings.openpgp.home)
    keys = secret_keys(home)
    return KeyListing(home, bridge_fingerprint(config, keys), keys, work_factor(home))


@dataclass(frozen=True)
class Rotation:
    """What ``key rotate`` did."""

    old_fingerprint: str
    new_fingerprint: str
    public_key_file: Path
    config_file: Path


def _key_command_config(config_path: Path | None, command: str) -> tuple[LoadedConfig, str | None]:
    """The configuration and passphrase a key command works with (no tracker secrets)."""
    config = load_config(config_path, missing_secrets=[], untouched=("tracker",))
    passphrase = configured_passphrase(config)
    if passphrase == MISSING_SECRET:
        msg = (
            f"{passphrase_setting(config)}: the passphrase file is missing; "
            f"`key {command}` needs the bridge key's passphrase"
        )
        raise ConfigurationError(msg)
    return config, passphrase


def rotate_bridge_key(
    config_path: Path | None, *, expire: str = "0", factor: WorkFactor | None = None
) -> Rotation:
    """Make the bridge key's successor and switch signing and publishing to it.

    The old secret key stays in the home, so mail encrypted to it still decrypts. The new key
    gets the same passphrase; ``openpgp.fingerprint`` in the config file is set to it (that is
    the switch: signing, Autocrypt, the policy page and security.txt all use that key); the
    public key file beside the config is rewritten.

    Raises:
        ConfigurationError: No config file to write, the fingerprint comes from the
            environment, the file is not writable, or the passphrase does not open the key.
    """
    config, passphrase = _key_command_config(config_path, "rotate")
    if config.path is None:
        msg = "key rotate: give --config; it sets openpgp.fingerprint there"
        raise ConfigurationError(msg)
    overridden = f"{ENV_PREFIX}OPENPGP__FINGERPRINT"
    if overridden in os.environ:
        msg = (
            f"environment {overridden}: the bridge key is chosen in the environment, which "
            "`key rotate` cannot change; unset it, rotate, then set it to the new fingerprint"
        )
        raise ConfigurationError(msg)
    if not os.access(config.path, os.W_OK):
        msg = f"{config.path}: not writable; `key rotate` sets openpgp.fingerprint there"
        raise ConfigurationError(msg)
    home = config.resolve(config.settings.openpgp.home)
    current = bridge_fingerprint(config, secret_keys(home))
    problem = unlock_problem(home, current, passphrase, now=SystemClock().now())
    if problem is not None:
        msg = (
            f"{passphrase_setting(config)}: does not unlock bridge key {current} ({problem}); "
            "nothing was changed"
        )
        raise ConfigurationError(msg)
    new = rotate(home, current, passphrase, expire=expire, factor=factor)
    public = config.base_dir / PUBLIC_KEY_FILE
    public.write_text(export_public_key(home, new), encoding="utf-8")
    text = config.path.read_text(encoding="utf-8")
    config.path.write_text(set_fingerprint_in_config(text, new), encoding="utf-8")
    return Rotation(current, new, public, config.path)


@dataclass(frozen=True)
class Reprotection:
    """What ``key reprotect`` did.

    Attributes:
        reprotected: Every secret key in the home, re-protected (fingerprints).
        marked: The keys whose self-signatures were stored unchecked and now are checked.
    """

    reprotected: list[str]
    marked: list[str]


def reprotect_bridge_keys(config_path: Path | None, factor: WorkFactor) -> Reprotection:
    """Re-protect every secret key in the bridge home with ``factor``, mark self-signatures checked.

    The migration for installations made before ``init`` chose the minimum work factor, and
    for keys made or rotated in before the bridge stored their self-signatures as checked
    (``bridge_key.reprotect``; expired and revoked keys keep theirs).

    Raises:
        ConfigurationError: The passphrase file is missing, the passphrase is wrong or gpg
            failed (``bridge_key.reprotect``).
    """
    config, passphrase = _key_command_config(config_path, "reprotect")
    home = config.resolve(config.settings.openpgp.home)
    fingerprints = [key.fingerprint for key in secret_keys(home)]
    marked = reprotect(home, fingerprints, passphrase, factor, now=SystemClock().now())
    return Reprotection(fingerprints, marked)


def published_fingerprint(bridge: Bridge) -> str:
    """The bridge key's fingerprint as published (policy page, security.txt signature).

    ``openpgp.fingerprint`` when set, else the only secret key in ``openpgp.home``.

    Raises:
        ConfigurationError: no fingerprint is configured and ``openpgp.home`` does not exist
            (named before gpg is started).
    """
    configured = bridge.settings.openpgp.fingerprint
    if configured:
        return configured
    home = bridge.config.resolve(bridge.settings.openpgp.home)
    if not home.is_dir():
        msg = (
            f"openpgp.home: {home} does not exist; the policy prints the bridge key's "
            "fingerprint (create the key with `tracker-bridge init`, or set openpgp.fingerprint)"
        )
        raise ConfigurationError(msg)
    return bridge.openpgp().bridge_fingerprint


def sign_security_txt(bridge: Bridge, text: str, expires: datetime) -> str:
    """``text`` (a rendered security.txt expiring at ``expires``) clear-signed by the bridge key.

    Raises:
        ConfigurationError: the passphrase file is missing, ``openpgp.home`` does not exist, or
            the bridge key expires before ``expires`` (``security_txt.signing_refusal``, RFC 9116
            2.3 and 2.5.5).
    """
    passphrase = bridge.settings.openpgp.passphrase
    if passphrase is not None and passphrase.get_secret_value() == MISSING_SECRET:
        msg = (
            "openpgp.passphrase_file: the passphrase file is missing; "
            "signing needs the bridge key's passphrase"
        )
        raise ConfigurationError(msg)
    published_fingerprint(bridge)  # a missing GnuPG home is named before gpg is started
    fingerprint = bridge.openpgp().bridge_fingerprint
    refusal = signing_refusal(expires, bridge_key_expires(bridge.config, fingerprint), fingerprint)
    if refusal is not None:
        raise ConfigurationError(refusal)
    return signed_security_txt(text, bridge.openpgp().clearsign)

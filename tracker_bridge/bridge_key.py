"""The bridge's own OpenPGP key: made, listed, proven, re-protected and rotated with real gpg.

Protection (issue 16): gpg-agent caches passphrases, not unlocked keys, so every decryption
and every signature runs the key's S2K derivation again (RFC 4880 3.7.1.3, iterated and
salted). The agent calibrates the iteration count to about 100 ms of its own hashing when it
protects a key; on the 2-core machines this project runs on that came to 378–394 million
iterations and 0.6–1.3 s per decryption or signature under load. A passphrase ``init``
generates carries 256 random bits, so a work factor adds nothing to its strength: such keys
are protected with gpg-agent's minimum, ``s2k-count 65536`` in the bridge home's
``gpg-agent.conf`` (6–12 ms per operation here, as with no passphrase at all). A passphrase a person chose keeps the calibration: every message then pays
the calibrated cost. The home's ``gpg-agent.conf`` is the record of that choice; the agent
applies it to every key it protects there (generation, rotation, ``--passwd``).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gnupg

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.files import PRIVATE_DIR_MODE, make_private_dir

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MINIMUM_S2K_COUNT",
    "BridgeKey",
    "SecretKey",
    "WorkFactor",
    "create_bridge_key",
    "export_public_key",
    "generate_key",
    "mark_fresh_keybox_checked",
    "mark_self_signatures_checked",
    "passphrase_looks_generated",
    "refuse_minimum_for_short",
    "reprotect",
    "rotate",
    "secret_keys",
    "self_signatures_checked",
    "set_fingerprint_in_config",
    "set_work_factor",
    "unlock_problem",
    "work_factor",
]

# gpg-agent's smallest accepted s2k-count (agent/protect.c rounds anything lower up to it).
MINIMUM_S2K_COUNT = 65536
# A generated passphrase is secrets.token_urlsafe(32): 43 characters, 256 bits.
_GENERATED_PASSPHRASE_BYTES = 32
# Shorter than this, a passphrase is treated as chosen by a person: the minimum is refused.
_MINIMUM_FOR_LOW_WORK_FACTOR = 32
_GPG_TIMEOUT_SECONDS = 120
_AGENT_CONF = "gpg-agent.conf"
_KEYBOX = "pubring.kbx"
_S2K_LINE = re.compile(r"^\s*s2k-count\b.*$", re.MULTILINE)
# The iteration count of an agent-protected key: ``(sha1 #SALT# "COUNT")`` in the extended
# key format, ``(4:sha18:<salt>N:COUNT)`` in the older canonical S-expression.
_S2K_COUNT_EXTENDED = re.compile(
    rb'\(sha1\s+(?:#[0-9A-Fa-f]+#|"(?:[^"\\]|\\.)*")\s*"(\d+)"\s*\)', re.DOTALL
)
_S2K_COUNT_CANONICAL = re.compile(rb"\(4:sha18:.{8}\d+:(\d+)\)", re.DOTALL)
# gpg-error code 11 (GPG_ERR_BAD_PASSPHRASE) in the low 16 bits of a status error value.
_BAD_PASSPHRASE = 11
_EXPIRE = re.compile(r"^(0|never|\d+[dwmy]?|\d{4}-\d{2}-\d{2})$")
# A ring trust packet in ``gpg --list-packets`` (GnuPG doc/DETAILS): bit 0 of sigcache is
# "checked", bit 1 "valid"; 03 is checked and valid, 00 not checked yet.
_SIGCACHE = re.compile(r"sigcache=([0-9A-Fa-f]{2})")
_SIGCACHE_CHECKED = 0x01
# gpg refuses a new self-signature no newer than the one it replaces (its own wait gives up
# after 5 s); we wait at most this long for the clock to pass the newest self-signature.
_MAX_WAIT_FOR_CLOCK_SECONDS = 5


class WorkFactor(StrEnum):
    """How much S2K work protects the bridge key's secret parts."""

    MINIMUM = "minimum"
    """``s2k-count 65536``: for a generated, high-entropy passphrase (what ``init`` makes)."""
    CALIBRATED = "calibrated"
    """gpg-agent's calibration (about 100 ms of hashing): for a passphrase a person chose."""


@dataclass(frozen=True)
class BridgeKey:
    """A bridge key made the way ``init`` makes it: its fingerprint and generated passphrase."""

    fingerprint: str
    passphrase: str


@dataclass(frozen=True)
class SecretKey:
    """One secret key in the bridge home, as ``key list`` shows it.

    Attributes:
        fingerprint: The primary key's fingerprint (40 hex digits, upper case).
        uid: The first user id.
        created: When the primary key was made (UTC).
        expires: When the key stops working (UTC): the primary key's expiry, or the last
            encryption subkey's where that comes first; None for never.
        revoked: Whether the key is revoked.
        keygrips: gpg-agent's names for the primary key and each subkey, in listing order.
        s2k_counts: The S2K iteration count protecting each keygrip; None when unprotected or
            not readable (a stub, a smartcard).
    """

    fingerprint: str
    uid: str
    created: datetime
    expires: datetime | None
    revoked: bool
    keygrips: tuple[str, ...]
    s2k_counts: tuple[int | None, ...]

    def expired(self, now: datetime) -> bool:
        """Whether the key's expiry lies at or before ``now``."""
        return self.expires is not None and self.expires <= now

    def in_use(self, now: datetime) -> bool:
        """Whether gpg still signs and encrypts with the key at ``now``: not revoked nor expired."""
        return not self.revoked and not self.expired(now)


def _gpg(home: Path) -> Any:
    # C locale: nothing we read from gpg is translated.
    env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C"}
    return gnupg.GPG(
        gnupghome=str(home),
        env=env,
        options=["--pinentry-mode", "loopback", "--trust-model", "always", "--no-greeting"],
    )


def _run(home: Path, args: Sequence[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    command = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--status-fd", "2", *args]
    try:
        return subprocess.run(
            command, input=stdin, capture_output=True, check=False, timeout=_GPG_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        msg = f"cannot run gpg with home {home}: {err}"
        raise ConfigurationError(msg) from err


def _stop_agent(home: Path) -> None:
    """Stop the home's gpg-agent so the next gpg call starts one that reads the new conf."""
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
        capture_output=True,
        check=False,
        timeout=_GPG_TIMEOUT_SECONDS,
    )


# ---------------------------------------------------------------------------- protection


def work_factor(home: Path) -> WorkFactor:
    """The protection the home's gpg-agent applies: MINIMUM when its conf sets ``s2k-count``."""
    conf = home / _AGENT_CONF
    text = conf.read_text(encoding="utf-8") if conf.exists() else ""
    return WorkFactor.MINIMUM if _S2K_LINE.search(text) else WorkFactor.CALIBRATED


def set_work_factor(home: Path, factor: WorkFactor) -> None:
    """Write ``factor`` into the home's ``gpg-agent.conf`` (other lines kept) and restart the agent.

    The agent protects every key it makes, imports or re-protects with this setting; keys
    already stored keep theirs until ``reprotect``.
    """
    make_private_dir(home)
    home.chmod(PRIVATE_DIR_MODE)  # gpg warns about (and the agent refuses) an open home
    conf = home / _AGENT_CONF
    text = conf.read_text(encoding="utf-8") if conf.exists() else ""
    lines = [line for line in text.splitlines() if line.strip() and not _S2K_LINE.match(line)]
    if not any(line.strip() == "allow-loopback-pinentry" for line in lines):
        # The bridge never talks to a person: gpg takes the passphrase from the bridge.
        lines.insert(0, "allow-loopback-pinentry")
    if factor is WorkFactor.MINIMUM:
        lines.append(f"s2k-count {MINIMUM_S2K_COUNT}")
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _stop_agent(home)


def passphrase_looks_generated(passphrase: str | None) -> bool:
    """Whether ``passphrase`` is long enough to be one ``init`` generated (32+ characters)."""
    return bool(passphrase) and len(passphrase or "") >= _MINIMUM_FOR_LOW_WORK_FACTOR


def refuse_minimum_for_short(passphrase: str | None, factor: WorkFactor) -> None:
    """Refuse the minimum work factor for a passphrase too short to have been generated.

    Raises:
        ConfigurationError: ``factor`` is MINIMUM and the passphrase is shorter than 32 characters.
    """
    if (
        factor is WorkFactor.MINIMUM
        and passphrase
        and len(passphrase) < _MINIMUM_FOR_LOW_WORK_FACTOR
    ):
        msg = (
            f"the passphrase has {len(passphrase)} characters: a passphrase a person chose keeps "
            "gpg-agent's calibrated work factor (--work-factor calibrated); the minimum is for a "
            f"generated passphrase of at least {_MINIMUM_FOR_LOW_WORK_FACTOR} random characters"
        )
        raise ConfigurationError(msg)


def _s2k_count(key_file: Path) -> int | None:
    try:
        data = key_file.read_bytes()
    except OSError:
        return None
    if b"protected-private-key" not in data:
        return None
    match = _S2K_COUNT_EXTENDED.search(data) or _S2K_COUNT_CANONICAL.search(data)
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------- making keys


def generate_key(
    home: Path,
    uid: str,
    passphrase: str | None,
    *,
    factor: WorkFactor | None = WorkFactor.MINIMUM,
    expire: str = "0",
) -> str:
    """Generate an ed25519 + cv25519 key in ``home`` (created 0700) for ``uid``; its fingerprint.

    Args:
        home: The bridge's GNUPGHOME.
        uid: ``Name <address>``.
        passphrase: Protects the secret key; None for none.
        factor: The protection written into the home's gpg-agent.conf before the key is made;
            None keeps what the home already says (a rotation).
        expire: gpg's Expire-Date: ``0`` for never, ``2y``, ``365d`` or an ISO date.

    Modern curves take milliseconds where RSA takes seconds. gpg runs with ``--batch`` and a
    loopback pinentry, so it never prompts.

    Raises:
        ConfigurationError: gpg could not make the key, or ``expire`` is not gpg's form.
    """
    if not _EXPIRE.match(expire.strip()):
        msg = (
            f"--expires {expire!r}: write never, a number of days (365d), weeks, months, years "
            "(2y) or a date (2028-01-31)"
        )
        raise ConfigurationError(msg)
    fresh_keybox = not (home / _KEYBOX).exists()
    if factor is not None:
        set_work_factor(home, factor)
    elif not (home / _AGENT_CONF).exists():
        set_work_factor(home, WorkFactor.CALIBRATED)
    gpg = _gpg(home)
    params = {
        "key_type": "EDDSA",
        "key_curve": "ed25519",
        "key_usage": "sign",
        "subkey_type": "ECDH",
        "subkey_curve": "cv25519",
        "subkey_usage": "encrypt",
        "name_real": uid.split("<", maxsplit=1)[0].strip() or uid,
        "expire_date": "0" if expire.strip() == "never" else expire.strip(),
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
        msg = f"gpg could not create the bridge key in {home}: {result.status}"
        raise ConfigurationError(msg)
    if fresh_keybox:
        mark_fresh_keybox_checked(home)
    else:
        # A key made in a home that has a keybox (a rotation): the rebuild would risk keys a
        # running pass learns meanwhile, so the new key alone is written again.
        mark_self_signatures_checked(home, fingerprint, passphrase)
    return fingerprint.upper()


def mark_fresh_keybox_checked(home: Path) -> None:
    """Rebuild the keybox of a home that holds only the key just made, from that key's export.

    gpg 2.2 (2.2.40 measured) writes a key it generates with its self-signatures marked as not
    yet checked (``sigcache=00`` in the keybox's trust packets; ``--export-options backup`` shows
    them); an import marks them checked (``03``). Left unchecked, every later gpg run verifies
    them again: with init's key, ``gpg --encrypt --sign`` took 7.3-8.0 ms of gpg CPU against
    5.1-5.2 ms after the rebuild (40 runs each, interleaved; with ``--no-sig-cache`` both cost
    the same). Importing the key again into the same keybox changes nothing ("not changed"),
    so its export goes into a new keybox, which replaces the old one once it holds the key.
    Only for a fresh home (``init``): a key learned meanwhile by a running pass would be lost
    between export and replacement, so a key made in a home that has a keybox (a rotation) is
    marked with ``mark_self_signatures_checked`` instead.

    Raises:
        ConfigurationError: gpg could not export or import the key; the old keybox stays.
    """
    keybox = home / _KEYBOX
    rebuilt = home / f"{_KEYBOX}.rebuilt.kbx"
    rebuilt.unlink(missing_ok=True)
    exported = _run(home, ["--export-options", "export-local-sigs", "--export"])
    if exported.returncode != 0 or not exported.stdout:
        msg = f"gpg could not export the new key from {home} to rebuild it"
        raise ConfigurationError(msg)
    imported = _run(
        home,
        [*_in_keyring(rebuilt), "--import-options", "import-local-sigs", "--import"],
        exported.stdout,
    )
    wanted = _fingerprints(home, [])
    if imported.returncode != 0 or wanted != _fingerprints(home, _in_keyring(rebuilt)):
        rebuilt.unlink(missing_ok=True)
        msg = f"gpg could not rebuild the keybox in {home}: its import failed"
        raise ConfigurationError(msg)
    rebuilt.replace(keybox)
    Path(f"{rebuilt}~").unlink(missing_ok=True)


def self_signatures_checked(home: Path, fingerprint: str) -> bool:
    """Whether every self-signature of key ``fingerprint`` is stored as checked in the keybox.

    Reads the ring trust packets of ``gpg --export-options backup --export`` (sigcache, GnuPG
    doc/DETAILS) of the signatures the key made itself; certifications by others are not
    counted. Two gpg runs, nothing written.

    Raises:
        ConfigurationError: gpg could not export the key (no key ``fingerprint`` in ``home``).
    """
    exported = _run(home, ["--export-options", "backup", "--export", fingerprint.upper()])
    if exported.returncode != 0 or not exported.stdout:
        msg = f"gpg could not export key {fingerprint} from {home}"
        raise ConfigurationError(msg)
    packets = _run(home, ["--list-packets"], exported.stdout).stdout.decode("utf-8", "replace")
    own = fingerprint.upper()[-16:]
    issuer = ""
    caches: list[int] = []
    for line in packets.splitlines():
        if line.startswith(":signature packet:"):
            issuer = line.rsplit("keyid", 1)[-1].strip().upper()
        elif line.startswith(":trust packet:") and issuer == own:
            found = _SIGCACHE.search(line)
            caches.append(int(found.group(1), 16) if found else 0)
            issuer = ""
    return bool(caches) and all(cache & _SIGCACHE_CHECKED for cache in caches)


def _key_shape(home: Path, fingerprint: str) -> list[tuple[str, ...]]:
    """What must not change when a key's self-signatures are written again.

    Per primary key and subkey (``--with-colons``, GnuPG doc/DETAILS): record type, validity,
    key id, creation and expiry (epoch seconds), capabilities; the user ids in gpg's order
    (the first is primary) and whether each is revoked; fingerprints and keygrips; and
    the S2K iteration count protecting each keygrip. Empty when there is no such secret key.
    """
    listing = _run(home, ["--with-colons", "--with-keygrip", "--list-secret-keys", fingerprint])
    shape: list[tuple[str, ...]] = []
    for line in listing.stdout.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if fields[0] in {"sec", "ssb"}:
            shape.append((fields[0], fields[1], fields[4], fields[5], fields[6], fields[11]))
        elif fields[0] == "uid":
            # In gpg's order: the first is the primary user id, the name researchers see.
            shape.append(("uid", "revoked" if fields[1] == "r" else "", fields[9]))
        elif fields[0] in {"fpr", "grp"}:
            shape.append((fields[0], fields[9]))
            if fields[0] == "grp":
                count = _s2k_count(home / "private-keys-v1.d" / f"{fields[9].upper()}.key")
                shape.append(("s2k", str(count)))
    return shape


def _stable(shape: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """``shape`` without the validity gpg computes (its trust database may recompute it)."""
    return [(line[0], *line[2:]) if line[0] in {"sec", "ssb"} else line for line in shape]


def _newest_self_signature(home: Path, fingerprint: str) -> int:
    """The creation time (epoch seconds) of the newest signature key ``fingerprint`` made on itself."""
    listing = _run(home, ["--with-colons", "--list-sigs", fingerprint]).stdout.decode(
        "utf-8", "replace"
    )
    own = fingerprint.upper()[-16:]
    return max(
        (
            int(fields[5])
            for fields in (line.split(":") for line in listing.splitlines())
            if fields[0] == "sig" and fields[4].upper() == own and fields[5].isdigit()
        ),
        default=0,
    )


def mark_self_signatures_checked(home: Path, fingerprint: str, passphrase: str | None) -> bool:
    """Store key ``fingerprint``'s self-signatures as checked, the key otherwise unchanged.

    gpg 2.2 (2.2.40 measured) stores a key it generates with its self-signatures not yet
    checked, and every later gpg run verifies them again (1-2 ms of gpg CPU per
    ``--encrypt --sign``; see ``mark_fresh_keybox_checked``). ``--check-sigs``, ``--edit-key``
    with ``save`` and importing the key again leave the flags as they are; writing the key
    block stores them as checked. ``gpg --quick-set-expire`` with the key's own expiry writes
    it: it replaces the user id self-signatures by new ones with the same expiry moment and
    writes only this key's block, so researchers' keys in the keybox and keys a running pass
    learns meanwhile are not touched. The expiry is given as gpg's ISO time
    (``YYYYMMDDTHHMMSS``, UTC) or ``never``, and gpg's clock is frozen at the moment of
    signing (``--faked-system-time SECONDS!``, the real time, after waiting for the clock to
    pass the newest self-signature as gpg requires), so gpg's "now" cannot move between reading
    the expiry and writing it. Subkeys, the passphrase and its work factor (the agent only
    signs) stay as they are; the result is compared with the key before.

    Args:
        home: The bridge's GNUPGHOME.
        fingerprint: The primary key (40 hex digits).
        passphrase: Opens the key (it signs the new self-signatures); None for none.

    Returns:
        True when the key was written again, False when its self-signatures were checked.

    Raises:
        ConfigurationError: No such secret key; it is expired or revoked (gpg signs nothing
            with it); the passphrase does not open it; gpg failed; or the key afterwards
            differs in fingerprint, expiry, subkeys or protection.
    """
    fingerprint = fingerprint.upper()
    if self_signatures_checked(home, fingerprint):
        return False
    before = _key_shape(home, fingerprint)
    primary = next((line for line in before if line[0] == "sec"), None)
    if primary is None:
        msg = f"no secret key {fingerprint} in {home}"
        raise ConfigurationError(msg)
    if primary[1] in {"e", "r"}:
        state = "expired" if primary[1] == "e" else "revoked"
        msg = f"key {fingerprint} is {state}: gpg makes no self-signature with it"
        raise ConfigurationError(msg)
    expires = primary[4]
    until = (
        datetime.fromtimestamp(int(expires), UTC).strftime("%Y%m%dT%H%M%S")
        if expires.isdigit() and int(expires) > 0
        else "never"
    )
    _self_sign(home, fingerprint, passphrase, ["--quick-set-expire", fingerprint, until])
    primary_uid = next((line[2] for line in before if line[0] == "uid"), None)
    after = _key_shape(home, fingerprint)
    if primary_uid is not None and primary_uid != next(
        (line[2] for line in after if line[0] == "uid"), None
    ):
        # New self-signatures of one second rank the user ids afresh: with several, another
        # may come first (the name researchers see). The one that was primary is made so again.
        _self_sign(
            home, fingerprint, passphrase, ["--quick-set-primary-uid", fingerprint, primary_uid]
        )
        after = _key_shape(home, fingerprint)
    if _stable(after) != _stable(before):
        msg = f"key {fingerprint}: gpg changed more than its self-signatures; check `key list`"
        raise ConfigurationError(msg)
    if not self_signatures_checked(home, fingerprint):
        msg = f"key {fingerprint}: gpg wrote its self-signatures, still marked unchecked"
        raise ConfigurationError(msg)
    return True


def _self_sign(home: Path, fingerprint: str, passphrase: str | None, command: list[str]) -> None:
    """Run one gpg ``command`` that makes self-signatures on key ``fingerprint``.

    gpg refuses a self-signature no newer than the newest one it replaces, so this waits for
    the clock to pass it, then freezes gpg's clock at that second (``--faked-system-time
    SECONDS!``) so an expiry read before cannot move while gpg runs.

    Raises:
        ConfigurationError: the newest self-signature is dated in the future, the passphrase
            does not unlock the key, or gpg failed.
    """
    newest = _newest_self_signature(home, fingerprint)
    wait = newest + 1 - time.time()
    if wait > _MAX_WAIT_FOR_CLOCK_SECONDS:
        msg = f"key {fingerprint} has a self-signature dated in the future; the clock is wrong"
        raise ConfigurationError(msg)
    if wait > 0:
        time.sleep(wait)
    frozen = datetime.fromtimestamp(int(time.time()), UTC).strftime("%Y%m%dT%H%M%S!")
    unlock = ["--passphrase-fd", "0"] if passphrase else []
    done = _run(
        home,
        ["--pinentry-mode", "loopback", *unlock, "--faked-system-time", frozen, *command],
        (passphrase + "\n").encode("utf-8") if passphrase else b"",
    )
    status = _status(done.stderr.decode("utf-8", "replace"))
    if _bad_passphrase(status):
        msg = f"key {fingerprint}: the configured passphrase does not unlock it"
        raise ConfigurationError(msg)
    if done.returncode != 0:
        msg = (
            f"key {fingerprint}: gpg could not write its self-signatures again "
            f"({'; '.join(' '.join(line) for line in status) or 'no status'})"
        )
        raise ConfigurationError(msg)


def _in_keyring(keybox: Path) -> list[str]:
    """The gpg options that use ``keybox`` instead of the home's own keybox."""
    return ["--no-default-keyring", "--keyring", str(keybox)]


def _fingerprints(home: Path, keyring: Sequence[str]) -> list[str]:
    """The primary fingerprints in the home's keybox (or the one ``keyring`` names), sorted."""
    listing = _run(home, [*keyring, "--with-colons", "--list-keys"]).stdout.decode(
        "ascii", "replace"
    )
    lines = listing.splitlines()
    return sorted(
        following.split(":")[9]
        for line, following in itertools.pairwise(lines)
        if line.startswith("pub:") and following.startswith("fpr:")
    )


def create_bridge_key(home: Path, uid: str) -> BridgeKey:
    """Make a bridge key exactly as ``init`` does: a generated passphrase, the minimum work factor.

    Benchmarks and tests that want the production cost per operation use this.
    """
    passphrase = secrets.token_urlsafe(_GENERATED_PASSPHRASE_BYTES)
    fingerprint = generate_key(home, uid, passphrase, factor=WorkFactor.MINIMUM)
    return BridgeKey(fingerprint, passphrase)


def export_public_key(home: Path, fingerprint: str) -> str:
    """The armoured public key, for the policy page and security.txt ``Encryption:``."""
    armoured = str(_gpg(home).export_keys(fingerprint))
    if "BEGIN PGP PUBLIC KEY BLOCK" not in armoured:
        msg = f"no public key {fingerprint} in {home}"
        raise ConfigurationError(msg)
    return armoured


# ---------------------------------------------------------------------------- listing


def _moment(epoch: str) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else None


def _usable_until(primary: datetime | None, encryption: list[datetime | None]) -> datetime | None:
    """The earlier of the primary key's expiry and that of its last encryption subkey."""
    if not encryption or None in encryption:
        return primary
    last_subkey = max(moment for moment in encryption if moment is not None)
    return last_subkey if primary is None else min(primary, last_subkey)


def secret_keys(home: Path) -> list[SecretKey]:
    """Every secret key in ``home``, oldest first, with expiry and protection.

    Source of the fields: gpg's DETAILS file (``--with-colons``), doc/DETAILS in GnuPG.
    """
    listing = _run(home, ["--with-colons", "--with-keygrip", "--list-secret-keys"])
    found: list[dict[str, Any]] = []
    for line in listing.stdout.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        kind = fields[0]
        if kind == "sec":
            found.append(
                {
                    "fpr": "",
                    "uid": "",
                    "created": _moment(fields[5]) or datetime.fromtimestamp(0, UTC),
                    "expires": _moment(fields[6]),
                    "revoked": fields[1] == "r",
                    "grips": [],
                    "encryption": [],
                }
            )
        elif not found:
            continue
        elif kind == "fpr" and not found[-1]["fpr"]:
            found[-1]["fpr"] = fields[9].upper()
        elif kind == "grp":
            found[-1]["grips"].append(fields[9].upper())
        elif kind == "uid" and not found[-1]["uid"]:
            found[-1]["uid"] = fields[9]
        elif kind == "ssb" and "e" in fields[11] and fields[1] != "r":
            found[-1]["encryption"].append(_moment(fields[6]))
    keys_dir = home / "private-keys-v1.d"
    keys = [
        SecretKey(
            fingerprint=key["fpr"],
            uid=key["uid"],
            created=key["created"],
            expires=_usable_until(key["expires"], key["encryption"]),
            revoked=key["revoked"],
            keygrips=tuple(key["grips"]),
            s2k_counts=tuple(_s2k_count(keys_dir / f"{grip}.key") for grip in key["grips"]),
        )
        for key in found
    ]
    return sorted(keys, key=lambda key: key.created)


# ---------------------------------------------------------------------------- proving


def _forget_cached_passphrases(home: Path, keygrips: Sequence[str]) -> None:
    """Make gpg-agent ask for the passphrase again: a cached one would prove nothing."""
    commands = [f"CLEAR_PASSPHRASE --mode=normal {grip}" for grip in keygrips]
    subprocess.run(
        ["gpg-connect-agent", "--homedir", str(home), *commands, "/bye"],
        capture_output=True,
        check=False,
        timeout=_GPG_TIMEOUT_SECONDS,
    )


def _status(stderr: str) -> list[tuple[str, str]]:
    lines = []
    for raw in stderr.splitlines():
        if raw.startswith("[GNUPG:] "):
            keyword, _, value = raw[len("[GNUPG:] ") :].partition(" ")
            lines.append((keyword, value.strip()))
    return lines


def _bad_passphrase(status: list[tuple[str, str]]) -> bool:
    for keyword, value in status:
        if keyword in {"ERROR", "FAILURE"}:
            code = value.split()[-1] if value.split() else ""
            if code.isdigit() and int(code) & 0xFFFF == _BAD_PASSPHRASE:
                return True
        if keyword == "BAD_PASSPHRASE":
            return True
    return False


def unlock_problem(
    home: Path, fingerprint: str, passphrase: str | None, *, now: datetime, sign: bool = True
) -> str | None:
    """Why ``passphrase`` does not open key ``fingerprint`` in ``home``, or None when it does.

    Decrypts a probe encrypted to the key (its encryption subkey) and, with ``sign``, signs one
    with it (its primary key), after making gpg-agent forget any cached passphrase. Nothing
    the probe holds is secret. ``now`` (aware) decides whether the key has expired: the probe
    to an expired key is encrypted as of its creation.
    """
    keys = {key.fingerprint: key for key in secret_keys(home)}
    key = keys.get(fingerprint.upper())
    if key is None:
        return f"no secret key {fingerprint} in {home}"
    _forget_cached_passphrases(home, key.keygrips)
    gpg = _gpg(home)
    # An expired key still decrypts what was sent while it was valid; gpg only encrypts to it
    # as of a moment in its lifetime, so the probe is written "then".
    expired = key.expired(now)
    then = ["--faked-system-time", str(int(key.created.timestamp()) + 1)] if expired else []
    probe = gpg.encrypt(
        b"tracker-bridge passphrase probe", [key.fingerprint], armor=True, extra_args=then
    )
    if not probe.ok:
        return f"gpg cannot encrypt to key {key.fingerprint} ({probe.status})"
    opened = gpg.decrypt(str(probe), passphrase=passphrase)
    opened_status = _status(str(opened.stderr or ""))
    if _bad_passphrase(opened_status):
        return "the passphrase is wrong"
    if not opened.ok or bytes(opened.data) != b"tracker-bridge passphrase probe":
        return f"gpg could not decrypt with it ({opened.status})"
    if sign and not expired:  # an expired key signs nothing; the decryption proved the passphrase
        signed = gpg.sign(b"probe", keyid=key.fingerprint, passphrase=passphrase, detach=True)
        if _bad_passphrase(_status(str(signed.stderr or ""))):
            return "the passphrase is wrong"
        if not signed.data:
            return f"gpg could not sign with it ({signed.status})"
    return None


# ---------------------------------------------------------------------------- re-protecting


def reprotect(
    home: Path,
    fingerprints: Sequence[str],
    passphrase: str | None,
    factor: WorkFactor,
    *,
    now: datetime,
) -> list[str]:
    """Protect each key's secret parts again, same passphrase, with the work factor ``factor``.

    The migration for installations whose key carries gpg-agent's calibrated count although
    ``init`` generated its passphrase. ``gpg --passwd`` with loopback pinentry reads the
    passphrase once and gives it as old and new; gpg-agent re-protects with the conf's count.
    Then each key that is neither revoked nor expired at ``now`` (aware) and whose
    self-signatures are stored unchecked gets them marked checked
    (``mark_self_signatures_checked``): the migration for keys rotated in, or made by ``init``,
    before the bridge did that.

    Returns:
        The fingerprints whose self-signatures were marked checked (upper case).

    Raises:
        ConfigurationError: The key has no passphrase, the passphrase is wrong, or gpg failed;
            the message names the key.
    """
    if not passphrase:
        msg = "openpgp.passphrase: the bridge key has no passphrase; there is nothing to re-protect"
        raise ConfigurationError(msg)
    refuse_minimum_for_short(passphrase, factor)
    set_work_factor(home, factor)
    by_fingerprint = {key.fingerprint: key for key in secret_keys(home)}
    for fingerprint in fingerprints:
        key = by_fingerprint.get(fingerprint.upper())
        if key is None:
            msg = f"no secret key {fingerprint} in {home}"
            raise ConfigurationError(msg)
        _forget_cached_passphrases(home, key.keygrips)
        done = _run(
            home,
            ["--pinentry-mode", "loopback", "--passphrase-fd", "0", "--passwd", key.fingerprint],
            (passphrase + "\n").encode("utf-8"),
        )
        status = _status(done.stderr.decode("utf-8", "replace"))
        # gpg --passwd exits 0 even when it failed: only the status lines tell.
        if _bad_passphrase(status):
            msg = (
                f"key {key.fingerprint}: the configured passphrase does not unlock it; "
                "nothing was re-protected"
            )
            raise ConfigurationError(msg)
        if ("SUCCESS", "keyedit.passwd") not in status:
            msg = (
                f"key {key.fingerprint}: gpg did not re-protect it "
                f"({'; '.join(' '.join(line) for line in status) or 'no status'})"
            )
            raise ConfigurationError(msg)
    return [
        key.fingerprint
        for key in (by_fingerprint[fingerprint.upper()] for fingerprint in fingerprints)
        if key.in_use(now) and mark_self_signatures_checked(home, key.fingerprint, passphrase)
    ]


# ---------------------------------------------------------------------------- rotation


def rotate(
    home: Path,
    current: str,
    passphrase: str | None,
    *,
    expire: str = "0",
    factor: WorkFactor | None = None,
) -> str:
    """Make the successor of key ``current`` in ``home``; the old key stays for decryption.

    The new key has the old key's first user id and the same passphrase (one configured
    passphrase opens every key in the home), protected as ``factor`` says, else as the home's
    gpg-agent.conf says.

    Returns:
        The new key's fingerprint.

    Raises:
        ConfigurationError: ``current`` is not in the home, or gpg failed.
    """
    keys = {key.fingerprint: key for key in secret_keys(home)}
    old = keys.get(current.upper())
    if old is None:
        msg = f"no secret key {current} in {home}"
        raise ConfigurationError(msg)
    refuse_minimum_for_short(passphrase, factor or work_factor(home))
    return generate_key(home, old.uid, passphrase, factor=factor, expire=expire)


_OPENPGP_TABLE = re.compile(r"^\s*\[\s*openpgp\s*\]\s*(#.*)?$")
_ANY_TABLE = re.compile(r"^\s*\[")
_FINGERPRINT_KEY = re.compile(r"^(\s*fingerprint\s*=\s*)(\"[^\"]*\"|'[^']*')(.*)$")


def set_fingerprint_in_config(text: str, fingerprint: str) -> str:
    """``text`` (a tracker-bridge TOML file) with ``[openpgp] fingerprint`` set, comments kept.

    Replaces the value where the key is set, else adds the key as the table's first line, else
    appends an ``[openpgp]`` table.
    """
    lines = text.splitlines(keepends=True)
    table_at: int | None = None
    in_table = False
    for index, line in enumerate(lines):
        if _OPENPGP_TABLE.match(line):
            table_at, in_table = index, True
            continue
        if _ANY_TABLE.match(line):
            in_table = False
            continue
        match = _FINGERPRINT_KEY.match(line) if in_table else None
        if match is not None:
            ending = "\n" if line.endswith("\n") else ""
            lines[index] = f'{match[1]}"{fingerprint}"{match[3].rstrip(chr(10))}{ending}'
            return "".join(lines)
    entry = (
        f'fingerprint = "{fingerprint}"                 # the signing key; set by `key rotate`\n'
    )
    if table_at is not None:
        lines.insert(table_at + 1, entry)
        return "".join(lines)
    separator = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{separator}\n[openpgp]\n{entry}"

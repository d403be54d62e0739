"""The OpenPGP adapter: real gpg through python-gnupg, deciding only from gpg's status lines."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gnupg

from tracker_bridge.errors import ConfigurationError, FatalError, QuarantineError, SkippableError
from tracker_bridge.ports import Decryption, SignatureCheck, SignatureStatus

__all__ = ["DEFAULT_MAX_PLAINTEXT_BYTES", "GnuPG", "GpgStatus", "judge_decryption"]

DEFAULT_MAX_PLAINTEXT_BYTES = 25 * 1024 * 1024

_STATUS_PREFIX = "[GNUPG:] "
# Signature problems that make gpg exit non-zero although the decryption itself is sound.
_SIGNATURE_KEYWORDS = frozenset(
    {
        "ERRSIG",
        "NO_PUBKEY",
        "BADSIG",
        "EXPSIG",
        "EXPKEYSIG",
        "REVKEYSIG",
        "KEYEXPIRED",
        "KEYREVOKED",
    }
)
# A strict addr-spec: it ends up inside a gpg filter expression, so nothing that could extend it.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_GPG_TIMEOUT_SECONDS = 60


@dataclass
class GpgStatus:
    """The ``[GNUPG:]`` status lines of one gpg run, in order, and what the human log said."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, stderr: str) -> GpgStatus:
        """Split gpg's stderr (``--status-fd 2``) into status lines and human log lines."""
        status = cls()
        for raw in stderr.splitlines():
            # Only a line that starts with the prefix is a status line; gpg escapes control
            # characters in what it logs, so attacker text cannot start a line of its own.
            if raw.startswith(_STATUS_PREFIX):
                keyword, _, value = raw[len(_STATUS_PREFIX) :].partition(" ")
                status.lines.append((keyword, value.strip()))
            else:
                status.log_lines.append(raw)
        return status

    def has(self, keyword: str) -> bool:
        """Whether gpg emitted ``keyword`` at least once."""
        return any(k == keyword for k, _ in self.lines)

    def count(self, keyword: str) -> int:
        """How often gpg emitted ``keyword``."""
        return sum(1 for k, _ in self.lines if k == keyword)

    def values(self, keyword: str) -> list[str]:
        """The arguments of every ``keyword`` line, in order."""
        return [v for k, v in self.lines if k == keyword]

    def signature(self) -> SignatureCheck:
        """The verdict on the signatures gpg checked (the worst one wins)."""
        if any(self.has(k) for k in ("BADSIG", "REVKEYSIG", "EXPKEYSIG", "EXPSIG")):
            return SignatureCheck(SignatureStatus.BAD)
        if self.has("ERRSIG"):
            if self.has("NO_PUBKEY"):
                return SignatureCheck(SignatureStatus.UNKNOWN_KEY)
            return SignatureCheck(SignatureStatus.BAD)
        validsigs = self.values("VALIDSIG")
        if validsigs and self.has("GOODSIG"):
            parts = validsigs[0].split()
            # The tenth field is the primary key's fingerprint (the first may be a subkey's).
            primary = parts[9] if len(parts) >= 10 else parts[0]
            return SignatureCheck(SignatureStatus.VALID, primary.upper())
        return SignatureCheck(SignatureStatus.NONE)


def judge_decryption(
    status: GpgStatus,
    *,
    plaintext_size: int,
    max_plaintext_bytes: int,
    accepted_keys: frozenset[str],
    returncode: int | None,
) -> str | None:
    """Why a decryption must be thrown away, or None when gpg vouched for all of it.

    Args:
        status: The parsed status lines of the ``gpg --decrypt`` run.
        plaintext_size: How many bytes gpg wrote to standard output.
        max_plaintext_bytes: The size limit.
        accepted_keys: Primary fingerprints whose secret keys may open reports.
        returncode: gpg's exit code; used only to refuse, never to accept.

    Returns:
        The reason for quarantine, or None.
    """
    if status.has("NEED_PASSPHRASE_SYM") or (
        status.has("BEGIN_DECRYPTION") and not status.has("ENC_TO")
    ):
        return "symmetric-only (passphrase) encryption: not addressed to the bridge key"
    if not status.has("BEGIN_DECRYPTION"):
        if status.has("PLAINTEXT") or status.has("NEWSIG"):
            return "OpenPGP data is signed or literal only, not encrypted"
        return "no encrypted OpenPGP data found (corrupt, truncated or not OpenPGP)"
    decryption_keys = [v.split() for v in status.values("DECRYPTION_KEY")]
    if not decryption_keys:
        if status.has("NO_SECKEY"):
            return "encrypted to a key the bridge does not hold"
        return "gpg found no key to decrypt with"
    if status.has("BADMDC"):
        return "integrity check failed (BADMDC): ciphertext was modified"
    infos = [v.split() for v in status.values("DECRYPTION_INFO")]
    no_mdc = any(len(info) >= 1 and info[0] == "0" for info in infos)
    aead = any(len(info) >= 3 and info[2] != "0" for info in infos)
    if no_mdc and not aead:
        return "message has no integrity protection (no MDC); refused"
    if status.has("DECRYPTION_FAILED"):
        return "gpg reported DECRYPTION_FAILED (tampered, truncated or wrong key)"
    errors = status.values("ERROR")
    if errors:
        # ERROR lines carry a location and an error code only, never message text.
        return f"gpg reported an error: {errors[0]}"
    if status.has("NODATA"):
        return "OpenPGP data truncated or missing (NODATA)"
    if status.count("BEGIN_DECRYPTION") != status.count("END_DECRYPTION"):
        return "decryption did not finish (BEGIN_DECRYPTION without END_DECRYPTION)"
    if not status.has("DECRYPTION_OKAY"):
        return "gpg did not report DECRYPTION_OKAY"
    if not (status.has("GOODMDC") or aead):
        return "gpg did not confirm integrity protection (no GOODMDC, not AEAD)"
    for parts in decryption_keys:
        primary = parts[1].upper() if len(parts) >= 2 else ""
        if primary not in accepted_keys:
            return "decrypted with a key that is not the bridge key"
    if status.count("PLAINTEXT") != 1:
        return "OpenPGP message does not hold exactly one literal data packet"
    if plaintext_size > max_plaintext_bytes or any(
        "max-output" in line for line in status.log_lines
    ):
        return f"decrypted plaintext exceeds the limit of {max_plaintext_bytes} bytes"
    lengths = status.values("PLAINTEXT_LENGTH")
    if lengths and lengths[0].isdigit() and int(lengths[0]) != plaintext_size:
        return "decrypted plaintext is shorter than announced (truncated)"
    if plaintext_size == 0:
        return "decryption produced no plaintext"
    if returncode not in (0, None) and not any(status.has(k) for k in _SIGNATURE_KEYWORDS):
        return f"gpg exited with status {returncode} without naming a signature problem"
    return None


class _PlaintextCollector:
    """Receives gpg's output chunks; keeps at most the limit plus one byte, counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []

    def __call__(self, chunk: bytes) -> bool:
        if chunk:
            if self.size <= self.limit:
                self.chunks.append(chunk)
            self.size += len(chunk)
        # False tells python-gnupg not to keep its own copy: memory stays at one plaintext.
        return False

    def discard(self) -> None:
        self.chunks.clear()

    def plaintext(self) -> bytes:
        return b"".join(self.chunks)


class GnuPG:
    """The bridge's OpenPGP operations with real gpg (implements ``ports.OpenPGP``).

    Args:
        gnupghome: The bridge's GnuPG home (holds its secret key and researchers' keys).
        passphrase: The bridge key's passphrase, or None for an unprotected key.
        bridge_fingerprint: The bridge key; None means the single secret key in the keyring.
        max_plaintext_bytes: Decryptions producing more than this are refused.
        gpgbinary: The gpg executable.

    Raises:
        ConfigurationError: gpg cannot be run, or the bridge key is missing or ambiguous.
    """

    def __init__(
        self,
        gnupghome: str | os.PathLike[str],
        passphrase: str | None = None,
        bridge_fingerprint: str | None = None,
        max_plaintext_bytes: int = DEFAULT_MAX_PLAINTEXT_BYTES,
        *,
        gpgbinary: str = "gpg",
    ) -> None:
        self._home = str(gnupghome)
        self._passphrase = passphrase or None
        self.max_plaintext_bytes = max_plaintext_bytes
        self._gpgbinary = gpgbinary
        self._lock = threading.Lock()
        # C locale: the one human log line we look at ("max-output") must not be translated.
        env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C"}
        try:
            self._gpg: Any = gnupg.GPG(
                gpgbinary=gpgbinary,
                gnupghome=self._home,
                env=env,
                options=[
                    "--pinentry-mode",
                    "loopback",
                    "--no-auto-key-retrieve",
                    "--no-auto-key-locate",
                    "--trust-model",
                    "always",
                    "--no-greeting",
                ],
            )
        except (OSError, ValueError) as err:
            raise ConfigurationError(
                f"cannot run gpg ({gpgbinary}) with home {self._home}: {err}"
            ) from err
        self._bridge_fingerprint = self._find_bridge_key(bridge_fingerprint)

    # ------------------------------------------------------------------ keys

    def _secret_fingerprints(self) -> list[str]:
        keys = self._gpg.list_keys(secret=True)
        return [str(key["fingerprint"]).upper() for key in keys]

    def _find_bridge_key(self, wanted: str | None) -> str:
        secrets = self._secret_fingerprints()
        if wanted is not None:
            compact = re.sub(r"\s+", "", wanted).upper()
            if compact not in secrets:
                raise ConfigurationError(
                    f"bridge key {compact} has no secret key in GnuPG home {self._home}"
                )
            return compact
        if len(secrets) != 1:
            raise ConfigurationError(
                f"GnuPG home {self._home} holds {len(secrets)} secret keys; "
                "name the bridge key fingerprint in the configuration"
            )
        return secrets[0]

    @property
    def bridge_fingerprint(self) -> str:
        """The fingerprint of the bridge's own signing and encryption key."""
        return self._bridge_fingerprint

    @property
    def gnupghome(self) -> str:
        """The GnuPG home this adapter works in."""
        return self._home

    def has_key(self, fingerprint: str) -> bool:
        """Whether a public key with this fingerprint is in the keyring."""
        compact = re.sub(r"\s+", "", fingerprint).upper()
        if not re.fullmatch(r"[0-9A-F]{40}|[0-9A-F]{64}", compact):
            return False
        keys = self._gpg.list_keys(keys=[compact])
        return any(str(key["fingerprint"]).upper() == compact for key in keys)

    def key_addresses(self, fingerprint: str) -> tuple[str, ...]:
        """The mail addresses (lower-cased) in the uids of the key ``fingerprint`` holds.

        Empty when the key is not in the keyring. Used to tell whether a valid signature was
        made by the From address's owner (a signer is not necessarily the sender).
        """
        compact = re.sub(r"\s+", "", fingerprint).upper()
        if not re.fullmatch(r"[0-9A-F]{40}|[0-9A-F]{64}", compact):
            return ()
        with self._lock:
            keys = self._gpg.list_keys(keys=[compact])
        found: list[str] = []
        for key in keys:
            if str(key["fingerprint"]).upper() != compact:
                continue
            for uid in key.get("uids", []):
                mbox = _uid_mbox(str(uid))
                if mbox and mbox not in found:
                    found.append(mbox)
        return tuple(found)

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        """Import only the uid that matches ``address``; its fingerprint, or None if no match.

        The key material is first imported into a throwaway keyring with every other user id
        filtered out, so nothing the sender attached beyond that one identity reaches the
        bridge keyring (no secret keys, no foreign uids, no unrelated keys).
        """
        match = self._match_in_scratch(key_data, address)
        if match is None:
            return None
        fingerprint, public, keep = match
        with self._lock:
            result = self._gpg.import_keys(
                public,
                extra_args=["--import-options", "import-minimal", "--import-filter", keep],
            )
        imported = {str(fp).upper() for fp in result.fingerprints if fp}
        return fingerprint if fingerprint in imported or self.has_key(fingerprint) else None

    def matching_key(self, key_data: bytes, address: str) -> str | None:
        """The fingerprint ``learn_key`` would import, without touching the bridge keyring."""
        match = self._match_in_scratch(key_data, address)
        return match[0] if match is not None else None

    def _match_in_scratch(self, key_data: bytes, address: str) -> tuple[str, bytes, str] | None:
        mbox = address.strip().lower()
        if not _ADDRESS.match(mbox) or not key_data:
            return None
        scratch = tempfile.mkdtemp(prefix="tbk", dir="/tmp")
        try:
            keep = f"keep-uid=mbox = {mbox}"
            self._run_gpg(
                scratch,
                ["--import-options", "import-minimal", "--import-filter", keep, "--import"],
                key_data,
            )
            listing = self._run_gpg(scratch, ["--with-colons", "--list-keys"], b"").stdout
            candidates = _encryption_capable_keys(listing.decode("utf-8", "replace"), mbox)
            if not candidates:
                return None
            # Several matching keys: the newest is the one the researcher uses now.
            fingerprint = max(candidates, key=lambda item: item[1])[0]
            public = self._run_gpg(scratch, ["--export", fingerprint], b"").stdout
            if not public:
                return None
            return fingerprint, public, keep
        finally:
            subprocess.run(
                ["gpgconf", "--homedir", scratch, "--kill", "all"],
                capture_output=True,
                check=False,
                timeout=_GPG_TIMEOUT_SECONDS,
            )
            shutil.rmtree(scratch, ignore_errors=True)

    def _run_gpg(
        self, home: str, args: Sequence[str], stdin: bytes
    ) -> subprocess.CompletedProcess[bytes]:
        command = [self._gpgbinary, "--homedir", home, "--batch", "--no-tty", *args]
        try:
            return subprocess.run(
                command, input=stdin, capture_output=True, check=False, timeout=_GPG_TIMEOUT_SECONDS
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SkippableError(f"gpg failed while examining an attached key: {err}") from err

    # ------------------------------------------------------------------ decrypt

    def decrypt(self, ciphertext: bytes) -> Decryption:
        """Decrypt and verify, or raise QuarantineError naming the reason (no partial output)."""
        return self._decrypt(ciphertext, self.max_plaintext_bytes)

    def _decrypt(self, ciphertext: bytes, limit: int) -> Decryption:
        collector = _PlaintextCollector(limit)
        with self._lock:
            self._gpg.on_data = collector
            try:
                result = self._gpg.decrypt_file(
                    io.BytesIO(ciphertext),
                    passphrase=self._passphrase,
                    # gpg stops a decompression bomb itself; the collector double-checks the size.
                    extra_args=["--max-output", str(limit + 1)],
                )
            except (OSError, ValueError) as err:
                raise QuarantineError(f"gpg could not be run to decrypt: {err}") from err
            finally:
                self._gpg.on_data = None
        status = GpgStatus.parse(str(result.stderr or ""))
        reason = judge_decryption(
            status,
            plaintext_size=collector.size,
            max_plaintext_bytes=limit,
            accepted_keys=frozenset({self._bridge_fingerprint}),
            returncode=getattr(result, "returncode", None),
        )
        if reason is not None:
            # EFAIL: partial or unauthenticated plaintext must never be looked at.
            collector.discard()
            raise QuarantineError(reason)
        return Decryption(collector.plaintext(), status.signature())

    def decrypt_own(self, ciphertext: bytes) -> bytes:
        """Open what ``encrypt_to_self`` produced.

        Raises:
            FatalError: The stored ciphertext no longer opens with the bridge key.
        """
        try:
            # Stored raw mail may be as large as the message limit, beyond the plaintext limit.
            return self._decrypt(
                ciphertext, max(self.max_plaintext_bytes, 4 * len(ciphertext))
            ).plaintext
        except QuarantineError as err:
            raise FatalError(f"stored data does not open with the bridge key: {err}") from err

    # ------------------------------------------------------------------ verify

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        """Check a detached signature over ``signed``."""
        with tempfile.NamedTemporaryFile(prefix="tbs", suffix=".sig") as sig_file:
            sig_file.write(signature)
            sig_file.flush()
            with self._lock:
                result = self._gpg.verify_data(sig_file.name, signed)
        status = GpgStatus.parse(str(result.stderr or ""))
        return status.signature()

    # ------------------------------------------------------------------ encrypt and sign

    def encrypt_and_sign(self, plaintext: bytes, recipient_fingerprints: Sequence[str]) -> bytes:
        """Armoured ciphertext for the recipients (and the bridge), signed by the bridge key.

        Raises:
            SkippableError: A recipient key is unusable (expired, revoked, missing).
            FatalError: The bridge key cannot sign (wrong passphrase, missing secret key).
        """
        recipients = [re.sub(r"\s+", "", fp).upper() for fp in recipient_fingerprints]
        return self._encrypt(plaintext, [*recipients, self._bridge_fingerprint], sign=True)

    def encrypt_to_self(self, plaintext: bytes) -> bytes:
        """Ciphertext only the bridge key opens (how unencrypted mail is kept at rest)."""
        return self._encrypt(plaintext, [self._bridge_fingerprint], sign=False)

    def _encrypt(self, plaintext: bytes, recipients: list[str], *, sign: bool) -> bytes:
        unique = list(dict.fromkeys(recipients))
        with self._lock:
            result = self._gpg.encrypt_file(
                io.BytesIO(plaintext),
                unique,
                sign=self._bridge_fingerprint if sign else None,
                passphrase=self._passphrase,
                always_trust=True,
                armor=True,
            )
        status = GpgStatus.parse(str(result.stderr or ""))
        if status.has("INV_RECP") or status.has("KEYEXPIRED") or status.has("KEYREVOKED"):
            raise SkippableError(
                f"cannot encrypt to {', '.join(unique)}: a recipient key is unusable "
                f"({', '.join(status.values('INV_RECP')) or 'expired or revoked'})"
            )
        if sign and (status.has("INV_SGNR") or not status.has("SIG_CREATED")):
            raise FatalError(
                f"bridge key {self._bridge_fingerprint} could not sign "
                "(missing secret key or wrong passphrase)"
            )
        if not status.has("END_ENCRYPTION") or not result.data:
            raise FatalError(f"gpg did not finish encrypting to {', '.join(unique)}")
        return bytes(result.data)

    def sign_detached(self, data: bytes) -> bytes:
        """An armoured detached signature by the bridge key."""
        return self._sign(data, detach=True)

    def clearsign(self, data: bytes) -> bytes:
        """``data`` in an OpenPGP cleartext signature by the bridge key (e.g. security.txt)."""
        return self._sign(data, clearsign=True)

    def _sign(self, data: bytes, *, detach: bool = False, clearsign: bool = False) -> bytes:
        with self._lock:
            result = self._gpg.sign_file(
                io.BytesIO(data),
                keyid=self._bridge_fingerprint,
                passphrase=self._passphrase,
                clearsign=clearsign,
                detach=detach,
                binary=False,
            )
        status = GpgStatus.parse(str(result.stderr or ""))
        if not status.has("SIG_CREATED") or not result.data:
            raise FatalError(
                f"bridge key {self._bridge_fingerprint} could not sign "
                "(missing secret key or wrong passphrase)"
            )
        return bytes(result.data)

    def export_public_key(self) -> bytes:
        """The bridge's armoured public key (for ``application/pgp-keys`` and Autocrypt)."""
        with self._lock:
            exported = self._gpg.export_keys(self._bridge_fingerprint)
        return str(exported).encode("ascii")


def _encryption_capable_keys(colons: str, mbox: str) -> list[tuple[str, int]]:
    """Primary fingerprints (with creation time) of usable keys that carry a uid for ``mbox``."""
    found: list[tuple[str, int]] = []
    current: dict[str, Any] | None = None

    def close() -> None:
        if current and current["uid"] and current["fpr"] and "E" in current["caps"]:
            found.append((current["fpr"], current["created"]))

    for line in colons.splitlines():
        fields = line.split(":")
        kind = fields[0]
        if kind == "pub":
            close()
            validity = fields[1]
            usable = validity not in ("r", "e", "d", "i")
            current = {
                "fpr": None,
                "uid": False,
                "caps": fields[11] if usable and len(fields) > 11 else "",
                "created": int(fields[5]) if fields[5].isdigit() else 0,
            }
        elif current is not None and kind == "fpr" and current["fpr"] is None:
            current["fpr"] = fields[9].upper()
        elif (
            current is not None
            and kind == "uid"
            and fields[1] not in ("r", "e", "i")
            and _uid_mbox(fields[9]) == mbox
        ):
            current["uid"] = True
    close()
    return found


def _uid_mbox(uid: str) -> str:
    match = re.search(r"<([^<>]+)>\s*$", uid)
    return (match.group(1) if match else uid).strip().lower()


def keyring_exists(gnupghome: str | os.PathLike[str]) -> bool:
    """Whether ``gnupghome`` looks like a GnuPG home (used by configuration checks)."""
    home = Path(gnupghome)
    return home.is_dir() and any(
        (home / name).exists() for name in ("pubring.kbx", "pubring.gpg", "private-keys-v1.d")
    )

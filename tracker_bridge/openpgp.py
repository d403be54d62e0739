"""The OpenPGP adapter: real gpg, deciding only from gpg's status lines.

Keys are listed, imported and exported through python-gnupg. Every operation on message data
(decrypt, verify, encrypt, sign) runs gpg directly through one bounded runner instead
(``GnuPG._run_bounded``): python-gnupg offers no time limit, and those operations take a
stranger's ciphertext or a researcher's key, which must not be able to stall a pass.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gnupg

from tracker_bridge.errors import (
    BridgeError,
    ConfigurationError,
    FatalError,
    QuarantineError,
    RetriableError,
    SkippableError,
)
from tracker_bridge.ports.openpgp import Decryption, SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DEFAULT_GPG_TIMEOUT_SECONDS",
    "DEFAULT_MAX_PLAINTEXT_BYTES",
    "GnuPG",
    "GpgStatus",
    "judge_decryption",
]

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
# gpg options for the throwaway home a stranger's key data is examined in.
_SCRATCH_OPTIONS = ("--no-autostart", "--trust-model", "always", "--no-auto-check-trustdb")
_LEARNED_MEMO_SIZE = 1024
# How long a learned key's answer is reused: within a pass, not across a day of `run --every`.
_LEARNED_MEMO_SECONDS = 300.0
DEFAULT_GPG_TIMEOUT_SECONDS = 30.0
_READ_CHUNK = 64 * 1024
# Bytes offered to gpg's input per ready event; a non-blocking pipe takes what fits.
_PIPE_CHUNK = 64 * 1024
# gpg's status output for one message is a few kilobytes; more is noise, not information.
_MAX_STATUS_BYTES = 1024 * 1024
# While gpg's output is open its status pipe is emptied this often (seconds), not on every
# line: gpg writes status a line at a time, and each line woke the reading thread (and took
# the GIL from the thread storing the message before) about 25 times a decryption.
_STATUS_DRAIN_SECONDS = 0.01
# Beyond twice the input, room for armour, key packets and signatures of encrypt/sign output.
_OUTPUT_SLACK = 1024 * 1024
# Validity letters of ``--with-colons`` (GnuPG doc/DETAILS, field 2) worth telling the team.
_VALIDITY_WORDS = {"e": "expired", "r": "revoked", "d": "disabled", "i": "invalid"}


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
    line_breaks: int = 0,
) -> str | None:
    """Why a decryption must be thrown away, or None when gpg vouched for all of it.

    Status keywords are gpg's (``doc/DETAILS`` of GnuPG 2.2). Two tolerances exist, each
    bound to the exact sequence real gpg 2.2.40 prints and only where the decryption is
    complete and integrity-protected:

    - Armour without the CRC line (RFC 9580 section 6.1 makes it optional; OpenPGP.js v6 and
      the clients built on it omit it) whose base64 ends without ``=`` padding: gpg reads the
      letters of the END line as more base64 (GnuPG T7071) and prints ``NODATA 3`` after the
      literal data and ``NODATA 1`` after ``END_DECRYPTION``, exiting 2.
    - A text-mode literal packet (``PLAINTEXT 74``/``75``/``6d``, Enigmail's ``--textmode``):
      the announced length counts the CR of every CRLF, which gpg drops on output.

    Args:
        status: The parsed status lines of the ``gpg --decrypt`` run.
        plaintext_size: How many bytes gpg wrote to standard output.
        max_plaintext_bytes: The size limit.
        accepted_keys: Primary fingerprints whose secret keys may open reports (every secret
            key in the bridge keyring).
        returncode: gpg's exit code; used only to refuse, never to accept.
        line_breaks: How many LF bytes the output holds (bounds the CRs a text-mode packet
            may have lost).

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
    trailing_armour_junk = status.has("NODATA") and _only_trailing_armour_junk(status)
    if status.has("NODATA") and not trailing_armour_junk:
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
            return "decrypted with a key that is not the bridge key or an older bridge key"
    if status.count("PLAINTEXT") != 1:
        return "OpenPGP message does not hold exactly one literal data packet"
    if plaintext_size > max_plaintext_bytes or any(
        "max-output" in line for line in status.log_lines
    ):
        return f"decrypted output exceeds the limit of {max_plaintext_bytes} bytes"
    lengths = status.values("PLAINTEXT_LENGTH")
    if lengths and lengths[0].isdigit():
        announced = int(lengths[0])
        # gpg drops the CR of each CRLF when it writes a text-mode literal packet.
        dropped = announced - plaintext_size
        allowed = line_breaks if _literal_format(status) in _TEXT_FORMATS else 0
        if dropped > allowed:
            return "decrypted plaintext is shorter than announced (truncated)"
        if dropped < 0:
            return "decrypted plaintext is longer than announced"
    if plaintext_size == 0:
        return "decryption produced no plaintext"
    if (
        returncode not in (0, None)
        and not trailing_armour_junk
        and not any(status.has(k) for k in _SIGNATURE_KEYWORDS)
    ):
        return f"gpg exited with status {returncode} without naming a signature problem"
    return None


# PLAINTEXT's first field, the literal data format octet in hex (RFC 4880 section 5.9):
# 't' text, 'u' UTF-8 text, 'm' MIME (RFC 9580); 'b' binary is written byte for byte.
_TEXT_FORMATS = frozenset({"74", "75", "6d"})


def _pidfd(pid: int) -> int | None:
    """A descriptor that turns readable when process ``pid`` ends, or None where unsupported."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:
        # An older kernel (before 5.3) or a sandbox that forbids the call: wait() polls instead.
        return None


def _widen_pipe(fd: int) -> None:
    """Let the pipe at ``fd`` hold ``_MAX_STATUS_BYTES`` where Linux allows (``F_SETPIPE_SZ``).

    gpg's status is read on drain ticks while its output is open; a wide pipe means gpg
    never waits for one. Where the size cannot be set (another system, or over the user's
    pipe quota), the ticks alone keep gpg going.
    """
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _MAX_STATUS_BYTES)


def _output_cap(data: bytes) -> int:
    """Most bytes gpg may write when encrypting or signing ``data`` (armour is 4/3 of binary)."""
    return 2 * len(data) + _OUTPUT_SLACK


def _literal_format(status: GpgStatus) -> str:
    values = status.values("PLAINTEXT")
    return values[0].split()[0].lower() if values and values[0].split() else ""


def _only_trailing_armour_junk(status: GpgStatus) -> bool:
    """Whether every NODATA is the GnuPG T7071 echo of a CRC-less armour's END line.

    The exact sequence: ``NODATA 3`` (invalid packet) after the single literal packet was
    written and before ``END_DECRYPTION``'s block closed, ``NODATA 1`` (no armoured data)
    only after ``END_DECRYPTION``. Anything else (NODATA before the literal data, another
    code) means data is missing and stays refused.
    """
    keywords = [keyword for keyword, _ in status.lines]
    if "PLAINTEXT" not in keywords or "END_DECRYPTION" not in keywords:
        return False
    literal_at = keywords.index("PLAINTEXT")
    end_at = len(keywords) - 1 - keywords[::-1].index("END_DECRYPTION")
    for position, (keyword, value) in enumerate(status.lines):
        if keyword != "NODATA":
            continue
        code = value.split()[0] if value.split() else ""
        if code == "3" and position > literal_at:
            continue
        if code == "1" and position > end_at:
            continue
        return False
    return True


class _OutputCollector:
    """Receives gpg's output chunks; keeps at most the limit plus one byte, counts the rest.

    The output is a plaintext, a ciphertext or a signature. The chunks go into one growing
    buffer whose ``getvalue()`` hands that buffer over without copying it, so an output costs
    its own size once, not a list of chunks plus their join.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._buffer = io.BytesIO()

    def __call__(self, chunk: bytes) -> None:
        if chunk:
            if self.size <= self.limit:
                self._buffer.write(chunk)
            self.size += len(chunk)

    def discard(self) -> None:
        self._buffer = io.BytesIO()

    def output(self) -> bytes:
        output, self._buffer = self._buffer.getvalue(), io.BytesIO()
        return output


def _keep_status_lines(pending: bytearray, kept: bytearray, *, final: bool) -> None:
    """Move whole status lines from ``pending`` to ``kept`` while ``kept`` is under the cap.

    A line that starts under ``_MAX_STATUS_BYTES`` is kept whole; later ones are dropped.
    ``final`` also moves a last line without its newline (gpg ended).
    """
    while True:
        end = pending.find(b"\n")
        if end < 0:
            if final and pending:
                end = len(pending) - 1
            else:
                return
        line = bytes(pending[: end + 1])
        del pending[: end + 1]
        if len(kept) < _MAX_STATUS_BYTES:
            kept += line


@dataclass
class _GpgRun:
    """What one bounded gpg run left behind."""

    stderr: str = ""
    returncode: int | None = None
    timed_out: bool = False
    over_limit: bool = False
    # LF bytes in the kept output: bounds the CRs a text-mode literal packet may lose.
    line_breaks: int = 0


class GnuPG:
    """The bridge's OpenPGP operations with real gpg (implements ``ports.OpenPGP``).

    Args:
        gnupghome: The bridge's GnuPG home (holds its secret key and researchers' keys).
        passphrase: The bridge key's passphrase, or None for an unprotected key.
        bridge_fingerprint: The bridge key; None means the single secret key in the keyring.
        max_plaintext_bytes: Decryptions producing more than this are refused; gpg is stopped
            as soon as its output passes the limit (a compression bomb costs no more).
        gpgbinary: The gpg executable.
        gpg_timeout: Seconds one gpg run on message data may take before gpg is stopped: a
            decryption or verification is then quarantined, an encryption or signature raises
            ``RetriableError``.

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
        gpg_timeout: float = DEFAULT_GPG_TIMEOUT_SECONDS,
    ) -> None:
        self._home = str(gnupghome)
        self._passphrase = passphrase or None
        self.max_plaintext_bytes = max_plaintext_bytes
        self.gpg_timeout = gpg_timeout
        self._gpgbinary = gpgbinary
        self._lock = threading.Lock()
        # C locale: the one human log line we look at ("max-output") must not be translated.
        env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C"}
        self._env = env
        # What every bounded run hands to Popen, worked out once: the gpg found on PATH now
        # (the child then makes one execve, not one per PATH entry) and the encoded environment.
        self._gpg_path = shutil.which(gpgbinary) or gpgbinary
        self._env_bytes = {os.fsencode(name): os.fsencode(value) for name, value in env.items()}
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
            msg = f"cannot run gpg ({gpgbinary}) with home {self._home}: {err}"
            raise ConfigurationError(msg) from err
        self._bridge_fingerprint = self._find_bridge_key(bridge_fingerprint)
        self._secret_keys: dict[str, str] = {}
        # (SHA-256 of the key data, address) -> the fingerprint learn_key learned from exactly
        # those bytes, and until when (monotonic seconds) that answer is reused: Thunderbird
        # announces the same key in every mail (Autocrypt).
        self._learned: dict[tuple[bytes, str], tuple[str, float]] = {}

    # ------------------------------------------------------------------ keys

    def _secret_fingerprints(self) -> list[str]:
        keys = self._gpg.list_keys(secret=True)
        return [str(key["fingerprint"]).upper() for key in keys]

    def _decryption_keys(self, refresh: bool = False) -> dict[str, str]:
        """Every secret key of the bridge keyring (primary fingerprint -> validity letter).

        Any of them may decrypt: the configured fingerprint only chooses the key that signs
        and is published; keys rotated out, expired or revoked still open old mail.
        """
        if refresh or not self._secret_keys:
            with self._lock:
                keys = self._gpg.list_keys(secret=True)
            self._secret_keys = {
                str(key["fingerprint"]).upper(): str(key.get("trust") or "") for key in keys
            }
        return self._secret_keys

    def _find_bridge_key(self, wanted: str | None) -> str:
        secrets = self._secret_fingerprints()
        if wanted is not None:
            compact = re.sub(r"\s+", "", wanted).upper()
            if compact not in secrets:
                msg = f"bridge key {compact} has no secret key in GnuPG home {self._home}"
                raise ConfigurationError(msg)
            return compact
        if len(secrets) != 1:
            msg = (
                f"GnuPG home {self._home} holds {len(secrets)} secret keys; "
                "name the bridge key fingerprint in the configuration"
            )
            raise ConfigurationError(msg)
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

    def delete_public_key(self, fingerprint: str) -> bool:
        """Remove a researcher's public key from the bridge keyring (an erasure request).

        The bridge's own key is never removed. Returns whether a key was there and is gone.
        """
        compact = re.sub(r"\s+", "", fingerprint).upper()
        if compact == self.bridge_fingerprint.upper() or not self.has_key(compact):
            return False
        with self._lock:
            self._gpg.delete_keys(compact)
        return not self.has_key(compact)

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        """Import only the uid that matches ``address``; its fingerprint, or None if no match.

        The key material is first imported into a throwaway keyring with every other user id
        filtered out, so nothing the sender attached beyond that one identity reaches the
        bridge keyring (no secret keys, no foreign uids, no unrelated keys).
        """
        memo = (hashlib.sha256(key_data).digest(), address.strip().lower())
        remembered = self._learned.get(memo)
        # The same bytes give the same answer for a while (a key's validity moves with time);
        # the key must still be in the keyring with this address's uid (an erasure or
        # `forget` may have removed it since, and the same key learned again for another of
        # its addresses keeps only that uid).
        if (
            remembered is not None
            and time.monotonic() < remembered[1]
            and memo[1] in self.key_addresses(remembered[0])
        ):
            return remembered[0]
        match = self._match_in_scratch(key_data, address)
        if match is None:
            # Not remembered: a key dated a few seconds ahead of this clock matches soon.
            return None
        fingerprint, public, keep = match
        with self._lock:
            result = self._gpg.import_keys(
                public,
                extra_args=["--import-options", "import-minimal", "--import-filter", keep],
            )
        imported = {str(fp).upper() for fp in result.fingerprints if fp}
        learned = fingerprint if fingerprint in imported or self.has_key(fingerprint) else None
        if learned is not None:
            if len(self._learned) >= _LEARNED_MEMO_SIZE:
                self._learned.clear()
            self._learned[memo] = (learned, time.monotonic() + _LEARNED_MEMO_SECONDS)
        return learned

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
            # No gpg-agent in the scratch home (--no-autostart): public keys need none, a
            # secret key in the stranger's data then cannot be imported even there, and
            # starting and stopping an agent was 50-80 ms of every key learned.
            self._run_gpg(
                scratch,
                [
                    *_SCRATCH_OPTIONS,
                    "--import-options",
                    "import-minimal",
                    "--import-filter",
                    keep,
                    "--import",
                ],
                key_data,
            )
            listing = self._run_gpg(
                scratch, [*_SCRATCH_OPTIONS, "--with-colons", "--list-keys"], b""
            ).stdout
            candidates = _encryption_capable_keys(listing.decode("utf-8", "replace"), mbox)
            if not candidates:
                return None
            # Several matching keys: the newest is the one the researcher uses now.
            fingerprint = max(candidates, key=lambda item: item[1])[0]
            public = self._run_gpg(
                scratch, [*_SCRATCH_OPTIONS, "--export", fingerprint], b""
            ).stdout
            if not public:
                return None
            return fingerprint, public, keep
        finally:
            if any(Path(scratch).glob("S.*")):
                # A daemon started anyway (a gpg that ignores --no-autostart): stop it.
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
            msg = f"gpg failed while examining an attached key: {err}"
            raise SkippableError(msg) from err

    # ------------------------------------------------------------------ decrypt

    def decrypt(self, ciphertext: bytes) -> Decryption:
        """Decrypt and verify, or raise QuarantineError naming the reason (no partial output)."""
        return self._decrypt(ciphertext, self.max_plaintext_bytes)

    def _decrypt(self, ciphertext: bytes, limit: int) -> Decryption:
        collector = _OutputCollector(limit)
        with self._lock:
            run = self._run_bounded_decrypt(ciphertext, collector)
        if run.timed_out:
            collector.discard()
            msg = f"gpg took longer than {self.gpg_timeout:g} s; stopped"
            raise QuarantineError(msg)
        if run.over_limit:
            collector.discard()
            msg = f"decrypted output exceeds the limit of {limit} bytes"
            raise QuarantineError(msg)
        status = GpgStatus.parse(run.stderr)
        primaries = [
            parts[1].upper()
            for parts in (v.split() for v in status.values("DECRYPTION_KEY"))
            if len(parts) >= 2
        ]
        known = self._decryption_keys()
        if any(primary not in known for primary in primaries):
            # A key added since the last listing (rotation while running) is still ours.
            known = self._decryption_keys(refresh=True)
        reason = judge_decryption(
            status,
            plaintext_size=collector.size,
            max_plaintext_bytes=limit,
            accepted_keys=frozenset(known),
            returncode=run.returncode,
            line_breaks=run.line_breaks,
        )
        if reason is not None:
            # EFAIL: partial or unauthenticated plaintext must never be looked at.
            collector.discard()
            raise QuarantineError(reason)
        older = [p for p in primaries if p != self._bridge_fingerprint]
        older_key = None
        if older:
            state = _VALIDITY_WORDS.get(known.get(older[0], ""), "")
            older_key = f"{older[0]} ({state})" if state else older[0]
        return Decryption(collector.output(), status.signature(), older_key)

    def _run_bounded_decrypt(self, ciphertext: bytes, sink: _OutputCollector) -> _GpgRun:
        """Run ``gpg --decrypt`` with a wall-clock limit; stop it once output passes the limit.

        python-gnupg offers neither a time limit nor a handle on the process, so the
        operations on researchers' data run gpg directly (same options, passphrase on fd 0 as
        python-gnupg sends it).
        """
        return self._run_bounded(["--decrypt"], ciphertext, sink, passphrase=True)

    def _run_bounded(
        self,
        operation: list[str],
        data: bytes,
        sink: _OutputCollector,
        *,
        passphrase: bool,
        verb: str = "decrypt",
        unrunnable: type[BridgeError] = QuarantineError,
    ) -> _GpgRun:
        """Run one gpg ``operation`` on ``data`` within ``gpg_timeout`` and ``sink.limit``.

        Raises:
            BridgeError: ``unrunnable`` ("gpg could not be run to ``verb``") when gpg cannot
                be started.
        """
        command = [
            self._gpg_path,
            "--homedir",
            self._home,
            "--batch",
            "--no-tty",
            "--status-fd",
            "2",
            "--pinentry-mode",
            "loopback",
            "--no-auto-key-retrieve",
            "--no-auto-key-locate",
            "--trust-model",
            "always",
            "--no-greeting",
            # A backstop only: gpg's own limit stops writing but keeps decompressing (a 2 GB
            # bomb still costs it 13 s), so the reader below stops gpg once it passes the limit.
            "--max-output",
            str(2 * sink.limit + _READ_CHUNK),
        ]
        stdin = data
        if passphrase and self._passphrase is not None:
            command += ["--passphrase-fd", "0"]
            # The same bytes python-gnupg sends for signing, so one passphrase works for both.
            encoding = str(getattr(self._gpg, "encoding", "utf-8"))
            stdin = self._passphrase.encode(encoding) + b"\n" + data
        command += operation
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env_bytes,
            )
        except OSError as err:
            msg = f"gpg could not be run to {verb}: {err}"
            raise unrunnable(msg) from err
        run = _GpgRun()
        try:
            self._pump(process, stdin, sink, run)
        finally:
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        return run

    def _pump(
        self,
        process: subprocess.Popen[bytes],
        stdin: bytes,
        sink: _OutputCollector,
        run: _GpgRun,
    ) -> None:
        """Feed gpg's input and drain its output and status in this thread, within the limits.

        One ``selectors`` loop instead of a thread per pipe and a polling ``wait``: a polled
        wait sleeps in doubling steps (0.5, 1, 2, 4 ms ...), which added several ms to every
        message of a few ms of gpg work. gpg's exit is waited for in the same loop through a
        pidfd (Linux 5.3+; ``os.pidfd_open``), so the time limit covers it without polling;
        where there is none, ``wait`` with the time left (which polls) is the fallback.
        gpg's status is read once its output is done, and on ticks of
        ``_STATUS_DRAIN_SECONDS`` before that (so status beyond what the pipe holds never
        stalls gpg), not on every line. ``run`` gets the status text (whole lines up to
        ``_MAX_STATUS_BYTES``), the line breaks in the kept output, and whether the time or
        the output limit stopped gpg.
        """
        assert process.stdin is not None  # noqa: S101 - Popen was given PIPE
        assert process.stdout is not None  # noqa: S101 - Popen was given PIPE
        assert process.stderr is not None  # noqa: S101 - Popen was given PIPE
        deadline = time.monotonic() + self.gpg_timeout
        status = bytearray()
        kept = bytearray()
        view = memoryview(stdin)
        written = 0
        exited = _pidfd(process.pid)
        stderr = process.stderr
        status_fd = stderr.fileno()
        os.set_blocking(status_fd, False)
        _widen_pipe(status_fd)
        # None while status is read on drain ticks only; True once it is watched; False at EOF.
        watching_status: bool | None = None

        def drain_status() -> bool:
            """Read what gpg's status pipe holds now; False at its end."""
            while True:
                try:
                    chunk = os.read(status_fd, _READ_CHUNK)
                except BlockingIOError:
                    return True
                if not chunk:
                    return False
                status.extend(chunk)
                _keep_status_lines(status, kept, final=False)

        with contextlib.ExitStack() as cleanup, selectors.DefaultSelector() as selector:
            if exited is not None:
                cleanup.callback(os.close, exited)
                selector.register(exited, selectors.EVENT_READ)
            if stdin:
                os.set_blocking(process.stdin.fileno(), False)
                selector.register(process.stdin, selectors.EVENT_WRITE)
            else:
                process.stdin.close()
            selector.register(process.stdout, selectors.EVENT_READ)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    run.timed_out = True
                    process.kill()
                    break
                ticking = watching_status is None
                ready = selector.select(
                    min(remaining, _STATUS_DRAIN_SECONDS) if ticking else remaining
                )
                if not ready and ticking:
                    # gpg may have written more status than its pipe holds; empty it.
                    if not drain_status():
                        watching_status = False
                    continue
                for key, _events in ready:
                    stream = key.fileobj
                    if key.fd == exited:
                        # gpg ended; the pipes are read to their end before the loop stops.
                        selector.unregister(stream)
                        continue
                    if stream is process.stdin:
                        try:
                            written += os.write(key.fd, view[written : written + _PIPE_CHUNK])
                        except (BrokenPipeError, OSError):
                            # gpg stopped reading (it failed, or it was stopped): its status
                            # says why.
                            written = len(view)
                        if written >= len(view):
                            selector.unregister(stream)
                            with contextlib.suppress(OSError):
                                process.stdin.close()
                        continue
                    if stream is stderr:
                        if not drain_status():
                            selector.unregister(stream)
                        continue
                    chunk = os.read(key.fd, _READ_CHUNK)
                    if chunk:
                        if sink.size <= sink.limit:
                            run.line_breaks += chunk.count(b"\n")
                        sink(chunk)
                        if sink.size > sink.limit:
                            run.over_limit = True
                            process.kill()
                    if not chunk or run.over_limit:
                        selector.unregister(stream)
                        if watching_status is None:
                            # The output is done (or given up): the last status lines come now.
                            watching_status = True
                            selector.register(stderr, selectors.EVENT_READ)
        view.release()
        _keep_status_lines(status, kept, final=True)
        run.stderr = kept.decode("utf-8", "replace")
        if run.timed_out:
            run.returncode = process.wait()
            return
        try:
            run.returncode = process.wait(timeout=max(deadline - time.monotonic(), 0.001))
        except subprocess.TimeoutExpired:
            # gpg closed its pipes but did not end within the time left.
            run.timed_out = True
            process.kill()
            run.returncode = process.wait()

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
            msg = f"stored data does not open with the bridge key: {err}"
            raise FatalError(msg) from err

    # ------------------------------------------------------------------ verify

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        """Check a detached signature over ``signed``.

        Raises:
            QuarantineError: gpg took longer than ``gpg_timeout``.
        """
        with tempfile.NamedTemporaryFile(prefix="tbs", suffix=".sig") as sig_file:
            sig_file.write(signature)
            sig_file.flush()
            with self._lock:
                # gpg writes nothing to standard output when verifying; any output is refused.
                run = self._run_bounded(
                    ["--verify", sig_file.name, "-"],
                    signed,
                    _OutputCollector(0),
                    passphrase=False,
                )
        if run.timed_out:
            msg = f"gpg took longer than {self.gpg_timeout:g} s; stopped"
            raise QuarantineError(msg)
        return GpgStatus.parse(run.stderr).signature()

    # ------------------------------------------------------------------ encrypt and sign

    def encrypt_and_sign(self, plaintext: bytes, recipient_fingerprints: Sequence[str]) -> bytes:
        """Armoured ciphertext for the recipients (and the bridge), signed by the bridge key.

        Raises:
            SkippableError: A recipient key is unusable (expired, revoked, missing).
            FatalError: The bridge key cannot sign (wrong passphrase, missing secret key), gpg
                cannot be run, or it did not finish.
            RetriableError: gpg took longer than ``gpg_timeout`` (stopped; e.g. a recipient
                key that makes gpg hang).
        """
        recipients = [re.sub(r"\s+", "", fp).upper() for fp in recipient_fingerprints]
        return self._encrypt(plaintext, [*recipients, self._bridge_fingerprint], sign=True)

    def encrypt_to_self(self, plaintext: bytes) -> bytes:
        """Ciphertext only the bridge key opens (how unencrypted mail is kept at rest).

        Raises:
            FatalError: gpg could not encrypt to the bridge key, or cannot be run.
            RetriableError: gpg took longer than ``gpg_timeout`` (stopped).
        """
        return self._encrypt(plaintext, [self._bridge_fingerprint], sign=False)

    def _encrypt(self, plaintext: bytes, recipients: list[str], *, sign: bool) -> bytes:
        unique = list(dict.fromkeys(recipients))
        operation = ["--armor", "--encrypt"]
        for recipient in unique:
            operation += ["--recipient", recipient]
        if sign:
            # --local-user, not python-gnupg's --default-key: gpg signs with exactly this key or
            # fails (INV_SGNR); --default-key falls back to another secret key when this one is
            # unusable (revoked, expired), and costs an extra secret-key probe (0.2 ms of
            # gpg-agent CPU per mail).
            operation += ["--sign", "--local-user", self._bridge_fingerprint]
        sink = _OutputCollector(_output_cap(plaintext))
        run = self._run_producing(operation, plaintext, sink, passphrase=sign, verb="encrypt")
        status = GpgStatus.parse(run.stderr)
        if status.has("INV_RECP") or status.has("KEYEXPIRED") or status.has("KEYREVOKED"):
            msg = (
                f"cannot encrypt to {', '.join(unique)}: a recipient key is unusable "
                f"({', '.join(status.values('INV_RECP')) or 'expired or revoked'})"
            )
            raise SkippableError(msg)
        if sign and (status.has("INV_SGNR") or not status.has("SIG_CREATED")):
            msg = (
                f"bridge key {self._bridge_fingerprint} could not sign "
                "(missing secret key or wrong passphrase)"
            )
            raise FatalError(msg)
        ciphertext = sink.output()
        if not status.has("END_ENCRYPTION") or not ciphertext:
            msg = f"gpg did not finish encrypting to {', '.join(unique)}"
            raise FatalError(msg)
        return ciphertext

    def sign_detached(self, data: bytes) -> bytes:
        """An armoured detached signature by the bridge key.

        Raises:
            FatalError: The bridge key cannot sign, or gpg cannot be run.
            RetriableError: gpg took longer than ``gpg_timeout`` (stopped).
        """
        return self._sign(data, "--detach-sign")

    def clearsign(self, data: bytes) -> bytes:
        """``data`` in an OpenPGP cleartext signature by the bridge key (e.g. security.txt).

        Raises:
            FatalError: The bridge key cannot sign, or gpg cannot be run.
            RetriableError: gpg took longer than ``gpg_timeout`` (stopped).
        """
        return self._sign(data, "--clearsign")

    def _sign(self, data: bytes, mode: str) -> bytes:
        operation = ["--armor", "--local-user", self._bridge_fingerprint, mode]
        sink = _OutputCollector(_output_cap(data))
        run = self._run_producing(operation, data, sink, passphrase=True, verb="sign")
        status = GpgStatus.parse(run.stderr)
        signed = sink.output()
        if not status.has("SIG_CREATED") or not signed:
            msg = (
                f"bridge key {self._bridge_fingerprint} could not sign "
                "(missing secret key or wrong passphrase)"
            )
            raise FatalError(msg)
        return signed

    def _run_producing(
        self,
        operation: list[str],
        data: bytes,
        sink: _OutputCollector,
        *,
        passphrase: bool,
        verb: str,
    ) -> _GpgRun:
        """Run an encrypting or signing ``operation`` through the bounded runner.

        python-gnupg (kept for listing, importing and exporting keys) has no time limit and
        starts three threads per call; these operations take a researcher's key, which is
        stranger-controlled input, so like decryption they run gpg directly within
        ``gpg_timeout`` and an output cap of ``sink.limit`` bytes.

        Raises:
            FatalError: gpg cannot be run, or it wrote more than ``sink.limit`` bytes.
            RetriableError: gpg took longer than ``gpg_timeout`` (it was stopped).
        """
        with self._lock:
            run = self._run_bounded(
                operation, data, sink, passphrase=passphrase, verb=verb, unrunnable=FatalError
            )
        if run.timed_out:
            sink.discard()
            msg = f"gpg took longer than {self.gpg_timeout:g} s to {verb}; stopped"
            raise RetriableError(msg)
        if run.over_limit:
            sink.discard()
            msg = f"gpg wrote more than {sink.limit} bytes to {verb}; stopped"
            raise FatalError(msg)
        return run

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

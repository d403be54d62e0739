"""Keys and floors shared by bench/ingest.py and bench/notify.py.

The product runs with the bridge key made the way ``tracker-bridge init`` makes it: the same
code (``tracker_bridge.bridge_key``), a generated passphrase, whatever S2K protection that
code gives the key today. The floors run with an unlocked copy of the same key (no
passphrase, no S2K derivation per operation), because gpg-agent caches passphrases, not
unlocked keys: a floor that pays the key's protection again repeats the product's biggest
cost and hides the gap. The in-process floor uses ``pysequoia`` when it is installed in the
environment (a reference line only; the bridge does not depend on it).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker_bridge import bridge_key
from tracker_bridge._testsupport.keys import remove_gnupghome, stop_agent

_S2K_COUNT = re.compile(rb'\(sha1\s+(?:#[0-9A-Fa-f]+#|"(?:[^"\\]|\\.)*")\s*"(\d+)"\s*\)', re.DOTALL)


# The options the bridge's GnuPG adapter gives every gpg run (tracker_bridge/openpgp.py), so a
# floor asks gpg for exactly the work the product asks for (no trust-database walk, no fetch).
PRODUCT_OPTIONS = (
    "--batch",
    "--no-tty",
    "--quiet",
    "--status-fd",
    "2",
    "--trust-model",
    "always",
    "--no-auto-key-retrieve",
    "--no-auto-key-locate",
)


@dataclass(frozen=True)
class BridgeKeys:
    """The bridge key as ``init`` makes it, and an unlocked copy of the same key for floors."""

    home: str
    fingerprint: str
    passphrase: str
    unlocked_home: str
    protection: str

    def remove(self) -> None:
        """Stop both homes' agents and delete them."""
        remove_gnupghome(self.home)
        remove_gnupghome(self.unlocked_home)


def init_bridge_key(uid: str, s2k_count: int | None = None) -> BridgeKeys:
    """Make the bridge key through init's own code path, plus an unlocked copy of it.

    ``bridge_key.create_bridge_key`` makes the key exactly as ``init`` does (a generated
    passphrase, ``s2k-count 65536``). ``s2k_count`` then re-protects it at another count
    (``s2k-count`` in the home's gpg-agent.conf and ``gpg --passwd``), e.g. gpg-agent's
    calibration for a passphrase a person chose.
    """
    home = Path(tempfile.mkdtemp(prefix="tbbi", dir="/tmp"))
    made = bridge_key.create_bridge_key(home, uid)
    fingerprint, passphrase = made.fingerprint, made.passphrase
    if s2k_count is not None:
        conf = home / "gpg-agent.conf"
        kept = [line for line in conf.read_text().splitlines() if not line.startswith("s2k-count")]
        conf.write_text("\n".join([*kept, f"s2k-count {s2k_count}", ""]), encoding="ascii")
        stop_agent(str(home))
        _gpg(
            str(home),
            "--command-fd",
            "0",
            "--passwd",
            fingerprint,
            stdin=f"{passphrase}\n{passphrase}\n{passphrase}\n".encode(),
        )
    counts = sorted(
        {int(m.group(1)) for f in home.glob("private-keys-v1.d/*.key") for m in _s2k_matches(f)}
    )
    protection = f"passphrase, S2K count {', '.join(str(c) for c in counts) or 'unknown'}" + (
        " (gpg-agent's minimum)" if counts == [65536] else ""
    )
    return BridgeKeys(
        str(home),
        fingerprint,
        passphrase,
        _unlocked_copy(str(home), fingerprint, passphrase),
        protection,
    )


def _s2k_matches(key_file: Path) -> Iterable[re.Match[bytes]]:
    data = key_file.read_bytes()
    return _S2K_COUNT.finditer(data) if b"protected-private-key" in data else ()


def _gpg(home: str, *args: str, stdin: bytes = b"") -> bytes:
    # Passphrases go as --passphrase=VALUE: a generated one may start with "-".
    done = subprocess.run(
        [
            "gpg",
            "--homedir",
            home,
            "--batch",
            "--yes",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            *args,
        ],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"gpg {' '.join(args[:3])} failed: {done.stderr.decode(errors='replace')[-500:]}"
        )
    return done.stdout


def _unlocked_copy(home: str, fingerprint: str, passphrase: str) -> str:
    """A second home holding the same key with its protection removed (``--passwd`` to empty)."""
    secret = _gpg(home, f"--passphrase={passphrase}", "--export-secret-keys", fingerprint)
    unlocked = tempfile.mkdtemp(prefix="tbbu", dir="/tmp")
    Path(unlocked, "gpg-agent.conf").write_text("allow-loopback-pinentry\n", encoding="ascii")
    _gpg(unlocked, f"--passphrase={passphrase}", "--import", stdin=secret)
    # With --command-fd the agent's loopback asks come one line each: old, new, new again.
    _gpg(
        unlocked, "--command-fd", "0", "--passwd", fingerprint, stdin=f"{passphrase}\n\n\n".encode()
    )
    if any(
        b"protected-private-key" in f.read_bytes()
        for f in Path(unlocked).glob("private-keys-v1.d/*.key")
    ):
        raise SystemExit("could not make an unlocked copy of the bridge key")
    return unlocked


def export_secret_key(keys: BridgeKeys) -> bytes:
    """The bridge's secret key (passphrase-protected OpenPGP export) for the in-process floor."""
    return _gpg(
        keys.home, f"--passphrase={keys.passphrase}", "--export-secret-keys", keys.fingerprint
    )


def sequoia() -> Any | None:
    """The ``pysequoia`` module if installed, else None (the floor line then says so)."""
    try:
        import pysequoia  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return pysequoia


@dataclass
class Timings:
    """Seconds per message for one way of doing the work, gathered chunk by chunk."""

    label: str
    seconds: float = 0.0
    count: int = 0
    per_chunk: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, seconds: float, count: int) -> None:
        """Record one timed chunk of ``count`` messages."""
        self.seconds += seconds
        self.count += count
        self.per_chunk.append(seconds / max(count, 1))

    def time(self, count: int, work: Callable[[], object]) -> None:
        """Run ``work`` (``count`` messages) and record how long it took."""
        started = time.perf_counter()
        work()
        self.add(time.perf_counter() - started, count)

    @property
    def per_message_ms(self) -> float:
        """Mean milliseconds per message over every chunk."""
        return 1000 * self.seconds / self.count if self.count else float("nan")

    @property
    def median_chunk_ms(self) -> float:
        """Median over chunks of the per-message milliseconds (robust to one loaded chunk)."""
        return 1000 * statistics.median(self.per_chunk) if self.per_chunk else float("nan")

    def line(self, product: Timings | None = None) -> str:
        """One printed line: rate, ms per message, and the product's ratio to this floor."""
        if not self.count:
            return f"  {self.label:54s} {self.note}"
        rate = self.count / self.seconds
        text = (
            f"  {self.label:54s} {rate:8.1f}/s  {self.per_message_ms:7.2f} ms/msg "
            f"(median chunk {self.median_chunk_ms:6.2f})"
        )
        if product is not None and product is not self:
            text += (
                f"  product = {product.seconds / product.count / (self.seconds / self.count):6.2f}x"
            )
        return text + (f"  {self.note}" if self.note else "")

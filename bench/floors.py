"""Keys, floors, options and timing shared by bench/ingest.py and bench/notify.py.

The product runs with the bridge key made the way ``tracker-bridge init`` makes it: the same
code (``tracker_bridge.bridge_key``), a generated passphrase, whatever S2K protection that
code gives the key today. The floors run with an unlocked copy of the same key (no
passphrase, no S2K derivation per operation), because gpg-agent caches passphrases, not
unlocked keys: a floor that pays the key's protection again repeats the product's biggest
cost and hides the gap. The in-process floor uses ``pysequoia`` when it is installed in the
environment (a reference line only; the bridge does not depend on it).

Every line is timed in wall-clock time and in CPU time: this process (all its threads), the
gpg processes it ran and waited for, and the gpg-agent of the key's home (which does the
secret-key work and is not a child), so overlapping work shows as less wall time, not as
less work.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker_bridge import bridge_key
from tracker_bridge._testsupport.keys import (
    TestKey,
    export_public_key,
    generate_key,
    import_key,
    make_gnupghome,
    remove_gnupghome,
    stop_agent,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable

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
        msg = f"gpg {' '.join(args[:3])} failed: {done.stderr.decode(errors='replace')[-500:]}"
        raise SystemExit(msg)
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
        msg = "could not make an unlocked copy of the bridge key"
        raise SystemExit(msg)
    return unlocked


def add_key_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--locked-every`` and ``--s2k-count`` (how the bridge key is made and sampled).

    ``--locked-every N`` times the per-process floor with the key as init protects it on one
    message or mail in N (0: not at all); ``--s2k-count C`` re-protects init's key at C.
    Pass ``arguments.s2k_count`` to ``init_bridge_key`` and ``arguments.locked_every`` to
    the run.
    """
    parser.add_argument(
        "--locked-every",
        type=int,
        default=10,
        help="time the protected-key gpg floor on one message or mail in this many (0: not at all)",
    )
    parser.add_argument(
        "--s2k-count",
        type=int,
        default=None,
        help="re-protect init's key at this S2K count (e.g. 400000000: about the calibration a chosen passphrase keeps)",
    )


def researcher_key(keys: BridgeKeys, name: str, address: str, prefix: str = "tbq") -> TestKey:
    """A researcher's key pair in a new home, its public key known to both bridge homes.

    The researcher's home knows the bridge's public key too, so it can encrypt to the bridge.
    Remove it with ``remove_gnupghome(researcher.gnupghome)``.
    """
    researcher = generate_key(make_gnupghome(prefix), name, address)
    import_key(researcher.gnupghome, export_public_key(keys.home, keys.fingerprint))
    public = export_public_key(researcher.gnupghome, researcher.fingerprint)
    import_key(keys.home, public)
    import_key(keys.unlocked_home, public)
    return researcher


def run_rotated(steps: list[Callable[[], object]], number: int) -> None:
    """Run one chunk's ``steps``, starting at step ``number`` modulo their count.

    Rotating the order per chunk means no line always runs right after another's cache
    warm-up, and machine load hits every line alike.
    """
    shift = number % len(steps)
    for step in steps[shift:] + steps[:shift]:
        step()


def print_figures(
    title: str, keys: BridgeKeys, product: Timings, floors: Iterable[Timings], goal: Goal
) -> None:
    """Print the run: title, key protection, the product line, each floor with the ratio, goal."""
    print(title)
    print(f"  bridge key: {keys.protection}")
    print(product.line())
    for floor in floors:
        print(floor.line(product))
    print(goal.line(product))


@dataclass(frozen=True)
class Goal:
    """A goal: the product's wall time per message at most ``ratio`` times ``floor``'s."""

    ratio: float
    floor: Timings
    text: str

    def line(self, product: Timings) -> str:
        """``goal: <text>: 1.23x (met)``, and the same ratio in CPU time."""
        wall = product.per_message_ms / self.floor.per_message_ms
        cpu = product.cpu_per_message_ms / self.floor.cpu_per_message_ms
        verdict = "met" if wall <= self.ratio else "MISSED"
        return (
            f"  goal: {self.text} <= {self.ratio}x: {wall:.2f}x wall ({verdict}); "
            f"{cpu:.2f}x in CPU time"
        )


def agent_pids(*homes: str) -> list[int]:
    """The pids of the gpg-agents serving ``homes`` (read from /proc; empty where none runs)."""
    wanted = {os.path.realpath(home) for home in homes}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not words or not words[0].endswith(b"gpg-agent") or b"--homedir" not in words:
            continue
        home = words[words.index(b"--homedir") + 1].decode(errors="replace")
        if os.path.realpath(home) in wanted:
            found.append(int(entry.name))
    return found


def _agent_cpu(pids: Iterable[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        # utime and stime: fields 14 and 15 of proc(5), 12 and 13 after the command name.
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def cpu_seconds(agents: Iterable[int] = ()) -> tuple[float, float]:
    """CPU seconds so far: (this process's threads, waited-for children + the given agents)."""
    times = os.times()
    return time.process_time(), times.children_user + times.children_system + _agent_cpu(agents)


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
    # gpg-agent pids whose CPU time counts for this line (``agent_pids``).
    agents: tuple[int, ...] = ()
    # CPU seconds: this process's threads, and gpg (children waited for + agents).
    own_cpu: float = 0.0
    gpg_cpu: float = 0.0

    def add(self, seconds: float, count: int) -> None:
        """Record one timed chunk of ``count`` messages."""
        self.seconds += seconds
        self.count += count
        self.per_chunk.append(seconds / max(count, 1))

    def time(self, count: int, work: Callable[[], object]) -> None:
        """Run ``work`` (``count`` messages) and record its wall and CPU time."""
        own, gpg = cpu_seconds(self.agents)
        started = time.perf_counter()
        work()
        elapsed = time.perf_counter() - started
        own_after, gpg_after = cpu_seconds(self.agents)
        self.own_cpu += own_after - own
        self.gpg_cpu += gpg_after - gpg
        self.add(elapsed, count)

    @property
    def cpu_per_message_ms(self) -> float:
        """Mean CPU milliseconds per message: ours plus gpg's (processes and agent)."""
        return 1000 * (self.own_cpu + self.gpg_cpu) / self.count if self.count else float("nan")

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
        own, gpg = (1000 * c / self.count for c in (self.own_cpu, self.gpg_cpu))
        text = (
            f"  {self.label:54s} {rate:8.1f}/s  wall {self.per_message_ms:6.2f} ms/msg "
            f"(median chunk {self.median_chunk_ms:6.2f})  "
            f"CPU {own + gpg:6.2f} ms/msg (python {own:5.2f}, gpg {gpg:5.2f})"
        )
        if product is not None and product is not self:
            text += f"  product = {product.per_message_ms / self.per_message_ms:6.2f}x wall"
        return text + (f"  {self.note}" if self.note else "")

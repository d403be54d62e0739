"""Benchmark: ingest 1,000 PGP/MIME reports into SQLite, beside the true floors of decryption.

Run: ``python bench/ingest.py [--count N]``. It makes the bridge key through ``init``'s own
code (``bench/floors.py``: generated passphrase, the S2K protection init gives it), an unlocked
copy of that key, a researcher key and N KMail-shaped PGP/MIME reports (signed and
encrypted; not timed). Then, interleaved 50 messages at a time in rotating order so machine
load hits every line alike, it times

- ingest (the product): the real MailReader + GnuPG adapter + Ingest service write every
  report to a new SQLite store, with the fake tracker opening issues, key as init protects it;
- ingest, Thunderbird-shaped: the same reports as Thunderbird writes them, an Autocrypt key
  in every mail (one researcher: the key is examined in a scratch home once, then recognised),
  into a third store;
- ingest one message at a time: the same, each message read only when the one before is
  stored (``Ingest.ingest`` in a loop, no read-ahead), into a second store: what overlapping
  the next message's gpg work with this one's bookkeeping gains;
- per-process gpg, unlocked key: one ``gpg --decrypt`` per message (the goal's floor:
  ingest <= 1.5x this);
- one gpg for many messages, unlocked key: one ``gpg --decrypt-files`` per 50 messages;
- in-process: ``pysequoia`` decrypting each message in this process, when the package is
  installed (a reference line; the bridge does not use it; signatures are not verified there);
- per-process gpg, key as init protects it: what every message pays for the key's S2K
  derivation today (timed on one message in ``--locked-every``).

Memory (``--skip-memory`` to skip): in a fresh interpreter (a new ``python`` started for the
purpose; its peak is read from the kernel's VmHWM after resetting it, so nothing inherited
from this process counts), it ingests one message at the default size limit (25 MiB,
``intake.max_message_bytes``) and one with a 20 MiB attachment (about 28 MiB of mail, limits
raised), and prints the peak resident-memory growth against the message size (goal: < 5x).
gpg's own processes are not counted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floors import (
    PRODUCT_OPTIONS,
    BridgeKeys,
    Goal,
    Timings,
    add_key_options,
    agent_pids,
    export_secret_key,
    init_bridge_key,
    print_figures,
    researcher_key,
    run_rotated,
    sequoia,
)

from tracker_bridge._testsupport.keys import TestKey, remove_gnupghome
from tracker_bridge.app import build_program
from tracker_bridge.clock import SystemClock
from tracker_bridge.demo.mail_shapes import MailShapes
from tracker_bridge.intake.reader import MailReader, ReaderLimits
from tracker_bridge.mappings import load_mappings
from tracker_bridge.openpgp import GnuPG
from tracker_bridge.ports.intake import MailboxItem, Verdict
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.services.ingest import Ingest
from tracker_bridge.store import open_store
from tracker_bridge.testing.fake_tracker import FakeTracker

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAPPINGS = Path(__file__).resolve().parents[1] / "tracker_bridge" / "default_mappings"
BRIDGE_UID = "Bench bridge <security@bench.example>"
_MIB = 1024 * 1024
ATTACHMENT_BYTES = 20 * _MIB
DEFAULT_LIMIT = ReaderLimits().max_message_bytes
# A 20 MiB attachment grows by base64 and armour to about 28 MiB of mail: over the default
# 25 MiB limit, so that run raises the limits (what an operator expecting dumps would do).
LARGE_LIMIT = 64 * _MIB
CHUNK = 50
GOAL = 1.5


@dataclass
class ListSource:
    """Messages held in memory; settling does nothing."""

    messages: list[bytes]
    name: str = "bench"

    def fetch(self) -> Iterator[MailboxItem]:
        """Each message in order."""
        for number, raw in enumerate(self.messages):
            yield MailboxItem(self.name, str(number), raw)

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        """Nothing to move."""


def _service(gnupg: GnuPG, database: Path, limits: ReaderLimits | None = None) -> Ingest:
    store = open_store(f"sqlite:///{database}")
    program = build_program(load_mappings(MAPPINGS, "gitlab"))
    reader = MailReader(gnupg, limits or ReaderLimits())
    return Ingest(program, store.unit_of_work, reader, gnupg, SystemClock(), FakeTracker())


def _ciphertext(raw: bytes) -> bytes:
    start = raw.index(b"-----BEGIN PGP MESSAGE-----")
    end = raw.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    return raw[start:end] + b"\n"


def _gpg_decrypt(home: str, ciphertexts: list[bytes], passphrase: str | None = None) -> None:
    command = ["gpg", "--homedir", home, *PRODUCT_OPTIONS]
    if passphrase is not None:
        command += ["--pinentry-mode", "loopback", f"--passphrase={passphrase}"]
    for ciphertext in ciphertexts:
        done = subprocess.run(
            [*command, "--decrypt"], input=ciphertext, capture_output=True, check=False
        )
        if done.returncode != 0 or not done.stdout:
            msg = f"floor: gpg --decrypt failed: {done.stderr[-300:]!r}"
            raise SystemExit(msg)


def _gpg_decrypt_files(home: str, paths: list[Path]) -> None:
    command = ["gpg", "--homedir", home, *PRODUCT_OPTIONS, "--yes"]
    done = subprocess.run(
        [*command, "--decrypt-files", *map(str, paths)], capture_output=True, check=False
    )
    if done.returncode != 0 or not all(p.with_suffix("").stat().st_size for p in paths):
        msg = f"floor: gpg --decrypt-files failed: {done.stderr[-300:]!r}"
        raise SystemExit(msg)


def _in_process(library: Any, decryptor: Any, ciphertexts: list[bytes]) -> None:
    for ciphertext in ciphertexts:
        # Decryption only: pysequoia's verifying helper refuses the compressed signed layout gpg
        # (and so KMail) writes ("Unexpected message structure"), so signatures go unchecked.
        if not library.decrypt(ciphertext, decryptor=decryptor).bytes:
            msg = "floor: pysequoia did not decrypt a message"
            raise SystemExit(msg)


def throughput(
    count: int, keys: BridgeKeys, researcher: TestKey, workdir: Path, locked_every: int
) -> None:
    """Time N ingests beside the floors, interleaved by chunk, and print the ratios."""
    shapes = MailShapes(researcher, keys.fingerprint, "security@bench.example")
    messages = [
        shapes.kmail(
            f"Report {n}: SQL injection in /search", f"Report {n}\n" + "details\n" * 40
        ).raw
        for n in range(count)
    ]
    # Thunderbird announces its key (Autocrypt) in every mail: the same reports in its shape.
    thunderbird = [
        shapes.thunderbird(
            f"Report {n}: SQL injection in /search", f"Report {n}\n" + "details\n" * 40
        ).raw
        for n in range(count)
    ]
    ciphertexts = [_ciphertext(raw) for raw in messages]
    folder = workdir / "ciphertexts"
    folder.mkdir()
    paths = [folder / f"{n:05d}.asc" for n in range(count)]
    for path, ciphertext in zip(paths, ciphertexts, strict=True):
        path.write_bytes(ciphertext)

    gnupg = GnuPG(keys.home, keys.passphrase)
    service = _service(gnupg, workdir / "bench.sqlite3")
    serial = _service(gnupg, workdir / "serial.sqlite3")
    announcing = _service(gnupg, workdir / "thunderbird.sqlite3")
    # Start both agents (and cache the product's passphrase) and load the holiday calendar
    # (on first use since the fixed-cost change) before anything is timed.
    gnupg.decrypt(ciphertexts[0])
    for warmed in (service, serial, announcing):
        warmed.program.calendar.nth_working_day_after(datetime.now(UTC).date(), 1)
    _gpg_decrypt(keys.unlocked_home, ciphertexts[:1])
    locked_agent = tuple(agent_pids(keys.home))
    unlocked_agent = tuple(agent_pids(keys.unlocked_home))

    product = Timings("ingest (product; key as init protects it)", agents=locked_agent)
    one_by_one = Timings("ingest one message at a time (no read-ahead)", agents=locked_agent)
    autocrypt = Timings(
        "ingest, Thunderbird-shaped (Autocrypt key in every mail)", agents=locked_agent
    )
    per_process = Timings("per-process gpg --decrypt, unlocked key", agents=unlocked_agent)
    batch = Timings(f"one gpg --decrypt-files per {CHUNK}, unlocked key", agents=unlocked_agent)
    in_process = Timings("in-process pysequoia decrypt (no verify)")
    locked = Timings("per-process gpg --decrypt, key as init has it", agents=locked_agent)
    library = sequoia()
    decryptor = None
    if library is None:
        in_process.note = "not installed (pip install pysequoia to print this reference line)"
    else:
        decryptor = library.Tsk.from_bytes(export_secret_key(keys)).decryptor(keys.passphrase)
    if locked_every:
        locked.note = f"(timed on 1 message in {locked_every})"

    summary = PassSummary("ingest")
    serial_summary = PassSummary("ingest")
    autocrypt_summary = PassSummary("ingest")
    reports = 0
    for number, start in enumerate(range(0, count, CHUNK)):
        chunk = slice(start, start + CHUNK)
        size = len(messages[chunk])

        def run_product(chunk: slice = chunk) -> None:
            nonlocal reports
            outcomes = service.run([ListSource(messages[chunk])], summary)
            reports += sum(1 for o in outcomes if o.verdict is Verdict.REPORT)

        def run_one_by_one(chunk: slice = chunk) -> None:
            for item in ListSource(messages[chunk]).fetch():
                serial.ingest(item, serial_summary)
            serial.open_pending_issues(serial_summary)

        def run_thunderbird(chunk: slice = chunk) -> None:
            announcing.run([ListSource(thunderbird[chunk])], autocrypt_summary)

        sampled = ciphertexts[chunk][::locked_every] if locked_every else []

        def product_step(size: int = size) -> None:
            product.time(size, run_product)

        def one_by_one_step(size: int = size) -> None:
            one_by_one.time(size, run_one_by_one)

        def thunderbird_step(size: int = size) -> None:
            autocrypt.time(size, run_thunderbird)

        def per_process_step(chunk: slice = chunk, size: int = size) -> None:
            per_process.time(size, lambda: _gpg_decrypt(keys.unlocked_home, ciphertexts[chunk]))

        def batch_step(chunk: slice = chunk, size: int = size) -> None:
            batch.time(size, lambda: _gpg_decrypt_files(keys.unlocked_home, paths[chunk]))

        def in_process_step(chunk: slice = chunk, size: int = size) -> None:
            in_process.time(size, lambda: _in_process(library, decryptor, ciphertexts[chunk]))

        def locked_step(sampled: list[bytes] = sampled) -> None:
            locked.time(len(sampled), lambda: _gpg_decrypt(keys.home, sampled, keys.passphrase))

        steps: list[Callable[[], object]] = [
            product_step,
            one_by_one_step,
            thunderbird_step,
            per_process_step,
            batch_step,
        ]
        if library is not None:
            steps.append(in_process_step)
        if sampled:
            steps.append(locked_step)
        run_rotated(steps, number)
    if (
        reports != count
        or serial_summary.counts.get("report") != count
        or autocrypt_summary.counts.get("report") != count
    ):
        msg = (
            f"not every message became a report: {summary.counts}, {serial_summary.counts}, "
            f"{autocrypt_summary.counts}"
        )
        raise SystemExit(msg)

    print_figures(
        f"ingest: {count} KMail-shaped PGP/MIME reports (signed + encrypted), {CHUNK} per chunk, "
        "interleaved",
        keys,
        product,
        (one_by_one, autocrypt, per_process, batch, in_process, locked),
        Goal(GOAL, per_process, "ingest vs per-process gpg with the unlocked key"),
    )


def memory(keys: BridgeKeys, researcher: TestKey, workdir: Path) -> None:
    """Measure the ingest of one large message, each in a fresh interpreter."""
    shapes = MailShapes(researcher, keys.fingerprint, "security@bench.example")
    # At the limit: an attachment whose mail (base64, compressed, armoured) just fits 25 MiB.
    attachment_bytes = int(DEFAULT_LIMIT / 1.45)
    for label, first_size, limit in (
        ("at the 25 MiB limit", attachment_bytes, DEFAULT_LIMIT),
        ("20 MiB attachment, limits raised to 64 MiB", ATTACHMENT_BYTES, LARGE_LIMIT),
    ):
        size = first_size
        raw = shapes.mailvelope("Crash dump attached", "See the core file.", os.urandom(size)).raw
        while len(raw) > limit:  # shrink until the mail fits its limit
            size = int(size * 0.99 * limit / len(raw))
            raw = shapes.mailvelope(
                "Crash dump attached", "See the core file.", os.urandom(size)
            ).raw
        path = workdir / "large.eml"
        path.write_bytes(raw)
        del raw
        # A new store each time: a message already stored would skip the store step.
        for suffix in ("", "-wal", "-shm"):
            (workdir / f"memory.sqlite3{suffix}").unlink(missing_ok=True)
        completed = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure-one",
                str(path),
                keys.home,
                str(workdir),
                str(limit),
            ],
            input=keys.passphrase.encode(),
            capture_output=True,
            text=False,
            check=False,
            timeout=900,
        )
        if completed.returncode != 0:
            msg = f"memory run failed:\n{completed.stderr.decode(errors='replace')[-2000:]}"
            raise SystemExit(msg)
        print(f"memory, {label}: {completed.stdout.decode().strip()}")


def _resident(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    msg = f"no {field} in /proc/self/status"
    raise SystemExit(msg)


def _measure_one(message: Path, gnupghome: str, workdir: Path, limit: int) -> None:
    """In this fresh interpreter: ingest one message and print the peak RSS growth it caused."""
    passphrase = sys.stdin.read()
    raw = message.read_bytes()
    gnupg = GnuPG(gnupghome, passphrase, max_plaintext_bytes=max(limit, 25 * _MIB))
    service = _service(gnupg, workdir / "memory.sqlite3", ReaderLimits(max_message_bytes=limit))
    # Writing 5 to clear_refs resets VmHWM (the peak) to the current resident size.
    Path("/proc/self/clear_refs").write_text("5")
    before = _resident("VmRSS")
    outcome = service.run([ListSource([raw])], PassSummary("ingest"))[0]
    growth = _resident("VmHWM") - before
    if outcome.verdict is not Verdict.REPORT:
        msg = f"large message was not ingested: {outcome.reason}"
        raise SystemExit(msg)
    ratio = growth / len(raw)
    print(
        f"message {len(raw) / _MIB:.1f} MiB; peak RSS grew by {growth / _MIB:.1f} MiB = "
        f"{ratio:.2f}x the message (fresh process, VmHWM; goal < 5: {'met' if ratio < 5 else 'MISSED'})"
    )


def main() -> None:
    """Parse arguments and run the throughput and memory measurements."""
    if len(sys.argv) == 6 and sys.argv[1] == "--measure-one":
        _measure_one(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1000, help="reports to ingest")
    parser.add_argument("--skip-memory", action="store_true", help="skip the large-message runs")
    parser.add_argument("--skip-throughput", action="store_true", help="only the memory runs")
    add_key_options(parser)
    arguments = parser.parse_args()
    keys = init_bridge_key(BRIDGE_UID, arguments.s2k_count)
    # Both bridge homes know the researcher, so every line verifies the signature.
    researcher = researcher_key(keys, "Bench researcher", "rita@bench.example", "tbbr")
    workdir = Path(tempfile.mkdtemp(prefix="tbbench", dir="/tmp"))
    try:
        if not arguments.skip_throughput:
            throughput(arguments.count, keys, researcher, workdir, arguments.locked_every)
        if not arguments.skip_memory:
            memory(keys, researcher, workdir)
    finally:
        keys.remove()
        remove_gnupghome(researcher.gnupghome)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

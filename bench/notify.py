"""Benchmark: compose and deliver 1,000 researcher updates, beside the true floors of signing.

Run: ``python bench/notify.py [--count N]``. It makes the bridge key through ``init``'s own
code (``bench/floors.py``: generated passphrase, the S2K protection init gives it), an unlocked
copy of that key and a researcher key, starts aiosmtpd on a free loopback port and queues N
updates in a SQLite outbox (not timed). Then, interleaved 50 mails at a time in rotating order
so machine load hits every line alike, it times

- notify pass (the product): the notify service delivers 50 due rows as a pass would (one read
  transaction for the due rows and their lookups, render, encrypt + sign as PGP/MIME, send over
  one SMTP session, mark each row sent in its own transaction), composing mail n+1 in a worker
  thread while mail n is sent and recorded; key as init protects it;
- the same pass without composing ahead (what the overlap of gpg with the rest is worth);
- mail half: the same updates composed and sent without the outbox (what bookkeeping costs);
- per-process gpg, unlocked key: ``gpg --encrypt --sign`` on the same rendered bodies, one
  process each (the goal's floor: notify pass <= 1.3x this);
- one gpg for many mails: gpg 2.2 refuses ``--sign --encrypt`` with ``--multifile``, so
  there is no batch floor for signed mail; ``--encrypt-files`` (no signature) is printed as
  a lower bound;
- in-process: ``pysequoia`` encrypting and signing each body in this process, when the package
  is installed (a reference line; the bridge does not use it);
- per-process gpg, key as init protects it: what every mail pays for the key's S2K derivation
  today (timed on one mail in ``--locked-every``).

Each line gives wall time and CPU time per mail. CPU is this process (every thread) plus the
gpg processes it ran plus the gpg-agent of the key home the line uses (read from ``/proc``); the
SMTP sink runs in a process of its own so its CPU is in no line.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import socket
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
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
    run_rotated,
    sequoia,
)

from tracker_bridge._testsupport.keys import (
    TestKey,
    export_public_key,
    generate_key,
    import_key,
    make_gnupghome,
    remove_gnupghome,
)
from tracker_bridge.app import build_program
from tracker_bridge.domain.report import Report, ReportId
from tracker_bridge.domain.researcher import Language, Researcher
from tracker_bridge.mail.compose import PgpMimeComposer
from tracker_bridge.mail.smtp import SmtpTransport
from tracker_bridge.mail.templates import TemplateSet
from tracker_bridge.mappings import load_mappings
from tracker_bridge.openpgp import GnuPG
from tracker_bridge.ports.mail import NotificationKind, OutboxItem
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.services.ingest import new_outbox_item
from tracker_bridge.services.notify import Notify
from tracker_bridge.store import Store, open_store
from tracker_bridge.testing.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.synchronize import Event

TEMPLATES = Path(__file__).resolve().parents[1] / "mappings" / "templates"
UPDATES = ("state_triaged", "team_message", "fix_date_changed", "progress_update")
BRIDGE_UID = "Bench Bridge <security@example.org>"
NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)
CHUNK = 50
GOAL = 1.3


class _CountingHandler:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002 - aiosmtpd calls the hook with these arguments
        self.received += 1
        return "250 OK"


def _smtp_sink(port: int, ready: Event, stop: Event, received: Any) -> None:
    """An aiosmtpd server counting accepted mails, run in a process of its own."""
    handler = _CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    received.value = handler.received


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _updates(count: int) -> list[OutboxItem]:
    return [
        OutboxItem(
            outbox_id=f"ob-{number}",
            report_id=f"CVD-2026-{number % 9000 + 1:04d}",
            recipient="rita@researcher.example",
            kind=NotificationKind.STATE_CHANGE,
            template=UPDATES[number % len(UPDATES)],
            language=("en", "nl")[number % 2],
            params={
                "severity": "high",
                "state": "in_remediation",
                "expected_fix_date": "2026-12-24",
                "previous_fix_date": "2026-12-01",
                "team_message": f"Update {number}: the patch is in review.",
            },
            message_id=f"<ob-{number}@bench.example.org>",
            dedupe_key=f"bench-{number}",
            created_at=NOW,
        )
        for number in range(count)
    ]


def _queued_outbox(workdir: Path, person: Researcher, items: list[OutboxItem]) -> Store:
    """A SQLite store holding one report and ``items`` queued for its researcher (not timed)."""
    program = build_program(load_mappings(TEMPLATES.parent, "gitlab"))
    store = open_store(f"sqlite:///{workdir}/bench-outbox.sqlite3")
    with store.unit_of_work() as uow:
        uow.researchers.save(person)
        report = Report(ReportId("CVD", 2026, 1), "default", NOW)
        content = ReportContent(
            "CVD-2026-0001", "s", "b", True, SignatureCheck(SignatureStatus.NONE)
        )
        uow.reports.add(report, person.email, content)
        for number, item in enumerate(items):
            uow.outbox.add(
                new_outbox_item(
                    program,
                    "CVD-2026-0001",
                    person,
                    NotificationKind.TEAM_MESSAGE,
                    item.template,
                    dict(item.params),
                    dedupe_key=f"bench:{number}",
                    now=NOW,
                )
            )
        uow.commit()
    return store


def _gpg_sign_encrypt(
    keys: BridgeKeys, home: str, researcher: str, bodies: list[bytes], passphrase: str | None
) -> None:
    command = ["gpg", "--homedir", home, *PRODUCT_OPTIONS, "--armor"]
    if passphrase is not None:
        command += ["--pinentry-mode", "loopback", f"--passphrase={passphrase}"]
    command += ["--local-user", keys.fingerprint, "--encrypt", "--sign"]
    command += ["--recipient", researcher, "--recipient", keys.fingerprint]
    for body in bodies:
        done = subprocess.run(command, input=body, capture_output=True, check=False)
        if done.returncode != 0 or b"SIG_CREATED" not in done.stderr:
            msg = f"floor: gpg --encrypt --sign failed: {done.stderr[-300:]!r}"
            raise SystemExit(msg)


def _gpg_encrypt_files(keys: BridgeKeys, researcher: str, paths: list[Path]) -> None:
    command = ["gpg", "--homedir", keys.unlocked_home, *PRODUCT_OPTIONS, "--yes", "--armor"]
    command += ["--recipient", researcher, "--recipient", keys.fingerprint]
    done = subprocess.run(
        [*command, "--encrypt-files", *map(str, paths)], capture_output=True, check=False
    )
    if done.returncode != 0:
        msg = f"floor: gpg --encrypt-files failed: {done.stderr[-300:]!r}"
        raise SystemExit(msg)


def _in_process(library: Any, signer: Any, recipients: list[Any], bodies: list[bytes]) -> None:
    for body in bodies:
        if not library.encrypt(body, recipients=recipients, signer=signer):
            msg = "floor: pysequoia produced no ciphertext"
            raise SystemExit(msg)


def _researcher_key(keys: BridgeKeys) -> TestKey:
    researcher = generate_key(make_gnupghome("tbq"), "Rita Researcher", "rita@researcher.example")
    public = export_public_key(researcher.gnupghome, researcher.fingerprint)
    import_key(keys.home, public)
    import_key(keys.unlocked_home, public)
    return researcher


def run(
    count: int, keys: BridgeKeys, researcher: TestKey, workdir: Path, locked_every: int
) -> None:
    """Deliver ``count`` updates through the product and the floors, interleaved by chunk."""
    port = _free_port()
    spawn = multiprocessing.get_context("spawn")
    ready, stop, received = spawn.Event(), spawn.Event(), spawn.Value("i", 0)
    sink = spawn.Process(target=_smtp_sink, args=(port, ready, stop, received), daemon=True)
    sink.start()
    if not ready.wait(60):
        msg = f"the SMTP sink on 127.0.0.1:{port} did not start within 60 s"
        raise SystemExit(msg)
    try:
        openpgp = GnuPG(keys.home, keys.passphrase, bridge_fingerprint=keys.fingerprint)
        templates = TemplateSet(TEMPLATES)
        composer = PgpMimeComposer(
            openpgp,
            templates,
            organisation="Example Organisation",
            from_address="security@example.org",
            contact_address="security@example.org",
        )
        person = Researcher(
            "rita@researcher.example", fingerprint=researcher.fingerprint, language=Language.NL
        )
        items = _updates(count)
        bodies = [templates.render(i.template, i.language, i.params)[1].encode() for i in items]
        folder = workdir / "bodies"
        folder.mkdir()
        paths = [folder / f"{n:05d}.txt" for n in range(count)]
        for path, body in zip(paths, bodies, strict=True):
            path.write_bytes(body)
        # Twice the updates: one copy for the pass composing ahead, one for the pass without.
        store = _queued_outbox(workdir, person, items * 2)
        transport = SmtpTransport("127.0.0.1", port, security="none")
        notify = Notify(
            build_program(load_mappings(TEMPLATES.parent, "gitlab")),
            store.unit_of_work,
            composer,
            transport,
            FakeClock(NOW),
            None,
            per_recipient_per_hour=2 * count + 1,
            batch_size=CHUNK,
        )
        serial = dataclasses.replace(notify, compose_ahead=False)
        # Start both agents and cache the product's passphrase before anything is timed.
        openpgp.sign_detached(b"warm up")
        _gpg_sign_encrypt(keys, keys.unlocked_home, researcher.fingerprint, bodies[:1], None)
        # Each line's CPU counts the gpg-agent of the home it signs with.
        locked_agent = tuple(agent_pids(keys.home))
        unlocked_agent = tuple(agent_pids(keys.unlocked_home))

        product = Timings("notify pass (product; key as init protects it)", agents=locked_agent)
        no_ahead = Timings("notify pass, no composing ahead (same key)", agents=locked_agent)
        half = Timings("mail half (composer + SMTP, no outbox)", agents=locked_agent)
        per_process = Timings(
            "per-process gpg --encrypt --sign, unlocked key", agents=unlocked_agent
        )
        batch = Timings(
            f"one gpg --encrypt-files per {CHUNK} (no signature)", agents=unlocked_agent
        )
        in_process = Timings("in-process pysequoia encrypt + sign")
        locked = Timings(
            "per-process gpg --encrypt --sign, key as init has it", agents=locked_agent
        )
        library = sequoia()
        signer: Any = None
        recipients: list[Any] = []
        if library is None:
            in_process.note = "not installed (pip install pysequoia to print this reference line)"
        else:
            signer = library.Tsk.from_bytes(export_secret_key(keys)).signer(keys.passphrase)
            recipients = [
                library.Cert.from_bytes(
                    export_public_key(researcher.gnupghome, researcher.fingerprint)
                ),
                library.Cert.from_bytes(export_public_key(keys.home, keys.fingerprint)),
            ]
        if locked_every:
            locked.note = f"(timed on 1 mail in {locked_every})"
        summary = PassSummary("notify")

        def notify_pass(service: Notify) -> None:
            with transport:
                service.run(summary)

        def mail_half(chunk: slice) -> None:
            with SmtpTransport("127.0.0.1", port, security="none").session() as session:
                for item in items[chunk]:
                    mail = composer.compose(item, person)
                    session.send(mail.sender, mail.recipients, mail.message)

        for number, start in enumerate(range(0, count, CHUNK)):
            chunk = slice(start, start + CHUNK)
            size = len(items[chunk])
            sampled = bodies[chunk][::locked_every] if locked_every else []

            def product_step(size: int = size) -> None:
                product.time(size, lambda: notify_pass(notify))

            def no_ahead_step(size: int = size) -> None:
                no_ahead.time(size, lambda: notify_pass(serial))

            def half_step(chunk: slice = chunk, size: int = size) -> None:
                half.time(size, lambda: mail_half(chunk))

            def per_process_step(chunk: slice = chunk, size: int = size) -> None:
                per_process.time(
                    size,
                    lambda: _gpg_sign_encrypt(
                        keys, keys.unlocked_home, researcher.fingerprint, bodies[chunk], None
                    ),
                )

            def batch_step(chunk: slice = chunk, size: int = size) -> None:
                batch.time(
                    size, lambda: _gpg_encrypt_files(keys, researcher.fingerprint, paths[chunk])
                )

            def in_process_step(chunk: slice = chunk, size: int = size) -> None:
                in_process.time(
                    size, lambda: _in_process(library, signer, recipients, bodies[chunk])
                )

            def locked_step(sampled: list[bytes] = sampled) -> None:
                locked.time(
                    len(sampled),
                    lambda: _gpg_sign_encrypt(
                        keys, keys.home, researcher.fingerprint, sampled, keys.passphrase
                    ),
                )

            steps: list[Callable[[], object]] = [
                product_step,
                no_ahead_step,
                half_step,
                per_process_step,
                batch_step,
            ]
            if library is not None:
                steps.append(in_process_step)
            if sampled:
                steps.append(locked_step)
            run_rotated(steps, number)
        store.dispose()
    finally:
        stop.set()
        sink.join(60)
    if summary.counts.get("sent") != 2 * count or received.value != 3 * count:
        msg = f"notify sent {summary.counts}, server received {received.value} of {3 * count}"
        raise SystemExit(msg)

    print_figures(
        f"notify: {count} queued updates delivered as PGP/MIME, {CHUNK} per pass, interleaved",
        keys,
        product,
        (no_ahead, half, per_process, batch, in_process, locked),
        Goal(GOAL, per_process, "notify vs per-process gpg --encrypt --sign, unlocked key"),
    )


def main() -> None:
    """Parse arguments, make the keys, run the interleaved measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1000, help="updates to deliver")
    add_key_options(parser)
    arguments = parser.parse_args()
    keys = init_bridge_key(BRIDGE_UID, arguments.s2k_count)
    researcher = _researcher_key(keys)
    workdir = Path(tempfile.mkdtemp(prefix="tbbn", dir="/tmp"))
    try:
        run(arguments.count, keys, researcher, workdir, arguments.locked_every)
    finally:
        keys.remove()
        remove_gnupghome(researcher.gnupghome)
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


if __name__ == "__main__":
    main()

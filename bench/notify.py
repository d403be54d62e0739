"""Benchmark: compose and deliver 1,000 researcher updates, beside the floor of gpg alone.

Run: ``python bench/notify.py [--count N]``. It makes throwaway keys, starts aiosmtpd on a
free loopback port, then

- notify: queues N updates in a SQLite outbox, then the notify service delivers them as a
  pass would (select due rows, render, encrypt + sign as PGP/MIME, send over one SMTP
  session, mark each row sent in its own transaction);
- mail half: the same N updates composed and sent without the outbox, to show what the
  bookkeeping costs;
- floor: runs ``gpg --encrypt --sign`` on the same N rendered bodies, one process each,
  which is the least any design built on the gpg binary can cost;

and prints the rates and their ratio to the floor.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tracker_bridge.domain.researcher import Language, Researcher
from tracker_bridge.mail.compose import PgpMimeComposer
from tracker_bridge.mail.smtp import SmtpTransport
from tracker_bridge.mail.templates import TemplateSet
from tracker_bridge.openpgp import GnuPG
from tracker_bridge.ports import NotificationKind, OutboxItem
from tracker_bridge.testing.keys import (
    export_public_key,
    generate_key,
    import_key,
    make_gnupghome,
    remove_gnupghome,
)

TEMPLATES = Path(__file__).resolve().parents[1] / "mappings" / "templates"
UPDATES = ("state_triaged", "team_message", "fix_date_changed", "progress_update")


class _CountingHandler:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 OK"


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
            created_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        )
        for number in range(count)
    ]


def _through_notify(
    composer: PgpMimeComposer, port: int, home: str, person: Researcher, count: int
) -> float:
    """Queue ``count`` updates in a SQLite outbox and time one notify pass delivering them."""
    from tracker_bridge.app import build_program
    from tracker_bridge.domain.report import Report, ReportId
    from tracker_bridge.mappings import load_mappings
    from tracker_bridge.ports import PassSummary, ReportContent, SignatureCheck, SignatureStatus
    from tracker_bridge.services.ingest import new_outbox_item
    from tracker_bridge.services.notify import Notify
    from tracker_bridge.store import open_store
    from tracker_bridge.testing.clock import FakeClock

    now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    clock = FakeClock(now)
    program = build_program(load_mappings(TEMPLATES.parent, "gitlab"))
    store = open_store(f"sqlite:///{home}/bench-outbox.sqlite3")
    with store.unit_of_work() as uow:
        uow.researchers.save(person)
        report = Report(ReportId("CVD", 2026, 1), "default", now)
        content = ReportContent(
            "CVD-2026-0001", "s", "b", True, SignatureCheck(SignatureStatus.NONE)
        )
        uow.reports.add(report, person.email, content)
        for number, item in enumerate(_updates(count)):
            uow.outbox.add(
                new_outbox_item(
                    program,
                    "CVD-2026-0001",
                    person,
                    NotificationKind.TEAM_MESSAGE,
                    item.template,
                    dict(item.params),
                    dedupe_key=f"bench:{number}",
                    now=now,
                )
            )
        uow.commit()
    transport = SmtpTransport("127.0.0.1", port, security="none")
    notify = Notify(
        program,
        store.unit_of_work,
        composer,
        transport,
        clock,
        None,
        per_recipient_per_hour=count + 1,
        batch_size=count,
    )
    summary = PassSummary("notify")
    started = time.perf_counter()
    with transport:
        notify.run(summary)
    seconds = time.perf_counter() - started
    store.dispose()
    if summary.counts.get("sent") != count:
        raise SystemExit(f"notify sent {summary.counts} of {count}")
    return seconds


def main() -> None:
    """Run both measurements and print the rates side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="updates to deliver")
    count = parser.parse_args().count

    bridge_home = make_gnupghome("tbb")
    researcher_home = make_gnupghome("tbq")
    handler = _CountingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        bridge = generate_key(bridge_home, "Bench Bridge", "security@example.org")
        researcher = generate_key(researcher_home, "Rita Researcher", "rita@researcher.example")
        import_key(bridge_home, export_public_key(researcher_home, researcher.fingerprint))
        openpgp = GnuPG(bridge_home, bridge_fingerprint=bridge.fingerprint)
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

        notify_seconds = _through_notify(composer, port, bridge_home, person, count)

        started = time.perf_counter()
        with SmtpTransport("127.0.0.1", port, security="none").session() as session:
            for item in items:
                mail = composer.compose(item, person)
                session.send(mail.sender, mail.recipients, mail.message)
        delivery = time.perf_counter() - started
        if handler.received != 2 * count:
            raise SystemExit(f"server received {handler.received} of {2 * count} mails")

        bodies = [
            templates.render(item.template, item.language, item.params)[1].encode()
            for item in items
        ]
        started = time.perf_counter()
        for body in bodies:
            subprocess.run(
                [
                    *("gpg", "--homedir", bridge_home, "--batch", "--no-tty", "--armor"),
                    *("--trust-model", "always", "--pinentry-mode", "loopback"),
                    *("--local-user", bridge.fingerprint, "--encrypt", "--sign"),
                    *("--recipient", researcher.fingerprint, "--recipient", bridge.fingerprint),
                ],
                input=body,
                capture_output=True,
                check=True,
            )
        floor = time.perf_counter() - started
    finally:
        controller.stop()
        remove_gnupghome(bridge_home)
        remove_gnupghome(researcher_home)

    notify_rate, rate, floor_rate = count / notify_seconds, count / delivery, count / floor
    print(f"notify: {count} queued updates delivered as PGP/MIME over one SMTP session")
    print(f"  notify pass  {notify_rate:8.1f} mails/s  ({notify_seconds:.2f} s, outbox in SQLite)")
    print(f"  mail half    {rate:8.1f} mails/s  ({delivery:.2f} s, composer + SMTP, no outbox)")
    print(f"  floor        {floor_rate:8.1f} mails/s  ({floor:.2f} s, gpg --encrypt --sign alone)")
    print(f"  ratio        {floor_rate / notify_rate:8.2f}x the floor's time (notify pass / floor)")


if __name__ == "__main__":
    main()

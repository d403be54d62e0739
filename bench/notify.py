"""Benchmark: compose and deliver 1,000 researcher updates, beside the floor of gpg alone.

Run: ``python bench/notify.py [--count N]``. It makes throwaway keys, starts aiosmtpd on a
free loopback port, then

- delivery: renders, encrypts + signs (PGP/MIME) and sends N updates over one SMTP session;
- floor: runs ``gpg --encrypt --sign`` on the same N rendered bodies, one process each,
  which is the least any design built on the gpg binary can cost;

and prints both rates and their ratio. The outbox and store are not involved: this measures
the mail half (templates, composer, transport); the notify service adds its bookkeeping.
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

        started = time.perf_counter()
        with SmtpTransport("127.0.0.1", port, security="none").session() as session:
            for item in items:
                mail = composer.compose(item, person)
                session.send(mail.sender, mail.recipients, mail.message)
        delivery = time.perf_counter() - started
        if handler.received != count:
            raise SystemExit(f"server received {handler.received} of {count} mails")

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

    rate, floor_rate = count / delivery, count / floor
    print(f"notify: {count} updates composed (PGP/MIME) and delivered over SMTP")
    print(f"  delivery  {rate:8.1f} mails/s  ({delivery:.2f} s)")
    print(f"  floor     {floor_rate:8.1f} mails/s  ({floor:.2f} s, gpg --encrypt --sign alone)")
    print(f"  ratio     {rate / floor_rate:8.2f}  (delivery rate / floor rate)")


if __name__ == "__main__":
    main()

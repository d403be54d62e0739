"""Read-only views: ``reports`` lists the open reports, ``inspect`` reads one mail as ingest would.

What they show is decided in ``services.open_reports`` and ``services.inspection``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracker_bridge.cli.common import Invocation, emit

if TYPE_CHECKING:
    from tracker_bridge.ports.intake import InboundMessage

__all__ = ["inspect", "reports"]


@click.command()
@click.argument(
    "message", type=click.Path(allow_dash=True, dir_okay=False, exists=True, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def inspect(invocation: Invocation, message: Path, as_json: bool) -> None:
    """Parse, decrypt and verify one MESSAGE without storing or sending anything."""
    from tracker_bridge.services.inspection import inspect_message

    bridge = invocation.bridge(without_tracker=True)
    raw = sys.stdin.buffer.read() if str(message) == "-" else message.read_bytes()
    inbound = bridge.reader(learn_keys=False).read(raw)

    def thread_of(candidate: InboundMessage) -> str | None:
        # inspect stores nothing: a SQLite file not created yet is not created to ask it.
        if not bridge.store_exists():
            return None
        return bridge.ingest_service(with_tracker=False).thread_of(candidate)

    inspection = inspect_message(inbound, thread_of)
    bridge.close()
    lines = [
        f"Message-ID:  {inbound.message_id}",
        f"From:        {inbound.sender}",
        f"Subject:     {inbound.subject}",
        (
            f"Encrypted:   {'yes' if inbound.encrypted else 'no'}"
            f" (decrypted: {'yes' if inbound.decrypted else 'no'})"
        ),
        f"Signature:   {inbound.signature.status.value} {inbound.signature.fingerprint or ''}",
        f"Origin:      {inbound.origin.verdict.value} ({inbound.origin.reason})",
        f"Verdict:     {inspection.verdict.value} ({inspection.reason})",
        (
            f"Attachments: {len(inbound.attachments)}; unencrypted parts: "
            f"{len(inbound.unencrypted_parts)}; keys found: {len(inbound.keys_found)}"
        ),
        "",
        inbound.body,
    ]
    emit(inspection.as_json(), as_json, lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.pass_obj
def reports(invocation: Invocation, as_json: bool) -> None:
    """List open reports with their state, severity, deadlines and issue.

    A report without an issue shows "not yet in the tracker: <reason>".
    """
    from tracker_bridge.services.open_reports import open_report_rows

    bridge = invocation.bridge(without_tracker=True)
    try:
        rows = open_report_rows(bridge.store().unit_of_work, bridge.program, bridge.clock.now())
    finally:
        bridge.close()
    lines = [
        f"{r['report_id']:<16} {r['state']:<16} {r['severity']:<11} "
        + " ".join(f"{k}:{v['due']}({v['status']})" for k, v in r["deadlines"].items())
        + (f"  {r['issue']}" if r["issue"] else f"  not yet in the tracker: {r['not_in_tracker']}")
        + "".join(
            f"\n{'':<16} {c['step']} ({c['source']}): {c['due'] or '-'} ({c['status']})"
            for c in r["regulatory"]
        )
        for r in rows
    ] or ["no open reports"]
    emit(rows, as_json, lines)

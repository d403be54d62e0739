"""The privacy commands: ``purge``, ``researcher export|forget`` and ``audit`` (parsing and printing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tracker_bridge.cli.common import Invocation, exit_with
from tracker_bridge.services.pass_outcome import ExitCode

if TYPE_CHECKING:
    from tracker_bridge.ports.mail import OutboxItem

__all__ = ["audit", "purge", "researcher"]


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what is due and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def purge(invocation: Invocation, dry_run: bool, as_json: bool) -> None:
    """Delete report text, mail and contact details whose retention period has passed.

    Prints counts and report ids, never content or addresses. Mailbox copies in the Processed
    and Quarantine folders go too; each affected tracker issue gets a note once.
    """
    from tracker_bridge.app import audit_tracker_writes, open_mailbox_archives, retention_service

    bridge = invocation.bridge()
    try:
        if not dry_run:
            audit_tracker_writes(bridge, "purge")
        with open_mailbox_archives(bridge) as archives:
            result = retention_service(bridge, archives).purge(dry_run=dry_run)
    finally:
        bridge.close()
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, sort_keys=True))
    else:
        for problem in result.problems:
            click.echo(f"  ! {problem}", err=True)
        verb = "would delete" if dry_run else "deleted"
        counts = ", ".join(f"{key} {value}" for key, value in result.counts.items())
        click.echo(f"purge ({verb}): {counts}")
        if result.content_reports:
            click.echo(f"report text {verb}: {' '.join(result.content_reports)}")
        if result.contact_reports:
            click.echo(f"contact details {verb} for: {' '.join(result.contact_reports)}")
    if result.problems:
        exit_with(ExitCode.DEFERRED)


@click.group()
def researcher() -> None:
    """A researcher's rights: access (export) and erasure (forget)."""


@researcher.command("export")
@click.argument("address")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the JSON to FILE (default: standard output).",
)
@click.pass_obj
def export(invocation: Invocation, address: str, output: Path | None) -> None:
    """Write everything held about the researcher with ADDRESS as JSON (an access request)."""
    from tracker_bridge.app import subject_requests_service
    from tracker_bridge.mail.templates import TemplateSet

    bridge = invocation.bridge()
    templates = TemplateSet(bridge.mappings.templates_dir)

    def subject_of(item: OutboxItem) -> str:
        subject, _ = templates.render(item.template, item.language, item.params)
        return subject

    try:
        data = subject_requests_service(bridge, with_tracker=False).export(address, subject_of)
    finally:
        bridge.close()
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    if output is None:
        click.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    output.chmod(0o600)  # it holds the researcher's personal data and report text
    click.echo(f"wrote {output} ({len(data['reports'])} report(s))")


@researcher.command("forget")
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def forget(invocation: Invocation, address: str, yes: bool) -> None:
    """Erase the researcher's contact details and messages now; their reports stay, pseudonymised.

    Pending mail to them is cancelled; on their issues the text the bridge wrote loses their
    name, address, key fingerprint and the replies it copied there ("erased on request"), and
    each issue gets a note; their public key leaves the bridge keyring.
    """
    from tracker_bridge.app import (
        audit_tracker_writes,
        open_mailbox_archives,
        subject_requests_service,
    )

    if not yes:
        click.confirm(
            "Erase this researcher's contact details, messages and report text? "
            "This cannot be undone",
            abort=True,
        )
    bridge = invocation.bridge()
    try:
        audit_tracker_writes(bridge, "forget")
        with open_mailbox_archives(bridge) as archives:
            result = subject_requests_service(bridge, archives).forget(address)
    finally:
        bridge.close()
    for problem in result.problems:
        click.echo(f"  ! {problem}", err=True)
    counts = ", ".join(f"{key} {value}" for key, value in result.counts.items())
    click.echo(f"forgotten: {counts}")
    click.echo(f"reports kept, pseudonymised: {' '.join(result.report_ids) or '(none)'}")
    if result.problems:
        exit_with(ExitCode.DEFERRED)


@click.command()
@click.option("--report", "report_id", default=None, help="Only this report's entries.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@click.pass_obj
def audit(invocation: Invocation, report_id: str | None, as_json: bool) -> None:
    """Show the audit log: every tracker write and every mail received, sent or refused."""
    from tracker_bridge.app import audit_entries
    from tracker_bridge.services.audit import audit_json

    bridge = invocation.bridge()
    try:
        entries = audit_entries(bridge, report_id)
    finally:
        bridge.close()
    rows: list[dict[str, Any]] = audit_json(entries)
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    if not rows:
        click.echo("no audit entries")
    for row in rows:
        click.echo(
            f"{row['at']}  {row['report_id'] or '-':<16} {row['actor']:<10} "
            f"{row['action']:<18} {row['outcome']:<14} {row['detail']}"
        )

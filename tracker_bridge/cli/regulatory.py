"""The ``regulatory`` commands: drafts of legal reports (GDPR, NIS2, CRA) from the store, sent nowhere."""

from __future__ import annotations

import json

import click

from tracker_bridge.cli.common import Invocation, fail
from tracker_bridge.services.pass_outcome import ExitCode

__all__ = ["regulatory"]


@click.group(short_help="Legal reporting clocks: drafts of GDPR, NIS2 and CRA reports.")
def regulatory() -> None:
    """Legal reporting clocks (GDPR art. 33, NIS2 art. 23, CRA art. 14): drafts, sent nowhere."""


@regulatory.command("draft")
@click.argument("report_id")
@click.option("--step", required=True, help="A step id such as cra-notification.")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.pass_obj
def regulatory_draft(invocation: Invocation, report_id: str, step: str, fmt: str) -> None:
    """Draft REPORT_ID's report for one regulatory step as Markdown or JSON; sends nothing."""
    from tracker_bridge.domain.regulatory import STEP_IDS
    from tracker_bridge.services.regulatory import NoDraft, draft_from_store, draft_markdown

    if step not in STEP_IDS:
        msg = f"{step!r} is not a step; choose one of {', '.join(sorted(STEP_IDS))}"
        raise click.BadParameter(
            msg,
            param_hint="--step",
        )
    bridge = invocation.bridge()
    try:
        fields = draft_from_store(
            bridge.store().unit_of_work,
            report_id,
            step,
            bridge.clock.now(),
            bridge.program.calendar.tz,
            bridge.program.regulatory,
        )
    except NoDraft as err:
        fail(str(err), ExitCode.USAGE)
    finally:
        bridge.close()
    if fmt == "json":
        click.echo(json.dumps(fields, indent=2, ensure_ascii=False))
    else:
        click.echo(draft_markdown(fields), nl=False)

"""The ``regulatory`` commands: drafts of legal reports (GDPR, NIS2, CRA) from the store, sent nowhere."""

from __future__ import annotations

import json

import click

from tracker_bridge.cli.common import Invocation, fail
from tracker_bridge.services.pass_outcome import ExitCode

__all__ = ["regulatory"]


@click.group()
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
    from tracker_bridge.services.regulatory import draft, draft_markdown

    if step not in STEP_IDS:
        msg = f"{step!r} is not a step; choose one of {', '.join(sorted(STEP_IDS))}"
        raise click.BadParameter(
            msg,
            param_hint="--step",
        )
    bridge = invocation.bridge()
    try:
        with bridge.store().unit_of_work() as uow:
            report = uow.reports.get(report_id)
            events = uow.reports.events(report_id) if report else []
    finally:
        bridge.close()
    if report is None:
        fail(f"{report_id}: no such report in the store", ExitCode.USAGE)
    from tracker_bridge.domain.regulatory import step_rule
    from tracker_bridge.services.regulatory import clocks_of

    regime = step_rule(step).regime
    if regime not in {clock.regime for clock in clocks_of(report, events)}:
        fail(
            f"{report_id}: the {regime.value} clock has not started (no start label or "
            f"[aware] comment on the issue), so there is no {step} report to draft",
            ExitCode.USAGE,
        )
    fields = draft(
        report,
        events,
        step,
        bridge.clock.now(),
        bridge.program.calendar.tz,
        bridge.program.regulatory,
    )
    if fmt == "json":
        click.echo(json.dumps(fields, indent=2, ensure_ascii=False))
    else:
        click.echo(draft_markdown(fields), nl=False)

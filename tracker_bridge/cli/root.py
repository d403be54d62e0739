"""The ``tracker-bridge`` group: ``--config``, ``--version``, and every command group added to it."""

from __future__ import annotations

from pathlib import Path

import click

from tracker_bridge import __version__
from tracker_bridge.cli import db, installation, key, passes, privacy, publish, regulatory, reports
from tracker_bridge.cli import sandbox as sandbox_commands
from tracker_bridge.cli.common import BridgeGroup, Invocation, fail
from tracker_bridge.services.pass_outcome import ExitCode

__all__ = ["main"]


@click.group(cls=BridgeGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Configuration file (default ./tracker-bridge.toml, else built-in defaults).",
)
@click.version_option(__version__, prog_name="tracker-bridge")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Coordinated vulnerability disclosure inside your issue tracker.

    Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 finished but some items
    were quarantined or deferred (the next pass retries), 4 the tracker has been unreachable
    longer than tracker.outage_alert_after, 5 the tracker refused the token, 6 a report is
    not yet in the tracker for a reason a person must fix, 7 a researcher mail failed for
    good and is not retried (the team is told on the issue). 1, 2, 4, 5, 6 and 7 should alert.
    """
    if config_path is not None and not config_path.exists():
        fail(f"--config {config_path}: no such file", ExitCode.USAGE)
    # A harness may pass the composition root's wrappers as obj (_testsupport.crash_run).
    ctx.obj = Invocation(config_path, ctx.obj)


# One module per command group; each command is a thin parse-call-print over app and services.
for _command in (
    installation.init,
    installation.check,
    installation.demo,
    db.db,
    sandbox_commands.sandbox,
    passes.run,
    passes.ingest,
    passes.sync,
    passes.notify,
    reports.reports,
    reports.inspect,
    regulatory.regulatory,
    publish.policy_command,
    publish.security_txt_command,
    publish.credits_command,
    privacy.purge,
    privacy.researcher,
    privacy.audit,
    key.key_group,
):
    main.add_command(_command)

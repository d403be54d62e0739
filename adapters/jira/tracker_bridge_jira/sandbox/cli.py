"""The `tracker-bridge sandbox jira` command: serve a Jira sandbox until interrupted."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from tracker_bridge_jira.sandbox.control import start_sandbox


@click.command(name="jira")
@click.option("--port", type=int, default=0, show_default=True, help="TCP port (0: a free one).")
@click.option(
    "--flavor",
    type=click.Choice(["cloud", "datacenter"]),
    default="cloud",
    show_default=True,
    help="Jira Cloud (REST v3, search/jql) or Data Center (REST v2, search).",
)
@click.option("--token", default="sandbox-token", show_default=True, help="The bridge's token.")
@click.option(
    "--team-token", default="team-token", show_default=True, help="A team member's (alice) token."
)
@click.option("--state", "state_file", type=click.Path(dir_okay=False), help="Keep issues here.")
@click.option(
    "--log", "log_file", type=click.Path(dir_okay=False), help="One JSON line per request."
)
@click.option("--no-security-field", is_flag=True, help="Take `security` off the create screen.")
def command(
    port: int,
    flavor: str,
    token: str,
    team_token: str,
    state_file: str | None,
    log_file: str | None,
    no_security_field: bool,
) -> None:
    """Serve a Jira REST sandbox on 127.0.0.1; the first line printed is its base URL."""
    sandbox = start_sandbox(
        port=port,
        flavor=flavor,
        token=token,
        team_token=team_token,
        state_file=state_file,
        log_file=log_file,
        security_field=not no_security_field,
    )
    click.echo(sandbox.url)
    click.echo(
        f"flavor {flavor}, project SEC, issue type Bug, security level 'Security team', "
        f"user sandbox@example.org, team member alice@example.org (token {team_token}); "
        "Ctrl-C stops",
        err=True,
    )
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    stopped.wait()
    sandbox.stop()

"""The `tracker-bridge sandbox jira` command: serve a Jira sandbox until interrupted."""

from __future__ import annotations

import click

from tracker_bridge.testing.sandbox.cli import (
    SandboxOptions,
    sandbox_options,
    serve_until_signalled,
)
from tracker_bridge_jira.sandbox.control import start_sandbox


@click.command(name="jira")
@sandbox_options
@click.option(
    "--flavor",
    type=click.Choice(["cloud", "datacenter"]),
    default="cloud",
    show_default=True,
    help="Jira Cloud (REST v3, search/jql) or Data Center (REST v2, search).",
)
@click.option("--no-security-field", is_flag=True, help="Take `security` off the create screen.")
def command(options: SandboxOptions, flavor: str, no_security_field: bool) -> None:
    """Serve a Jira REST sandbox on 127.0.0.1; the first line printed is its base URL."""
    sandbox = start_sandbox(
        **options.start_arguments(), flavor=flavor, security_field=not no_security_field
    )
    serve_until_signalled(
        sandbox,
        f"flavor {flavor}, project SEC, issue type Bug, security level 'Security team', "
        f"user sandbox@example.org, team member alice@example.org (token {options.team_token}); "
        "Ctrl-C stops",
    )

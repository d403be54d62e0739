"""The `tracker-bridge sandbox jira` command."""

import click


@click.command(name="jira")
def command() -> None:
    """Serve the jira sandbox (not yet built)."""
    raise click.ClickException("the jira sandbox is not built yet")

"""The `tracker-bridge sandbox gitlab` command."""

import click


@click.command(name="gitlab")
def command() -> None:
    """Serve the gitlab sandbox (not yet built)."""
    raise click.ClickException("the gitlab sandbox is not built yet")

"""The ``tracker-bridge sandbox gitlab`` command: serve the GitLab sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import click

from tracker_bridge.testing.sandbox.cli import (
    SandboxOptions,
    sandbox_options,
    serve_until_signalled,
)
from tracker_bridge_gitlab.sandbox.server import start_sandbox

_DROPPABLE = ("confidential", "due_date")


def _drop_fields(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    names = tuple(n.strip() for n in (value or "").split(",") if n.strip())
    unknown = [n for n in names if n not in _DROPPABLE]
    if unknown:
        msg = f"cannot drop {', '.join(unknown)}; choose from {', '.join(_DROPPABLE)}"
        raise click.BadParameter(msg)
    return names


@click.command(name="gitlab")
@sandbox_options
@click.option(
    "--drop-fields",
    callback=_drop_fields,
    help="Silently drop these fields on create/edit, e.g. confidential,due_date.",
)
def command(options: SandboxOptions, drop_fields: tuple[str, ...]) -> None:
    """Serve a GitLab REST API v4 on loopback (project security/cvd, id 1)."""
    sandbox = start_sandbox(**options.start_arguments(), drop_fields=drop_fields)
    serve_until_signalled(
        sandbox,
        f"project security/cvd (id 1), token {options.token}, team token {options.team_token}; "
        "Ctrl-C stops",
    )

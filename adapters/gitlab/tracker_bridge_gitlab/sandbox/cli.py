"""The ``tracker-bridge sandbox gitlab`` command: serve the GitLab sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from tracker_bridge_gitlab.sandbox.server import GitLabSandbox

_DROPPABLE = ("confidential", "due_date")


def _drop_fields(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    names = tuple(n.strip() for n in (value or "").split(",") if n.strip())
    unknown = [n for n in names if n not in _DROPPABLE]
    if unknown:
        raise click.BadParameter(
            f"cannot drop {', '.join(unknown)}; choose from {', '.join(_DROPPABLE)}"
        )
    return names


@click.command(name="gitlab")
@click.option("--port", type=int, default=0, show_default=True, help="TCP port (0: any free one).")
@click.option("--token", default="sandbox-token", show_default=True, help="The bridge's token.")
@click.option(
    "--team-token", default="team-token", show_default=True, help="A team member's (alice) token."
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Persist issues in this JSON file.",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one JSON line per request (method, path, query, status).",
)
@click.option(
    "--drop-fields",
    callback=_drop_fields,
    help="Silently drop these fields on create/edit, e.g. confidential,due_date.",
)
def command(
    port: int,
    token: str,
    team_token: str,
    state_file: Path | None,
    log_file: Path | None,
    drop_fields: tuple[str, ...],
) -> None:
    """Serve a GitLab REST API v4 on loopback (project security/cvd, id 1)."""
    sandbox = GitLabSandbox(
        port=port,
        token=token,
        state_file=state_file,
        log_file=log_file,
        drop_fields=drop_fields,
        team_token=team_token,
    )
    click.echo(sandbox.url)
    click.echo(
        f"project security/cvd (id 1), token {token}, team token {team_token}; Ctrl-C stops",
        err=True,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run on another thread.
        threading.Thread(target=sandbox.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sandbox.serve_forever()

"""What every ``tracker-bridge sandbox KIND`` command shares: its options and serving until a signal."""

from __future__ import annotations

import functools
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType


@dataclass(frozen=True)
class SandboxOptions:
    """The options every sandbox command takes, as ``start_sandbox`` keyword arguments.

    Attributes:
        port: TCP port, 0 for any free one.
        token: The bridge's token.
        team_token: A team member's (alice's) token; the team's hands act through it.
        state_file: JSON file the issues persist in, or None for memory only.
        log_file: JSON-lines file with one line per request, or None.
    """

    port: int
    token: str
    team_token: str
    state_file: Path | None
    log_file: Path | None

    def start_arguments(self) -> dict[str, Any]:
        """The options as keyword arguments of a sandbox's ``start_sandbox``."""
        return {
            "port": self.port,
            "token": self.token,
            "team_token": self.team_token,
            "state_file": self.state_file,
            "log_file": self.log_file,
        }


class Stoppable(Protocol):
    """A started sandbox: its base URL, and a way to stop it."""

    @property
    def url(self) -> str:
        """The base URL clients point at."""

    def stop(self) -> None:
        """Stop serving and release the port."""


def sandbox_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the options every sandbox command takes: --port, --token, --team-token, --state, --log.

    The decorated function receives them as one :class:`SandboxOptions` in its first
    argument, followed by its own options as keywords. Apply it below ``@click.command``.
    """

    @functools.wraps(command)
    def with_options(
        port: int,
        token: str,
        team_token: str,
        state_file: Path | None,
        log_file: Path | None,
        **own: Any,
    ) -> None:
        command(SandboxOptions(port, token, team_token, state_file, log_file), **own)

    options = [
        click.option(
            "--port", type=int, default=0, show_default=True, help="TCP port (0: any free one)."
        ),
        click.option(
            "--token", default="sandbox-token", show_default=True, help="The bridge's token."
        ),
        click.option(
            "--team-token",
            default="team-token",
            show_default=True,
            help="A team member's (alice) token.",
        ),
        click.option(
            "--state",
            "state_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Persist issues in this JSON file.",
        ),
        click.option(
            "--log",
            "log_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write one JSON line per request.",
        ),
    ]
    decorated: Callable[..., None] = with_options
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def serve_until_signalled(sandbox: Stoppable, banner: str) -> None:
    """Print the base URL (the first line on stdout) and ``banner`` (stderr); serve until SIGINT/SIGTERM.

    Args:
        sandbox: An already started sandbox; it is stopped before this returns.
        banner: One line for the operator: project, accounts, how to stop.
    """
    click.echo(sandbox.url)
    click.echo(banner, err=True)
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopped.wait(0.5):
        pass
    sandbox.stop()

"""What every ``tracker-bridge sandbox KIND`` command shares: its options and serving until a signal."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

import click

F = TypeVar("F", bound=Callable[..., None])


class Stoppable(Protocol):
    """A started sandbox: its base URL, and a way to stop it."""

    @property
    def url(self) -> str:
        """The base URL clients point at."""

    def stop(self) -> None:
        """Stop serving and release the port."""


def sandbox_options(command: F) -> F:
    """Add the options every sandbox command takes: --port, --token, --team-token, --state, --log.

    The command receives ``port`` (int), ``token`` and ``team_token`` (str), ``state_file`` and
    ``log_file`` (:class:`~pathlib.Path` or None).
    """
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
    for option in reversed(options):
        command = option(command)
    return command


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

"""What every command shares: the invocation (config path, wrappers), errors to exit codes, printing."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import click

from tracker_bridge.errors import (
    BridgeError,
    ConfigurationError,
    FatalError,
    RetriableError,
    TrackerAuthError,
)
from tracker_bridge.services.pass_outcome import ExitCode, PassCounter, exit_code

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from pathlib import Path

    from tracker_bridge.app import Bridge, PartWrappers
    from tracker_bridge.ports.summary import PassSummary


@dataclass(frozen=True)
class Invocation:
    """What the ``tracker-bridge`` group hands every command (click's ``obj``).

    Attributes:
        config_path: ``--config``, or None for ./tracker-bridge.toml, else built-in defaults.
        wrappers: What the composition root wraps its parts with (None: nothing; see
            ``app.PartWrappers``, passed in by ``_testsupport.crash_run``).
    """

    config_path: Path | None
    wrappers: PartWrappers | None = None

    def bridge(
        self, *, without_tracker: bool = False, missing_secrets: list[str] | None = None
    ) -> Bridge:
        """The installation, nothing opened yet.

        ``without_tracker`` for commands that touch no tracker (its token is not read);
        ``missing_secrets`` (a list to fill) tolerates secret files not provided yet.

        Raises:
            ConfigurationError: The settings or the mappings are invalid.
        """
        from tracker_bridge.app import Bridge

        return Bridge.from_config(
            self.config_path,
            missing_secrets=missing_secrets,
            untouched=("tracker",) if without_tracker else (),
            wrappers=self.wrappers,
        )


def exit_with(code: ExitCode) -> NoReturn:
    """End the process with ``code`` (README "Exit codes")."""
    sys.exit(int(code))


def fail(message: str, code: ExitCode) -> NoReturn:
    """Say what went wrong on standard error, prefixed with the program name, and exit."""
    click.echo(f"tracker-bridge: {message}", err=True)
    exit_with(code)


class BridgeGroup(click.Group):
    """Turns the exception tree into exit codes: 5 refused token, 2 configuration, 1 any other error."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating our errors into messages and exit codes."""
        try:
            return super().invoke(ctx)
        except TrackerAuthError as err:
            fail(f"the tracker refused the token: {err}", ExitCode.TRACKER_AUTH)
        except ConfigurationError as err:
            fail(f"configuration error:\n{err}", ExitCode.USAGE)
        except RetriableError as err:
            fail(f"temporarily unavailable, try again later: {err}", ExitCode.FAILURE)
        except FatalError as err:
            fail(str(err), ExitCode.FAILURE)
        except BridgeError as err:
            fail(str(err), ExitCode.FAILURE)


def emit(data: dict[str, Any] | list[Any], as_json: bool, lines: list[str]) -> None:
    """Print JSON for machines or lines for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        for line in lines:
            click.echo(line)


def summary_line(summary: PassSummary) -> str:
    """``step: count name, ...`` in name order, or ``step: nothing to do``."""
    counts = ", ".join(f"{key} {value}" for key, value in sorted(summary.counts.items()))
    return f"{summary.step}: {counts or 'nothing to do'}"


def print_summaries(summaries: Sequence[PassSummary], as_json: bool) -> None:
    """Problems on standard error and one line per step, or one JSON line for the whole pass."""
    if as_json:
        # One line per pass (JSON Lines), so `run --every --json` feeds a log shipper directly.
        click.echo(
            json.dumps(
                {s.step: {"counts": s.counts, "problems": s.problems} for s in summaries},
                sort_keys=True,
            )
        )
    else:
        for summary in summaries:
            for problem in summary.problems:
                click.echo(f"  ! {problem}", err=True)
            click.echo(summary_line(summary))


def finish(
    summaries: Sequence[PassSummary],
    as_json: bool,
    also_deferring: Collection[PassCounter] = (),
) -> None:
    """Print the summaries and exit with the code they earn when it is not 0 (``exit_code``)."""
    print_summaries(summaries, as_json)
    code = exit_code(summaries, also_deferring)
    if code != ExitCode.OK:
        exit_with(code)

"""The tracker-bridge command line: parsing and printing only; the work happens in app and services."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from tracker_bridge import __version__
from tracker_bridge.errors import BridgeError, ConfigurationError, FatalError, RetriableError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DEFERRED = 3


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"tracker-bridge: {message}", err=True)
    sys.exit(code)


class BridgeGroup(click.Group):
    """Turns the exception tree into exit codes: 2 configuration, 1 failure."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating our errors into messages and exit codes."""
        try:
            return super().invoke(ctx)
        except ConfigurationError as err:
            _fail(f"configuration error:\n{err}", EXIT_USAGE)
        except RetriableError as err:
            _fail(f"temporarily unavailable, try again later: {err}", EXIT_FAILURE)
        except FatalError as err:
            _fail(str(err), EXIT_FAILURE)
        except BridgeError as err:
            _fail(str(err), EXIT_FAILURE)


def emit(data: dict[str, Any] | list[Any], as_json: bool, lines: list[str]) -> None:
    """Print JSON for machines or lines for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        for line in lines:
            click.echo(line)


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
    were quarantined or deferred.
    """
    if config_path is not None and not config_path.exists():
        _fail(f"--config {config_path}: no such file", EXIT_USAGE)
    ctx.obj = config_path


@main.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--org",
    "organisation",
    default="Example Organisation",
    show_default=True,
    help="Organisation name, used in mails and the policy page.",
)
@click.option(
    "--contact",
    default="security@example.org",
    show_default=True,
    help="Security contact address researchers write to.",
)
@click.option(
    "--tracker", type=click.Choice(["gitlab", "jira"]), default="gitlab", show_default=True
)
@click.option("--project", default=None, help="Tracker project (GitLab path, Jira key).")
@click.option("--tracker-url", default=None, help="Tracker base URL.")
@click.option(
    "--no-key", is_flag=True, help="Do not generate a bridge key (bring your own GNUPGHOME)."
)
def init(
    directory: Path,
    organisation: str,
    contact: str,
    tracker: str,
    project: str | None,
    tracker_url: str | None,
    no_key: bool,
) -> None:
    """Create a starter installation in DIRECTORY: config, mappings and the bridge key."""
    from tracker_bridge.starter import InitChoices, initialise

    choices = InitChoices(
        organisation=organisation,
        contact=contact,
        tracker=tracker,
        project=project or ("security/cvd" if tracker == "gitlab" else "SEC"),
        tracker_url=tracker_url
        or (
            "https://gitlab.example.org" if tracker == "gitlab" else "https://example.atlassian.net"
        ),
        generate_key=not no_key,
    )
    steps = initialise(directory, choices)
    click.echo(
        f"Created {directory / 'tracker-bridge.toml'}, {directory / 'mappings'}/"
        + (f" and the bridge key in {directory / 'gnupg'}" if not no_key else "")
    )
    click.echo("Next steps:")
    for number, step in enumerate(steps, start=1):
        click.echo(f"  {number}. {step}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def check(config_path: Path | None, as_json: bool) -> None:
    """Validate configuration and mappings without network; exit 2 listing every problem."""
    from tracker_bridge.app import check as run_check

    report = run_check(config_path)
    lines = [f"problem: {p}" for p in report.problems] + [f"warning: {w}" for w in report.warnings]
    lines.append("ok" if report.ok else f"{len(report.problems)} problem(s)")
    emit(report.as_json(), as_json, lines)
    if not report.ok:
        sys.exit(EXIT_USAGE)


@main.group()
def db() -> None:
    """Manage the state store."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(config_path: Path | None) -> None:
    """Apply database migrations (SQLite files are upgraded automatically when new)."""
    from tracker_bridge.app import load_config
    from tracker_bridge.store import upgrade

    config = load_config(config_path)
    upgrade(config.settings.store.url)
    click.echo("store is up to date")


class SandboxGroup(click.Group):
    """Subcommands come from installed plugins (entry-point group tracker_bridge.sandboxes)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The installed sandboxes."""
        from tracker_bridge.plugins import sandbox_kinds

        return sandbox_kinds()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The sandbox command a plugin registered under ``cmd_name``."""
        from tracker_bridge.plugins import load_sandbox_command

        command = load_sandbox_command(cmd_name)
        return command if isinstance(command, click.Command) else None


@main.group(cls=SandboxGroup)
def sandbox() -> None:
    """Serve a tracker sandbox on loopback (for tests, the demo and trying things out)."""

"""Setting an installation up: ``init`` makes one, ``check`` validates it, ``demo`` shows one at work."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tracker_bridge.cli.common import Invocation, emit, exit_with
from tracker_bridge.services.pass_outcome import ExitCode

__all__ = ["check", "demo", "init"]


def _checked_span(value: str) -> str:
    """A span such as "3 working days", or BadParameter naming the accepted forms."""
    from tracker_bridge.mappings import parse_span

    try:
        parse_span(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    return value.strip()


def _span_flag(
    ctx: click.Context,  # noqa: ARG001 - click's option callback signature
    param: click.Parameter,  # noqa: ARG001 - click's option callback signature
    value: str | None,
) -> str | None:
    """Refuse a span flag such as ``--ack "1 wrking day"`` at once."""
    return None if value is None else _checked_span(value)


def _checked_languages(value: str) -> tuple[str, ...]:
    """``en,nl`` as a tuple of supported language codes, or BadParameter."""
    from tracker_bridge.domain.researcher import Language

    codes = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    known = {language.value for language in Language}
    if not codes or any(code not in known for code in codes):
        msg = f"{value!r}: give a comma-separated list of {', '.join(sorted(known))}"
        raise click.BadParameter(msg)
    return codes


def _languages_flag(
    ctx: click.Context,  # noqa: ARG001 - click's option callback signature
    param: click.Parameter,  # noqa: ARG001 - click's option callback signature
    value: str | None,
) -> tuple[str, ...] | None:
    """The ``--languages`` callback."""
    return None if value is None else _checked_languages(value)


_SEVERITIES = ("critical", "high", "medium", "low")
_DEFAULT_FIX = {"critical": "30 days", "high": "30 days", "medium": "60 days", "low": "90 days"}


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--org",
    "organisation",
    default=None,
    help="Organisation name, used in mails and the policy page.",
)
@click.option("--contact", default=None, help="Security contact address researchers write to.")
@click.option(
    "--tracker", type=click.Choice(["gitlab", "jira"]), default=None, help="Tracker kind."
)
@click.option("--project", default=None, help="Tracker project (GitLab path, Jira key).")
@click.option("--tracker-url", default=None, help="Tracker base URL.")
@click.option(
    "--ack", default=None, callback=_span_flag, help='Acknowledge within, e.g. "1 working day".'
)
@click.option(
    "--assessment",
    default=None,
    callback=_span_flag,
    help='Assessment and expected fix date within, e.g. "3 working days" or "14 days".',
)
@click.option("--fix-critical", default=None, callback=_span_flag, help='e.g. "30 days".')
@click.option("--fix-high", default=None, callback=_span_flag, help='e.g. "30 days".')
@click.option("--fix-medium", default=None, callback=_span_flag, help='e.g. "90 days".')
@click.option("--fix-low", default=None, callback=_span_flag, help='e.g. "180 days".')
@click.option(
    "--progress-update",
    default=None,
    callback=_span_flag,
    help='Update at least every, e.g. "14 days".',
)
@click.option(
    "--disclosure", default=None, callback=_span_flag, help='Disclosure horizon, e.g. "90 days".'
)
@click.option(
    "--languages", default=None, callback=_languages_flag, help="Languages to write in, e.g. en,nl."
)
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="Ask for what no flag gave (default: ask when standard input is a terminal).",
)
@click.option(
    "--no-key", is_flag=True, help="Do not generate a bridge key (bring your own GNUPGHOME)."
)
def init(
    directory: Path,
    organisation: str | None,
    contact: str | None,
    tracker: str | None,
    project: str | None,
    tracker_url: str | None,
    ack: str | None,
    assessment: str | None,
    fix_critical: str | None,
    fix_high: str | None,
    fix_medium: str | None,
    fix_low: str | None,
    progress_update: str | None,
    disclosure: str | None,
    languages: tuple[str, ...] | None,
    interactive: bool | None,
    no_key: bool,
) -> None:
    """Create a starter installation in DIRECTORY: config, mappings and the bridge key.

    On a terminal it asks for every answer no flag gave; otherwise (cron, CI) the defaults
    apply. Spans read "3 working days" (weekends and holidays skipped) or "14 days".
    """
    from tracker_bridge.domain.severity import Severity
    from tracker_bridge.starter import InitChoices, initialise

    asking = sys.stdin.isatty() if interactive is None else interactive
    if asking:
        click.echo("Press Enter to keep the answer in brackets.")

    def answer(given: str | None, question: str, default: str, *, span: bool = False) -> str:
        if given is not None or not asking:
            return default if given is None else given
        # click asks again when value_proc raises BadParameter.
        proc = _checked_span if span else None
        return str(click.prompt(question, default=default, value_proc=proc))

    organisation = answer(organisation, "Organisation name", "Example Organisation")
    contact = answer(
        contact, "Security contact address researchers write to", "security@example.org"
    )
    if tracker is None:
        tracker = (
            str(click.prompt("Tracker", type=click.Choice(["gitlab", "jira"]), default="gitlab"))
            if asking
            else "gitlab"
        )
    gitlab = tracker == "gitlab"
    project = answer(
        project,
        "GitLab project path" if gitlab else "Jira project key",
        "security/cvd" if gitlab else "SEC",
    )
    tracker_url = answer(
        tracker_url,
        "Tracker URL",
        "https://gitlab.example.org" if gitlab else "https://example.atlassian.net",
    )
    if asking:
        click.echo(
            'Policy numbers: "N working days" skips weekends and holidays, "N days" does not.'
        )
    ack = answer(ack, "Acknowledge a report within", "1 working day", span=True)
    assessment = answer(
        assessment, "Send the assessment and expected fix date within", "3 working days", span=True
    )
    given_fix = dict(zip(_SEVERITIES, (fix_critical, fix_high, fix_medium, fix_low), strict=True))
    fix = {
        Severity(name): answer(
            given_fix[name], f"Fix {name} findings within", _DEFAULT_FIX[name], span=True
        )
        for name in _SEVERITIES
    }
    progress_update = answer(
        progress_update, "Update the researcher at least every", "14 days", span=True
    )
    disclosure = answer(disclosure, "Disclose within (from receipt)", "90 days", span=True)
    if languages is None and asking:
        languages = click.prompt(
            "Languages to write to researchers in (en, nl)",
            default="en,nl",
            value_proc=_checked_languages,
        )
    choices = InitChoices(
        organisation=organisation,
        contact=contact,
        tracker=tracker,
        project=project,
        tracker_url=tracker_url,
        generate_key=not no_key,
        acknowledge=ack,
        assessment=assessment,
        fix=fix,
        progress_update=progress_update,
        disclosure=disclosure,
        languages=languages or ("en", "nl"),
    )
    steps = initialise(directory, choices)
    click.echo(
        f"Created {directory / 'tracker-bridge.toml'}, {directory / 'mappings'}/"
        + (f" and the bridge key in {directory / 'gnupg'}" if not no_key else "")
    )
    click.echo("Next steps:")
    for number, step in enumerate(steps, start=1):
        click.echo(f"  {number}. {step}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--online",
    is_flag=True,
    help="Also ask the tracker (token, project, confidentiality permission) and the SMTP "
    "server (login), and flag placeholders `init` wrote.",
)
@click.pass_obj
def check(invocation: Invocation, as_json: bool, online: bool) -> None:
    """Validate configuration and mappings (no network unless --online); exit 2 listing every problem."""
    from tracker_bridge.installation_check import check as check_installation

    report = check_installation(invocation.config_path, online=online)
    lines = [f"problem: {p}" for p in report.problems] + [f"warning: {w}" for w in report.warnings]
    lines.append("ok" if report.ok else f"{len(report.problems)} problem(s)")
    emit(report.as_json(), as_json, lines)
    if not report.ok:
        exit_with(ExitCode.USAGE)


@click.command()
@click.option(
    "--tracker", type=click.Choice(["gitlab", "jira"]), default="gitlab", show_default=True
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to put everything (default: a new temporary directory).",
)
def demo(tracker: str, directory: Path | None) -> None:
    """Run the whole pipeline against a sandbox tracker and local SMTP, narrating each step."""
    # Importing the demo checks for aiosmtpd; the plugin's sandbox is checked next, both before
    # any key or folder is made.
    from tracker_bridge.demo.narration import default_directory, run_demo
    from tracker_bridge.plugins import load_demo_sandbox_factory

    load_demo_sandbox_factory(tracker)
    run_demo(directory or default_directory(), tracker)

"""The tracker-bridge command line: parsing and printing only; the work happens in app and services."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from tracker_bridge import __version__
from tracker_bridge.errors import (
    BridgeError,
    ConfigurationError,
    FatalError,
    RetriableError,
    TrackerAuthError,
)

if TYPE_CHECKING:
    from tracker_bridge.app import Bridge
    from tracker_bridge.config import LoadedConfig
    from tracker_bridge.ports.summary import PassSummary

# Documented once, in the README's "Exit codes"; every recipe in docs/deploy alerts on them.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DEFERRED = 3
EXIT_TRACKER_OUTAGE = 4
EXIT_TRACKER_AUTH = 5
EXIT_NOT_IN_TRACKER = 6
EXIT_MAIL_FAILED = 7

# Pass-summary counts that make a person act, most urgent first: (count, exit code).
_ALERTS = (
    ("tracker_auth_refused", EXIT_TRACKER_AUTH),
    ("not_in_tracker", EXIT_NOT_IN_TRACKER),
    ("tracker_outage_alert", EXIT_TRACKER_OUTAGE),
    ("failed", EXIT_MAIL_FAILED),
)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"tracker-bridge: {message}", err=True)
    sys.exit(code)


class BridgeGroup(click.Group):
    """Turns the exception tree into exit codes: 2 configuration, 1 failure."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating our errors into messages and exit codes."""
        try:
            return super().invoke(ctx)
        except TrackerAuthError as err:
            _fail(f"the tracker refused the token: {err}", EXIT_TRACKER_AUTH)
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
    were quarantined or deferred (the next pass retries), 4 the tracker has been unreachable
    longer than tracker.outage_alert_after, 5 the tracker refused the token, 6 a report is
    not yet in the tracker for a reason a person must fix, 7 a researcher mail failed for
    good and is not retried (the team is told on the issue). 1, 2, 4, 5, 6 and 7 should alert.
    """
    if config_path is not None and not config_path.exists():
        _fail(f"--config {config_path}: no such file", EXIT_USAGE)
    ctx.obj = config_path


def _checked_span(value: str) -> str:
    """A span such as "3 working days", or BadParameter naming the accepted forms."""
    from tracker_bridge.mappings import parse_span

    try:
        parse_span(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    return value.strip()


def _span_flag(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a span flag such as ``--ack "1 wrking day"`` at once."""
    return None if value is None else _checked_span(value)


def _checked_languages(value: str) -> tuple[str, ...]:
    """``en,nl`` as a tuple of supported language codes, or BadParameter."""
    from tracker_bridge.domain.researcher import Language

    codes = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    known = {language.value for language in Language}
    if not codes or any(code not in known for code in codes):
        raise click.BadParameter(
            f"{value!r}: give a comma-separated list of {', '.join(sorted(known))}"
        )
    return codes


def _languages_flag(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    """The ``--languages`` callback."""
    return None if value is None else _checked_languages(value)


_SEVERITIES = ("critical", "high", "medium", "low")
_DEFAULT_FIX = {"critical": "30 days", "high": "30 days", "medium": "60 days", "low": "90 days"}


@main.command()
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


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--online",
    is_flag=True,
    help="Also ask the tracker (token, project, confidentiality permission) and the SMTP "
    "server (login), and flag placeholders `init` wrote.",
)
@click.pass_obj
def check(config_path: Path | None, as_json: bool, online: bool) -> None:
    """Validate configuration and mappings (no network unless --online); exit 2 listing every problem."""
    from tracker_bridge.app import check as run_check

    report = run_check(config_path, online=online)
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
    from tracker_bridge.store import redact_url, upgrade

    config = load_config(config_path)
    url = _store_url(config)
    before, after = upgrade(url)
    where = redact_url(url)
    if before is None:
        click.echo(f"created the schema (revision {after}) in {where}")
    elif before != after:
        click.echo(f"upgraded {where} from revision {before} to {after}")
    else:
        click.echo(f"{where} is up to date (revision {after})")


@db.command("copy")
@click.argument("source")
@click.argument("target")
def db_copy(source: str, target: str) -> None:
    """Copy the store at SOURCE into the empty database TARGET, with everything in it.

    SOURCE and TARGET are store URLs (sqlite:///path, postgresql://user@host/db). Every
    table moves, the audit log and the store id included, so the tracker issues this
    installation opened stay its own. Point store.url at TARGET afterwards; SOURCE is only read.
    """
    from tracker_bridge.store import redact_url
    from tracker_bridge.store.copy import copy_store

    copied = copy_store(source, target)
    for table, count in copied.rows.items():
        click.echo(f"{table:<22} {count} row(s)")
    click.echo(f"copied store {copied.store_id} from {redact_url(source)} to {redact_url(target)}")


def _store_url(config: LoadedConfig) -> str:
    """store.url with a relative SQLite path resolved against the config file (the store's parser)."""
    from tracker_bridge.store.url import parse_store_url

    return parse_store_url(config.settings.store.url, base=config.base_dir).render()


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


def _bridge(config_path: Path | None, *, without_tracker: bool = False) -> Bridge:
    """The installation; ``without_tracker`` for commands that touch no tracker (no token read)."""
    from tracker_bridge.app import Bridge

    return Bridge.from_config(config_path, untouched=("tracker",) if without_tracker else ())


def _summary_line(summary: PassSummary) -> str:
    counts = ", ".join(f"{key} {value}" for key, value in sorted(summary.counts.items()))
    return f"{summary.step}: {counts or 'nothing to do'}"


def _report(summaries: list[PassSummary], as_json: bool, deferred_keys: set[str]) -> int:
    """Print problems and summaries; the exit code is 3 when anything was quarantined or deferred."""
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
            click.echo(_summary_line(summary))
    return exit_code(summaries, deferred_keys)


def exit_code(summaries: list[PassSummary], deferred_keys: set[str]) -> int:
    """The most urgent alert code (5, 6, 4, 7) a pass earned, else 3 when anything was deferred."""
    for key, code in _ALERTS:
        if any(key in s.counts for s in summaries):
            return code
    deferred = any(key in s.counts for s in summaries for key in deferred_keys)
    return EXIT_DEFERRED if deferred or any(s.problems for s in summaries) else EXIT_OK


def _finish(summaries: list[PassSummary], as_json: bool, deferred_keys: set[str]) -> None:
    """Print the summaries and exit 3 when anything was quarantined or deferred."""
    code = _report(summaries, as_json, deferred_keys)
    if code != EXIT_OK:
        sys.exit(code)


_DEFERRED = {
    "quarantine",
    "issue_deferred",
    "issue_failed",
    "note_deferred",
    "deferred",
    "transitions_refused",
    "tracker_refused",
    "note_refused",
    "skipped",
}


def _store_exists(bridge: Bridge) -> bool:
    """False for a SQLite file not created yet: opening it would create it (inspect stores nothing)."""
    from tracker_bridge.store.url import parse_store_url

    path = parse_store_url(bridge.store_url()).sqlite_path
    return path is None or path.exists()


@main.command()
# exists=True: a missing file is a usage error before anything is read, not an abort halfway.
@click.argument("messages", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@click.pass_obj
def ingest(config_path: Path | None, messages: tuple[str, ...], as_json: bool) -> None:
    """Ingest mail: MESSAGE files, `-` for standard input, or else the configured mailboxes.

    An MTA can pipe each message in: Postfix `mailbox_command = tracker-bridge ingest -`.
    Prints one line per message and exits 3 when something was quarantined or deferred.
    """
    from tracker_bridge.intake.sources import FileSource
    from tracker_bridge.ports.summary import PassSummary

    bridge = _bridge(config_path)
    summary = PassSummary("ingest")
    max_bytes = bridge.settings.intake.max_message_bytes + 1
    sources = [FileSource(list(messages), max_bytes=max_bytes)] if messages else bridge.sources()
    try:
        outcomes = bridge.ingest_service().run(sources, summary)
    finally:
        bridge.close()
    if not as_json:
        for outcome in outcomes:
            seen = " (already seen)" if outcome.already_seen else ""
            click.echo(
                f"{outcome.report_id or '-':<16} {outcome.verdict.value:<10} "
                f"{outcome.reason}{seen}  {outcome.message_id}"
            )
    else:
        # One JSON document on stdout: the outcomes with the pass's counts and problems.
        click.echo(
            json.dumps(
                {
                    "messages": [
                        {
                            "message_id": o.message_id,
                            "source": o.source,
                            "verdict": o.verdict.value,
                            "reason": o.reason,
                            "report_id": o.report_id,
                            "already_seen": o.already_seen,
                        }
                        for o in outcomes
                    ],
                    "counts": summary.counts,
                    "problems": summary.problems,
                },
                indent=2,
            )
        )
        code = exit_code([summary], _DEFERRED)
        if code != EXIT_OK:
            sys.exit(code)
        return
    _finish([summary], False, _DEFERRED)


@main.command()
@click.argument(
    "message", type=click.Path(allow_dash=True, dir_okay=False, exists=True, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def inspect(config_path: Path | None, message: Path, as_json: bool) -> None:
    """Parse, decrypt and verify one MESSAGE without storing or sending anything."""
    bridge = _bridge(config_path, without_tracker=True)
    raw = sys.stdin.buffer.read() if str(message) == "-" else message.read_bytes()
    inbound = bridge.reader(learn_keys=False).read(raw)
    verdict = inbound.verdict.value
    reason = inbound.reason
    if inbound.verdict.value == "report" and _store_exists(bridge):
        thread = bridge.ingest_service(with_tracker=False).thread_of(inbound)
        if thread is not None:
            verdict, reason = "reply", f"reply to {thread}"
    bridge.close()
    result = {
        "message_id": inbound.message_id,
        "from": inbound.sender,
        "subject": inbound.subject,
        "encrypted": inbound.encrypted,
        "decrypted": inbound.decrypted,
        "signature": {
            "status": inbound.signature.status.value,
            "fingerprint": inbound.signature.fingerprint,
        },
        "body": inbound.body,
        "unencrypted_parts": list(inbound.unencrypted_parts),
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": len(a.content),
                "sha256": a.sha256,
            }
            for a in inbound.attachments
        ],
        "keys_found": list(inbound.keys_found),
        "auto_submitted": inbound.auto_submitted,
        "origin": {"verdict": inbound.origin.verdict.value, "reason": inbound.origin.reason},
        "verdict": verdict,
        "reason": reason,
    }
    lines = [
        f"Message-ID:  {inbound.message_id}",
        f"From:        {inbound.sender}",
        f"Subject:     {inbound.subject}",
        f"Encrypted:   {'yes' if inbound.encrypted else 'no'}"
        f" (decrypted: {'yes' if inbound.decrypted else 'no'})",
        f"Signature:   {inbound.signature.status.value} {inbound.signature.fingerprint or ''}",
        f"Origin:      {inbound.origin.verdict.value} ({inbound.origin.reason})",
        f"Verdict:     {verdict} ({reason})",
        f"Attachments: {len(inbound.attachments)}; unencrypted parts: "
        f"{len(inbound.unencrypted_parts)}; keys found: {len(inbound.keys_found)}",
        "",
        inbound.body,
    ]
    emit(result, as_json, lines)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def sync(config_path: Path | None, as_json: bool) -> None:
    """Read tracker changes since the bookmark, keep deadline labels current, queue mail."""
    from tracker_bridge.app import (
        TRACKER_AUTH_REFUSED,
        note_tracker_outage,
        note_tracker_reachable,
    )
    from tracker_bridge.errors import TrackerUnavailable
    from tracker_bridge.ports.summary import PassSummary

    bridge = _bridge(config_path)
    summary = PassSummary("sync")
    try:
        bridge.sync_service().run(summary)
        note_tracker_reachable(bridge)
    except TrackerAuthError as err:
        summary.bump(TRACKER_AUTH_REFUSED)
        summary.problems.append(f"the tracker refused the token: {err}")
    except RetriableError as err:
        summary.bump("deferred")
        summary.problems.append(f"tracker unavailable, the next pass resumes: {err}")
        if isinstance(err, TrackerUnavailable):
            note_tracker_outage(bridge, summary)
    finally:
        bridge.close()
    _finish([summary], as_json, _DEFERRED)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.pass_obj
def reports(config_path: Path | None, as_json: bool) -> None:
    """List open reports with their state, severity, deadlines and issue.

    A report without an issue shows "not yet in the tracker: <reason>".
    """
    from tracker_bridge.services.ingest import NOT_IN_TRACKER_EVENT
    from tracker_bridge.services.regulatory import clock_rows

    bridge = _bridge(config_path, without_tracker=True)
    now = bridge.clock.now()
    rows: list[dict[str, Any]] = []
    regulatory = bridge.program.regulatory
    with bridge.store().unit_of_work() as uow:
        for report in uow.reports.open_reports():
            report_id = str(report.report_id)
            ref = uow.links.get(report_id)
            clocks = (
                clock_rows(
                    report,
                    uow.reports.events(report_id),
                    regulatory,
                    now,
                    bridge.program.calendar.tz,
                )
                if regulatory.enabled
                else []
            )
            deadlines = {
                d.kind.value: {
                    "due": bridge.program.last_day(d.due).isoformat(),
                    "status": d.status(now, bridge.program.calendar, bridge.program.policy).value,
                }
                for d in bridge.program.deadlines(report, now)
            }
            waiting = None
            if ref is None:
                reasons = [
                    e.detail
                    for e in uow.reports.events(report_id)
                    if e.kind == NOT_IN_TRACKER_EVENT
                ]
                waiting = reasons[-1] if reasons else "the issue is opened by the next pass"
            rows.append(
                {
                    "report_id": report_id,
                    "state": report.state.value,
                    "severity": report.severity.value,
                    "received": report.received_at.isoformat(),
                    "issue": ref.url if ref else None,
                    "not_in_tracker": waiting,
                    "deadlines": deadlines,
                    "regulatory": clocks,
                }
            )
    bridge.close()
    # Reports with a running legal clock first (stable: the store's order otherwise).
    rows.sort(key=lambda r: not any(c["status"] != "done" for c in r["regulatory"]))
    lines = [
        f"{r['report_id']:<16} {r['state']:<16} {r['severity']:<11} "
        + " ".join(f"{k}:{v['due']}({v['status']})" for k, v in r["deadlines"].items())
        + (f"  {r['issue']}" if r["issue"] else f"  not yet in the tracker: {r['not_in_tracker']}")
        + "".join(
            f"\n{'':<16} {c['step']} ({c['source']}): {c['due'] or '-'} ({c['status']})"
            for c in r["regulatory"]
        )
        for r in rows
    ] or ["no open reports"]
    emit(rows, as_json, lines)


@main.group()
def regulatory() -> None:
    """Legal reporting clocks (GDPR art. 33, NIS2 art. 23, CRA art. 14): drafts, sent nowhere."""


@regulatory.command("draft")
@click.argument("report_id")
@click.option("--step", required=True, help="A step id such as cra-notification.")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.pass_obj
def regulatory_draft(config_path: Path | None, report_id: str, step: str, fmt: str) -> None:
    """Draft REPORT_ID's report for one regulatory step as Markdown or JSON; sends nothing."""
    from tracker_bridge.domain.regulatory import STEP_IDS
    from tracker_bridge.services.regulatory import draft, draft_markdown

    if step not in STEP_IDS:
        raise click.BadParameter(
            f"{step!r} is not a step; choose one of {', '.join(sorted(STEP_IDS))}",
            param_hint="--step",
        )
    bridge = _bridge(config_path)
    try:
        with bridge.store().unit_of_work() as uow:
            report = uow.reports.get(report_id)
            events = uow.reports.events(report_id) if report else []
    finally:
        bridge.close()
    if report is None:
        _fail(f"{report_id}: no such report in the store", EXIT_USAGE)
    from tracker_bridge.domain.regulatory import step_rule
    from tracker_bridge.services.regulatory import clocks_of

    regime = step_rule(step).regime
    if regime not in {clock.regime for clock in clocks_of(report, events)}:
        _fail(
            f"{report_id}: the {regime.value} clock has not started (no start label or "
            f"[aware] comment on the issue), so there is no {step} report to draft",
            EXIT_USAGE,
        )
    fields = draft(
        report,
        events,
        step,
        bridge.clock.now(),
        bridge.program.calendar.tz,
        bridge.program.regulatory,
    )
    if fmt == "json":
        click.echo(json.dumps(fields, indent=2, ensure_ascii=False))
    else:
        click.echo(draft_markdown(fields), nl=False)


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_interval(text: str) -> float:
    """Seconds in an interval such as ``90s``, ``5m`` or ``1h``."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an interval (write e.g. 30s, 5m or 1h)"
        ) from None
    if seconds <= 0:
        raise click.BadParameter(f"{text!r}: the interval must be positive")
    return seconds


@main.command()
@click.option("--every", default=None, help="Repeat every INTERVAL (e.g. 5m) until stopped.")
@click.option("--json", "as_json", is_flag=True, help="Print each pass's summary as JSON.")
@click.pass_obj
def run(config_path: Path | None, every: str | None, as_json: bool) -> None:
    """One pass of the scheduled job: ingest every mailbox, sync the tracker, deliver mail.

    With --every, repeat until SIGTERM or Ctrl-C, which finish the current step and exit 0.
    Exit 3 when something was quarantined, deferred or skipped. --json prints one JSON object
    per pass on one line.
    """
    import signal
    import threading

    from tracker_bridge.app import run_pass

    interval = parse_interval(every) if every else None
    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    if interval is not None:
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    bridge = _bridge(config_path)
    try:
        while True:
            summaries = run_pass(bridge, bridge.notify_step(), stopping.is_set)
            if interval is None:
                _finish(summaries, as_json, _DEFERRED | {"skipped_locked"})
                return
            # A deferred item in a repeating job is retried by the next pass: keep going.
            _report(summaries, as_json, _DEFERRED | {"skipped_locked"})
            if stopping.wait(interval):
                return
    finally:
        bridge.close()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def notify(config_path: Path | None, as_json: bool) -> None:
    """Deliver queued researcher mail over one SMTP connection; exit 3 when some was deferred."""
    from tracker_bridge.ports.summary import PassSummary

    bridge = _bridge(config_path)
    summary = PassSummary("notify")
    try:
        bridge.notify_step()(summary)
    finally:
        bridge.close()
    _finish([summary], as_json, _DEFERRED | {"rate_limited"})


@main.command()
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
    from tracker_bridge.demo.narration import default_directory, run_demo

    run_demo(directory or default_directory(), tracker)


# Publishing commands (policy, security-txt, credits) live in their own module; added to `main` here.
from tracker_bridge.cli_publish import register as _register_publish  # noqa: E402

_register_publish(main)


# Registered after `main` is defined, because the privacy commands attach to this group.
from tracker_bridge.cli_privacy import register as _register_privacy  # noqa: E402

_register_privacy(main)


# The bridge key's life cycle (list, rotate, reprotect).
from tracker_bridge.cli_key import register as _register_key  # noqa: E402

_register_key(main)

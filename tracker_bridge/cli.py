"""The tracker-bridge command line: parsing and printing only; the work happens in app and services."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from tracker_bridge import __version__
from tracker_bridge.errors import BridgeError, ConfigurationError, FatalError, RetriableError

if TYPE_CHECKING:
    from tracker_bridge.app import Bridge
    from tracker_bridge.ports import PassSummary

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


def _bridge(config_path: Path | None) -> Bridge:
    from tracker_bridge.app import Bridge

    return Bridge.from_config(config_path)


def _summary_line(summary: PassSummary) -> str:
    counts = ", ".join(f"{key} {value}" for key, value in sorted(summary.counts.items()))
    return f"{summary.step}: {counts or 'nothing to do'}"


def _report(summaries: list[PassSummary], as_json: bool, deferred_keys: set[str]) -> int:
    """Print problems and summaries; the exit code is 3 when anything was quarantined or deferred."""
    if as_json:
        click.echo(
            json.dumps(
                {s.step: {"counts": s.counts, "problems": s.problems} for s in summaries},
                indent=2,
                sort_keys=True,
            )
        )
    else:
        for summary in summaries:
            for problem in summary.problems:
                click.echo(f"  ! {problem}", err=True)
            click.echo(_summary_line(summary))
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
    "failed",
    "transitions_refused",
}


@main.command()
@click.argument("messages", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@click.pass_obj
def ingest(config_path: Path | None, messages: tuple[str, ...], as_json: bool) -> None:
    """Ingest mail: MESSAGE files, `-` for standard input, or else the configured mailboxes.

    An MTA can pipe each message in: Postfix `mailbox_command = tracker-bridge ingest -`.
    Prints one line per message and exits 3 when something was quarantined or deferred.
    """
    from tracker_bridge.intake.sources import FileSource
    from tracker_bridge.ports import PassSummary

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
        click.echo(
            json.dumps(
                [
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
                indent=2,
            )
        )
    _finish([summary], False, _DEFERRED)


@main.command()
@click.argument("message", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def inspect(config_path: Path | None, message: Path, as_json: bool) -> None:
    """Parse, decrypt and verify one MESSAGE without storing or sending anything."""
    bridge = _bridge(config_path)
    raw = sys.stdin.buffer.read() if str(message) == "-" else message.read_bytes()
    inbound = bridge.reader(learn_keys=False).read(raw)
    verdict = inbound.verdict.value
    reason = inbound.reason
    if inbound.verdict.value == "report":
        thread = bridge.ingest_service().thread_of(inbound)
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
    from tracker_bridge.ports import PassSummary

    bridge = _bridge(config_path)
    summary = PassSummary("sync")
    try:
        bridge.sync_service().run(summary)
    except RetriableError as err:
        summary.bump("deferred")
        summary.problems.append(f"tracker unavailable, the next pass resumes: {err}")
    finally:
        bridge.close()
    _finish([summary], as_json, _DEFERRED)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.pass_obj
def reports(config_path: Path | None, as_json: bool) -> None:
    """List open reports with their state, severity, deadlines and issue."""
    bridge = _bridge(config_path)
    now = bridge.clock.now()
    rows: list[dict[str, Any]] = []
    with bridge.store().unit_of_work() as uow:
        for report in uow.reports.open_reports():
            report_id = str(report.report_id)
            ref = uow.links.get(report_id)
            deadlines = {
                d.kind.value: {
                    "due": bridge.program.last_day(d.due).isoformat(),
                    "status": d.status(now, bridge.program.calendar, bridge.program.policy).value,
                }
                for d in bridge.program.deadlines(report, now)
            }
            rows.append(
                {
                    "report_id": report_id,
                    "state": report.state.value,
                    "severity": report.severity.value,
                    "received": report.received_at.isoformat(),
                    "issue": ref.url if ref else None,
                    "deadlines": deadlines,
                }
            )
    bridge.close()
    lines = [
        f"{r['report_id']:<16} {r['state']:<16} {r['severity']:<11} "
        + " ".join(f"{k}:{v['due']}({v['status']})" for k, v in r["deadlines"].items())
        + (f"  {r['issue']}" if r["issue"] else "  (no issue yet)")
        for r in rows
    ] or ["no open reports"]
    emit(rows, as_json, lines)


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
    Exit 3 when something was quarantined, deferred or skipped.
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
    from tracker_bridge.ports import PassSummary

    bridge = _bridge(config_path)
    summary = PassSummary("notify")
    try:
        bridge.notify_step()(summary)
    finally:
        bridge.close()
    _finish([summary], as_json, _DEFERRED | {"rate_limited"})

"""The scheduled job and its steps: ``run`` (one pass, or repeated), ``ingest``, ``sync``, ``notify``.

The pass itself is ``services.scheduled_pass``; what its counts mean for the exit code is
``services.pass_outcome``; ``app.Bridge`` wires both.
"""

from __future__ import annotations

import json

import click

from tracker_bridge.cli.common import Invocation, exit_with, finish, print_summaries
from tracker_bridge.services.pass_outcome import ExitCode, PassCounter, exit_code

__all__ = ["ingest", "notify", "parse_interval", "run", "sync"]


@click.command()
# exists=True: a missing file is a usage error before anything is read, not an abort halfway.
@click.argument("messages", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@click.pass_obj
def ingest(invocation: Invocation, messages: tuple[str, ...], as_json: bool) -> None:
    """Ingest mail: MESSAGE files, `-` for standard input, or else the configured mailboxes.

    An MTA can pipe each message in: Postfix `mailbox_command = tracker-bridge ingest -`.
    Prints one line per message and exits 3 when something was quarantined or deferred.
    """
    from tracker_bridge.intake.sources import FileSource
    from tracker_bridge.ports.summary import PassSummary

    bridge = invocation.bridge()
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
        finish([summary], False)
        return
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
    code = exit_code([summary])
    if code != ExitCode.OK:
        exit_with(code)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def sync(invocation: Invocation, as_json: bool) -> None:
    """Read tracker changes since the bookmark, keep deadline labels current, queue mail."""
    from tracker_bridge.services.scheduled_pass import run_sync_alone

    bridge = invocation.bridge()
    try:
        summary = run_sync_alone(
            lambda summary: bridge.sync_service().run(summary), bridge.tracker_outage()
        )
    finally:
        bridge.close()
    finish([summary], as_json)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def notify(invocation: Invocation, as_json: bool) -> None:
    """Deliver queued researcher mail over one SMTP connection; exit 3 when some was deferred."""
    from tracker_bridge.ports.summary import PassSummary

    bridge = invocation.bridge()
    summary = PassSummary("notify")
    try:
        bridge.notify_step()(summary)
    finally:
        bridge.close()
    finish([summary], as_json, {PassCounter.RATE_LIMITED})


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_interval(text: str) -> float:
    """Seconds in an interval such as ``90s``, ``5m`` or ``1h``.

    Raises:
        click.BadParameter: ``text`` is not a positive number with an optional unit s, m, h.
    """
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        msg = f"{text!r} is not an interval (write e.g. 30s, 5m or 1h)"
        raise click.BadParameter(msg) from None
    if seconds <= 0:
        msg = f"{text!r}: the interval must be positive"
        raise click.BadParameter(msg)
    return seconds


@click.command()
@click.option("--every", default=None, help="Repeat every INTERVAL (e.g. 5m) until stopped.")
@click.option("--json", "as_json", is_flag=True, help="Print each pass's summary as JSON.")
@click.pass_obj
def run(invocation: Invocation, every: str | None, as_json: bool) -> None:
    """One pass of the scheduled job: ingest every mailbox, sync the tracker, deliver mail.

    With --every, repeat until SIGTERM or Ctrl-C, which finish the current step and exit 0.
    Exit 3 when something was quarantined, deferred or skipped. --json prints one JSON object
    per pass on one line.
    """
    import signal
    import threading

    interval = parse_interval(every) if every else None
    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:  # noqa: ARG001 - signal handler signature
        stopping.set()

    if interval is not None:
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    bridge = invocation.bridge()
    try:
        while True:
            summaries = bridge.scheduled_pass().run(stopping.is_set)
            if interval is None:
                finish(summaries, as_json, {PassCounter.SKIPPED_LOCKED})
                return
            # A deferred item in a repeating job is retried by the next pass: keep going.
            print_summaries(summaries, as_json)
            if stopping.wait(interval):
                return
    finally:
        bridge.close()

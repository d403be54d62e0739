"""What a pass's counts mean to the operator: the counter names and the exit code they earn.

The exit codes and their precedence are documented once, in the README's "Exit codes" table;
every recipe in docs/deploy alerts on them.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

from tracker_bridge.ports.intake import Verdict

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tracker_bridge.ports.summary import PassSummary


class PassCounter(StrEnum):
    """Every count a step of a pass can put in its ``PassSummary`` (the keys of ``counts``).

    A member is its string value, so ``summary.bump(PassCounter.DEFERRED)`` and the summary's
    ``--json`` keys stay the plain names operators grep for.
    """

    # ingest: one per verdict (``ports.Verdict``), then what happened to the issue
    REPORT = Verdict.REPORT.value
    REPLY = Verdict.REPLY.value
    QUARANTINE = Verdict.QUARANTINE.value
    IGNORE = Verdict.IGNORE.value
    ALREADY_SEEN = "already_seen"
    SETTLE_DEFERRED = "settle_deferred"
    REPORT_IDS_MOVED = "report_ids_moved"
    ISSUE_OPENED = "issue_opened"
    ISSUE_DEFERRED = "issue_deferred"
    ISSUE_FAILED = "issue_failed"
    NOT_IN_TRACKER = "not_in_tracker"
    NOTE_DEFERRED = "note_deferred"
    # sync
    CHANGES_READ = "changes_read"
    UNKNOWN_ISSUE = "unknown_issue"
    FOREIGN_ISSUE = "foreign_issue"
    ISSUE_NOT_OPENED_YET = "issue_not_opened_yet"
    STATE_CHANGES = "state_changes"
    TRANSITIONS_REFUSED = "transitions_refused"
    LABELS_UPDATED = "labels_updated"
    MAIL_QUEUED = "mail_queued"
    PROGRESS_QUEUED = "progress_queued"
    OVERDUE_NOTED = "overdue_noted"
    CREDIT_RECORDED = "credit_recorded"
    TRACKER_REFUSED = "tracker_refused"
    STILL_REFUSED = "still_refused"
    REGULATORY_STEPS_DONE = "regulatory_steps_done"
    REGULATORY_DUE_SOON = "regulatory_due_soon"
    REGULATORY_MISSED = "regulatory_missed"
    REGULATORY_REMINDERS = "regulatory_reminders"
    # notify
    SENT = "sent"
    CANCELLED = "cancelled"
    WITHHELD = "withheld"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"
    NOTE_REFUSED = "note_refused"
    # purge (``services.retention.PURGE_COUNTS``)
    REPORTS = "reports"
    CONTENTS = "contents"
    ATTACHMENTS = "attachments"
    MESSAGES = "messages"
    OUTBOX_ROWS = "outbox_rows"
    UNLINKED_MESSAGES = "unlinked_messages"
    MAILBOX_COPIES = "mailbox_copies"
    RESEARCHERS = "researchers"
    NOTES = "notes"
    # any step (``services.scheduled_pass``)
    DEFERRED = "deferred"
    SKIPPED = "skipped"
    SKIPPED_LOCKED = "skipped_locked"
    TRACKER_AUTH_REFUSED = "tracker_auth_refused"
    TRACKER_OUTAGE_ALERT = "tracker_outage_alert"


class ExitCode(IntEnum):
    """The process exit codes of every command (README "Exit codes")."""

    OK = 0
    # an unexpected error, a store error, the store or mail server temporarily unavailable
    # (RetriableError), or any other FatalError (e.g. demo without aiosmtpd)
    FAILURE = 1
    # usage or configuration a person must fix: a wrong command line, a missing --config file,
    # a ConfigurationError, `check` finding problems, a report id not in the store
    USAGE = 2
    DEFERRED = 3  # finished; something deferred, quarantined or skipped is retried next pass
    TRACKER_OUTAGE = 4  # unreachable longer than tracker.outage_alert_after
    TRACKER_AUTH = 5  # the tracker refused the token
    NOT_IN_TRACKER = 6  # a report waits for a person to fix why it has no issue
    MAIL_FAILED = 7  # a researcher mail failed for good and is not retried


# Counters that make a person act, most urgent first (README: "5, then 6, then 4, then 7").
ALERTS: tuple[tuple[PassCounter, ExitCode], ...] = (
    (PassCounter.TRACKER_AUTH_REFUSED, ExitCode.TRACKER_AUTH),
    (PassCounter.NOT_IN_TRACKER, ExitCode.NOT_IN_TRACKER),
    (PassCounter.TRACKER_OUTAGE_ALERT, ExitCode.TRACKER_OUTAGE),
    (PassCounter.FAILED, ExitCode.MAIL_FAILED),
)

DEFERRING: frozenset[PassCounter] = frozenset(
    {
        PassCounter.QUARANTINE,
        PassCounter.ISSUE_DEFERRED,
        PassCounter.ISSUE_FAILED,
        PassCounter.NOTE_DEFERRED,
        PassCounter.DEFERRED,
        PassCounter.TRANSITIONS_REFUSED,
        PassCounter.TRACKER_REFUSED,
        PassCounter.NOTE_REFUSED,
        PassCounter.SKIPPED,
    }
)
"""Counters that mean "finished, the next pass retries something" (exit 3) for every command.

``run`` adds ``SKIPPED_LOCKED`` (another worker held a step) and ``notify`` adds
``RATE_LIMITED`` (mail held back by the per-recipient limit); see ``exit_code``.
"""


def exit_code(
    summaries: Sequence[PassSummary], also_deferring: Iterable[PassCounter] = ()
) -> ExitCode:
    """The exit code a command's summaries earn: the most urgent alert, else 3, else 0.

    Precedence, from the README's "Exit codes": ``TRACKER_AUTH`` (5), ``NOT_IN_TRACKER`` (6),
    ``TRACKER_OUTAGE`` (4), ``MAIL_FAILED`` (7), each when its counter (``ALERTS``) is in any
    summary; then ``DEFERRED`` (3) when any summary counts one of ``DEFERRING`` or
    ``also_deferring``, or holds a problem; else ``OK`` (0).

    Args:
        summaries: What each step of the command counted.
        also_deferring: Counters this command adds to ``DEFERRING``.

    Returns:
        The code to exit with.
    """
    for counter, code in ALERTS:
        if any(counter in summary.counts for summary in summaries):
            return code
    deferring = DEFERRING | frozenset(also_deferring)
    deferred = any(counter in summary.counts for summary in summaries for counter in deferring)
    if deferred or any(summary.problems for summary in summaries):
        return ExitCode.DEFERRED
    return ExitCode.OK

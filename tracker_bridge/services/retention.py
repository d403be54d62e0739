"""Retention: purge report content and contact details a set time after a report closes.

The tracker issue is the team's record: a retention purge never edits it, a note says what the
bridge deleted and when. Everything here is idempotent: a purge interrupted anywhere is
finished by the next one, and mailbox copies are deleted before the store forgets their
Message-IDs. The erasure mechanics (contact details, owed notes) serve erasure requests too
(``services.subject_requests``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from tracker_bridge.domain.regulatory import RegulatoryPolicy
from tracker_bridge.domain.report import Report, State
from tracker_bridge.errors import NotFoundError, RetriableError
from tracker_bridge.ports.privacy import AuditEntry, HeldContent, Keyring, MailboxArchive
from tracker_bridge.ports.store import ReportEvent
from tracker_bridge.services.pass_outcome import PassCounter
from tracker_bridge.services.regulatory import next_moment

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.summary import PassSummary
    from tracker_bridge.ports.tracker import IssueRef, Tracker
    from tracker_bridge.ports.unit_of_work import UnitOfWork

__all__ = [
    "CLOSED_STATES",
    "PURGE_COUNTS",
    "REMOVED_RESEARCHER",
    "PurgeResult",
    "Retention",
    "RetentionPolicy",
    "closed_since",
    "held_detail",
    "retention_moments",
]

CLOSED_STATES: frozenset[State] = frozenset(state for state in State if state.is_closed)

PURGE_COUNTS: tuple[str, ...] = (
    "reports",
    "contents",
    "attachments",
    "messages",
    "outbox_rows",
    "unlinked_messages",
    "mailbox_copies",
    "researchers",
    "notes",
)
"""The counts a purge reports, in print order; a dry run reports the same ones."""

REMOVED_RESEARCHER = "researcher removed"

# Later than any moment a report stores: a dry run under new periods reads every closed report.
_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


def closed_since(report: Report) -> datetime | None:
    """When the report's current closed period began, or None while it is open.

    That is the first entry into a closed state since it was last open: moving on from
    resolved to published keeps the clock running, and a reopened report starts anew. A closed
    report without history counts from its receipt.
    """
    if report.state.is_open:
        return None
    since: datetime | None = None
    for change in report.history:
        if not change.target.is_closed:
            since = None
        elif since is None:
            since = change.at
    return since if since is not None else report.received_at


@dataclass(frozen=True)
class RetentionPolicy:
    """How long report content and contact details are kept after a report closes."""

    content_days_after_close: int = 90
    contact_days_after_close: int = 90


def retention_moments(report: Report, retention: RetentionPolicy) -> list[datetime]:
    """When a closed report's content, then its researcher's contact details, fall due.

    Returns:
        ``[content moment, contact moment]`` (UTC-aware, past ones included), counted from
        ``closed_since``; ``[]`` while the report is open.
    """
    since = closed_since(report)
    if since is None:
        return []
    return [
        since + timedelta(days=retention.content_days_after_close),
        since + timedelta(days=retention.contact_days_after_close),
    ]


@dataclass
class PurgeResult:
    """What a purge deleted (or, in a dry run, would delete): counts and report ids only."""

    dry_run: bool
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PURGE_COUNTS, 0))
    content_reports: list[str] = field(default_factory=list)
    contact_reports: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, held: HeldContent, copies: int) -> None:
        """Count one report's content."""
        self.counts["reports"] += 1
        self.counts["contents"] += held.contents
        self.counts["attachments"] += held.attachments
        self.counts["messages"] += held.messages
        self.counts["outbox_rows"] += held.outbox_rows
        self.counts["mailbox_copies"] += copies

    def as_json(self) -> dict[str, Any]:
        """The result for ``--json``."""
        return {
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "content_purged": list(self.content_reports),
            "contact_erased": list(self.contact_reports),
            "problems": list(self.problems),
        }


@dataclass
class Retention:
    """Retention over the store, the mailbox archives and the tracker (and erasure mechanics).

    Args:
        unit_of_work: opens a transaction on the store.
        clock: where "now" comes from.
        retention: the program's retention periods.
        local_date: the program's calendar date of a moment (what the tracker note says).
        tracker: where notes go; None leaves them owed until a tracker is given.
        archives: Processed/Quarantine folders holding settled copies of the mail.
        keyring: the bridge keyring; ``forget`` removes the researcher's key from it.
        page_size: closed reports read per page.
        regulatory: the program's legal clocks (``[regulatory]``); their moments are kept too.
        tz: the program's time zone (a legal month period ends at its local midnight).
    """

    unit_of_work: Callable[[], UnitOfWork]
    clock: Clock
    retention: RetentionPolicy
    local_date: Callable[[datetime], date]
    tracker: Tracker | None = None
    archives: Sequence[MailboxArchive] = ()
    keyring: Keyring | None = None
    # Closed reports are read in pages of this many: memory follows the page, not the total.
    page_size: int = 500
    # The program's legal clocks and time zone: a closed report's next moment is also theirs.
    regulatory: RegulatoryPolicy = field(default_factory=RegulatoryPolicy)
    tz: tzinfo = UTC

    # ------------------------------------------------------------------ purge

    def purge(self, summary: PassSummary | None = None, *, dry_run: bool = False) -> PurgeResult:
        """Delete what retention says is due; with ``dry_run`` count it and change nothing.

        Only closed reports whose retention moment has come are read: each stores when its
        content and its researcher's contact details fall due next (the store makes a report
        due again when it changes or gets new mail), so a quiet purge reads no report. The
        moment stored is the earlier of retention's and the report's running legal clocks'
        (``services.regulatory.next_moment``): the column is shared with the sync.

        Args:
            summary: counts (``PURGE_COUNTS``) and problems are added here when given.
            dry_run: count what is due (days after close: ``content_days_after_close``,
                ``contact_days_after_close``) and delete nothing.

        Returns:
            The counts and the report ids whose content or contact details were (or would be)
            removed; tracker and mailbox failures are in ``problems``, not raised.

        Raises:
            RetriableError: the store did not answer (``StoreBusy``, ``StoreUnavailable``);
                an unavailable mailbox or tracker is a problem line instead.
            FatalError: the store is broken (``StoreError``), a mailbox is misconfigured
                (``ConfigurationError``), or the tracker refused the bridge's token while
                writing a purge note (``TrackerAuthError``).
            SkippableError: the tracker refused a purge note (``TrackerRefused``; a deleted
                issue is a problem line instead).
        """
        now = self.clock.now()
        result = PurgeResult(dry_run)
        content_due = timedelta(days=self.retention.content_days_after_close)
        contact_due = timedelta(days=self.retention.contact_days_after_close)
        contact_reached: set[str] = set()
        # Under new retention periods every closed report is looked at once; a dry run, which
        # must not mark them, reads every closed report with a moment still to come instead.
        stale = self._retention_changed(now, mark=not dry_run)
        read_until = _FOREVER if stale and dry_run else now
        after: str | None = None
        while True:
            with self.unit_of_work() as uow:
                page = uow.reports.due_reports_page(read_until, after, self.page_size, closed=True)
            moments: list[tuple[Report, datetime | None]] = []
            for report in page:
                report_id = str(report.report_id)
                since = closed_since(report) or report.received_at
                content_at, contact_at = since + content_due, since + contact_due
                if content_at <= now and not self._purge_report(report_id, now, result):
                    continue  # deferred: the report stays due and the next pass retries
                if contact_at <= now:
                    contact_reached.add(report_id)
                upcoming = [moment for moment in (content_at, contact_at) if moment > now]
                moments.append((report, min(upcoming, default=None)))
            if moments and not dry_run:
                with self.unit_of_work() as uow:
                    for report, moment in moments:
                        legal = self._legal_moment(uow, report)
                        found = [m for m in (moment, legal) if m is not None]
                        uow.reports.set_next_due(report, min(found, default=None))
                    uow.commit()
            if len(page) < self.page_size:
                break
            after = str(page[-1].report_id)
        self._purge_unlinked(now - content_due, result)
        if contact_reached:
            self._erase_due_contacts(contact_reached, now, contact_due, result)
        self._write_owed_notes(result, pending=dry_run)
        if summary is not None:
            for key, value in result.counts.items():
                if value:
                    summary.bump(PassCounter(key), value)
            summary.problems.extend(result.problems)
        return result

    def _legal_moment(self, uow: UnitOfWork, report: Report) -> datetime | None:
        """The closed report's legal clocks' next moment (past: a reminder is owed to the sync).

        ``reports.next_due_at`` is shared with the sync: storing only retention's moment would
        silence a GDPR or CRA clock still running after the report closed.
        """
        if not self.regulatory.enabled:
            return None
        events = uow.reports.events(str(report.report_id))
        return next_moment(report, events, self.regulatory, self.tz)

    def _retention_changed(self, now: datetime, *, mark: bool) -> bool:
        """Whether stored moments came from other retention periods; ``mark`` makes all due."""
        retention = self.retention
        name = (
            f"retention:{retention.content_days_after_close}:{retention.contact_days_after_close}"
        )
        with self.unit_of_work() as uow:
            if uow.bookmarks.get(name) is not None:
                return False
            if mark:
                uow.reports.mark_all_due()
                uow.bookmarks.set(name, now)
                uow.commit()
        return True

    def _erase_due_contacts(
        self, reached: set[str], now: datetime, contact_due: timedelta, result: PurgeResult
    ) -> None:
        """Erase each researcher whose every report has been closed for the contact period.

        Only researchers of ``reached`` (reports whose contact moment came this pass) are
        checked: the last of a researcher's reports to reach it is always among them.
        """
        with self.unit_of_work() as uow:
            holders = [h for h in uow.privacy.contact_holders() if reached & set(h.report_ids)]
            reports = {r: uow.reports.get(r) for h in holders for r in h.report_ids}
        for holder in holders:
            times = [
                None if (report := reports[r]) is None else closed_since(report)
                for r in holder.report_ids
            ]
            if not holder.report_ids or any(t is None or t + contact_due > now for t in times):
                continue
            result.counts["researchers"] += 1
            result.contact_reports.extend(holder.report_ids)
            if not result.dry_run:
                self._erase(holder.researcher_key, now, "contact", "purge")

    def _purge_report(self, report_id: str, now: datetime, result: PurgeResult) -> bool:
        """Purge one report's content; False when deferred (a mailbox was unavailable)."""
        with self.unit_of_work() as uow:
            held = uow.privacy.held_content(report_id)
        if held.is_empty:
            return True
        try:
            copies = self._delete_copies(held.message_ids, held.digests, result.dry_run)
        except RetriableError as err:
            result.problems.append(f"{report_id}: mailbox copies not deleted yet, retrying: {err}")
            return False
        if not result.dry_run:
            with self.unit_of_work() as uow:
                purged = uow.privacy.purge_content(report_id)
                detail = held_detail(purged)
                uow.reports.add_event(ReportEvent(report_id, now, "content_purged", detail))
                uow.audit.record(
                    AuditEntry(now, "purge", "content_purged", "ok", report_id, detail)
                )
                uow.commit()
            late = [m for m in purged.message_ids if m not in held.message_ids]
            if late:  # a reply stored between the count and the purge
                copies += self._delete_copies(late, purged.digests, dry_run=False)
            held = purged
        result.add(held, copies)
        result.content_reports.append(report_id)
        return True

    def _purge_unlinked(self, received_before: datetime, result: PurgeResult) -> None:
        with self.unit_of_work() as uow:
            unlinked = uow.privacy.unlinked_messages(received_before)
        if not unlinked:
            return
        try:
            copies = self._delete_copies(
                [m.message_id for m in unlinked], [m.digest for m in unlinked], result.dry_run
            )
        except RetriableError as err:
            result.problems.append(f"quarantined mail: mailbox copies not deleted yet: {err}")
            return
        if not result.dry_run:
            with self.unit_of_work() as uow:
                uow.privacy.delete_messages([(m.message_id, m.digest) for m in unlinked])
                uow.audit.record(
                    AuditEntry(
                        self.clock.now(),
                        "purge",
                        "messages_purged",
                        "ok",
                        None,
                        f"{len(unlinked)} message(s) that belonged to no report",
                    )
                )
                uow.commit()
        result.counts["unlinked_messages"] += len(unlinked)
        result.counts["mailbox_copies"] += copies

    def _delete_copies(
        self, message_ids: Sequence[str], digests: Sequence[str], dry_run: bool
    ) -> int:
        if not message_ids and not digests:
            return 0
        return sum(
            archive.delete_copies(message_ids, digests, dry_run=dry_run)
            for archive in self.archives
        )

    # ------------------------------------------------------------------ erasure

    def _erase(self, researcher_key: str, now: datetime, why: str, actor: str) -> list[str]:
        """Erase contact details (content purged first when ``why`` is forget); report ids."""
        with self.unit_of_work() as uow:
            # An erasure request takes the credit name too; retention keeps a consented one.
            erased = uow.privacy.erase_contact(researcher_key, keep_credit=why != "forget")
            for report_id in erased.report_ids:
                detail = (
                    f"outbox rows stripped {erased.outbox_rows}, "
                    f"cancelled {erased.outbox_cancelled}"
                )
                kind = "forgotten" if why == "forget" else "contact_erased"
                uow.reports.add_event(ReportEvent(report_id, now, kind, detail))
                uow.audit.record(AuditEntry(now, actor, kind, "ok", report_id, detail))
            uow.commit()
        return list(erased.report_ids)

    # ------------------------------------------------------------------ notes

    def _write_owed_notes(
        self, result: PurgeResult, *, pending: bool, only: Sequence[str] | None = None
    ) -> None:
        """Note each purge or erasure on its issue once; ``pending`` counts the dry run's too."""
        with self.unit_of_work() as uow:
            # What is owed comes from one query: a pass with nothing owed reads no report.
            found = [o for o in uow.privacy.owed_notes() if only is None or o.report_id in only]
            pending_ids = (
                list(dict.fromkeys(result.content_reports + result.contact_reports))
                if pending
                else []
            )
            refs = {
                report_id: ref
                for report_id in dict.fromkeys([o.report_id for o in found] + pending_ids)
                if (ref := uow.links.get(report_id)) is not None
            }
            owed: list[tuple[str, IssueRef, str, datetime]] = [
                (o.report_id, refs[o.report_id], o.what, o.at) for o in found if o.report_id in refs
            ]
            for report_id in pending_ids:
                ref = refs.get(report_id)
                if ref is None:
                    continue
                noted = {e.detail for e in uow.reports.events(report_id) if e.kind == "purge_noted"}
                noted |= {o.what for o in found if o.report_id == report_id}
                if report_id in result.content_reports and "content" not in noted:
                    owed.append((report_id, ref, "content", self.clock.now()))
                if report_id in result.contact_reports and "contact" not in noted:
                    owed.append((report_id, ref, "contact", self.clock.now()))
        for report_id, ref, what, at in owed:
            if pending:
                result.counts["notes"] += 1
                continue
            if self.tracker is None:
                continue
            try:
                self.tracker.add_note(ref, self._note_text(what, at))
            except (RetriableError, NotFoundError) as err:
                result.problems.append(f"{report_id}: purge note not written yet: {err}")
                continue
            with self.unit_of_work() as uow:
                uow.reports.add_event(
                    ReportEvent(
                        report_id,
                        self.clock.now(),
                        "purge_noted",
                        what,
                        dedupe_key=f"purge_noted:{what}:{report_id}",
                    )
                )
                uow.commit()
            result.counts["notes"] += 1

    def _note_text(self, what: str, at: datetime) -> str:
        day = self.local_date(at).isoformat()
        if what == "content":
            days = self.retention.content_days_after_close
            return (
                f"tracker-bridge purged the stored report text on {day} (retention {days} days): "
                "the raw mail, decrypted text and attachments it held are deleted. "
                "This issue is not changed."
            )
        if what == "contact":
            days = self.retention.contact_days_after_close
            return (
                f"tracker-bridge purged the stored contact details on {day} "
                f"(retention {days} days): the researcher is now recorded as "
                f'"{REMOVED_RESEARCHER}".'
            )
        return (
            f"tracker-bridge erased the researcher's contact details and messages on {day} at "
            f'their request; the report stays, pseudonymised as "{REMOVED_RESEARCHER}", and no '
            "further mail will reach them."
        )


def held_detail(held: HeldContent) -> str:
    """What a purge deleted, for the audit log and the report's events (counts only)."""
    return (
        f"contents {held.contents}, attachments {held.attachments}, messages {held.messages}, "
        f"outbox rows {held.outbox_rows}"
    )

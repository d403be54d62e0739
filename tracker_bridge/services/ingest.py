"""Ingest: every incoming mail ends as a report, a reply on a report, or a quarantined message.

The outcome is committed before the message leaves its mailbox, and the same message read
twice (same Message-ID and digest) creates nothing new, so a crash anywhere is repaired by the
next pass. The tracker issue is opened after the report is committed; a report whose issue
could not be opened yet is picked up again by ``open_pending_issues``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from tracker_bridge.domain.deadlines import DeadlineKind
from tracker_bridge.domain.report import REPORT_ID_SEARCH, Report, ReportId, State
from tracker_bridge.domain.researcher import Language, Researcher
from tracker_bridge.errors import (
    FatalError,
    ForeignIssueError,
    RetriableError,
    SkippableError,
    TrackerAuthError,
)
from tracker_bridge.ports import (
    BRIDGE_NOTE_PREFIX,
    AuditEntry,
    Clock,
    InboundMessage,
    IssueDraft,
    MailboxItem,
    MailSource,
    MessageReader,
    NotificationKind,
    OpenPGP,
    OutboxItem,
    PassSummary,
    ReportContent,
    ReportEvent,
    SignatureStatus,
    StoredMessage,
    Tracker,
    UnitOfWork,
    Verdict,
)
from tracker_bridge.services.context import Program
from tracker_bridge.services.privacy import message_reference

PROGRAM = "default"
# The event that records why a report is not in the tracker yet (``reports`` shows it).
NOT_IN_TRACKER_EVENT = "issue_not_opened"


@dataclass(frozen=True)
class IngestOutcome:
    """What became of one message: the line ``ingest`` prints for it."""

    source: str
    message_id: str
    verdict: Verdict
    reason: str
    report_id: str | None = None
    already_seen: bool = False
    note_pending: bool = False


@dataclass
class Ingest:
    """Turns mailbox items into reports and replies, and opens their tracker issues."""

    program: Program
    unit_of_work: Callable[[], UnitOfWork]
    reader: MessageReader
    openpgp: OpenPGP
    clock: Clock
    tracker: Tracker | None = None
    # Open reports are walked in pages of this many when looking for issues still to open.
    page_size: int = 500
    _tracker_stopped: str | None = field(default=None, init=False)
    _tracker_down: str | None = field(default=None, init=False)

    # -- whole sources

    def run(self, sources: Iterable[MailSource], summary: PassSummary) -> list[IngestOutcome]:
        """Read every waiting message of every source; settle each after its outcome is stored."""
        # A new pass: whatever stopped tracker work last time gets one more try.
        self._tracker_stopped = None
        outcomes = []
        for source in sources:
            for item in source.fetch():
                outcome = self.ingest(item, summary)
                outcomes.append(outcome)
                if outcome.note_pending:
                    # A reply whose note the tracker did not take yet stays in the inbox: the
                    # next pass reads it again as already seen and retries only the note.
                    continue
                try:
                    source.settle(item, outcome.verdict)
                except SkippableError as err:
                    # The outcome is committed; the copy stays where it is and the next pass
                    # reads it again as already seen. One stuck message never stops the others.
                    summary.bump("settle_deferred")
                    summary.problems.append(f"{item.source} {item.handle}: not moved yet: {err}")
        self.open_pending_issues(summary)
        return outcomes

    # -- one message

    def ingest(self, item: MailboxItem, summary: PassSummary) -> IngestOutcome:
        """Decide on one message and commit the outcome (tracker work happens after commit)."""
        inbound = self.reader.read(item.raw)
        now = self.clock.now()
        with self.unit_of_work() as uow:
            stored = uow.messages.seen(inbound.message_id, inbound.digest)
            unnoted = (
                stored is not None
                and stored.verdict is Verdict.REPLY
                and stored.report_id is not None
                and f"reply_noted:{inbound.message_id}"
                not in {e.dedupe_key for e in uow.reports.events(stored.report_id)}
            )
        if stored is not None:
            summary.bump("already_seen")
            pending = False
            if unnoted and stored.report_id is not None:
                # Stored before a crash or a tracker outage, but its note never reached the issue.
                pending = not self._note_reply(stored.report_id, inbound, summary)
            return IngestOutcome(
                item.source,
                inbound.message_id,
                stored.verdict,
                stored.reason,
                stored.report_id,
                already_seen=True,
                note_pending=pending,
            )
        if inbound.verdict is Verdict.REPORT:
            self._move_sequence_past_tracker(now, summary)
        with self.unit_of_work() as uow:
            outcome = self._decide(uow, item, inbound, now)
            uow.audit.record(
                AuditEntry(
                    now,
                    "ingest",
                    "message_received",
                    outcome.verdict.value,
                    outcome.report_id,
                    f"{message_reference(inbound.message_id)} via {item.source}",
                )
            )
            uow.commit()
        summary.bump(outcome.verdict.value)
        if outcome.verdict is Verdict.REPORT and outcome.report_id is not None:
            self._open_issue(outcome.report_id, summary)
        elif (
            outcome.verdict is Verdict.REPLY
            and outcome.report_id is not None
            and not self._note_reply(outcome.report_id, inbound, summary)
        ):
            return replace(outcome, note_pending=True)
        return outcome

    def _decide(
        self, uow: UnitOfWork, item: MailboxItem, inbound: InboundMessage, now: datetime
    ) -> IngestOutcome:
        if inbound.verdict in (Verdict.QUARANTINE, Verdict.IGNORE):
            return self._store(uow, item, inbound, now, inbound.verdict, inbound.reason, None)
        report_id = self._thread(uow, inbound)
        if report_id is not None:
            return self._attach_reply(uow, item, inbound, now, report_id)
        if inbound.auto_submitted:
            reason = (
                "automatic message (auto-submitted, bounce or list mail) that belongs to no report"
            )
            return self._store(uow, item, inbound, now, Verdict.QUARANTINE, reason, None)
        return self._new_report(uow, item, inbound, now)

    def thread_of(self, inbound: InboundMessage) -> str | None:
        """The report ``inbound`` would be attached to, read without changing anything."""
        with self.unit_of_work() as uow:
            return self._thread(uow, inbound)

    def _thread(self, uow: UnitOfWork, inbound: InboundMessage) -> str | None:
        """The report a reply belongs to: plus-address or subject (same sender), or thread ids."""
        sender = inbound.sender.lower()
        candidates = [
            match.group(0)
            for text in (*inbound.recipients, inbound.subject)
            for match in REPORT_ID_SEARCH.finditer(text)
        ]
        for candidate in candidates:
            researcher = uow.reports.researcher_of(candidate)
            if researcher is not None and researcher.email.lower() == sender:
                return candidate
        if inbound.in_reply_to:
            return uow.messages.report_for_message_ids(list(inbound.in_reply_to))
        return None

    def _attach_reply(
        self,
        uow: UnitOfWork,
        item: MailboxItem,
        inbound: InboundMessage,
        now: datetime,
        report_id: str,
    ) -> IngestOutcome:
        kind = "bounce" if inbound.auto_submitted else "researcher_reply"
        uow.reports.add_event(
            ReportEvent(
                report_id, now, kind, inbound.message_id, dedupe_key=f"reply:{inbound.message_id}"
            )
        )
        report = uow.reports.get(report_id)
        if report is not None and report.state is State.NEEDS_INFO and not inbound.auto_submitted:
            # The researcher answered our question: the paused clocks run again.
            report.transition(State.TRIAGING, now)
            uow.reports.save(report)
        self._learn_key(uow, inbound, report_id, now)
        reason = "bounce of our mail" if inbound.auto_submitted else "reply from the researcher"
        return self._store(uow, item, inbound, now, Verdict.REPLY, reason, report_id)

    def _new_report(
        self, uow: UnitOfWork, item: MailboxItem, inbound: InboundMessage, now: datetime
    ) -> IngestOutcome:
        researcher = uow.researchers.get(inbound.sender)
        if researcher is None:
            researcher = Researcher(
                email=inbound.sender,
                display_name=inbound.sender_name,
                language=Language.best_match(inbound.language),
            )
            uow.researchers.save(researcher)
        report_id = uow.reports.next_id(
            PROGRAM, self.program.id_prefix, self.program.local_date(now).year
        )
        report = Report(report_id=report_id, program=PROGRAM, received_at=now)
        content = ReportContent(
            report_id=str(report_id),
            subject=inbound.subject,
            body=inbound.body,
            encrypted=inbound.decrypted,
            signature=inbound.signature,
            unencrypted_parts=inbound.unencrypted_parts,
            attachments=inbound.attachments,
        )
        uow.reports.add(report, researcher.email, content)
        self._learn_key(uow, inbound, str(report_id), now)
        outcome = self._store(uow, item, inbound, now, Verdict.REPORT, "new report", str(report_id))
        if not inbound.auto_submitted:
            uow.outbox.add(self._acknowledgement(report, researcher, inbound, now))
        return outcome

    def _learn_key(
        self, uow: UnitOfWork, inbound: InboundMessage, report_id: str, now: datetime
    ) -> None:
        """Adopt a key the reader matched to the From address; never swap a known one silently."""
        if not inbound.keys_found:
            return
        researcher = uow.researchers.get(inbound.sender)
        if researcher is None:
            return
        offered = inbound.keys_found[0]
        if researcher.fingerprint is None:
            researcher.fingerprint = offered
            uow.researchers.save(researcher)
            uow.reports.add_event(ReportEvent(report_id, now, "key_learned", offered))
        elif researcher.fingerprint != offered:
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    now,
                    "different_key_offered",
                    f"known {researcher.fingerprint}, offered {offered}; not swapped",
                    dedupe_key=f"different_key:{researcher.email}:{offered}",
                )
            )

    def _store(
        self,
        uow: UnitOfWork,
        item: MailboxItem,
        inbound: InboundMessage,
        now: datetime,
        verdict: Verdict,
        reason: str,
        report_id: str | None,
    ) -> IngestOutcome:
        # Kept as received; what arrived in clear is encrypted to the bridge key before storing.
        raw = item.raw if inbound.encrypted else self.openpgp.encrypt_to_self(item.raw)
        uow.messages.add(
            StoredMessage(
                message_id=inbound.message_id,
                digest=inbound.digest,
                received_at=now,
                verdict=verdict,
                reason=reason,
                encrypted_raw=raw,
                report_id=report_id,
                source=item.source,
            )
        )
        return IngestOutcome(item.source, inbound.message_id, verdict, reason, report_id)

    def _acknowledgement(
        self, report: Report, researcher: Researcher, inbound: InboundMessage, now: datetime
    ) -> OutboxItem:
        report_id = str(report.report_id)
        assessment = self.program.deadline(report, DeadlineKind.ASSESSMENT, now)
        signed = inbound.signature.status is SignatureStatus.VALID
        params = common_params(self.program, report_id, researcher) | {
            "subject": inbound.subject,
            "received_date": self.program.local_date(now).isoformat(),
            "assessment_due": self.program.last_day(assessment.due).isoformat()
            if assessment
            else "",
            "arrived_encrypted": "yes" if inbound.decrypted else "no",
            "arrived_signed": "yes" if signed else "no",
        }
        return new_outbox_item(
            self.program,
            report_id,
            researcher,
            NotificationKind.ACKNOWLEDGEMENT,
            "acknowledgement",
            params,
            dedupe_key=f"ack:{report_id}",
            now=now,
        )

    # -- report ids the tracker already holds

    def _move_sequence_past_tracker(self, now: datetime, summary: PassSummary) -> None:
        """Move the id sequence past ids the tracker already holds (before every new report).

        A store pointed at a tracker that an earlier store filled (a new database, a restored
        backup) would otherwise hand out CVD-2026-0001 again. The probe asks the tracker for
        the next id the store would hand out; when it is taken it doubles the step and
        bisects to the first free id after it: one marker look-up per new report when the id
        is free, about 2 log2(n) when n ids in a row are taken. Asked again for every new
        report, so a taken id further on (the tracker holds 0030 while the store is at 0018)
        is skipped when the sequence reaches it, never handed out.
        """
        if self.tracker is None or self._tracker_stopped is not None:
            return
        prefix, year = self.program.id_prefix, self.program.local_date(now).year
        with self.unit_of_work() as uow:
            last = uow.reports.last_sequence(prefix, year)
        tracker = self.tracker

        def taken(sequence: int) -> bool:
            return tracker.find_issue(str(ReportId(prefix, year, sequence))) is not None

        try:
            if not taken(last + 1):
                return
            low, step = last + 1, 1  # low is taken
            while taken(low + step):
                low, step = low + step, step * 2
            high = low + step  # free
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if taken(middle) else (low, middle)
        except RetriableError as err:
            summary.problems.append(
                f"report ids: could not ask the tracker which ids it holds, the next pass "
                f"asks again: {err}"
            )
            self._tracker_down = str(err)
            return
        except FatalError as err:
            # The report is still stored; its issue waits (and says why) like any other.
            self._tracker_stopped = str(err)
            if isinstance(err, TrackerAuthError):
                summary.bump("tracker_auth_refused")
            summary.problems.append(f"report ids: the tracker refused the look-up: {err}")
            return
        with self.unit_of_work() as uow:
            uow.reports.skip_past(prefix, year, low)
            uow.audit.record(
                AuditEntry(
                    now,
                    "ingest",
                    "report_ids_moved",
                    "ok",
                    None,
                    f"{prefix}-{year} ids up to {ReportId(prefix, year, low)} are taken in the "
                    "tracker; the store's sequence moved past them",
                )
            )
            uow.commit()
        summary.bump("report_ids_moved")

    # -- tracker work after commit

    def open_pending_issues(self, summary: PassSummary) -> None:
        """Open issues for reports that have none yet (a crash or an outage left them behind)."""
        self._tracker_down = None  # worth another try: a few minutes may have passed
        after: str | None = None
        while True:
            with self.unit_of_work() as uow:
                page = [
                    str(report.report_id)
                    for report in uow.reports.open_reports_page(after, self.page_size)
                ]
                linked = uow.links.links_of(page)
            for report_id in page:
                if report_id not in linked:
                    self._open_issue(report_id, summary)
            if len(page) < self.page_size:
                return
            after = page[-1]

    def _open_issue(self, report_id: str, summary: PassSummary) -> None:
        if self.tracker is None:
            summary.bump("issue_deferred")
            return
        with self.unit_of_work() as uow:
            if uow.links.get(report_id) is not None:
                return
            report = uow.reports.get(report_id)
            content = uow.reports.content(report_id)
            researcher = uow.reports.researcher_of(report_id)
            installation = uow.installation.store_id()
        if report is None or content is None:
            return
        if self._tracker_stopped is not None:
            # The tracker refused an earlier report of this pass for a reason a person must
            # fix; this one waits for the same fix and says so.
            self._not_in_tracker(report_id, self._tracker_stopped, summary)
            return
        if self._tracker_down is not None:
            summary.bump("issue_deferred")
            summary.problems.append(
                f"{report_id}: issue not opened yet, will retry: {self._tracker_down}"
            )
            return
        draft = self.draft(report, content, researcher, installation=installation)
        try:
            ref = self.tracker.open_issue(draft)
        except RetriableError as err:
            summary.bump("issue_deferred")
            summary.problems.append(f"{report_id}: issue not opened yet, will retry: {err}")
            return
        except FatalError as err:
            if not isinstance(err, ForeignIssueError):
                # Refused token or confidentiality: every report waits for the same fix.
                # Another store's issue on this report's id concerns this report alone.
                self._tracker_stopped = str(err)
            summary.bump("issue_failed")
            if isinstance(err, TrackerAuthError):
                summary.bump("tracker_auth_refused")
            self._not_in_tracker(report_id, str(err), summary)
            return
        with self.unit_of_work() as uow:
            uow.links.link(report_id, ref)
            uow.links.set_labels(report_id, draft.labels)
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    self.clock.now(),
                    "issue_opened",
                    ref.url,
                    dedupe_key=f"issue:{report_id}",
                )
            )
            uow.commit()
        summary.bump("issue_opened")

    def _not_in_tracker(self, report_id: str, reason: str, summary: PassSummary) -> None:
        """Say, in this pass's summary and on the report, why it is not in the tracker yet.

        The report stays unlinked, so every pass tries again; ``reports`` shows the reason
        from the latest ``issue_not_opened`` event (one event per distinct reason).
        """
        summary.bump("not_in_tracker")
        summary.problems.append(f"{report_id}: not yet in the tracker: {reason}")
        digest = hashlib.sha256(reason.encode("utf-8")).hexdigest()[:16]
        with self.unit_of_work() as uow:
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    self.clock.now(),
                    NOT_IN_TRACKER_EVENT,
                    reason,
                    dedupe_key=f"not_opened:{report_id}:{digest}",
                )
            )
            uow.commit()

    def draft(
        self,
        report: Report,
        content: ReportContent,
        researcher: Researcher | None,
        *,
        installation: str = "",
    ) -> IssueDraft:
        """The issue for a report: the bridge's summary block, then the researcher's words.

        ``installation`` is the store id the plugin writes into the issue's marker.
        """
        now = self.clock.now()
        program = self.program
        report_id = str(report.report_id)
        received = report.received_at.astimezone(program.calendar.tz)
        summary: list[tuple[str, str]] = [
            ("Report", report_id),
            ("Received", received.strftime("%Y-%m-%d %H:%M %Z")),
            ("Severity", report.severity.value),
        ]
        for deadline in program.deadlines(report, now):
            if deadline.kind in (
                DeadlineKind.ACKNOWLEDGE,
                DeadlineKind.ASSESSMENT,
                DeadlineKind.FIX,
            ):
                label = f"{deadline.kind.value.capitalize()} by"
                summary.append((label, program.last_day(deadline.due).isoformat()))
        signature = content.signature
        signed = signature.status.value.replace("_", " ")
        if signature.fingerprint:
            signed += f" ({signature.fingerprint})"
        protection = "encrypted" if content.encrypted else "UNENCRYPTED"
        summary.append(("Arrived", f"{protection}, signature {signed}"))
        if researcher is not None:
            name = researcher.pseudonym or researcher.display_name or "(no name given)"
            contact = (
                researcher.email if program.show_address_in_tracker else "kept in tracker-bridge"
            )
            summary.append(("Researcher", f"{name}; contact {contact}"))
            summary.append(("Credit wish", researcher.credit_wish.value))
        # The bridge's own notes belong to its summary, not among what the researcher sent.
        notes = [p for p in content.unencrypted_parts if p.startswith(BRIDGE_NOTE_PREFIX)]
        summary += [("Bridge note", note.removeprefix(BRIDGE_NOTE_PREFIX)) for note in notes]
        return IssueDraft(
            report_id=report_id,
            title=content.subject or "(no subject)",
            body=content.body,
            summary=tuple(summary),
            labels=program.labels.for_report(
                report.severity, report.state, program.deadline_status(report, now)
            ),
            due_date=report.expected_fix_date.date() if report.expected_fix_date else None,
            attachments=tuple(attachment.info for attachment in content.attachments),
            attachment_files=content.attachments,
            unencrypted_parts=tuple(p for p in content.unencrypted_parts if p not in notes),
            installation=installation,
        )

    def _note_reply(self, report_id: str, inbound: InboundMessage, summary: PassSummary) -> bool:
        """Add a researcher's reply to the issue as an internal note; False when deferred."""
        if self.tracker is None or self._tracker_stopped is not None:
            summary.bump("note_deferred")
            return False
        with self.unit_of_work() as uow:
            ref = uow.links.get(report_id)
        if ref is None:
            summary.bump("note_deferred")
            return False
        what = (
            "An automatic reply or bounce" if inbound.auto_submitted else "The researcher replied"
        )
        protection = "encrypted" if inbound.decrypted else "UNENCRYPTED"
        try:
            self.tracker.add_note(
                ref,
                f"{what} ({protection}, signature {inbound.signature.status.value}):",
                untrusted=inbound.body,
            )
        except RetriableError as err:
            summary.bump("note_deferred")
            summary.problems.append(f"{report_id}: reply not added to the issue yet: {err}")
            return False
        with self.unit_of_work() as uow:
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    self.clock.now(),
                    "reply_noted",
                    inbound.message_id,
                    dedupe_key=f"reply_noted:{inbound.message_id}",
                )
            )
            uow.commit()
        return True


def common_params(program: Program, report_id: str, researcher: Researcher) -> dict[str, str]:
    """Placeholders every researcher mail has."""
    return {
        "report_id": report_id,
        "organisation": program.organisation,
        "researcher_name": researcher.salutation_name,
        "contact_address": program.contact,
        "reply_address": program.reply_address(report_id),
        "policy_url": program.policy_url,
    }


def new_outbox_item(
    program: Program,
    report_id: str,
    researcher: Researcher,
    kind: NotificationKind,
    template: str,
    params: dict[str, str],
    *,
    dedupe_key: str,
    now: datetime,
) -> OutboxItem:
    """An outbox row with a Message-ID fixed now, so a resend after a crash carries the same id."""
    outbox_id = uuid.uuid4().hex
    domain = program.contact.partition("@")[2] or "tracker-bridge.invalid"
    return OutboxItem(
        outbox_id=outbox_id,
        report_id=report_id,
        recipient=researcher.email,
        kind=kind,
        template=template,
        language=researcher.language.value,
        params=params,
        message_id=f"<{report_id}.{outbox_id}@{domain}>",
        dedupe_key=dedupe_key,
        created_at=now,
        next_attempt_at=now,
    )

"""Ingest: every incoming mail ends as a report, a reply on a report, or a quarantined message.

The outcome is committed before the message leaves its mailbox, and the same message read
twice (same Message-ID and digest) creates nothing new, so a crash anywhere is repaired by the
next pass. The tracker issue is opened after the report is committed; a report whose issue
could not be opened yet is picked up again by ``open_pending_issues``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tracker_bridge.domain.deadlines import DeadlineKind
from tracker_bridge.domain.message_ids import SYNTHETIC_DOMAIN
from tracker_bridge.domain.report import REPORT_ID_SEARCH, Report, ReportId, State
from tracker_bridge.domain.researcher import (
    CreditAnswer,
    Language,
    Researcher,
    accept_credit,
    parse_credit_answer,
)
from tracker_bridge.errors import (
    SKIPPABLE,
    FatalError,
    ForeignIssueError,
    RetriableError,
    SkippableError,
    TrackerAuthError,
)
from tracker_bridge.ports.intake import (
    BRIDGE_NOTE_PREFIX,
    InboundMessage,
    MailboxItem,
    MailSource,
    MessageReader,
    Origin,
    Verdict,
)
from tracker_bridge.ports.mail import NotificationKind, OutboxItem
from tracker_bridge.ports.openpgp import OpenPGP, SignatureCheck, SignatureStatus
from tracker_bridge.ports.privacy import AuditEntry
from tracker_bridge.ports.store import ReportContent, ReportEvent, StoredMessage
from tracker_bridge.ports.tracker import IssueDraft, Tracker
from tracker_bridge.services.audit import message_reference
from tracker_bridge.services.pass_outcome import PassCounter
from tracker_bridge.services.refusals import Refusals

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import datetime

    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.summary import PassSummary
    from tracker_bridge.ports.unit_of_work import UnitOfWork
    from tracker_bridge.services.context import Program

PROGRAM = "default"
# The event that records why a report is not in the tracker yet (``reports`` shows it).
NOT_IN_TRACKER_EVENT = "issue_not_opened"

# Team comment that makes a key the researcher offered the one the bridge encrypts to.
CONFIRM_KEY_MARKER = "[confirm key]"
THIRD_PARTY = "third-party mail"
# Reply and forward prefixes of common clients (RFC 5322 section 3.6.5; AW/Antw/SV/WG: de, nl,
# sv/da, de forwards): a subject starting so answers the report it names.
_REPLY_SUBJECT = re.compile(r"^\s*(?:re|aw|antw|sv|vs|fwd?|wg|doorst)\s*:", re.IGNORECASE)
REPLAY = "replayed ciphertext"
# ``run`` fetches and reads the next message while it stores one of at most this size (bytes).
READ_AHEAD_MAX_BYTES = 1024 * 1024
_OFFERED = re.compile(r"offered ([0-9A-F]{40}|[0-9A-F]{64})")


@dataclass(frozen=True)
class _NewReport:
    """A report the open transaction added, and its content as added."""

    report: Report
    content: ReportContent


@dataclass(frozen=True)
class _IssueOpening:
    """What a new report's issue is drafted from, read in the transaction that stored it."""

    report: Report
    content: ReportContent
    researcher: Researcher | None
    installation: str


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
    # The mail addresses in a key's uids (``GnuPG.key_addresses``): tells a signer who is not
    # the sender from one who is. None shows signatures without that comparison.
    signer_addresses: Callable[[str], tuple[str, ...]] | None = None
    _tracker_stopped: str | None = field(default=None, init=False)
    _tracker_down: str | None = field(default=None, init=False)
    # Credit answers recorded in the open transaction, noted on the issue after it commits.
    _credit_notes: list[tuple[str, CreditAnswer]] = field(default_factory=list, init=False)
    # The report the open transaction created, with what its issue is drafted from.
    _created: _NewReport | None = field(default=None, init=False)
    # Whether the open transaction recorded a different key offered (a note for the team).
    _key_offered: bool = field(default=False, init=False)
    # The store's id (``installation.store_id``): fixed for a store, read once.
    _installation: str | None = field(default=None, init=False)

    # -- whole sources

    def run(self, sources: Iterable[MailSource], summary: PassSummary) -> list[IngestOutcome]:
        """Read every waiting message of every source; settle each after its outcome is stored.

        Tracker errors never leave this method: they are counted in ``summary`` and the issue
        waits for the next pass. A message the source could not move stays where it is
        (``settle_deferred``).

        Returns:
            One outcome per message read, in the sources' order.

        Raises:
            RetriableError: the mailbox (``MailUnavailable``) or the store (``StoreBusy``,
                ``StoreUnavailable``) did not answer; what was committed stays, the next pass
                goes on from there.
            FatalError: the mailbox or the store is misconfigured or broken
                (``ConfigurationError``, ``StoreError``).
        """
        # A new pass: whatever stopped tracker work last time gets one more try.
        self._tracker_stopped = None
        outcomes = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read") as pool:
            for source in sources:
                outcomes += self._run_source(source, summary, pool)
        self.open_pending_issues(summary)
        return outcomes

    def _run_source(
        self, source: MailSource, summary: PassSummary, pool: ThreadPoolExecutor
    ) -> list[IngestOutcome]:
        """Ingest and settle every message of ``source``, reading each next one ahead."""
        outcomes = []
        for item, inbound in _read_ahead(source.fetch(), self.reader, pool):
            outcome = self.ingest(item, summary, inbound)
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
                summary.bump(PassCounter.SETTLE_DEFERRED)
                summary.problems.append(f"{item.source} {item.handle}: not moved yet: {err}")
        return outcomes

    # -- one message

    def ingest(
        self, item: MailboxItem, summary: PassSummary, inbound: InboundMessage | None = None
    ) -> IngestOutcome:
        """Decide on one message and commit the outcome (tracker work happens after commit).

        ``inbound`` is ``item`` as the reader already read it (``run`` reads ahead); None
        reads it here.

        Raises:
            RetriableError: the store did not answer (``StoreBusy``, ``StoreUnavailable``);
                nothing of this message was committed. Tracker errors are counted, not raised.
            FatalError: the store is broken (``StoreError``).
        """
        if inbound is None:
            inbound = self.reader.read(item.raw)
        now = self.clock.now()
        probe = inbound.verdict is Verdict.REPORT and self._may_probe()
        last_sequence = 0
        with self.unit_of_work() as uow:
            stored = uow.messages.seen(inbound.message_id, inbound.digest)
            unnoted = (
                stored is not None
                and stored.verdict in (Verdict.REPLY, Verdict.QUARANTINE)
                and stored.report_id is not None
                and f"reply_noted:{inbound.message_id}"
                not in {e.dedupe_key for e in uow.reports.events(stored.report_id)}
            )
            if stored is None and probe:
                # Read here, not in a transaction of its own: the probe below starts from it.
                last_sequence = uow.reports.last_sequence(
                    self.program.id_prefix, self.program.local_date(now).year
                )
        if stored is not None:
            summary.bump(PassCounter.ALREADY_SEEN)
            pending = False
            if unnoted and stored.report_id is not None:
                # Stored before a crash or a tracker outage, but its note never reached the issue.
                pending = not self._note_reply(stored.report_id, inbound, stored.reason, summary)
            return IngestOutcome(
                item.source,
                inbound.message_id,
                stored.verdict,
                stored.reason,
                stored.report_id,
                already_seen=True,
                note_pending=pending,
            )
        if probe:
            self._move_sequence_past_tracker(now, summary, last_sequence)
        self._created, self._key_offered = None, False
        opening: _IssueOpening | None = None
        with self.unit_of_work() as uow:
            outcome = self._decide(uow, item, inbound, now)
            detail = f"{message_reference(inbound.message_id)} via {item.source}"
            if outcome.verdict is not Verdict.REPORT:
                # Every refusal, third-party note and automatic mail says why on the audit log.
                detail += f": {outcome.reason}"
            uow.audit.record(
                AuditEntry(
                    now,
                    "ingest",
                    "message_received",
                    outcome.verdict.value,
                    outcome.report_id,
                    detail,
                )
            )
            created = self._created
            if created is not None and self.tracker is not None:
                # What the issue is drafted from, read in this transaction rather than a new
                # one after it: the report and content as just added, the researcher as stored.
                opening = _IssueOpening(
                    created.report,
                    created.content,
                    uow.reports.researcher_of(str(created.report.report_id)),
                    self._store_id(uow),
                )
            uow.commit()
        summary.bump(PassCounter(outcome.verdict.value))
        key_offered, self._created = self._key_offered, None
        if outcome.verdict is Verdict.REPORT and outcome.report_id is not None:
            self._open_issue(outcome.report_id, summary, opening)
        elif (
            outcome.verdict in (Verdict.REPLY, Verdict.QUARANTINE)
            and outcome.report_id is not None
            and not self._note_reply(outcome.report_id, inbound, outcome.reason, summary)
        ):
            self._note_credits(summary)
            return replace(outcome, note_pending=True)
        if outcome.report_id is not None and (outcome.verdict is not Verdict.REPORT or key_offered):
            # A new report has no earlier events: only a key offered just now needs a note.
            self._announce_offered_keys(outcome.report_id, summary)
        self._note_credits(summary)
        return outcome

    def _may_probe(self) -> bool:
        """Whether ``_move_sequence_past_tracker`` would ask the tracker anything now."""
        return self.tracker is not None and self._tracker_stopped is None

    def _store_id(self, uow: UnitOfWork) -> str:
        if self._installation is None:
            self._installation = uow.installation.store_id()
        return self._installation

    def _decide(
        self, uow: UnitOfWork, item: MailboxItem, inbound: InboundMessage, now: datetime
    ) -> IngestOutcome:
        if inbound.verdict in (Verdict.QUARANTINE, Verdict.IGNORE):
            return self._store(uow, item, inbound, now, inbound.verdict, inbound.reason, None)
        if "@" not in inbound.sender:
            reason = "no usable From address (local-part@domain)"
            return self._store(uow, item, inbound, now, Verdict.QUARANTINE, reason, None)
        replayed = (
            uow.messages.report_for_ciphertext(inbound.ciphertext_digest)
            if inbound.ciphertext_digest
            else None
        )
        if replayed is not None:
            original = uow.reports.researcher_of(replayed)
            if original is None or original.email.lower() != inbound.sender.lower():
                # Someone resends a ciphertext they cannot have written: nothing they could
                # learn from (no report, no mail), a note for the team on the original report.
                reason = f"{REPLAY} of {replayed} from a different sender"
                return self._store(uow, item, inbound, now, Verdict.QUARANTINE, reason, replayed)
        report_id = self._thread(uow, inbound)
        if report_id is None and replayed is not None:
            report_id = replayed  # the researcher sent the same ciphertext again
        if report_id is not None:
            not_theirs = self._not_the_researchers(uow, inbound, report_id)
            if not_theirs is not None:
                reason = f"{THIRD_PARTY} naming {report_id}: {not_theirs}"
                return self._store(uow, item, inbound, now, Verdict.REPLY, reason, report_id)
            return self._attach_reply(uow, item, inbound, now, report_id)
        if inbound.auto_submitted:
            reason = (
                "automatic message (auto-submitted, bounce or list mail) that belongs to no report"
            )
            return self._store(uow, item, inbound, now, Verdict.QUARANTINE, reason, None)
        if inbound.origin.verdict is Origin.SPOOFED:
            reason = f"spoofed sender: {inbound.origin.reason}"
            return self._store(uow, item, inbound, now, Verdict.QUARANTINE, reason, None)
        return self._new_report(uow, item, inbound, now)

    def _not_the_researchers(
        self, uow: UnitOfWork, inbound: InboundMessage, report_id: str
    ) -> str | None:
        """Why a mail naming ``report_id`` is not the researcher's own, or None when it is.

        It is theirs when a valid signature by their known key covers it, or when it comes
        from their address and the trusted MTA did not find the From domain spoofed.
        Automatic mail (bounces, out-of-office) is filed on its own terms and passes here.
        """
        if inbound.auto_submitted:
            return None
        researcher = uow.reports.researcher_of(report_id)
        if researcher is None:
            return "the report's researcher is no longer on file"
        signature = inbound.signature
        if (
            researcher.fingerprint is not None
            and signature.status is SignatureStatus.VALID
            and signature.fingerprint == researcher.fingerprint
        ):
            return None
        if inbound.sender.lower() != researcher.email.lower():
            return "sent from an address that is not the researcher's"
        if inbound.origin.verdict is Origin.SPOOFED:
            return f"spoofed sender ({inbound.origin.reason})"
        return None

    def thread_of(self, inbound: InboundMessage) -> str | None:
        """The report ``inbound`` would be attached to, read without changing anything."""
        with self.unit_of_work() as uow:
            return self._thread(uow, inbound)

    def _thread(self, uow: UnitOfWork, inbound: InboundMessage) -> str | None:
        """The report a mail names: plus-address, subject, or thread ids.

        A plus-address, a thread id or a reply subject (``Re: Report CVD-...``) names the
        report whoever writes; whether the mail counts as the researcher's is decided after
        (``_not_the_researchers``), so a stranger's reply becomes a third-party note. A report
        id in someone else's subject that is not a reply is no link: a new researcher may cite
        another report.
        """
        sender = inbound.sender.lower()
        for text in inbound.recipients:
            for match in REPORT_ID_SEARCH.finditer(text):
                if uow.reports.get(match.group(0)) is not None:
                    return match.group(0)
        is_reply = _REPLY_SUBJECT.match(inbound.subject) is not None
        for match in REPORT_ID_SEARCH.finditer(inbound.subject):
            if is_reply and uow.reports.get(match.group(0)) is not None:
                return match.group(0)
            researcher = uow.reports.researcher_of(match.group(0))
            if researcher is not None and researcher.email.lower() == sender:
                return match.group(0)
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
        if not inbound.auto_submitted:
            self._learn_key(uow, inbound, report_id, now)
            self._read_credit(uow, inbound, report_id, now)
        reason = (
            "reply from the researcher"
            if not inbound.auto_submitted
            else "bounce of our mail"
            if inbound.bounce
            else "automatic reply (out-of-office or similar)"
        )
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
        self._created = _NewReport(report, content)
        self._learn_key(uow, inbound, str(report_id), now)
        outcome = self._store(uow, item, inbound, now, Verdict.REPORT, "new report", str(report_id))
        if not inbound.auto_submitted:
            uow.outbox.add(self._acknowledgement(report, researcher, inbound, now))
        return outcome

    def _read_credit(
        self, uow: UnitOfWork, inbound: InboundMessage, report_id: str, now: datetime
    ) -> None:
        """Record a credit answer ("Credit: <name>", "Geen vermelding") in the researcher's reply.

        Only the report's own researcher answers for themselves: a reply from any other address
        sets nothing.
        """
        researcher = uow.reports.researcher_of(report_id)
        if researcher is None or researcher.email.lower() != inbound.sender.strip().lower():
            return
        answer = parse_credit_answer(inbound.body)
        if answer is None:
            return
        accept_credit(researcher, answer)
        uow.researchers.save(researcher)
        uow.reports.add_event(
            ReportEvent(
                report_id,
                now,
                "credit_recorded",
                f"{researcher.credit_wish.value} (researcher's reply {inbound.message_id})",
                dedupe_key=f"credit:{inbound.message_id}",
            )
        )
        self._credit_notes.append((report_id, answer))

    def _note_credits(self, summary: PassSummary) -> None:
        """Show each credit answer recorded by the last commit on its issue, as a note."""
        pending, self._credit_notes = self._credit_notes, []
        if self.tracker is None or self._tracker_stopped is not None:
            return
        day = self.program.local_date(self.clock.now()).isoformat()
        for report_id, answer in pending:
            with self.unit_of_work() as uow:
                ref = uow.links.get(report_id)
            if ref is None:
                continue
            try:
                self.tracker.add_note(
                    ref,
                    f"Credit recorded on {day} from the researcher's reply: {answer.describe()}.",
                    untrusted=answer.name,
                )
            except RetriableError as err:
                summary.problems.append(f"{report_id}: credit note not written yet: {err}")

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
            # Everything withheld for want of a key goes out now, encrypted, in queue order.
            released = uow.outbox.release_withheld(researcher.email, now)
            if released:
                uow.reports.add_event(
                    ReportEvent(report_id, now, "withheld_released", f"{released} mail(s)")
                )
        elif researcher.fingerprint != offered:
            # Recorded and shown to the team; used only after a team member confirms it.
            self._key_offered = True
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    now,
                    "different_key_offered",
                    f"known {researcher.fingerprint}, offered {offered}; not swapped",
                    dedupe_key=f"different_key:{report_id}:{offered}",
                )
            )

    def _announce_offered_keys(self, report_id: str, summary: PassSummary) -> None:
        """Tell the team about a different key the researcher offered, once per key."""
        if self.tracker is None or self._tracker_stopped is not None:
            return
        with self.unit_of_work() as uow:
            ref = uow.links.get(report_id)
            events = uow.reports.events(report_id)
        if ref is None:
            return
        announced = {e.detail for e in events if e.kind == "key_announced"}
        for event in events:
            match = _OFFERED.search(event.detail) if event.kind == "different_key_offered" else None
            if match is None or match.group(1) in announced:
                continue
            offered = match.group(1)
            try:
                self.tracker.add_note(
                    ref,
                    "The researcher's mail carried a **different OpenPGP key** than the one "
                    f"the bridge encrypts to: `{offered}`. It is recorded, not used. If you "
                    "have checked with the researcher (another channel) that it is theirs, "
                    "comment a line starting with `[confirm key]` followed by that "
                    "fingerprint; the bridge then encrypts to it.",
                )
            except RetriableError as err:
                summary.problems.append(f"{report_id}: key note not written yet: {err}")
                return
            with self.unit_of_work() as uow:
                uow.reports.add_event(
                    ReportEvent(
                        report_id,
                        self.clock.now(),
                        "key_announced",
                        offered,
                        dedupe_key=f"key_announced:{report_id}:{offered}",
                    )
                )
                uow.commit()

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
                ciphertext_digest=inbound.ciphertext_digest if inbound.decrypted else None,
            )
        )
        return IngestOutcome(item.source, inbound.message_id, verdict, reason, report_id)

    def _acknowledgement(
        self, report: Report, researcher: Researcher, inbound: InboundMessage, now: datetime
    ) -> OutboxItem:
        report_id = str(report.report_id)
        assessment = self.program.deadline(report, DeadlineKind.ASSESSMENT, now)
        # "Arrived signed" only when the signer is the sender: a valid signature by someone
        # else says nothing about who wrote to us, and the sender must not read it as such.
        signed = (
            inbound.signature.status is SignatureStatus.VALID
            and self._signer_is(inbound.signature.fingerprint, researcher) is True
        )
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

    def _move_sequence_past_tracker(
        self, now: datetime, summary: PassSummary, last: int | None = None
    ) -> None:
        """Move the id sequence past ids the tracker already holds (before every new report).

        A store pointed at a tracker that an earlier store filled (a new database, a restored
        backup) would otherwise hand out CVD-2026-0001 again. The probe asks the tracker for
        the next id the store would hand out; when it is taken it doubles the step and
        bisects to the first free id after it: one marker look-up per new report when the id
        is free, about 2 log2(n) when n ids in a row are taken. Asked again for every new
        report, so a taken id further on (the tracker holds 0030 while the store is at 0018)
        is skipped when the sequence reaches it, never handed out. ``last`` is the store's
        last sequence for ``now``'s year when the caller has read it; None reads it here.
        """
        if self.tracker is None or self._tracker_stopped is not None:
            return
        prefix, year = self.program.id_prefix, self.program.local_date(now).year
        if last is None:
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
                summary.bump(PassCounter.TRACKER_AUTH_REFUSED)
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
        summary.bump(PassCounter.REPORT_IDS_MOVED)

    # -- tracker work after commit

    def open_pending_issues(self, summary: PassSummary) -> None:
        """Open issues for reports that have none yet (a crash or an outage left them behind).

        Reads ``page_size`` reports per transaction. Tracker errors are counted in ``summary``
        (``issue_deferred``, ``issue_failed``, ``tracker_refused``), never raised.

        Raises:
            RetriableError: the store did not answer (``StoreBusy``, ``StoreUnavailable``).
            FatalError: the store is broken (``StoreError``).
        """
        self._tracker_down = None  # worth another try: a few minutes may have passed
        after: str | None = None
        while True:
            # Only the reports without an issue are read: a pass costs nothing per tracked report.
            with self.unit_of_work() as uow:
                page = uow.reports.unlinked_reports_page(after, self.page_size)
            for report_id in page:
                self._open_issue(report_id, summary)
            if len(page) < self.page_size:
                return
            after = page[-1]

    def _open_issue(
        self, report_id: str, summary: PassSummary, opening: _IssueOpening | None = None
    ) -> None:
        """Open the report's issue and link it; ``opening`` carries a report created just now.

        A report read back from the store is skipped when it is linked already. One created
        by this pass's last commit has no link yet unless another worker's
        ``open_pending_issues`` got to it in between; then the tracker finds that issue by
        its marker (plugins are idempotent by report id) and the link is written again.
        """
        if self.tracker is None:
            summary.bump(PassCounter.ISSUE_DEFERRED)
            return
        if opening is None:
            with self.unit_of_work() as uow:
                if uow.links.get(report_id) is not None:
                    return
                report = uow.reports.get(report_id)
                content = uow.reports.content(report_id)
                researcher = uow.reports.researcher_of(report_id)
                installation = self._store_id(uow)
            if report is None or content is None:
                return
        else:
            report, content = opening.report, opening.content
            researcher, installation = opening.researcher, opening.installation
        if self._tracker_stopped is not None:
            # The tracker refused an earlier report of this pass for a reason a person must
            # fix; this one waits for the same fix and says so.
            self._not_in_tracker(report_id, self._tracker_stopped, summary)
            return
        if self._tracker_down is not None:
            summary.bump(PassCounter.ISSUE_DEFERRED)
            summary.problems.append(
                f"{report_id}: issue not opened yet, will retry: {self._tracker_down}"
            )
            return
        draft = self.draft(report, content, researcher, installation=installation)
        try:
            ref = self.tracker.open_issue(draft)
        except RetriableError as err:
            summary.bump(PassCounter.ISSUE_DEFERRED)
            summary.problems.append(f"{report_id}: issue not opened yet, will retry: {err}")
            return
        except FatalError as err:
            if not isinstance(err, ForeignIssueError):
                # Refused token or confidentiality: every report waits for the same fix.
                # Another store's issue on this report's id concerns this report alone.
                self._tracker_stopped = str(err)
            summary.bump(PassCounter.ISSUE_FAILED)
            if isinstance(err, TrackerAuthError):
                summary.bump(PassCounter.TRACKER_AUTH_REFUSED)
            self._not_in_tracker(report_id, str(err), summary)
            return
        except SKIPPABLE as err:
            # The tracker refused this report's issue (a label, a required field): the others
            # still open; this one is retried every pass (counted still_refused, exit 0) and
            # the team and the pass summary hear it once (tracker_refused, exit 3).
            Refusals(self.unit_of_work, self.tracker, self.clock).set_aside(
                report_id, "open the issue", err, summary
            )
            return
        with self.unit_of_work() as uow:
            uow.links.link(report_id, ref, draft.labels)
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
        summary.bump(PassCounter.ISSUE_OPENED)

    def _not_in_tracker(self, report_id: str, reason: str, summary: PassSummary) -> None:
        """Say, in this pass's summary and on the report, why it is not in the tracker yet.

        The report stays unlinked, so every pass tries again; ``reports`` shows the reason
        from the latest ``issue_not_opened`` event (one event per distinct reason).
        """
        summary.bump(PassCounter.NOT_IN_TRACKER)
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
        signed = self._signature_line(content.signature, researcher)
        protection = "encrypted" if content.encrypted else "UNENCRYPTED"
        summary.append(("Arrived", f"{protection}, {signed}"))
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

    def _signer_is(self, fingerprint: str | None, researcher: Researcher | None) -> bool:
        """Whether a signature by ``fingerprint`` is the researcher's own.

        Their confirmed key always is; any other key only when one of its uids is their
        address (and they have no confirmed key yet).
        """
        if fingerprint is None or researcher is None:
            return False
        if researcher.fingerprint is not None:
            return fingerprint == researcher.fingerprint
        if self.signer_addresses is None:
            return False
        return researcher.email.lower() in self.signer_addresses(fingerprint)

    def _signature_line(
        self,
        signature: SignatureCheck,
        researcher: Researcher | None,
        *,
        name_signer: bool = True,
    ) -> str:
        """How the issue shows a signature: a signer who is not the sender is said so.

        ``name_signer=False`` leaves the key's addresses out (they are the key owner's text)
        for lines a tracker renders as the bridge's own markup; fingerprints are hex only.
        """
        fingerprint = signature.fingerprint
        if signature.status is SignatureStatus.VALID and fingerprint is not None:
            if self._signer_is(fingerprint, researcher):
                return f"signature valid ({fingerprint})"
            uids = self.signer_addresses(fingerprint) if self.signer_addresses else ()
            signer = ", ".join(uids) or "a key with no matching address"
            if not name_signer:
                signer = "another key"
            if researcher is not None and researcher.email.lower() in uids:
                # Their address, but not the key the team confirmed: maybe new, maybe planted.
                return (
                    f"valid signature by {signer} ({fingerprint}), "
                    "not the researcher's confirmed key"
                )
            return f"valid signature by {signer} ({fingerprint}), not the sender"
        line = f"signature {signature.status.value.replace('_', ' ')}"
        return f"{line} ({fingerprint})" if fingerprint else line

    def _note_reply(
        self, report_id: str, inbound: InboundMessage, reason: str, summary: PassSummary
    ) -> bool:
        """Put mail filed on a report on the issue as an internal note; False when deferred.

        ``reason`` is how ingest filed it: the researcher's reply, an automatic reply, a
        third-party mail or a replayed ciphertext; each note says which in its first line.
        """
        if self.tracker is None or self._tracker_stopped is not None:
            summary.bump(PassCounter.NOTE_DEFERRED)
            return False
        with self.unit_of_work() as uow:
            ref = uow.links.get(report_id)
            researcher = uow.reports.researcher_of(report_id)
        if ref is None:
            summary.bump(PassCounter.NOTE_DEFERRED)
            return False
        protection = "encrypted" if inbound.decrypted else "UNENCRYPTED"
        # Addresses, key uids and words of others go into the inert block, never into our own
        # text: GitLab renders the note's first part as live Markdown (mentions, quick actions).
        signed = self._signature_line(inbound.signature, researcher, name_signer=False)
        named = self._signature_line(inbound.signature, researcher)
        untrusted: str | None = inbound.body
        if named != signed:
            untrusted = f"Signature: {named}\n\n{inbound.body}"
        if reason.startswith(REPLAY):
            text = (
                "**Replayed ciphertext, not from the researcher.** A copy of this report's "
                "encrypted mail arrived again from a different sender. It was quarantined: no "
                "report was opened and nothing was mailed to that sender."
            )
            untrusted = f"From: {inbound.sender}\nMessage-ID: {inbound.message_id}"
        elif reason.startswith(THIRD_PARTY):
            text = (
                f"**Third-party mail, NOT from the researcher** ({protection}, {signed}). "
                "It changed nothing: no state or clock change, no key learned, no new "
                "recipient. Why it is not theirs, who sent it, and what it says:"
            )
            untrusted = (
                f"Why: {reason.partition(': ')[2]}\nFrom: {inbound.sender}\n"
                f"Signature: {named}\n\n{inbound.body}"
            )
        elif inbound.auto_submitted:
            text = (
                f"An automatic reply or bounce ({protection}, {signed}); not an answer, "
                "the clocks are unchanged:"
            )
            if researcher is None or researcher.email.lower() != inbound.sender.lower():
                untrusted = f"From: {inbound.sender}\n\n{untrusted}"
        else:
            text = f"The researcher replied ({protection}, {signed}):"
        try:
            self.tracker.add_note(ref, text, untrusted=untrusted)
        except RetriableError as err:
            summary.bump(PassCounter.NOTE_DEFERRED)
            summary.problems.append(f"{report_id}: reply not added to the issue yet: {err}")
            return False
        except SKIPPABLE as err:
            # The issue refuses notes or was deleted: the reply stays in the inbox and in the
            # store, is retried every pass, and the team hears it once.
            Refusals(self.unit_of_work, self.tracker, self.clock).set_aside(
                report_id, "add the researcher's reply as a note", err, summary, ref
            )
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


def _read_ahead(
    items: Iterator[MailboxItem], reader: MessageReader, pool: ThreadPoolExecutor
) -> Iterator[tuple[MailboxItem, InboundMessage]]:
    """Each item with the reader's verdict on it; the next item is read while this one is stored.

    Reading (parse, gpg decrypt and verify) depends on no stored state, and it stores
    nothing, so reading message n+1 in ``pool``'s one thread while the caller records message
    n changes no outcome: gpg runs in its own process on the other core meanwhile. The part
    of a read that needs no gpg (``reader.prepare``: parsing, the envelope) is done in the
    caller's thread while the worker's gpg decrypts the message before, so the one worker
    starts the next gpg as soon as it is free (messages of at most ``READ_AHEAD_MAX_BYTES``;
    see ``_submit_read``). Reads stay in mailbox order, and the mailbox
    (fetch, settle) is used from the caller's thread only.
    A crash loses at most a read whose message was neither stored nor moved: the next pass
    reads it again. The next message is fetched early only after a message of at most
    ``READ_AHEAD_MAX_BYTES``, so two large messages are never held at once. An error from
    the mailbox while fetching ahead is raised after the message in hand is handled.
    """
    iterator = iter(items)
    try:
        item: MailboxItem | None = next(iterator)
    except StopIteration:
        return
    reading: Future[InboundMessage] | None = None
    while item is not None:
        if reading is None:
            reading = _submit_read(pool, reader, item.raw)
        following: MailboxItem | None = None
        fetch_error: Exception | None = None
        following_read: Future[InboundMessage] | None = None
        if len(item.raw) <= READ_AHEAD_MAX_BYTES:
            try:
                following = next(iterator)
            except StopIteration:
                pass
            except Exception as err:  # noqa: BLE001 - raised below, after this message
                fetch_error = err
            else:
                following_read = _submit_read(pool, reader, following.raw)
        yield item, reading.result()
        if fetch_error is not None:
            raise fetch_error
        if following is None and following_read is None and len(item.raw) > READ_AHEAD_MAX_BYTES:
            following = next(iterator, None)
        item, reading = following, following_read


def _submit_read(
    pool: ThreadPoolExecutor, reader: MessageReader, raw: bytes
) -> Future[InboundMessage]:
    """Read ``raw`` on ``pool``'s worker, a small message prepared in this thread first.

    Parsing needs no gpg, so it is done in the caller's thread while the worker's gpg runs on
    the message before. A larger message is read whole on the worker: its parse and its
    plaintext then come from one thread's malloc arena, which reuses what the parse freed
    (split over two arenas, peak memory for a message at the 25 MiB limit went from 4.5x to
    6.1x the message), and large messages are not read ahead anyway.
    """
    if len(raw) > READ_AHEAD_MAX_BYTES:
        return pool.submit(reader.read, raw)
    return pool.submit(reader.prepare(raw))


def offered_keys(events: Iterable[ReportEvent]) -> set[str]:
    """Fingerprints a researcher's mail offered beside their known key (not used yet)."""
    found: set[str] = set()
    for event in events:
        match = _OFFERED.search(event.detail) if event.kind == "different_key_offered" else None
        if match is not None:
            found.add(match.group(1))
    return found


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
    domain = program.contact.partition("@")[2] or SYNTHETIC_DOMAIN
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

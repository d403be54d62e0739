"""Notify: deliver queued researcher mail once, with backoff, a per-recipient limit, and a trail.

Rows are marked sent only after the transport accepted them; a crash in between sends at most
one duplicate, which carries the same Message-ID. A failure that outlasts its attempts is
marked failed and the team is told on the issue.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tracker_bridge.domain.report import State
from tracker_bridge.errors import (
    SKIPPABLE,
    BridgeError,
    FatalError,
    MailRejected,
    MailUnavailable,
    RecipientKeyMissing,
    RetriableError,
)
from tracker_bridge.ports.mail import (
    ComposedMail,
    MailComposer,
    MailTransport,
    NotificationKind,
    OutboxItem,
    OutboxStatus,
)
from tracker_bridge.ports.privacy import AuditEntry
from tracker_bridge.ports.store import ReportEvent
from tracker_bridge.services.ingest import common_params, new_outbox_item
from tracker_bridge.services.pass_outcome import PassCounter

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tracker_bridge.domain.researcher import Researcher
    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.summary import PassSummary
    from tracker_bridge.ports.tracker import IssueRef, Tracker
    from tracker_bridge.ports.unit_of_work import UnitOfWork
    from tracker_bridge.services.context import Program


def exponential_backoff(attempts: int) -> timedelta:
    """Wait 2, 4, 8 ... minutes between attempts, at most six hours."""
    return min(timedelta(minutes=2**attempts), timedelta(hours=6))


@dataclass
class Notify:
    """Delivers due outbox rows over one transport session."""

    program: Program
    unit_of_work: Callable[[], UnitOfWork]
    composer: MailComposer
    transport: MailTransport
    clock: Clock
    tracker: Tracker | None = None
    max_attempts: int = 8
    per_recipient_per_hour: int = 10
    batch_size: int = 500
    backoff: Callable[[int], timedelta] = exponential_backoff
    compose_ahead: bool = True
    """Compose mail n+1 in a worker thread while mail n is sent and recorded (see ``run``)."""

    def run(self, summary: PassSummary) -> None:
        """Deliver every due row; stop early (nothing lost) when the mail server is unavailable.

        One read transaction finds the due rows and what every mail needs looked up (its
        researcher, the report's first Message-ID, mails sent to each recipient in the last
        hour); each mail then costs one write transaction, after the transport accepted it.
        While mail n is sent and recorded, mail n+1 is composed (rendered, encrypted and signed
        by gpg in its own process) in one worker thread; every decision and every write stays
        in this thread in queue order, and a mail composed ahead that is then not due (rate
        limit, cancellation, a stop) is thrown away unsent.

        Raises:
            FatalError: The mail server refused the login or TLS, or the bridge key cannot
                sign (the rows stay pending for the next pass).
        """
        now = self.clock.now()
        with self.unit_of_work() as uow:
            due = uow.outbox.due(now, self.batch_size)
            lookups = _PassLookups(self.unit_of_work, now - timedelta(hours=1))
            lookups.prefetch(uow, due)
        if not due:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify-compose") as worker:
            ahead = _ComposeAhead(self.composer, worker, lookups)
            try:
                for position, item in enumerate(due):
                    following = due[position + 1] if position + 1 < len(due) else None
                    if not self.compose_ahead:
                        following = None
                    if not self._deliver(item, summary, lookups, ahead, following):
                        break
            finally:
                ahead.discard()

    def _deliver(
        self,
        item: OutboxItem,
        summary: PassSummary,
        lookups: _PassLookups,
        ahead: _ComposeAhead | None = None,
        following: OutboxItem | None = None,
    ) -> bool:
        now = self.clock.now()
        researcher = lookups.researcher(item.report_id)
        if researcher is None:
            with self.unit_of_work() as uow:
                item.status = OutboxStatus.CANCELLED
                item.last_error = "the researcher's contact details are no longer held"
                uow.outbox.save(item)
                uow.audit.record(_mail_audit(now, item, "mail_cancelled", "no_contact_details"))
                uow.commit()
            summary.bump(PassCounter.CANCELLED)
            return True
        if item.kind is NotificationKind.KEY_REQUEST:
            with self.unit_of_work() as uow:
                if not any(
                    row.status is OutboxStatus.WITHHELD
                    for row in uow.outbox.for_report(item.report_id)
                ):
                    # Their key arrived (every withheld mail was released) before this went out.
                    item.status = OutboxStatus.CANCELLED
                    item.last_error = "nothing is withheld any more: the researcher's key arrived"
                    uow.outbox.save(item)
                    uow.audit.record(_mail_audit(now, item, "mail_cancelled", "key_arrived"))
                    uow.commit()
                    summary.bump(PassCounter.CANCELLED)
                    return True
        if lookups.sent_in_last_hour(item.recipient) >= self.per_recipient_per_hour:
            item.next_attempt_at = now + timedelta(hours=1)
            with self.unit_of_work() as uow:
                uow.outbox.save(item)
                uow.commit()
            summary.bump(PassCounter.RATE_LIMITED)
            return True
        pending = ahead.take(item) if ahead is not None else None
        if ahead is not None and following is not None:
            if pending is None:
                pending = ahead.start(item, researcher)
            ahead.start(following, None)
        try:
            if pending is not None:
                composed = pending.result()
            else:
                composed = self.composer.compose(item, researcher, lookups.references(item))
            self.transport.send(composed.sender, composed.recipients, composed.message)
        except RecipientKeyMissing:
            return self._withhold(item, researcher, now, summary, lookups)
        except MailUnavailable as err:
            self._retry_later(item, err, now, summary)
            return False
        except MailRejected as err:
            item.attempts += 1  # the server answered this attempt with a 5xx
            self._give_up(item, err, now, summary)
            return True
        except RetriableError as err:
            self._retry_later(item, err, now, summary)
            return True
        except FatalError:
            raise  # a refused SMTP login or TLS setup is the operator's to fix, not this row's
        except BridgeError as err:
            # Composition refused (e.g. no key and the policy forbids clear text): tell the team.
            self._give_up(item, err, now, summary)
            return True
        self._mark_sent(item, now, summary, encrypted=composed.encrypted)
        lookups.count_sent(item.recipient)
        return True

    def _withhold(
        self,
        item: OutboxItem,
        researcher: Researcher,
        now: datetime,
        summary: PassSummary,
        lookups: _PassLookups,
    ) -> bool:
        """Keep ``item`` until the researcher's key arrives; ask for the key (once a day).

        The key request is queued with a dedupe key per report and program day, and delivered
        at once, so a pass that withholds three mails sends one request, not three.
        """
        report_id = item.report_id
        item.status = OutboxStatus.WITHHELD
        item.last_error = "withheld until the researcher sends an OpenPGP key"
        day = self.program.local_date(now).isoformat()
        with self.unit_of_work() as uow:
            uow.outbox.save(item)
            uow.reports.add_event(
                ReportEvent(report_id, now, "mail_withheld", f"{item.template} {item.message_id}")
            )
            uow.audit.record(_mail_audit(now, item, "mail_withheld", "no_key"))
            request = new_outbox_item(
                self.program,
                report_id,
                researcher,
                NotificationKind.KEY_REQUEST,
                "key_request",
                common_params(self.program, report_id, researcher),
                dedupe_key=f"key_request:{report_id}:{day}",
                now=now,
            )
            queued = uow.outbox.add(request)
            ref = uow.links.get(report_id)
            uow.commit()
        summary.bump(PassCounter.WITHHELD)
        if item.carries_team_words and ref is not None:
            self._tell_team(
                ref,
                f"Withheld until the researcher sends a key: they have no usable OpenPGP key, "
                f"so this message waits in tracker-bridge and goes out encrypted once their key "
                f"arrives ({item.message_id}).",
                summary,
            )
        if queued:
            return self._deliver(request, summary, lookups)
        return True

    def _mark_sent(
        self, item: OutboxItem, now: datetime, summary: PassSummary, *, encrypted: bool = True
    ) -> None:
        with self.unit_of_work() as uow:
            item.status = OutboxStatus.SENT
            item.sent_at = now
            item.attempts += 1
            item.last_error = None
            uow.outbox.save(item)
            if item.kind not in (NotificationKind.ACKNOWLEDGEMENT, NotificationKind.KEY_REQUEST):
                # No state can change: one write, no read of the report and its history.
                uow.reports.note_researcher_update(item.report_id, now)
            elif (report := uow.reports.get(item.report_id)) is not None:
                report.last_researcher_update_at = now
                if report.state is State.RECEIVED:
                    # The acknowledgement promise is kept when the mail left, not when it was
                    # queued; a key request standing in for a withheld one names the report too.
                    report.transition(State.ACKNOWLEDGED, now)
                uow.reports.save(report)
            uow.reports.add_event(
                ReportEvent(item.report_id, now, "mail_sent", f"{item.template} {item.message_id}")
            )
            uow.audit.record(_mail_audit(now, item, "mail_sent", "ok"))
            noted = item.carries_team_words and self.tracker is not None
            ref = uow.links.get(item.report_id) if noted else None
            uow.commit()
        summary.bump(PassCounter.SENT)
        if ref is not None and self.tracker:
            day = self.program.local_date(now).isoformat()
            how = "" if encrypted else " in clear (they have no usable OpenPGP key)"
            self._tell_team(
                ref, f"Sent to the researcher{how} on {day} ({item.message_id}).", summary
            )

    def _retry_later(
        self, item: OutboxItem, err: BridgeError, now: datetime, summary: PassSummary
    ) -> None:
        item.attempts += 1
        item.last_error = str(err)
        if item.attempts >= self.max_attempts:
            self._give_up(item, err, now, summary)
            return
        item.next_attempt_at = now + self.backoff(item.attempts)
        with self.unit_of_work() as uow:
            uow.outbox.save(item)
            uow.audit.record(_mail_audit(now, item, "mail_deferred", _error(err)))
            uow.commit()
        summary.bump(PassCounter.DEFERRED)
        summary.problems.append(f"{item.report_id}: mail deferred: {err}")

    def _give_up(
        self, item: OutboxItem, err: BridgeError, now: datetime, summary: PassSummary
    ) -> None:
        item.status = OutboxStatus.FAILED
        item.last_error = str(err)
        with self.unit_of_work() as uow:
            uow.outbox.save(item)
            uow.reports.add_event(
                ReportEvent(item.report_id, now, "mail_failed", f"{item.template}: {err}")
            )
            action = "mail_refused" if isinstance(err, MailRejected) else "mail_failed"
            uow.audit.record(_mail_audit(now, item, action, _error(err)))
            ref = uow.links.get(item.report_id)
            uow.commit()
        # Failed for good: no later pass retries this row (the CLI exits 7 to say so).
        summary.bump(PassCounter.FAILED)
        summary.problems.append(
            f"{item.report_id}: mail {item.template} failed for good, not retried "
            f"(after {item.attempts} attempt(s)); the team is told on the issue: {err}"
        )
        if ref is not None and self.tracker is not None:
            tried = (
                f"after {item.attempts} attempt(s)"
                if item.attempts
                else "without sending it (it could not be composed)"
            )
            self._tell_team(
                ref,
                f"tracker-bridge could not deliver the '{item.template}' mail to the researcher "
                f"{tried}: {err}. It is not retried. Please contact them another way.",
                summary,
            )

    def _tell_team(self, ref: IssueRef, text: str, summary: PassSummary) -> None:
        if self.tracker is None:
            return
        try:
            self.tracker.add_note(ref, text)
        except RetriableError as err:
            summary.problems.append(f"note to the team not written yet: {err}")
        except SKIPPABLE as err:
            # The issue refuses notes or was deleted; the mail itself is settled either way.
            summary.bump(PassCounter.NOTE_REFUSED)
            summary.problems.append(f"{ref.key}: note to the team refused by the tracker: {err}")


def _mail_audit(now: datetime, item: OutboxItem, action: str, outcome: str) -> AuditEntry:
    # Template and our own Message-ID only: the error text may name the researcher's address.
    return AuditEntry(
        now, "notify", action, outcome, item.report_id, f"{item.template} {item.message_id}"
    )


def _error(err: BridgeError) -> str:
    return f"error:{type(err).__name__}"


class _PassLookups:
    """What one pass reads once instead of once per mail: researchers, thread roots, recent sends.

    Filled for every due row in the pass's first read transaction; a row added during the pass
    (a key request) is looked up in a read transaction of its own. Mails sent to a recipient
    during the pass are counted here as they are recorded, so the per-recipient limit sees them
    without asking the store again. The one-hour window is the pass's start minus one hour: a
    mail that leaves the window during the pass still counts, which only errs toward waiting.
    """

    def __init__(self, unit_of_work: Callable[[], UnitOfWork], since: datetime) -> None:
        self._unit_of_work = unit_of_work
        self._since = since
        self._researchers: dict[str, Researcher | None] = {}
        self._roots: dict[str, str | None] = {}
        self._sent: dict[str, int] = {}

    def prefetch(self, uow: UnitOfWork, due: Sequence[OutboxItem]) -> None:
        """Look up, inside ``uow``, what the ``due`` rows need (one query per report/recipient)."""
        for item in due:
            self._fill(uow, item.report_id, item.recipient)

    def _fill(self, uow: UnitOfWork, report_id: str, recipient: str) -> None:
        if report_id not in self._researchers:
            self._researchers[report_id] = uow.reports.researcher_of(report_id)
            self._roots[report_id] = uow.messages.first_message_id(report_id)
        address = recipient.strip().lower()
        if address not in self._sent:
            self._sent[address] = uow.outbox.sent_since(recipient, self._since)

    def researcher(self, report_id: str) -> Researcher | None:
        """Who reported ``report_id``, or None once their contact details are gone."""
        if report_id not in self._researchers:
            with self._unit_of_work() as uow:
                self._researchers[report_id] = uow.reports.researcher_of(report_id)
                self._roots[report_id] = uow.messages.first_message_id(report_id)
        return self._researchers[report_id]

    def references(self, item: OutboxItem) -> tuple[str, ...]:
        """The Message-IDs ``item`` answers: the report's first message, when one is stored."""
        self.researcher(item.report_id)
        root = self._roots.get(item.report_id)
        return (root,) if root else ()

    def sent_in_last_hour(self, recipient: str) -> int:
        """Mails to ``recipient`` (any letter case) sent in the hour before the pass or during it."""
        address = recipient.strip().lower()
        if address not in self._sent:
            with self._unit_of_work() as uow:
                self._sent[address] = uow.outbox.sent_since(recipient, self._since)
        return self._sent[address]

    def count_sent(self, recipient: str) -> None:
        """Record one more mail sent to ``recipient`` in this pass."""
        address = recipient.strip().lower()
        self._sent[address] = self.sent_in_last_hour(address) + 1


class _ComposeAhead:
    """Mails composed in one worker thread ahead of their turn, by outbox id.

    Composition has no side effect (no store write, nothing sent), so a mail composed ahead and
    then not sent is simply dropped; the next pass composes it again with the same Message-ID.
    """

    def __init__(
        self, composer: MailComposer, worker: ThreadPoolExecutor, lookups: _PassLookups
    ) -> None:
        self._composer = composer
        self._worker = worker
        self._lookups = lookups
        self._pending: dict[str, Future[ComposedMail]] = {}

    def start(self, item: OutboxItem, researcher: Researcher | None) -> Future[ComposedMail] | None:
        """Start composing ``item`` (once); None when its researcher is no longer held."""
        if item.outbox_id in self._pending:
            return self._pending[item.outbox_id]
        whom = researcher or self._lookups.researcher(item.report_id)
        if whom is None:
            return None
        future = self._worker.submit(
            self._composer.compose, item, whom, self._lookups.references(item)
        )
        self._pending[item.outbox_id] = future
        return future

    def take(self, item: OutboxItem) -> Future[ComposedMail] | None:
        """The composition started for ``item``, if any (it is no longer kept here)."""
        return self._pending.pop(item.outbox_id, None)

    def discard(self) -> None:
        """Drop every mail composed ahead and not taken (a stop, a rate limit, a cancellation)."""
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

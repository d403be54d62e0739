"""Notify: deliver queued researcher mail once, with backoff, a per-recipient limit, and a trail.

Rows are marked sent only after the transport accepted them; a crash in between sends at most
one duplicate, which carries the same Message-ID. A failure that outlasts its attempts is
marked failed and the team is told on the issue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker_bridge.domain.report import State
from tracker_bridge.domain.researcher import Researcher
from tracker_bridge.errors import (
    SKIPPABLE,
    BridgeError,
    FatalError,
    MailRejected,
    MailUnavailable,
    RecipientKeyMissing,
    RetriableError,
)
from tracker_bridge.ports.clock import Clock
from tracker_bridge.ports.mail import (
    MailComposer,
    MailTransport,
    NotificationKind,
    OutboxItem,
    OutboxStatus,
)
from tracker_bridge.ports.privacy import AuditEntry
from tracker_bridge.ports.store import ReportEvent
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.ports.tracker import IssueRef, Tracker
from tracker_bridge.ports.unit_of_work import UnitOfWork
from tracker_bridge.services.context import Program
from tracker_bridge.services.ingest import common_params, new_outbox_item


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

    def run(self, summary: PassSummary) -> None:
        """Deliver every due row; stop early (nothing lost) when the mail server is unavailable."""
        now = self.clock.now()
        with self.unit_of_work() as uow:
            due = uow.outbox.due(now, self.batch_size)
        for item in due:
            if not self._deliver(item, summary):
                break

    def _deliver(self, item: OutboxItem, summary: PassSummary) -> bool:
        now = self.clock.now()
        with self.unit_of_work() as uow:
            researcher = uow.reports.researcher_of(item.report_id)
            if researcher is None:
                item.status = OutboxStatus.CANCELLED
                item.last_error = "the researcher's contact details are no longer held"
                uow.outbox.save(item)
                uow.audit.record(_mail_audit(now, item, "mail_cancelled", "no_contact_details"))
                uow.commit()
                summary.bump("cancelled")
                return True
            if item.kind is NotificationKind.KEY_REQUEST and not any(
                row.status is OutboxStatus.WITHHELD for row in uow.outbox.for_report(item.report_id)
            ):
                # Their key arrived (every withheld mail was released) before this went out.
                item.status = OutboxStatus.CANCELLED
                item.last_error = "nothing is withheld any more: the researcher's key arrived"
                uow.outbox.save(item)
                uow.audit.record(_mail_audit(now, item, "mail_cancelled", "key_arrived"))
                uow.commit()
                summary.bump("cancelled")
                return True
            recent = uow.outbox.sent_since(item.recipient, now - timedelta(hours=1))
            if recent >= self.per_recipient_per_hour:
                item.next_attempt_at = now + timedelta(hours=1)
                uow.outbox.save(item)
                uow.commit()
                summary.bump("rate_limited")
                return True
            root = uow.messages.first_message_id(item.report_id)
        try:
            composed = self.composer.compose(item, researcher, (root,) if root else ())
            self.transport.send(composed.sender, composed.recipients, composed.message)
        except RecipientKeyMissing:
            return self._withhold(item, researcher, now, summary)
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
        return True

    def _withhold(
        self, item: OutboxItem, researcher: Researcher, now: datetime, summary: PassSummary
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
        summary.bump("withheld")
        if carries_team_words(item) and ref is not None:
            self._tell_team(
                ref,
                f"Withheld until the researcher sends a key: they have no usable OpenPGP key, "
                f"so this message waits in tracker-bridge and goes out encrypted once their key "
                f"arrives ({item.message_id}).",
                summary,
            )
        if queued:
            return self._deliver(request, summary)
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
            report = uow.reports.get(item.report_id)
            if report is not None:
                report.last_researcher_update_at = now
                if (
                    item.kind in (NotificationKind.ACKNOWLEDGEMENT, NotificationKind.KEY_REQUEST)
                    and report.state is State.RECEIVED
                ):
                    # The acknowledgement promise is kept when the mail left, not when it was
                    # queued; a key request standing in for a withheld one names the report too.
                    report.transition(State.ACKNOWLEDGED, now)
                uow.reports.save(report)
            uow.reports.add_event(
                ReportEvent(item.report_id, now, "mail_sent", f"{item.template} {item.message_id}")
            )
            uow.audit.record(_mail_audit(now, item, "mail_sent", "ok"))
            ref = uow.links.get(item.report_id)
            uow.commit()
        summary.bump("sent")
        if carries_team_words(item) and ref is not None and self.tracker:
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
        summary.bump("deferred")
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
        summary.bump("failed")
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
            summary.bump("note_refused")
            summary.problems.append(f"{ref.key}: note to the team refused by the tracker: {err}")


def carries_team_words(item: OutboxItem) -> bool:
    """Whether the mail holds the team's own words (a team message or a state mail quoting one)."""
    return item.kind is NotificationKind.TEAM_MESSAGE or bool(
        str(item.params.get("team_message", "")).strip()
    )


def _mail_audit(now: datetime, item: OutboxItem, action: str, outcome: str) -> AuditEntry:
    # Template and our own Message-ID only: the error text may name the researcher's address.
    return AuditEntry(
        now, "notify", action, outcome, item.report_id, f"{item.template} {item.message_id}"
    )


def _error(err: BridgeError) -> str:
    return f"error:{type(err).__name__}"

"""The ingest service: reports, replies, quarantine, idempotence, and issues opened after commit."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge.domain.report import State
from tracker_bridge.errors import SkippableError
from tracker_bridge.ports.intake import MailboxItem, Verdict
from tracker_bridge.ports.mail import OutboxStatus
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.unit.services.conftest import World


def test_new_mail_becomes_a_report_with_an_issue_and_an_acknowledgement(world: World) -> None:
    """A readable mail creates report CVD-2026-0001, its confidential issue and a queued ack."""
    item = world.reader.add(inbound())
    outcome = world.ingest.ingest(item, world.summary())
    assert (Verdict.REPORT, "CVD-2026-0001") == (outcome.verdict, outcome.report_id)
    issue = world.tracker.issues["1"]
    assert issue.confidential is True
    assert "The login form is injectable." in issue.body
    assert {"severity::unassessed", "cvd::received", "cvd-report::CVD-2026-0001"} <= issue.labels
    with world.store.unit_of_work() as uow:
        queued = uow.outbox.for_report("CVD-2026-0001")
    assert [("acknowledgement", OutboxStatus.PENDING)] == [(q.template, q.status) for q in queued]
    assert "2026-11-05" == queued[0].params["assessment_due"]


def test_researcher_address_stays_out_of_the_tracker(world: World) -> None:
    """The issue shows the researcher's name but not their mail address."""
    world.receive(inbound())
    issue = world.tracker.issues["1"]
    assert "ada@example.org" not in issue.body + issue.title
    assert "Ada" in issue.body


def test_same_message_twice_creates_nothing_new(world: World) -> None:
    """Reading the same Message-ID and digest again finds the first outcome and adds nothing."""
    item = world.reader.add(inbound())
    world.ingest.ingest(item, world.summary())
    again = world.ingest.ingest(item, world.summary())
    assert (True, "CVD-2026-0001") == (again.already_seen, again.report_id)
    assert 1 == len(world.tracker.issues)
    with world.store.unit_of_work() as uow:
        assert 1 == len(uow.outbox.for_report("CVD-2026-0001"))


def test_unencrypted_mail_is_stored_encrypted(world: World) -> None:
    """A plaintext report is accepted, and its raw form is kept only encrypted to the bridge."""
    message = inbound(
        encrypted=False, decrypted=False, signature=SignatureCheck(SignatureStatus.NONE)
    )
    item = world.reader.add(message)
    outcome = world.ingest.ingest(item, world.summary())
    assert outcome.verdict is Verdict.REPORT
    with world.store.unit_of_work() as uow:
        stored = uow.messages.seen(message.message_id, message.digest)
    assert stored is not None
    assert stored.encrypted_raw != item.raw
    assert stored.encrypted_raw.startswith(b"FAKE-PGP:")
    assert "UNENCRYPTED" in world.tracker.issues["1"].body


def test_reply_by_plus_address_attaches_to_the_report(world: World) -> None:
    """A reply to security+CVD-2026-0001@ from the same researcher is a reply, not a report."""
    world.receive(inbound())
    reply = inbound(
        "More detail: the id parameter too.",
        message_id="<m2@example.org>",
        subject="Re: your acknowledgement",
        recipients=("security+CVD-2026-0001@example.org",),
    )
    outcome = world.receive(reply)
    assert (Verdict.REPLY, "CVD-2026-0001") == (outcome.verdict, outcome.report_id)
    assert 1 == len(world.tracker.issues)
    notes = [n.body for n in world.tracker.issues["1"].notes]
    assert any("the id parameter too" in n for n in notes)


def test_report_id_in_reply_subject_from_a_stranger_is_a_third_party_note(world: World) -> None:
    """A stranger's "Re: <id>" is filed on that report as third-party mail, not as the researcher's."""
    world.receive(inbound())
    stranger = inbound(
        "I am not Ada",
        sender="mallory@example.net",
        message_id="<m3@example.net>",
        subject="Re: CVD-2026-0001",
    )
    outcome = world.receive(stranger)
    assert (Verdict.REPLY, "CVD-2026-0001", True) == (
        outcome.verdict,
        outcome.report_id,
        "third-party" in outcome.reason,
    )


def test_reply_in_needs_info_restarts_the_clock(world: World) -> None:
    """The researcher answering our question moves the report from needs_info back to triaging."""
    world.receive(inbound())
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        report.transition(State.NEEDS_INFO, world.clock.now())
        uow.reports.save(report)
        uow.commit()
    reply = inbound("answer", message_id="<m4@example.org>", subject="Re: CVD-2026-0001")
    world.receive(reply)
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
    assert report is not None
    assert report.state is State.TRIAGING


def test_quarantined_message_is_kept_with_its_reason(world: World) -> None:
    """A message the reader refuses is stored with the reason and creates no report."""
    bad = inbound(verdict=Verdict.QUARANTINE, reason="no integrity protection (no MDC)")
    outcome = world.receive(bad)
    assert (
        Verdict.QUARANTINE,
        "no integrity protection (no MDC)",
    ) == (outcome.verdict, outcome.reason)
    assert {} == world.tracker.issues


def test_auto_submitted_mail_gets_no_acknowledgement(world: World) -> None:
    """An out-of-office or bounce that belongs to no report is quarantined and answered never."""
    auto = inbound(auto_submitted=True, sender="mailer-daemon@example.org")
    outcome = world.receive(auto)
    assert outcome.verdict is Verdict.QUARANTINE
    assert "automatic message" in outcome.reason


def test_tracker_outage_defers_the_issue_and_a_later_pass_opens_it(world: World) -> None:
    """When the tracker is down the report is kept; the next pass opens exactly one issue."""
    world.tracker.fail_calls = 1
    summary = world.summary()
    world.ingest.ingest(world.reader.add(inbound()), summary)
    assert 1 == summary.counts.get("issue_deferred")
    assert {} == world.tracker.issues
    world.ingest.open_pending_issues(world.summary())
    world.ingest.open_pending_issues(world.summary())
    assert 1 == len(world.tracker.issues)


def test_unconfirmed_confidentiality_stops_tracker_work_and_keeps_the_report(world: World) -> None:
    """If the tracker cannot prove confidentiality, no text is written and the report stays stored."""
    world.tracker.deny_confidentiality = True
    summary = world.summary()
    outcome = world.ingest.ingest(world.reader.add(inbound()), summary)
    assert "CVD-2026-0001" == outcome.report_id
    assert 1 == summary.counts.get("issue_failed")
    assert all("injectable" not in i.body for i in world.tracker.issues.values())


def test_key_from_the_reader_is_learned_but_never_swapped(world: World) -> None:
    """A matched key is adopted for a new researcher; a different one later is only recorded."""
    first = inbound(keys_found=("C" * 40,))
    world.receive(first)
    second = replace(inbound(message_id="<m9@example.org>", keys_found=("D" * 40,)))
    world.receive(second)
    with world.store.unit_of_work() as uow:
        researcher = uow.researchers.get("ada@example.org")
        events = uow.reports.events("CVD-2026-0002")
    assert researcher is not None
    assert "C" * 40 == researcher.fingerprint
    assert any(e.kind == "different_key_offered" for e in events)


class StuckSource:
    """A mailbox whose first message cannot be moved (e.g. it vanished from the server)."""

    name = "stuck"

    def __init__(self, items: list[MailboxItem]) -> None:
        self.items = items
        self.settled: list[str] = []

    def fetch(self) -> Iterator[MailboxItem]:
        yield from self.items

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        if item is self.items[0]:
            msg = f"message {item.handle} no longer in INBOX"
            raise SkippableError(msg)
        self.settled.append(item.handle)


def test_a_message_that_cannot_be_moved_does_not_stop_the_others(world: World) -> None:
    """A settle failure is reported; the other messages are still ingested and moved."""
    first = world.reader.add(inbound(message_id="<a@example.org>"))
    second = world.reader.add(inbound(message_id="<b@example.org>"))
    source = StuckSource([first, second])
    summary = world.summary()
    outcomes = world.ingest.run([source], summary)
    assert ["CVD-2026-0001", "CVD-2026-0002"] == [o.report_id for o in outcomes]
    assert ["<b@example.org>"] == source.settled
    assert 1 == summary.counts.get("settle_deferred")

"""The notify service: delivery once, retries with backoff, failure told to the team, rate limit."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge.domain.report import State
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.ports.intake import Verdict
from tracker_bridge.ports.mail import OutboxStatus
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from tests.unit.services.conftest import World
    from tracker_bridge.ports.unit_of_work import UnitOfWork


def ingest_one(world: World, message_id: str = "<m1@example.org>") -> None:
    """Ingest one report from ada@example.org."""
    world.ingest.ingest(world.reader.add(inbound(message_id=message_id)), world.summary())


def statuses(world: World, report_id: str = "CVD-2026-0001") -> list[OutboxStatus]:
    """Outbox statuses of a report, oldest first."""
    with world.store.unit_of_work() as uow:
        return [item.status for item in uow.outbox.for_report(report_id)]


def test_acknowledgement_is_sent_once_and_acknowledges_the_report(world: World) -> None:
    """The ack goes out once; delivering it moves the report from received to acknowledged."""
    ingest_one(world)
    world.deliver()
    world.deliver()
    assert ["acknowledgement"] == list(world.transport.templates())
    assert [OutboxStatus.SENT] == statuses(world)
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
    assert report is not None
    assert report.state is State.ACKNOWLEDGED
    assert report.last_researcher_update_at == world.clock.now()


def test_mail_server_down_keeps_the_row_and_a_later_pass_delivers_once(world: World) -> None:
    """SMTP down leaves the row pending with a later attempt; the next due pass delivers it once."""
    ingest_one(world)
    world.transport.down = True
    summary = world.deliver()
    assert 1 == summary.counts.get("deferred")
    assert [OutboxStatus.PENDING] == statuses(world)
    world.transport.down = False
    world.deliver()
    assert [] == world.transport.sent  # not due yet: backoff
    world.clock.advance(minutes=3)
    world.deliver()
    world.deliver()
    assert ["acknowledgement"] == list(world.transport.templates())


def test_permanent_rejection_fails_the_row_and_tells_the_team(world: World) -> None:
    """A 550 marks the row failed and adds a note on the issue asking the team to step in."""
    ingest_one(world)
    world.transport.reject.add("ada@example.org")
    summary = world.deliver()
    assert 1 == summary.counts.get("failed")
    assert [OutboxStatus.FAILED] == statuses(world)
    notes = [n.body for n in world.tracker.issues["1"].notes]
    assert any("could not deliver" in n and "550" in n for n in notes)


def test_attempts_run_out_after_the_configured_number(world: World) -> None:
    """A server that stays down exhausts max_attempts and the row ends failed."""
    world.notify.max_attempts = 3
    ingest_one(world)
    world.transport.down = True
    for _ in range(4):
        world.deliver()
        world.clock.advance(hours=7)
    assert [OutboxStatus.FAILED] == statuses(world)


def test_rate_limit_per_recipient(world: World) -> None:
    """No more than the hourly limit goes to one address; the rest waits for the next hour."""
    world.notify.per_recipient_per_hour = 2
    for n in range(4):
        ingest_one(world, message_id=f"<m{n}@example.org>")
    summary = world.deliver()
    assert 2 == len(world.transport.sent)
    assert 2 == summary.counts.get("rate_limited")
    world.clock.advance(hours=1, minutes=1)
    world.deliver()
    assert 4 == len(world.transport.sent)


def test_team_message_delivery_is_noted_on_the_issue(world: World) -> None:
    """After a team message reaches the researcher, an internal note says when it was sent."""
    ingest_one(world)
    world.tracker.team_comment("1", "[to researcher] Which browser did you use?")
    world.pass_sync()
    world.deliver()
    assert "team_message" in list(world.transport.templates())
    notes = [n.body for n in world.tracker.issues["1"].notes if n.by_bridge]
    assert any(n.startswith("Sent to the researcher on 2026-11-02") for n in notes)


def test_replies_thread_to_the_researchers_first_message(world: World) -> None:
    """Every mail references the Message-ID of the report's first mail."""
    ingest_one(world)
    world.deliver()
    _, _, references = world.composer.composed[0]
    assert ("<m1@example.org>",) == references


def test_resend_after_a_crash_keeps_the_message_id(world: World) -> None:
    """The Message-ID is fixed at queue time, so a resend carries the same id."""
    ingest_one(world)
    with world.store.unit_of_work() as uow:
        before = uow.outbox.for_report("CVD-2026-0001")[0].message_id
    world.deliver()
    assert f"Message-ID: {before}" in world.transport.sent[0][2].decode()


def test_refused_smtp_login_stops_the_run_and_fails_no_row(world: World) -> None:
    """A configuration error from the transport propagates; the row stays pending for later."""
    ingest_one(world)
    world.transport.login_refused = True
    with pytest.raises(ConfigurationError):
        world.deliver()
    assert [OutboxStatus.PENDING] == statuses(world)


def keyless_world(world: World) -> World:
    """The world with a composer that withholds everything but the key request without a key."""
    world.composer.withhold_without_key = True
    world.ingest.ingest(
        world.reader.add(inbound(signature=SignatureCheck(SignatureStatus.NONE))),
        world.summary(),
    )
    return world


def test_keyless_researcher_gets_one_key_request_and_the_team_is_told(world: World) -> None:
    """Ack, triaged and a team question without a key: one key request; the rest is withheld."""
    keyless_world(world)
    world.tracker.team_set_labels("1", {"cvd::triaged"}, {"cvd::received"})
    world.tracker.team_comment("1", "[to researcher] Which browser did you use?")
    world.pass_sync()
    world.deliver()
    world.clock.advance(minutes=1)
    world.deliver()
    with world.store.unit_of_work() as uow:
        rows = [(i.template, i.status) for i in uow.outbox.for_report("CVD-2026-0001")]
        report = uow.reports.get("CVD-2026-0001")
    notes = [n.body for n in world.tracker.issues["1"].notes if n.by_bridge]
    assert ["key_request"] == list(world.transport.templates())
    assert [
        ("acknowledgement", OutboxStatus.WITHHELD),
        ("state_triaged", OutboxStatus.WITHHELD),
        ("team_message", OutboxStatus.WITHHELD),
        ("key_request", OutboxStatus.SENT),
    ] == rows
    assert report is not None
    assert State.TRIAGED is report.state
    assert [] == [n for n in notes if n.startswith("Sent to the researcher")]
    assert 1 == sum(n.startswith("Withheld until the researcher sends a key") for n in notes)


def test_key_request_goes_at_most_once_a_day_per_report(world: World) -> None:
    """A second withheld mail the same day asks nothing new; the next day asks once more."""
    keyless_world(world)
    world.deliver()
    world.tracker.team_comment("1", "[to researcher] First question.")
    world.clock.advance(hours=2)
    world.pass_sync()
    world.deliver()
    world.tracker.team_comment("1", "[to researcher] Second question.")
    world.clock.advance(days=1)
    world.pass_sync()
    world.deliver()
    assert ["key_request", "key_request"] == list(world.transport.templates())


def test_a_key_on_the_next_mail_releases_every_withheld_mail_in_order(world: World) -> None:
    """The researcher's reply with their key: ack, triaged, team message go out, in order."""
    keyless_world(world)
    world.tracker.team_set_labels("1", {"cvd::triaged"}, {"cvd::received"})
    world.tracker.team_comment("1", "[to researcher] Which browser did you use?")
    world.pass_sync()
    world.deliver()
    world.clock.advance(hours=1)
    reply = inbound(
        "Firefox 130. My key is attached.",
        message_id="<reply1@example.org>",
        subject="Re: Report CVD-2026-0001: update",
        keys_found=("C" * 40,),
        verdict=Verdict.REPLY,
    )
    world.ingest.ingest(world.reader.add(reply), world.summary())
    world.deliver()
    assert [
        "key_request",
        "acknowledgement",
        "state_triaged",
        "team_message",
    ] == list(world.transport.templates())
    notes = [n.body for n in world.tracker.issues["1"].notes if n.by_bridge]
    assert 1 == sum(n.startswith("Sent to the researcher on 2026-11-02") for n in notes)


def test_a_team_message_sent_in_clear_is_noted_so(world: World) -> None:
    """Where the program allows clear text, the team's note says it went in clear."""
    world.composer.clear_without_key = True
    ingest_one(world)
    world.tracker.team_comment("1", "[to researcher] Which browser did you use?")
    world.pass_sync()
    world.deliver()
    notes = [n.body for n in world.tracker.issues["1"].notes if n.by_bridge]
    assert 1 == sum(
        n.startswith("Sent to the researcher in clear (they have no usable OpenPGP key) on")
        for n in notes
    )


def sent_message_ids(world: World) -> list[str]:
    """The Message-ID of each mail the transport accepted, in order."""
    return [
        line.removeprefix("Message-ID: ")
        for _, _, message in world.transport.sent
        for line in message.decode().splitlines()
        if line.startswith("Message-ID: ")
    ]


def queued_message_ids(world: World) -> list[str]:
    """The Message-IDs of the due rows, in the order a pass takes them."""
    with world.store.unit_of_work() as uow:
        return [item.message_id for item in uow.outbox.due(world.clock.now(), 100)]


def test_mail_composed_ahead_for_rows_the_hourly_limit_holds_is_not_sent(world: World) -> None:
    """Rows held by the hourly limit are not sent, though composed ahead; later in queue order."""
    world.notify.per_recipient_per_hour = 2
    for n in range(4):
        ingest_one(world, message_id=f"<m{n}@example.org>")
    queued = queued_message_ids(world)
    world.deliver()
    assert queued[:2] == sent_message_ids(world)
    world.clock.advance(hours=1, minutes=1)
    world.deliver()
    assert queued == sent_message_ids(world)


def test_a_stop_at_an_unavailable_server_sends_nothing_composed_ahead(world: World) -> None:
    """The pass stops at the first unavailable send; the rows composed ahead stay pending."""
    for n in range(3):
        ingest_one(world, message_id=f"<m{n}@example.org>")
    world.transport.down = True
    summary = world.deliver()
    with world.store.unit_of_work() as uow:
        rows = [uow.outbox.for_report(f"CVD-2026-000{n}")[0].status for n in (1, 2, 3)]
    assert 1 == summary.counts.get("deferred")
    assert [] == world.transport.sent
    assert [OutboxStatus.PENDING] * 3 == rows


def test_a_pass_reads_once_and_writes_once_per_mail_sent(world: World) -> None:
    """Three due mails cost one read transaction and one write transaction each, no more."""
    for n in range(3):
        ingest_one(world, message_id=f"<m{n}@example.org>")
    opened: list[UnitOfWork] = []

    def counting_unit_of_work() -> UnitOfWork:
        uow = world.store.unit_of_work()
        opened.append(uow)
        return uow

    notify = dataclasses.replace(world.notify, unit_of_work=counting_unit_of_work)
    summary = world.summary("notify")
    notify.run(summary)
    assert 3 == summary.counts.get("sent")
    assert 1 + 3 == len(opened)


def test_composing_ahead_or_not_sends_the_same_mails(world: World) -> None:
    """Without composing ahead, a pass sends the same mails in the same order."""
    world.notify.compose_ahead = False
    world.notify.per_recipient_per_hour = 2
    for n in range(3):
        ingest_one(world, message_id=f"<m{n}@example.org>")
    queued = queued_message_ids(world)
    summary = world.deliver()
    assert queued[:2] == sent_message_ids(world)
    assert 1 == summary.counts.get("rate_limited")

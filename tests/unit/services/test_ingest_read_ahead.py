"""Ingest reads the next message while it stores one, without changing outcomes or order."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.fakes import FakeOpenPGP, inbound
from tracker_bridge.errors import RetriableError
from tracker_bridge.ports.intake import MailboxItem, Verdict
from tracker_bridge.services.ingest import READ_AHEAD_MAX_BYTES, Ingest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.unit.services.conftest import World
    from tracker_bridge._testsupport.fakes import FakeReader
    from tracker_bridge.ports.intake import InboundMessage
    from tracker_bridge.ports.unit_of_work import UnitOfWork


@dataclass
class CountingSource:
    """A mailbox that records, at each settle, how many messages were fetched so far."""

    items: list[MailboxItem]
    fails_after: int | None = None
    name: str = "counting"
    fetched: int = 0
    fetched_at_settle: list[int] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)

    def fetch(self) -> Iterator[MailboxItem]:
        for number, item in enumerate(self.items):
            if number == self.fails_after:
                msg = "IMAP FETCH failed at imap.example.org: connection reset"
                raise RetriableError(msg)
            self.fetched += 1
            yield item

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        self.fetched_at_settle.append(self.fetched)
        self.settled.append(item.handle)


@dataclass
class ThreadRecordingReader:
    """The world's reader, recording which call and which thread reads each message."""

    inner: FakeReader
    calls: list[tuple[str, str]] = field(default_factory=list)

    def read(self, raw: bytes) -> InboundMessage:
        self.calls.append(("read", threading.current_thread().name))
        return self.inner.read(raw)

    def prepare(self, raw: bytes) -> Callable[[], InboundMessage]:
        self.calls.append(("prepare", threading.current_thread().name))
        return partial(self.inner.read, raw)


def _items(world: World, count: int) -> list[MailboxItem]:
    return [world.reader.add(inbound(message_id=f"<m{n}@example.org>")) for n in range(count)]


def test_outcomes_keep_mailbox_order_with_one_message_read_ahead(world: World) -> None:
    """Three mails become reports 1-3 in order; each is settled with one more fetched ahead."""
    source = CountingSource(_items(world, 3))
    outcomes = world.ingest.run([source], world.summary())
    assert (
        ["CVD-2026-0001", "CVD-2026-0002", "CVD-2026-0003"],
        ["<m0@example.org>", "<m1@example.org>", "<m2@example.org>"],
        [2, 3, 3],
    ) == ([o.report_id for o in outcomes], source.settled, source.fetched_at_settle)


def test_a_large_message_is_settled_before_the_next_is_fetched(world: World) -> None:
    """After a message over READ_AHEAD_MAX_BYTES nothing is fetched until it is settled."""
    large = MailboxItem("counting", "<big@example.org>", b"x" * (READ_AHEAD_MAX_BYTES + 1))
    world.reader.messages[large.raw] = inbound(message_id="<big@example.org>")
    source = CountingSource([large, *_items(world, 1)])
    world.ingest.run([source], world.summary())
    assert [1, 2] == source.fetched_at_settle


def test_a_large_message_is_read_whole_on_the_worker_and_a_small_one_prepared_here(
    world: World,
) -> None:
    """Over READ_AHEAD_MAX_BYTES read on the worker (one malloc arena); smaller ones prepared here."""
    large = MailboxItem("counting", "<big@example.org>", b"x" * (READ_AHEAD_MAX_BYTES + 1))
    world.reader.messages[large.raw] = inbound(message_id="<big@example.org>")
    recording = ThreadRecordingReader(world.reader)
    world.ingest.reader = recording
    world.ingest.run([CountingSource([large, *_items(world, 1)])], world.summary())
    main = threading.current_thread().name
    assert [("read", True), ("prepare", True)] == [
        (call, thread.startswith("ingest-read") if call == "read" else thread == main)
        for call, thread in recording.calls
    ]


def test_a_mailbox_error_while_fetching_ahead_comes_after_the_message_in_hand(
    world: World,
) -> None:
    """A fetch that fails ahead is raised only once the message before it is stored and settled."""
    source = CountingSource(_items(world, 2), fails_after=1)
    with pytest.raises(RetriableError, match="IMAP FETCH failed at imap"):
        world.ingest.run([source], world.summary())
    with world.store.unit_of_work() as uow:
        stored = uow.reports.get("CVD-2026-0001")
    assert (["<m0@example.org>"], True) == (source.settled, stored is not None)


def test_a_new_report_with_its_issue_takes_three_units_of_work(world: World) -> None:
    """Seen check with the id probe's read, the decision, the issue link: three transactions."""
    opened: list[int] = []

    def counting() -> UnitOfWork:
        opened.append(1)
        return world.store.unit_of_work()

    ingest = Ingest(
        world.ingest.program, counting, world.reader, FakeOpenPGP(), world.clock, world.tracker
    )
    item = world.reader.add(inbound())
    outcome = ingest.ingest(item, world.summary())
    assert (Verdict.REPORT, 3) == (outcome.verdict, len(opened))

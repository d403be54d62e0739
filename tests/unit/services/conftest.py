"""A small world for service tests: fake tracker, memory store, fake mail side, settable clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.fakes import (
    FakeComposer,
    FakeOpenPGP,
    FakeReader,
    RecordingTransport,
)
from tracker_bridge._testsupport.memory_store import MemoryStore
from tracker_bridge.app import build_program
from tracker_bridge.mappings import load_mappings
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.services.ingest import Ingest, IngestOutcome
from tracker_bridge.services.notify import Notify
from tracker_bridge.services.sync import Sync
from tracker_bridge.testing.clock import FakeClock
from tracker_bridge.testing.fake_tracker import FakeTracker

if TYPE_CHECKING:
    from tracker_bridge.ports.intake import InboundMessage

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"


@dataclass
class World:
    """Everything a pass touches, wired like app.py wires the real parts."""

    clock: FakeClock
    store: MemoryStore
    tracker: FakeTracker
    reader: FakeReader
    composer: FakeComposer
    transport: RecordingTransport
    ingest: Ingest
    sync: Sync
    notify: Notify

    def summary(self, step: str = "test") -> PassSummary:
        """A fresh pass summary."""
        return PassSummary(step)

    def receive(self, message: InboundMessage) -> IngestOutcome:
        """The reader hands ``message`` to ingest, as if it had just arrived in the mailbox."""
        return self.ingest.ingest(self.reader.add(message), self.summary())

    def deliver(self) -> PassSummary:
        """Run notify once."""
        summary = self.summary("notify")
        self.notify.run(summary)
        return summary

    def pass_sync(self) -> PassSummary:
        """Run sync once."""
        summary = self.summary("sync")
        self.sync.run(summary)
        return summary


@pytest.fixture
def world() -> World:
    """A fresh world on Monday 2 November 2026, 09:00 UTC."""
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    mappings = load_mappings(MAPPINGS, "fake")
    program = build_program(mappings)
    store = MemoryStore()
    tracker = FakeTracker(now=clock.now)
    reader = FakeReader()
    composer = FakeComposer()
    transport = RecordingTransport()
    return World(
        clock=clock,
        store=store,
        tracker=tracker,
        reader=reader,
        composer=composer,
        transport=transport,
        ingest=Ingest(program, store.unit_of_work, reader, FakeOpenPGP(), clock, tracker),
        sync=Sync(program, store.unit_of_work, tracker, clock, "fake:security/cvd"),
        notify=Notify(program, store.unit_of_work, composer, transport, clock, tracker),
    )

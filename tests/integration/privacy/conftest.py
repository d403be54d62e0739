"""A pass's world on each store backend: fakes for mail and tracker, the real store under test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.store.conftest import (  # noqa: F401 - fixtures re-exported for pytest
    Backend,
    postgres_admin_url,
    postgres_url,
    sqlite_url,
)
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
from tracker_bridge.services.audit import AuditedTracker
from tracker_bridge.services.ingest import Ingest
from tracker_bridge.services.notify import Notify
from tracker_bridge.services.retention import RetentionPolicy
from tracker_bridge.services.subject_requests import SubjectRequests
from tracker_bridge.services.sync import Sync
from tracker_bridge.store import Store, open_store
from tracker_bridge.testing.clock import FakeClock
from tracker_bridge.testing.fake_tracker import FakeTracker

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tracker_bridge.ports.privacy import MailboxArchive

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"


@dataclass
class World:
    """Everything a pass touches, wired like app.py wires the real parts."""

    name: str
    clock: FakeClock
    store: MemoryStore | Store
    tracker: FakeTracker
    reader: FakeReader
    transport: RecordingTransport
    ingest: Ingest
    sync: Sync
    notify: Notify
    privacy: SubjectRequests

    def with_archives(self, *archives: MailboxArchive) -> SubjectRequests:
        """The privacy service deleting mailbox copies in ``archives`` too."""
        self.privacy.archives = archives
        return self.privacy

    def deliver(self) -> PassSummary:
        """Run notify once."""
        summary = PassSummary("notify")
        self.notify.run(summary)
        return summary


def build_world(name: str, store: MemoryStore | Store, clock: FakeClock) -> World:
    """Services over ``store`` with the fake tracker wrapped in the audit decorator."""
    mappings = load_mappings(MAPPINGS, "fake")
    program = build_program(mappings)
    fake = FakeTracker(now=clock.now)
    tracker = AuditedTracker(fake, store.unit_of_work, clock)
    reader = FakeReader()
    transport = RecordingTransport()
    return World(
        name=name,
        clock=clock,
        store=store,
        tracker=fake,
        reader=reader,
        transport=transport,
        ingest=Ingest(program, store.unit_of_work, reader, FakeOpenPGP(), clock, tracker),
        sync=Sync(program, store.unit_of_work, tracker, clock, "fake:security/cvd"),
        notify=Notify(program, store.unit_of_work, FakeComposer(), transport, clock, tracker),
        privacy=SubjectRequests(
            store.unit_of_work,
            clock,
            RetentionPolicy(content_days_after_close=90, contact_days_after_close=120),
            program.local_date,
            tracker=tracker,
        ),
    )


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """A world on each store backend, Monday 2 November 2026, 09:00 UTC."""
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    if request.param == "memory":
        yield build_world("memory", MemoryStore(clock), clock)
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    store = open_store(url, clock=clock)
    try:
        yield build_world(request.param, store, clock)
    finally:
        store.dispose()

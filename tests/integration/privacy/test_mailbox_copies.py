"""Purged mail leaves the bridge's Processed and Quarantine Maildir folders too; the inbox stays."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge._testsupport.memory_store import MemoryStore
from tracker_bridge.domain.report import State
from tracker_bridge.intake.sources import MaildirSource
from tracker_bridge.ports.intake import MailboxItem, Verdict
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.testing.clock import FakeClock

from .conftest import World, build_world

if TYPE_CHECKING:
    from pathlib import Path


def raw_mail(message_id: str, body: str) -> bytes:
    """A small RFC 5322 message."""
    return (
        f"From: ada@example.org\r\nTo: security@example.org\r\nMessage-ID: {message_id}\r\n"
        f"Subject: report\r\n\r\n{body}\r\n"
    ).encode()


def files(folder: Path) -> list[str]:
    """Message file names in a Maildir folder's cur/ and new/."""
    return sorted(
        p.name
        for sub in ("cur", "new")
        if (folder / sub).is_dir()
        for p in (folder / sub).iterdir()
    )


@pytest.fixture
def maildir(tmp_path: Path) -> MaildirSource:
    """An empty Maildir."""
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "mail" / sub).mkdir(parents=True)
    return MaildirSource(tmp_path / "mail")


@pytest.fixture
def world() -> World:
    """A world on the memory store."""
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    return build_world("memory", MemoryStore(clock), clock)


def deliver(
    world: World, maildir: MaildirSource, message_id: str, body: str, **changes: Any
) -> None:
    """Put a mail in the inbox and teach the fake reader what it says."""
    raw = raw_mail(message_id, body)
    world.reader.messages[raw] = inbound(body, message_id=message_id, **changes)
    maildir.deliver(raw)


def test_purge_deletes_settled_copies_of_the_closed_report_only(
    world: World, maildir: MaildirSource
) -> None:
    """The closed report's mail leaves .Processed; the open report's copy and the inbox stay."""
    deliver(world, maildir, "<ada-1@example.org>", "CANARY one")
    deliver(world, maildir, "<bob-1@example.net>", "other", sender="bob@example.net")
    world.ingest.run([maildir], PassSummary("ingest"))
    deliver(world, maildir, "<late@example.org>", "not yet read")
    assert 2 == len(files(maildir.processed))
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        report.transition(State.SPAM, world.clock.now())
        uow.reports.save(report)
        uow.commit()
    world.clock.advance(days=91)
    result = world.with_archives(maildir).purge()
    assert 1 == result.counts["mailbox_copies"]
    remaining = [
        (maildir.processed / "cur" / name).read_bytes() for name in files(maildir.processed)
    ]
    assert [raw_mail("<bob-1@example.net>", "other")] == remaining
    assert 1 == len(files(maildir.root))  # the unread inbox mail is not the bridge's to delete


def test_quarantined_copies_go_after_the_content_period(
    world: World, maildir: MaildirSource
) -> None:
    """Quarantined mail that belongs to no report is deleted from .Quarantine after 90 days."""
    deliver(world, maildir, "<q@example.org>", "CANARY junk", verdict=Verdict.QUARANTINE)
    world.ingest.run([maildir], PassSummary("ingest"))
    assert 1 == len(files(maildir.quarantine))
    world.clock.advance(days=91)
    dry = world.with_archives(maildir).purge(dry_run=True)
    assert (1, 1) == (dry.counts["mailbox_copies"], len(files(maildir.quarantine)))
    world.privacy.purge()
    assert [] == files(maildir.quarantine)


def test_copies_without_a_message_id_are_found_by_digest(maildir: MaildirSource) -> None:
    """A settled mail with no Message-ID header is matched by the sha256 of its bytes."""
    raw = b"From: ada@example.org\r\nSubject: no id\r\n\r\nCANARY\r\n"
    handle = maildir.deliver(raw)
    maildir.settle(MailboxItem("maildir", handle, raw), Verdict.REPORT)
    digest = hashlib.sha256(raw).hexdigest()
    assert 1 == maildir.delete_copies(
        [f"<{digest}@tracker-bridge.invalid>"], [digest], dry_run=True
    )
    assert 1 == len(files(maildir.processed))
    assert 1 == maildir.delete_copies([], [digest])
    assert [] == files(maildir.processed)
    assert 0 == maildir.delete_copies([], [digest])

"""The audit log: every mail out, every mail in and every tracker write, never the report text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.fakes import (
    FakeComposer,
    FakeOpenPGP,
    FakeReader,
    RecordingTransport,
    inbound,
)
from tracker_bridge._testsupport.memory_store import MemoryStore
from tracker_bridge.app import build_program
from tracker_bridge.errors import TrackerUnavailable
from tracker_bridge.mappings import load_mappings
from tracker_bridge.ports.intake import Verdict
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.ports.tracker import IssueUpdate
from tracker_bridge.services.audit import AuditedTracker, message_reference
from tracker_bridge.services.ingest import Ingest
from tracker_bridge.services.notify import Notify
from tracker_bridge.services.sync import Sync
from tracker_bridge.testing.clock import FakeClock
from tracker_bridge.testing.fake_tracker import FakeTracker

if TYPE_CHECKING:
    from tracker_bridge.ports.privacy import AuditEntry

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
SECRET_TEXT = "CANARY-TEXT the admin panel has no password"
SECRET_REPLY = "CANARY-REPLY more detail"
TEAM_TEXT = "CANARY-TEAM we reproduced it"


class Pass:
    """Ingest, sync and notify over the memory store with the fake tracker, audited."""

    def __init__(self) -> None:
        self.clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
        mappings = load_mappings(MAPPINGS, "fake")
        program = build_program(mappings)
        self.store = MemoryStore(self.clock)
        self.fake = FakeTracker(now=self.clock.now)
        self.tracker = AuditedTracker(self.fake, self.store.unit_of_work, self.clock)
        self.reader = FakeReader()
        self.transport = RecordingTransport()
        self.ingest = Ingest(
            program, self.store.unit_of_work, self.reader, FakeOpenPGP(), self.clock, self.tracker
        )
        self.sync = Sync(program, self.store.unit_of_work, self.tracker, self.clock, "fake:x")
        self.notify = Notify(
            program,
            self.store.unit_of_work,
            FakeComposer(),
            self.transport,
            self.clock,
            self.tracker,
        )

    def run(self) -> None:
        """One pass: ingest what the reader holds, sync, notify."""
        summary = PassSummary("test")
        for raw in list(self.reader.messages):
            message = self.reader.messages[raw]
            self.ingest.ingest(self.reader.add(message), summary)
        self.reader.messages.clear()
        self.sync.run(summary)
        self.notify.run(summary)

    def entries(self) -> list[AuditEntry]:
        """The whole audit log."""
        with self.store.unit_of_work() as uow:
            return uow.audit.entries()


@pytest.fixture
def world() -> Pass:
    """A fresh audited pass."""
    return Pass()


def scenario(world: Pass) -> None:
    """A report, its acknowledgement, a team message and triage, a reply, the triaged mail."""
    world.reader.add(inbound(SECRET_TEXT, message_id="<r1@example.org>"))
    world.run()
    world.clock.advance(hours=1)
    world.fake.team_comment("1", f"[to researcher]\n{TEAM_TEXT}")
    world.fake.team_set_labels("1", {"cvd::triaging"}, {"cvd::received"})
    world.run()
    world.clock.advance(hours=1)
    world.reader.add(
        inbound(SECRET_REPLY, message_id="<r2@example.org>", in_reply_to=("<r1@example.org>",))
    )
    world.run()


def test_every_outbound_mail_of_a_pass_is_on_the_audit_log(world: Pass) -> None:
    """Each mail the transport accepted has one mail_sent entry with its own Message-ID."""
    scenario(world)
    sent_ids = [
        line.removeprefix("Message-ID: ")
        for _, _, message in world.transport.sent
        for line in message.decode().splitlines()
        if line.startswith("Message-ID: ")
    ]
    audited = [e.detail.split(" ")[1] for e in world.entries() if e.action == "mail_sent"]
    assert len(sent_ids) >= 2
    assert sent_ids == audited


def test_received_mail_is_on_the_log_with_its_verdict(world: Pass) -> None:
    """A researcher asking "did you get my mail" is answered by a digest of its Message-ID."""
    scenario(world)
    received = [
        (e.outcome, e.report_id, e.detail.split(" via ")[0])
        for e in world.entries()
        if e.action == "message_received"
    ]
    assert [
        (Verdict.REPORT.value, "CVD-2026-0001", message_reference("<r1@example.org>")),
        (Verdict.REPLY.value, "CVD-2026-0001", message_reference("r2@example.org")),
    ] == received


def test_tracker_writes_are_on_the_log(world: Pass) -> None:
    """Opening the issue, deadline label moves and notes are each recorded with outcome ok."""
    scenario(world)
    world.clock.advance(days=10)  # the assessment deadline passes: sync relabels the issue
    world.run()
    actions = {e.action for e in world.entries() if e.outcome == "ok"}
    assert {"open_issue", "update_issue", "add_note"} <= actions


def test_the_log_holds_no_report_text_or_address(world: Pass) -> None:
    """No entry carries the report text, the reply, the team's message or the address."""
    scenario(world)
    text = "\n".join(f"{e.actor} {e.action} {e.outcome} {e.detail}" for e in world.entries())
    for secret in (SECRET_TEXT, SECRET_REPLY, TEAM_TEXT, "ada@example.org", "SQL injection"):
        assert secret not in text


def test_refused_mail_is_recorded_as_refused(world: Pass) -> None:
    """A 550 is recorded as mail_refused with the error type, not the server's text."""
    world.transport.reject.add("ada@example.org")
    world.reader.add(inbound(SECRET_TEXT))
    world.run()
    refused = [(e.action, e.outcome) for e in world.entries() if e.action.startswith("mail_")]
    assert [("mail_refused", "error:MailRejected")] == refused


def test_failed_tracker_write_is_recorded_and_still_raised(world: Pass) -> None:
    """A tracker outage is recorded with its error type, and the caller still sees it."""
    world.reader.add(inbound(SECRET_TEXT))
    world.run()
    ref = world.fake._ref("1")  # noqa: SLF001 - the fake tracker's issue reference, to look the issue up
    world.fake.fail_calls = 1
    with pytest.raises(TrackerUnavailable):
        world.tracker.update_issue(ref, IssueUpdate(add_labels=frozenset({"x"})))
    last = world.entries()[-1]
    assert ("update_issue", "error:TrackerUnavailable", "CVD-2026-0001") == (
        last.action,
        last.outcome,
        last.report_id,
    )


def test_the_audit_repository_offers_no_way_to_change_an_entry(world: Pass) -> None:
    """Append-only: the repository has record and entries, nothing that updates or deletes."""
    with world.store.unit_of_work() as uow:
        public = {name for name in dir(uow.audit) if not name.startswith("_")}
    assert {"entries", "record"} == public

"""Retention, erasure and access on every store: nothing of a purged report is left anywhere."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tracker_bridge._testsupport.fakes import FakeOpenPGP, inbound
from tracker_bridge._testsupport.memory_store import MemoryStore
from tracker_bridge.domain.report import State
from tracker_bridge.domain.researcher import CreditWish
from tracker_bridge.ports.intake import Attachment, InboundMessage, MailboxItem, Verdict
from tracker_bridge.ports.mail import OutboxStatus
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.services.retention import RetentionPolicy
from tracker_bridge.store import Store
from tracker_bridge.store.tables import metadata

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .conftest import World

ADA = "ada.canary@example.org"
ADA_KEY = "C0FFEE" * 6 + "C0FF"
ADA_TEXT = "CANARY-BODY the login form is injectable"
ADA_SUBJECT = "CANARY-SUBJECT SQL injection"
ADA_REPLY = "CANARY-REPLY here is more detail"
ADA_FILE = b"CANARY-ATTACHMENT proof of concept"
BOB = "bob.other@example.net"
BOB_TEXT = "BOBTEXT the upload endpoint takes any file"

ADA_CANARIES = [ADA, ADA_KEY, ADA_TEXT, ADA_SUBJECT, ADA_REPLY, ADA_FILE.decode(), "Ada Lovelace"]


def _attachment(content: bytes) -> Attachment:
    return Attachment("poc.txt", "text/plain", content, hashlib.sha256(content).hexdigest())


def mail(world: World, message: InboundMessage) -> MailboxItem:
    """A mailbox item whose raw bytes carry the text (stored as is: it arrived encrypted)."""
    raw = f"Message-ID: {message.message_id}\nFrom: {message.sender}\n\n{message.body}\n".encode()
    world.reader.messages[raw] = message
    return MailboxItem("test", message.message_id, raw)


def ingest_reports(world: World) -> None:
    """Ada reports (signed with her key, an attachment) and replies; Bob reports."""
    summary = world.deliver()  # nothing queued yet; keeps the flow explicit
    ada = inbound(
        ADA_TEXT,
        sender=ADA,
        subject=ADA_SUBJECT,
        message_id="<ada-1@example.org>",
        sender_name="Ada Lovelace",
        signature=SignatureCheck(SignatureStatus.VALID, ADA_KEY),
        keys_found=(ADA_KEY,),
        attachments=(_attachment(ADA_FILE),),
    )
    bob = inbound(BOB_TEXT, sender=BOB, subject="BOBSUBJECT upload", message_id="<bob-1@x.net>")
    world.ingest.ingest(mail(world, ada), summary)
    world.ingest.ingest(mail(world, bob), summary)
    reply = inbound(
        ADA_REPLY,
        sender=ADA,
        subject="Re: CVD-2026-0001",
        message_id="<ada-2@example.org>",
        in_reply_to=("<ada-1@example.org>",),
    )
    world.ingest.ingest(mail(world, reply), summary)
    world.deliver()


def close(world: World, report_id: str, *, credit: CreditWish | None = None) -> None:
    """The team resolves the report (through triage)."""
    with world.store.unit_of_work() as uow:
        report = uow.reports.get(report_id)
        assert report is not None
        for state in (State.TRIAGED, State.RESOLVED):
            report.transition(state, world.clock.now())
        uow.reports.save(report)
        if credit is not None:
            researcher = uow.reports.researcher_of(report_id)
            assert researcher is not None
            researcher.credit_wish = credit
            uow.researchers.save(researcher)
        uow.commit()


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes | bytearray | memoryview):
        yield bytes(value).decode("latin-1")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(key)
            yield from _walk(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _walk(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _walk(getattr(value, item.name))
    elif value is not None and not isinstance(value, int | float | bool):
        yield str(value)


def everything_stored(world: World) -> str:
    """Every text and byte value in every table (or the memory store's state), joined."""
    if isinstance(world.store, MemoryStore):
        return "\n".join(_walk(world.store.committed))
    assert isinstance(world.store, Store)
    found: list[str] = []
    with world.store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                found.extend(_walk([json.dumps(v, default=str) for v in row]))
                found.extend(_walk(list(row)))
    return "\n".join(found)


def leftovers(world: World, canaries: list[str]) -> list[str]:
    """The canaries still found anywhere in the store (case-insensitive)."""
    text = everything_stored(world).lower()
    return [canary for canary in canaries if canary.lower() in text]


def test_canaries_are_seen_before_the_purge(world: World) -> None:
    """The scan finds every canary while the report is held (so a clean scan means something)."""
    ingest_reports(world)
    assert [] == [c for c in ADA_CANARIES if c not in leftovers(world, ADA_CANARIES)]


def test_purge_after_retention_leaves_nothing_of_the_closed_report(world: World) -> None:
    """Past both periods no text, attachment, raw mail, address or key of Ada's report is left."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    world.clock.advance(days=121)
    result = world.privacy.purge()
    assert ["CVD-2026-0001"] == result.content_reports
    assert ["CVD-2026-0001"] == result.contact_reports
    assert [] == leftovers(world, ADA_CANARIES)
    with world.store.unit_of_work() as uow:
        assert uow.reports.content("CVD-2026-0001") is None
        assert [] == uow.privacy.messages_of("CVD-2026-0001")
        assert uow.reports.researcher_of("CVD-2026-0001") is None
        assert all(row.recipient == "" for row in uow.outbox.for_report("CVD-2026-0001"))
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        assert State.RESOLVED == report.state
        assert uow.links.get("CVD-2026-0001") is not None


def test_open_reports_are_untouched(world: World) -> None:
    """Bob's open report keeps its text, mail and address however long it stays open."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    world.clock.advance(days=400)
    world.privacy.purge()
    assert [BOB, BOB_TEXT] == leftovers(world, [BOB, BOB_TEXT])
    with world.store.unit_of_work() as uow:
        content = uow.reports.content("CVD-2026-0002")
        assert content is not None
        assert BOB_TEXT == content.body
        assert 1 == len(uow.privacy.messages_of("CVD-2026-0002"))


def test_content_goes_first_and_contact_details_after_their_own_period(world: World) -> None:
    """At 91 days the text is gone but the address is kept until 120 days have passed."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    world.clock.advance(days=91)
    world.privacy.purge()
    assert [ADA] == leftovers(world, [ADA, ADA_TEXT])
    world.clock.advance(days=30)
    world.privacy.purge()
    assert [] == leftovers(world, [ADA, ADA_TEXT])


def test_nothing_is_due_before_the_period_ends(world: World) -> None:
    """89 days after closing, a purge deletes nothing."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    world.clock.advance(days=89)
    result = world.privacy.purge()
    assert 0 == sum(result.counts.values())
    assert ADA_CANARIES == leftovers(world, ADA_CANARIES)


def test_dry_run_counts_the_same_and_changes_nothing(world: World) -> None:
    """--dry-run reports the counts the real purge then reports, and deletes nothing."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    world.clock.advance(days=121)
    dry = world.privacy.purge(dry_run=True)
    assert ADA_CANARIES == leftovers(world, ADA_CANARIES)
    real = world.privacy.purge()
    expected = {
        "reports": 1,
        "contents": 1,
        "attachments": 1,
        "messages": 2,
        "outbox_rows": 1,
        "unlinked_messages": 0,
        "mailbox_copies": 0,
        "researchers": 1,
        "notes": 2,
    }
    assert expected == dry.counts
    assert expected == real.counts


def test_purge_is_idempotent_and_notes_the_issue_once(world: World) -> None:
    """A second purge finds nothing; the issue got one note for the text, one for the contact."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    world.clock.advance(days=121)
    world.privacy.purge()
    again = world.privacy.purge()
    assert 0 == sum(again.counts.values())
    notes = [n.body for n in world.tracker.issues["1"].notes if "tracker-bridge purged" in n.body]
    assert [
        "tracker-bridge purged the stored report text on 2027-03-03 (retention 90 days)",
        "tracker-bridge purged the stored contact details on 2027-03-03 (retention 120 days)",
    ] == [n.split(":")[0] for n in notes]


def test_quarantined_mail_of_no_report_is_purged_after_the_content_period(world: World) -> None:
    """Quarantined mail belongs to no report; it goes content_days after it arrived."""
    junk = inbound("CANARY-QUARANTINE", verdict=Verdict.QUARANTINE, message_id="<q@x.org>")
    world.ingest.ingest(mail(world, junk), world.deliver())
    world.clock.advance(days=91)
    result = world.privacy.purge()
    assert 1 == result.counts["unlinked_messages"]
    with world.store.unit_of_work() as uow:
        assert [] == uow.privacy.unlinked_messages(world.clock.now() + timedelta(days=1))


def test_forget_removes_the_address_from_every_table_and_the_outbox(world: World) -> None:
    """Forget erases Ada everywhere at once, cancels her pending mail, notes it, spares Bob."""
    ingest_reports(world)
    with world.store.unit_of_work() as uow:  # a mail still waiting for her
        pending = uow.outbox.for_report("CVD-2026-0001")[0]
        uow.outbox.add(
            dataclasses.replace(
                pending,
                outbox_id="w1",
                dedupe_key="w1",
                status=OutboxStatus.PENDING,
                message_id="<w1@example.org>",
            )
        )
        uow.commit()
    result = world.privacy.forget(ADA.upper())
    assert ["CVD-2026-0001"] == result.report_ids
    assert [] == leftovers(world, ADA_CANARIES)
    assert [BOB, BOB_TEXT] == leftovers(world, [BOB, BOB_TEXT])
    with world.store.unit_of_work() as uow:
        statuses = [row.status for row in uow.outbox.for_report("CVD-2026-0001")]
        report = uow.reports.get("CVD-2026-0001")
    assert [OutboxStatus.SENT, OutboxStatus.CANCELLED] == statuses
    assert report is not None
    assert report.state.is_open
    notes = [n.body for n in world.tracker.issues["1"].notes]
    assert 1 == sum("erased the researcher's contact details" in n for n in notes)


def test_forget_erases_even_a_consented_credit_name(world: World) -> None:
    """After `forget` no credit name is kept, not even one given with consent."""
    ingest_reports(world)
    close(world, "CVD-2026-0001", credit=CreditWish.NAME)
    world.privacy.forget(ADA)
    world.privacy.forget(BOB)
    with world.store.unit_of_work() as uow:
        names = [uow.reports.credit_name_of(r) for r in ("CVD-2026-0001", "CVD-2026-0002")]
    assert [None, None] == names


def test_retention_keeps_a_consented_credit_name(world: World) -> None:
    """The contact-retention purge (no erasure request) keeps the name Ada consented to."""
    ingest_reports(world)
    close(world, "CVD-2026-0001", credit=CreditWish.NAME)
    world.clock.advance(days=121)
    world.privacy.purge()
    with world.store.unit_of_work() as uow:
        assert "Ada Lovelace" == uow.reports.credit_name_of("CVD-2026-0001")


def test_export_holds_everything_about_ada_and_nothing_about_bob(world: World) -> None:
    """The access export has Ada's contact, key, report text, mails and nothing of Bob's."""
    ingest_reports(world)
    exported = json.dumps(world.privacy.export(ADA))
    for canary in [ADA, ADA_KEY, ADA_TEXT, ADA_SUBJECT, "Ada Lovelace", "<ada-2@example.org>"]:
        assert canary in exported
    for other in [BOB, BOB_TEXT, "CVD-2026-0002", "bob-1"]:
        assert other not in exported
    data = world.privacy.export(ADA)
    mails = data["reports"][0]["mails_sent"]
    assert [("acknowledgement", "sent")] == [(m["template"], m["status"]) for m in mails]
    assert ["report", "reply"] == [m["verdict"] for m in data["reports"][0]["messages_received"]]


def test_forget_erases_her_from_the_issue_and_the_keyring_and_audits_where(world: World) -> None:
    """Forget: name, key and copied reply leave the bridge's issue text and keyring; audited."""
    ingest_reports(world)
    world.tracker.team_comment("1", "Ada Lovelace called us too.")
    keyring = FakeOpenPGP([ADA_KEY, "D" * 40])
    world.privacy.keyring = keyring
    result = world.privacy.forget(ADA)
    issue = world.tracker.issues["1"]
    bridge_text = "\n".join([issue.body, *(n.body for n in issue.notes if n.by_bridge)])
    with world.store.unit_of_work() as uow:
        audit = [(e.action, e.detail) for e in uow.audit.entries() if e.actor == "forget"]
    assert [] == [c for c in ("Ada Lovelace", ADA_KEY, ADA_REPLY) if c in bridge_text]
    assert "(erased on request)" in issue.body
    assert 1 == sum(n.body.startswith("Erased on request on 2026-11-02") for n in issue.notes)
    assert ["Ada Lovelace called us too."] == [n.body for n in issue.notes if not n.by_bridge]
    assert {"D" * 40} == keyring.keys
    assert (2, 1) == (result.counts["tracker_texts"], result.counts["keys"])
    assert (
        "tracker_text_erased",
        "fake security/cvd 1: 2 text(s) (name, address, key fingerprint, copied replies)",
    ) in audit
    assert ("key_erased", "bridge keyring: 1 public key(s) removed") in audit


def closed_due(world: World) -> list[str]:
    """Closed reports whose retention moment has come (what a purge reads)."""
    with world.store.unit_of_work() as uow:
        return [
            str(r.report_id)
            for r in uow.reports.due_reports_page(world.clock.now(), None, 100, closed=True)
        ]


def test_a_quiet_purge_reads_no_report(world: World) -> None:
    """After a purge has looked at a closed report, none is due until its retention moment."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    assert ["CVD-2026-0001"] == closed_due(world)
    world.privacy.purge()
    world.clock.advance(days=89)
    assert [] == closed_due(world)
    world.clock.advance(days=1)
    assert ["CVD-2026-0001"] == closed_due(world)


def test_a_reply_to_a_purged_report_is_purged_by_the_next_pass(world: World) -> None:
    """Mail stored for a report whose text is gone makes it due: the next purge removes it."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    world.clock.advance(days=91)
    world.privacy.purge()
    late = inbound(
        "LATEREPLY still there?",
        sender=ADA,
        subject="Re: CVD-2026-0001",
        message_id="<ada-3@example.org>",
        in_reply_to=("<ada-1@example.org>",),
    )
    world.ingest.ingest(mail(world, late), PassSummary("ingest"))
    assert ["LATEREPLY"] == leftovers(world, ["LATEREPLY"])
    world.clock.advance(minutes=5)
    result = world.privacy.purge()
    assert ["CVD-2026-0001"] == result.content_reports
    assert [] == leftovers(world, ["LATEREPLY"])


def test_shorter_retention_applies_to_reports_already_looked_at(world: World) -> None:
    """Moments follow the periods they came from: under shorter periods the purge looks again."""
    ingest_reports(world)
    close(world, "CVD-2026-0001")
    world.privacy.purge()
    world.clock.advance(days=31)
    world.privacy.retention = RetentionPolicy(content_days_after_close=30)
    result = world.privacy.purge()
    assert ["CVD-2026-0001"] == result.content_reports

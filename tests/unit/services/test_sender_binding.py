"""Ingest and sync decide whose mail it is: third-party notes, offered keys, [confirm key]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge.domain.report import State
from tracker_bridge.ports.intake import Origin, OriginCheck, Verdict
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from tests.unit.services.conftest import World

KNOWN = "A" * 40
OFFERED = "C" * 40
UNOFFERED = "D" * 40


def _report_with_known_key(world: World) -> None:
    """Ada reports with key A attached (learned), and the issue is opened."""
    world.ingest.ingest(world.reader.add(inbound(keys_found=(KNOWN,))), world.summary())


def _fingerprint(world: World) -> str | None:
    with world.store.unit_of_work() as uow:
        researcher = uow.researchers.get("ada@example.org")
    assert researcher is not None
    return researcher.fingerprint


def test_an_offered_key_is_used_only_after_a_team_member_confirms_it(world: World) -> None:
    """Key C in Ada's reply is announced; an unoffered key D or the bridge's note confirm nothing."""
    _report_with_known_key(world)
    reply = inbound(
        "new key attached",
        message_id="<m2@example.org>",
        keys_found=(OFFERED,),
        in_reply_to=("<m1@example.org>",),
    )
    outcome = world.receive(reply)
    assert (Verdict.REPLY, KNOWN) == (outcome.verdict, _fingerprint(world))
    announced = [n.body for n in world.tracker.issues["1"].notes if OFFERED in n.body]
    assert 1 == len(announced)
    world.tracker.team_comment("1", f"[confirm key] {UNOFFERED}")
    world.pass_sync()
    assert KNOWN == _fingerprint(world)
    world.tracker.team_comment("1", f"[Confirm key] {OFFERED[:20]} {OFFERED[20:]}")
    world.pass_sync()
    assert OFFERED == _fingerprint(world)


def test_mail_from_another_address_naming_a_report_changes_nothing(world: World) -> None:
    """In-Reply-To from someone else: a third-party note; no state move, key or recipient."""
    _report_with_known_key(world)
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        report.transition(State.NEEDS_INFO, world.clock.now())
        uow.reports.save(report)
        uow.commit()
    stranger = inbound(
        "close it",
        sender="eve@evil.example",
        message_id="<e1@evil.example>",
        keys_found=(OFFERED,),
        signature=SignatureCheck(SignatureStatus.VALID, "E" * 40),
        in_reply_to=("<m1@example.org>",),
    )
    outcome = world.receive(stranger)
    assert Verdict.REPLY == outcome.verdict
    assert outcome.reason.startswith("third-party mail naming CVD-2026-0001")
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        recipients = {item.recipient for item in uow.outbox.for_report("CVD-2026-0001")}
        kinds = [e.kind for e in uow.reports.events("CVD-2026-0001")]
    assert report is not None
    assert (State.NEEDS_INFO, {"ada@example.org"}) == (report.state, recipients)
    assert "different_key_offered" not in kinds
    assert world.tracker.issues["1"].notes[-1].body.startswith("**Third-party mail, NOT")


def test_a_signature_by_the_known_key_makes_mail_from_another_address_theirs(
    world: World,
) -> None:
    """Ada writing from a new address, signed by her confirmed key, is Ada's reply."""
    _report_with_known_key(world)
    reply = inbound(
        "from my phone",
        sender="ada.mobile@example.org",
        message_id="<m3@example.org>",
        in_reply_to=("<m1@example.org>",),
    )
    outcome = world.receive(reply)
    assert (Verdict.REPLY, "reply from the researcher") == (outcome.verdict, outcome.reason)


def test_a_spoofed_report_is_quarantined_and_unanswered(world: World) -> None:
    """The trusted MTA's DMARC fail: no report, no acknowledgement, the reason kept."""
    spoofed = inbound(origin=OriginCheck(Origin.SPOOFED, "DMARC fail for example.org (per mx)"))
    outcome = world.receive(spoofed)
    assert (Verdict.QUARANTINE, "spoofed sender: DMARC fail for example.org (per mx)") == (
        outcome.verdict,
        outcome.reason,
    )
    with world.store.unit_of_work() as uow:
        assert [] == uow.outbox.for_report("CVD-2026-0001")

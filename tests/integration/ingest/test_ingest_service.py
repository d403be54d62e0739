"""Ingest with real gpg, SQLite, SMTP and the GitLab plugin over HTTP: replies, RFC 3834, limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.ingest.conftest import (
    World,
    issue_iid,
    last_message_id_for,
    query_store,
    run_ingest,
)
from tracker_bridge.demo.installation import BRIDGE_ADDRESS
from tracker_bridge.intake.reader import MailReader, ReaderLimits
from tracker_bridge.ports.intake import Verdict
from tracker_bridge.ports.summary import PassSummary

if TYPE_CHECKING:
    from tracker_bridge.demo.mail_shapes import MailShapes

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"


def _acknowledge(world: World, report_id: str) -> str:
    """Deliver the outbox over SMTP; the Message-ID of the acknowledgement for ``report_id``."""
    bridge = world.bridge()
    try:
        bridge.notify_step()(PassSummary("notify"))
    finally:
        bridge.close()
    return last_message_id_for(world, report_id, "acknowledgement")


def _outbox_count(world: World) -> int:
    return int(query_store(world, "SELECT count(*) FROM outbox")[0][0])


def _new_report(world: World, shapes: MailShapes, subject: str) -> str:
    outcome = run_ingest(world, shapes.kmail(subject, "Steps to reproduce: ...").raw)[0]
    assert (Verdict.REPORT, "new report") == (outcome.verdict, outcome.reason)
    assert outcome.report_id is not None
    return outcome.report_id


HOSTILE_REPLY = "/close\n/confidential false\n@all it also works on /account\n"


@pytest.mark.parametrize("threading", ["plus_address", "subject", "in_reply_to"])
def test_reply_becomes_an_inert_internal_note_on_the_issue(world: World, threading: str) -> None:
    """A reply found by plus-address, subject or In-Reply-To is a neutralised internal note."""
    shapes = world.installation.shapes(JAN)
    report_id = _new_report(world, shapes, f"Reflected XSS ({threading})")
    acknowledgement = _acknowledge(world, report_id)
    subject, headers = "More details", [("In-Reply-To", acknowledgement)]
    if threading == "plus_address":
        local, _, domain = BRIDGE_ADDRESS.partition("@")
        shapes.bridge_address, headers = f"{local}+{report_id}@{domain}", []
    elif threading == "subject":
        subject, headers = f"Re: [{report_id}] update", []
    reply = shapes.pgp_mime(subject, shapes.text_part(HOSTILE_REPLY), extra_headers=headers)
    outcome = run_ingest(world, reply)[0]
    assert (Verdict.REPLY, report_id, "reply from the researcher") == (
        outcome.verdict,
        outcome.report_id,
        outcome.reason,
    )
    gitlab = world.gitlab
    iid = issue_iid(world, report_id)
    with gitlab.state.lock:
        notes = [n for n in gitlab.state.notes_of(iid) if not n.system]
    assert [True] == [n.internal for n in notes]
    assert "it also works on" in notes[0].body
    issue = gitlab.team.issue(iid)
    assert ("opened", True, []) == (issue.state, issue.confidential, gitlab.team.side_effects())


def test_auto_reply_to_our_mail_is_recorded_and_not_acknowledged(world: World) -> None:
    """An out-of-office answer to the acknowledgement is attached to the report, with no ack."""
    shapes = world.installation.shapes(ADA)
    report_id = _new_report(world, shapes, "Broken access control")
    acknowledgement = _acknowledge(world, report_id)
    outbox = _outbox_count(world)
    vacation = shapes.plaintext(
        "Out of office",
        "I am away until Monday.",
        extra_headers=[("Auto-Submitted", "auto-replied"), ("In-Reply-To", acknowledgement)],
    )
    outcome = run_ingest(world, vacation.raw)[0]
    assert (Verdict.REPLY, report_id) == (outcome.verdict, outcome.report_id)
    assert outbox == _outbox_count(world)


def test_automatic_mail_belonging_to_no_report_gets_no_acknowledgement(world: World) -> None:
    """Auto-submitted or list mail that threads to nothing is quarantined and not answered."""
    shapes = world.installation.shapes(ADA)
    outbox, reports = _outbox_count(world), query_store(world, "SELECT count(*) FROM reports")
    automatic = [
        shapes.plaintext("Weekly digest", "news", extra_headers=[("Precedence", "bulk")]).raw,
        shapes.plaintext("Alert", "cron", extra_headers=[("Auto-Submitted", "auto-generated")]).raw,
        shapes.plaintext("List", "post", extra_headers=[("List-Id", "<dev.lists.example>")]).raw,
    ]
    outcomes = run_ingest(world, *automatic)
    assert [Verdict.QUARANTINE] * 3 == [o.verdict for o in outcomes]
    assert all("automatic message" in o.reason for o in outcomes)
    assert (outbox, reports) == (
        _outbox_count(world),
        query_store(world, "SELECT count(*) FROM reports"),
    )


def _postfix_bounce(original_message_id: str, recipient: str) -> bytes:
    """A delivery status notification as Postfix sends it: the original headers, no threading."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.onderzoek.example (Mail Delivery System)\r\n"
        f"To: {BRIDGE_ADDRESS}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <20261102090000.ABC123@mx.onderzoek.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        ' boundary="dsn-boundary"\r\n\r\n'
        "--dsn-boundary\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered to {recipient}.\r\n\r\n"
        "--dsn-boundary\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.onderzoek.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n\r\n"
        "--dsn-boundary\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"From: {BRIDGE_ADDRESS}\r\n"
        f"To: {recipient}\r\n"
        "Subject: [security] update\r\n"
        f"Message-ID: {original_message_id}\r\n\r\n"
        "--dsn-boundary--\r\n"
    ).encode("ascii")


def test_bounce_of_our_acknowledgement_is_recorded_against_its_report(world: World) -> None:
    """A Postfix bounce naming our acknowledgement's Message-ID becomes a bounce event on it."""
    shapes = world.installation.shapes(JAN)
    report_id = _new_report(world, shapes, "Server-side request forgery")
    acknowledgement = _acknowledge(world, report_id)
    outbox = _outbox_count(world)
    outcome = run_ingest(world, _postfix_bounce(acknowledgement, JAN))[0]
    assert (Verdict.REPLY, report_id, "bounce of our mail") == (
        outcome.verdict,
        outcome.report_id,
        outcome.reason,
    )
    events = query_store(
        world, "SELECT kind FROM report_events WHERE report_id = ? AND kind = 'bounce'", report_id
    )
    assert ([("bounce",)], outbox) == (events, _outbox_count(world))


def test_limits_quarantine_with_a_reason_and_the_run_goes_on(world: World) -> None:
    """Too big, too deep and too many parts are each quarantined; the next message still lands."""
    shapes = world.installation.shapes(ADA)
    bridge = world.bridge()
    limits = ReaderLimits(max_message_bytes=100_000, max_mime_depth=5, max_parts=20)
    service = bridge.ingest_service()
    service.reader = MailReader(bridge.openpgp(), limits)
    big = shapes.plaintext("Big", "x" * 120_000).raw
    deep = _headers_then(shapes, "Deep", _entity_nested(shapes, 8))
    many = _headers_then(
        shapes,
        "Many",
        shapes.multipart("mixed", [shapes.text_part(f"part {n}") for n in range(30)]),
    )
    good = shapes.kmail("Still read", "after the bad ones").raw
    outcomes = run_ingest(world, big, deep, many, good, service=service)
    bridge.close()
    verdicts = [o.verdict for o in outcomes]
    assert [Verdict.QUARANTINE] * 3 + [Verdict.REPORT] == verdicts
    assert "over the limit of 100000" in outcomes[0].reason
    assert "deeper than the limit of 5" in outcomes[1].reason
    assert "more than 20 MIME parts" in outcomes[2].reason


def _entity_nested(shapes: MailShapes, depth: int) -> bytes:
    entity = shapes.text_part("deep inside")
    for _ in range(depth):
        entity = shapes.multipart("mixed", [entity])
    return entity


def _headers_then(shapes: MailShapes, subject: str, entity: bytes) -> bytes:
    head_end = entity.index(b"\r\n\r\n")
    content_type = entity[:head_end].decode("ascii").split(": ", 1)[1]
    return shapes.headers(subject, content_type=content_type).encode() + entity[head_end + 4 :]


def test_unencrypted_report_is_stored_encrypted_to_the_bridge_key(world: World) -> None:
    """Mail that arrived in clear is kept at rest only as ciphertext that the bridge key opens."""
    shapes = world.installation.shapes(ADA)
    marker = "PLAINTEXT-EXPLOIT-MARKER-7f3a"
    sent = shapes.plaintext("Unencrypted SQL injection", f"Payload: ' OR 1=1 -- {marker}").raw
    outcome = run_ingest(world, sent)[0]
    assert (Verdict.REPORT, "new report") == (outcome.verdict, outcome.reason)
    rows = query_store(
        world, "SELECT encrypted_raw FROM raw_messages WHERE report_id = ?", outcome.report_id
    )
    stored = bytes(rows[0][0])
    assert (False, True) == (marker.encode() in stored, stored.startswith(b"-----BEGIN PGP"))
    bridge = world.bridge()
    try:
        assert sent == bridge.openpgp().decrypt_own(stored)
    finally:
        bridge.close()

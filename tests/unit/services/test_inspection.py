"""`inspect`'s verdict: the reader's view, with a report candidate that names a stored report a reply."""

from __future__ import annotations

from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge.ports.intake import InboundMessage, Verdict
from tracker_bridge.services.inspection import inspect_message


class Threads:
    """Answers ``thread_of`` with ``report_id`` and records who asked."""

    def __init__(self, report_id: str | None) -> None:
        self.report_id = report_id
        self.asked: list[str] = []

    def thread_of(self, message: InboundMessage) -> str | None:
        """The report the message would be attached to."""
        self.asked.append(message.message_id)
        return self.report_id


def test_a_report_candidate_naming_a_stored_report_is_a_reply() -> None:
    """Verdict reply, reason naming the report, in the JSON as plain strings."""
    inspection = inspect_message(inbound(), Threads("CVD-2026-0007").thread_of)
    assert ("reply", "reply to CVD-2026-0007") == (
        inspection.as_json()["verdict"],
        inspection.as_json()["reason"],
    )


def test_a_new_report_keeps_the_readers_verdict() -> None:
    """No stored report named: report, with the reader's reason."""
    inspection = inspect_message(inbound(), Threads(None).thread_of)
    assert (Verdict.REPORT, "decrypted and verified") == (inspection.verdict, inspection.reason)


def test_quarantined_mail_is_not_looked_up() -> None:
    """A quarantine verdict stands, and the store is not asked."""
    threads = Threads("CVD-2026-0007")
    message = inbound(verdict=Verdict.QUARANTINE, reason="not encrypted to the bridge key")
    inspection = inspect_message(message, threads.thread_of)
    assert (Verdict.QUARANTINE, "not encrypted to the bridge key", []) == (
        inspection.verdict,
        inspection.reason,
        threads.asked,
    )

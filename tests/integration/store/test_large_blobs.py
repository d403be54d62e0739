"""Large blobs (a whole raw message, a crash dump) go into the store and come back byte for byte."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime

from tracker_bridge.domain.report import Report, ReportId
from tracker_bridge.ports.intake import Attachment, Verdict
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent, StoredMessage
from tracker_bridge.store import open_store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_MIB = 1024 * 1024


def _stored(message_id: str, raw: bytes) -> StoredMessage:
    return StoredMessage(
        message_id=message_id,
        digest=hashlib.sha256(raw).hexdigest(),
        received_at=T0,
        verdict=Verdict.REPORT,
        reason="new report",
        encrypted_raw=raw,
        report_id="CVD-2026-0001",
        source="bench",
    )


def test_large_raw_message_and_attachments_round_trip(sql_url: str) -> None:
    """Multi-MiB attachments and raw mail read back equal; a repeated message keeps the first copy."""
    dump, small, raw = os.urandom(3 * _MIB + 5), b"tiny", os.urandom(2 * _MIB + 1)
    attachments = tuple(
        Attachment(name, "application/octet-stream", data, hashlib.sha256(data).hexdigest())
        for name, data in (("core.bin", dump), ("note.txt", small))
    )
    store = open_store(sql_url)
    try:
        with store.unit_of_work() as uow:
            report = Report(ReportId("CVD", 2026, 1), "default", T0)
            content = ReportContent(
                "CVD-2026-0001",
                "Crash",
                "See the dump.",
                True,
                SignatureCheck(SignatureStatus.NONE),
                attachments=attachments,
            )
            uow.reports.add(report, "rita@research.example", content)
            uow.messages.add(_stored("<m1@x>", raw))
            uow.messages.add(_stored("<m1@x>", raw))
            uow.commit()
        with store.unit_of_work() as uow:
            read_back = uow.reports.content("CVD-2026-0001")
            message = uow.messages.seen("<m1@x>", hashlib.sha256(raw).hexdigest())
        assert read_back is not None
        assert message is not None
        assert ([dump, small], raw) == (
            [a.content for a in read_back.attachments],
            message.encrypted_raw,
        )
    finally:
        store.dispose()

"""Notify with real parts: gpg, SQLite outbox, aiosmtpd, and the GitLab sandbox for team notes."""

from __future__ import annotations

import email
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge.app import Bridge
from tracker_bridge.demo.installation import Installation, create_installation
from tracker_bridge.demo.researcher_mail import read_as_researcher
from tracker_bridge.ports.mail import OutboxStatus
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.testing.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import Iterator

JAN = "jan@onderzoek.example"


@pytest.fixture
def installation() -> Iterator[Installation]:
    """A fresh installation with the GitLab sandbox and one report from Jan waiting in the Maildir."""
    directory = Path(tempfile.mkdtemp(prefix="tbn", dir="/tmp"))
    running = create_installation(directory, "gitlab")
    shape = running.shapes(JAN).thunderbird("XSS in zoekfunctie", "De parameter q is lek.")
    running.deliver(b"Content-Language: nl\r\n" + shape.raw)
    yield running
    running.stop(remove=True)


def _bridge(installation: Installation, clock: FakeClock) -> Bridge:
    return Bridge.from_config(installation.config_path, clock=clock)


def _ingest(bridge: Bridge) -> None:
    bridge.ingest_service().run(bridge.sources(), PassSummary("ingest"))


def _notify(bridge: Bridge) -> PassSummary:
    summary = PassSummary("notify")
    bridge.notify_step()(summary)
    return summary


def _outbox(bridge: Bridge) -> list[OutboxStatus]:
    with bridge.store().unit_of_work() as uow:
        return [item.status for item in uow.outbox.for_report("CVD-2026-0001")]


def test_temporary_refusal_is_retried_and_delivered_once(installation: Installation) -> None:
    """A 451 leaves the row pending; after the backoff it is delivered once, same Message-ID."""
    clock = FakeClock(datetime.now(UTC))
    bridge = _bridge(installation, clock)
    _ingest(bridge)
    installation.smtp.refuse("451 4.3.0 Mailbox temporarily unavailable")
    first = _notify(bridge)
    assert 1 == first.counts.get("deferred")
    assert [OutboxStatus.PENDING] == _outbox(bridge)
    installation.smtp.accept()
    assert _notify(bridge).counts.get("sent") is None  # backoff not over yet
    clock.advance(minutes=5)
    _notify(bridge)
    _notify(bridge)
    assert [OutboxStatus.SENT] == _outbox(bridge)
    assert 1 == len(installation.smtp.messages)
    with bridge.store().unit_of_work() as uow:
        queued_id = uow.outbox.for_report("CVD-2026-0001")[0].message_id
    delivered = email.message_from_bytes(installation.smtp.messages[0].data)
    assert queued_id == delivered["Message-ID"]
    bridge.close()


def test_delivered_mail_is_encrypted_signed_and_dutch(installation: Installation) -> None:
    """Jan's acknowledgement decrypts with his key, verifies against the bridge key, in Dutch."""
    bridge = _bridge(installation, FakeClock(datetime.now(UTC)))
    _ingest(bridge)
    _notify(bridge)
    key = installation.researchers[JAN]
    view = read_as_researcher(key.gnupghome, installation.smtp.messages[0].data)
    assert (True, True) == (view.encrypted, view.signature_valid)
    assert installation.bridge.fingerprint == view.signer
    assert "Melding CVD-2026-0001: update" == view.outer_subject
    assert "ontvangen" in view.subject
    assert "Beste Jan de Vries" in view.body
    assert "auto-replied" == view.headers["Auto-Submitted"]
    assert "security+CVD-2026-0001@example.org" == view.headers["Reply-To"]
    bridge.close()


def test_permanent_rejection_fails_the_row_and_tells_the_team(installation: Installation) -> None:
    """A 550 marks the row failed at once and a note on the GitLab issue asks the team to act."""
    bridge = _bridge(installation, FakeClock(datetime.now(UTC)))
    _ingest(bridge)
    installation.smtp.refuse("550 5.1.1 No such user here")
    summary = _notify(bridge)
    assert 1 == summary.counts.get("failed")
    assert [OutboxStatus.FAILED] == _outbox(bridge)
    notes = [value for name, value in installation.sandbox.describe("1") if name == "Note"]
    assert any("could not deliver" in note and "550" in note for note in notes)
    bridge.close()

"""Purged mail leaves the bridge's Processed and Quarantine IMAP folders (a real Dovecot)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from tests.mailboxes import imap_source
from tracker_bridge._testsupport.dovecot import Dovecot, start_dovecot
from tracker_bridge.ports.intake import Verdict

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot on a free loopback port (skips when it is not installed)."""
    yield from start_dovecot()


def raw_mail(message_id: str | None, body: str) -> bytes:
    """A small RFC 5322 message, with or without a Message-ID."""
    header = f"Message-ID: {message_id}\r\n" if message_id else ""
    return f"From: ada@example.org\r\n{header}Subject: r\r\n\r\n{body}\r\n".encode()


def test_settled_copies_are_deleted_by_message_id_and_digest(dovecot: Dovecot) -> None:
    """Processed and Quarantine lose the named mails; others and the inbox stay; dry run counts."""
    keep = raw_mail("<keep@example.org>", "keep")
    gone = raw_mail("<gone@example.org>", "CANARY")
    junk = raw_mail(None, "CANARY junk")
    waiting = raw_mail("<gone@example.org>", "a resend still in the inbox")
    for raw in (keep, gone, junk):
        dovecot.append("privacy", raw)
    with imap_source(dovecot, "privacy") as source:
        for item in list(source.fetch()):
            source.settle(item, Verdict.QUARANTINE if item.raw == junk else Verdict.REPORT)
    dovecot.append("privacy", waiting)
    digest = hashlib.sha256(junk).hexdigest()
    ids = ["<gone@example.org>", f"<{digest}@tracker-bridge.invalid>"]
    with imap_source(dovecot, "privacy") as source:
        assert 2 == source.delete_copies(ids, [digest], dry_run=True)
        assert 2 == source.delete_copies(ids, [digest])
        assert 0 == source.delete_copies(ids, [digest])
    counts = [dovecot.count("privacy", f) for f in ("INBOX", "Processed", "Quarantine")]
    assert [1, 1, 0] == counts

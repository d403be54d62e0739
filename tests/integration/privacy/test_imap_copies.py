"""Purged mail leaves the bridge's Processed and Quarantine IMAP folders (a real Dovecot)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tracker_bridge._testsupport.dovecot import start_dovecot
from tracker_bridge.intake.sources import ImapSecurity, ImapSettings, ImapSource
from tracker_bridge.ports.intake import Verdict


@pytest.fixture(scope="module")
def dovecot() -> Iterator[object]:
    """A real Dovecot on a free loopback port (skips when it is not installed)."""
    yield from start_dovecot()


def raw_mail(message_id: str | None, body: str) -> bytes:
    """A small RFC 5322 message, with or without a Message-ID."""
    header = f"Message-ID: {message_id}\r\n" if message_id else ""
    return f"From: ada@example.org\r\n{header}Subject: r\r\n\r\n{body}\r\n".encode()


def imap(dovecot: object, user: str) -> ImapSource:
    """The bridge's IMAP source for ``user``."""
    return ImapSource(
        ImapSettings(
            host=dovecot.host,  # type: ignore[attr-defined]
            port=dovecot.port,  # type: ignore[attr-defined]
            user=user,
            password="secret",
            security=ImapSecurity.PLAIN,
        )
    )


def test_settled_copies_are_deleted_by_message_id_and_digest(dovecot: object) -> None:
    """Processed and Quarantine lose the named mails; others and the inbox stay; dry run counts."""
    keep = raw_mail("<keep@example.org>", "keep")
    gone = raw_mail("<gone@example.org>", "CANARY")
    junk = raw_mail(None, "CANARY junk")
    waiting = raw_mail("<gone@example.org>", "a resend still in the inbox")
    for raw in (keep, gone, junk):
        dovecot.append("privacy", raw)  # type: ignore[attr-defined]
    with imap(dovecot, "privacy") as source:
        for item in list(source.fetch()):
            source.settle(item, Verdict.QUARANTINE if item.raw == junk else Verdict.REPORT)
    dovecot.append("privacy", waiting)  # type: ignore[attr-defined]
    digest = hashlib.sha256(junk).hexdigest()
    ids = ["<gone@example.org>", f"<{digest}@tracker-bridge.invalid>"]
    with imap(dovecot, "privacy") as source:
        assert 2 == source.delete_copies(ids, [digest], dry_run=True)
        assert 2 == source.delete_copies(ids, [digest])
        assert 0 == source.delete_copies(ids, [digest])
    counts = [dovecot.count("privacy", f) for f in ("INBOX", "Processed", "Quarantine")]  # type: ignore[attr-defined]
    assert [1, 1, 0] == counts

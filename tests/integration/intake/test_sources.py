"""Maildir and IMAP sources: fetch leaves mail in place, settle moves it, a crash loses nothing."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from tests.mailboxes import imap_source
from tracker_bridge.intake.sources import (
    FileSource,
    ImapSecurity,
    ImapSettings,
    ImapSource,
    MaildirSource,
)
from tracker_bridge.ports.intake import Verdict

if TYPE_CHECKING:
    from pathlib import Path

    from tracker_bridge._testsupport.dovecot import Dovecot

REPORT = b"From: rita@research.example\r\nSubject: Bug\r\nMessage-ID: <a@x>\r\n\r\nbody\r\n"
JUNK = b"From: x@y\r\nSubject: Junk\r\nMessage-ID: <b@x>\r\n\r\nbad\r\n"


def _maildir(tmp_path: Path) -> MaildirSource:
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "inbox" / sub).mkdir(parents=True)
    return MaildirSource(tmp_path / "inbox")


def test_file_source_reads_files_and_stdin(tmp_path: Path) -> None:
    """FileSource yields each file's bytes and standard input for '-'."""
    path = tmp_path / "one.eml"
    path.write_bytes(REPORT)
    items = list(FileSource([path, "-"], stdin=io.BytesIO(JUNK)).fetch())
    assert [(str(path), REPORT), ("-", JUNK)] == [(i.handle, i.raw) for i in items]


def test_maildir_fetch_does_not_move(tmp_path: Path) -> None:
    """Fetching from new/ and cur/ leaves every file where it was."""
    source = _maildir(tmp_path)
    source.deliver(REPORT)
    (tmp_path / "inbox" / "cur" / "1.x:2,S").write_bytes(JUNK)
    assert [REPORT, JUNK] == [item.raw for item in source.fetch()]
    assert [REPORT, JUNK] == [item.raw for item in source.fetch()]


def test_maildir_settle_moves_to_processed_and_quarantine(tmp_path: Path) -> None:
    """A report moves to .Processed, a quarantined message to .Quarantine."""
    source = _maildir(tmp_path)
    source.deliver(REPORT)
    source.deliver(JUNK)
    first, second = list(source.fetch())
    source.settle(first, Verdict.REPORT)
    source.settle(second, Verdict.QUARANTINE)
    processed = [p.read_bytes() for p in (tmp_path / "inbox" / ".Processed" / "cur").iterdir()]
    quarantined = [p.read_bytes() for p in (tmp_path / "inbox" / ".Quarantine" / "cur").iterdir()]
    assert ([first.raw], [second.raw], []) == (processed, quarantined, list(source.fetch()))


def test_maildir_unsettled_message_is_seen_again_by_a_new_run(tmp_path: Path) -> None:
    """A run that fetched but never settled (killed) leaves the message for the next run."""
    source = _maildir(tmp_path)
    source.deliver(REPORT)
    assert [REPORT] == [item.raw for item in source.fetch()]
    again = MaildirSource(tmp_path / "inbox")
    items = list(again.fetch())
    assert [REPORT] == [item.raw for item in items]
    again.settle(items[0], Verdict.REPLY)
    assert [] == list(MaildirSource(tmp_path / "inbox").fetch())


def test_imap_fetch_does_not_move_and_settle_moves(dovecot: Dovecot) -> None:
    """IMAP fetch leaves mail in INBOX; settle moves to Processed / Quarantine (created)."""
    dovecot.append("alice", REPORT)
    dovecot.append("alice", JUNK)
    with imap_source(dovecot, "alice") as source:
        items = list(source.fetch())
        assert [REPORT, JUNK] == [item.raw for item in items]
        assert 2 == dovecot.count("alice", "INBOX")
        source.settle(items[0], Verdict.REPORT)
        source.settle(items[1], Verdict.QUARANTINE)
    counts = [dovecot.count("alice", f) for f in ("INBOX", "Processed", "Quarantine")]
    assert [0, 1, 1] == counts


def test_imap_unsettled_message_stays_for_the_next_run(dovecot: Dovecot) -> None:
    """A process that fetched and died before settling leaves the message in INBOX."""
    dovecot.append("bob", REPORT)
    first = imap_source(dovecot, "bob")
    assert [REPORT] == [item.raw for item in first.fetch()]
    first.close()  # the "killed" run: never settled
    with imap_source(dovecot, "bob") as second:
        items = list(second.fetch())
        assert [REPORT] == [item.raw for item in items]
        second.settle(items[0], Verdict.REPORT)
        assert [] == list(second.fetch())


def test_imap_copy_fallback_when_move_is_not_offered(dovecot: Dovecot) -> None:
    """Without the MOVE capability settle copies, flags Deleted and expunges."""
    dovecot.append("carol", REPORT)
    with imap_source(dovecot, "carol") as source:
        items = list(source.fetch())
        imap = source._imap  # noqa: SLF001 - the test reads the server's flags over the source's own connection
        assert imap is not None
        imap.capabilities = tuple(c for c in imap.capabilities if c != "MOVE")
        source.settle(items[0], Verdict.REPORT)
    counts = [dovecot.count("carol", f) for f in ("INBOX", "Processed")]
    assert [0, 1] == counts


def test_imap_wrong_password_is_a_configuration_error(dovecot: Dovecot) -> None:
    """A refused login names the user and server, not the password."""
    from tracker_bridge.errors import ConfigurationError

    source = ImapSource(
        ImapSettings(
            host=dovecot.host,
            port=dovecot.port,
            user="dave",
            password="wrong-password",
            security=ImapSecurity.PLAIN,
        )
    )
    with pytest.raises(ConfigurationError) as caught:
        list(source.fetch())
    assert "wrong-password" not in str(caught.value)

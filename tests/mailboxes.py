"""The bridge's IMAP source on the test Dovecot, for the intake and privacy tests alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker_bridge.intake.sources import ImapSecurity, ImapSettings, ImapSource

if TYPE_CHECKING:
    from tracker_bridge._testsupport.dovecot import Dovecot


def imap_source(dovecot: Dovecot, user: str) -> ImapSource:
    """An ImapSource logging in as ``user`` (password ``secret``) without TLS on loopback."""
    return ImapSource(
        ImapSettings(
            host=dovecot.host,
            port=dovecot.port,
            user=user,
            password="secret",
            security=ImapSecurity.PLAIN,
        )
    )

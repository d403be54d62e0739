"""Bytes of an email -> a decrypted, verified, structured message; and the places mail comes from."""

from tracker_bridge.intake.reader import DEFAULT_LIMITS, MailReader, ReaderLimits
from tracker_bridge.intake.sources import (
    FileSource,
    ImapSecurity,
    ImapSettings,
    ImapSource,
    MaildirSource,
)

__all__ = [
    "DEFAULT_LIMITS",
    "FileSource",
    "ImapSecurity",
    "ImapSettings",
    "ImapSource",
    "MailReader",
    "MaildirSource",
    "ReaderLimits",
]

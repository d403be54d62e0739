"""Message-IDs (RFC 5322 section 3.6.4) as the bridge keys, finds and invents them.

One place for the rules the reader, the mailbox archives and the store share: how an id is
normalised for matching, how ids are found in a header, and the stable id a message without
one is given.
"""

from __future__ import annotations

import re

__all__ = [
    "MSG_ID",
    "SYNTHETIC_DOMAIN",
    "bracketed_message_id",
    "is_synthetic",
    "normalise_message_id",
    "synthetic_message_id",
]

# A msg-id as found in Message-ID, In-Reply-To and References: ``<left@right>``, no space.
MSG_ID = re.compile(r"<[^<>\s]+>")
# The reserved domain (RFC 2606 ``.invalid``) of the ids the bridge invents.
SYNTHETIC_DOMAIN = "tracker-bridge.invalid"


def normalise_message_id(message_id: str) -> str:
    """``message_id`` without surrounding space and angle brackets: the key ids match on.

    ``" <a@b> "`` -> ``"a@b"``; an empty or blank id gives ``""``.
    """
    return message_id.strip().strip("<>").strip()


def bracketed_message_id(message_id: str) -> str:
    """``message_id`` as a header writes it (RFC 5322 ``msg-id``): in angle brackets.

    ``" a@b "`` -> ``"<a@b>"``; an id that already starts with ``<`` is only stripped of space.
    """
    stripped = message_id.strip()
    return stripped if stripped.startswith("<") else f"<{stripped}>"


def synthetic_message_id(digest: str) -> str:
    """The stable id of a message that has none: ``<sha256 of its bytes@tracker-bridge.invalid>``.

    Args:
        digest: The hex SHA-256 of the message as received.
    """
    return f"<{digest}@{SYNTHETIC_DOMAIN}>"


def is_synthetic(message_id: str) -> bool:
    """Whether ``message_id`` (bracketed or not) is one the bridge invented, not a header's."""
    return normalise_message_id(message_id).endswith("@" + SYNTHETIC_DOMAIN)

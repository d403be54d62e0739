"""The researcher: how to reach them, in which language, and how they wish to be credited."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tracker_bridge.domain.errors import DomainError


class Language(StrEnum):
    """Languages the bridge writes to researchers in; English is the fallback."""

    EN = "en"
    NL = "nl"

    @classmethod
    def best_match(cls, preferred: str | None) -> Language:
        """The supported language closest to a preference such as ``nl-BE``, else English."""
        if preferred:
            primary = preferred.strip().lower().replace("_", "-").split("-")[0]
            for language in cls:
                if language.value == primary:
                    return language
        return cls.EN


class CreditWish(StrEnum):
    """How a researcher wants to appear in acknowledgements; ``unknown`` until they say."""

    UNKNOWN = "unknown"
    NAME = "name"
    PSEUDONYM = "pseudonym"
    ANONYMOUS = "anonymous"
    NONE = "none"


ANONYMOUS_CREDIT = "Anonymous researcher"

_FINGERPRINT = re.compile(r"^[0-9A-F]{40}$|^[0-9A-F]{64}$")


def normalise_fingerprint(text: str) -> str:
    """Upper-case hex without spaces; a v4 (40) or v5/v6 (64) fingerprint, else DomainError."""
    compact = re.sub(r"\s+", "", text).upper()
    if not _FINGERPRINT.match(compact):
        raise DomainError(f"{text!r} is not an OpenPGP fingerprint (40 or 64 hex digits)")
    return compact


@dataclass
class Researcher:
    """Someone who reported to us; they may use a pseudonym and have no account anywhere."""

    email: str
    display_name: str | None = None
    pseudonym: str | None = None
    fingerprint: str | None = None
    language: Language = Language.EN
    credit_wish: CreditWish = CreditWish.UNKNOWN

    def __post_init__(self) -> None:
        self.email = self.email.strip()
        if "@" not in self.email:
            raise DomainError(f"{self.email!r} is not a mail address")
        if self.fingerprint is not None:
            self.fingerprint = normalise_fingerprint(self.fingerprint)

    @property
    def salutation_name(self) -> str:
        """The name to address them by: pseudonym first, then display name, else neutral."""
        return self.pseudonym or self.display_name or ""

    def credit_name(self) -> str | None:
        """The name to publish in credits, honouring their wish; None when not to be credited."""
        if self.credit_wish is CreditWish.NAME:
            return self.display_name or self.pseudonym
        if self.credit_wish is CreditWish.PSEUDONYM:
            return self.pseudonym or self.display_name
        if self.credit_wish is CreditWish.ANONYMOUS:
            return ANONYMOUS_CREDIT
        return None

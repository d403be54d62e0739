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
        msg = f"{text!r} is not an OpenPGP fingerprint (40 or 64 hex digits)"
        raise DomainError(msg)
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
            msg = f"{self.email!r} is not a mail address"
            raise DomainError(msg)
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


@dataclass(frozen=True)
class CreditAnswer:
    """How a researcher answered the credit question: a wish and, to be named, the name."""

    wish: CreditWish
    name: str | None = None

    def describe(self) -> str:
        """The answer in the team's words, without the name (which is the researcher's text)."""
        if self.wish is CreditWish.NONE:
            return "no credit"
        if self.wish is CreditWish.ANONYMOUS:
            return "credit as an anonymous researcher"
        return "credit by the name below"


# The answer format the resolved mail asks for (templates' credit question): one line
# "Credit: <name>" / "Vermelding: <naam>", or "Credit: none" / "Geen vermelding".
_CREDIT_LINE = re.compile(
    r"^(?:credit|vermelding|naamsvermelding)\s*:\s*(?P<value>.*)$", re.IGNORECASE
)
_NO_CREDIT_LINE = re.compile(r"^(?:no credit|geen (?:naams)?vermelding)\s*[.!]?$", re.IGNORECASE)
# Where a quoted earlier mail starts in clients that do not prefix quoted lines with ">".
_QUOTE_START = re.compile(
    r"^(?:-{2,}\s*(?:original message|oorspronkelijk bericht|forwarded message)"
    r"|on .+ wrote:$|op .+ schreef .+:$|from: .+@)",
    re.IGNORECASE,
)
_NO_CREDIT_WORDS = frozenset({"none", "no", "nee", "geen", "niet", "-", "no credit"})
_ANONYMOUS_WORDS = frozenset({"anonymous", "anoniem", "anonymously"})
MAX_CREDIT_NAME = 100


def credit_from_value(value: str) -> CreditAnswer | None:
    """The answer a credit value stands for ("none", "anonymous" or a name); None when empty.

    A value in angle brackets is the template's own placeholder (``<your name>``), not an answer.
    """
    stripped = value.strip().strip("\"'\u201c\u201d\u2018\u2019").strip()
    if not stripped or (stripped.startswith("<") and stripped.endswith(">")):
        return None
    lowered = stripped.lower().rstrip(".!")
    if lowered in _NO_CREDIT_WORDS:
        return CreditAnswer(CreditWish.NONE)
    if lowered in _ANONYMOUS_WORDS:
        return CreditAnswer(CreditWish.ANONYMOUS)
    return CreditAnswer(CreditWish.NAME, " ".join(stripped.split())[:MAX_CREDIT_NAME])


def parse_credit_answer(text: str) -> CreditAnswer | None:
    """The credit answer in a reply's own text, or None when it holds none.

    Reads the first ``Credit: <name>`` / ``Vermelding: <naam>`` line, or a line ``Credit: none``
    / ``Geen vermelding``; quoted lines (``>``) and everything after a quoted mail's header
    (``On ... wrote:``, ``-----Original Message-----``) are the bridge's own words, not theirs.
    """
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(">"):
            continue
        if _QUOTE_START.match(line):
            break
        if _NO_CREDIT_LINE.match(line):
            return CreditAnswer(CreditWish.NONE)
        match = _CREDIT_LINE.match(line)
        if match is not None:
            answer = credit_from_value(match.group("value"))
            if answer is not None:
                return answer
    return None


def accept_credit(researcher: Researcher, answer: CreditAnswer) -> None:
    """Record ``answer`` on ``researcher``: their own display name is NAME, any other a pseudonym."""
    if answer.wish is CreditWish.NAME and answer.name:
        own = researcher.display_name
        if own is not None and own.casefold() == answer.name.casefold():
            researcher.credit_wish = CreditWish.NAME
        else:
            researcher.pseudonym = answer.name
            researcher.credit_wish = CreditWish.PSEUDONYM
        return
    researcher.credit_wish = answer.wish

"""Researcher contact, language choice, credit wishes and fingerprints."""

from __future__ import annotations

import pytest

from tracker_bridge.domain.errors import DomainError
from tracker_bridge.domain.researcher import CreditWish, Language, Researcher


@pytest.mark.parametrize(
    ("preferred", "language"),
    [
        ("nl", Language.NL),
        ("nl-BE", Language.NL),
        ("NL_nl", Language.NL),
        ("de", Language.EN),
        (None, Language.EN),
    ],
)
def test_language_falls_back_to_english(preferred: str | None, language: Language) -> None:
    """Dutch variants choose Dutch; anything unsupported falls back to English."""
    assert Language.best_match(preferred) is language


@pytest.mark.parametrize(
    ("wish", "credit"),
    [
        (CreditWish.NAME, "Jan de Vries"),
        (CreditWish.PSEUDONYM, "n0body"),
        (CreditWish.ANONYMOUS, "Anonymous researcher"),
        (CreditWish.NONE, None),
        (CreditWish.UNKNOWN, None),
    ],
)
def test_credit_name_honours_the_wish(wish: CreditWish, credit: str | None) -> None:
    """Credits use the name, the pseudonym, 'anonymous' or nothing, as the researcher asked."""
    researcher = Researcher("jan@example.org", "Jan de Vries", "n0body", credit_wish=wish)
    assert researcher.credit_name() == credit


def test_fingerprint_is_normalised() -> None:
    """Fingerprints with spaces and lower case are stored as 40 upper-case hex digits."""
    researcher = Researcher("a@example.org", fingerprint="abcd " * 10)
    assert "ABCD" * 10 == researcher.fingerprint


@pytest.mark.parametrize("fingerprint", ["ABCD", "Z" * 40])
def test_bad_fingerprint_is_refused(fingerprint: str) -> None:
    """Something that is not a v4 or v5 fingerprint is refused."""
    with pytest.raises(DomainError, match="fingerprint"):
        Researcher("a@example.org", fingerprint=fingerprint)


def test_pseudonym_is_used_to_address_them() -> None:
    """A researcher reporting under a pseudonym is addressed by it."""
    assert "n0body" == Researcher("x@example.org", "Real Name", "n0body").salutation_name

"""The From field: parsed as an address list first, display names decoded after (RFC 5322/2047)."""

from __future__ import annotations

import email

import pytest

from tracker_bridge.intake.headers import parse_from


def _from(value: bytes) -> tuple[str | None, str, str | None]:
    return parse_from(email.message_from_bytes(b"From: " + value + b"\r\nSubject: x\r\n\r\nx\r\n"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Outlook: a B-encoded UTF-8 display name holding a comma.
        (
            b"=?utf-8?B?ZGUgVnJpw6tzLCBKYW4=?= <jan@lab.example>",
            ("de Vri\u00ebs, Jan", "jan@lab.example", None),
        ),
        # Thunderbird: a quoted display name with a comma.
        (b'"de Vries, Jan" <jan@lab.example>', ("de Vries, Jan", "jan@lab.example", None)),
        # An encoded word that decodes to an address is only a name.
        (
            b"=?utf-8?q?jan=40onderzoek.example?= <mallory@evil.example>",
            ("jan@onderzoek.example", "mallory@evil.example", None),
        ),
        # RFC 6532: UTF-8 in the header itself, local part and domain.
        (
            "Zo\u00eb <zo\u00eb@r\u00e9search.example>".encode(),
            ("Zo\u00eb", "zo\u00eb@r\u00e9search.example", None),
        ),
        # Old-style comment name, and an unquoted "J. Smith" (obsolete phrase syntax).
        (b"jan@lab.example (Jan)", (None, "jan@lab.example", None)),
        (b"J. Smith <js@lab.example>", ("J. Smith", "js@lab.example", None)),
    ],
)
def test_one_mailbox_gives_its_name_and_addr_spec(
    value: bytes, expected: tuple[str | None, str, str | None]
) -> None:
    """The address is always the addr-spec; whatever a display name decodes to stays a name."""
    assert expected == _from(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"=?utf-8?q?Jan=0D=0ABcc=3A_x=40y=2Eexample?= <jan@lab.example>", "CR or LF"),
        (b"a@lab.example, b@lab.example", "not exactly one mailbox (2 addresses)"),
        (b"undisclosed-recipients:;", "not exactly one mailbox"),
        (b"Jan <jan@lab.example> Mal <mal@evil.example>", "not exactly one mailbox"),
        (b"jan", "not exactly one mailbox"),
        (b"<>", "not exactly one mailbox"),
        (b"J\xe9n <j\xe9n@lab.example>", "neither ASCII nor UTF-8"),
        (b"a" * 300 + b"@lab.example", "longer than 254 octets"),
    ],
)
def test_anything_but_one_usable_mailbox_names_the_problem(value: bytes, reason: str) -> None:
    """Two mailboxes, a group, CR/LF in a decoded name or a broken address: no sender, a reason."""
    name, address, problem = _from(value)
    assert (None, "") == (name, address)
    assert reason in (problem or "")


def test_two_from_fields_are_refused() -> None:
    """RFC 5322 section 3.6 allows exactly one From field."""
    raw = b"From: a@lab.example\r\nFrom: b@lab.example\r\n\r\nx\r\n"
    assert (None, "", "message has 2 From fields, not exactly one") == parse_from(
        email.message_from_bytes(raw)
    )

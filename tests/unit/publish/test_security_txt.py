"""security.txt carries RFC 9116's fields from program.toml, and check warns before Expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.unit.publish.rfc9116 import SecurityTxtError, parse_security_txt
from tracker_bridge.mappings import ProgramTable
from tracker_bridge.security_txt import (
    build_security_txt,
    render_security_txt,
    security_txt_warnings,
)

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)


def _program(**fields: object) -> ProgramTable:
    return ProgramTable.model_validate(
        {"name": "Example B.V.", "contact": "security@example.org", **fields}
    )


def test_every_field_from_config() -> None:
    """Configured URLs become Contact, Encryption, Acknowledgments, Canonical and Policy."""
    program = _program(
        policy_url="https://example.org/security/policy",
        contact_url="https://example.org/security/report",
        encryption_url="https://keys.example.org/bridge.asc",
        acknowledgments_url="https://example.org/security/thanks",
        security_txt_url="https://www.example.org/.well-known/security.txt",
        languages=["nl", "en"],
    )
    parsed = parse_security_txt(render_security_txt(build_security_txt(program, NOW), "Ex"), NOW)
    assert {
        "Contact": ["mailto:security@example.org", "https://example.org/security/report"],
        "Expires": ["2027-11-02T09:30:15Z"],
        "Encryption": ["https://keys.example.org/bridge.asc"],
        "Acknowledgments": ["https://example.org/security/thanks"],
        "Preferred-Languages": ["nl, en"],
        "Canonical": ["https://www.example.org/.well-known/security.txt"],
        "Policy": ["https://example.org/security/policy"],
    } == parsed.fields


def test_urls_derived_from_policy_site() -> None:
    """With only policy_url, Canonical and Encryption sit where RFC 9116 and convention put them."""
    fields = build_security_txt(_program(policy_url="https://example.org/cvd/policy.html"), NOW)
    assert (
        "https://example.org/.well-known/security.txt",
        ("https://example.org/.well-known/openpgp-key.asc",),
        None,
    ) == (fields.canonical, fields.encryption, fields.acknowledgments)


def test_minimal_file_is_valid() -> None:
    """Without any URL the file still has Contact, Expires and Preferred-Languages, and parses."""
    text = render_security_txt(build_security_txt(_program(), NOW), "Example B.V.")
    assert ["Contact", "Expires", "Preferred-Languages"] == list(
        parse_security_txt(text, NOW).fields
    )


@pytest.mark.parametrize("days", [1, 30, 365])
def test_expires_follows_security_txt_days(days: int) -> None:
    """Expires is security_txt_days after now, in UTC with Z, to the second."""
    fields = build_security_txt(_program(security_txt_days=days), NOW)
    expected = (NOW + timedelta(days=days)).replace(microsecond=0)
    assert expected == fields.expires


def test_more_than_a_year_is_refused() -> None:
    """security_txt_days above 365 is a configuration error: RFC 9116 wants under a year."""
    with pytest.raises(ValueError, match="security_txt_days"):
        _program(security_txt_days=400)


def test_organisation_name_cannot_add_a_field() -> None:
    """A line break in the organisation's name stays inside the comment line."""
    text = render_security_txt(build_security_txt(_program(), NOW), "Evil\nContact: mailto:x@y.z")
    assert ["mailto:security@example.org"] == parse_security_txt(text, NOW).fields["Contact"]


def test_parser_refuses_two_expires() -> None:
    """The test parser itself is strict: a second Expires is an error."""
    text = render_security_txt(build_security_txt(_program(), NOW), "Ex")
    with pytest.raises(SecurityTxtError, match="Expires appears 2 times"):
        parse_security_txt(text + "Expires: 2027-01-01T00:00:00Z\n", NOW)


def _written(tmp_path: Path, expires: str) -> Path:
    path = tmp_path / "security.txt"
    path.write_text(f"Contact: mailto:a@example.org\nExpires: {expires}\n", encoding="utf-8")
    return path


def test_no_warning_far_from_expiry(tmp_path: Path) -> None:
    """A file expiring in 31 days gives no warning."""
    path = _written(tmp_path, (NOW + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert [] == security_txt_warnings(path, NOW)


def test_warning_within_thirty_days(tmp_path: Path) -> None:
    """Thirty days before Expires, check warns with the file, line and date."""
    path = _written(tmp_path, "2026-12-01T09:30:15Z")
    assert [
        (
            f"{path}:2: security.txt expires on 2026-12-01 (in 29 days); "
            "regenerate it with `tracker-bridge security-txt`"
        )
    ] == security_txt_warnings(path, NOW)


def test_warning_when_expired(tmp_path: Path) -> None:
    """An expired file is reported as expired."""
    path = _written(tmp_path, "2026-11-01T00:00:00Z")
    assert [
        (
            f"{path}:2: security.txt expired on 2026-11-01; researchers are told to ignore it "
            "(regenerate with `tracker-bridge security-txt`)"
        )
    ] == security_txt_warnings(path, NOW)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "{path}: security.txt not found (write it with `tracker-bridge security-txt`)"),
        (
            "Contact: mailto:a@example.org\n",
            "{path}: security.txt has no Expires field (RFC 9116 requires one)",
        ),
        ("Expires: next year\n", "{path}:1: Expires 'next year' is not an RFC 3339 date-time"),
        (
            "Expires: 2027-01-01T00:00:00\n",
            "{path}:1: Expires '2027-01-01T00:00:00' has no time zone (end it with Z)",
        ),
    ],
)
def test_broken_files_warn(tmp_path: Path, content: str | None, expected: str) -> None:
    """A missing file, a missing, unreadable or zone-less Expires each give one warning."""
    path = tmp_path / "security.txt"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert [expected.format(path=path)] == security_txt_warnings(path, NOW)

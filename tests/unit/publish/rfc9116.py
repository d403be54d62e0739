"""A strict RFC 9116 security.txt parser for tests: field names, counts, dates, URIs, line ends."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

KNOWN_FIELDS = {
    "acknowledgments": "Acknowledgments",
    "canonical": "Canonical",
    "contact": "Contact",
    "csaf": "CSAF",
    "encryption": "Encryption",
    "expires": "Expires",
    "hiring": "Hiring",
    "policy": "Policy",
    "preferred-languages": "Preferred-Languages",
}
_AT_MOST_ONCE = {"expires", "preferred-languages"}
_URI_FIELDS = {"acknowledgments", "canonical", "contact", "csaf", "encryption", "hiring", "policy"}
_FIELD = re.compile(r"^(?P<name>[A-Za-z0-9-]+): (?P<value>\S.*)$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


class SecurityTxtError(ValueError):
    """The text breaks RFC 9116; the message names the line."""


@dataclass
class ParsedSecurityTxt:
    """Fields by canonical name, in file order, and whether it was clear-signed."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    signed: bool = False

    def one(self, name: str) -> str:
        """The single value of ``name``."""
        (value,) = self.fields[name]
        return value


def _unsign(text: str) -> str:
    """The signed content of an OpenPGP cleartext signature (RFC 4880 7), dash-escapes undone."""
    lines = text.split("\n")
    if lines[0].rstrip("\r") != "-----BEGIN PGP SIGNED MESSAGE-----":
        msg = "line 1: not an OpenPGP cleartext signature"
        raise SecurityTxtError(msg)
    index = 1
    while lines[index].rstrip("\r"):
        if not lines[index].startswith("Hash: "):
            msg = f"line {index + 1}: unexpected armour header"
            raise SecurityTxtError(msg)
        index += 1
    end = next(
        (i for i, line in enumerate(lines) if line.rstrip("\r") == "-----BEGIN PGP SIGNATURE-----"),
        None,
    )
    if end is None or "-----END PGP SIGNATURE-----" not in text:
        msg = "signed file has no complete signature block"
        raise SecurityTxtError(msg)
    body = [line.removeprefix("- ") for line in lines[index + 1 : end]]
    return "\n".join(body) + "\n"


def parse_security_txt(text: str, now: datetime) -> ParsedSecurityTxt:
    """Parse ``text`` strictly; raise SecurityTxtError naming the first rule it breaks.

    Rules: every line ends with LF or CRLF; a line is a comment, empty, or ``Name: value``
    with a known field name; Contact at least once; Expires exactly once, an RFC 3339
    date-time in the future and at most a year ahead; Preferred-Languages at most once with
    language tags; URIs are https (or mailto/tel for Contact, dns/openpgp4fpr for Encryption).
    """
    parsed = ParsedSecurityTxt()
    if not text.endswith("\n"):
        msg = "the last line does not end with a line break"
        raise SecurityTxtError(msg)
    if text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
        parsed.signed = True
        text = _unsign(text)
    for number, raw in enumerate(text.split("\n")[:-1], start=1):
        if "\r" in raw[:-1]:
            msg = f"line {number}: bare carriage return"
            raise SecurityTxtError(msg)
        line = raw.removesuffix("\r")
        if not line.strip() or line.startswith("#"):
            continue
        match = _FIELD.match(line)
        if match is None:
            msg = f"line {number}: not 'Name: value': {line!r}"
            raise SecurityTxtError(msg)
        key = match["name"].lower()
        if key not in KNOWN_FIELDS:
            msg = f"line {number}: unknown field {match['name']!r}"
            raise SecurityTxtError(msg)
        value = match["value"].strip()
        name = KNOWN_FIELDS[key]
        if key in _URI_FIELDS:
            allowed = {"contact": ("https://", "mailto:", "tel:")}.get(
                key, ("dns:", "openpgp4fpr:", "https://") if key == "encryption" else ("https://",)
            )
            if not value.startswith(allowed):
                msg = f"line {number}: {name} {value!r} is not an allowed URI"
                raise SecurityTxtError(msg)
        parsed.fields.setdefault(name, []).append(value)
    for key in _AT_MOST_ONCE:
        name = KNOWN_FIELDS[key]
        if len(parsed.fields.get(name, [])) > 1:
            msg = f"{name} appears {len(parsed.fields[name])} times"
            raise SecurityTxtError(msg)
    if not parsed.fields.get("Contact"):
        msg = "no Contact field"
        raise SecurityTxtError(msg)
    if len(parsed.fields.get("Expires", [])) != 1:
        msg = "Expires must appear exactly once"
        raise SecurityTxtError(msg)
    expires_text = parsed.one("Expires")
    if not _RFC3339.match(expires_text):
        msg = f"Expires {expires_text!r} is not an RFC 3339 date-time"
        raise SecurityTxtError(msg)
    expires = datetime.fromisoformat(expires_text)
    if expires <= now:
        msg = f"Expires {expires_text} is in the past"
        raise SecurityTxtError(msg)
    if expires > now + timedelta(days=366):
        msg = f"Expires {expires_text} is more than a year ahead"
        raise SecurityTxtError(msg)
    for languages in parsed.fields.get("Preferred-Languages", []):
        for tag in languages.split(","):
            if not _LANGUAGE_TAG.match(tag.strip()):
                msg = f"Preferred-Languages: {tag.strip()!r} is not a language tag"
                raise SecurityTxtError(msg)
    return parsed

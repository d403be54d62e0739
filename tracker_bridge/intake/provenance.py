"""Where a mail came from: the receiving MTA's Authentication-Results, and ciphertext identity.

Two questions the ingest service asks before it believes a From address:

- Did a mail server the operator trusts authenticate the From domain? Answered from the
  ``Authentication-Results`` field (RFC 8601) that carries the configured authserv-id. Only
  that server's verdict counts: anyone can write an Authentication-Results field into the mail
  they send, and the border MTA removes or overrides fields claiming its own id (RFC 8601
  sections 5 and 7.1). Fields are read top-down and the first one with the trusted id wins,
  because a receiving MTA prepends its trace fields above everything the sender wrote.
- Has the bridge decrypted this ciphertext before? Answered by a digest of the encrypted data
  packet (RFC 4880 / RFC 9580 tags 9, 18, 20), which a replay cannot change without breaking
  decryption, whatever armour headers, line lengths or packet framing it uses.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker_bridge.ports.intake import Origin, OriginCheck

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["AuthResult", "check_origin", "ciphertext_digest", "parse_authentication_results"]

_COMMENT = re.compile(r"\([^()]*\)")
# Results that say the domain did not authenticate (RFC 8601 sections 2.7.1 and 2.7.2).
_FAILED = frozenset({"fail", "softfail", "permerror", "hardfail"})


@dataclass(frozen=True)
class AuthResult:
    """One ``method=result`` statement of an Authentication-Results field.

    ``properties`` maps ``ptype.property`` (``header.from``, ``header.d``, ``smtp.mailfrom``)
    to its value, lower-cased.
    """

    method: str
    result: str
    properties: dict[str, str]


def _without_comments(value: str) -> str:
    previous = None
    while previous != value:
        previous, value = value, _COMMENT.sub(" ", value)
    return value


def parse_authentication_results(value: str) -> tuple[str | None, list[AuthResult]]:
    """The authserv-id and the results of one Authentication-Results field (RFC 8601 s. 2.2).

    Returns:
        ``(authserv_id or None, results)``. The id is None when the field starts with a result
        instead (Exchange Online writes ``spf=pass ...`` with no authserv-id): such a field can
        never be matched to a trusted server.
    """
    pieces = [p.strip() for p in _without_comments(" ".join(value.split())).split(";")]
    if not pieces or not pieces[0]:
        return None, []
    head = pieces[0].split()
    authserv_id: str | None = head[0].lower()
    rest = pieces[1:]
    if "=" in head[0]:
        authserv_id, rest = None, pieces
    results: list[AuthResult] = []
    for piece in rest:
        words = piece.split()
        if not words or "=" not in words[0]:
            continue  # "none" (no checks were made) or an empty trailing piece
        method, _, result = words[0].partition("=")
        properties: dict[str, str] = {}
        for word in words[1:]:
            key, sep, prop = word.partition("=")
            if sep and "." in key:
                properties[key.lower()] = prop.strip('"').lower()
        results.append(AuthResult(method.split("/")[0].lower(), result.lower(), properties))
    return authserv_id, results


def _aligned(domain: str, from_domain: str) -> bool:
    # Relaxed alignment (RFC 7489 section 3.1) approximated without the Public Suffix List:
    # the same domain, or one a subdomain of the other.
    domain = domain.lstrip("@").rpartition("@")[2].strip(".").lower()
    return bool(domain) and (
        domain == from_domain
        or domain.endswith("." + from_domain)
        or from_domain.endswith("." + domain)
    )


def check_origin(
    fields: Sequence[str], from_address: str, trusted_authserv_id: str | None
) -> OriginCheck:
    """Whether the trusted MTA authenticated the From domain of a mail.

    Args:
        fields: Every Authentication-Results value, top (newest) first.
        from_address: The From addr-spec.
        trusted_authserv_id: The authserv-id of the operator's own receiving MTA; None when
            not configured (nothing is checked).

    Returns:
        ``SPOOFED`` when DMARC failed for the From domain, or when neither DKIM nor SPF passed
        aligned with it and at least one of them failed; ``VERIFIED`` when DMARC, DKIM or SPF
        passed aligned; ``UNKNOWN`` when the trusted MTA said nothing decisive or no field
        carries its id; ``UNCHECKED`` without a trusted id.
    """
    if not trusted_authserv_id:
        return OriginCheck(Origin.UNCHECKED, "no trusted authserv-id configured")
    trusted = trusted_authserv_id.strip().lower()
    from_domain = from_address.rpartition("@")[2].strip().lower()
    for value in fields:
        authserv_id, results = parse_authentication_results(value)
        if authserv_id != trusted:
            continue
        return _judge(results, from_domain, trusted)
    return OriginCheck(Origin.UNKNOWN, f"no Authentication-Results from {trusted}")


def _judge(results: list[AuthResult], from_domain: str, trusted: str) -> OriginCheck:
    for result in results:
        if result.method != "dmarc":
            continue
        header_from = result.properties.get("header.from", from_domain)
        if result.result in _FAILED and _aligned(header_from, from_domain):
            return OriginCheck(
                Origin.SPOOFED, f"DMARC {result.result} for {from_domain} (per {trusted})"
            )
        if result.result == "pass" and _aligned(header_from, from_domain):
            return OriginCheck(Origin.VERIFIED, f"DMARC pass for {from_domain} (per {trusted})")
    passed: list[str] = []
    failed: list[str] = []
    for result in results:
        if result.method == "dkim":
            domain = result.properties.get("header.d") or result.properties.get("header.i", "")
        elif result.method == "spf":
            domain = result.properties.get("smtp.mailfrom") or result.properties.get(
                "smtp.helo", ""
            )
        else:
            continue
        if result.result == "pass" and _aligned(domain, from_domain):
            passed.append(result.method.upper())
        elif result.result in _FAILED:
            failed.append(f"{result.method.upper()} {result.result}")
    if passed:
        joined = " and ".join(dict.fromkeys(passed))
        return OriginCheck(Origin.VERIFIED, f"{joined} pass for {from_domain} (per {trusted})")
    if failed:
        joined = ", ".join(dict.fromkeys(failed))
        return OriginCheck(
            Origin.SPOOFED, f"{joined} and nothing aligned with {from_domain} (per {trusted})"
        )
    return OriginCheck(Origin.UNKNOWN, f"{trusted} could not authenticate {from_domain}")


# ---------------------------------------------------------------------------- ciphertext


_BEGIN = re.compile(rb"-----BEGIN PGP MESSAGE-----[^\n]*\n")
# The body ends before the optional checksum line (RFC 9580 section 6.2: "=" and four radix-64
# characters; OpenPGP.js v6 omits it) and the END line.
_END = re.compile(rb"\r?\n(?:=[A-Za-z0-9+/]{4}[ \t]*\r?\n)?-----END PGP MESSAGE-----")
_ENCRYPTED_DATA_TAGS = frozenset({9, 18, 20})


def _dearmour(data: bytes) -> bytes | None:
    """The packets of the first armoured message in ``data``, or None.

    Decoded from a view of ``data``: a message at the size limit is not copied on the way
    (binascii skips line breaks and other characters outside radix-64).
    """
    begin = _BEGIN.search(data)
    if begin is None:
        return None
    end = _END.search(data, begin.end())
    if end is None:
        return None
    start, stop = begin.end(), end.start()
    # Armour headers ("Version: ...") and the blank line after them come first (RFC 9580
    # section 6.2); radix-64 never holds a colon.
    while start < stop:
        line_end = data.find(b"\n", start, stop)
        line = data[start : stop if line_end == -1 else line_end]
        if b":" in line or not line.strip():
            if line_end == -1:
                return None
            start = line_end + 1
            continue
        break
    try:
        return binascii.a2b_base64(memoryview(data)[start:stop])
    except (binascii.Error, ValueError):
        return None


def _encrypted_data(packets: bytes) -> list[memoryview] | None:
    """The body of the first encrypted data packet (tags 9, 18, 20) as views, partial lengths kept apart."""
    view = memoryview(packets)
    position = 0
    while position < len(packets):
        first = packets[position]
        if not first & 0x80:
            return None
        position += 1
        chunks: list[memoryview] = []
        if first & 0x40:  # new format: tag in six bits, lengths may be partial
            tag = first & 0x3F
            while True:
                if position >= len(packets):
                    return None
                octet = packets[position]
                if octet < 192:
                    length, position = octet, position + 1
                elif octet < 224:
                    if position + 1 >= len(packets):
                        return None
                    length = ((octet - 192) << 8) + packets[position + 1] + 192
                    position += 2
                elif octet == 255:
                    length = int.from_bytes(packets[position + 1 : position + 5], "big")
                    position += 5
                else:  # partial body length: a chunk, then another length follows
                    size = 1 << (octet & 0x1F)
                    chunks.append(view[position + 1 : position + 1 + size])
                    position += 1 + size
                    continue
                chunks.append(view[position : position + length])
                position += length
                break
        else:  # old format: tag in four bits, length type in two
            tag = (first >> 2) & 0x0F
            length_type = first & 0x03
            if length_type == 3:
                chunks.append(view[position:])
                position = len(packets)
            else:
                size = (1, 2, 4)[length_type]
                length = int.from_bytes(packets[position : position + size], "big")
                position += size
                chunks.append(view[position : position + length])
                position += length
        if tag in _ENCRYPTED_DATA_TAGS:
            return chunks
    return None


def ciphertext_digest(data: bytes) -> str:
    """SHA-256 (hex) identifying one OpenPGP ciphertext, armoured or binary.

    The digest covers the encrypted data packet only, so the same ciphertext re-armoured,
    re-wrapped, re-framed or with its session key encrypted to someone else still matches.
    Input that is not a parsable OpenPGP message falls back to the digest of its
    whitespace-free bytes.
    """
    packets = _dearmour(data) if b"-----BEGIN PGP MESSAGE-----" in data else data
    encrypted = _encrypted_data(packets) if packets else None
    if encrypted and any(len(chunk) for chunk in encrypted):
        digest = hashlib.sha256()
        for chunk in encrypted:
            digest.update(chunk)
        return digest.hexdigest()
    return hashlib.sha256(re.sub(rb"\s+", b"", packets or data)).hexdigest()

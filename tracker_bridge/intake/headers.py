"""The header fields of one mail: its envelope (ids, sender, threading, automatic mail, origin).

Everything here reads header fields only, never the body's content: the From mailbox (RFC 5322
section 3.6.2, RFC 6532), Message-ID and threading ids (RFC 5322 section 3.6.4, and the ids a
bounce returns, RFC 3464), automatic mail (RFC 3834 and the vendors' markers), the language,
the Autocrypt key, and the origin check (RFC 8601 Authentication-Results, ``intake.provenance``).
``Envelope`` is what ``MailReader`` carries from them into every ``InboundMessage``.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.policy
import email.utils
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from typing import TYPE_CHECKING, NamedTuple

from tracker_bridge.domain.message_ids import MSG_ID, synthetic_message_id
from tracker_bridge.intake.parts import child_parts, payload_bytes
from tracker_bridge.intake.provenance import check_origin
from tracker_bridge.ports.intake import Attachment, InboundMessage, OriginCheck, Verdict

if TYPE_CHECKING:
    from email.message import Message

    from tracker_bridge.ports.openpgp import SignatureCheck

__all__ = [
    "Envelope",
    "Mailbox",
    "autocrypt_key",
    "header_text",
    "parse_from",
    "parse_headers_only",
    "read_envelope",
    "registry_mailbox",
    "simple_mailbox",
]

# How much of a message is searched for the end of its header block when only that is read.
_HEADER_SCAN_BYTES = 256 * 1024


@dataclass(frozen=True)
class Envelope:
    """What the header of one mail says, before its body is read: the same for every verdict.

    Attributes:
        message_id: The first msg-id of Message-ID, or the synthetic
            ``<sha256@tracker-bridge.invalid>`` (``domain.message_ids``) without one.
        digest: Hex SHA-256 of the raw bytes.
        sender: The From addr-spec; ``""`` when From is not exactly one usable mailbox.
        sender_name: The From display name (RFC 2047 decoded), or None.
        in_reply_to: Ids of In-Reply-To, References and the mail a bounce returns, in order.
        recipients: To, Cc and Delivered-To addresses, in order, without repeats.
        auto_submitted: Automatic mail (RFC 3834, vacation and list markers).
        bounce: A delivery report (RFC 3464 multipart/report, or from MAILER-DAEMON/postmaster).
        language: The first tag of Content-Language or Accept-Language, or None.
        raw_size: Size of the raw message in bytes.
        origin: Whether the trusted MTA authenticated the From domain (RFC 8601).
        from_problem: Why From is not exactly one usable mailbox (``parse_from``), or None.
    """

    message_id: str
    digest: str
    sender: str
    sender_name: str | None
    in_reply_to: tuple[str, ...]
    recipients: tuple[str, ...]
    auto_submitted: bool
    bounce: bool
    language: str | None
    raw_size: int
    origin: OriginCheck
    from_problem: str | None = None

    def inbound_message(
        self,
        *,
        subject: str,
        body: str,
        encrypted: bool,
        decrypted: bool,
        signature: SignatureCheck,
        verdict: Verdict,
        reason: str,
        unencrypted_parts: tuple[str, ...] = (),
        attachments: tuple[Attachment, ...] = (),
        keys_found: tuple[str, ...] = (),
        ciphertext_digest: str | None = None,
    ) -> InboundMessage:
        """The InboundMessage of this envelope and what the reader made of the body."""
        return InboundMessage(
            message_id=self.message_id,
            digest=self.digest,
            sender=self.sender,
            sender_name=self.sender_name,
            subject=subject,
            body=body,
            encrypted=encrypted,
            decrypted=decrypted,
            signature=signature,
            verdict=verdict,
            reason=reason,
            in_reply_to=self.in_reply_to,
            recipients=self.recipients,
            unencrypted_parts=unencrypted_parts,
            attachments=attachments,
            keys_found=keys_found,
            auto_submitted=self.auto_submitted,
            bounce=self.bounce,
            language=self.language,
            raw_size=self.raw_size,
            origin=self.origin,
            ciphertext_digest=ciphertext_digest,
        )


def read_envelope(
    raw: bytes,
    digest: str,
    message: Message,
    *,
    own_addresses: frozenset[str],
    trusted_authserv_id: str | None,
) -> Envelope:
    """The envelope of ``message`` (parsed from ``raw``, whose SHA-256 is ``digest``).

    Args:
        raw: The message as received.
        digest: Hex SHA-256 of ``raw``.
        message: ``raw`` parsed, or only its header block.
        own_addresses: The bridge's own addresses, lower case (its own list is not bulk mail).
        trusted_authserv_id: The authserv-id whose Authentication-Results decide ``origin``;
            None checks nothing.
    """
    sender_name, sender, from_problem = parse_from(message)
    return Envelope(
        message_id=_message_id(message, digest),
        digest=digest,
        sender=sender,
        sender_name=sender_name,
        in_reply_to=_thread_ids(message),
        recipients=_recipients(message),
        auto_submitted=_is_automatic(message, sender, own_addresses),
        bounce=message.get_content_type() == "multipart/report"
        or sender.split("@", 1)[0].lower() in ("mailer-daemon", "postmaster"),
        language=_language(message),
        raw_size=len(raw),
        origin=check_origin(
            _raw_header_values(message, "Authentication-Results"), sender, trusted_authserv_id
        ),
        from_problem=from_problem,
    )


def parse_headers_only(raw: bytes) -> Message:
    """The header block of ``raw`` alone (its first 256 KiB at most), for mail too big or broken to parse whole."""
    head = raw[:_HEADER_SCAN_BYTES]
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = head.find(separator)
        if end != -1:
            head = head[:end] + separator
            break
    return email.message_from_bytes(head)


def header_text(message: Message, name: str) -> str:
    """The first ``name`` header as text: 8-bit UTF-8 (RFC 6532) or encoded words (RFC 2047)."""
    value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return ""
    value = _eight_bit_text(str(value))
    if "=?" in value:
        try:
            text = str(make_header(decode_header(value)))
        except (UnicodeDecodeError, LookupError, ValueError, binascii.Error):
            text = value
    else:
        # No encoded word can start without "=?": decode_header would return the value as
        # its one chunk, and make_header would give it back unchanged.
        text = value
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def _eight_bit_text(text: str) -> str:
    """``text`` with the raw 8-bit bytes the parser kept (as surrogates) read as UTF-8.

    RFC 6532 section 3 allows UTF-8 in header fields; bytes that are not UTF-8 are read as
    Latin-1, so nothing is lost to replacement characters.
    """
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    data = text.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _raw_header_values(message: Message, name: str) -> list[str]:
    """Every value of header ``name`` as received, 8-bit (RFC 6532 UTF-8) text decoded."""
    values: list[str] = []
    for key, value in message.raw_items():
        if key.lower() != name.lower():
            continue
        text = str(value)
        if any("\udc80" <= char <= "\udcff" for char in text):
            text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        values.append(text)
    return values


# Defects that still leave one unambiguous addr-spec: RFC 6532 UTF-8 local parts and obsolete
# (RFC 5322 section 4) phrase syntax such as an unquoted "J. Smith".
_HARMLESS_DEFECTS = (email.errors.NonASCIILocalPartDefect, email.errors.ObsoleteHeaderDefect)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A forward-path holds at most 256 octets, brackets included (RFC 5321 section 4.5.3.1.3).
_MAX_ADDRESS_OCTETS = 254


def parse_from(message: Message) -> tuple[str | None, str, str | None]:
    """The sender of ``message``: display name, addr-spec, and a problem (None when usable).

    The From field is parsed as an address list first (``email.headerregistry`` with
    ``email.policy.default``, RFC 5322 section 3.4) and only then are display names decoded
    (RFC 2047 section 6.2), so an encoded word can never supply the address, a comma or a
    line break. The address is only ever the addr-spec; UTF-8 addresses (RFC 6532) are kept.

    Returns:
        ``(display_name or None, addr_spec, None)`` for exactly one usable mailbox, else
        ``(None, "", reason)`` naming why the sender cannot be known.
    """
    values = _raw_header_values(message, "From")
    if len(values) != 1:
        return None, "", f"message has {len(values)} From fields, not exactly one"
    mailbox = simple_mailbox(values[0]) or registry_mailbox(values[0])
    if isinstance(mailbox, str):
        return None, "", mailbox
    display_name, username, domain, addr_spec = mailbox
    if (
        not username
        or not domain
        or _CONTROL.search(addr_spec)
        or any(char.isspace() for char in addr_spec)
    ):
        return None, "", "From field has no usable address (local-part@domain)"
    if "\ufffd" in addr_spec:
        return None, "", "From address is neither ASCII nor UTF-8 (RFC 6532)"
    if len(addr_spec.encode("utf-8")) > _MAX_ADDRESS_OCTETS:
        return None, "", f"From address is longer than {_MAX_ADDRESS_OCTETS} octets"
    name = " ".join(_CONTROL.sub(" ", display_name).split())
    return (name or None), addr_spec, None


class Mailbox(NamedTuple):
    """One mailbox of a From field: display name, local part, domain and addr-spec as parsed."""

    display_name: str
    username: str
    domain: str
    addr_spec: str


# A From value of the plainest shape: ``Name <local@domain>``, ``<local@domain>`` or
# ``local@domain``; the name of atext words (RFC 5322 section 3.2.3) one space apart, the
# addr-spec a dot-atom of ASCII letters, digits and ``_+-``. No quotes, comments, encoded
# words, dots in the name or folding: anything else goes to email.headerregistry.
_WORDS = r"[A-Za-z0-9'-]+(?: [A-Za-z0-9'-]+)*"
_LOCAL = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_SIMPLE_FROM = re.compile(
    rf"(?:(?P<name>{_WORDS}) )?<(?P<local>{_LOCAL})@(?P<domain>{_DOMAIN})>"
    rf"|(?P<bare_local>{_LOCAL})@(?P<bare_domain>{_DOMAIN})"
)


def simple_mailbox(value: str) -> Mailbox | None:
    """``value`` read without email.headerregistry when it has the plainest shape, else None.

    For every value it answers, the answer is ``registry_mailbox(value)``'s (a property test
    pins this): headerregistry costs about 0.1 ms a message, most of a plain From's reading.
    """
    found = _SIMPLE_FROM.fullmatch(value)
    if found is None:
        return None
    local = found.group("local") or found.group("bare_local")
    domain = found.group("domain") or found.group("bare_domain")
    return Mailbox(found.group("name") or "", local, domain, f"{local}@{domain}")


def registry_mailbox(value: str) -> Mailbox | str:
    """The one mailbox of From ``value`` through email.headerregistry, or why there is none.

    Parsed as an address list (``email.policy.default``, RFC 5322 section 3.4); defects other
    than RFC 6532 UTF-8 local parts and obsolete phrase syntax refuse it.
    """
    try:
        header = email.policy.default.header_factory("From", value)
    except (ValueError, TypeError, IndexError) as err:
        # headerregistry refuses CR or LF inside an address part (a decoded encoded word).
        return f"From field cannot be parsed ({err})"
    addresses = list(getattr(header, "addresses", ()))
    bad = [d for d in header.defects if not isinstance(d, _HARMLESS_DEFECTS)]
    if len(addresses) != 1 or bad or len(getattr(header, "groups", ())) != 1:
        found = ", ".join(str(d) for d in bad) or f"{len(addresses)} addresses"
        return f"From field is not exactly one mailbox ({found})"
    address = addresses[0]
    return Mailbox(
        str(address.display_name),
        str(address.username),
        str(address.domain),
        str(address.addr_spec).strip(),
    )


def _message_id(message: Message, digest: str) -> str:
    found = MSG_ID.findall(header_text(message, "Message-ID"))
    if found:
        return str(found[0])
    return synthetic_message_id(digest)


def _thread_ids(message: Message) -> tuple[str, ...]:
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        for found in MSG_ID.findall(header_text(message, name)):
            if found not in ids:
                ids.append(found)
    for found in _returned_message_ids(message):
        if found not in ids:
            ids.append(found)
    return tuple(ids)


def _returned_message_ids(message: Message) -> list[str]:
    """The Message-ID of the mail a bounce returns (RFC 3464 DSN, RFC 3462 multipart/report).

    MTAs answer the envelope sender without In-Reply-To; the only link to the mail that
    bounced is the copy of its headers (text/rfc822-headers) or of itself (message/rfc822).
    """
    if message.get_content_type() != "multipart/report":
        return []
    found: list[str] = []
    for part in child_parts(message):
        ctype = part.get_content_type()
        returned: Message | None = None
        if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            returned = parse_headers_only(payload_bytes(part))
        elif ctype == "message/rfc822":
            inner = child_parts(part)
            returned = inner[0] if inner else None
        if returned is not None:
            found += MSG_ID.findall(header_text(returned, "Message-ID"))[:1]
    return found


def _recipients(message: Message) -> tuple[str, ...]:
    values = [header_text(message, name) for name in ("To", "Cc")]
    values += [str(v) for v in message.get_all("Delivered-To", [])]
    addresses: list[str] = []
    for _, raw_address in email.utils.getaddresses(values):
        address = raw_address.strip()
        if address and address not in addresses:
            addresses.append(address)
    return tuple(addresses)


# Markers of automatic mail beside RFC 3834's Auto-Submitted: what vacation programs, Exchange
# and list servers write (X-Autoreply / X-Autorespond from procmail-era responders and
# Yahoo, X-Auto-Response-Suppress from Exchange [MS-OXCMAIL] 2.2.3.2.20, Precedence from
# sendmail's vacation(1)).
_AUTOMATIC_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "auto-reply"})


def _is_automatic(message: Message, sender: str, own: frozenset[str] = frozenset()) -> bool:
    """RFC 3834: no automatic answer to automatic, bounce, list or bulk mail.

    A security address run as a mailing list (Mailman, Google Groups) delivers researchers'
    reports with list headers; list mail of the bridge's own list is not bulk mail.
    """
    auto = header_text(message, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return True
    for name in _AUTOMATIC_HEADERS:
        value = header_text(message, name).lower()
        if value and value not in ("no", "false", "0"):
            return True
    own_list = _is_own_list(message, own)
    suppress = header_text(message, "X-Auto-Response-Suppress").lower()
    if suppress and suppress != "none" and not own_list:
        # Exchange marks its own automatic replies (OOF, delivery reports) "All" or "OOF".
        return True
    return_path = header_text(message, "Return-Path")
    if return_path.replace(" ", "") == "<>" or not sender:
        return True
    local = sender.split("@", 1)[0].lower()
    if local in ("mailer-daemon", "postmaster"):
        return True
    if message.get("List-Id") is not None and not own_list:
        return True
    precedence = header_text(message, "Precedence").lower()
    if precedence in _AUTOMATIC_PRECEDENCE or (precedence == "list" and not own_list):
        return True
    return message.get_content_type() == "multipart/report"


def _is_own_list(message: Message, own: frozenset[str]) -> bool:
    """Whether the list that delivered ``message`` is one of the bridge's own addresses.

    RFC 2369 ``List-Post`` names the list's address (``<mailto:security@example.org>``); RFC
    2919 ``List-Id`` is, for Mailman 3 and Google Groups, that address with ``@`` as ``.``.
    """
    if not own:
        return False
    posts = re.findall(r"<mailto:([^>?]+)", header_text(message, "List-Post"), re.IGNORECASE)
    if any(address.strip().lower() in own for address in posts):
        return True
    list_id = re.search(r"<([^<>]+)>", header_text(message, "List-Id"))
    return list_id is not None and list_id.group(1).strip().lower() in {
        address.replace("@", ".", 1) for address in own
    }


def _language(message: Message) -> str | None:
    for name in ("Content-Language", "Accept-Language"):
        value = header_text(message, name)
        if value:
            first = value.split(",")[0].split(";")[0].strip()
            if first:
                return first
    return None


def autocrypt_key(message: Message, sender: str) -> bytes | None:
    """The key data of an Autocrypt header (autocrypt.org level 1) whose ``addr`` is ``sender``."""
    header = message.get("Autocrypt")
    if header is None or not sender:
        return None
    attributes: dict[str, str] = {}
    for item in str(header).split(";"):
        key, _, value = item.strip().partition("=")
        attributes[key.strip().lower()] = value.strip()
    if attributes.get("addr", "").lower() != sender.lower():
        return None
    keydata = re.sub(r"\s+", "", attributes.get("keydata", ""))
    try:
        return base64.b64decode(keydata, validate=True) or None
    except (binascii.Error, ValueError):
        return None

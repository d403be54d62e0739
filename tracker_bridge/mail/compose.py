"""Composes researcher mail: renders the template and protects it as PGP/MIME (RFC 3156).

With a usable key for the researcher the mail is ``multipart/encrypted``: the inner
``text/plain`` part carries the real Subject, From, To and Date as protected headers
(``protected-headers="v1"``, draft-autocrypt-lamps-protected-headers) and is signed and
encrypted in one OpenPGP message; the outer Subject is neutral ("Report CVD-2026-0007:
update"). Without one, the ``cleartext`` policy decides which mails may go out signed but
unencrypted: ``none`` (the default) only the ``key_request`` mail, which names the report id and
nothing else; ``without-details`` also the mails that carry no free text (acknowledgement, state,
fix-date and progress mails: dates, state, severity), never the team's own words; ``all``
everything. Any other mail raises ``RecipientKeyMissing``: the notify service withholds it and
sends it encrypted once the researcher's key arrives. The bytes are built by hand with CRLF line
ends so the signed part is exactly the bytes transmitted.
"""

from __future__ import annotations

import base64
import binascii
import functools
import secrets
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING, Literal

from tracker_bridge.clock import SystemClock
from tracker_bridge.domain.message_ids import bracketed_message_id
from tracker_bridge.errors import ConfigurationError, RecipientKeyMissing, SkippableError
from tracker_bridge.mail.templates import KEY_REQUEST_PARAMETERS, RenderedTemplate, TemplateSet
from tracker_bridge.ports.mail import ComposedMail, NotificationKind, OutboxItem

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tracker_bridge.domain.researcher import Researcher
    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.openpgp import OpenPGP

__all__ = [
    "NEUTRAL_SUBJECTS",
    "CleartextPolicy",
    "PgpMimeComposer",
    "WithoutKeyPolicy",
    "pgp_mime_encrypted",
    "pgp_mime_signed",
    "plus_address",
]

WithoutKeyPolicy = Literal["key_request", "cleartext"]
CleartextPolicy = Literal["none", "without-details", "all"]
_CLEARTEXT_POLICIES: tuple[str, ...] = ("none", "without-details", "all")

NEUTRAL_SUBJECTS: dict[str, str] = {
    "en": "Report {report_id}: update",
    "nl": "Melding {report_id}: update",
}
"""The outer Subject of an encrypted mail, by language; the real one is inside."""

_CRLF = b"\r\n"
_KEY_REQUEST = "key_request"
# RFC 4880 section 9.4 hash algorithm ids, as RFC 3156 names them in micalg.
_MICALG = {1: "pgp-md5", 2: "pgp-sha1", 3: "pgp-ripemd160", 8: "pgp-sha256", 9: "pgp-sha384"}
_MICALG |= {10: "pgp-sha512", 11: "pgp-sha224", 12: "pgp-sha3-256", 14: "pgp-sha3-512"}


def plus_address(contact_address: str, report_id: str) -> str:
    """The report's reply address: ``security+CVD-2026-0007@example.org``."""
    local, at, domain = contact_address.rpartition("@")
    if not at or not local:
        msg = f"contact address {contact_address!r} is not a mail address"
        raise ConfigurationError(msg)
    return f"{local.split('+', 1)[0]}+{report_id}@{domain}"


def dearmor(data: bytes) -> bytes:
    """Binary OpenPGP data from ASCII armour (binary input is returned unchanged)."""
    text = data.decode("ascii", "replace")
    if "-----BEGIN PGP" not in text:
        return data
    lines = text.replace("\r\n", "\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP"))
    body: list[str] = []
    in_headers = True
    for line in lines[start + 1 :]:
        if in_headers:
            # Armour headers ("Version: ...", "Comment: ...") end at the first empty line.
            if not line.strip():
                in_headers = False
            elif ":" not in line:
                in_headers = False
                body.append(line.strip())
            continue
        if line.startswith(("-----END PGP", "=")):
            break
        body.append(line.strip())
    return base64.b64decode("".join(body))


def signature_micalg(armoured_signature: bytes) -> str:
    """The RFC 3156 ``micalg`` of a detached signature, read from its signature packet."""
    packet = dearmor(armoured_signature)
    if len(packet) < 2:
        msg = "the bridge produced an empty signature"
        raise ConfigurationError(msg)
    tag_byte = packet[0]
    if tag_byte & 0x40:  # new packet format: one to five length octets follow
        first = packet[1]
        offset = 2 if first < 192 else 3 if first < 224 else 6
    else:  # old format: the low two bits give the length of the length
        offset = 1 + {0: 1, 1: 2, 2: 4, 3: 0}[tag_byte & 0x03]
    version = packet[offset]
    # v3: version, hashed length (5), sig class, time, key id, pubkey algo, hash algo.
    hash_index = offset + 3 if version >= 4 else offset + 16
    algorithm = packet[hash_index] if len(packet) > hash_index else -1
    micalg = _MICALG.get(algorithm)
    if micalg is None:
        msg = f"the bridge key signs with an unknown hash algorithm {algorithm}"
        raise ConfigurationError(msg)
    return micalg


def _header(name: str, value: str) -> bytes:
    """One header field, folded, RFC 2047-encoded when it is not plain ASCII."""
    if value.isascii() and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}".encode("ascii") + _CRLF
    charset = "us-ascii" if value.isascii() else "utf-8"
    encoded = Header(value, charset, maxlinelen=78, header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}".encode("ascii") + _CRLF


def _address_header(name: str, address: str) -> bytes:
    """A header holding one bare address; an internationalised one is raw UTF-8.

    RFC 2047 encoded words are forbidden in an addr-spec (RFC 2047 section 5); a mail to an
    internationalised address travels with SMTPUTF8, whose headers carry UTF-8 as is
    (RFC 6532 section 3.2), which the transport checks before sending.
    """
    if address.isascii():
        return _header(name, address)
    if "\r" in address or "\n" in address:
        msg = f"the {name} address holds a line break"
        raise ConfigurationError(msg)
    return f"{name}: {address}".encode() + _CRLF


def _address(name: str | None, address: str) -> str:
    return formataddr((name, address), charset="utf-8") if name else address


def _quoted_printable(text: str) -> bytes:
    """The body as quoted-printable with CRLF: 7-bit, so a signature survives any relay."""
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    lines = encoded.split(b"\n")
    # RFC 3156 section 3: a line starting "From " gets mangled by mbox writers; encode the F.
    lines = [b"=46" + line[1:] if line.startswith(b"From ") else line for line in lines]
    return _CRLF.join(lines)


_BOUNDARY_TOKEN_BYTES = 16


def _boundary() -> str:
    return f"tb-{secrets.token_hex(_BOUNDARY_TOKEN_BYTES)}"


def _fold_autocrypt(address: str, keydata: bytes) -> bytes:
    encoded = base64.b64encode(keydata).decode("ascii")
    chunks = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    head = f"Autocrypt: addr={address}; prefer-encrypt=mutual; keydata="
    return (head + "\r\n " + "\r\n ".join(chunks)).encode("ascii") + _CRLF


def _armour_lines(armour: bytes) -> bytes:
    """ASCII armour with CRLF line ends and no trailing line break."""
    return _CRLF.join(armour.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n"))


# Stands in for the boundary while a multipart Content-Type field is folded; same length as
# ``_boundary()``'s, so the folded field fits any boundary once it is put in.
_BOUNDARY_SLOT = f"tb-{'00' * _BOUNDARY_TOKEN_BYTES}"


@functools.cache
def _multipart_content_type(subtype: str, parameters: str) -> bytes:
    """The folded Content-Type field of a multipart entity, with ``_BOUNDARY_SLOT`` to fill.

    Folding goes through ``email.header`` (a fifth of composing's own time); the field only
    varies by its boundary, which has a fixed length and no space, so it is folded once.
    """
    value = f'multipart/{subtype}; {parameters}; boundary="{_BOUNDARY_SLOT}"'
    return _header("Content-Type", value)


def _multipart(subtype: str, parameters: str, preamble: bytes, parts: Sequence[bytes]) -> bytes:
    """A multipart entity: its Content-Type field, a preamble, the parts (RFC 2046 section 5.1.1).

    Each part is given with its own header fields and body, without the line break that ends
    it; the delimiter lines and the close delimiter are added here, CRLF throughout.
    """
    boundary = _boundary()
    content_type = _multipart_content_type(subtype, parameters)
    entity = [
        content_type.replace(_BOUNDARY_SLOT.encode("ascii"), boundary.encode("ascii")),
        _CRLF,
        preamble,
        _CRLF,
    ]
    for part in parts:
        entity += [f"--{boundary}".encode("ascii"), _CRLF, part, _CRLF]
    entity += [f"--{boundary}--".encode("ascii"), _CRLF]
    return b"".join(entity)


def pgp_mime_encrypted(ciphertext: bytes) -> bytes:
    """The ``multipart/encrypted`` entity around armoured ``ciphertext`` (RFC 3156 section 4).

    Returns the bytes from its Content-Type field on (the caller puts the outer header fields
    first): the ``application/pgp-encrypted`` control part, then the armour in an
    ``application/octet-stream`` part named ``encrypted.asc``, CRLF line ends.
    """
    control = (
        b"Content-Type: application/pgp-encrypted"
        + _CRLF
        + b"Content-Description: PGP/MIME version identification"
        + _CRLF
        + _CRLF
        + b"Version: 1"
        + _CRLF
    )
    data = (
        b'Content-Type: application/octet-stream; name="encrypted.asc"'
        + _CRLF
        + b"Content-Description: OpenPGP encrypted message"
        + _CRLF
        + b'Content-Disposition: inline; filename="encrypted.asc"'
        + _CRLF
        + _CRLF
        + _armour_lines(ciphertext)
    )
    return _multipart(
        "encrypted",
        'protocol="application/pgp-encrypted"',
        b"This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)",
        [control, data],
    )


def pgp_mime_signed(signed_part: bytes, signature: bytes) -> bytes:
    """The ``multipart/signed`` entity of ``signed_part`` and its detached signature (RFC 3156 s. 5).

    ``signed_part`` is the MIME part exactly as signed and transmitted (header fields, blank
    line, body, CRLF line ends); ``signature`` is the armoured detached signature, whose hash
    algorithm gives ``micalg``. Returns the bytes from the entity's Content-Type field on.

    Raises:
        ConfigurationError: The signature is empty or names a hash algorithm RFC 4880 lacks.
    """
    micalg = signature_micalg(signature)
    signature_part = (
        b'Content-Type: application/pgp-signature; name="signature.asc"'
        + _CRLF
        + b"Content-Description: OpenPGP digital signature"
        + _CRLF
        + b'Content-Disposition: attachment; filename="signature.asc"'
        + _CRLF
        + _CRLF
        + _armour_lines(signature)
    )
    return _multipart(
        "signed",
        f'micalg="{micalg}"; protocol="application/pgp-signature"',
        b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)",
        [signed_part, signature_part],
    )


class PgpMimeComposer:
    """Renders outbox rows and protects them with the bridge key (implements ``ports.MailComposer``).

    Args:
        openpgp: The bridge's OpenPGP operations (``tracker_bridge.openpgp.GnuPG``).
        templates: The researcher mail templates.
        organisation: The program's name, shown in From and the signature line.
        from_address: The bridge's sender address (From, envelope sender, Autocrypt addr).
        contact_address: Address replies go to; the report id is added as a plus-address.
        without_key: Older name of ``cleartext``: ``key_request`` is ``none``, ``cleartext`` is
            ``all``; used only when ``cleartext`` is not given.
        cleartext: Which mails may go out signed but unencrypted to a researcher without a
            usable key: ``none``, ``without-details`` or ``all`` (see the module docstring).
        clock: Where the Date header comes from; the system clock in UTC by default.
        policy_url: The disclosure policy's address for the ``$policy_url`` placeholder.
        autocrypt_key: The bridge's public key (armoured or binary) for the Autocrypt header;
            by default taken once from ``openpgp.export_public_key()`` if it has that method.
    """

    def __init__(
        self,
        openpgp: OpenPGP,
        templates: TemplateSet,
        *,
        organisation: str,
        from_address: str,
        contact_address: str,
        without_key: WithoutKeyPolicy = "key_request",
        cleartext: CleartextPolicy | None = None,
        clock: Clock | None = None,
        policy_url: str | None = None,
        autocrypt_key: bytes | None = None,
    ) -> None:
        if without_key not in ("key_request", "cleartext"):
            msg = (
                f"researcher_mail.without_key must be 'key_request' or 'cleartext', "
                f"not {without_key!r}"
            )
            raise ConfigurationError(msg)
        if cleartext is not None and cleartext not in _CLEARTEXT_POLICIES:
            msg = (
                f"researcher_mail.cleartext must be one of {', '.join(_CLEARTEXT_POLICIES)}, "
                f"not {cleartext!r}"
            )
            raise ConfigurationError(msg)
        plus_address(contact_address, "check")
        self._openpgp = openpgp
        self._templates = templates
        self.organisation = organisation
        self.from_address = from_address
        self.contact_address = contact_address
        self.without_key: WithoutKeyPolicy = without_key
        self.cleartext: CleartextPolicy = cleartext or (
            "all" if without_key == "cleartext" else "none"
        )
        self._clock: Clock = clock or SystemClock()
        self.policy_url = policy_url or ""
        self._autocrypt_key = dearmor(autocrypt_key) if autocrypt_key else None
        export: Callable[[], bytes] | None = getattr(openpgp, "export_public_key", None)
        self._export_key = export

    # ------------------------------------------------------------------ public

    def compose(
        self, item: OutboxItem, researcher: Researcher, references: Sequence[str] = ()
    ) -> ComposedMail:
        """The mail for ``item`` in the researcher's language, encrypted when their key is known.

        Args:
            item: The outbox row (template, language, parameters, Message-ID).
            researcher: The recipient; ``fingerprint`` names their key in the bridge keyring.
            references: Message-IDs this mail answers (their first message first).

        Returns:
            The composed mail; ``encrypted`` tells whether it went out as PGP/MIME encrypted.

        Raises:
            RecipientKeyMissing: No usable key and the ``cleartext`` policy keeps this mail
                out of clear text (the caller withholds it until a key arrives).
            ConfigurationError: A template is missing or broken.
            FatalError: The bridge key cannot sign (from the OpenPGP adapter).
        """
        params = self._parameters(item, researcher)
        language = item.language or researcher.language.value
        fingerprint = researcher.fingerprint
        if fingerprint:
            rendered = self._templates.render_template(item.template, language, params)
            try:
                # No has_key() first: gpg refuses a missing key itself, and asking first would
                # cost a second gpg process for every mail.
                return self._encrypted(item, researcher, rendered, fingerprint, references)
            except SkippableError:
                # The researcher's key is missing, expired, revoked or unusable: treat it as no
                # key, so they are asked for a new one instead of the mail being stuck.
                pass
        if item.template == _KEY_REQUEST:
            # Only the placeholders a key request may carry, whatever the row holds.
            safe = {name: value for name, value in params.items() if name in KEY_REQUEST_PARAMETERS}
            rendered = self._templates.render_template(_KEY_REQUEST, language, safe)
        elif self.allows_cleartext(item):
            rendered = self._templates.render_template(item.template, language, params)
        else:
            msg = (
                f"{item.report_id}: no usable OpenPGP key for the researcher; the "
                f"'{item.template}' mail waits until they send one"
            )
            raise RecipientKeyMissing(msg)
        return self._signed(item, researcher, rendered, references)

    def allows_cleartext(self, item: OutboxItem) -> bool:
        """Whether ``item`` may go out signed but unencrypted under the ``cleartext`` policy."""
        if item.template == _KEY_REQUEST or self.cleartext == "all":
            return True
        return self.cleartext == "without-details" and not item.carries_team_words

    # ------------------------------------------------------------------ parts

    def _parameters(self, item: OutboxItem, researcher: Researcher) -> dict[str, str]:
        params: dict[str, str] = {
            "organisation": self.organisation,
            "researcher_name": researcher.salutation_name,
            "contact_address": self.contact_address,
            "reply_address": plus_address(self.contact_address, item.report_id),
            "policy_url": self.policy_url,
        }
        params.update({name: str(value) for name, value in item.params.items()})
        params["report_id"] = item.report_id
        return params

    def _identity_headers(
        self,
        item: OutboxItem,
        researcher: Researcher,
        subject: str,
        date: str,
        references: Sequence[str],
    ) -> list[bytes]:
        """The headers that say who, what and when: outer headers and protected headers alike."""
        headers = [
            _header("From", _address(self.organisation, self.from_address)),
            _address_header("To", item.recipient or researcher.email),
            _header("Subject", subject),
            _header("Date", date),
            _header("Message-ID", bracketed_message_id(item.message_id)),
            _header("Reply-To", plus_address(self.contact_address, item.report_id)),
        ]
        ids = [bracketed_message_id(ref) for ref in references if ref.strip()]
        if ids:
            headers.append(_header("In-Reply-To", ids[-1]))
            headers.append(_header("References", " ".join(ids)))
        return headers

    def _text_part(self, rendered: RenderedTemplate, protected: Sequence[bytes]) -> bytes:
        content_type = b'Content-Type: text/plain; charset="utf-8"; protected-headers="v1"'
        return (
            content_type
            + _CRLF
            + b"Content-Transfer-Encoding: quoted-printable"
            + _CRLF
            + _header("Content-Language", rendered.language)
            + b"".join(protected)
            + _CRLF
            + _quoted_printable(rendered.body)
        )

    def _outer_headers(
        self,
        item: OutboxItem,
        researcher: Researcher,
        subject: str,
        date: str,
        language: str,
        references: Sequence[str],
    ) -> bytes:
        auto_submitted = (
            "auto-replied" if item.kind is NotificationKind.ACKNOWLEDGEMENT else "auto-generated"
        )
        headers = self._identity_headers(item, researcher, subject, date, references)
        headers.append(_header("Auto-Submitted", auto_submitted))
        headers.append(_header("Content-Language", language))
        keydata = self._bridge_keydata()
        if keydata:
            headers.append(_fold_autocrypt(self.from_address, keydata))
        headers.append(_header("MIME-Version", "1.0"))
        return b"".join(headers)

    def _bridge_keydata(self) -> bytes | None:
        if self._autocrypt_key is None and self._export_key is not None:
            exported = self._export_key()
            self._autocrypt_key = dearmor(exported) if exported else b""
        return self._autocrypt_key or None

    def _encrypted(
        self,
        item: OutboxItem,
        researcher: Researcher,
        rendered: RenderedTemplate,
        fingerprint: str,
        references: Sequence[str],
    ) -> ComposedMail:
        date = format_datetime(self._clock.now())
        protected = self._identity_headers(item, researcher, rendered.subject, date, references)
        inner = self._text_part(rendered, protected)
        ciphertext = self._openpgp.encrypt_and_sign(inner, [fingerprint])
        neutral = NEUTRAL_SUBJECTS.get(rendered.language, NEUTRAL_SUBJECTS["en"])
        outer = self._outer_headers(
            item,
            researcher,
            neutral.format(report_id=item.report_id),
            date,
            rendered.language,
            references,
        )
        message = outer + pgp_mime_encrypted(ciphertext)
        return ComposedMail(self.from_address, (item.recipient,), message, encrypted=True)

    def _signed(
        self,
        item: OutboxItem,
        researcher: Researcher,
        rendered: RenderedTemplate,
        references: Sequence[str],
    ) -> ComposedMail:
        date = format_datetime(self._clock.now())
        protected = self._identity_headers(item, researcher, rendered.subject, date, references)
        # RFC 3156 section 5: sign the part exactly as transmitted, CRLF line ends included.
        signed_part = self._text_part(rendered, protected)
        signature = self._openpgp.sign_detached(signed_part)
        outer = self._outer_headers(
            item, researcher, rendered.subject, date, rendered.language, references
        )
        message = outer + pgp_mime_signed(signed_part, signature)
        return ComposedMail(self.from_address, (item.recipient,), message, encrypted=False)

"""Test mail in the shapes real clients produce (PGP/MIME, inline, Exchange...), made with real gpg.

Shapes follow RFC 3156 (multipart/encrypted, multipart/signed), the Autocrypt protected-headers
draft (``protected-headers="v1"`` on the inner root, a ``text/rfc822-headers`` legacy-display
part from Enigmail, the outer Subject replaced by ``...``) and what each client is known to send:

- Thunderbird (78+, built-in): combined sign+encrypt, inner multipart/mixed with protected
  headers, Autocrypt header, outer subject ``...``.
- Enigmail: like Thunderbird plus a legacy-display ``text/rfc822-headers`` part.
- KMail: combined sign+encrypt, inner text/plain quoted-printable, subject unprotected.
- Mutt: protected headers directly on an inner text/plain, outer subject ``...``.
- Apple Mail (GPG Suite): signed-then-encrypted (multipart/signed inside), ``encrypted.asc``.
- Outlook/GpgOL through Exchange: multipart/mixed of an empty text/plain,
  application/pgp-encrypted and application/octet-stream (Exchange rewrites multipart/encrypted).
- Mailvelope: encrypted only (no signature), inner multipart/mixed, or inline armour in HTML
  when used from webmail (``&nbsp;`` and ``<br>`` damage).
- ProtonMail (to external PGP users): combined sign+encrypt, inner multipart/mixed with an HTML
  alternative and the sender's public key attached (application/pgp-keys).
- K-9 / FairEmail: Autocrypt header, combined sign+encrypt, protected headers.
"""

from __future__ import annotations

import base64
import quopri
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from typing import TYPE_CHECKING

from tracker_bridge.demo.keys import TestKey, export_public_key, gpg_command

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["CLIENT_SHAPES", "MailShapes", "Shape", "openpgpjs_armour"]

CRLF = "\r\n"


@dataclass(frozen=True)
class Shape:
    """One client shape: what the reader should find when it opens the message."""

    name: str
    raw: bytes
    subject: str
    body: str
    signed: bool
    attachments: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


@dataclass
class MailShapes:
    """Builds test messages from ``researcher`` to the bridge, encrypted with real gpg.

    Args:
        researcher: The sender's key; its GnuPG home must hold the bridge's public key.
        bridge_fingerprint: The key the messages are encrypted to.
        bridge_address: The bridge's mail address (To:).
    """

    researcher: TestKey
    bridge_fingerprint: str
    bridge_address: str = "security@vendor.example"
    _counter: list[int] = field(default_factory=lambda: [0])
    # Extra gpg options for every encryption (e.g. --faked-system-time for an expired key).
    encrypt_options: tuple[str, ...] = ()

    # ------------------------------------------------------------------ gpg

    def encrypt(
        self,
        data: bytes,
        *,
        sign: bool = False,
        recipients: Sequence[str] | None = None,
        extra: Sequence[str] = (),
    ) -> bytes:
        """Armoured ciphertext of ``data`` for the bridge (or ``recipients``)."""
        args = ["--armor", "--trust-model", "always", *self.encrypt_options, "--encrypt", *extra]
        for fingerprint in recipients or [self.bridge_fingerprint]:
            args += ["--recipient", fingerprint]
        if sign:
            args += ["--sign", "--local-user", self.researcher.fingerprint]
        return gpg_command(
            self.researcher.gnupghome, *args, stdin=data, passphrase=self.researcher.passphrase
        ).stdout

    def detached_signature(self, data: bytes) -> bytes:
        """An armoured detached signature by the researcher."""
        return gpg_command(
            self.researcher.gnupghome,
            "--armor",
            "--detach-sign",
            "--local-user",
            self.researcher.fingerprint,
            stdin=data,
            passphrase=self.researcher.passphrase,
        ).stdout

    def public_key(self) -> bytes:
        """The researcher's armoured public key."""
        return export_public_key(self.researcher.gnupghome, self.researcher.fingerprint)

    # ------------------------------------------------------------------ MIME pieces

    def _boundary(self, label: str) -> str:
        self._counter[0] += 1
        return f"----={label}_{self._counter[0]:04d}_tb"

    def headers(
        self,
        subject: str,
        *,
        content_type: str,
        extra: Sequence[tuple[str, str]] = (),
        message_id: str | None = None,
    ) -> str:
        """The outer header block (ends with the blank line)."""
        self._counter[0] += 1
        mid = message_id or f"<shape-{self._counter[0]}-{self.researcher.fingerprint[:8]}@example>"
        lines = [
            f"From: {self.researcher.name} <{self.researcher.address}>",
            f"To: {self.bridge_address}",
            f"Subject: {_encode_header(subject)}",
            f"Date: {format_datetime(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))}",
            f"Message-ID: {mid}",
            "MIME-Version: 1.0",
            *(f"{name}: {value}" for name, value in extra),
            f"Content-Type: {content_type}",
        ]
        return CRLF.join(lines) + CRLF + CRLF

    @staticmethod
    def text_part(
        body: str,
        *,
        charset: str = "utf-8",
        encoding: str = "quoted-printable",
        params: str = "",
        headers: Sequence[str] = (),
        raw_bytes: bytes | None = None,
    ) -> bytes:
        """A text/plain part (headers and body) with CRLF line ends."""
        data = raw_bytes if raw_bytes is not None else body.encode(charset)
        if encoding == "quoted-printable":
            encoded = quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
        elif encoding == "base64":
            encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        else:
            encoded = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        head = [
            f'Content-Type: text/plain; charset="{charset}"{params}',
            f"Content-Transfer-Encoding: {encoding}",
            *headers,
        ]
        return (CRLF.join(head) + CRLF + CRLF).encode("ascii") + encoded

    @staticmethod
    def binary_part(filename: str, content_type: str, data: bytes) -> bytes:
        """A base64 attachment part."""
        head = [
            f'Content-Type: {content_type}; name="{filename}"',
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment; filename="{filename}"',
        ]
        body = base64.encodebytes(data).replace(b"\n", b"\r\n")
        return (CRLF.join(head) + CRLF + CRLF).encode("ascii") + body

    def multipart(
        self,
        subtype: str,
        parts: Sequence[bytes],
        *,
        params: str = "",
        headers: Sequence[str] = (),
        preamble: str = "",
    ) -> bytes:
        """A multipart entity (its own Content-Type header, then the body)."""
        boundary = self._boundary(subtype)
        head = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"{params}', *headers]
        out = (CRLF.join(head) + CRLF + CRLF + preamble).encode("utf-8")
        for part in parts:
            out += f"--{boundary}{CRLF}".encode("ascii") + part.rstrip(b"\r\n") + CRLF.encode()
        out += f"--{boundary}--{CRLF}".encode("ascii")
        return out

    def pgp_mime(
        self,
        subject: str,
        inner: bytes,
        *,
        sign: bool = True,
        extra_headers: Sequence[tuple[str, str]] = (),
        ciphertext: bytes | None = None,
        filename: str | None = None,
        description: bool = False,
    ) -> bytes:
        """RFC 3156 multipart/encrypted around the inner MIME entity."""
        cipher = ciphertext if ciphertext is not None else self.encrypt(inner, sign=sign)
        boundary = self._boundary("enc")
        control_desc = (
            "Content-Description: PGP/MIME version identification\r\n" if description else ""
        )
        data_name = f'; name="{filename}"' if filename else ""
        data_disp = f'Content-Disposition: inline; filename="{filename}"\r\n' if filename else ""
        data_desc = "Content-Description: OpenPGP encrypted message\r\n" if description else ""
        body = (
            f"This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156){CRLF}"
            f"--{boundary}{CRLF}"
            f"Content-Type: application/pgp-encrypted{CRLF}{control_desc}{CRLF}"
            f"Version: 1{CRLF}{CRLF}"
            f"--{boundary}{CRLF}"
            f"Content-Type: application/octet-stream{data_name}{CRLF}{data_desc}{data_disp}{CRLF}"
        ).encode("ascii")
        body += cipher.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        body += f"{CRLF}--{boundary}--{CRLF}".encode("ascii")
        head = self.headers(
            subject,
            content_type=(
                f'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="{boundary}"'
            ),
            extra=extra_headers,
        )
        return head.encode("utf-8") + body

    def protected_headers(self, subject: str) -> list[str]:
        """The header lines a client copies into the encrypted part."""
        return [
            f"From: {self.researcher.name} <{self.researcher.address}>",
            f"To: {self.bridge_address}",
            f"Subject: {_encode_header(subject)}",
        ]

    def autocrypt_header(self) -> tuple[str, str]:
        """An Autocrypt header carrying the researcher's key (binary, base64, folded)."""
        key = export_public_key(self.researcher.gnupghome, self.researcher.fingerprint, armor=False)
        encoded = base64.b64encode(key).decode("ascii")
        folded = "\r\n ".join(encoded[i : i + 72] for i in range(0, len(encoded), 72))
        return (
            "Autocrypt",
            f"addr={self.researcher.address}; prefer-encrypt=mutual; keydata=\r\n {folded}",
        )

    # ------------------------------------------------------------------ client shapes

    def thunderbird(self, subject: str, body: str) -> Shape:
        """Thunderbird 78+ built-in OpenPGP: protected headers, combined sign+encrypt."""
        inner = self.multipart(
            "mixed",
            [self.text_part(body, params="; format=flowed")],
            params='; protected-headers="v1"',
            headers=self.protected_headers(subject),
        )
        raw = self.pgp_mime(
            "...",
            inner,
            extra_headers=[self.autocrypt_header()],
            filename="encrypted.asc",
            description=True,
        )
        return Shape("thunderbird", raw, subject, body, True, keys=(self.researcher.fingerprint,))

    def enigmail(self, subject: str, body: str) -> Shape:
        """Enigmail: protected headers with a text/rfc822-headers legacy-display part."""
        legacy = (
            'Content-Type: text/rfc822-headers; protected-headers="v1"\r\n'
            "Content-Disposition: inline\r\n\r\n"
            f"Subject: {_encode_header(subject)}\r\n"
        ).encode()
        inner = self.multipart(
            "mixed",
            [legacy, self.text_part(body)],
            params='; protected-headers="v1"',
            headers=self.protected_headers(subject),
        )
        raw = self.pgp_mime("...", inner, filename="encrypted.asc", description=True)
        return Shape("enigmail", raw, subject, body, True)

    def kmail(self, subject: str, body: str) -> Shape:
        """KMail: combined sign+encrypt, inner text/plain quoted-printable, real outer subject."""
        inner = self.text_part(body, charset="utf-8", encoding="quoted-printable")
        raw = self.pgp_mime(subject, inner)
        return Shape("kmail", raw, subject, body, True)

    def mutt(self, subject: str, body: str) -> Shape:
        """Mutt: protected headers on the inner text/plain itself, outer subject ``...``."""
        inner = self.text_part(
            body,
            encoding="8bit",
            params="; protected-headers=v1",
            headers=["Content-Disposition: inline", *self.protected_headers(subject)],
        )
        raw = self.pgp_mime("...", inner)
        return Shape("mutt", raw, subject, body, True)

    def apple_mail(self, subject: str, body: str) -> Shape:
        """Apple Mail with GPG Suite: signed-then-encrypted (multipart/signed inside)."""
        signed_part = self.text_part(body, encoding="quoted-printable")
        signature = self.detached_signature(signed_part)
        boundary = self._boundary("signed")
        inner = (
            f'Content-Type: multipart/signed; boundary="{boundary}"; '
            f'protocol="application/pgp-signature"; micalg=pgp-sha256{CRLF}{CRLF}'
            f"--{boundary}{CRLF}"
        ).encode("ascii")
        inner += signed_part + CRLF.encode()
        inner += (
            f"--{boundary}{CRLF}"
            f'Content-Type: application/pgp-signature; name="signature.asc"{CRLF}'
            f'Content-Disposition: attachment; filename="signature.asc"{CRLF}'
            f"Content-Description: Message signed with OpenPGP{CRLF}{CRLF}"
        ).encode("ascii")
        inner += signature.replace(b"\n", b"\r\n") + f"{CRLF}--{boundary}--{CRLF}".encode()
        raw = self.pgp_mime(subject, inner, sign=False, filename="encrypted.asc", description=True)
        return Shape("apple_mail", raw, subject, body, True)

    def outlook_gpgol(self, subject: str, body: str) -> Shape:
        """Outlook/GpgOL after Exchange: empty text, pgp-encrypted control, octet-stream data."""
        html_body = "<html><body><p>" + body.replace("\n", "<br>") + "</p></body></html>"
        inner = self.multipart(
            "alternative",
            [
                self.text_part(body),
                (
                    'Content-Type: text/html; charset="utf-8"\r\n'
                    "Content-Transfer-Encoding: 8bit\r\n\r\n"
                ).encode("ascii")
                + html_body.encode("utf-8"),
            ],
        )
        cipher = self.encrypt(inner, sign=True)
        empty = b'Content-Type: text/plain; charset="us-ascii"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
        control = (
            b'Content-Type: application/pgp-encrypted; name="PGPMIME Versions Identification"\r\n'
            b'Content-Disposition: attachment; filename="PGPMIME Versions Identification"\r\n'
            b"Content-Transfer-Encoding: 7bit\r\n\r\nVersion: 1\r\n"
        )
        data = (
            b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n'
            b'Content-Disposition: attachment; filename="encrypted.asc"\r\n'
            b"Content-Transfer-Encoding: 7bit\r\n\r\n" + cipher.replace(b"\n", b"\r\n")
        )
        entity = self.multipart("mixed", [empty, control, data])
        head_end = entity.index(b"\r\n\r\n")
        content_type = entity[:head_end].decode("ascii").split(": ", 1)[1]
        raw = self.headers(subject, content_type=content_type).encode("utf-8")
        raw += entity[head_end + 4 :]
        return Shape("outlook_gpgol", raw, subject, body, True)

    def mailvelope(self, subject: str, body: str, attachment: bytes = b"") -> Shape:
        """Mailvelope: encrypted only, inner multipart/mixed (with an attachment if given)."""
        parts = [self.text_part(body)]
        names: tuple[str, ...] = ()
        if attachment:
            parts.append(self.binary_part("poc.py", "text/x-python", attachment))
            names = ("poc.py",)
        inner = self.multipart("mixed", parts)
        raw = self.pgp_mime(subject, inner, sign=False, filename="encrypted.asc")
        return Shape("mailvelope", raw, subject, body, False, attachments=names)

    def mailvelope_inline_html(self, subject: str, body: str) -> Shape:
        """Mailvelope in webmail: armour pasted into HTML, spaces as &nbsp;, lines as <br>."""
        armour = self.encrypt(body.encode("utf-8")).decode("ascii")
        lines = armour.strip().split("\n")
        html_lines = [line.replace(" ", "&nbsp;") for line in lines]
        markup = "<html><body><div>" + "<br>\r\n".join(html_lines) + "<br></div></body></html>"
        part = (
            'Content-Type: text/html; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode("ascii") + quopri.encodestring(markup.encode("utf-8"))
        entity = self.multipart(
            "alternative",
            [self.text_part(armour.replace("\n", "\r\n"), encoding="7bit"), part],
        )
        return Shape("mailvelope_inline_html", self._wrap(subject, entity), subject, body, False)

    def protonmail(self, subject: str, body: str) -> Shape:
        """ProtonMail to external PGP: sign+encrypt, HTML alternative, public key attached."""
        html_body = "<div>" + body.replace("\n", "<br>") + "</div>"
        alternative = self.multipart(
            "alternative",
            [
                self.text_part(body),
                b'Content-Type: text/html; charset="utf-8"\r\n'
                b"Content-Transfer-Encoding: base64\r\n\r\n"
                + base64.encodebytes(html_body.encode("utf-8")).replace(b"\n", b"\r\n"),
            ],
        )
        key_name = (
            f"publickey - {self.researcher.address} - 0x{self.researcher.fingerprint[-8:]}.asc"
        )
        inner = self.multipart(
            "mixed",
            [alternative, self.binary_part(key_name, "application/pgp-keys", self.public_key())],
        )
        raw = self.pgp_mime(subject, inner, filename="encrypted.asc")
        return Shape(
            "protonmail",
            raw,
            subject,
            body,
            True,
            attachments=(key_name,),
            keys=(self.researcher.fingerprint,),
        )

    def k9(self, subject: str, body: str) -> Shape:
        """K-9 Mail / FairEmail: Autocrypt header, protected headers, combined sign+encrypt."""
        inner = self.multipart(
            "mixed",
            [self.text_part(body)],
            params='; protected-headers="v1"',
            headers=self.protected_headers(subject),
        )
        raw = self.pgp_mime("...", inner, extra_headers=[self.autocrypt_header()])
        return Shape("k9", raw, subject, body, True, keys=(self.researcher.fingerprint,))

    # ------------------------------------------------------------------ inline shapes

    def _wrap(self, subject: str, entity: bytes, extra: Sequence[tuple[str, str]] = ()) -> bytes:
        """Outer headers around an entity that starts with its own Content-* headers."""
        head_end = entity.index(b"\r\n\r\n")
        entity_headers = entity[:head_end].decode("ascii").split("\r\n")
        content_type = entity_headers[0].split(": ", 1)[1]
        other = [tuple(h.split(": ", 1)) for h in entity_headers[1:]]
        raw = self.headers(
            subject,
            content_type=content_type,
            extra=[*extra, *other],  # type: ignore[list-item]
        ).encode("utf-8")
        return raw + entity[head_end + 4 :]

    def inline(self, subject: str, body: str, *, damage: str = "none") -> Shape:
        """Inline PGP in text/plain; ``damage``: none, qp, crlf (CRLF and trailing blanks)."""
        armour = self.encrypt(body.encode("utf-8"), sign=True).decode("ascii")
        if damage == "crlf":
            armour = "\r\n".join(line + "  " for line in armour.split("\n"))
            part = self.text_part(armour, charset="us-ascii", encoding="7bit")
        elif damage == "qp":
            part = self.text_part("\n" + armour + "\n", encoding="quoted-printable")
        else:
            part = self.text_part(armour, charset="us-ascii", encoding="7bit")
        return Shape(f"inline_{damage}", self._wrap(subject, part), subject, body, True)

    def inline_with_encrypted_attachment(self, subject: str, body: str, attachment: bytes) -> Shape:
        """Enigmail inline mode: armoured text plus a separately encrypted ``*.pgp`` file."""
        armour = self.encrypt(body.encode("utf-8"), sign=True).decode("ascii")
        file_cipher = self.encrypt(attachment)
        entity = self.multipart(
            "mixed",
            [
                self.text_part(armour, charset="us-ascii", encoding="7bit"),
                self.binary_part("crash.log.pgp", "application/octet-stream", file_cipher),
            ],
        )
        return Shape(
            "inline_attachment",
            self._wrap(subject, entity),
            subject,
            body,
            True,
            attachments=("crash.log",),
        )

    # ------------------------------------------------------------------ OpenPGP.js, Enigmail

    def openpgpjs_encrypt(
        self, data: bytes, *, sign: bool = False, unpadded: bool = True, compression: str = "none"
    ) -> bytes:
        """Ciphertext armoured the way OpenPGP.js v6 writes it (Mailvelope, Proton web, FlowCrypt).

        OpenPGP.js v6 ``armor()``: ``-----BEGIN PGP MESSAGE-----``, no Version or Comment header
        (both off by default), the blank line, base64 in 60-character lines (45 bytes each),
        no CRC24 line (RFC 9580 section 6.1), the END line, LF line ends. It encrypts to the
        sender's own key too and does not compress by default (``compression`` ``zlib`` plays
        a client configured to compress). ``unpadded`` picks a message
        whose base64 ends without ``=`` padding: the case gpg 2.2 misreads (GnuPG T7071).
        """
        binary = b""
        for attempt in range(12):
            args = ["--trust-model", "always", "--compress-algo", compression]
            args += self.encrypt_options
            if attempt:
                # The literal packet's file name only shifts the length; it is never shown.
                args += ["--set-filename", "m" * attempt]
            args += ["--encrypt", "--recipient", self.bridge_fingerprint]
            args += ["--recipient", self.researcher.fingerprint]
            if sign:
                args += ["--sign", "--local-user", self.researcher.fingerprint]
            binary = gpg_command(
                self.researcher.gnupghome, *args, stdin=data, passphrase=self.researcher.passphrase
            ).stdout
            if not unpadded or len(binary) % 3 == 0:
                break
        return openpgpjs_armour(binary)

    def openpgpjs_pgp_mime(self, subject: str, body: str, *, client: str = "mailvelope") -> Shape:
        """Mailvelope (v6) / Proton web PGP/MIME: inner multipart/mixed, OpenPGP.js armour."""
        inner = self.multipart("mixed", [self.text_part(body)])
        cipher = self.openpgpjs_encrypt(inner, sign=client != "mailvelope")
        raw = self.pgp_mime(subject, b"", ciphertext=cipher, filename="encrypted.asc")
        return Shape(f"{client}_v6_pgp_mime", raw, subject, body, client != "mailvelope")

    def openpgpjs_inline(self, subject: str, body: str, *, client: str = "flowcrypt") -> Shape:
        """FlowCrypt / Mailvelope-in-webmail inline: OpenPGP.js armour as the text/plain body."""
        armour = self.openpgpjs_encrypt(body.encode("utf-8"), sign=True).decode("ascii")
        part = self.text_part(armour, charset="utf-8", encoding="7bit")
        return Shape(f"{client}_v6_inline", self._wrap(subject, part), subject, body, True)

    def enigmail_inline_armour(self, body: str, *, charset: str = "iso-8859-1") -> str:
        """Thunderbird + Enigmail inline PGP armour of ``body``.

        Enigmail converts the text to the message charset, ends lines with CRLF and runs
        ``gpg --textmode --armor --sign --encrypt`` (a text-mode literal packet, whose announced
        length counts each CR); its armour carries a Version and an Enigmail Comment header.
        """
        data = body.replace("\r\n", "\n").replace("\n", "\r\n").encode(charset)
        return self.encrypt(
            data,
            sign=True,
            extra=[
                "--textmode",
                "--emit-version",
                "--comment",
                "Using GnuPG with Thunderbird - https://www.enigmail.net/",
            ],
        ).decode("ascii")

    def enigmail_inline(self, subject: str, body: str, *, charset: str = "iso-8859-1") -> Shape:
        """Thunderbird + Enigmail, inline PGP: text-mode armour in a text/plain part."""
        armour = self.enigmail_inline_armour(body, charset=charset)
        part = self.text_part(armour.replace("\n", "\r\n"), charset=charset, encoding="7bit")
        return Shape("enigmail_inline", self._wrap(subject, part), subject, body, True)

    # ------------------------------------------------------------------ text around blocks

    def inline_with_text(
        self,
        subject: str,
        bodies: Sequence[str],
        *,
        before: str = "",
        between: str = "\n",
        after: str = "",
        recipients: Sequence[str] | None = None,
        list_style: str | None = None,
    ) -> Shape:
        """Inline armour with unencrypted text around it in the same text/plain part.

        ``bodies`` become one armoured block each (signed, as Enigmail and FlowCrypt sign).
        ``list_style`` ``mailman3`` or ``google_groups`` then decorates the message the way
        that list server does for a single text/plain message: the footer appended to the
        same part, and the list headers added.
        """
        armours = [
            self.encrypt(b.encode("utf-8"), sign=True, recipients=recipients).decode("ascii")
            for b in bodies
        ]
        text = before + between.join(armours) + after
        headers: list[tuple[str, str]] = []
        if list_style is not None:
            text, headers = self.list_decoration(text, list_style)
        part = self.text_part(text, charset="us-ascii", encoding="7bit")
        return Shape(
            f"inline_text_{list_style or 'around'}",
            self._wrap(subject, part, headers),
            subject,
            "\n\n".join(b.strip() for b in bodies),
            True,
        )

    def list_decoration(self, text: str, style: str) -> tuple[str, list[tuple[str, str]]]:
        """The part text after the list server appended its footer, and the headers it adds.

        Mailman 3 (``decorate`` handler, default ``list:member:regular:footer`` template):
        footer appended inline to a single text/plain part after a line break. Google Groups:
        the ``-- `` footer naming the group, the unsubscribe address and the discussion URL.
        """
        local, domain = self.bridge_address.split("@", 1)
        list_id = f"<{local}.{domain}>"
        body = text if text.endswith("\n") else text + "\n"
        if style == "mailman3":
            footer = (
                "_______________________________________________\n"
                f"Security mailing list -- {self.bridge_address}\n"
                f"To unsubscribe send an email to {local}-leave@{domain}\n"
            )
            headers = [
                ("List-Id", f"Security <{local}.{domain}>"),
                ("List-Help", f"<mailto:{local}-request@{domain}?subject=help>"),
                ("List-Post", f"<mailto:{self.bridge_address}>"),
                ("List-Subscribe", f"<mailto:{local}-join@{domain}>"),
                ("List-Unsubscribe", f"<mailto:{local}-leave@{domain}>"),
            ]
            return body + footer, headers
        if style == "google_groups":
            footer = (
                "\n-- \n"
                'You received this message because you are subscribed to the Google Groups "'
                'Security" group.\n'
                "To unsubscribe from this group and stop receiving emails from it, send an "
                f"email to {local}+unsubscribe@{domain}.\n"
                f"To view this discussion visit https://groups.google.com/a/{domain}/d/msgid/"
                f"{local}/shape-{self._counter[0]}%40example.\n"
            )
            headers = [
                ("Mailing-list", f"list {self.bridge_address}; contact {local}+owners@{domain}"),
                ("List-Id", list_id),
                ("X-Original-Sender", self.researcher.address),
                ("Precedence", "list"),
                (
                    "List-Unsubscribe",
                    (
                        f"<mailto:googlegroups-manage+1234567890+unsubscribe@googlegroups.com>,"
                        f" <https://groups.google.com/a/{domain}/group/{local}/subscribe>"
                    ),
                ),
            ]
            return body + footer, headers
        msg = f"unknown list style {style!r}: mailman3 or google_groups"
        raise ValueError(msg)

    # ------------------------------------------------------------------ charsets and plain

    def charset_shape(self, subject: str, body: str, *, kind: str) -> Shape:
        """PGP/MIME with a Latin-1, wrongly declared (ascii label, UTF-8 bytes) or bogus charset."""
        if kind == "latin1":
            inner = self.text_part(body, charset="iso-8859-1", encoding="8bit")
        elif kind == "wrong":
            inner = self.text_part(
                body, charset="us-ascii", encoding="8bit", raw_bytes=body.encode("utf-8")
            )
        else:
            inner = self.text_part(
                body, charset="x-broken-charset", encoding="8bit", raw_bytes=body.encode("utf-8")
            )
        return Shape(f"charset_{kind}", self.pgp_mime(subject, inner), subject, body, True)

    def plaintext(
        self,
        subject: str,
        body: str,
        *,
        charset: str = "utf-8",
        attach_key: bool = False,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> Shape:
        """An unencrypted report, optionally with the researcher's key attached."""
        text = self.text_part(body, charset=charset, encoding="quoted-printable")
        keys: tuple[str, ...] = ()
        if attach_key:
            entity = self.multipart(
                "mixed",
                [text, self.binary_part("0xKEY.asc", "application/pgp-keys", self.public_key())],
            )
            keys = (self.researcher.fingerprint,)
        else:
            entity = text
        return Shape(
            "plaintext",
            self._wrap(subject, entity, extra_headers),
            subject,
            body,
            False,
            attachments=("0xKEY.asc",) if attach_key else (),
            keys=keys,
        )

    def all_client_shapes(self, subject: str, body: str) -> list[Shape]:
        """Every client shape for one subject and body (what the reader must all decrypt)."""
        return [
            self.thunderbird(subject, body),
            self.enigmail(subject, body),
            self.kmail(subject, body),
            self.mutt(subject, body),
            self.apple_mail(subject, body),
            self.outlook_gpgol(subject, body),
            self.mailvelope(subject, body),
            self.mailvelope_inline_html(subject, body),
            self.protonmail(subject, body),
            self.k9(subject, body),
            self.inline(subject, body),
            self.inline(subject, body, damage="qp"),
            self.inline(subject, body, damage="crlf"),
        ]


CLIENT_SHAPES = (
    "thunderbird",
    "enigmail",
    "kmail",
    "mutt",
    "apple_mail",
    "outlook_gpgol",
    "mailvelope",
    "mailvelope_inline_html",
    "protonmail",
    "k9",
    "inline_none",
    "inline_qp",
    "inline_crlf",
)


def openpgpjs_armour(binary: bytes) -> bytes:
    """Armour ``binary`` as OpenPGP.js v6 does: no headers, 60-character lines, no CRC line."""
    encoded = base64.b64encode(binary).decode("ascii")
    lines = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
    text = "-----BEGIN PGP MESSAGE-----\n\n" + "\n".join(lines) + "\n-----END PGP MESSAGE-----\n"
    return text.encode("ascii")


def _encode_header(value: str) -> str:
    """RFC 2047 encoded words for non-ASCII header text, as mail clients send it."""
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")

"""Opens mail from the bridge the way a researcher's client does: decrypt, verify, read."""

from __future__ import annotations

import email
import re
import tempfile
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path

import gnupg


@dataclass(frozen=True)
class ResearcherView:
    """What the researcher sees: the real subject and text, and whether it was protected."""

    outer_subject: str
    subject: str
    body: str
    encrypted: bool
    signature_valid: bool
    signer: str | None
    headers: dict[str, str]


def _text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                return payload.decode(charset, errors="replace")
    return ""


def _decoded(part: object) -> bytes:
    if not isinstance(part, Message):
        return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _first_part_bytes(raw: bytes, boundary: str) -> bytes:
    # The signed part exactly as transmitted: between the first two boundary lines, CRLF kept.
    marker = b"--" + boundary.encode()
    pieces = raw.split(marker)
    part = pieces[1]
    part = part[2:] if part.startswith(b"\r\n") else part[1:] if part.startswith(b"\n") else part
    return part[:-2] if part.endswith(b"\r\n") else part[:-1] if part.endswith(b"\n") else part


def read_as_researcher(gnupghome: str, raw: bytes, passphrase: str | None = None) -> ResearcherView:
    """Decrypt (PGP/MIME) or verify (multipart/signed) ``raw`` with the researcher's keyring."""
    gpg = gnupg.GPG(gnupghome=gnupghome, options=["--pinentry-mode", "loopback"])
    outer: EmailMessage = email.message_from_bytes(raw, policy=policy.default)
    headers = {name: str(value) for name, value in outer.items()}
    outer_subject = str(outer.get("Subject", ""))
    parts = outer.get_payload() if outer.is_multipart() else []
    if outer.get_content_type() == "multipart/encrypted" and isinstance(parts, list):
        ciphertext = _decoded(parts[1])
        result = gpg.decrypt(ciphertext, passphrase=passphrase)
        inner = email.message_from_bytes(result.data, policy=policy.default)
        return ResearcherView(
            outer_subject=outer_subject,
            subject=str(inner.get("Subject", outer_subject)),
            body=_text_of(inner),
            encrypted=bool(result.ok) or bool(result.data),
            signature_valid=bool(result.valid),
            signer=result.fingerprint,
            headers=headers,
        )
    if outer.get_content_type() == "multipart/signed" and isinstance(parts, list):
        boundary = outer.get_boundary() or ""
        signed = _first_part_bytes(raw, boundary)
        signature = _decoded(parts[1])
        with tempfile.TemporaryDirectory(prefix="tbv", dir="/tmp") as scratch:
            signature_file = Path(scratch, "signature.asc")
            signature_file.write_bytes(signature)
            verified = gpg.verify_data(str(signature_file), signed)
        inner = email.message_from_bytes(signed, policy=policy.default)
        return ResearcherView(
            outer_subject=outer_subject,
            subject=outer_subject,
            body=_text_of(inner),
            encrypted=False,
            signature_valid=bool(verified.valid),
            signer=verified.fingerprint,
            headers=headers,
        )
    return ResearcherView(
        outer_subject, outer_subject, _text_of(outer), False, False, None, headers
    )


def compact(text: str) -> str:
    """Text with runs of blank lines folded, for printing."""
    return re.sub(r"\n{3,}", "\n\n", text).strip()

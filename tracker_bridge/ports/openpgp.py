"""The OpenPGP boundary: decrypt, verify, encrypt and sign with the bridge key (RFC 4880, gpg)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class SignatureStatus(StrEnum):
    """What a signature check concluded."""

    VALID = "valid"
    BAD = "bad"
    UNKNOWN_KEY = "unknown_key"
    NONE = "none"


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on a signature and who made it (primary key fingerprint when known)."""

    status: SignatureStatus
    fingerprint: str | None = None


@dataclass(frozen=True)
class Decryption:
    """A decryption gpg vouched for: integrity-protected, complete, within the size limit."""

    plaintext: bytes
    signature: SignatureCheck
    # Set when a bridge secret key other than the configured one decrypted (a rotated,
    # expired or revoked key a researcher still uses): its primary fingerprint and state.
    older_key: str | None = None


class OpenPGP(Protocol):
    """The bridge's OpenPGP operations (real gpg through python-gnupg in production)."""

    def decrypt(self, ciphertext: bytes) -> Decryption:
        """Decrypt and verify, or raise QuarantineError naming the reason (no partial output)."""
        ...

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        """Check a detached signature over ``signed``."""
        ...

    def encrypt_and_sign(self, plaintext: bytes, recipient_fingerprints: Sequence[str]) -> bytes:
        """Armoured ciphertext for the recipients (and the bridge), signed by the bridge key."""
        ...

    def sign_detached(self, data: bytes) -> bytes:
        """An armoured detached signature by the bridge key."""
        ...

    def encrypt_to_self(self, plaintext: bytes) -> bytes:
        """Ciphertext only the bridge key opens (how unencrypted mail is kept at rest)."""
        ...

    def decrypt_own(self, ciphertext: bytes) -> bytes:
        """Open what ``encrypt_to_self`` produced."""
        ...

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        """Import only the uid that matches ``address``; its fingerprint, or None if no match."""
        ...

    def has_key(self, fingerprint: str) -> bool:
        """Whether a public key with this fingerprint is in the keyring."""
        ...

    def delete_public_key(self, fingerprint: str) -> bool:
        """Remove a researcher's public key from the keyring; whether one was removed."""
        ...

    @property
    def bridge_fingerprint(self) -> str:
        """The fingerprint of the bridge's own signing and encryption key."""
        ...

"""The OpenPGP boundary: decrypt, verify, encrypt and sign with the bridge key (RFC 4880, gpg)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence


class SignatureStatus(StrEnum):
    """What a signature check concluded."""

    VALID = "valid"
    BAD = "bad"
    UNKNOWN_KEY = "unknown_key"
    NONE = "none"


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on a signature and who made it.

    ``fingerprint`` is the signer's primary key fingerprint (40 upper-case hex digits for v4
    keys) when gpg knows the key, else None.
    """

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
        """Decrypt and verify ``ciphertext`` (armoured or binary OpenPGP, RFC 4880).

        Raises:
            QuarantineError: not decryptable, not integrity-protected, over the size limit
                (bytes) or gpg over its time limit (seconds); the message names the reason and
                nothing of the plaintext is returned.
        """
        ...

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        """Check a detached signature over ``signed`` (the bytes of a PGP/MIME part, RFC 3156).

        Raises:
            QuarantineError: gpg over its time limit (seconds).
        """
        ...

    def encrypt_and_sign(self, plaintext: bytes, recipient_fingerprints: Sequence[str]) -> bytes:
        """Armoured ciphertext for the recipients (and the bridge), signed by the bridge key.

        Raises:
            SkippableError: a recipient's key is unusable (expired, revoked); this mail only.
            FatalError: the bridge key cannot sign (passphrase, expiry).
            RetriableError: gpg over its time limit (seconds), e.g. on a key that makes it hang.
        """
        ...

    def sign_detached(self, data: bytes) -> bytes:
        """An armoured detached signature by the bridge key.

        Raises:
            FatalError: the bridge key cannot sign (passphrase, expiry).
            RetriableError: gpg over its time limit (seconds).
        """
        ...

    def encrypt_to_self(self, plaintext: bytes) -> bytes:
        """Ciphertext only the bridge key opens (how unencrypted mail is kept at rest).

        Raises:
            FatalError: gpg could not encrypt to the bridge key.
            RetriableError: gpg over its time limit (seconds).
        """
        ...

    def decrypt_own(self, ciphertext: bytes) -> bytes:
        """Open what ``encrypt_to_self`` produced.

        Raises:
            FatalError: the stored data does not open with the bridge key.
        """
        ...

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        """Import only the uid that matches ``address``; its fingerprint, or None if no match.

        Raises:
            SkippableError: gpg failed while examining the key (this key only).
        """
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

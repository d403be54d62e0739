"""The bridge signs with its configured key only, never with another secret key it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.keys import (
    generate_key,
    make_gnupghome,
    remove_gnupghome,
    revoke_key,
)
from tracker_bridge.errors import FatalError
from tracker_bridge.openpgp import GnuPG

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def revoked_bridge_beside_another_key() -> Iterator[tuple[str, str]]:
    """A home whose configured bridge key is revoked and that holds a second, usable secret key."""
    home = make_gnupghome("tbv")
    try:
        generate_key(home, "Another Key", "other@example.org")
        bridge = generate_key(home, "Example CVD Bridge", "security@example.org")
        revoke_key(home, bridge.fingerprint)
        yield home, bridge.fingerprint
    finally:
        remove_gnupghome(home)


@pytest.mark.parametrize("operation", ["sign_detached", "clearsign"])
def test_an_unusable_bridge_key_fails_instead_of_signing_with_another_key(
    revoked_bridge_beside_another_key: tuple[str, str], operation: str
) -> None:
    """A revoked bridge key makes signing a FatalError; gpg does not sign with the other key."""
    home, fingerprint = revoked_bridge_beside_another_key
    openpgp = GnuPG(home, bridge_fingerprint=fingerprint)
    with pytest.raises(FatalError, match=f"bridge key {fingerprint} could not sign"):
        getattr(openpgp, operation)(b"Contact: mailto:security@example.org\n")

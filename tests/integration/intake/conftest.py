"""Session keys for the intake tests: the bridge key and two researchers, made once with real gpg."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.dovecot import start_dovecot
from tracker_bridge._testsupport.keys import (
    TestKey,
    export_public_key,
    generate_key,
    import_key,
    make_gnupghome,
    remove_gnupghome,
)
from tracker_bridge.demo.mail_shapes import MailShapes
from tracker_bridge.openpgp import GnuPG

if TYPE_CHECKING:
    from collections.abc import Iterator

BRIDGE_PASSPHRASE = "bridge-test-passphrase"


@dataclass(frozen=True)
class IntakeKeys:
    """The session's keys: the bridge, a researcher it knows, one it does not, a stranger."""

    bridge: TestKey
    rita: TestKey
    sam: TestKey
    stranger: TestKey


@pytest.fixture(scope="session")
def intake_keys() -> Iterator[IntakeKeys]:
    """Generate the bridge key and researcher keys once per session (fast curves)."""
    homes = [make_gnupghome() for _ in range(4)]
    bridge = generate_key(homes[0], "CVD Bridge", "security@vendor.example", BRIDGE_PASSPHRASE)
    rita = generate_key(homes[1], "Rita Researcher", "rita@research.example")
    sam = generate_key(homes[2], "Sam Finder", "sam@finder.example")
    stranger = generate_key(homes[3], "Stranger", "stranger@elsewhere.example")
    bridge_public = export_public_key(bridge.gnupghome, bridge.fingerprint)
    for researcher in (rita, sam):
        import_key(researcher.gnupghome, bridge_public)
        import_key(
            researcher.gnupghome, export_public_key(stranger.gnupghome, stranger.fingerprint)
        )
    # The bridge already knows Rita (she reported before); Sam is new to it.
    import_key(bridge.gnupghome, export_public_key(rita.gnupghome, rita.fingerprint))
    yield IntakeKeys(bridge, rita, sam, stranger)
    for home in homes:
        remove_gnupghome(home)


@pytest.fixture
def gnupg(intake_keys: IntakeKeys) -> GnuPG:
    """The OpenPGP adapter over the session's bridge home."""
    return GnuPG(intake_keys.bridge.gnupghome, BRIDGE_PASSPHRASE)


@pytest.fixture
def rita_mail(intake_keys: IntakeKeys) -> MailShapes:
    """Messages from Rita, whose key the bridge knows."""
    return MailShapes(intake_keys.rita, intake_keys.bridge.fingerprint)


@pytest.fixture
def sam_mail(intake_keys: IntakeKeys) -> MailShapes:
    """Messages from Sam, whose key the bridge does not know."""
    return MailShapes(intake_keys.sam, intake_keys.bridge.fingerprint)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[object]:
    """A real Dovecot on a free loopback port for the whole session (skips when missing)."""
    yield from start_dovecot()

"""Fuzz with real gpg: a damaged PGP/MIME message decrypts to the original or is quarantined."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker_bridge.intake.reader import MailReader
from tracker_bridge.ports.intake import Verdict

if TYPE_CHECKING:
    from tracker_bridge.demo.mail_shapes import MailShapes
    from tracker_bridge.openpgp import GnuPG

BODY = "original report text\n"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_damaged_ciphertext_never_yields_other_plaintext(
    rita_mail: MailShapes, gnupg: GnuPG, damage: list[tuple[float, int]]
) -> None:
    """Byte damage anywhere gives the original body or quarantine, never something else."""
    raw = bytearray(rita_mail.kmail("Fuzz", BODY).raw)
    for where, value in damage:
        raw[int(where * (len(raw) - 1))] = value
    message = MailReader(gnupg, learn_keys=False).read(bytes(raw))
    assert message.verdict in set(Verdict)
    if message.decrypted:
        assert BODY.strip() == message.body.strip()

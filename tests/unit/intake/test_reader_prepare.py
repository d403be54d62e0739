"""MailReader.prepare: everything before gpg now, the rest on the call it returns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tracker_bridge._testsupport.fakes import FakeOpenPGP
from tracker_bridge.errors import QuarantineError
from tracker_bridge.intake.reader import MailReader
from tracker_bridge.ports.intake import Verdict
from tracker_bridge.ports.openpgp import Decryption, SignatureCheck, SignatureStatus

HEADERS = (
    "From: Rita <rita@research.example>\r\nTo: security@vendor.example\r\nSubject: Bug\r\n"
    "Message-ID: <m1@research.example>\r\nAutocrypt: addr=rita@research.example; keydata=AAAA\r\n"
    "MIME-Version: 1.0\r\n"
)
ARMOUR = "-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA1234\r\n=abcd\r\n-----END PGP MESSAGE-----\r\n"
PGP_MIME = (
    HEADERS + 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
    'boundary="b"\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n'
    "\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n" + ARMOUR + "\r\n--b--\r\n"
).encode()
# RFC 3156 wants two parts; a third makes looking for the encrypted unit fail.
THREE_PARTS = PGP_MIME.replace(b"--b--", b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--")


class RecordingOpenPGP(FakeOpenPGP):
    """Decrypts ARMOUR to a short text and records every operation the reader asks of it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def decrypt(self, ciphertext: bytes) -> Decryption:
        """A short plaintext for ARMOUR, refused for anything else."""
        self.calls.append("decrypt")
        if b"hQEMA1234" not in ciphertext:
            msg = "fake: not decryptable"
            raise QuarantineError(msg)
        plaintext = b"Content-Type: text/plain\r\n\r\nSQL injection in /search\r\n"
        return Decryption(plaintext, SignatureCheck(SignatureStatus.VALID, "A" * 40))

    def verify_detached(self, signed: bytes, signature: bytes) -> SignatureCheck:
        """Unknown key, recorded."""
        self.calls.append("verify_detached")
        return SignatureCheck(SignatureStatus.UNKNOWN_KEY)

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        """One fixed fingerprint, recorded."""
        self.calls.append("learn_key")
        return "C" * 40


def test_prepare_asks_nothing_of_gpg_and_its_call_does_the_rest() -> None:
    """`prepare` runs no OpenPGP operation; its call learns the announced key once, decrypts."""
    openpgp = RecordingOpenPGP()
    finish = MailReader(openpgp).prepare(PGP_MIME)
    before = list(openpgp.calls)
    message = finish()
    # The Autocrypt key is learned before decrypting and not offered again afterwards.
    assert (
        [],
        ["learn_key", "decrypt"],
        Verdict.REPORT,
        "SQL injection in /search",
    ) == (
        before,
        openpgp.calls,
        message.verdict,
        message.body,
    )


def test_prepared_in_one_thread_and_finished_in_another_reads_as_read_does() -> None:
    """The message prepared here and finished on a worker thread equals read's message."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        finished = pool.submit(MailReader(RecordingOpenPGP()).prepare(PGP_MIME)).result()
    assert MailReader(RecordingOpenPGP()).read(PGP_MIME) == finished


def test_a_broken_unit_is_quarantined_after_the_announced_key_is_learned() -> None:
    """A multipart/encrypted of three parts: the Autocrypt key is learned, then quarantine."""
    openpgp = RecordingOpenPGP()
    finish = MailReader(openpgp).prepare(THREE_PARTS)
    before = list(openpgp.calls)
    message = finish()
    assert (
        [],
        ["learn_key"],
        Verdict.QUARANTINE,
        "multipart/encrypted does not have the two parts RFC 3156 requires",
    ) == (before, openpgp.calls, message.verdict, message.reason)


def test_an_early_verdict_is_decided_by_prepare_alone() -> None:
    """Mail without a From mailbox is quarantined by prepare; its call only returns that."""
    openpgp = RecordingOpenPGP()
    raw = PGP_MIME.replace(b"From: Rita <rita@research.example>\r\n", b"")
    message = MailReader(openpgp).prepare(raw)()
    assert ([], Verdict.QUARANTINE, "message has 0 From fields, not exactly one") == (
        openpgp.calls,
        message.verdict,
        message.reason,
    )

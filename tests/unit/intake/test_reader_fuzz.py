"""Fuzz: malformed MIME and armour never raise out of MailReader.read; every input gets a verdict."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker_bridge.intake.reader import MailReader, ReaderLimits
from tracker_bridge.ports.intake import InboundMessage, Verdict

FRAGMENTS = [
    b"From: a@b.example\r\n",
    b"From: \xff\xfe <>\r\n",
    b"Subject: =?utf-8?B?////?=\r\n",
    b"Subject: =?x-unknown?Q?caf=E9?=\r\n",
    b"Message-ID: <\r\n",
    b"MIME-Version: 1.0\r\n",
    b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n',
    b'Content-Type: multipart/mixed; boundary="b"\r\n',
    b'Content-Type: multipart/signed; boundary="b"; protocol="application/pgp-signature"\r\n',
    b'Content-Type: multipart/alternative; boundary=""\r\n',
    b"Content-Type: text/plain; charset=x-broken\r\n",
    b"Content-Type: text/html; charset=utf-16\r\n",
    b"Content-Type: application/pgp-keys\r\n",
    b"Content-Type: application/pgp-encrypted\r\n",
    b"Content-Type: application/octet-stream\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Autocrypt: addr=a@b.example; keydata=AAAA====\r\n",
    b"\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b"Version: 1\r\n",
    b"-----BEGIN PGP MESSAGE-----\r\n",
    b"-----END PGP MESSAGE-----\r\n",
    b"hQEMA1234+/==\r\n",
    b"=AbCd\r\n",
    b"&nbsp;<br><div>",
    b"=3D=E9=\r\n",
    b"\x00\x80\xff",
]


class RefusingOpenPGP:
    """An adapter that refuses every decryption (as gpg would for fuzz input)."""

    def decrypt(self, ciphertext: bytes) -> object:
        from tracker_bridge.errors import QuarantineError

        msg = "refused"
        raise QuarantineError(msg)

    def verify_detached(self, signed: bytes, signature: bytes) -> object:
        from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus

        return SignatureCheck(SignatureStatus.BAD)

    def learn_key(self, key_data: bytes, address: str) -> str | None:
        return None


messages = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=40), max_size=60).map(b"".join),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(messages)
def test_malformed_mail_always_ends_in_a_verdict(raw: bytes) -> None:
    """No exception escapes read(); quarantine and ignore always carry a reason."""
    reader = MailReader(RefusingOpenPGP(), ReaderLimits(max_mime_depth=6, max_parts=40))  # type: ignore[arg-type]
    message = reader.read(raw)
    assert isinstance(message, InboundMessage)
    assert message.verdict in set(Verdict)
    if message.verdict in (Verdict.QUARANTINE, Verdict.IGNORE):
        assert message.reason
    assert 64 == len(message.digest)

"""Origin checks (RFC 8601 Authentication-Results) and ciphertext identity, with real shapes.

The header values follow what the MTAs write: Gmail (folded, comments, header.i/header.s),
Fastmail (x-bits, policy.* properties, iprev) and Exchange Online (no authserv-id at all,
compauth). Ciphertexts are real gpg output.
"""

from __future__ import annotations

import base64

import pytest

from tracker_bridge._testsupport.keys import gpg_command
from tracker_bridge.intake.provenance import (
    check_origin,
    ciphertext_digest,
    parse_authentication_results,
)
from tracker_bridge.ports.intake import Origin

TRUSTED = "mx.google.com"

GMAIL_PASS = (
    "mx.google.com;\r\n       dkim=pass header.i=@research.example header.s=20230601 "
    "header.b=Hq3Zx1Aa;\r\n       spf=pass (google.com: domain of rita@research.example "
    "designates 198.51.100.7 as permitted sender) smtp.mailfrom=rita@research.example;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=research.example"
)
GMAIL_DMARC_FAIL = (
    "mx.google.com;\r\n       spf=softfail (google.com: domain of transitioning "
    "rita@research.example does not designate 203.0.113.9 as permitted sender) "
    "smtp.mailfrom=rita@research.example;\r\n       dmarc=fail (p=QUARANTINE sp=QUARANTINE "
    "dis=QUARANTINE) header.from=research.example"
)
FASTMAIL_PASS = (
    "mx6.messagingengine.com;\r\n    dkim=pass (2048-bit rsa key sha256) header.d=research.example "
    "header.i=@research.example header.b=Wq0r header.a=rsa-sha256 header.s=fm1 x-bits=2048;\r\n"
    "    dmarc=pass policy.published-domain-policy=reject policy.applied-disposition=none "
    "policy.evaluated-disposition=none (p=reject,d=none,d.eval=none) policy.policy-from=p "
    "header.from=research.example;\r\n    iprev=pass smtp.remote-ip=198.51.100.7 "
    "(mail.research.example);\r\n    spf=pass smtp.mailfrom=rita@research.example "
    "smtp.helo=mail.research.example"
)
EXCHANGE_ONLINE = (
    "spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=research.example; dkim=none (message "
    "not signed) header.d=none;dmarc=fail action=oreject header.from=research.example;"
    "compauth=fail reason=000"
)


def test_gmail_fields_parse_into_id_and_results() -> None:
    """Comments go, the authserv-id comes first, each method keeps result and properties."""
    authserv_id, results = parse_authentication_results(GMAIL_PASS)
    assert "mx.google.com" == authserv_id
    assert [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")] == [
        (r.method, r.result) for r in results
    ]
    assert "research.example" == results[2].properties["header.from"]


def test_exchange_online_fields_have_no_authserv_id_and_are_never_trusted() -> None:
    """Exchange Online writes no authserv-id (RFC 8601 s. 2.2 requires one): nothing to trust."""
    assert None is parse_authentication_results(EXCHANGE_ONLINE)[0]
    verdict = check_origin([EXCHANGE_ONLINE], "rita@research.example", "spf=fail")
    assert Origin.UNKNOWN == verdict.verdict


@pytest.mark.parametrize(
    ("fields", "trusted", "expected"),
    [
        ([GMAIL_PASS], TRUSTED, Origin.VERIFIED),
        ([GMAIL_DMARC_FAIL], TRUSTED, Origin.SPOOFED),
        ([FASTMAIL_PASS], "mx6.messagingengine.com", Origin.VERIFIED),
        # Only the trusted id counts: a verdict from another server is not read.
        ([FASTMAIL_PASS], TRUSTED, Origin.UNKNOWN),
        # Our MTA's field is on top; the sender's own "pass" in its name below is not read.
        ([GMAIL_DMARC_FAIL, GMAIL_PASS], TRUSTED, Origin.SPOOFED),
        (
            [
                (
                    "mx.google.com; dkim=fail header.d=research.example; spf=fail "
                    "smtp.mailfrom=research.example"
                )
            ],
            TRUSTED,
            Origin.SPOOFED,
        ),
        # DKIM passing for a different domain aligns with nothing.
        (
            [
                (
                    "mx.google.com; dkim=pass header.d=mailer.example; spf=fail "
                    "smtp.mailfrom=bounce@mailer.example"
                )
            ],
            TRUSTED,
            Origin.SPOOFED,
        ),
        (["mx.google.com; dkim=pass header.d=mail.research.example"], TRUSTED, Origin.VERIFIED),
        (["mx.google.com; none"], TRUSTED, Origin.UNKNOWN),
        ([], TRUSTED, Origin.UNKNOWN),
        ([GMAIL_DMARC_FAIL], None, Origin.UNCHECKED),
    ],
)
def test_origin_verdicts(fields: list[str], trusted: str | None, expected: Origin) -> None:
    """DMARC fail, or DKIM and SPF failing unaligned, is spoofed; only the trusted id counts."""
    assert expected == check_origin(fields, "rita@research.example", trusted).verdict


def test_spoofed_reason_names_the_check_the_domain_and_the_server() -> None:
    """The reason says which check failed for which domain, per which authserv-id."""
    verdict = check_origin([GMAIL_DMARC_FAIL], "rita@research.example", TRUSTED)
    assert "DMARC fail for research.example (per mx.google.com)" == verdict.reason


def _encrypt(home: str, recipient: str, data: bytes, *, armor: bool) -> bytes:
    args = ["--trust-model", "always", "--encrypt", "--recipient", recipient]
    return gpg_command(home, *(["--armor"] if armor else []), *args, stdin=data).stdout


def test_ciphertext_digest_survives_rearmouring_and_binary(intake_keys: object) -> None:
    """Armoured, re-armoured (headers, line length, CRLF) and binary forms share one digest."""
    rita = intake_keys.rita  # type: ignore[attr-defined]
    bridge = intake_keys.bridge  # type: ignore[attr-defined]
    armoured = _encrypt(rita.gnupghome, bridge.fingerprint, b"the report", armor=True)
    binary = gpg_command(rita.gnupghome, "--dearmor", stdin=armoured).stdout
    radix = base64.b64encode(binary).decode("ascii")
    rearmoured = (
        "-----BEGIN PGP MESSAGE-----\r\nComment: copied by someone else\r\nVersion: X\r\n\r\n"
        + "\r\n".join(radix[i : i + 40] for i in range(0, len(radix), 40))
        + "\r\n=AAAA\r\n-----END PGP MESSAGE-----\r\n"
    ).encode("ascii")
    again = _encrypt(rita.gnupghome, bridge.fingerprint, b"the report", armor=True)
    digests = {
        ciphertext_digest(armoured),
        ciphertext_digest(binary),
        ciphertext_digest(rearmoured),
    }
    assert 1 == len(digests)
    # The same words encrypted again use a fresh session key: another ciphertext.
    assert ciphertext_digest(again) not in digests

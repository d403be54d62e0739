"""Judging gpg status lines: only a complete, integrity-protected decryption is accepted."""

from __future__ import annotations

import pytest

from tracker_bridge.openpgp import GpgStatus, judge_decryption
from tracker_bridge.ports.openpgp import SignatureStatus

BRIDGE = "B" * 40
GOOD = f"""\
[GNUPG:] ENC_TO 1111111111111111 18 0
[GNUPG:] DECRYPTION_KEY CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC {BRIDGE} u
[GNUPG:] BEGIN_DECRYPTION
[GNUPG:] DECRYPTION_INFO 2 9 0
[GNUPG:] PLAINTEXT 62 1795380621
[GNUPG:] PLAINTEXT_LENGTH 13
[GNUPG:] DECRYPTION_OKAY
[GNUPG:] GOODMDC
[GNUPG:] END_DECRYPTION
"""


def _judge(stderr: str, size: int = 13, returncode: int = 0) -> str | None:
    return judge_decryption(
        GpgStatus.parse(stderr),
        plaintext_size=size,
        max_plaintext_bytes=1000,
        accepted_keys=frozenset({BRIDGE}),
        returncode=returncode,
    )


def test_good_decryption_is_accepted() -> None:
    """DECRYPTION_OKAY + GOODMDC + END_DECRYPTION with the bridge key passes."""
    assert _judge(GOOD) is None


def test_aead_without_goodmdc_is_accepted() -> None:
    """An AEAD message (third DECRYPTION_INFO field non-zero) needs no GOODMDC."""
    aead = GOOD.replace("DECRYPTION_INFO 2 9 0", "DECRYPTION_INFO 0 9 2").replace(
        "[GNUPG:] GOODMDC\n", ""
    )
    assert _judge(aead) is None


@pytest.mark.parametrize(
    ("change", "reason_part"),
    [
        (("[GNUPG:] GOODMDC\n", ""), "integrity"),
        (("[GNUPG:] END_DECRYPTION\n", ""), "did not finish"),
        (("[GNUPG:] DECRYPTION_OKAY\n", "[GNUPG:] BADMDC\n"), "BADMDC"),
        (("[GNUPG:] GOODMDC\n", "[GNUPG:] GOODMDC\n[GNUPG:] ERROR x 89_BAD_DATA\n"), "error"),
        (("[GNUPG:] DECRYPTION_OKAY\n", "[GNUPG:] DECRYPTION_FAILED\n"), "DECRYPTION_FAILED"),
        (("DECRYPTION_INFO 2 9 0", "DECRYPTION_INFO 0 9 0"), "no integrity"),
        ((BRIDGE, "D" * 40), "not the bridge key"),
        (("[GNUPG:] PLAINTEXT_LENGTH 13\n", "[GNUPG:] NODATA 1\n"), "NODATA"),
        (
            (
                "[GNUPG:] DECRYPTION_OKAY\n",
                (
                    "gpg: error writing to '-': exceeded --max-output limit\n"
                    "[GNUPG:] DECRYPTION_OKAY\n"
                ),
            ),
            "exceeds the limit",
        ),
    ],
)
def test_any_failure_signal_refuses(change: tuple[str, str], reason_part: str) -> None:
    """Each missing success line or present failure line refuses the decryption."""
    reason = _judge(GOOD.replace(*change))
    assert reason is not None
    assert reason_part in reason


def test_short_output_against_announced_length_is_truncation() -> None:
    """Fewer bytes than PLAINTEXT_LENGTH announced means truncated output."""
    assert "truncated" in (_judge(GOOD, size=5) or "")


def test_unexplained_nonzero_exit_refuses_but_unknown_signer_does_not() -> None:
    """Exit 2 without a signature problem refuses; exit 2 with NO_PUBKEY is fine."""
    assert "exited with status 2" in (_judge(GOOD, returncode=2) or "")
    signed = GOOD.replace(
        "[GNUPG:] DECRYPTION_OKAY\n",
        "[GNUPG:] ERRSIG 09C1 22 10 00 1795380621 9 AA39\n[GNUPG:] NO_PUBKEY 09C1\n"
        "[GNUPG:] DECRYPTION_OKAY\n",
    )
    assert _judge(signed, returncode=2) is None
    assert SignatureStatus.UNKNOWN_KEY == GpgStatus.parse(signed).signature().status


def test_validsig_records_the_primary_fingerprint() -> None:
    """VALIDSIG's last field (primary key) is the signer, not the subkey in the first field."""
    lines = (
        "[GNUPG:] GOODSIG 1234 Rita <r@x>\n"
        "[GNUPG:] VALIDSIG " + "5" * 40 + " 2026-11-22 1795380666 0 4 0 22 10 00 " + "6" * 40 + "\n"
    )
    check = GpgStatus.parse(lines).signature()
    assert (SignatureStatus.VALID, "6" * 40) == (check.status, check.fingerprint)


def test_status_text_inside_a_log_line_is_not_a_status_line() -> None:
    """Only lines starting with [GNUPG:] count; an echoed '[GNUPG:] GOODMDC' mid-line does not."""
    status = GpgStatus.parse("gpg: original file name='[GNUPG:] GOODMDC'\n")
    assert not status.has("GOODMDC")


# GnuPG T7071 as real gpg 2.2.40 prints it for CRC-less armour whose base64 is unpadded.
T7071_UNCOMPRESSED = GOOD + "[GNUPG:] NODATA 3\n[GNUPG:] NODATA 1\n"
T7071_COMPRESSED = (
    GOOD.replace("[GNUPG:] DECRYPTION_OKAY\n", "[GNUPG:] NODATA 3\n[GNUPG:] DECRYPTION_OKAY\n")
    + "[GNUPG:] NODATA 1\n"
)


@pytest.mark.parametrize("stderr", [T7071_UNCOMPRESSED, T7071_COMPRESSED])
def test_crc_less_armour_sequence_with_exit_2_is_accepted(stderr: str) -> None:
    """NODATA 3 after the literal data and NODATA 1 after END_DECRYPTION (exit 2) pass."""
    assert _judge(stderr, returncode=2) is None


@pytest.mark.parametrize(
    ("stderr", "reason_part"),
    [
        # NODATA before the literal data: the message itself is missing.
        (GOOD.replace("[GNUPG:] PLAINTEXT ", "[GNUPG:] NODATA 3\n[GNUPG:] PLAINTEXT "), "NODATA"),
        # NODATA 1 before END_DECRYPTION: the armour ended early.
        (GOOD.replace("[GNUPG:] GOODMDC\n", "[GNUPG:] NODATA 1\n[GNUPG:] GOODMDC\n"), "NODATA"),
        # Another NODATA code ("expected a packet") is never the END-line echo.
        (GOOD + "[GNUPG:] NODATA 2\n", "NODATA"),
        # The sequence without integrity protection stays refused.
        (T7071_UNCOMPRESSED.replace("[GNUPG:] GOODMDC\n", ""), "integrity"),
        (T7071_UNCOMPRESSED.replace("[GNUPG:] END_DECRYPTION\n", ""), "NODATA"),
    ],
)
def test_nodata_outside_the_crc_less_sequence_refuses(stderr: str, reason_part: str) -> None:
    """Only the exact T7071 sequence is tolerated; any other NODATA still refuses."""
    assert reason_part in (_judge(stderr, returncode=2) or "")


TEXT_MODE = GOOD.replace("PLAINTEXT 62", "PLAINTEXT 74").replace(
    "PLAINTEXT_LENGTH 13", "PLAINTEXT_LENGTH 19"
)


def test_text_mode_literal_may_lose_one_cr_per_line_break() -> None:
    """A 't' literal announced as 19 bytes with 2 CRLF comes out as 17 bytes: accepted."""
    assert (
        judge_decryption(
            GpgStatus.parse(TEXT_MODE),
            plaintext_size=17,
            max_plaintext_bytes=1000,
            accepted_keys=frozenset({BRIDGE}),
            returncode=0,
            line_breaks=2,
        )
        is None
    )


@pytest.mark.parametrize(("stderr", "size", "breaks"), [(TEXT_MODE, 10, 2), (GOOD, 11, 2)])
def test_real_truncation_is_still_refused(stderr: str, size: int, breaks: int) -> None:
    """More missing than the CRs text mode drops (or any byte of a binary literal): truncated."""
    reason = judge_decryption(
        GpgStatus.parse(stderr),
        plaintext_size=size,
        max_plaintext_bytes=1000,
        accepted_keys=frozenset({BRIDGE}),
        returncode=0,
        line_breaks=breaks,
    )
    assert "decrypted plaintext is shorter than announced (truncated)" == reason


def test_older_bridge_key_in_the_accepted_set_decrypts() -> None:
    """Any secret key of the bridge keyring may decrypt, not only the configured one."""
    older = "E" * 40
    stderr = GOOD.replace(BRIDGE, older)
    assert (
        judge_decryption(
            GpgStatus.parse(stderr),
            plaintext_size=13,
            max_plaintext_bytes=1000,
            accepted_keys=frozenset({BRIDGE, older}),
            returncode=0,
        )
        is None
    )

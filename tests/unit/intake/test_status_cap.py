"""gpg's status output is kept in whole lines up to a cap, however it arrives in chunks."""

from __future__ import annotations

from tracker_bridge.openpgp import _MAX_STATUS_BYTES, _keep_status_lines


def test_status_lines_split_across_reads_are_kept_whole() -> None:
    """A line split over two reads is kept once complete; a last line without newline at the end."""
    pending, kept = bytearray(b"[GNUPG:] DECRYPTION_OK\n[GNUPG:] GOOD"), bytearray()
    _keep_status_lines(pending, kept, final=False)
    partial = bytes(kept)
    pending += b"SIG 0123\n[GNUPG:] END_DECRYPTION"
    _keep_status_lines(pending, kept, final=True)
    assert (
        b"[GNUPG:] DECRYPTION_OK\n",
        b"[GNUPG:] DECRYPTION_OK\n[GNUPG:] GOODSIG 0123\n[GNUPG:] END_DECRYPTION",
        b"",
    ) == (partial, bytes(kept), bytes(pending))


def test_status_lines_past_the_cap_are_dropped() -> None:
    """Once the kept status reaches the cap, later lines are dropped, not cut."""
    line = b"[GNUPG:] NOTATION_DATA " + b"x" * 1000 + b"\n"
    pending, kept = bytearray(line * (_MAX_STATUS_BYTES // len(line) + 5)), bytearray()
    _keep_status_lines(pending, kept, final=True)
    assert (0, True) == (
        len(kept) % len(line),
        _MAX_STATUS_BYTES <= len(kept) < _MAX_STATUS_BYTES + len(line),
    )

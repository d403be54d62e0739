"""gpg's status is read at the end of its output, yet more status than a pipe holds never stalls it."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING, cast

from tracker_bridge.openpgp import _MAX_STATUS_BYTES, GnuPG, _GpgRun, _OutputCollector

if TYPE_CHECKING:
    from collections.abc import Sequence

# A stand-in for gpg: writes status lines to stderr, then its output to stdout, and exits.
_CHATTY = """
import sys
line = b"[GNUPG:] NOTATION_DATA " + b"x" * 1000 + b"\\n"
for _ in range({lines}):
    sys.stderr.buffer.write(line)
    sys.stderr.buffer.flush()
sys.stdout.buffer.write(b"the plaintext")
sys.stdout.buffer.flush()
sys.stderr.buffer.write(b"[GNUPG:] END_DECRYPTION\\n")
"""


class _Timeout:
    """What ``GnuPG._pump`` reads of its adapter: the time limit."""

    gpg_timeout = 20.0


def _pump(command: Sequence[str]) -> tuple[_GpgRun, bytes, float]:
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    sink, run = _OutputCollector(1_000_000), _GpgRun()
    started = time.monotonic()
    try:
        # The pipe pump alone, on a stand-in process: no key or gpg needed.
        GnuPG._pump(cast("GnuPG", _Timeout()), process, b"ciphertext", sink, run)  # noqa: SLF001 - the pump alone
    finally:
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    return run, sink.output(), time.monotonic() - started


def test_status_beyond_what_a_pipe_holds_is_drained_while_the_output_is_open() -> None:
    """3 MiB of status before any output: gpg is not stalled, status is kept up to the cap."""
    run, plaintext, took = _pump([sys.executable, "-c", _CHATTY.format(lines=3 * 1024)])
    assert (b"the plaintext", 0, False, False) == (
        plaintext,
        run.returncode,
        run.timed_out,
        run.over_limit,
    )
    assert _MAX_STATUS_BYTES <= len(run.stderr.encode()) < _MAX_STATUS_BYTES + 2000
    assert took < 10


def test_the_last_status_lines_after_the_output_are_kept() -> None:
    """A status line written after the output closes is still read."""
    run, plaintext, _ = _pump([sys.executable, "-c", _CHATTY.format(lines=3)])
    assert (b"the plaintext", True) == (plaintext, run.stderr.endswith("END_DECRYPTION\n"))

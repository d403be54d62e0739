"""gpg's exit is awaited within the time left (``openpgp._wait_for_exit``)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tracker_bridge.openpgp import _wait_for_exit


def test_an_exited_process_returns_its_exit_status() -> None:
    """A process that ends on its own gives its exit status, not a timeout."""
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert 3 == _wait_for_exit(process, 30.0)


def test_a_process_that_outlives_the_time_left_raises_timeout_expired() -> None:
    """A process still running when the time is up raises TimeoutExpired after about that time."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    started = time.monotonic()
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            _wait_for_exit(process, 0.2)
        waited = time.monotonic() - started
    finally:
        process.kill()
        process.wait()
    assert 0.19 <= waited < 5

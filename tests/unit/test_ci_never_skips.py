"""Under CI=true a missing outside part (Dovecot, PostgreSQL, a spec file) fails the test; locally it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

NEEDS_MISSING_PART = '''
from tracker_bridge._testsupport.unavailable import unavailable


def test_needs_dovecot():
    """Stands for a test whose Dovecot is not installed."""
    unavailable("dovecot is not installed")
'''


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """Pytest on a one-test file in its own process, with ``CI`` set to ``ci`` (or unset)."""
    (tmp_path / "test_missing.py").write_text(NEEDS_MISSING_PART, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("ci", "code", "outcome"), [("true", 1, "1 failed"), (None, 0, "1 skipped")]
)
def test_a_missing_part_fails_under_ci_and_skips_elsewhere(
    tmp_path: Path, ci: str | None, code: int, outcome: str
) -> None:
    """``unavailable`` is a failure naming the reason under CI=true and a skip without CI."""
    result = run_pytest(tmp_path, ci)
    assert (code, True, True) == (
        result.returncode,
        outcome in result.stdout,
        "dovecot is not installed" in result.stdout,
    )

"""Skip a test whose outside part (Dovecot, PostgreSQL, a spec file) is missing; fail instead under CI.

On a developer's machine a missing Dovecot or PostgreSQL is a skip with the reason. Under
``CI=true`` (set by GitHub Actions, GitLab CI and ``.ci/run``) the same absence is a failure, so
CI never passes by skipping the tests that use the real parts.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["in_ci", "unavailable"]


def in_ci() -> bool:
    """Whether the tests run under CI (``CI`` set to ``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it under CI.

    Raises:
        pytest.fail.Exception: under CI.
        pytest.skip.Exception: elsewhere.
    """
    if in_ci():
        pytest.fail(f"CI=true: {reason} (CI never skips; install or start it)", pytrace=False)
    pytest.skip(reason)

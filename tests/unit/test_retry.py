"""The one backoff rule the tracker plugins hand to stamina (tracker_bridge.retry)."""

from __future__ import annotations

import pytest

from tracker_bridge.retry import BackoffRule, backoff_hook


class HttpAnswer(Exception):
    """A stand-in for a tracker library's HTTP error: a status and maybe a Retry-After."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class ConnectFailed(Exception):
    """A stand-in for a failed connect (requests.ConnectTimeout)."""


class Dropped(Exception):
    """A stand-in for a read timeout or a dropped connection."""


def rule(wait_max_seconds: float = 30.0) -> BackoffRule:
    """A rule that reads the stand-in errors above."""
    return BackoffRule(
        transient=frozenset({429, 500, 502, 503, 504}),
        not_processed=frozenset({429}),
        connect_failed=(ConnectFailed,),
        dropped=(Dropped,),
        status=lambda err: err.status if isinstance(err, HttpAnswer) else None,
        retry_after=lambda err: err.retry_after if isinstance(err, HttpAnswer) else None,
        wait_max_seconds=wait_max_seconds,
    )


@pytest.mark.parametrize(
    ("idempotent", "err", "expected"),
    [
        (True, HttpAnswer(503), True),
        (False, HttpAnswer(503), False),
        (False, HttpAnswer(429), True),
        (True, HttpAnswer(404), False),
        (False, ConnectFailed(), True),
        (True, Dropped(), True),
        (False, Dropped(), False),
        (True, ValueError("not a transport error"), False),
    ],
)
def test_only_what_the_server_did_not_do_is_resent(
    idempotent: bool, err: Exception, expected: bool
) -> None:
    """A POST is resent only on not-processed answers or a failed connect; a GET on transients too."""
    assert expected == backoff_hook(rule(), idempotent=idempotent)(err)


def test_retry_after_is_obeyed_up_to_the_longest_wait() -> None:
    """A Retry-After becomes the wait in seconds, capped at wait_max_seconds."""
    hook = backoff_hook(rule(wait_max_seconds=10.0), idempotent=False)
    assert (4.0, 10.0) == (hook(HttpAnswer(429, 4.0)), hook(HttpAnswer(429, 60.0)))

"""The one backoff rule the tracker plugins hand to stamina (tracker_bridge.retry)."""

from __future__ import annotations

import pytest

from tracker_bridge.retry import BackoffRule, RetrySettings, backoff_hook, retry_attempts


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


def test_zero_first_wait_switches_every_wait_off() -> None:
    """retry_wait_seconds 0 caps every wait, a Retry-After's too, at 0 seconds."""
    settings = RetrySettings(retry_wait_seconds=0, retry_wait_max_seconds=30)
    hook = backoff_hook(rule(settings.longest_wait_seconds), idempotent=True)
    assert (0.0, 0.0) == (settings.longest_wait_seconds, hook(HttpAnswer(429, retry_after=20)))


def test_retry_attempts_try_once_more_than_max_retries() -> None:
    """retry_attempts gives max_retries + 1 attempts, then lets the last exception through."""
    tried: list[int] = []

    def always_unavailable() -> None:
        for attempt in retry_attempts(
            RetrySettings(max_retries=2, retry_wait_seconds=0),
            backoff_hook(rule(0), idempotent=True),
        ):
            with attempt:
                tried.append(attempt.num)
                raise HttpAnswer(503)

    with pytest.raises(HttpAnswer):
        always_unavailable()
    assert [1, 2, 3] == tried

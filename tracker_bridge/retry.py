"""When a tracker plugin resends a request: the one stamina backoff hook both plugins use.

Stamina (hynek's retry library) calls the hook with each exception: False stops, True waits
with exponential backoff and jitter, a float waits that many seconds. The rule, the same for
every HTTP tracker:

- an HTTP answer is resent only when its status says the server did not do the work
  (``not_processed``, e.g. 429), or, for a request that changes nothing or the same thing again
  (GET, PUT: ``idempotent``), when it is transient (``transient``, e.g. 429 and 5xx); a
  Retry-After the server sent is obeyed, capped at ``wait_max_seconds``;
- a connect that failed is always resent: the request never reached the server;
- a read timeout or a dropped connection is resent only for an idempotent request: a POST
  that timed out may have been applied.

The core does not depend on any HTTP library: each plugin says how to read its own errors.
``RetrySettings`` are the three settings every plugin's section shares, and ``retry_attempts``
the one stamina loop over them: ``retry_wait_seconds = 0`` switches every wait off, a
Retry-After's too (the plugins' tests run so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import stamina
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

__all__ = ["BackoffRule", "RetrySettings", "backoff_hook", "retry_attempts"]


class RetrySettings(BaseModel):
    """The retry settings of a tracker plugin's ``[tracker.<kind>]`` section (subclass it).

    A plugin may declare ``retry_wait_seconds`` again to change its default (Jira: 1 s).
    """

    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries after 429, 5xx or a timeout (stamina's exponential backoff with "
        "jitter, Retry-After honoured); 0 switches retries and their waits off",
    )
    retry_wait_seconds: float = Field(
        default=0.1,
        ge=0,
        description="First backoff wait; doubles per retry; 0 switches every wait off, "
        "a Retry-After's too",
    )
    retry_wait_max_seconds: float = Field(
        default=30.0, ge=0, description="Longest single wait, also for a Retry-After"
    )

    @property
    def longest_wait_seconds(self) -> float:
        """The cap on one wait, also a Retry-After's: 0 when ``retry_wait_seconds`` is 0."""
        return self.retry_wait_max_seconds if self.retry_wait_seconds > 0 else 0.0


def retry_attempts(
    settings: RetrySettings, on: Callable[[Exception], bool | float]
) -> Iterator[stamina.Attempt]:
    """Stamina's attempts for one tracker call under ``settings``: use each as a ``with`` block.

    Args:
        settings: The plugin's retry settings (``max_retries`` + 1 attempts, no overall timeout).
        on: The backoff hook (``backoff_hook``) deciding which exceptions are resent.

    Returns:
        ``stamina.retry_context``'s iterator; the last attempt's exception propagates.
    """
    wait = settings.retry_wait_seconds
    return iter(
        stamina.retry_context(
            on=on,
            attempts=settings.max_retries + 1,
            timeout=None,
            wait_initial=wait,
            wait_max=settings.longest_wait_seconds,
            wait_jitter=wait,
        )
    )


@dataclass(frozen=True)
class BackoffRule:
    """A tracker's retry rule: which answers and which transport errors are resent.

    Attributes:
        transient: HTTP statuses resent for an idempotent request (e.g. 429, 500, 502-504).
        not_processed: HTTP statuses resent for any request, even a POST that creates.
        connect_failed: Exception types meaning the request never left (resent always).
        dropped: Exception types meaning no answer came (resent only when idempotent).
        status: The HTTP status of a library error (0 when it has none); None when the
            exception is not an HTTP answer at all.
        retry_after: Seconds the server asked to wait (Retry-After) for that error; None
            for "back off exponentially".
        wait_max_seconds: The longest wait a Retry-After may impose, in seconds.
    """

    transient: Collection[int]
    not_processed: Collection[int]
    connect_failed: tuple[type[BaseException], ...]
    dropped: tuple[type[BaseException], ...]
    status: Callable[[Exception], int | None]
    retry_after: Callable[[Exception], float | None]
    wait_max_seconds: float


def backoff_hook(rule: BackoffRule, *, idempotent: bool) -> Callable[[Exception], bool | float]:
    """Stamina's ``on=`` hook for one call: False to stop, True to back off, a float to wait.

    Args:
        rule: The plugin's retry rule.
        idempotent: Whether resending the request is harmless (GET, PUT) or not (POST).

    Returns:
        A callable stamina invokes with each exception the call raised.
    """

    def hook(err: Exception) -> bool | float:
        status = rule.status(err)
        if status is not None:
            if status not in (rule.transient if idempotent else rule.not_processed):
                return False
            wait = rule.retry_after(err)
            return True if wait is None else min(wait, rule.wait_max_seconds)
        if isinstance(err, rule.connect_failed):
            return True
        return idempotent and isinstance(err, rule.dropped)

    return hook

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

__all__ = ["BackoffRule", "backoff_hook"]


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

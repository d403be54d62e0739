"""Injected failures: the next N matching requests answer an error, stall, or lose their answer."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import re
    from collections.abc import Callable

AnswerT = TypeVar("AnswerT")


@dataclass
class Fault:
    """An injected failure: the next ``remaining`` matching requests answer ``status`` or stall.

    Attributes:
        status: HTTP status to answer (429, 500, 503 ...); 0 answers normally after ``delay``
            (a slow tracker, or with neither a pass-through slot that keeps a schedule per request).
        remaining: How many more requests this fault takes.
        method: Only requests with this method (any case); None for every method.
        path: Only requests whose raw URL path this regex finds something in; None for all.
        retry_after: Integer seconds for the ``Retry-After`` header (RFC 9110, section 10.2.3);
            None sends no header.
        delay: Seconds to stall before answering (a timeout for a short-timeout client).
        applied: Do the request first, then stall or fail, so the change is made but the client
            never hears of it (a create that timed out but succeeded).
        arm_on: (method, regex): the fault stays dormant until a request with that method and a
            path the regex finds something in has succeeded (2xx); None arms it at once.
        armed: Whether the fault is live: set by the fault itself, False while it waits for
            ``arm_on``.
    """

    status: int
    remaining: int = 1
    method: str | None = None
    path: re.Pattern[str] | None = None
    retry_after: int | None = None
    delay: float = 0.0
    applied: bool = False
    arm_on: tuple[str, re.Pattern[str]] | None = None
    armed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.armed = self.arm_on is None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault is live and applies to a request with ``method`` and raw ``path``."""
        return (
            self.armed
            and self.remaining > 0
            and (self.method is None or self.method.upper() == method.upper())
            and (self.path is None or self.path.search(path) is not None)
        )

    def retry_after_header(self) -> dict[str, str]:
        """``{"Retry-After": seconds}`` when the fault carries one, else ``{}``."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(int(self.retry_after))}


class FaultSchedule:
    """The faults a sandbox holds, used up one request at a time. Thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Queue a fault after those already held (earlier ones match first)."""
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault that applies to this request, with one use taken from it."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    def succeeded(self, method: str, path: str) -> None:
        """Arm the dormant faults waiting for a successful request like this one."""
        with self._lock:
            for fault in self._faults:
                if fault.arm_on is not None and not fault.armed:
                    verb, pattern = fault.arm_on
                    if verb.upper() == method.upper() and pattern.search(path):
                        fault.armed = True

    def __getitem__(self, index: int) -> Fault:
        """The fault at ``index`` in the order added (``[-1]``: the last one), to watch it used up."""
        with self._lock:
            return self._faults[index]

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()


def answer_with_fault(
    fault: Fault | None,
    serve: Callable[[], AnswerT],
    fail: Callable[[Fault, bool], AnswerT],
    sleep: Callable[[float], None] = time.sleep,
) -> AnswerT:
    """Answer a request as ``fault`` says: normally, after a stall, with an error, or lost.

    Args:
        fault: The fault taken for this request, or None to answer normally.
        serve: Does the request and returns its answer.
        fail: Builds the error answer for a fault; its second argument is True when the
            request was done first and its answer is lost (``applied``).
        sleep: Waits the fault's ``delay`` in seconds.

    Returns:
        What ``serve`` or ``fail`` returned.
    """
    if fault is None:
        return serve()
    if fault.applied:
        serve()
        if fault.delay:
            sleep(fault.delay)
        return fail(fault, True)
    if fault.delay:
        sleep(fault.delay)
    if fault.status:
        return fail(fault, False)
    return serve()

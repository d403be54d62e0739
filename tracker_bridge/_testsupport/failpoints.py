"""Crash points for the reliability harness: ports wrapped so a process can die between any two I/O steps.

The harness's entry module (``tracker_bridge._testsupport.crash_run``) hands the composition
root these proxies for the tracker, the mail transport, the mail sources and the store's commits
(``app.PartWrappers``) when ``TRACKER_BRIDGE_TEST_CRASH_AT`` or ``TRACKER_BRIDGE_TEST_CRASH_TRACE``
is set; production code never imports this module. Every proxied call passes a checkpoint before and after the real call; checkpoints are
counted per process, and the one whose number equals ``TRACKER_BRIDGE_TEST_CRASH_AT`` kills the
process with SIGKILL (no cleanup, no ``finally``: what a power cut or the OOM killer does).
``TRACKER_BRIDGE_TEST_CRASH_TRACE=path`` appends each checkpoint's name to ``path``, so a harness can
count the points of a complete run and then pick where to crash.

Unset, both variables cost one environment lookup when a part is built and nothing per call.
``crash_wrappers`` gives the four wraps as the ``PartWrappers`` the CLI takes.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from tracker_bridge.app import PartWrappers
from tracker_bridge.ports.mail import MailTransport
from tracker_bridge.store import SqlUnitOfWork, Store

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from datetime import datetime
    from types import TracebackType

    from tracker_bridge.ports.intake import MailboxItem, MailSource, Verdict
    from tracker_bridge.ports.tracker import (
        IssueDraft,
        IssueRef,
        IssueSnapshot,
        IssueUpdate,
        Tracker,
    )

CRASH_AT_ENV = "TRACKER_BRIDGE_TEST_CRASH_AT"
CRASH_TRACE_ENV = "TRACKER_BRIDGE_TEST_CRASH_TRACE"

_Transport = TypeVar("_Transport", bound=MailTransport)
_passed = 0


def armed() -> bool:
    """Whether this process should pass checkpoints (either variable set and not empty)."""
    return bool(os.environ.get(CRASH_AT_ENV) or os.environ.get(CRASH_TRACE_ENV))


def checkpoint(name: str) -> None:
    """Count one checkpoint; trace it, and die with SIGKILL when it is the chosen one."""
    global _passed  # noqa: PLW0603 - one counter per process is the point
    _passed += 1
    trace = os.environ.get(CRASH_TRACE_ENV)
    if trace:
        with Path(trace).open("a", encoding="utf-8") as log:
            log.write(f"{name}\n")
    crash_at = os.environ.get(CRASH_AT_ENV)
    if crash_at and _passed == int(crash_at):
        os.kill(os.getpid(), signal.SIGKILL)


def passed() -> int:
    """How many checkpoints this process has passed."""
    return _passed


class CrashingTracker:
    """A Tracker whose every call, and every snapshot a listing yields, is between checkpoints."""

    kind: ClassVar[str] = "crashing"

    def __init__(self, inner: Tracker) -> None:
        self.inner = inner

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Open the issue between checkpoints."""
        checkpoint("before tracker.open_issue")
        ref = self.inner.open_issue(draft)
        checkpoint("after tracker.open_issue")
        return ref

    def find_issue(self, report_id: str) -> IssueRef | None:
        """Look the issue up between checkpoints."""
        checkpoint("before tracker.find_issue")
        ref = self.inner.find_issue(report_id)
        checkpoint("after tracker.find_issue")
        return ref

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Update the issue between checkpoints."""
        checkpoint("before tracker.update_issue")
        self.inner.update_issue(ref, update)
        checkpoint("after tracker.update_issue")

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Add the note between checkpoints."""
        checkpoint("before tracker.add_note")
        self.inner.add_note(ref, text, untrusted=untrusted)
        checkpoint("after tracker.add_note")

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Each snapshot read between checkpoints (the listing's requests happen on reading)."""
        return _between_checkpoints("tracker.changes_since", self.inner.changes_since(since))

    def __getattr__(self, name: str) -> Any:
        # Anything beyond the port (a plugin's own helpers) goes to the real tracker.
        return getattr(self.inner, name)


class CrashingTransport:
    """A mail transport whose connect and every send are between checkpoints."""

    def __init__(self, inner: MailTransport) -> None:
        self.inner = inner

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        """Hand the message to the server between checkpoints."""
        checkpoint("before transport.send")
        self.inner.send(sender, recipients, message)
        checkpoint("after transport.send")

    def __enter__(self) -> Self:
        checkpoint("before transport.connect")
        enter = getattr(self.inner, "__enter__", None)
        if enter is not None:
            enter()
        checkpoint("after transport.connect")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        leave = getattr(self.inner, "__exit__", None)
        if leave is not None:
            leave(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashingSource:
    """A mail source whose every fetched message and every settle are between checkpoints."""

    def __init__(self, inner: MailSource) -> None:
        self.inner = inner
        self.name = inner.name

    def fetch(self) -> Iterator[MailboxItem]:
        """Each message read between checkpoints."""
        return _between_checkpoints("source.fetch", self.inner.fetch())

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        """Move the message between checkpoints."""
        checkpoint("before source.settle")
        self.inner.settle(item, verdict)
        checkpoint("after source.settle")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashingUnitOfWork(SqlUnitOfWork):
    """A unit of work whose commit is between checkpoints (before: lost; after: durable)."""

    def commit(self) -> None:
        """Commit between checkpoints."""
        checkpoint("before store.commit")
        super().commit()
        checkpoint("after store.commit")


class CrashingStore(Store):
    """A store handing out units of work whose commits are between checkpoints."""

    def unit_of_work(self) -> SqlUnitOfWork:
        """A new unit of work with checkpoints around its commit."""
        return CrashingUnitOfWork(self.engine, self._clock)


def _between_checkpoints(name: str, items: Iterator[Any]) -> Iterator[Any]:
    while True:
        checkpoint(f"before {name}")
        try:
            item = next(items)
        except StopIteration:
            checkpoint(f"after {name} (end)")
            return
        checkpoint(f"after {name}")
        yield item


def crash_wrappers() -> PartWrappers:
    """The composition root's wrappers with checkpoints (each a no-op unless ``armed``)."""
    return PartWrappers(
        tracker=crashing_tracker,
        store=crashing_store,
        sources=crashing_sources,
        transport=crashing_transport,
    )


def crashing_tracker(tracker: Tracker) -> Tracker:
    """``tracker`` with checkpoints when the harness asked for them, else ``tracker`` itself."""
    return CrashingTracker(tracker) if armed() else tracker


def crashing_transport(transport: _Transport) -> _Transport:
    """``transport`` with checkpoints when the harness asked for them, else ``transport`` itself."""
    if not armed():
        return transport
    wrapped: Any = CrashingTransport(transport)
    return wrapped  # type: ignore[no-any-return]


def crashing_sources(sources: Iterable[MailSource]) -> list[MailSource]:
    """``sources`` with checkpoints when the harness asked for them, else the same sources."""
    if not armed():
        return list(sources)
    return [CrashingSource(source) for source in sources]


def crashing_store(store: Store) -> Store:
    """``store`` with checkpoints around commits when the harness asked for them."""
    if not armed() or isinstance(store, CrashingStore):
        return store
    # Same engine and clock: only the commits gain checkpoints.
    return CrashingStore(store.engine, store._url, store._clock)  # noqa: SLF001 - the crashing store rebuilds the same store around its engine

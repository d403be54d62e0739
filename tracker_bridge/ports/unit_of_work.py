"""One transaction over every repository of the store, privacy and audit included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from types import TracebackType

    from tracker_bridge.ports.privacy import AuditRepository, PrivacyRepository
    from tracker_bridge.ports.store import (
        BookmarkRepository,
        InstallationRepository,
        MessageRepository,
        OutboxRepository,
        ReportRepository,
        ResearcherRepository,
        TrackerLinkRepository,
    )


class UnitOfWork(Protocol):
    """One transaction over every repository; leaving the block without commit rolls back."""

    reports: ReportRepository
    researchers: ResearcherRepository
    messages: MessageRepository
    links: TrackerLinkRepository
    bookmarks: BookmarkRepository
    outbox: OutboxRepository
    audit: AuditRepository
    privacy: PrivacyRepository
    installation: InstallationRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make everything done in this block durable.

        Raises:
            StoreBusy: another worker holds the lock (retriable; nothing was written).
            StoreUnavailable: the server went away (retriable). StoreError: fatal.
        """
        ...

    def rollback(self) -> None:
        """Throw away everything done in this block."""
        ...

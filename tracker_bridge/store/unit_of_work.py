"""One database transaction over every repository, and the Store that hands them out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from tracker_bridge.clock import SystemClock
from tracker_bridge.store.errors import redact_url
from tracker_bridge.store.privacy import SqlAuditRepository, SqlPrivacyRepository
from tracker_bridge.store.repositories import (
    SqlBookmarkRepository,
    SqlInstallationRepository,
    SqlMessageRepository,
    SqlOutboxRepository,
    SqlReportRepository,
    SqlResearcherRepository,
    SqlTrackerLinkRepository,
    StoreContext,
)

if TYPE_CHECKING:
    from types import TracebackType

    from sqlalchemy import Connection, Engine

    from tracker_bridge.ports.clock import Clock
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
    from tracker_bridge.ports.unit_of_work import UnitOfWork

__all__ = ["SqlUnitOfWork", "Store"]


class SqlUnitOfWork:
    """A transaction on one connection; leaving the ``with`` block without commit rolls back.

    Repositories exist only inside the block. After ``commit`` the block may go on working:
    the next call starts a new transaction.
    """

    # Declared as the port types: protocol attributes are invariant, so this is what makes
    # the class a ports.UnitOfWork for mypy.
    reports: ReportRepository
    researchers: ResearcherRepository
    messages: MessageRepository
    links: TrackerLinkRepository
    bookmarks: BookmarkRepository
    outbox: OutboxRepository
    audit: AuditRepository
    privacy: PrivacyRepository
    installation: InstallationRepository

    def __init__(self, engine: Engine, clock: Clock, programs: set[str] | None = None) -> None:
        """Args: ``programs``, the store's set of program rows known to be committed."""
        self._engine = engine
        self._clock = clock
        self._programs: set[str] = set() if programs is None else programs
        self._connection: Connection | None = None
        self._context: StoreContext | None = None

    def __enter__(self) -> Self:
        if self._connection is not None:
            msg = "a unit of work cannot be entered twice; ask the store for another"
            raise RuntimeError(msg)
        self._connection = self._engine.connect()
        # now=the clock's method, not ours: a bound method of the unit of work would make it and
        # its repositories a reference cycle, left for the cyclic GC after every block.
        context = StoreContext(
            connection=self._connection,
            engine=self._engine,
            now=self._clock.now,
            programs=self._programs,
        )
        self._context = context
        researchers = SqlResearcherRepository(context)
        self.researchers = researchers
        self.reports = SqlReportRepository(context, researchers)
        self.messages = SqlMessageRepository(context)
        self.links = SqlTrackerLinkRepository(context)
        self.bookmarks = SqlBookmarkRepository(context)
        self.outbox = SqlOutboxRepository(context)
        self.audit = SqlAuditRepository(context)
        self.privacy = SqlPrivacyRepository(context)
        self.installation = SqlInstallationRepository(context)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._require_connection()
        if exc_type is not None:
            # A failed block may have failed on a programs row the store wrongly believes
            # there (the database was replaced under a `run --every`): the next writes it again.
            self._programs.clear()
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()
            self._connection = None
            self._context = None

    def commit(self) -> None:
        """Make everything done in this block durable."""
        connection = self._require_connection()
        if connection.in_transaction():
            connection.commit()
        if self._context is not None:
            # Only now are the programs rows this transaction wrote there for every later one.
            self._context.end_transaction(committed=True)

    def rollback(self) -> None:
        """Throw away everything done in this block since the last commit."""
        connection = self._require_connection()
        if connection.in_transaction():
            connection.rollback()
        # As on an exception: the programs rows are written again once (a no-op upsert).
        self._programs.clear()
        if self._context is not None:
            self._context.end_transaction(committed=False)

    def _require_connection(self) -> Connection:
        if self._connection is None:
            msg = "the unit of work is used outside its `with` block"
            raise RuntimeError(msg)
        return self._connection


class Store:
    """A SQL database holding the bridge's state; build it with ``open_store``."""

    def __init__(self, engine: Engine, url: str, clock: Clock | None = None) -> None:
        self.engine = engine
        self._url = url
        self._clock: Clock = clock or SystemClock()
        # Programs whose row is committed: ``reports.add`` writes each once per store.
        self._programs: set[str] = set()

    @property
    def url(self) -> str:
        """The database URL with its password hidden, for messages."""
        return redact_url(self._url)

    def unit_of_work(self) -> SqlUnitOfWork:
        """A new unit of work; use it as ``with store.unit_of_work() as uow: ...``."""
        return SqlUnitOfWork(self.engine, self._clock, self._programs)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


if TYPE_CHECKING:

    def _is_a_unit_of_work(uow: SqlUnitOfWork) -> UnitOfWork:
        # mypy fails here when the class drifts from the port.
        return uow

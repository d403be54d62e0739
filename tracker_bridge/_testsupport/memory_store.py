"""An in-memory store with the SQL store's transaction semantics, for unit tests of services."""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Self

from tracker_bridge.clock import SystemClock
from tracker_bridge.domain.report import Report, ReportId, State, StateChange
from tracker_bridge.domain.researcher import Researcher
from tracker_bridge.errors import NotFoundError, StoreError
from tracker_bridge.ports.mail import OutboxItem, OutboxStatus
from tracker_bridge.ports.openpgp import SignatureCheck
from tracker_bridge.ports.privacy import (
    PURGE_NOTE_KINDS,
    AuditEntry,
    AuditRepository,
    ContactHolder,
    ErasedContact,
    HeldContent,
    OwedNote,
    PrivacyRepository,
    ResearcherRecord,
)
from tracker_bridge.ports.store import (
    DUE_NOW,
    BookmarkRepository,
    InstallationRepository,
    MessageRepository,
    OutboxRepository,
    ReportContent,
    ReportEvent,
    ReportRepository,
    ResearcherRepository,
    StoredMessage,
    TrackerLinkRepository,
)
from tracker_bridge.store.privacy import KEY_EVENTS, REMOVED_EVENT_DETAIL, scrub
from tracker_bridge.store.repositories import normalise_message_id
from tracker_bridge.store.types import as_utc

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime
    from types import TracebackType

    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.tracker import IssueRef
    from tracker_bridge.ports.unit_of_work import UnitOfWork

__all__ = ["MemoryStore", "MemoryUnitOfWork"]


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


@dataclass
class _Link:
    ref: IssueRef
    labels: frozenset[str] = frozenset()


@dataclass
class _Tables:
    """Everything the store holds; copied whole on entering and committing a unit of work."""

    programs: set[str] = field(default_factory=set)
    reports: dict[str, Report] = field(default_factory=dict)
    report_researcher: dict[str, str] = field(default_factory=dict)
    contents: dict[str, ReportContent] = field(default_factory=dict)
    researchers: dict[str, Researcher] = field(default_factory=dict)
    events: list[ReportEvent] = field(default_factory=list)
    messages: dict[tuple[str, str], StoredMessage] = field(default_factory=dict)
    message_index: dict[str, str] = field(default_factory=dict)
    links: dict[str, _Link] = field(default_factory=dict)
    bookmarks: dict[str, datetime] = field(default_factory=dict)
    outbox: list[OutboxItem] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    # The SQL store's researcher row ids and timestamps; erased researchers keep only a number.
    researcher_numbers: dict[str, str] = field(default_factory=dict)
    researcher_times: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    removed_researchers: dict[str, str | None] = field(default_factory=dict)
    inbound_ids: set[str] = field(default_factory=set)
    # seen_ciphertexts: (digest, report id, received at) kept when the mail is purged.
    seen_ciphertexts: list[tuple[str, str, datetime]] = field(default_factory=list)
    # store_meta: the store id is made with the store, as migration 0004_identity does.
    meta: dict[str, str] = field(default_factory=lambda: {"store_id": secrets.token_hex(8)})
    # reports.next_due_at: the next moment each report changes by time alone (None: never).
    next_due: dict[str, datetime | None] = field(default_factory=dict)

    def require_report(self, report_id: str, what: str) -> None:
        # The SQL store's foreign keys refuse the same.
        if report_id not in self.reports:
            msg = f"{what} refers to report {report_id}, which is not stored"
            raise StoreError(msg)


class MemoryStore:
    """Holds committed state; ``unit_of_work()`` gives a transaction over a private copy.

    Report id counters live outside transactions, as in the SQL store: a rolled-back
    allocation skips its number rather than handing it out again.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.committed = _Tables()
        self.counters: dict[tuple[str, int], int] = {}
        self.commits = 0

    def unit_of_work(self) -> MemoryUnitOfWork:
        """A new unit of work; use it as ``with store.unit_of_work() as uow: ...``."""
        return MemoryUnitOfWork(self)

    def dispose(self) -> None:
        """Nothing to close; here so the memory store can stand in for the SQL one."""

    def now(self) -> datetime:
        """The store's clock (the system clock when none was given)."""
        return self.clock.now()


class MemoryUnitOfWork:
    """Works on a deep copy of the committed state; ``commit`` publishes the copy."""

    # The port types: protocol attributes are invariant, so this makes it a ports.UnitOfWork.
    reports: ReportRepository
    researchers: ResearcherRepository
    messages: MessageRepository
    links: TrackerLinkRepository
    bookmarks: BookmarkRepository
    outbox: OutboxRepository
    audit: AuditRepository
    privacy: PrivacyRepository
    installation: InstallationRepository

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._tables = _Tables()
        self.reports = _Reports(self)
        self.researchers = _Researchers(self)
        self.messages = _Messages(self)
        self.links = _Links(self)
        self.bookmarks = _Bookmarks(self)
        self.outbox = _Outbox(self)
        self.audit = _Audit(self)
        self.privacy = _Privacy(self)
        self.installation = _Installation(self)

    @property
    def tables(self) -> _Tables:
        """The working copy the repositories read and write."""
        return self._tables

    @property
    def store(self) -> MemoryStore:
        """The store this unit of work commits to."""
        return self._store

    def __enter__(self) -> Self:
        self._tables = copy.deepcopy(self._store.committed)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        """Make everything done in this block visible to later units of work."""
        self._store.committed = copy.deepcopy(self._tables)
        self._store.commits += 1

    def rollback(self) -> None:
        """Throw away everything done in this block since the last commit."""
        self._tables = copy.deepcopy(self._store.committed)


class _Reports:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def next_id(self, program: str, prefix: str, year: int) -> ReportId:  # noqa: ARG002 - the ReportRepository port's signature
        counters = self._uow.store.counters
        sequence = counters.get((prefix, year), 0) + 1
        counters[(prefix, year)] = sequence
        return ReportId(prefix, year, sequence)

    def last_sequence(self, prefix: str, year: int) -> int:
        return self._uow.store.counters.get((prefix, year), 0)

    def skip_past(self, prefix: str, year: int, sequence: int) -> None:
        counters = self._uow.store.counters
        counters[(prefix, year)] = max(counters.get((prefix, year), 0), sequence)

    def add(self, report: Report, researcher_email: str, content: ReportContent) -> None:
        tables = self._uow.tables
        report_id = str(report.report_id)
        if report_id in tables.reports:
            msg = f"report {report_id} is already stored"
            raise StoreError(msg)
        key = researcher_email.strip().lower()
        if key not in tables.researchers:
            self._uow.researchers.save(Researcher(email=researcher_email))
        tables.programs.add(report.program)
        tables.reports[report_id] = _normalised(report)
        tables.next_due[report_id] = _due_after_change(report)
        tables.report_researcher[report_id] = key
        tables.contents[report_id] = copy.deepcopy(content)

    def get(self, report_id: str) -> Report | None:
        found = self._uow.tables.reports.get(report_id)
        return None if found is None else copy.deepcopy(found)

    def save(self, report: Report) -> None:
        tables = self._uow.tables
        report_id = str(report.report_id)
        stored = tables.reports.get(report_id)
        if stored is None:
            msg = f"report {report_id} cannot be saved: it was never added"
            raise NotFoundError(msg)
        # History is append-only, as in the SQL store.
        history = stored.history + [_utc_change(c) for c in report.history[len(stored.history) :]]
        saved = _normalised(report)
        saved.program = stored.program
        saved.received_at = stored.received_at
        saved.history = history
        tables.reports[report_id] = saved
        tables.next_due[report_id] = _due_after_change(saved)

    def note_researcher_update(self, report_id: str, at: datetime) -> None:
        report = self.get(report_id)
        if report is not None:
            report.last_researcher_update_at = at
            self.save(report)

    def content(self, report_id: str) -> ReportContent | None:
        found = self._uow.tables.contents.get(report_id)
        return None if found is None else copy.deepcopy(found)

    def researcher_of(self, report_id: str) -> Researcher | None:
        key = self._uow.tables.report_researcher.get(report_id)
        found = None if key is None else self._uow.tables.researchers.get(key)
        return None if found is None else copy.deepcopy(found)

    def credit_name_of(self, report_id: str) -> str | None:
        tables = self._uow.tables
        key = tables.report_researcher.get(report_id)
        if key is None:
            return None
        if key.startswith("removed:"):
            return tables.removed_researchers.get(key.removeprefix("removed:"))
        return tables.researchers[key].credit_name()

    def open_reports(self, program: str | None = None) -> Iterator[Report]:
        found = [
            copy.deepcopy(report)
            for report in self._uow.tables.reports.values()
            if report.state.is_open and (program is None or report.program == program)
        ]
        found.sort(key=lambda report: (report.received_at, str(report.report_id)))
        return iter(found)

    def open_reports_page(self, after: str | None, limit: int) -> list[Report]:
        found = sorted(
            (
                report
                for report_id, report in self._uow.tables.reports.items()
                if report.state.is_open and (after is None or report_id > after)
            ),
            key=lambda report: str(report.report_id),
        )
        return [copy.deepcopy(report) for report in found[:limit]]

    def unlinked_reports_page(self, after: str | None, limit: int) -> list[str]:
        tables = self._uow.tables
        found = sorted(
            report_id
            for report_id, report in tables.reports.items()
            if report.state.is_open
            and report_id not in tables.links
            and (after is None or report_id > after)
        )
        return found[:limit]

    def due_reports_page(
        self, now: datetime, after: str | None, limit: int, *, closed: bool | None = False
    ) -> list[Report]:
        tables = self._uow.tables
        found = sorted(
            (
                report
                for report_id, report in tables.reports.items()
                if (closed is None or report.state.is_closed is closed)
                and (after is None or report_id > after)
                and (moment := tables.next_due.get(report_id)) is not None
                and moment <= as_utc(now)
            ),
            key=lambda report: str(report.report_id),
        )
        return [copy.deepcopy(report) for report in found[:limit]]

    def mark_all_due(self) -> int:
        tables = self._uow.tables
        for report_id in tables.reports:
            tables.next_due[report_id] = DUE_NOW
        return len(tables.reports)

    def set_next_due(self, report: Report, moment: datetime | None) -> bool:
        tables = self._uow.tables
        report_id = str(report.report_id)
        stored = tables.reports.get(report_id)
        unchanged = stored is not None and (
            stored.state,
            stored.severity,
            stored.expected_fix_date,
            stored.last_researcher_update_at,
            len(stored.history),
        ) == (
            report.state,
            report.severity,
            report.expected_fix_date,
            report.last_researcher_update_at,
            len(report.history),
        )
        if unchanged:
            tables.next_due[report_id] = _utc_or_none(moment)
        return unchanged

    def reports_in(self, states: frozenset[State]) -> Iterator[Report]:
        found = [
            copy.deepcopy(report)
            for report in self._uow.tables.reports.values()
            if report.state in states
        ]
        found.sort(key=lambda report: (report.received_at, str(report.report_id)))
        return iter(found)

    def add_event(self, event: ReportEvent) -> bool:
        tables = self._uow.tables
        if event.dedupe_key is not None and any(
            e.dedupe_key == event.dedupe_key for e in tables.events
        ):
            return False
        tables.require_report(event.report_id, "event")
        tables.events.append(replace(event, at=as_utc(event.at)))
        return True

    def events(self, report_id: str) -> list[ReportEvent]:
        found = [e for e in self._uow.tables.events if e.report_id == report_id]
        return sorted(found, key=lambda e: e.at)  # stable: insertion order among equal times

    def report_ids_with_event(self, kind: str) -> list[str]:
        return sorted({e.report_id for e in self._uow.tables.events if e.kind == kind})


def _utc_change(change: StateChange) -> StateChange:
    return StateChange(at=as_utc(change.at), source=change.source, target=change.target)


def _due_after_change(report: Report) -> datetime:  # noqa: ARG001 - one policy for every report; the parameter keeps the rule's shape
    return DUE_NOW


def _normalised(report: Report) -> Report:
    copied = copy.deepcopy(report)
    copied.received_at = as_utc(copied.received_at)
    copied.expected_fix_date = _utc_or_none(copied.expected_fix_date)
    copied.last_researcher_update_at = _utc_or_none(copied.last_researcher_update_at)
    copied.history = [_utc_change(change) for change in copied.history]
    return copied


class _Researchers:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, email: str) -> Researcher | None:
        found = self._uow.tables.researchers.get(email.strip().lower())
        return None if found is None else copy.deepcopy(found)

    def save(self, researcher: Researcher) -> None:
        tables = self._uow.tables
        key = researcher.email.lower()
        now = self._uow.store.now()
        if key not in tables.researcher_numbers:
            number = len(tables.researcher_numbers) + len(tables.removed_researchers) + 1
            tables.researcher_numbers[key] = str(number)
            tables.researcher_times[key] = (now, now)
        else:
            tables.researcher_times[key] = (tables.researcher_times[key][0], now)
        tables.researchers[key] = copy.deepcopy(researcher)


class _Messages:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def seen(self, message_id: str, digest: str) -> StoredMessage | None:
        return self._uow.tables.messages.get((message_id, digest))

    def add(self, message: StoredMessage) -> None:
        tables = self._uow.tables
        if message.report_id is not None:
            tables.require_report(message.report_id, f"message {message.message_id}")
        tables.messages.setdefault(
            (message.message_id, message.digest),
            replace(message, received_at=as_utc(message.received_at)),
        )
        if message.report_id is not None:
            _index(tables, message.message_id, message.report_id)
            tables.inbound_ids.add(normalise_message_id(message.message_id))
            tables.next_due[message.report_id] = DUE_NOW

    def report_for_message_ids(self, message_ids: Sequence[str]) -> str | None:
        for message_id in message_ids:
            found = self._uow.tables.message_index.get(normalise_message_id(message_id))
            if found is not None:
                return found
        return None

    def first_message_id(self, report_id: str) -> str | None:
        mails = [m for m in self._uow.tables.messages.values() if m.report_id == report_id]
        mails.sort(key=lambda m: m.received_at)  # stable: arrival order among equal times
        return mails[0].message_id if mails else None

    def report_for_ciphertext(self, ciphertext_digest: str) -> str | None:
        mails = [
            m
            for m in self._uow.tables.messages.values()
            if m.ciphertext_digest == ciphertext_digest and m.report_id is not None
        ]
        seen = [
            (received_at, report_id)
            for digest, report_id, received_at in self._uow.tables.seen_ciphertexts
            if digest == ciphertext_digest
        ]
        seen += [(m.received_at, m.report_id) for m in mails if m.report_id is not None]
        seen.sort(key=lambda pair: pair[0])  # stable: the kept digests first among equal times
        return seen[0][1] if seen else None


def _index(tables: _Tables, message_id: str, report_id: str) -> None:
    key = normalise_message_id(message_id)
    if key:
        tables.message_index.setdefault(key, report_id)


class _Links:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, report_id: str) -> IssueRef | None:
        found = self._uow.tables.links.get(report_id)
        return None if found is None else found.ref

    def link(self, report_id: str, ref: IssueRef, labels: frozenset[str] | None = None) -> None:
        tables = self._uow.tables
        tables.require_report(report_id, f"tracker link {ref.tracker} {ref.project} {ref.key}")
        holder = self.report_for(ref.tracker, ref.project, ref.key)
        if holder not in (None, report_id):
            msg = f"issue {ref.project} {ref.key} is already linked to {holder}"
            raise StoreError(msg)
        existing = tables.links.get(report_id)
        kept = existing.labels if existing else frozenset()
        tables.links[report_id] = _Link(ref, kept if labels is None else frozenset(labels))
        if (existing is None or existing.ref != ref) and tables.reports[report_id].state.is_open:
            tables.next_due[report_id] = DUE_NOW

    def report_for(self, tracker: str, project: str, key: str) -> str | None:
        for report_id, link in self._uow.tables.links.items():
            if (link.ref.tracker, link.ref.project, link.ref.key) == (tracker, project, key):
                return report_id
        return None

    def labels(self, report_id: str) -> frozenset[str]:
        found = self._uow.tables.links.get(report_id)
        return frozenset() if found is None else found.labels

    def links_of(self, report_ids: Sequence[str]) -> dict[str, tuple[IssueRef, frozenset[str]]]:
        links = self._uow.tables.links
        return {rid: (links[rid].ref, links[rid].labels) for rid in report_ids if rid in links}

    def set_labels(self, report_id: str, labels: frozenset[str]) -> None:
        found = self._uow.tables.links.get(report_id)
        if found is None:
            msg = f"report {report_id} has no tracker issue to remember labels for"
            raise NotFoundError(msg)
        found.labels = frozenset(labels)


class _Bookmarks:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, name: str) -> datetime | None:
        return self._uow.tables.bookmarks.get(name)

    def set(self, name: str, value: datetime) -> None:
        self._uow.tables.bookmarks[name] = as_utc(value)


class _Installation:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def store_id(self) -> str:
        return self._uow.tables.meta["store_id"]

    def get(self, key: str) -> str | None:
        return self._uow.tables.meta.get(key)

    def put(self, key: str, value: str | None) -> None:
        if value is None:
            self._uow.tables.meta.pop(key, None)
        else:
            self._uow.tables.meta[key] = value


class _Outbox:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, item: OutboxItem) -> bool:
        tables = self._uow.tables
        if any(row.dedupe_key == item.dedupe_key for row in tables.outbox):
            return False
        if any(row.outbox_id == item.outbox_id for row in tables.outbox):
            msg = f"outbox row {item.outbox_id} is already queued"
            raise StoreError(msg)
        tables.require_report(item.report_id, f"outbox row {item.outbox_id}")
        stored = copy.deepcopy(item)
        stored.params = dict(item.params)
        stored.created_at = as_utc(item.created_at)
        stored.next_attempt_at = _utc_or_none(item.next_attempt_at)
        stored.sent_at = _utc_or_none(item.sent_at)
        tables.outbox.append(stored)
        _index(tables, item.message_id, item.report_id)
        tables.next_due[item.report_id] = DUE_NOW
        return True

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        moment = as_utc(now)
        found = [
            copy.deepcopy(row)
            for row in self._ordered()
            if row.status is OutboxStatus.PENDING
            and (row.next_attempt_at is None or row.next_attempt_at <= moment)
        ]
        return found[:limit]

    def save(self, item: OutboxItem) -> None:
        for row in self._uow.tables.outbox:
            if row.outbox_id == item.outbox_id:
                row.status = item.status
                row.attempts = item.attempts
                row.next_attempt_at = _utc_or_none(item.next_attempt_at)
                row.sent_at = _utc_or_none(item.sent_at)
                row.last_error = item.last_error
                return
        msg = f"outbox row {item.outbox_id} cannot be saved: it was never queued"
        raise NotFoundError(msg)

    def for_report(self, report_id: str) -> list[OutboxItem]:
        return [copy.deepcopy(row) for row in self._ordered() if row.report_id == report_id]

    def release_withheld(self, recipient: str, now: datetime) -> int:
        wanted = recipient.strip().lower()
        released = 0
        for row in self._uow.tables.outbox:
            if row.recipient.lower() == wanted and row.status is OutboxStatus.WITHHELD:
                row.status = OutboxStatus.PENDING
                row.next_attempt_at = as_utc(now)
                row.last_error = None
                released += 1
        return released

    def sent_since(self, recipient: str, since: datetime) -> int:
        moment = as_utc(since)
        wanted = recipient.strip().lower()
        return sum(
            1
            for row in self._uow.tables.outbox
            if row.recipient.lower() == wanted
            and row.status is OutboxStatus.SENT
            and row.sent_at is not None
            and row.sent_at >= moment
        )

    def _ordered(self) -> list[OutboxItem]:
        return sorted(self._uow.tables.outbox, key=lambda row: row.created_at)


class _Audit:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def record(self, entry: AuditEntry) -> None:
        self._uow.tables.audit.append(replace(entry, at=as_utc(entry.at)))

    def entries(self, report_id: str | None = None) -> list[AuditEntry]:
        found = [e for e in self._uow.tables.audit if report_id is None or e.report_id == report_id]
        return sorted(found, key=lambda e: e.at)  # stable: insertion order among equal times


class _Privacy:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def held_content(self, report_id: str) -> HeldContent:
        tables = self._uow.tables
        content = tables.contents.get(report_id)
        mails = self.messages_of(report_id)
        return HeldContent(
            report_id=report_id,
            contents=0 if content is None else 1,
            attachments=0 if content is None else len(content.attachments),
            messages=len(mails),
            outbox_rows=sum(
                1
                for row in tables.outbox
                if row.report_id == report_id and (row.recipient or row.params)
            ),
            message_ids=tuple(m.message_id for m in mails),
            digests=tuple(m.digest for m in mails),
        )

    def purge_content(self, report_id: str) -> HeldContent:
        held = self.held_content(report_id)
        tables = self._uow.tables
        tables.contents.pop(report_id, None)
        for key in [k for k, m in tables.messages.items() if m.report_id == report_id]:
            mail = tables.messages.pop(key)
            digest = mail.ciphertext_digest
            if digest is not None and not any(
                seen[:2] == (digest, report_id) for seen in tables.seen_ciphertexts
            ):
                tables.seen_ciphertexts.append((digest, report_id, mail.received_at))
        self._strip_outbox(report_id)
        return held

    def _strip_outbox(self, report_id: str) -> tuple[int, int]:
        stripped = cancelled = 0
        for row in self._uow.tables.outbox:
            if row.report_id != report_id:
                continue
            recipient = row.recipient
            if row.recipient or row.params:
                row.recipient, row.params = "", {}
                stripped += 1
            row.last_error = scrub(row.last_error, [recipient])
            if row.status in (OutboxStatus.PENDING, OutboxStatus.WITHHELD):
                row.status = OutboxStatus.CANCELLED
                row.last_error = "the researcher's contact details are no longer held"
                cancelled += 1
        return stripped, cancelled

    def unlinked_messages(self, received_before: datetime) -> list[StoredMessage]:
        moment = as_utc(received_before)
        found = [
            m
            for m in self._uow.tables.messages.values()
            if m.report_id is None and m.received_at < moment
        ]
        return sorted(found, key=lambda m: m.received_at)

    def delete_messages(self, keys: Sequence[tuple[str, str]]) -> int:
        messages = self._uow.tables.messages
        deleted = 0
        for key in keys:
            if messages.pop(tuple(key), None) is not None:  # type: ignore[arg-type]
                deleted += 1
        return deleted

    def messages_of(self, report_id: str) -> list[StoredMessage]:
        found = [m for m in self._uow.tables.messages.values() if m.report_id == report_id]
        return sorted(found, key=lambda m: m.received_at)

    def contact_holders(self) -> list[ContactHolder]:
        tables = self._uow.tables
        holders = []
        for email_key in sorted(
            tables.researchers, key=lambda k: int(tables.researcher_numbers[k])
        ):
            reports = sorted(
                (tables.reports[r] for r, k in tables.report_researcher.items() if k == email_key),
                key=lambda report: (report.received_at, str(report.report_id)),
            )
            holders.append(
                ContactHolder(
                    tables.researcher_numbers[email_key],
                    tuple(str(report.report_id) for report in reports),
                )
            )
        return holders

    def owed_notes(self) -> list[OwedNote]:
        tables = self._uow.tables
        noted = {(e.report_id, e.detail) for e in tables.events if e.kind == "purge_noted"}
        first: dict[tuple[str, str], tuple[datetime, int]] = {}
        for position, event in enumerate(tables.events):
            what = PURGE_NOTE_KINDS.get(event.kind)
            key = (event.report_id, what or "")
            if what is None or key in noted or event.report_id not in tables.links:
                continue
            first[key] = min(first.get(key, (event.at, position)), (event.at, position))
        order = sorted(
            first.items(),
            key=lambda item: (tables.reports[item[0][0]].received_at, item[0][0], item[1]),
        )
        return [OwedNote(report_id, what, at) for (report_id, what), (at, _) in order]

    def researcher_key_for(self, email: str) -> str | None:
        return self._uow.tables.researcher_numbers.get(email.strip().lower())

    def _email_key(self, researcher_key: str) -> str | None:
        numbers = self._uow.tables.researcher_numbers
        return next((k for k, n in numbers.items() if n == researcher_key), None)

    def researcher_record(self, researcher_key: str) -> ResearcherRecord | None:
        tables = self._uow.tables
        email_key = self._email_key(researcher_key)
        if email_key is None:
            return None
        created, updated = tables.researcher_times[email_key]
        return ResearcherRecord(
            researcher_key, copy.deepcopy(tables.researchers[email_key]), created, updated
        )

    def erase_contact(self, researcher_key: str, *, keep_credit: bool = True) -> ErasedContact:
        tables = self._uow.tables
        email_key = self._email_key(researcher_key)
        if email_key is None:
            return ErasedContact(researcher_key, ())
        researcher = tables.researchers.pop(email_key)
        del tables.researcher_numbers[email_key]
        del tables.researcher_times[email_key]
        # What credits may still print: the consented name, or "Anonymous researcher".
        tables.removed_researchers[researcher_key] = (
            researcher.credit_name() if keep_credit else None
        )
        report_ids = [r for r, k in tables.report_researcher.items() if k == email_key]
        report_ids.sort(key=lambda r: (tables.reports[r].received_at, r))
        for report_id in report_ids:
            tables.report_researcher[report_id] = f"removed:{researcher_key}"
        stripped = cancelled = 0
        for report_id in report_ids:
            s, c = self._strip_outbox(report_id)
            stripped, cancelled = stripped + s, cancelled + c
            content = tables.contents.get(report_id)
            if content is not None:
                tables.contents[report_id] = replace(
                    content, signature=SignatureCheck(content.signature.status)
                )
        secrets = [researcher.email, researcher.fingerprint]
        scrubbed = 0
        for position, event in enumerate(tables.events):
            if event.report_id not in report_ids:
                continue
            detail = (
                REMOVED_EVENT_DETAIL if event.kind in KEY_EVENTS else scrub(event.detail, secrets)
            )
            dedupe_key = event.dedupe_key
            if dedupe_key is not None and scrub(dedupe_key, secrets) != dedupe_key:
                dedupe_key = f"scrubbed:{position}"
            if (detail, dedupe_key) != (event.detail, event.dedupe_key):
                tables.events[position] = replace(event, detail=detail or "", dedupe_key=dedupe_key)
                scrubbed += 1
        for message_id in [
            m
            for m, r in tables.message_index.items()
            if r in report_ids and m in tables.inbound_ids
        ]:
            del tables.message_index[message_id]
            tables.inbound_ids.discard(message_id)
        return ErasedContact(researcher_key, tuple(report_ids), stripped, cancelled, scrubbed)


if TYPE_CHECKING:

    def _is_a_unit_of_work(uow: MemoryUnitOfWork) -> UnitOfWork:
        # mypy fails here when the fake drifts from the port.
        return uow

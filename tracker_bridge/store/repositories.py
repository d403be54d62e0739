"""The store repositories over SQLAlchemy Core: domain objects in, domain objects out."""

from __future__ import annotations

import sqlite3
from copy import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    RowMapping,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from tracker_bridge.domain.message_ids import normalise_message_id
from tracker_bridge.domain.report import Report, ReportId, State, StateChange
from tracker_bridge.domain.researcher import CreditWish, Language, Researcher
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import NotFoundError, StoreError
from tracker_bridge.ports.intake import Attachment, Verdict
from tracker_bridge.ports.mail import NotificationKind, OutboxItem, OutboxStatus
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import DUE_NOW, ReportContent, ReportEvent, StoredMessage
from tracker_bridge.ports.tracker import IssueRef
from tracker_bridge.store import tables as t
from tracker_bridge.store.errors import translate_error
from tracker_bridge.store.types import UTCDateTime

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import datetime

__all__ = [
    "SqlBookmarkRepository",
    "SqlMessageRepository",
    "SqlOutboxRepository",
    "SqlReportRepository",
    "SqlResearcherRepository",
    "SqlTrackerLinkRepository",
    "StoreContext",
    "normalise_message_id",
]

CLOSED_STATES: frozenset[str] = frozenset(state.value for state in State if state.is_closed)

# The closed states written into the SQL: a NOT IN over a list parameter is expanded again at
# every execution, which costs a statement run per message more Python than the query itself.
# The names are the State enum's fixed values, never input.
_CLOSED_STATES_SQL: list[ColumnElement[str]] = [
    literal_column(f"'{state}'") for state in sorted(CLOSED_STATES)
]

# Statements a pass runs once per page, built once: building them per page left SQLAlchemy's
# cyclic construct graphs for the cyclic GC, and a long pass's peak memory grew with its pages.
_OPEN_PAGE_FIRST = (
    select(t.reports)
    .where(t.reports.c.state.not_in(sorted(CLOSED_STATES)))
    .order_by(t.reports.c.report_id)
    .limit(bindparam("limit"))
)
_OPEN_PAGE_AFTER = _OPEN_PAGE_FIRST.where(t.reports.c.report_id > bindparam("after"))
# Ordered by an expression, not the column: with ORDER BY report_id SQLite walks the primary key
# through every tracked report (85 ms at 100,000) instead of taking the few due ones from the
# next_due_at index and sorting them (0.03 ms). The order is the same.
_DUE_PAGE_FIRST = (
    select(t.reports)
    .where(t.reports.c.state.not_in(sorted(CLOSED_STATES)))
    .where(t.reports.c.next_due_at <= bindparam("now"))
    .order_by(t.reports.c.report_id.concat(literal_column("''")))
    .limit(bindparam("limit"))
)
_DUE_PAGE_AFTER = _DUE_PAGE_FIRST.where(t.reports.c.report_id > bindparam("after"))
# Open and closed alike (the sync: legal clocks keep running after a report closes).
_ANY_DUE_PAGE_FIRST = (
    select(t.reports)
    .where(t.reports.c.next_due_at <= bindparam("now"))
    .order_by(t.reports.c.report_id.concat(literal_column("''")))
    .limit(bindparam("limit"))
)
_ANY_DUE_PAGE_AFTER = _ANY_DUE_PAGE_FIRST.where(t.reports.c.report_id > bindparam("after"))
# Run before the link's upsert: the report is due unless it is linked to this very issue.
_DUE_ON_NEW_LINK = (
    t.reports.update()
    .where(t.reports.c.report_id == bindparam("b_id"))
    .where(t.reports.c.state.not_in(_CLOSED_STATES_SQL))
    .where(
        ~exists().where(
            t.tracker_links.c.report_id == bindparam("b_id"),
            t.tracker_links.c.tracker == bindparam("b_tracker"),
            t.tracker_links.c.project == bindparam("b_project"),
            t.tracker_links.c.key == bindparam("b_key"),
            t.tracker_links.c.url == bindparam("b_url"),
        )
    )
    .values(next_due_at=DUE_NOW)
)
# Content kept for a report (a late reply, a queued mail) makes it due: retention looks again.
_MARK_DUE = (
    t.reports.update().where(t.reports.c.report_id == bindparam("b_id")).values(next_due_at=DUE_NOW)
)
_CLOSED_DUE_PAGE_FIRST = (
    select(t.reports)
    .where(t.reports.c.state.in_(sorted(CLOSED_STATES)))
    .where(t.reports.c.next_due_at <= bindparam("now"))
    .order_by(t.reports.c.report_id.concat(literal_column("''")))
    .limit(bindparam("limit"))
)
_CLOSED_DUE_PAGE_AFTER = _CLOSED_DUE_PAGE_FIRST.where(t.reports.c.report_id > bindparam("after"))
_UNLINKED_PAGE = (
    select(t.reports.c.report_id)
    .outerjoin(t.tracker_links, t.tracker_links.c.report_id == t.reports.c.report_id)
    .where(t.tracker_links.c.report_id.is_(None))
    .where(t.reports.c.state.not_in(sorted(CLOSED_STATES)))
    .where(t.reports.c.report_id > bindparam("after"))
    .order_by(t.reports.c.report_id)
    .limit(bindparam("limit"))
)
_SET_NEXT_DUE = (
    t.reports.update()
    .where(t.reports.c.report_id == bindparam("b_id"))
    .where(t.reports.c.state == bindparam("b_state"))
    .where(t.reports.c.severity == bindparam("b_severity"))
    .where(
        t.reports.c.expected_fix_date.is_not_distinct_from(bindparam("b_fix", type_=UTCDateTime()))
    )
    .where(
        t.reports.c.last_researcher_update_at.is_not_distinct_from(
            bindparam("b_last_update", type_=UTCDateTime())
        )
    )
    .where(
        select(func.count())
        .select_from(t.report_history)
        .where(t.report_history.c.report_id == t.reports.c.report_id)
        .scalar_subquery()
        == bindparam("b_changes")
    )
    .values(next_due_at=bindparam("b_moment", type_=UTCDateTime()))
)
_INSERT_REPORT = t.reports.insert()
_SAVE_REPORT = (
    t.reports.update()
    .where(t.reports.c.report_id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        severity=bindparam("b_severity"),
        cvss_vector=bindparam("b_cvss"),
        expected_fix_date=bindparam("b_fix", type_=UTCDateTime()),
        last_researcher_update_at=bindparam("b_last_update", type_=UTCDateTime()),
        next_due_at=bindparam("b_next_due", type_=UTCDateTime()),
    )
)
_NOTE_RESEARCHER_UPDATE = (
    t.reports.update()
    .where(t.reports.c.report_id == bindparam("b_id"))
    .values(
        last_researcher_update_at=bindparam("b_at", type_=UTCDateTime()),
        next_due_at=bindparam("b_next_due", type_=UTCDateTime()),
    )
)
_INSERT_CONTENT = t.report_contents.insert()
_HISTORIES = (
    select(t.report_history)
    .where(t.report_history.c.report_id.in_(bindparam("ids", expanding=True)))
    .order_by(t.report_history.c.report_id, t.report_history.c.position)
)
# One report and its history, as get and save read them (a sent acknowledgement, a reply).
_REPORT_BY_ID = select(t.reports).where(t.reports.c.report_id == bindparam("b_id"))
_HISTORY_OF = (
    select(t.report_history)
    .where(t.report_history.c.report_id == bindparam("b_id"))
    .order_by(t.report_history.c.position)
)
_HISTORY_COUNT = (
    select(func.count())
    .select_from(t.report_history)
    .where(t.report_history.c.report_id == bindparam("b_id"))
)
_LINKS_OF = select(
    t.tracker_links.c.report_id,
    t.tracker_links.c.tracker,
    t.tracker_links.c.project,
    t.tracker_links.c.key,
    t.tracker_links.c.url,
    t.tracker_links.c.labels,
).where(t.tracker_links.c.report_id.in_(bindparam("ids", expanding=True)))


@dataclass
class KnownResearcher:
    """A researchers row as this unit of work last read or wrote it."""

    row_id: int
    # The researcher as stored; None when only the row id is known (an upsert of a row this
    # unit of work had not read: its removed_at is unknown).
    researcher: Researcher | None
    removed: bool


@dataclass
class StoreContext:
    """What every repository of one unit of work shares."""

    connection: Connection
    engine: Engine
    now: Callable[[], datetime]
    # Reports this unit of work made due now (``next_due_at`` = DUE_NOW) and nothing has moved
    # since: marking them due again is a statement that changes nothing.
    due_now: set[str] = field(default_factory=set)
    # Programs whose row a committed transaction of this store wrote or found (shared by the
    # store's units of work), and those this transaction wrote: they join the first at commit,
    # never before, because a rollback takes the row away again.
    programs: set[str] = field(default_factory=set)
    new_programs: set[str] = field(default_factory=set)
    # Researchers this transaction read or wrote, by email_key, and the researcher row of each
    # report it added: ingest reads a new report's researcher three times in one transaction.
    # Cleared by every write to researchers other than ``SqlResearcherRepository.save``.
    researchers: dict[str, KnownResearcher] = field(default_factory=dict)
    missing_researchers: set[str] = field(default_factory=set)
    report_researchers: dict[str, int] = field(default_factory=dict)

    def forget_researchers(self) -> None:
        """Drop what this transaction remembers of researchers (a row changed behind the cache)."""
        self.researchers.clear()
        self.missing_researchers.clear()
        self.report_researchers.clear()

    def end_transaction(self, *, committed: bool) -> None:
        """Forget what held for the transaction that ended; keep its programs rows if committed.

        The next transaction reads researchers afresh and marks reports due again: another
        worker may write between the two.
        """
        if committed:
            self.programs.update(self.new_programs)
        self.new_programs.clear()
        self.forget_researchers()
        self.due_now.clear()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.connection.dialect.name


def _insert(context: StoreContext, table: Table) -> postgresql.Insert | sqlite.Insert:
    # Both dialects spell ON CONFLICT the same way; only the constructor differs.
    if context.dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# Statements ingest runs for every message, built once per dialect and run with parameters: a
# statement built per call costs SQLAlchemy its construction and cache key each time (about a
# third of the store's CPU per message), one built once only the execution.
_PREBUILT: dict[tuple[str, str], Any] = {}


def _prebuilt(
    context: StoreContext,
    name: str,
    build: Callable[[Callable[[Table], postgresql.Insert | sqlite.Insert]], Any],
) -> Any:
    """The statement ``build`` makes for this dialect (given ``_insert``), built on first use."""
    key = (name, context.dialect)
    found = _PREBUILT.get(key)
    if found is None:
        found = _PREBUILT[key] = build(lambda table: _insert(context, table))
    return found


def _mark_due(context: StoreContext, report_id: str) -> None:
    """Make the report due at the next pass, unless this unit of work just did."""
    if report_id not in context.due_now:
        context.connection.execute(_MARK_DUE, {"b_id": report_id})


_SEEN = select(t.raw_messages).where(
    t.raw_messages.c.message_id == bindparam("b_message_id"),
    t.raw_messages.c.digest == bindparam("b_digest"),
)
_LAST_SEQUENCE = select(t.report_id_counters.c.last_sequence).where(
    t.report_id_counters.c.prefix == bindparam("b_prefix"),
    t.report_id_counters.c.year == bindparam("b_year"),
)
_RESEARCHER_BY_KEY = select(t.researchers).where(t.researchers.c.email_key == bindparam("b_key"))
_RESEARCHER_ID_BY_KEY = select(t.researchers.c.id).where(
    t.researchers.c.email_key == bindparam("b_key")
)
_RESEARCHER_OF = (
    select(t.researchers)
    .join(t.reports, t.reports.c.researcher_id == t.researchers.c.id)
    .where(t.reports.c.report_id == bindparam("b_id"))
    .where(t.researchers.c.removed_at.is_(None))
)
_LINK_OF = select(
    t.tracker_links.c.tracker,
    t.tracker_links.c.project,
    t.tracker_links.c.key,
    t.tracker_links.c.url,
).where(t.tracker_links.c.report_id == bindparam("b_id"))
_SET_LABELS = (
    t.tracker_links.update()
    .where(t.tracker_links.c.report_id == bindparam("b_id"))
    .values(labels=bindparam("b_labels", type_=t.tracker_links.c.labels.type))
)
# The earliest mail of each table that carried the ciphertext, then the earlier of the two
# (seen_ciphertexts first on a tie): one statement, each side still taking its digest index.
_CIPHERTEXT_FIRSTS = [
    select(table.c.received_at, table.c.report_id, literal_column(str(side)).label("side"))
    .where(table.c.ciphertext_digest == bindparam("b_digest"), table.c.report_id.is_not(None))
    .order_by(table.c.received_at, table.c.id)
    .limit(1)
    .subquery()
    for side, table in enumerate((t.seen_ciphertexts, t.raw_messages))
]
_CIPHERTEXT_REPORT = (
    union_all(*(select(first) for first in _CIPHERTEXT_FIRSTS))
    .order_by(literal_column("received_at"), literal_column("side"))
    .limit(1)
)


# SQLite copies a bound blob twice (the bound value, then the record it builds): 2x a 25 MiB
# message at the peak. A blob this large is inserted as zeroblob(n) and then written through
# SQLite's incremental blob I/O (https://www.sqlite.org/c3ref/blob_open.html), one slice at a
# time, so memory holds a slice and the page cache, not two more copies. PostgreSQL binds as is.
_STREAMED_BLOB_BYTES = 1024 * 1024


def _blob_value(context: StoreContext, data: bytes) -> Any:
    """The value to insert for ``data``: itself, or a zeroblob to fill with ``_fill_blob``."""
    if context.dialect == "sqlite" and len(data) >= _STREAMED_BLOB_BYTES:
        return func.zeroblob(len(data))
    return data


def _fill_blob(
    context: StoreContext, table: Table, column: str, inserted: CursorResult[Any], data: bytes
) -> None:
    """Write ``data`` into the zeroblob ``_blob_value`` put in the row just ``inserted``.

    Nothing to do on PostgreSQL, for a small blob, or when the insert was skipped (a conflict).
    """
    if context.dialect != "sqlite" or len(data) < _STREAMED_BLOB_BYTES or inserted.rowcount != 1:
        return
    rowid = inserted.lastrowid
    driver = context.connection.connection.driver_connection
    view = memoryview(data)
    try:
        with driver.blobopen(table.name, column, rowid) as blob:  # type: ignore[union-attr]
            for start in range(0, len(data), _STREAMED_BLOB_BYTES):
                blob.write(view[start : start + _STREAMED_BLOB_BYTES])
    except sqlite3.Error as err:
        # Not a statement SQLAlchemy ran, so its error seam did not see it: translate here.
        wrapped = sa_exc.DBAPIError(f"blob write {table.name}.{column}", None, err)
        url = context.engine.url.render_as_string(hide_password=True)
        raise translate_error(wrapped, url, "sqlite") from err


def _ensure_program(context: StoreContext, connection: Connection, program: str) -> None:
    # Once per program and store: a committed programs row is never deleted by the bridge.
    if program in context.programs or program in context.new_programs:
        return
    statement = _prebuilt(
        context,
        "ensure_program",
        lambda insert: insert(t.programs).on_conflict_do_nothing(index_elements=["name"]),
    )
    connection.execute(statement, {"name": program, "created_at": context.now()})
    context.new_programs.add(program)


# ---------------------------------------------------------------------------- reports


def _state_change_from(row: RowMapping) -> StateChange:
    """One report_history row as the domain's StateChange."""
    return StateChange(at=row["at"], source=State(row["source"]), target=State(row["target"]))


def _report_from(row: RowMapping, history: list[StateChange]) -> Report:
    return Report(
        report_id=ReportId.parse(row["report_id"]),
        program=row["program"],
        received_at=row["received_at"],
        state=State(row["state"]),
        severity=Severity(row["severity"]),
        cvss_vector=row["cvss_vector"],
        expected_fix_date=row["expected_fix_date"],
        history=history,
        last_researcher_update_at=row["last_researcher_update_at"],
    )


def stored_message_from(row: Any) -> StoredMessage:
    """A raw_messages row as the port's StoredMessage."""
    return StoredMessage(
        message_id=row["message_id"],
        digest=row["digest"],
        received_at=row["received_at"],
        verdict=Verdict(row["verdict"]),
        reason=row["reason"],
        encrypted_raw=bytes(row["encrypted_raw"]),
        report_id=row["report_id"],
        source=row["source"],
        ciphertext_digest=row["ciphertext_digest"],
    )


def _researcher_from(row: RowMapping) -> Researcher:
    return Researcher(
        email=row["email"],
        display_name=row["display_name"],
        pseudonym=row["pseudonym"],
        fingerprint=row["fingerprint"],
        language=Language(row["language"]),
        credit_wish=CreditWish(row["credit_wish"]),
    )


def _history_row(report_id: str, position: int, change: StateChange) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "position": position,
        "at": change.at,
        "source": change.source.value,
        "target": change.target.value,
    }


def _due_after_change(report: Report) -> datetime:  # noqa: ARG001 - one policy for every report; the parameter keeps the rule's shape
    """A changed report is looked at by the next pass: sync while open, retention once closed."""
    return DUE_NOW


class SqlReportRepository:
    """Reports, their content, history and events in SQL tables."""

    def __init__(self, context: StoreContext, researchers: SqlResearcherRepository) -> None:
        self._context = context
        self._researchers = researchers

    def next_id(self, program: str, prefix: str, year: int) -> ReportId:  # noqa: ARG002 - the ReportRepository port's signature
        """Allocate the next id for the prefix and year; never hands out the same id twice.

        On PostgreSQL the counter moves in its own short transaction, committed at once, so a
        rollback of this unit of work skips the number instead of handing it out again and
        concurrent workers wait only for each other's increment. SQLite allows one writer at
        a time: the same holds when ``next_id`` is this unit of work's first database call;
        after other calls the increment is part of this transaction.

        Args:
            program: the program asking; not part of the counter key, because report ids are
                unique store-wide: programs sharing a prefix share its sequence.
            prefix: the id prefix, ``CVD``.
            year: the year in the id, in the program's time zone.
        """
        if self._context.dialect == "postgresql" or not self._context.connection.in_transaction():
            with self._context.engine.begin() as autonomous:
                sequence = self._increment(autonomous, prefix, year)
        else:
            sequence = self._increment(self._context.connection, prefix, year)
        return ReportId(prefix, year, sequence)

    def _increment(self, connection: Connection, prefix: str, year: int) -> int:
        # Touches only the counter row: the programs row is written by ``add`` in this unit
        # of work, and an autonomous write to it could wait on our own uncommitted insert.
        counter = t.report_id_counters
        statement = _prebuilt(
            self._context,
            "increment",
            lambda insert: (
                insert(counter)
                .on_conflict_do_update(
                    index_elements=["prefix", "year"],
                    set_={"last_sequence": counter.c.last_sequence + 1},
                )
                .returning(counter.c.last_sequence)
            ),
        )
        parameters = {"prefix": prefix, "year": year, "last_sequence": 1}
        return int(connection.execute(statement, parameters).scalar_one())

    def last_sequence(self, prefix: str, year: int) -> int:
        """The highest sequence number handed out for the prefix and year (0 before the first)."""
        found = self._context.connection.execute(
            _LAST_SEQUENCE, {"b_prefix": prefix, "b_year": year}
        ).scalar_one_or_none()
        return int(found or 0)

    def skip_past(self, prefix: str, year: int, sequence: int) -> None:
        """Make ``next_id`` hand out numbers above ``sequence`` (never moves the counter back)."""
        counter = t.report_id_counters
        statement = (
            _insert(self._context, counter)
            .values(prefix=prefix, year=year, last_sequence=sequence)
            .on_conflict_do_update(
                index_elements=["prefix", "year"],
                set_={
                    "last_sequence": func.max(counter.c.last_sequence, sequence)
                    if self._context.dialect == "sqlite"
                    else func.greatest(counter.c.last_sequence, sequence)
                },
            )
        )
        self._context.connection.execute(statement)

    def add(self, report: Report, researcher_email: str, content: ReportContent) -> None:
        """Store a new report with its researcher (created bare if unknown) and content."""
        connection = self._context.connection
        report_id = str(report.report_id)
        _ensure_program(self._context, connection, report.program)
        researcher_id = self._researchers.id_for(researcher_email)
        if researcher_id is None:
            self._researchers.save(Researcher(email=researcher_email))
            researcher_id = self._researchers.id_for(researcher_email)
        connection.execute(
            _INSERT_REPORT,
            {
                "report_id": report_id,
                "program": report.program,
                "state": report.state.value,
                "severity": report.severity.value,
                "cvss_vector": report.cvss_vector,
                "received_at": report.received_at,
                "expected_fix_date": report.expected_fix_date,
                "last_researcher_update_at": report.last_researcher_update_at,
                "researcher_id": researcher_id,
                "next_due_at": _due_after_change(report),
            },
        )
        self._context.due_now.add(report_id)
        if researcher_id is not None:
            self._context.report_researchers[report_id] = researcher_id
        if report.history:
            connection.execute(
                t.report_history.insert(),
                [_history_row(report_id, i, c) for i, c in enumerate(report.history)],
            )
        connection.execute(
            _INSERT_CONTENT,
            {
                "report_id": report_id,
                "subject": content.subject,
                "body": content.body,
                "encrypted": content.encrypted,
                "signature_status": content.signature.status.value,
                "signature_fingerprint": content.signature.fingerprint,
                "unencrypted_parts": list(content.unencrypted_parts),
            },
        )
        for position, attachment in enumerate(content.attachments):
            inserted: CursorResult[Any] = connection.execute(
                t.attachments.insert().values(
                    report_id=report_id,
                    position=position,
                    filename=attachment.filename,
                    content_type=attachment.content_type,
                    size=len(attachment.content),
                    sha256=attachment.sha256,
                    content=_blob_value(self._context, attachment.content),
                )
            )
            _fill_blob(self._context, t.attachments, "content", inserted, attachment.content)

    def get(self, report_id: str) -> Report | None:
        """The report with its history, or None."""
        connection = self._context.connection
        row = connection.execute(_REPORT_BY_ID, {"b_id": report_id}).mappings().one_or_none()
        if row is None:
            return None
        history = [
            _state_change_from(change)
            for change in connection.execute(_HISTORY_OF, {"b_id": report_id}).mappings()
        ]
        return _report_from(row, history)

    def _histories(self, report_ids: Sequence[str]) -> dict[str, list[StateChange]]:
        rows = self._context.connection.execute(_HISTORIES, {"ids": list(report_ids)}).mappings()
        found: dict[str, list[StateChange]] = {}
        for row in rows:
            found.setdefault(row["report_id"], []).append(_state_change_from(row))
        return found

    def save(self, report: Report) -> None:
        """Persist state, severity, fix date, new history entries and last update time.

        History is append-only: entries beyond those already stored are added.

        Raises:
            NotFoundError: no report with this id was added.
        """
        connection = self._context.connection
        report_id = str(report.report_id)
        result = connection.execute(
            _SAVE_REPORT,
            {
                "b_id": report_id,
                "b_state": report.state.value,
                "b_severity": report.severity.value,
                "b_cvss": report.cvss_vector,
                "b_fix": report.expected_fix_date,
                "b_last_update": report.last_researcher_update_at,
                "b_next_due": _due_after_change(report),
            },
        )
        if result.rowcount == 0:
            msg = f"report {report_id} cannot be saved: it was never added"
            raise NotFoundError(msg)
        stored = connection.execute(_HISTORY_COUNT, {"b_id": report_id}).scalar_one()
        new_changes = report.history[stored:]
        if new_changes:
            connection.execute(
                t.report_history.insert(),
                [
                    _history_row(report_id, stored + offset, change)
                    for offset, change in enumerate(new_changes)
                ],
            )

    def note_researcher_update(self, report_id: str, at: datetime) -> None:
        """Record that the researcher was last told something at ``at``, without reading it.

        One UPDATE doing what ``get`` + ``save`` do for a change that moves nothing else:
        ``last_researcher_update_at`` = ``at`` and the report due now. No row, no change.
        """
        self._context.due_now.discard(report_id)
        self._context.connection.execute(
            _NOTE_RESEARCHER_UPDATE, {"b_id": report_id, "b_at": at, "b_next_due": DUE_NOW}
        )

    def content(self, report_id: str) -> ReportContent | None:
        """The researcher's words with attachments, or None once purged."""
        connection = self._context.connection
        row = (
            connection.execute(
                select(t.report_contents).where(t.report_contents.c.report_id == report_id)
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        attachment_rows = connection.execute(
            select(t.attachments)
            .where(t.attachments.c.report_id == report_id)
            .order_by(t.attachments.c.position)
        ).mappings()
        return ReportContent(
            report_id=report_id,
            subject=row["subject"],
            body=row["body"],
            encrypted=bool(row["encrypted"]),
            signature=SignatureCheck(
                SignatureStatus(row["signature_status"]), row["signature_fingerprint"]
            ),
            unencrypted_parts=tuple(row["unencrypted_parts"]),
            attachments=tuple(
                Attachment(a["filename"], a["content_type"], bytes(a["content"]), a["sha256"])
                for a in attachment_rows
            ),
        )

    def researcher_of(self, report_id: str) -> Researcher | None:
        """Who reported it, or None once forgotten."""
        known = self._researchers.known_of_added(report_id)
        if known is not None and known.researcher is not None:
            return None if known.removed else copy(known.researcher)
        row = (
            self._context.connection.execute(_RESEARCHER_OF, {"b_id": report_id})
            .mappings()
            .one_or_none()
        )
        return None if row is None else _researcher_from(row)

    def credit_name_of(self, report_id: str) -> str | None:
        """The name to credit, honouring their wish; erased researchers keep a consented name."""
        row = (
            self._context.connection.execute(
                select(t.researchers)
                .join(t.reports, t.reports.c.researcher_id == t.researchers.c.id)
                .where(t.reports.c.report_id == report_id)
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        if row["removed_at"] is None:
            return _researcher_from(row).credit_name()
        # After erasure the pseudonym column holds the consented credit name, if any.
        return Researcher(
            email="researcher-removed@invalid",
            pseudonym=row["pseudonym"],
            credit_wish=CreditWish(row["credit_wish"]),
        ).credit_name()

    def open_reports(self, program: str | None = None) -> Iterator[Report]:
        """Every report not closed, oldest first (read at once, safe to use after the block)."""
        statement = select(t.reports).where(t.reports.c.state.not_in(sorted(CLOSED_STATES)))
        if program is not None:
            statement = statement.where(t.reports.c.program == program)
        rows = list(
            self._context.connection.execute(
                statement.order_by(t.reports.c.received_at, t.reports.c.report_id)
            ).mappings()
        )
        histories = self._histories([row["report_id"] for row in rows]) if rows else {}
        return iter([_report_from(row, histories.get(row["report_id"], [])) for row in rows])

    def open_reports_page(self, after: str | None, limit: int) -> list[Report]:
        """Up to ``limit`` open reports whose id sorts after ``after``, in id order."""
        statement = _OPEN_PAGE_FIRST if after is None else _OPEN_PAGE_AFTER
        rows = list(
            self._context.connection.execute(statement, {"after": after, "limit": limit}).mappings()
        )
        histories = self._histories([row["report_id"] for row in rows]) if rows else {}
        return [_report_from(row, histories.get(row["report_id"], [])) for row in rows]

    def unlinked_reports_page(self, after: str | None, limit: int) -> list[str]:
        """Ids of up to ``limit`` open reports without a tracker issue, in id order."""
        rows = self._context.connection.execute(
            _UNLINKED_PAGE, {"after": after or "", "limit": limit}
        )
        return [str(row[0]) for row in rows]

    def due_reports_page(
        self, now: datetime, after: str | None, limit: int, *, closed: bool | None = False
    ) -> list[Report]:
        """Up to ``limit`` open (closed; with None: any) reports whose moment came, in id order."""
        if closed is None:
            statement = _ANY_DUE_PAGE_FIRST if after is None else _ANY_DUE_PAGE_AFTER
        elif closed:
            statement = _CLOSED_DUE_PAGE_FIRST if after is None else _CLOSED_DUE_PAGE_AFTER
        else:
            statement = _DUE_PAGE_FIRST if after is None else _DUE_PAGE_AFTER
        rows = list(
            self._context.connection.execute(
                statement, {"now": now, "after": after, "limit": limit}
            ).mappings()
        )
        histories = self._histories([row["report_id"] for row in rows]) if rows else {}
        return [_report_from(row, histories.get(row["report_id"], [])) for row in rows]

    def mark_all_due(self) -> int:
        """Make every report due at the next pass; how many were marked."""
        result = self._context.connection.execute(t.reports.update().values(next_due_at=DUE_NOW))
        return int(result.rowcount)

    def set_next_due(self, report: Report, moment: datetime | None) -> bool:
        """Store the next moment unless the stored report changed since ``report`` was read."""
        self._context.due_now.discard(str(report.report_id))
        result = self._context.connection.execute(
            _SET_NEXT_DUE,
            {
                "b_id": str(report.report_id),
                "b_state": report.state.value,
                "b_severity": report.severity.value,
                "b_fix": report.expected_fix_date,
                "b_last_update": report.last_researcher_update_at,
                "b_changes": len(report.history),
                "b_moment": moment,
            },
        )
        return bool(result.rowcount)

    def reports_in(self, states: frozenset[State]) -> Iterator[Report]:
        """Every report in one of ``states``, oldest first."""
        statement = select(t.reports).where(t.reports.c.state.in_(sorted(s.value for s in states)))
        rows = list(
            self._context.connection.execute(
                statement.order_by(t.reports.c.received_at, t.reports.c.report_id)
            ).mappings()
        )
        histories = self._histories([row["report_id"] for row in rows]) if rows else {}
        return iter([_report_from(row, histories.get(row["report_id"], [])) for row in rows])

    def add_event(self, event: ReportEvent) -> bool:
        """Record an event; False (and nothing stored) when its dedupe key was seen."""
        events = t.report_events
        if event.dedupe_key is None:
            statement = _prebuilt(
                self._context, "event", lambda insert: insert(events).returning(events.c.id)
            )
        else:
            statement = _prebuilt(
                self._context,
                "event_once",
                lambda insert: (
                    insert(events)
                    .on_conflict_do_nothing(index_elements=["dedupe_key"])
                    .returning(events.c.id)
                ),
            )
        parameters = {
            "report_id": event.report_id,
            "at": event.at,
            "kind": event.kind,
            "detail": event.detail,
            "dedupe_key": event.dedupe_key,
        }
        # RETURNING, not rowcount: PostgreSQL reports no count for an implicit-RETURNING insert.
        inserted = self._context.connection.execute(statement, parameters)
        return inserted.first() is not None

    def events(self, report_id: str) -> list[ReportEvent]:
        """A report's events, oldest first (insertion order among equal times)."""
        events = t.report_events
        rows = self._context.connection.execute(
            select(events).where(events.c.report_id == report_id).order_by(events.c.at, events.c.id)
        ).mappings()
        return [
            ReportEvent(row["report_id"], row["at"], row["kind"], row["detail"], row["dedupe_key"])
            for row in rows
        ]

    def report_ids_with_event(self, kind: str) -> list[str]:
        """The ids of the reports with an event of ``kind``, sorted (the (kind, report) index)."""
        events = t.report_events
        statement = (
            select(events.c.report_id)
            .where(events.c.kind == kind)
            .distinct()
            .order_by(events.c.report_id)
        )
        return [str(row[0]) for row in self._context.connection.execute(statement)]


# ---------------------------------------------------------------------------- researchers


class SqlResearcherRepository:
    """Researchers keyed by lower-cased mail address."""

    def __init__(self, context: StoreContext) -> None:
        self._context = context

    def id_for(self, email: str) -> int | None:
        """The row id of the researcher with this address, or None."""
        key = email.strip().lower()
        known = self._context.researchers.get(key)
        if known is not None:
            return known.row_id
        found = self._context.connection.execute(
            _RESEARCHER_ID_BY_KEY, {"b_key": key}
        ).scalar_one_or_none()
        return None if found is None else int(found)

    def get(self, email: str) -> Researcher | None:
        """The researcher with this address (any letter case), or None."""
        key = email.strip().lower()
        known = self._context.researchers.get(key)
        if known is not None and known.researcher is not None:
            # A copy: Researcher is mutable, and the remembered one must stay as stored.
            return copy(known.researcher)
        row = (
            self._context.connection.execute(_RESEARCHER_BY_KEY, {"b_key": key})
            .mappings()
            .one_or_none()
        )
        if row is None:
            self._context.missing_researchers.add(key)
            return None
        researcher = _researcher_from(row)
        self._context.researchers[key] = KnownResearcher(
            int(row["id"]), copy(researcher), removed=row["removed_at"] is not None
        )
        return researcher

    def known_of_added(self, report_id: str) -> KnownResearcher | None:
        """The stored researcher of a report this transaction added, when it is known whole."""
        row_id = self._context.report_researchers.get(report_id)
        if row_id is None:
            return None
        for known in self._context.researchers.values():
            if known.row_id == row_id and known.researcher is not None:
                return known
        return None

    def save(self, researcher: Researcher) -> None:
        """Insert or update by address; the address keeps the spelling last saved."""
        now = self._context.now()
        key = researcher.email.lower()
        statement = _prebuilt(
            self._context,
            "researcher",
            lambda insert: _researcher_upsert(insert(t.researchers)),
        )
        row_id = self._context.connection.execute(
            statement,
            {
                "email_key": key,
                "email": researcher.email,
                "display_name": researcher.display_name,
                "pseudonym": researcher.pseudonym,
                "fingerprint": researcher.fingerprint,
                "language": researcher.language.value,
                "credit_wish": researcher.credit_wish.value,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        known = self._context.researchers.get(key)
        # An upsert leaves removed_at as it was: known when this transaction read the row, or
        # found none (this insert made it, not removed). Otherwise only the row id is known.
        whole = known is not None or key in self._context.missing_researchers
        self._context.missing_researchers.discard(key)
        self._context.researchers[key] = KnownResearcher(
            int(row_id),
            copy(researcher) if whole else None,
            removed=known is not None and known.removed,
        )


# The fields an upsert by address overwrites: every column but the key, created_at and removed_at.
_RESEARCHER_FIELDS = (
    "email",
    "display_name",
    "pseudonym",
    "fingerprint",
    "language",
    "credit_wish",
    "updated_at",
)


def _researcher_upsert(statement: postgresql.Insert | sqlite.Insert) -> Any:
    return statement.on_conflict_do_update(
        index_elements=["email_key"],
        set_={name: statement.excluded[name] for name in _RESEARCHER_FIELDS},
    ).returning(t.researchers.c.id)


# ---------------------------------------------------------------------------- messages


class SqlMessageRepository:
    """Raw messages as received, and the Message-ID index that threads replies to reports."""

    def __init__(self, context: StoreContext) -> None:
        self._context = context

    def seen(self, message_id: str, digest: str) -> StoredMessage | None:
        """The stored message with this Message-ID and digest, or None."""
        row = (
            self._context.connection.execute(
                _SEEN, {"b_message_id": message_id, "b_digest": digest}
            )
            .mappings()
            .one_or_none()
        )
        return None if row is None else stored_message_from(row)

    def add(self, message: StoredMessage) -> None:
        """Store a message (a second copy with the same id and digest is ignored).

        A message that belongs to a report also enters the threading index.
        """
        values = {
            "message_id": message.message_id,
            "digest": message.digest,
            "received_at": message.received_at,
            "verdict": message.verdict.value,
            "reason": message.reason,
            "encrypted_raw": _blob_value(self._context, message.encrypted_raw),
            "report_id": message.report_id,
            "source": message.source,
            "ciphertext_digest": message.ciphertext_digest,
        }
        conflict = ["message_id", "digest"]
        if isinstance(values["encrypted_raw"], bytes):
            statement = _prebuilt(
                self._context,
                "raw_message",
                lambda insert: insert(t.raw_messages).on_conflict_do_nothing(
                    index_elements=conflict
                ),
            )
            inserted: CursorResult[Any] = self._context.connection.execute(statement, values)
        else:
            # A streamed blob's zeroblob(n) is SQL, not a parameter.
            inserted = self._context.connection.execute(
                _insert(self._context, t.raw_messages)
                .values(**values)
                .on_conflict_do_nothing(index_elements=conflict)
            )
        _fill_blob(self._context, t.raw_messages, "encrypted_raw", inserted, message.encrypted_raw)
        if message.report_id is not None:
            index_message_id(self._context, message.message_id, message.report_id, "inbound")
            _mark_due(self._context, message.report_id)

    def report_for_message_ids(self, message_ids: Sequence[str]) -> str | None:
        """The report of the first id in ``message_ids`` the index knows (pass In-Reply-To first)."""
        wanted = [normalise_message_id(m) for m in message_ids if normalise_message_id(m)]
        if not wanted:
            return None
        rows = self._context.connection.execute(
            select(t.message_ids.c.message_id, t.message_ids.c.report_id).where(
                t.message_ids.c.message_id.in_(wanted)
            )
        )
        known = {message_id: report_id for message_id, report_id in rows}  # noqa: C416 - result rows have .keys(), so dict(rows) would read them as a mapping
        for message_id in wanted:
            if message_id in known:
                return str(known[message_id])
        return None

    def first_message_id(self, report_id: str) -> str | None:
        """The Message-ID of the earliest stored mail of the report (the root of its thread)."""
        messages = t.raw_messages
        found = self._context.connection.execute(
            select(messages.c.message_id)
            .where(messages.c.report_id == report_id)
            .order_by(messages.c.received_at, messages.c.id)
            .limit(1)
        ).scalar_one_or_none()
        return None if found is None else str(found)

    def report_for_ciphertext(self, ciphertext_digest: str) -> str | None:
        """The report of the earliest mail that carried this ciphertext, or None.

        Digests of purged or forgotten mails are kept in ``seen_ciphertexts``: a replay after
        erasure still points to the original report.
        """
        found = self._context.connection.execute(
            _CIPHERTEXT_REPORT, {"b_digest": ciphertext_digest}
        ).first()
        return None if found is None else str(found[1])


def index_message_id(
    context: StoreContext, message_id: str, report_id: str, direction: str
) -> None:
    """Remember that ``message_id`` belongs to ``report_id`` (the first mapping wins)."""
    key = normalise_message_id(message_id)
    if not key:
        return
    statement = _prebuilt(
        context,
        "message_id",
        lambda insert: insert(t.message_ids).on_conflict_do_nothing(index_elements=["message_id"]),
    )
    parameters = {"message_id": key, "report_id": report_id, "direction": direction}
    context.connection.execute(statement, parameters)


# ---------------------------------------------------------------------------- tracker links


class SqlTrackerLinkRepository:
    """Which tracker issue holds which report, and the labels last seen on it."""

    def __init__(self, context: StoreContext) -> None:
        self._context = context

    def get(self, report_id: str) -> IssueRef | None:
        """The linked issue, or None."""
        row = self._context.connection.execute(_LINK_OF, {"b_id": report_id}).one_or_none()
        return None if row is None else IssueRef(row[0], row[1], row[2], row[3])

    def link(self, report_id: str, ref: IssueRef, labels: frozenset[str] | None = None) -> None:
        """Remember the issue for a report; linking again points it at ``ref``.

        ``labels`` are the labels now on the issue (as ``set_labels`` would remember them);
        None keeps those remembered (none for a new link). An open report whose link is new or
        points elsewhere now becomes due at the next pass.
        """
        parameters = {
            "report_id": report_id,
            "tracker": ref.tracker,
            "project": ref.project,
            "key": ref.key,
            "url": ref.url,
            "labels": [] if labels is None else sorted(labels),
        }
        # Before the upsert, while the old link is there to compare with: a newly linked issue
        # needs its labels checked, so the report is due at the next pass.
        self._context.connection.execute(
            _DUE_ON_NEW_LINK,
            {
                "b_id": report_id,
                "b_tracker": ref.tracker,
                "b_project": ref.project,
                "b_key": ref.key,
                "b_url": ref.url,
            },
        )
        name = "link" if labels is None else "link_labels"
        replaced: tuple[str, ...] = ("tracker", "project", "key", "url")
        if labels is not None:
            replaced = (*replaced, "labels")

        def build(insert: Callable[[Table], postgresql.Insert | sqlite.Insert]) -> Any:
            statement = insert(t.tracker_links)
            return statement.on_conflict_do_update(
                index_elements=["report_id"],
                set_={column: statement.excluded[column] for column in replaced},
            )

        self._context.connection.execute(_prebuilt(self._context, name, build), parameters)

    def report_for(self, tracker: str, project: str, key: str) -> str | None:
        """The report id linked to an issue, or None."""
        links = t.tracker_links
        found = self._context.connection.execute(
            select(links.c.report_id).where(
                and_(links.c.tracker == tracker, links.c.project == project, links.c.key == key)
            )
        ).scalar_one_or_none()
        return None if found is None else str(found)

    def labels(self, report_id: str) -> frozenset[str]:
        """The labels the bridge last saw or wrote on the issue (empty when unlinked)."""
        found = self._context.connection.execute(
            select(t.tracker_links.c.labels).where(t.tracker_links.c.report_id == report_id)
        ).scalar_one_or_none()
        return frozenset(found or ())

    def links_of(self, report_ids: Sequence[str]) -> dict[str, tuple[IssueRef, frozenset[str]]]:
        """Issue and last known labels of each linked report among ``report_ids``."""
        if not report_ids:
            return {}
        rows = self._context.connection.execute(_LINKS_OF, {"ids": list(report_ids)})
        return {
            str(row[0]): (IssueRef(row[1], row[2], row[3], row[4]), frozenset(row[5] or ()))
            for row in rows
        }

    def set_labels(self, report_id: str, labels: frozenset[str]) -> None:
        """Remember the labels now on the issue.

        Raises:
            NotFoundError: the report has no linked issue.
        """
        result = self._context.connection.execute(
            _SET_LABELS, {"b_id": report_id, "b_labels": sorted(labels)}
        )
        if result.rowcount == 0:
            msg = f"report {report_id} has no tracker issue to remember labels for"
            raise NotFoundError(msg)


# ---------------------------------------------------------------------------- bookmarks


class SqlBookmarkRepository:
    """How far each tracker project has been read."""

    def __init__(self, context: StoreContext) -> None:
        self._context = context

    def get(self, name: str) -> datetime | None:
        """The bookmark, or None before the first pass."""
        found: datetime | None = self._context.connection.execute(
            select(t.sync_bookmarks.c.value).where(t.sync_bookmarks.c.name == name)
        ).scalar_one_or_none()
        return found

    def set(self, name: str, value: datetime) -> None:
        """Move the bookmark (callers only ever move it forward)."""
        statement = _insert(self._context, t.sync_bookmarks).values(name=name, value=value)
        self._context.connection.execute(
            statement.on_conflict_do_update(index_elements=["name"], set_={"value": value})
        )


class SqlInstallationRepository:
    """The store id and installation-wide facts (table ``store_meta``)."""

    def __init__(self, context: StoreContext) -> None:
        self._context = context

    def store_id(self) -> str:
        """This store's id, made by migration 0004_identity."""
        found = self.get("store_id")
        if found is None:
            msg = "the store has no store_id; run `tracker-bridge db upgrade`"
            raise StoreError(msg)
        return found

    def get(self, key: str) -> str | None:
        """A stored fact, or None."""
        found: str | None = self._context.connection.execute(
            select(t.store_meta.c.value).where(t.store_meta.c.key == key)
        ).scalar_one_or_none()
        return found

    def put(self, key: str, value: str | None) -> None:
        """Set a fact; None removes it."""
        connection = self._context.connection
        if value is None:
            connection.execute(t.store_meta.delete().where(t.store_meta.c.key == key))
            return
        statement = _insert(self._context, t.store_meta).values(key=key, value=value)
        connection.execute(
            statement.on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )


# ---------------------------------------------------------------------------- outbox


def _outbox_from(row: RowMapping) -> OutboxItem:
    return OutboxItem(
        outbox_id=row["outbox_id"],
        report_id=row["report_id"],
        recipient=row["recipient"],
        kind=NotificationKind(row["kind"]),
        template=row["template"],
        language=row["language"],
        params=dict(row["params"]),
        message_id=row["message_id"],
        dedupe_key=row["dedupe_key"],
        created_at=row["created_at"],
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )


_SAVE_OUTBOX = (
    t.outbox.update()
    .where(t.outbox.c.outbox_id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next_attempt", type_=UTCDateTime()),
        sent_at=bindparam("b_sent", type_=UTCDateTime()),
        last_error=bindparam("b_error"),
    )
)


class SqlOutboxRepository:
    """Mail to researchers, queued with the change that causes it."""

    def __init__(self, context: StoreContext) -> None:
        self._context = context

    def add(self, item: OutboxItem) -> bool:
        """Queue a mail; False (nothing queued) when its dedupe key exists.

        The mail's Message-ID enters the threading index, so the researcher's reply finds
        the report.
        """
        statement = _prebuilt(
            self._context,
            "outbox",
            lambda insert: (
                insert(t.outbox)
                .on_conflict_do_nothing(index_elements=["dedupe_key"])
                .returning(t.outbox.c.id)
            ),
        )
        values = {
            "outbox_id": item.outbox_id,
            "report_id": item.report_id,
            "recipient": item.recipient,
            "kind": item.kind.value,
            "template": item.template,
            "language": item.language,
            "params": dict(item.params),
            "message_id": item.message_id,
            "dedupe_key": item.dedupe_key,
            "created_at": item.created_at,
            "status": item.status.value,
            "attempts": item.attempts,
            "next_attempt_at": item.next_attempt_at,
            "sent_at": item.sent_at,
            "last_error": item.last_error,
        }
        inserted = self._context.connection.execute(statement, values)
        if inserted.first() is None:
            return False
        index_message_id(self._context, item.message_id, item.report_id, "outbound")
        _mark_due(self._context, item.report_id)
        return True

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Pending rows whose next attempt is due (or unset), oldest first."""
        box = t.outbox
        rows = self._context.connection.execute(
            select(box)
            .where(
                and_(
                    box.c.status == OutboxStatus.PENDING.value,
                    or_(box.c.next_attempt_at.is_(None), box.c.next_attempt_at <= now),
                )
            )
            .order_by(box.c.created_at, box.c.id)
            .limit(limit)
        ).mappings()
        return [_outbox_from(row) for row in rows]

    def save(self, item: OutboxItem) -> None:
        """Persist status, attempts, next attempt, sent time and error.

        Raises:
            NotFoundError: no row with this outbox id was queued.
        """
        result = self._context.connection.execute(
            _SAVE_OUTBOX,
            {
                "b_id": item.outbox_id,
                "b_status": item.status.value,
                "b_attempts": item.attempts,
                "b_next_attempt": item.next_attempt_at,
                "b_sent": item.sent_at,
                "b_error": item.last_error,
            },
        )
        if result.rowcount == 0:
            msg = f"outbox row {item.outbox_id} cannot be saved: it was never queued"
            raise NotFoundError(msg)

    def for_report(self, report_id: str) -> list[OutboxItem]:
        """Every row of one report, oldest first."""
        box = t.outbox
        rows = self._context.connection.execute(
            select(box).where(box.c.report_id == report_id).order_by(box.c.created_at, box.c.id)
        ).mappings()
        return [_outbox_from(row) for row in rows]

    def release_withheld(self, recipient: str, now: datetime) -> int:
        """Make every withheld row of ``recipient`` (any letter case) pending and due at ``now``."""
        box = t.outbox
        result = self._context.connection.execute(
            box.update()
            .where(
                and_(
                    func.lower(box.c.recipient) == recipient.strip().lower(),
                    box.c.status == OutboxStatus.WITHHELD.value,
                )
            )
            .values(status=OutboxStatus.PENDING.value, next_attempt_at=now, last_error=None)
        )
        return int(result.rowcount)

    def sent_since(self, recipient: str, since: datetime) -> int:
        """How many mails went to ``recipient`` (any letter case) at or after ``since``."""
        box = t.outbox
        count = self._context.connection.execute(
            select(func.count())
            .select_from(box)
            .where(
                and_(
                    func.lower(box.c.recipient) == recipient.strip().lower(),
                    box.c.status == OutboxStatus.SENT.value,
                    box.c.sent_at >= since,
                )
            )
        ).scalar_one()
        return int(count)

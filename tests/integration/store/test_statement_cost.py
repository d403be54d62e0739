"""How many SQL statements the store runs for the work done per message and per mail."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from tracker_bridge.domain.report import Report, ReportId
from tracker_bridge.domain.researcher import Researcher
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent
from tracker_bridge.ports.tracker import IssueRef
from tracker_bridge.store import Store, open_store

if TYPE_CHECKING:
    from collections.abc import Iterator

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class StatementLog:
    """The first words of every statement the store's engine sends to the database."""

    def __init__(self, store: Store) -> None:
        self.statements: list[str] = []
        event.listen(store.engine, "before_cursor_execute", self._record)

    def _record(self, *args: Any) -> None:
        self.statements.append(" ".join(str(args[2]).split()[:3]))

    def take(self) -> list[str]:
        """The statements logged since the last take."""
        taken, self.statements = self.statements, []
        return taken


def add_report(store: Store, number: int) -> list[str]:
    """Add report ``number`` of rita@example.org as ingest does; the statements it ran."""
    log = StatementLog(store)
    report_id = f"CVD-2026-{number:04d}"
    with store.unit_of_work() as uow:
        if uow.researchers.get("rita@example.org") is None:
            uow.researchers.save(Researcher("rita@example.org"))
        uow.reports.add(
            Report(ReportId.parse(report_id), "acme", T0),
            "rita@example.org",
            ReportContent(report_id, "s", "b", True, SignatureCheck(SignatureStatus.NONE)),
        )
        assert Researcher("rita@example.org") == uow.reports.researcher_of(report_id)
        uow.commit()
    event.remove(store.engine, "before_cursor_execute", log._record)  # noqa: SLF001 - the test's own listener
    return [s for s in log.take() if not s.startswith("BEGIN")]


@contextmanager
def opened(url: str) -> Iterator[Store]:
    """The store at ``url``, disposed afterwards."""
    store = open_store(url)
    try:
        yield store
    finally:
        store.dispose()


def test_a_new_report_reads_its_researcher_once_and_writes_its_program_once(sql_url: str) -> None:
    """Researcher: one read per new report; the programs row only with the store's first report."""
    with opened(sql_url) as store:
        first = add_report(store, 1)
        second = add_report(store, 2)
    assert ["SELECT researchers.id, researchers.email,", "INSERT INTO researchers"] == [
        s for s in first if "researchers" in s
    ]
    assert 1 == sum("INSERT INTO programs" in s for s in first)
    assert [
        "SELECT researchers.id, researchers.email,",
        "INSERT INTO reports",
        "INSERT INTO report_contents",
    ] == second


def test_a_link_with_its_labels_is_two_statements(sql_url: str) -> None:
    """Linking a new issue with its labels: the due mark and one upsert, no read."""
    with opened(sql_url) as store:
        add_report(store, 1)
        log = StatementLog(store)
        with store.unit_of_work() as uow:
            uow.links.link(
                "CVD-2026-0001",
                IssueRef("gitlab", "p", "1", "https://gitlab.example/p/-/issues/1"),
                frozenset({"cvd::received"}),
            )
            uow.commit()
        ran = [s for s in log.take() if not s.startswith("BEGIN")]
    assert ["UPDATE reports SET", "INSERT INTO tracker_links"] == ran


def test_a_sent_mail_notes_the_researcher_update_in_one_statement(sql_url: str) -> None:
    """note_researcher_update is one UPDATE: no read of the report or its history."""
    with opened(sql_url) as store:
        add_report(store, 1)
        log = StatementLog(store)
        with store.unit_of_work() as uow:
            uow.reports.note_researcher_update("CVD-2026-0001", T0)
            uow.commit()
        ran = [s for s in log.take() if not s.startswith("BEGIN")]
    assert ["UPDATE reports SET"] == ran

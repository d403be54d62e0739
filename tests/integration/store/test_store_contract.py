"""The store contract: the memory, SQLite and PostgreSQL stores behave the same."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from tracker_bridge.domain.report import Report, ReportId, State, StateChange
from tracker_bridge.domain.researcher import CreditWish, Language, Researcher
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import NotFoundError
from tracker_bridge.ports.intake import Attachment, Verdict
from tracker_bridge.ports.mail import NotificationKind, OutboxItem, OutboxStatus
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent, ReportEvent, StoredMessage
from tracker_bridge.ports.tracker import IssueRef
from tracker_bridge.store import StoreError

if TYPE_CHECKING:
    from .conftest import Backend

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
FINGERPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"


def a_report(
    report_id: str = "CVD-2026-0001", *, at: datetime = T0, program: str = "acme"
) -> Report:
    """A freshly received report."""
    return Report(report_id=ReportId.parse(report_id), program=program, received_at=at)


def a_content(report_id: str = "CVD-2026-0001") -> ReportContent:
    """An encrypted, validly signed report text."""
    return ReportContent(
        report_id=report_id,
        subject="XSS in login form",
        body="The username field reflects <script> unescaped.",
        encrypted=True,
        signature=SignatureCheck(SignatureStatus.VALID, FINGERPRINT),
    )


def a_late_reply(report_id: str = "CVD-2026-0001") -> StoredMessage:
    """The researcher's reply to ``report_id``, stored (content retention must see)."""
    return StoredMessage(
        "<late@example.org>",
        "d1",
        T0,
        Verdict.REPLY,
        "reply from the researcher",
        b"sealed",
        report_id=report_id,
    )


def store_report(
    backend: Backend,
    report_id: str = "CVD-2026-0001",
    *,
    at: datetime = T0,
    program: str = "acme",
) -> None:
    """Add and commit a report by alice@example.org."""
    with backend.store.unit_of_work() as uow:
        uow.reports.add(
            a_report(report_id, at=at, program=program), "alice@example.org", a_content(report_id)
        )
        uow.commit()


def move_report(backend: Backend, report_id: str, state: State, at: datetime) -> None:
    """Load ``report_id``, move it to ``state`` at ``at``, save and commit."""
    with backend.store.unit_of_work() as uow:
        report = uow.reports.get(report_id)
        assert report is not None
        report.transition(state, at)
        uow.reports.save(report)
        uow.commit()


def an_outbox_item(
    outbox_id: str,
    *,
    created_at: datetime = T0,
    dedupe_key: str | None = None,
    status: OutboxStatus = OutboxStatus.PENDING,
    next_attempt_at: datetime | None = None,
) -> OutboxItem:
    """A pending acknowledgement for CVD-2026-0001."""
    return OutboxItem(
        outbox_id=outbox_id,
        report_id="CVD-2026-0001",
        recipient="alice@example.org",
        kind=NotificationKind.ACKNOWLEDGEMENT,
        template="acknowledgement",
        language="en",
        params={"report_id": "CVD-2026-0001"},
        message_id=f"<{outbox_id}@bridge.example.org>",
        dedupe_key=dedupe_key or f"ack:{outbox_id}",
        created_at=created_at,
        status=status,
        next_attempt_at=next_attempt_at,
    )


# ---------------------------------------------------------------------------- report ids


def test_report_ids_count_up_per_prefix_and_year(backend: Backend) -> None:
    """Ids run 0001, 0002 within a prefix and year, and start again for a new year or prefix."""
    with backend.store.unit_of_work() as uow:
        allocated = [
            uow.reports.next_id("acme", "CVD", 2026),
            uow.reports.next_id("acme", "CVD", 2026),
            uow.reports.next_id("acme", "CVD", 2027),
            uow.reports.next_id("widgets", "WID", 2026),
            uow.reports.next_id("acme", "CVD", 2026),
        ]
        uow.commit()
    expected = ["CVD-2026-0001", "CVD-2026-0002", "CVD-2027-0001", "WID-2026-0001", "CVD-2026-0003"]
    assert expected == [str(report_id) for report_id in allocated]


def test_report_id_is_not_handed_out_again_after_rollback(backend: Backend) -> None:
    """A rolled-back allocation may skip a number but never repeats one."""
    with backend.store.unit_of_work() as uow:
        abandoned = uow.reports.next_id("acme", "CVD", 2026)
        uow.reports.add(a_report(str(abandoned)), "alice@example.org", a_content(str(abandoned)))
    with backend.store.unit_of_work() as uow:
        allocated = uow.reports.next_id("acme", "CVD", 2026)
    assert "CVD-2026-0001" == str(abandoned)
    assert "CVD-2026-0002" == str(allocated)


# ---------------------------------------------------------------------------- reports


def test_report_round_trip_keeps_fields_and_ordered_history(backend: Backend) -> None:
    """A stored report comes back equal, with its state changes in order."""
    report = a_report()
    report.transition(State.ACKNOWLEDGED, T0 + timedelta(hours=1))
    report.transition(State.TRIAGING, T0 + timedelta(hours=2))
    report.transition(State.NEEDS_INFO, T0 + timedelta(hours=3))
    report.severity = Severity.HIGH
    report.cvss_vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N"
    report.expected_fix_date = T0 + timedelta(days=30)
    report.last_researcher_update_at = T0 + timedelta(hours=3)
    with backend.store.unit_of_work() as uow:
        uow.reports.add(report, "alice@example.org", a_content())
        uow.commit()
    with backend.store.unit_of_work() as uow:
        loaded = uow.reports.get("CVD-2026-0001")
    assert report == loaded


def test_unknown_report_is_none(backend: Backend) -> None:
    """Asking for a report id nobody stored gives None, not an error."""
    with backend.store.unit_of_work() as uow:
        assert uow.reports.get("CVD-2026-0999") is None
        assert uow.reports.content("CVD-2026-0999") is None
        assert uow.reports.researcher_of("CVD-2026-0999") is None


def test_save_appends_history_and_updates_fields(backend: Backend) -> None:
    """Saving a report persists its new state, severity, fix date and added history."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        report.transition(State.TRIAGED, T0 + timedelta(days=1))
        report.severity = Severity.CRITICAL
        report.expected_fix_date = T0 + timedelta(days=14)
        uow.reports.save(report)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        loaded = uow.reports.get("CVD-2026-0001")
    expected_history = [StateChange(T0 + timedelta(days=1), State.RECEIVED, State.TRIAGED)]
    assert loaded is not None
    assert (State.TRIAGED, Severity.CRITICAL) == (loaded.state, loaded.severity)
    assert T0 + timedelta(days=14) == loaded.expected_fix_date
    assert expected_history == loaded.history


def test_saving_a_report_never_added_is_not_found(backend: Backend) -> None:
    """Save does not create reports: an unknown id is NotFoundError."""
    with backend.store.unit_of_work() as uow, pytest.raises(NotFoundError, match="CVD-2026-0042"):
        uow.reports.save(a_report("CVD-2026-0042"))


def test_content_round_trip_with_attachments(backend: Backend) -> None:
    """The researcher's words, signature verdict and attachments come back as stored."""
    content = ReportContent(
        report_id="CVD-2026-0001",
        subject="RCE via upload",
        body="Steps:\n1. upload\n2. profit",
        encrypted=False,
        signature=SignatureCheck(SignatureStatus.UNKNOWN_KEY, None),
        unencrypted_parts=("text/html alternative",),
        attachments=(
            Attachment("poc.py", "text/x-python", b"print('x')\n", "ab" * 32),
            Attachment("shot.png", "image/png", bytes(range(256)), "cd" * 32),
        ),
    )
    with backend.store.unit_of_work() as uow:
        uow.reports.add(a_report(), "alice@example.org", content)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert content == uow.reports.content("CVD-2026-0001")


def test_open_reports_leave_out_closed_ones_oldest_first(backend: Backend) -> None:
    """Open reports list oldest first, skip closed states and filter by program."""
    store_report(backend, "CVD-2026-0002", at=T0 + timedelta(days=2))
    store_report(backend, "CVD-2026-0001", at=T0 + timedelta(days=1))
    store_report(backend, "CVD-2026-0003", at=T0)
    store_report(backend, "WID-2026-0001", at=T0, program="widgets")
    move_report(backend, "CVD-2026-0003", State.SPAM, T0 + timedelta(hours=1))
    with backend.store.unit_of_work() as uow:
        acme = [str(r.report_id) for r in uow.reports.open_reports("acme")]
        everything = [str(r.report_id) for r in uow.reports.open_reports()]
    assert ["CVD-2026-0001", "CVD-2026-0002"] == acme
    assert ["WID-2026-0001", "CVD-2026-0001", "CVD-2026-0002"] == everything


def test_reports_in_lists_the_given_states_oldest_first(backend: Backend) -> None:
    """reports_in returns exactly the reports in the asked states, oldest first, with history."""
    store_report(backend, "CVD-2026-0002", at=T0 + timedelta(days=2))
    store_report(backend, "CVD-2026-0001", at=T0 + timedelta(days=1))
    store_report(backend, "CVD-2026-0003", at=T0)
    with backend.store.unit_of_work() as uow:
        for report_id in ("CVD-2026-0002", "CVD-2026-0003"):
            report = uow.reports.get(report_id)
            assert report is not None
            report.transition(State.TRIAGED, T0 + timedelta(days=3))
            report.transition(State.RESOLVED, T0 + timedelta(days=4))
            uow.reports.save(report)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        resolved = list(uow.reports.reports_in(frozenset({State.RESOLVED, State.PUBLISHED})))
        received = [str(r.report_id) for r in uow.reports.reports_in(frozenset({State.RECEIVED}))]
    assert ["CVD-2026-0003", "CVD-2026-0002"] == [str(r.report_id) for r in resolved]
    assert [2, 2] == [len(r.history) for r in resolved]
    assert ["CVD-2026-0001"] == received


def test_open_reports_page_walks_every_open_report_once(backend: Backend) -> None:
    """Keyset pages of two cover all open reports in id order, skip closed ones, end empty."""
    for sequence in range(1, 6):
        store_report(backend, f"CVD-2026-000{sequence}", at=T0 + timedelta(days=sequence))
    move_report(backend, "CVD-2026-0003", State.SPAM, T0 + timedelta(days=9))
    pages: list[list[str]] = []
    after: str | None = None
    with backend.store.unit_of_work() as uow:
        while True:
            page = [str(r.report_id) for r in uow.reports.open_reports_page(after, 2)]
            pages.append(page)
            if len(page) < 2:
                break
            after = page[-1]
    assert [["CVD-2026-0001", "CVD-2026-0002"], ["CVD-2026-0004", "CVD-2026-0005"], []] == pages


def due_ids(backend: Backend, now: datetime, limit: int = 10) -> list[str]:
    """Ids of the open reports whose next moment has come at ``now`` (first page)."""
    with backend.store.unit_of_work() as uow:
        return [str(r.report_id) for r in uow.reports.due_reports_page(now, None, limit)]


def test_added_and_saved_open_reports_are_due_at_once(backend: Backend) -> None:
    """A new report is due at any moment; one given a next moment is not, until a save."""
    store_report(backend, "CVD-2026-0001")
    store_report(backend, "CVD-2026-0002")
    assert ["CVD-2026-0001", "CVD-2026-0002"] == due_ids(backend, T0)
    later = T0 + timedelta(days=1)
    with backend.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        assert uow.reports.set_next_due(report, later)
        uow.commit()
    assert ["CVD-2026-0002"] == due_ids(backend, later - timedelta(microseconds=1))
    assert ["CVD-2026-0001", "CVD-2026-0002"] == due_ids(backend, later)
    with backend.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        report.severity = Severity.HIGH
        uow.reports.save(report)
        uow.commit()
    assert ["CVD-2026-0001", "CVD-2026-0002"] == due_ids(backend, T0)


def test_a_unit_of_work_marks_due_again_after_its_commit(backend: Backend) -> None:
    """A report made due, committed, then given a later moment elsewhere is due after new mail."""
    later = T0 + timedelta(days=1)
    with backend.store.unit_of_work() as uow:
        uow.reports.add(a_report("CVD-2026-0001"), "alice@example.org", a_content("CVD-2026-0001"))
        uow.commit()
        with backend.store.unit_of_work() as other:
            report = other.reports.get("CVD-2026-0001")
            assert report is not None
            assert other.reports.set_next_due(report, later)
            other.commit()
        uow.messages.add(a_late_reply())
        uow.commit()
    assert ["CVD-2026-0001"] == due_ids(backend, T0)


def test_a_report_with_no_next_moment_is_never_due(backend: Backend) -> None:
    """None stores "nothing changes by time alone": the report is not read at any moment."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        assert uow.reports.set_next_due(report, None)
        uow.commit()
    assert [] == due_ids(backend, T0 + timedelta(days=3650))


def test_set_next_due_refuses_a_report_changed_since_it_was_read(backend: Backend) -> None:
    """A moment computed from a stale copy is not stored: the change saved meanwhile stays due."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        stale = uow.reports.get("CVD-2026-0001")
        assert stale is not None
    move_report(backend, "CVD-2026-0001", State.ACKNOWLEDGED, T0 + timedelta(hours=1))
    with backend.store.unit_of_work() as uow:
        assert not uow.reports.set_next_due(stale, T0 + timedelta(days=1))
        uow.commit()
    assert ["CVD-2026-0001"] == due_ids(backend, T0)


def test_set_next_due_matches_a_fix_date_in_another_zone(backend: Backend) -> None:
    """The fix date compares as a moment: the same instant written in Amsterdam time matches."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        report.expected_fix_date = datetime(2026, 12, 1, tzinfo=AMSTERDAM)
        report.last_researcher_update_at = T0 + timedelta(hours=2)
        uow.reports.save(report)
        assert uow.reports.set_next_due(report, T0 + timedelta(days=1))
        uow.commit()
    assert [] == due_ids(backend, T0)


def test_closed_reports_are_never_due(backend: Backend) -> None:
    """Closing a report (a save) leaves it out of the due reports: time changes it no more."""
    store_report(backend, "CVD-2026-0001")
    move_report(backend, "CVD-2026-0001", State.SPAM, T0 + timedelta(hours=1))
    assert [] == due_ids(backend, T0 + timedelta(days=1))


def test_a_new_tracker_link_makes_the_report_due_and_relinking_does_not(backend: Backend) -> None:
    """Linking an issue for the first time makes the report due; linking the same one again not."""
    store_report(backend)
    ref = IssueRef("gitlab", "security/cvd", "7", "https://gitlab.example/security/cvd/-/issues/7")
    later = T0 + timedelta(days=1)

    def settle() -> None:
        with backend.store.unit_of_work() as uow:
            report = uow.reports.get("CVD-2026-0001")
            assert report is not None
            uow.reports.set_next_due(report, later)
            uow.commit()

    settle()
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", ref)
        uow.commit()
    assert ["CVD-2026-0001"] == due_ids(backend, T0)
    settle()
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", ref)
        uow.commit()
    assert [] == due_ids(backend, T0)


def test_due_reports_page_walks_in_id_order_after_a_key(backend: Backend) -> None:
    """Keyset pages over the due reports: id order, after the last id of the page before."""
    for sequence in range(1, 6):
        store_report(backend, f"CVD-2026-000{sequence}")
    with backend.store.unit_of_work() as uow:
        first = [str(r.report_id) for r in uow.reports.due_reports_page(T0, None, 2)]
        second = [str(r.report_id) for r in uow.reports.due_reports_page(T0, first[-1], 2)]
        history = uow.reports.due_reports_page(T0, None, 1)[0].history
    assert (["CVD-2026-0001", "CVD-2026-0002"], ["CVD-2026-0003", "CVD-2026-0004"]) == (
        first,
        second,
    )
    assert [] == history


def test_unlinked_reports_page_lists_open_reports_without_an_issue(backend: Backend) -> None:
    """Only open, unlinked reports, in id order, keyset-paged after a given id."""
    for sequence in range(1, 6):
        store_report(backend, f"CVD-2026-000{sequence}")
    ref = IssueRef("gitlab", "security/cvd", "7", "https://gitlab.example/security/cvd/-/issues/7")
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0002", ref)
        spam = uow.reports.get("CVD-2026-0004")
        assert spam is not None
        spam.transition(State.SPAM, T0 + timedelta(hours=1))
        uow.reports.save(spam)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        first = uow.reports.unlinked_reports_page(None, 2)
        rest = uow.reports.unlinked_reports_page(first[-1], 2)
    assert (["CVD-2026-0001", "CVD-2026-0003"], ["CVD-2026-0005"]) == (first, rest)


def test_owed_notes_lists_each_unnoted_purge_of_a_linked_report_once(backend: Backend) -> None:
    """One owed note per linked report and kind, at its first event; noted and unlinked ones not."""
    for sequence in (1, 2, 3):
        store_report(backend, f"CVD-2026-000{sequence}", at=T0 + timedelta(days=sequence))
    ref = IssueRef("gitlab", "security/cvd", "7", "https://gitlab.example/security/cvd/-/issues/7")
    later = T0 + timedelta(days=100)
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", ref)
        uow.links.link("CVD-2026-0002", replace(ref, key="8"))
        for report_id in ("CVD-2026-0001", "CVD-2026-0002", "CVD-2026-0003"):
            uow.reports.add_event(ReportEvent(report_id, later, "content_purged", "contents 1"))
        uow.reports.add_event(
            ReportEvent("CVD-2026-0001", later + timedelta(hours=1), "content_purged", "again")
        )
        uow.reports.add_event(
            ReportEvent("CVD-2026-0001", later + timedelta(hours=2), "contact_erased", "rows 1")
        )
        uow.reports.add_event(ReportEvent("CVD-2026-0002", later, "purge_noted", "content"))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        owed = [(o.report_id, o.what, o.at) for o in uow.privacy.owed_notes()]
    assert [
        ("CVD-2026-0001", "content", later),
        ("CVD-2026-0001", "contact", later + timedelta(hours=2)),
    ] == owed


def test_closed_reports_are_due_for_retention_after_a_change(backend: Backend) -> None:
    """A saved closed report is due among the closed ones (retention), not among the open."""
    store_report(backend)
    move_report(backend, "CVD-2026-0001", State.SPAM, T0 + timedelta(hours=1))
    with backend.store.unit_of_work() as uow:
        closed = [str(r.report_id) for r in uow.reports.due_reports_page(T0, None, 5, closed=True)]
        opened = [str(r.report_id) for r in uow.reports.due_reports_page(T0, None, 5)]
    assert (["CVD-2026-0001"], []) == (closed, opened)


def test_due_reports_of_any_state_page_open_and_closed_together(backend: Backend) -> None:
    """closed=None (the sync's walk: legal clocks outlive closing) pages due open and closed alike."""
    for report_id in ("CVD-2026-0001", "CVD-2026-0002", "CVD-2026-0003"):
        store_report(backend, report_id)
    with backend.store.unit_of_work() as uow:
        closed = uow.reports.get("CVD-2026-0002")
        assert closed is not None
        closed.transition(State.SPAM, T0 + timedelta(hours=1))
        uow.reports.save(closed)
        later = uow.reports.get("CVD-2026-0003")
        assert later is not None
        assert uow.reports.set_next_due(later, T0 + timedelta(days=1))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        first = uow.reports.due_reports_page(T0, None, 1, closed=None)
        rest = uow.reports.due_reports_page(T0, str(first[0].report_id), 5, closed=None)
    assert (["CVD-2026-0001"], ["CVD-2026-0002"]) == (
        [str(r.report_id) for r in first],
        [str(r.report_id) for r in rest],
    )


def test_mail_stored_or_queued_for_a_report_makes_it_due(backend: Backend) -> None:
    """A stored mail or a queued one is content retention must see: the report becomes due."""
    store_report(backend)
    later = T0 + timedelta(days=30)

    def settle() -> None:
        with backend.store.unit_of_work() as uow:
            report = uow.reports.get("CVD-2026-0001")
            assert report is not None
            assert uow.reports.set_next_due(report, later)
            uow.commit()

    settle()
    with backend.store.unit_of_work() as uow:
        uow.messages.add(a_late_reply())
        uow.commit()
    after_mail = due_ids(backend, T0)
    settle()
    with backend.store.unit_of_work() as uow:
        assert uow.outbox.add(an_outbox_item("o-late", dedupe_key="late"))
        uow.commit()
    assert (["CVD-2026-0001"], ["CVD-2026-0001"]) == (after_mail, due_ids(backend, T0))


def test_mark_all_due_makes_every_report_due(backend: Backend) -> None:
    """After mark_all_due every report, whatever moment it stored, is due at once."""
    store_report(backend, "CVD-2026-0001")
    store_report(backend, "CVD-2026-0002")
    with backend.store.unit_of_work() as uow:
        for report_id in ("CVD-2026-0001", "CVD-2026-0002"):
            report = uow.reports.get(report_id)
            assert report is not None
            assert uow.reports.set_next_due(report, None)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        marked = uow.reports.mark_all_due()
        uow.commit()
    assert (2, ["CVD-2026-0001", "CVD-2026-0002"]) == (marked, due_ids(backend, T0))


def test_links_of_returns_issue_and_labels_for_linked_reports_only(backend: Backend) -> None:
    """links_of answers in one call for many reports and leaves out unlinked ones."""
    store_report(backend, "CVD-2026-0001")
    store_report(backend, "CVD-2026-0002")
    ref = IssueRef("gitlab", "security/cvd", "7", "https://gitlab.example/security/cvd/-/issues/7")
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", ref)
        uow.links.set_labels("CVD-2026-0001", frozenset({"cvd::triaged"}))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        found = uow.links.links_of(["CVD-2026-0001", "CVD-2026-0002", "CVD-2026-9999"])
        nothing = uow.links.links_of([])
    assert {"CVD-2026-0001": (ref, frozenset({"cvd::triaged"}))} == found
    assert {} == nothing


def test_events_with_the_same_dedupe_key_are_recorded_once(backend: Backend) -> None:
    """A keyed event read twice is stored once; unkeyed events are all kept, in order."""
    store_report(backend)
    first = ReportEvent("CVD-2026-0001", T0, "state_change", "received -> triaging", "sync:1")
    with backend.store.unit_of_work() as uow:
        outcomes = [
            uow.reports.add_event(first),
            uow.reports.add_event(first),
            uow.reports.add_event(ReportEvent("CVD-2026-0001", T0, "label_sync", "a")),
            uow.reports.add_event(ReportEvent("CVD-2026-0001", T0, "label_sync", "b")),
            uow.reports.add_event(
                ReportEvent("CVD-2026-0001", T0 - timedelta(hours=1), "refused", "c")
            ),
        ]
        uow.commit()
    with backend.store.unit_of_work() as uow:
        details = [event.detail for event in uow.reports.events("CVD-2026-0001")]
    assert [True, False, True, True, True] == outcomes
    assert ["c", "received -> triaging", "a", "b"] == details


def test_report_ids_with_event_names_each_report_with_that_kind_once(backend: Backend) -> None:
    """Only reports with an event of the kind are named, sorted, each once whatever its count."""
    for report_id in ("CVD-2026-0001", "CVD-2026-0002", "CVD-2026-0003"):
        store_report(backend, report_id)
    with backend.store.unit_of_work() as uow:
        for report_id, kind in (
            ("CVD-2026-0003", "reg_started"),
            ("CVD-2026-0001", "reg_started"),
            ("CVD-2026-0001", "reg_started"),
            ("CVD-2026-0002", "label_sync"),
        ):
            uow.reports.add_event(ReportEvent(report_id, T0, kind, "gdpr"))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        started = uow.reports.report_ids_with_event("reg_started")
        nothing = uow.reports.report_ids_with_event("reg_moved")
    assert ["CVD-2026-0001", "CVD-2026-0003"] == started
    assert [] == nothing


# ---------------------------------------------------------------------------- researchers


def test_researcher_is_found_by_address_in_any_letter_case(backend: Backend) -> None:
    """Alice@Example.ORG and alice@example.org are the same researcher."""
    researcher = Researcher(
        email="Alice@Example.ORG",
        display_name="Alice Jansen",
        pseudonym="al1ce",
        fingerprint=FINGERPRINT,
        language=Language.NL,
        credit_wish=CreditWish.PSEUDONYM,
    )
    with backend.store.unit_of_work() as uow:
        uow.researchers.save(researcher)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert researcher == uow.researchers.get("alice@example.org")
        assert uow.researchers.get("bob@example.org") is None


def test_saving_a_researcher_again_updates_the_one_row(backend: Backend) -> None:
    """Save is insert-or-update by address, whatever the letter case."""
    with backend.store.unit_of_work() as uow:
        uow.researchers.save(Researcher(email="alice@example.org"))
        uow.researchers.save(Researcher(email="ALICE@example.org", credit_wish=CreditWish.NAME))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        found = uow.researchers.get("Alice@example.org")
    assert Researcher(email="ALICE@example.org", credit_wish=CreditWish.NAME) == found


def test_report_knows_its_researcher(backend: Backend) -> None:
    """researcher_of gives the reporter; an unknown address is created bare on add."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        assert Researcher(email="alice@example.org") == uow.reports.researcher_of("CVD-2026-0001")


# ---------------------------------------------------------------------------- messages


def a_message(
    message_id: str = "<r1@researcher.example>", digest: str = "d1", report_id: str | None = None
) -> StoredMessage:
    """A stored mail: part of a report when ``report_id`` is given, else quarantined."""
    return StoredMessage(
        message_id=message_id,
        digest=digest,
        received_at=T0,
        verdict=Verdict.REPORT if report_id else Verdict.QUARANTINE,
        reason="new report" if report_id else "not encrypted",
        encrypted_raw=b"-----BEGIN PGP MESSAGE-----\n\x00\xff",
        report_id=report_id,
        source="maildir",
    )


def test_message_is_seen_by_message_id_and_digest(backend: Backend) -> None:
    """The same mail read twice is recognised; the same id with other bytes is not."""
    message = a_message()
    with backend.store.unit_of_work() as uow:
        uow.messages.add(message)
        uow.messages.add(message)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert message == uow.messages.seen("<r1@researcher.example>", "d1")
        assert uow.messages.seen("<r1@researcher.example>", "d2") is None


def test_replies_find_their_report_through_either_sides_message_ids(backend: Backend) -> None:
    """In-Reply-To / References ids map to the report, for their mails and for ours."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        uow.messages.add(a_message("<r1@researcher.example>", report_id="CVD-2026-0001"))
        uow.outbox.add(an_outbox_item("ob1"))
        uow.messages.add(a_message("<q1@researcher.example>", digest="q"))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert "CVD-2026-0001" == uow.messages.report_for_message_ids(["r1@researcher.example"])
        assert "CVD-2026-0001" == uow.messages.report_for_message_ids(
            ["<nobody@x>", " <ob1@bridge.example.org>"]
        )
        assert uow.messages.report_for_message_ids(["<q1@researcher.example>"]) is None
        assert uow.messages.report_for_message_ids([]) is None


def test_first_known_message_id_decides_the_thread(backend: Backend) -> None:
    """When ids map to different reports, the earliest in the given order wins."""
    store_report(backend, "CVD-2026-0001")
    store_report(backend, "CVD-2026-0002")
    with backend.store.unit_of_work() as uow:
        uow.messages.add(a_message("<a@x>", "a", report_id="CVD-2026-0001"))
        uow.messages.add(a_message("<b@x>", "b", report_id="CVD-2026-0002"))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert "CVD-2026-0002" == uow.messages.report_for_message_ids(["<b@x>", "<a@x>"])


# ---------------------------------------------------------------------------- tracker links


def test_links_map_reports_to_issues_and_back(backend: Backend) -> None:
    """A link is found by report and by issue; linking again changes nothing."""
    store_report(backend)
    ref = IssueRef(
        "gitlab", "security/cvd", "12", "https://gitlab.example/security/cvd/-/issues/12"
    )
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", ref)
        uow.links.link("CVD-2026-0001", ref)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert ref == uow.links.get("CVD-2026-0001")
        assert "CVD-2026-0001" == uow.links.report_for("gitlab", "security/cvd", "12")
        assert uow.links.report_for("gitlab", "security/cvd", "13") is None
        assert uow.links.get("CVD-2026-0002") is None


def test_labels_last_seen_are_remembered(backend: Backend) -> None:
    """Labels start empty for a new link and come back as last set."""
    store_report(backend)
    ref = IssueRef("jira", "SEC", "SEC-7", "https://jira.example/browse/SEC-7")
    labels = frozenset({"severity-high", "cvd-report::CVD-2026-0001"})
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", ref)
        assert frozenset() == uow.links.labels("CVD-2026-0001")
        uow.links.set_labels("CVD-2026-0001", labels)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert labels == uow.links.labels("CVD-2026-0001")


def test_labels_for_an_unlinked_report_are_not_found(backend: Backend) -> None:
    """Remembering labels needs a linked issue."""
    store_report(backend)
    with backend.store.unit_of_work() as uow, pytest.raises(NotFoundError, match="CVD-2026-0001"):
        uow.links.set_labels("CVD-2026-0001", frozenset({"x"}))


# ---------------------------------------------------------------------------- bookmarks


def test_bookmarks_start_empty_and_move(backend: Backend) -> None:
    """A bookmark is None before the first pass, then the last value set."""
    with backend.store.unit_of_work() as uow:
        assert uow.bookmarks.get("gitlab:security/cvd") is None
        uow.bookmarks.set("gitlab:security/cvd", T0)
        uow.bookmarks.set("gitlab:security/cvd", T0 + timedelta(minutes=5))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert T0 + timedelta(minutes=5) == uow.bookmarks.get("gitlab:security/cvd")
        assert uow.bookmarks.get("jira:SEC") is None


# ---------------------------------------------------------------------------- outbox


def test_outbox_queues_each_dedupe_key_once(backend: Backend) -> None:
    """Queuing the same change twice queues one mail."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        first = uow.outbox.add(an_outbox_item("ob1", dedupe_key="ack:CVD-2026-0001"))
        again = uow.outbox.add(an_outbox_item("ob2", dedupe_key="ack:CVD-2026-0001"))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        rows = uow.outbox.for_report("CVD-2026-0001")
    assert (True, False) == (first, again)
    assert [an_outbox_item("ob1", dedupe_key="ack:CVD-2026-0001")] == rows


def test_outbox_due_lists_pending_rows_whose_time_has_come_oldest_first(backend: Backend) -> None:
    """Due rows are pending with no or a past next attempt, oldest first, up to the limit."""
    store_report(backend)
    now = T0 + timedelta(hours=1)
    with backend.store.unit_of_work() as uow:
        uow.outbox.add(
            an_outbox_item(
                "later",
                created_at=T0 - timedelta(minutes=1),
                next_attempt_at=now + timedelta(seconds=1),
            )
        )
        uow.outbox.add(an_outbox_item("second", created_at=T0 + timedelta(minutes=2)))
        uow.outbox.add(an_outbox_item("first", created_at=T0, next_attempt_at=now))
        uow.outbox.add(an_outbox_item("sent", created_at=T0, status=OutboxStatus.SENT))
        uow.outbox.add(an_outbox_item("third", created_at=T0 + timedelta(minutes=3)))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        due = [item.outbox_id for item in uow.outbox.due(now, limit=2)]
        everything = [item.outbox_id for item in uow.outbox.due(now, limit=10)]
    assert ["first", "second"] == due
    assert ["first", "second", "third"] == everything


def test_outbox_save_persists_delivery_progress(backend: Backend) -> None:
    """Status, attempts, next attempt, sent time and error survive a save."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        uow.outbox.add(an_outbox_item("ob1"))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        (item,) = uow.outbox.due(T0, limit=1)
        item.attempts = 1
        item.next_attempt_at = T0 + timedelta(minutes=10)
        item.last_error = "451 try again later"
        uow.outbox.save(item)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        assert [] == uow.outbox.due(T0 + timedelta(minutes=9), limit=5)
        (loaded,) = uow.outbox.for_report("CVD-2026-0001")
    assert item == loaded


def test_outbox_release_withheld_makes_the_researchers_withheld_rows_due_in_order(
    backend: Backend,
) -> None:
    """A key arriving releases every withheld row of that address (any case), oldest first."""
    store_report(backend)
    now = T0 + timedelta(days=1)
    with backend.store.unit_of_work() as uow:
        uow.outbox.add(
            an_outbox_item("ack", created_at=T0, status=OutboxStatus.WITHHELD, dedupe_key="a")
        )
        uow.outbox.add(
            an_outbox_item(
                "note",
                created_at=T0 + timedelta(minutes=5),
                status=OutboxStatus.WITHHELD,
                dedupe_key="n",
            )
        )
        uow.outbox.add(an_outbox_item("sent", created_at=T0, status=OutboxStatus.SENT))
        uow.commit()
    with backend.store.unit_of_work() as uow:
        before = uow.outbox.due(now, limit=10)
        released = uow.outbox.release_withheld("Alice@Example.org", now)
        again = uow.outbox.release_withheld("alice@example.org", now)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        due = [item.outbox_id for item in uow.outbox.due(now, limit=10)]
    assert ([], 2, 0, ["ack", "note"]) == (before, released, again, due)


# ---------------------------------------------------------------------------- transactions


def test_leaving_without_commit_discards_everything(backend: Backend) -> None:
    """A block left without commit leaves no trace in later units of work."""
    with backend.store.unit_of_work() as uow:
        uow.reports.add(a_report(), "alice@example.org", a_content())
        uow.bookmarks.set("gitlab:security/cvd", T0)
    with backend.store.unit_of_work() as uow:
        assert uow.reports.get("CVD-2026-0001") is None
        assert uow.researchers.get("alice@example.org") is None
        assert uow.bookmarks.get("gitlab:security/cvd") is None


def test_rollback_discards_only_what_came_after_commit(backend: Backend) -> None:
    """Rollback throws away work since the last commit and keeps what was committed."""
    with backend.store.unit_of_work() as uow:
        uow.bookmarks.set("kept", T0)
        uow.commit()
        uow.bookmarks.set("dropped", T0)
        uow.rollback()
        assert uow.bookmarks.get("dropped") is None
    with backend.store.unit_of_work() as uow:
        assert (T0, None) == (uow.bookmarks.get("kept"), uow.bookmarks.get("dropped"))


def test_an_error_inside_the_block_rolls_back(backend: Backend) -> None:
    """An exception leaving the block discards the block's work."""

    def crash_after_setting_a_bookmark() -> None:
        with backend.store.unit_of_work() as uow:
            uow.bookmarks.set("gitlab:security/cvd", T0)
            msg = "crash"
            raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="crash"):
        crash_after_setting_a_bookmark()
    with backend.store.unit_of_work() as uow:
        assert uow.bookmarks.get("gitlab:security/cvd") is None


# ---------------------------------------------------------------------------- time


def test_datetimes_come_back_aware_in_utc(backend: Backend) -> None:
    """A moment stored in Amsterdam time returns as the same instant with tzinfo UTC."""
    local = datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=AMSTERDAM)
    store_report(backend, at=local)
    with backend.store.unit_of_work() as uow:
        uow.bookmarks.set("b", local)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        bookmark = uow.bookmarks.get("b")
    assert report is not None
    assert bookmark is not None
    expected = datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert (expected, UTC) == (report.received_at, report.received_at.tzinfo)
    assert (expected, UTC) == (bookmark, bookmark.tzinfo)


def test_naive_datetimes_are_refused(backend: Backend) -> None:
    """A datetime without a time zone cannot be stored: its meaning would be a guess."""
    with backend.store.unit_of_work() as uow, pytest.raises(ValueError, match="naive datetime"):
        uow.bookmarks.set("b", datetime(2026, 7, 1, 14, 30))  # noqa: DTZ001 - the naive datetime is the input under test


def test_adding_a_report_twice_is_a_store_error_without_its_text(backend: Backend) -> None:
    """A second add of the same id is refused, and the refusal does not quote the report."""
    store_report(backend)
    with backend.store.unit_of_work() as uow, pytest.raises(StoreError) as caught:
        uow.reports.add(a_report(), "alice@example.org", a_content())
    assert "reflects <script>" not in str(caught.value)


def test_a_loaded_report_changes_nothing_until_saved(backend: Backend) -> None:
    """Reports handed out are copies: changing one without save leaves the store as it was."""
    store_report(backend)
    with backend.store.unit_of_work() as uow:
        loaded = uow.reports.get("CVD-2026-0001")
        assert loaded is not None
        loaded.transition(State.TRIAGING, T0)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        again = uow.reports.get("CVD-2026-0001")
    assert again is not None
    assert (State.RECEIVED, []) == (again.state, again.history)


def test_first_message_id_is_the_mail_that_opened_the_report(backend: Backend) -> None:
    """The thread root is the report's earliest stored mail; None for a report without mail."""
    store_report(backend, "CVD-2026-0001")
    store_report(backend, "CVD-2026-0002")
    opening = replace(a_message("<open@x>", "o", report_id="CVD-2026-0001"), received_at=T0)
    reply = replace(
        a_message("<reply@x>", "r", report_id="CVD-2026-0001"),
        received_at=T0 + timedelta(days=1),
    )
    with backend.store.unit_of_work() as uow:
        uow.messages.add(reply)
        uow.messages.add(opening)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        roots = (
            uow.messages.first_message_id("CVD-2026-0001"),
            uow.messages.first_message_id("CVD-2026-0002"),
        )
    expected: tuple[str | None, str | None] = ("<open@x>", None)
    assert expected == roots


def one_ciphertext_in_two_reports(backend: Backend) -> tuple[StoredMessage, StoredMessage]:
    """Reports 0001 and 0002 stored; a mail for each carrying one ciphertext, the first earlier."""
    store_report(backend, "CVD-2026-0001")
    store_report(backend, "CVD-2026-0002")
    first = replace(
        a_message("<first@x>", "f", report_id="CVD-2026-0001"), ciphertext_digest="c" * 64
    )
    later = replace(
        a_message("<later@x>", "l", report_id="CVD-2026-0002"),
        ciphertext_digest="c" * 64,
        received_at=T0 + timedelta(hours=1),
    )
    return first, later


def test_a_ciphertext_digest_finds_the_report_that_first_carried_it(backend: Backend) -> None:
    """The earliest mail with a report and that digest wins; unknown or unlinked digests do not."""
    first, later = one_ciphertext_in_two_reports(backend)
    loose = replace(a_message("<loose@x>", "q"), ciphertext_digest="e" * 64)
    with backend.store.unit_of_work() as uow:
        for message in (later, first, loose):
            uow.messages.add(message)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        found = (
            uow.messages.report_for_ciphertext("c" * 64),
            uow.messages.report_for_ciphertext("e" * 64),
            uow.messages.report_for_ciphertext("0" * 64),
        )
        kept = uow.messages.seen("<first@x>", "f")
    assert ("CVD-2026-0001", None, None) == found
    assert first == kept


def test_a_ciphertext_digest_outlives_the_purge_of_its_mail(backend: Backend) -> None:
    """After purge_content the mail is gone, but its digest still names the original report."""
    first, later = one_ciphertext_in_two_reports(backend)
    with backend.store.unit_of_work() as uow:
        for message in (first, later):
            uow.messages.add(message)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        uow.privacy.purge_content("CVD-2026-0001")
        uow.privacy.purge_content("CVD-2026-0001")  # twice: one kept digest, no error
        uow.commit()
    with backend.store.unit_of_work() as uow:
        found = uow.messages.report_for_ciphertext("c" * 64)
        gone = uow.messages.seen("<first@x>", "f")
    assert ("CVD-2026-0001", None) == (found, gone)


def test_sent_since_counts_mails_delivered_to_an_address_in_any_case(backend: Backend) -> None:
    """Only sent rows to that recipient at or after the moment count, whatever the letter case."""
    store_report(backend)
    rows = [
        (an_outbox_item("old"), OutboxStatus.SENT, T0 - timedelta(seconds=1)),
        (an_outbox_item("edge"), OutboxStatus.SENT, T0),
        (an_outbox_item("new"), OutboxStatus.SENT, T0 + timedelta(minutes=5)),
        (an_outbox_item("waiting"), OutboxStatus.PENDING, None),
        (replace(an_outbox_item("bob"), recipient="bob@example.org"), OutboxStatus.SENT, T0),
    ]
    with backend.store.unit_of_work() as uow:
        for item, status, sent_at in rows:
            uow.outbox.add(item)
            item.status, item.sent_at = status, sent_at
            uow.outbox.save(item)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        counts = (
            uow.outbox.sent_since("Alice@Example.org", T0),
            uow.outbox.sent_since("carol@example.org", T0),
        )
    expected = (2, 0)
    assert expected == counts


def test_one_unit_of_work_can_allocate_and_add_several_reports(backend: Backend) -> None:
    """Allocating after adding a report for a new program neither blocks nor repeats."""
    with backend.store.unit_of_work() as uow:
        first = uow.reports.next_id("newprog", "NEW", 2026)
        uow.reports.add(
            a_report(str(first), program="newprog"), "a@example.org", a_content(str(first))
        )
        second = uow.reports.next_id("newprog", "NEW", 2026)
        uow.reports.add(
            a_report(str(second), program="newprog"), "a@example.org", a_content(str(second))
        )
        uow.commit()
    with backend.store.unit_of_work() as uow:
        stored = [str(r.report_id) for r in uow.reports.open_reports("newprog")]
    assert ["NEW-2026-0001", "NEW-2026-0002"] == stored


def test_a_store_has_its_own_id_from_the_start(backend: Backend) -> None:
    """Every store is made with a 16-hex-digit store id that stays the same across units of work."""
    with backend.store.unit_of_work() as uow:
        first = uow.installation.store_id()
    with backend.store.unit_of_work() as uow:
        again = uow.installation.store_id()
    assert (16, first) == (len(first), again)
    assert int(first, 16) >= 0


def test_skip_past_moves_the_sequence_forward_only(backend: Backend) -> None:
    """skip_past makes the next id follow the given number and never moves the counter back."""
    with backend.store.unit_of_work() as uow:
        uow.reports.skip_past("CVD", 2026, 41)
        uow.reports.skip_past("CVD", 2026, 7)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        allocated = str(uow.reports.next_id("default", "CVD", 2026))
        last = uow.reports.last_sequence("CVD", 2026)
    assert ("CVD-2026-0042", 42) == (allocated, last)


def test_installation_facts_are_set_and_removed(backend: Backend) -> None:
    """A stored fact reads back after commit and is gone once set to None."""
    with backend.store.unit_of_work() as uow:
        uow.installation.put("tracker_unavailable_since", "2026-11-02T09:00:00+00:00")
        uow.commit()
    with backend.store.unit_of_work() as uow:
        stored = uow.installation.get("tracker_unavailable_since")
        uow.installation.put("tracker_unavailable_since", None)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        gone = uow.installation.get("tracker_unavailable_since")
    assert ("2026-11-02T09:00:00+00:00", None) == (stored, gone)


def test_a_program_whose_first_report_was_rolled_back_takes_a_later_report(
    backend: Backend,
) -> None:
    """A rollback takes the program row with it; the store writes it again for the next report."""
    with backend.store.unit_of_work() as uow:
        uow.reports.add(a_report("CVD-2026-0001"), "alice@example.org", a_content())
    store_report(backend, "CVD-2026-0002")
    with backend.store.unit_of_work() as uow:
        assert uow.reports.get("CVD-2026-0001") is None
        found = uow.reports.get("CVD-2026-0002")
    assert found is not None
    assert "acme" == found.program


def test_researcher_of_a_report_added_in_the_same_block_is_the_one_stored(
    backend: Backend,
) -> None:
    """researcher_of after add answers what is stored, not a copy the caller changed since."""
    with backend.store.unit_of_work() as uow:
        assert uow.researchers.get("Rita@Example.org") is None
        uow.researchers.save(
            Researcher("Rita@Example.org", display_name="Rita", fingerprint=FINGERPRINT)
        )
        uow.reports.add(a_report(), "rita@example.org", a_content())
        unsaved = uow.researchers.get("rita@example.org")
        assert unsaved is not None
        unsaved.display_name = "changed, never saved"
        in_block = uow.reports.researcher_of("CVD-2026-0001")
        uow.commit()
    with backend.store.unit_of_work() as uow:
        after_commit = uow.reports.researcher_of("CVD-2026-0001")
    expected = Researcher("Rita@Example.org", display_name="Rita", fingerprint=FINGERPRINT)
    assert (expected, expected) == (in_block, after_commit)


def test_researcher_of_a_report_is_none_once_erased_in_the_same_block(backend: Backend) -> None:
    """An erasure in the block that added the report is seen by researcher_of at once."""
    with backend.store.unit_of_work() as uow:
        uow.researchers.save(Researcher("rita@example.org", display_name="Rita"))
        uow.reports.add(a_report(), "rita@example.org", a_content())
        assert uow.reports.researcher_of("CVD-2026-0001") is not None
        key = uow.privacy.researcher_key_for("rita@example.org")
        assert key is not None
        uow.privacy.erase_contact(key)
        assert uow.reports.researcher_of("CVD-2026-0001") is None
        assert uow.researchers.get("rita@example.org") is None


def test_a_link_written_with_labels_remembers_them_and_a_moved_issue_is_due(
    backend: Backend,
) -> None:
    """link(labels=...) stores the labels; relinking without keeps them; a moved issue is due."""
    store_report(backend)
    ref = IssueRef("gitlab", "security/cvd", "7", "https://gitlab.example/security/cvd/-/issues/7")
    moved = IssueRef(
        "gitlab", "security/web", "3", "https://gitlab.example/security/web/-/issues/3"
    )
    later = T0 + timedelta(days=1)
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", ref, frozenset({"severity::high", "cvd::received"}))
        report = uow.reports.get("CVD-2026-0001")
        assert report is not None
        uow.reports.set_next_due(report, later)
        uow.commit()
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", ref)
        kept = uow.links.labels("CVD-2026-0001")
        uow.commit()
    assert [] == due_ids(backend, T0)
    with backend.store.unit_of_work() as uow:
        uow.links.link("CVD-2026-0001", moved, frozenset({"cvd::triaged"}))
        replaced = (uow.links.get("CVD-2026-0001"), uow.links.labels("CVD-2026-0001"))
        uow.commit()
    assert frozenset({"severity::high", "cvd::received"}) == kept
    assert (moved, frozenset({"cvd::triaged"})) == replaced
    assert ["CVD-2026-0001"] == due_ids(backend, T0)


def test_note_researcher_update_sets_the_time_makes_the_report_due_and_moves_nothing_else(
    backend: Backend,
) -> None:
    """note_researcher_update is get + set last_researcher_update_at + save, without the read."""
    store_report(backend)
    move_report(backend, "CVD-2026-0001", State.ACKNOWLEDGED, T0 + timedelta(hours=1))
    sent = T0 + timedelta(hours=2)
    with backend.store.unit_of_work() as uow:
        before = uow.reports.get("CVD-2026-0001")
        assert before is not None
        assert uow.reports.set_next_due(before, T0 + timedelta(days=30))
        uow.reports.note_researcher_update("CVD-2026-0001", sent)
        uow.reports.note_researcher_update("CVD-2099-0404", sent)  # no such report: no change
        uow.commit()
    with backend.store.unit_of_work() as uow:
        after = uow.reports.get("CVD-2026-0001")
        assert uow.reports.get("CVD-2099-0404") is None
    assert replace(before, last_researcher_update_at=sent) == after
    assert ["CVD-2026-0001"] == due_ids(backend, T0)

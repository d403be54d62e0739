"""Store identity: a new store never adopts, relabels or mails from another store's issues."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge.ports.tracker import IssueDraft

if TYPE_CHECKING:
    from tests.unit.services.conftest import World

OLD_STORE = "01d01d01d01d01d0"


def old_store_issue(world: World, report_id: str) -> str:
    """An issue an earlier store opened, with a team message for its own researcher."""
    ref = world.tracker.open_issue(
        IssueDraft(report_id=report_id, title="old", body="old report", installation=OLD_STORE)
    )
    world.tracker.team_comment(ref.key, "[to researcher]\nMessage for the old researcher.")
    return ref.key


def test_new_store_moves_its_report_ids_past_the_trackers(world: World) -> None:
    """A new store facing CVD-2026-0001..0005 of another store gives its first report 0006."""
    for number in range(1, 6):
        old_store_issue(world, f"CVD-2026-{number:04d}")
    outcome = world.ingest.ingest(world.reader.add(inbound()), world.summary())
    assert "CVD-2026-0006" == outcome.report_id
    assert 6 == len(world.tracker.issues)


def test_sync_never_adopts_or_mails_from_another_stores_issue(world: World) -> None:
    """Another store's issue with a team message is listed but neither linked nor mailed."""
    key = old_store_issue(world, "CVD-2026-0001")
    world.ingest.ingest(world.reader.add(inbound()), world.summary())
    summary = world.pass_sync()
    with world.store.unit_of_work() as uow:
        owner = uow.links.report_for("fake", "security/cvd", key)
        queued = uow.outbox.for_report("CVD-2026-0002")
    assert (None, 1) == (owner, summary.counts.get("foreign_issue"))
    assert ["acknowledgement"] == [item.template for item in queued]


def test_colliding_marker_of_another_store_stops_with_both_named(world: World) -> None:
    """An id handed out while the tracker was down that another store holds is never adopted."""
    world.tracker.fail_calls = 1  # the id look-up fails: the report is stored as CVD-2026-0001
    world.ingest.ingest(world.reader.add(inbound()), world.summary())
    old_store_issue(world, "CVD-2026-0001")
    summary = world.summary()
    world.ingest.open_pending_issues(summary)
    with world.store.unit_of_work() as uow:
        ours = uow.installation.store_id()
        linked = uow.links.get("CVD-2026-0001")
    problem = next(p for p in summary.problems if p.startswith("CVD-2026-0001"))
    assert (None, 1) == (linked, summary.counts.get("not_in_tracker"))
    assert (True, True) == (OLD_STORE in problem, ours in problem)


def test_report_not_opened_confidentially_is_retried_and_never_linked(world: World) -> None:
    """Refused confidentiality: every pass retries and says why; the placeholder is never linked."""
    world.tracker.deny_confidentiality = True
    world.ingest.ingest(world.reader.add(inbound()), world.summary())
    world.pass_sync()
    second = world.summary()
    world.ingest.run([], second)
    with world.store.unit_of_work() as uow:
        linked = uow.links.get("CVD-2026-0001")
    assert (None, 1) == (linked, second.counts.get("not_in_tracker"))
    assert any(p.startswith("CVD-2026-0001: not yet in the tracker: ") for p in second.problems)
    world.tracker.deny_confidentiality = False
    world.ingest.run([], world.summary())
    with world.store.unit_of_work() as uow:
        ref = uow.links.get("CVD-2026-0001")
    assert ref is not None
    assert (1, True) == (len(world.tracker.issues), world.tracker.issues[ref.key].confidential)


def test_a_report_stuck_on_another_stores_issue_never_holds_back_the_next(world: World) -> None:
    """CVD-2026-0001 stuck on another store's marker; CVD-2026-0002 of the same pass opens."""
    world.tracker.fail_calls = 1  # the id look-up fails: the report is stored as CVD-2026-0001
    world.ingest.ingest(world.reader.add(inbound()), world.summary())
    old_store_issue(world, "CVD-2026-0001")
    summary = world.summary()
    world.ingest.run([], summary)  # 0001's open is refused: another store's issue has its marker
    second = world.reader.add(inbound(subject="second report", message_id="<second@example.org>"))
    world.ingest.ingest(second, summary)
    with world.store.unit_of_work() as uow:
        linked = [uow.links.get(f"CVD-2026-000{n}") is not None for n in (1, 2)]
    assert [False, True] == linked

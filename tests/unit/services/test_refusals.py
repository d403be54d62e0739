"""A tracker refusing one report (422, issue deleted) sets only that report aside and tells the team once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker_bridge._testsupport.fakes import inbound

if TYPE_CHECKING:
    from tests.unit.services.conftest import World

REFUSAL_NOTE = "tracker-bridge could not"


def open_two(world: World) -> None:
    """Ingest two reports (issues 1 and 2 in the fake tracker)."""
    summary = world.summary("ingest")
    for number in (1, 2):
        message = inbound(message_id=f"<m{number}@example.org>", subject=f"Bug {number}")
        world.ingest.ingest(world.reader.add(message), summary)


def refusal_notes(world: World, key: str) -> list[str]:
    """The bridge's notes on issue ``key`` that tell the team about a refusal."""
    return [n.body for n in world.tracker.issues[key].notes if REFUSAL_NOTE in n.body]


def test_sync_sets_aside_the_issue_that_refuses_its_labels_and_tells_the_team_once(
    world: World,
) -> None:
    """Issue 1 answers 422 to label edits: issue 2 is still updated, one note on 1, none later."""
    open_two(world)
    world.tracker.refuse_edits = {"1"}
    for key in ("1", "2"):
        world.tracker.team_set_labels(key, {"cvd::triaged"}, {"cvd::received", "cvd::acknowledged"})
    world.clock.advance(days=40)  # the fix deadline passes: both issues need sla::overdue
    first = world.pass_sync()
    second = world.pass_sync()
    assert (
        True,
        1,
        1,
        1,
        None,
        1,
        [],
    ) == (
        "sla::overdue" in world.tracker.issues["2"].labels,
        first.counts.get("tracker_refused"),
        len([p for p in first.problems if p.startswith("CVD-2026-0001: the tracker refused")]),
        len(refusal_notes(world, "1")),
        second.counts.get("tracker_refused"),
        second.counts.get("still_refused"),
        second.problems,
    )


def test_an_issue_deleted_by_hand_does_not_stop_the_others(world: World) -> None:
    """Issue 1 deleted (404): the pass still refreshes issue 2 and reports the deletion once."""
    open_two(world)
    world.tracker.team_delete("1")
    world.tracker.team_set_labels("2", {"cvd::triaged"}, {"cvd::received", "cvd::acknowledged"})
    world.clock.advance(days=40)
    first = world.pass_sync()
    second = world.pass_sync()
    assert (1, 1, None) == (
        first.counts.get("tracker_refused"),
        first.counts.get("labels_updated"),
        second.counts.get("tracker_refused"),
    )


def test_open_refused_for_one_report_opens_the_others_and_tells_the_team_once(
    world: World,
) -> None:
    """The first report's content write answers 422: the second opens, the first waits, one note."""
    world.tracker.refuse_edits = {"1"}
    open_two(world)
    again = world.summary("ingest")
    world.ingest.open_pending_issues(again)
    with world.store.unit_of_work() as uow:
        linked = sorted(uow.links.links_of(["CVD-2026-0001", "CVD-2026-0002"]))
    assert (["CVD-2026-0002"], 1, None, 1) == (
        linked,
        len(refusal_notes(world, "1")),
        again.counts.get("tracker_refused"),
        again.counts.get("still_refused"),
    )

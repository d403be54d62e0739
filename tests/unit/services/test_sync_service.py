"""The sync service: tracker changes become lifecycle moves and researcher mail, exactly once."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge.domain.report import State
from tracker_bridge.domain.severity import Severity

if TYPE_CHECKING:
    from tests.unit.services.conftest import World


def open_report(world: World) -> str:
    """Ingest one report and return the issue key in the fake tracker."""
    world.ingest.ingest(world.reader.add(inbound()), world.summary())
    return "1"


def report_state(world: World) -> State:
    """The stored state of CVD-2026-0001."""
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
    assert report is not None
    return report.state


def queued_templates(world: World) -> list[str]:
    """Templates of every outbox row of CVD-2026-0001, oldest first."""
    with world.store.unit_of_work() as uow:
        return [item.template for item in uow.outbox.for_report("CVD-2026-0001")]


def test_state_label_moves_the_report_and_queues_one_mail(world: World) -> None:
    """The team labelling cvd::triaging then cvd::triaged moves the report and queues the triaged mail."""
    key = open_report(world)
    world.clock.advance(hours=1)
    world.tracker.team_set_labels(key, {"cvd::triaging"}, {"cvd::received"})
    world.pass_sync()
    world.clock.advance(hours=1)
    world.tracker.team_set_labels(key, {"cvd::triaged"}, {"cvd::triaging"})
    world.pass_sync()
    assert report_state(world) is State.TRIAGED
    assert ["acknowledgement", "state_triaged"] == queued_templates(world)


def test_reading_the_same_change_twice_changes_nothing(world: World) -> None:
    """A second pass over the same change (bookmark is inclusive) queues nothing new."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::triaging"}, {"cvd::received"})
    world.pass_sync()
    before = queued_templates(world)
    with world.store.unit_of_work() as uow:
        uow.bookmarks.set("fake:security/cvd", world.clock.now().replace(year=2020))
        uow.commit()
    world.pass_sync()
    world.pass_sync()
    assert queued_templates(world) == before
    assert report_state(world) is State.TRIAGING


def test_refused_transition_is_recorded_not_applied(world: World) -> None:
    """A label that jumps from received to published is refused, reported once, and not applied."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::published"}, {"cvd::received"})
    summary = world.pass_sync()
    assert report_state(world) is State.RECEIVED
    assert 1 == summary.counts.get("transitions_refused")
    assert "not allowed" in summary.problems[0] or "does not allow" in summary.problems[0]
    again = world.pass_sync()
    assert again.counts.get("transitions_refused") is None


def test_team_message_marked_for_the_researcher_is_queued_once(world: World) -> None:
    """A comment starting with [to researcher] becomes one team_message mail without the marker."""
    key = open_report(world)
    world.tracker.team_comment(key, "[to researcher]\nThanks, we reproduced it.")
    world.tracker.team_comment(key, "internal: looks bad")
    world.pass_sync()
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        items = [i for i in uow.outbox.for_report("CVD-2026-0001") if i.template == "team_message"]
    assert ["Thanks, we reproduced it."] == [i.params["team_message"] for i in items]


def test_cvss_vector_in_a_team_note_sets_severity_and_fix_due_date(world: World) -> None:
    """A CVSS vector in a team note sets the severity; the next pass writes label and due date."""
    key = open_report(world)
    world.tracker.team_comment(key, "Scored CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
    assert report is not None
    assert report.severity is Severity.CRITICAL
    issue = world.tracker.issues[key]
    assert "severity::critical" in issue.labels
    assert "severity::unassessed" not in issue.labels
    assert date(2026, 12, 2) == issue.due_date


def test_due_date_change_after_triage_queues_a_fix_date_mail(world: World) -> None:
    """The team moving the due date of a triaged report tells the researcher the new date."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::triaged"}, {"cvd::received"})
    world.pass_sync()
    world.tracker.team_set_due_date(key, date(2027, 1, 15))
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        items = [
            i for i in uow.outbox.for_report("CVD-2026-0001") if i.template == "fix_date_changed"
        ]
    assert ["2027-01-15"] == [i.params["expected_fix_date"] for i in items]


def test_closing_the_issue_resolves_a_remediated_report(world: World) -> None:
    """Closing an issue without a state label applies the mapping's closed state."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::in_remediation"}, {"cvd::received"})
    world.pass_sync()
    assert report_state(world) is State.RECEIVED  # received -> in_remediation is not allowed
    world.tracker.team_set_labels(key, {"cvd::triaged"}, {"cvd::in_remediation"})
    world.pass_sync()
    world.tracker.team_set_labels(key, set(), {"cvd::triaged"})
    world.tracker.team_set_status(key, "closed")
    world.pass_sync()
    assert report_state(world) is State.RESOLVED
    assert "state_resolved" == queued_templates(world)[-1]


def test_deadline_label_turns_overdue_and_the_team_is_told_once(world: World) -> None:
    """Past the assessment deadline the sla label becomes overdue and one internal note is added."""
    key = open_report(world)
    world.pass_sync()
    assert (
        "sla::on-track" in world.tracker.issues[key].labels
        or "sla::due-soon" in world.tracker.issues[key].labels
    )
    world.clock.advance(days=10)
    world.pass_sync()
    world.pass_sync()
    issue = world.tracker.issues[key]
    assert "sla::overdue" in issue.labels
    assert {"sla::on-track", "sla::due-soon"}.isdisjoint(issue.labels)
    missed = [n.body for n in issue.notes if n.body.startswith("Deadline missed")]
    assert 2 == len(missed)  # acknowledgement and assessment, once each


def test_quiet_pass_writes_nothing_to_the_tracker(world: World) -> None:
    """When nothing changed and no label is due to change, a pass only reads."""
    open_report(world)
    world.pass_sync()
    world.tracker.calls.clear()
    world.pass_sync()
    assert ["changes_since"] == world.tracker.calls


def test_bookmark_never_passes_the_pass_start(world: World) -> None:
    """The bookmark is at most the moment the pass started."""
    open_report(world)
    start = world.clock.now()
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        bookmark = uow.bookmarks.get("fake:security/cvd")
    assert bookmark is not None
    assert bookmark <= start


def test_progress_update_is_queued_when_a_report_would_go_silent(world: World) -> None:
    """Twelve days without a mail queue one progress update, not one per pass."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::triaging"}, {"cvd::received"})
    world.pass_sync()
    world.clock.advance(days=12)
    world.pass_sync()
    world.pass_sync()
    assert 1 == queued_templates(world).count("progress_update")


def test_closing_an_issue_with_a_stale_state_label_resolves_the_report(world: World) -> None:
    """Closing the issue resolves a triaged report although the cvd::triaged label is still on it."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::triaged"}, set())
    world.pass_sync()
    world.tracker.team_set_status(key, "closed")
    world.pass_sync()
    assert report_state(world) is State.RESOLVED


def test_reopening_the_issue_reopens_a_resolved_report(world: World) -> None:
    """Reopening the issue of a resolved report moves it back to in_remediation: the fix did not hold."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::triaged"}, set())
    world.pass_sync()
    world.tracker.team_set_status(key, "closed")
    world.pass_sync()
    world.tracker.team_set_status(key, "opened")
    world.pass_sync()
    assert report_state(world) is State.IN_REMEDIATION


def test_reopening_a_closure_returns_it_to_triage(world: World) -> None:
    """Reopening an issue closed as out of scope moves the report back to triaging."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::out_of_scope"}, set())
    world.tracker.team_set_status(key, "closed")
    world.pass_sync()
    assert report_state(world) is State.OUT_OF_SCOPE
    world.tracker.team_set_labels(key, set(), {"cvd::out_of_scope"})
    world.tracker.team_set_status(key, "opened")
    world.pass_sync()
    assert report_state(world) is State.TRIAGING


def test_triage_with_due_date_and_message_sends_each_once(world: World) -> None:
    """Triage + due date + team message in one pass: triaged mail with the date, message apart."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::triaged"}, {"cvd::received"})
    world.tracker.team_set_due_date(key, date(2026, 12, 13))
    world.tracker.team_comment(key, "[to researcher]\nWe reproduced it.")
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        items = uow.outbox.for_report("CVD-2026-0001")
    by_template = {i.template: i for i in items}
    assert ["acknowledgement", "state_triaged", "team_message"] == [i.template for i in items]
    assert "2026-12-13" == by_template["state_triaged"].params["expected_fix_date"]
    assert "We reproduced it." == by_template["team_message"].params["team_message"]


def test_needs_info_mail_carries_the_teams_question(world: World) -> None:
    """Asking the researcher something sends one needs_info mail that holds the question."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::needs_info"}, {"cvd::received"})
    world.tracker.team_comment(key, "[to researcher] Which browser did you use?")
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        items = uow.outbox.for_report("CVD-2026-0001")
    assert ["acknowledgement", "state_needs_info"] == [i.template for i in items]
    assert "Which browser did you use?" == items[1].params["team_message"]


def test_the_bridges_own_stale_label_is_not_a_team_move(world: World) -> None:
    """An issue re-listed while it still shows the label the bridge wrote earlier changes nothing."""
    key = open_report(world)
    world.pass_sync()
    world.deliver()  # the acknowledgement moves the report to acknowledged; the label says received
    assert report_state(world) is State.ACKNOWLEDGED
    with world.store.unit_of_work() as uow:
        uow.bookmarks.set("fake:security/cvd", world.clock.now().replace(year=2020))
        uow.commit()
    world.tracker.team_comment(key, "looking")
    summary = world.pass_sync()
    assert [] == summary.problems
    assert report_state(world) is State.ACKNOWLEDGED


def test_team_severity_label_sets_severity_and_stale_one_does_not(world: World) -> None:
    """A severity label the team adds wins; the bridge's earlier label does not undo a CVSS score."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"severity::high"}, {"severity::unassessed"})
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
    assert report is not None
    assert report.severity is Severity.HIGH
    world.tracker.team_comment(key, "Rescored CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
    assert report is not None
    assert report.severity is Severity.CRITICAL
    assert "severity::critical" in world.tracker.issues[key].labels


def test_deadline_labels_and_pending_issues_are_walked_in_pages(world: World) -> None:
    """With a page of two, five reports all get their labels and issues: no report is skipped."""
    world.sync.page_size = 2
    world.ingest.page_size = 2
    world.tracker.fail_calls = 5  # every issue waits for open_pending_issues
    for number in range(5):
        world.ingest.ingest(
            world.reader.add(inbound(message_id=f"<p{number}@example.org>")), world.summary()
        )
    assert {} == world.tracker.issues
    world.ingest.open_pending_issues(world.summary())
    assert 5 == len(world.tracker.issues)
    world.clock.advance(days=10)
    world.pass_sync()
    overdue = [i for i in world.tracker.issues.values() if "sla::overdue" in i.labels]
    assert 5 == len(overdue)


def fix_date_mails(world: World) -> list[tuple[str, str]]:
    """(previous, expected) of every fix_date_changed mail of CVD-2026-0001, oldest first."""
    with world.store.unit_of_work() as uow:
        return [
            (i.params["previous_fix_date"], i.params["expected_fix_date"])
            for i in uow.outbox.for_report("CVD-2026-0001")
            if i.template == "fix_date_changed"
        ]


def test_due_date_move_beside_a_state_change_is_mailed_from_the_date_told(world: World) -> None:
    """A due-date move in the same pass as fix_available is mailed; each "from" is the date told."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::triaged"}, {"cvd::received"})
    world.tracker.team_set_due_date(key, date(2026, 12, 1))
    world.pass_sync()  # the triaged mail tells 1 December
    world.clock.advance(hours=1)
    world.tracker.team_set_labels(key, {"cvd::fix_available"}, {"cvd::triaged"})
    world.tracker.team_set_due_date(key, date(2026, 12, 8))
    world.pass_sync()
    world.clock.advance(hours=1)
    world.tracker.team_set_due_date(key, date(2026, 12, 15))
    world.pass_sync()
    assert [
        ("2026-12-01", "2026-12-08"),
        ("2026-12-08", "2026-12-15"),
    ] == fix_date_mails(world)


def test_due_date_move_folded_into_a_state_mail_that_quotes_it(world: World) -> None:
    """in_remediation quotes the fix date: no separate mail, and the next "from" is that date."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"cvd::triaged"}, {"cvd::received"})
    world.tracker.team_set_due_date(key, date(2026, 12, 1))
    world.pass_sync()
    world.clock.advance(hours=1)
    world.tracker.team_set_labels(key, {"cvd::in_remediation"}, {"cvd::triaged"})
    world.tracker.team_set_due_date(key, date(2026, 12, 8))
    world.pass_sync()
    world.clock.advance(hours=1)
    world.tracker.team_set_due_date(key, date(2026, 12, 22))
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        remediation = [
            i.params["expected_fix_date"]
            for i in uow.outbox.for_report("CVD-2026-0001")
            if i.template == "state_in_remediation"
        ]
    assert ["2026-12-08"] == remediation
    assert [("2026-12-08", "2026-12-22")] == fix_date_mails(world)

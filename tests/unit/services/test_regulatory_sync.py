"""Regulatory clocks in sync: starts, due labels, reminders once, done-markers, no researcher mail."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.services.conftest import MAPPINGS, World
from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge.app import build_program
from tracker_bridge.domain.regulatory import Regime
from tracker_bridge.mappings import load_mappings
from tracker_bridge.services.open_reports import open_report_rows
from tracker_bridge.services.regulatory import draft, next_moment
from tracker_bridge.services.sync import Sync


@pytest.fixture
def legal_world(world: World) -> World:
    """The service world with all three regimes turned on (Monday 2 November 2026, 09:00 UTC)."""
    mappings = load_mappings(MAPPINGS, "fake")
    mappings = dataclasses.replace(
        mappings,
        regulatory=dataclasses.replace(mappings.regulatory, enabled=frozenset(Regime)),
    )
    sync = Sync(
        build_program(mappings),
        world.store.unit_of_work,
        world.tracker,
        world.clock,
        "fake:security/cvd",
    )
    return dataclasses.replace(world, sync=sync)


def open_report(world: World) -> str:
    """Ingest one report; the fake tracker's issue key."""
    world.ingest.ingest(world.reader.add(inbound()), world.summary())
    world.pass_sync()
    return "1"


def reg_labels(world: World, key: str) -> set[str]:
    """The issue's regulatory labels."""
    return {x for x in world.tracker.issues[key].labels if x.startswith("reg")}


def bridge_notes(world: World, key: str, start: str) -> list[str]:
    """Bridge notes on the issue starting with ``start``."""
    return [
        n.body for n in world.tracker.issues[key].notes if n.by_bridge and n.body.startswith(start)
    ]


def test_label_starts_the_cra_clock_and_keeps_the_due_label_current(legal_world: World) -> None:
    """reg::actively-exploited adds reg-due::24h; after the early warning it moves to reg-due::72h."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited"})
    world.pass_sync()
    assert {"reg::actively-exploited", "reg-due::24h"} == reg_labels(world, key)
    world.clock.advance(hours=2)
    world.tracker.team_comment(key, "[reported] early warning\nsent via the ENISA platform")
    world.pass_sync()
    assert {"reg::actively-exploited", "reg-due::72h"} == reg_labels(world, key)


def test_due_soon_and_missed_reminders_are_written_once(legal_world: World) -> None:
    """Each reminder is one note whatever the number of passes; a done marker stops them."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::personal-data-breach"})
    world.pass_sync()
    world.clock.advance(hours=67)
    world.pass_sync()
    world.pass_sync()
    assert 1 == len(bridge_notes(world, key, "Regulatory step due soon"))
    world.clock.advance(hours=6)
    summary = world.pass_sync()
    world.pass_sync()
    assert 1 == len(bridge_notes(world, key, "Regulatory step missed"))
    assert 1 == summary.counts.get("regulatory_missed")
    assert {"reg::personal-data-breach", "reg-due::overdue"} == reg_labels(world, key)
    world.tracker.team_comment(key, "[not notifiable] only hashed e-mail addresses were exposed")
    world.pass_sync()
    assert {"reg::personal-data-breach", "reg-due::done"} == reg_labels(world, key)


def test_aware_marker_gives_an_earlier_moment(legal_world: World) -> None:
    """[aware] with an earlier moment starts the 24-hour NIS2 clock then, so it is due soon now."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_comment(key, "[aware] 2026-11-01T16:00+01:00 significant-incident")
    summary = world.pass_sync()
    assert {"reg-due::24h"} == reg_labels(world, key)
    assert 1 == summary.counts.get("regulatory_due_soon")
    assert 1 == len(bridge_notes(world, key, "Regulatory step due soon"))


def test_done_and_not_notifiable_are_audited_with_who(legal_world: World) -> None:
    """The audit log names who recorded the GDPR decision and which step it closed."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::personal-data-breach"})
    world.pass_sync()
    world.tracker.team_comment(key, "[not notifiable] data was encrypted at rest, key not exposed")
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        entries = [
            (e.actor, e.action, e.detail)
            for e in uow.audit.entries()
            if e.action.startswith("regulatory_not")
        ]
    assert [("alice", "regulatory_not_notifiable", "gdpr-notification")] == entries


def test_researcher_mail_never_mentions_regulatory_steps(legal_world: World) -> None:
    """Starting, reminding and closing a regime queues no researcher mail beyond the acknowledgement."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited", "reg::significant-incident"})
    world.pass_sync()
    world.clock.advance(hours=30)
    world.tracker.team_comment(key, "[reported] cra-early-warning")
    world.pass_sync()
    world.deliver()
    with world.store.unit_of_work() as uow:
        templates = [item.template for item in uow.outbox.for_report("CVD-2026-0001")]
    assert ["acknowledgement"] == templates
    texts = " ".join(str(m) for m in world.transport.sent).lower()
    assert "cvd-2026-0001" in texts  # the acknowledgement was sent and is read here
    assert "regulatory" not in texts
    assert "early warning" not in texts
    assert "reg-due" not in texts


def test_ambiguous_reported_marker_is_a_named_problem(legal_world: World) -> None:
    """[reported] early warning with NIS2 and CRA both running names the problem, records nothing."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited", "reg::significant-incident"})
    world.pass_sync()
    world.tracker.team_comment(key, "[reported] early warning")
    summary = world.pass_sync()
    assert any("names 2 running steps" in p for p in summary.problems)
    assert {"reg::actively-exploited", "reg::significant-incident", "reg-due::24h"} == reg_labels(
        world, key
    )


def test_disabled_regimes_do_nothing(world: World) -> None:
    """With the shipped mappings (all off) a regime label adds no due label."""
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited"})
    world.pass_sync()
    assert {"reg::actively-exploited"} == reg_labels(world, key)


def test_reminder_written_before_a_crash_is_not_written_again(legal_world: World) -> None:
    """A reminder note on the issue whose event never committed is read back, not repeated."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited"})
    world.pass_sync()
    world.clock.advance(hours=19)
    # The bridge wrote the note, then crashed before recording it (the state the crash leaves).
    ref = world.tracker.find_issue("CVD-2026-0001")
    assert ref is not None
    world.tracker.add_note(
        ref,
        "Regulatory step due soon: the CRA art. 14(2)(a) early warning is due soon. "
        "Record it with `[reported] cra-early-warning`.",
    )
    world.pass_sync()
    world.pass_sync()
    assert 1 == len(bridge_notes(world, key, "Regulatory step due soon"))


def _move(world: World, key: str, *states: str) -> None:
    """The team moves the report through ``states`` by label, one pass each."""
    for state in states:
        world.tracker.team_set_labels(key, {f"cvd::{state}"})
        world.pass_sync()


def test_fix_available_starts_the_cra_final_report(legal_world: World) -> None:
    """Reaching fix_available turns the CRA final report from waiting into a 14-day clock."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited"})
    world.tracker.team_comment(key, "[reported] cra-early-warning")
    world.tracker.team_comment(key, "[reported] cra-notification")
    world.pass_sync()
    assert {"reg::actively-exploited", "reg-due::waiting"} == reg_labels(world, key)
    _move(world, key, "triaging", "triaged", "in_remediation", "fix_available")
    assert {"reg::actively-exploited", "reg-due::14d"} == reg_labels(world, key)
    world.clock.advance(days=14)
    world.pass_sync()
    assert 1 == len(bridge_notes(world, key, "Regulatory step missed"))


def test_measure_available_marker_starts_the_cra_final_report(legal_world: World) -> None:
    """[measure available] starts the 14 days without a lifecycle move (a mitigation, say)."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited"})
    world.tracker.team_comment(key, "[reported] cra-early-warning")
    world.tracker.team_comment(key, "[reported] cra-notification")
    world.tracker.team_comment(key, "[measure available]\nWAF rule blocks the payload")
    world.pass_sync()
    assert {"reg::actively-exploited", "reg-due::14d"} == reg_labels(world, key)


def test_next_moment_is_when_the_earliest_step_becomes_due_soon(legal_world: World) -> None:
    """A CRA clock started now changes next at 18 h (6 h before the 24-hour early warning)."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited"})
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        events = uow.reports.events("CVD-2026-0001")
    assert report is not None
    started = min(e.at for e in events if e.kind == "reg_started")
    policy = world.sync.program.regulatory
    assert started + timedelta(hours=18) == next_moment(
        report, events, policy, world.sync.program.calendar.tz
    )


def test_start_note_lists_each_steps_deadline_once(legal_world: World) -> None:
    """Starting NIS2 writes one note with the three steps' deadlines in the program's time zone."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::significant-incident"})
    world.pass_sync()
    world.pass_sync()
    [note] = bridge_notes(world, key, "Regulatory clock started (nis2")
    # Aware 2 November 10:00 CET: early warning 3 November 10:00, notification 5 November 10:00,
    # final report one month after the notification's due moment: end of 5 December.
    assert [
        "- early warning (NIS2 art. 23(4)(a)): 2026-11-03 10:00 CET",
        "- incident notification (NIS2 art. 23(4)(b)): 2026-11-05 10:00 CET",
        "- final report (NIS2 art. 23(4)(d)): 2026-12-06 00:00 CET",
    ] == note.splitlines()[1:4]


def test_a_closed_report_is_still_reminded_once(legal_world: World) -> None:
    """A GDPR clock outlives the report's closing: due-soon and missed reminders once each."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::personal-data-breach"})
    world.pass_sync()
    _move(world, key, "triaging", "triaged", "in_remediation")
    world.tracker.team_set_status(key, "closed")
    summary = world.pass_sync()
    world.pass_sync()
    assert 1 == summary.counts.get("state_changes"), summary.problems
    world.clock.advance(hours=67)
    world.pass_sync()
    world.pass_sync()
    assert 1 == len(bridge_notes(world, key, "Regulatory step due soon"))
    world.clock.advance(hours=6)
    world.pass_sync()
    world.pass_sync()
    assert 1 == len(bridge_notes(world, key, "Regulatory step missed"))
    assert "reg-due::overdue" in reg_labels(world, key)


def test_reported_label_records_the_step_done(legal_world: World) -> None:
    """The label reg-reported::cra-early-warning records the step like the marker comment does."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited"})
    world.pass_sync()
    world.tracker.team_set_labels(key, {"reg-reported::cra-early-warning"})
    world.pass_sync()
    assert "reg-due::72h" in reg_labels(world, key)
    with world.store.unit_of_work() as uow:
        actions = [e.action for e in uow.audit.entries("CVD-2026-0001")]
    assert 1 == actions.count("regulatory_step_reported")


def test_malformed_aware_marker_is_a_named_problem(legal_world: World) -> None:
    """[aware] without an offset names the comment and the expected form, and starts nothing."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_comment(key, "[aware] 2026-11-01T16:00 significant-incident")
    summary = world.pass_sync()
    assert any("ISO 8601 moment with offset" in p for p in summary.problems)
    assert set() == reg_labels(world, key)


def test_aware_moment_after_the_comment_is_refused(legal_world: World) -> None:
    """[aware] in 2099 is a named problem and starts no clock; nothing is audited as of 2099."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_comment(key, "[aware] 2099-01-01T09:00+01:00 significant-incident")
    summary = world.pass_sync()
    with world.store.unit_of_work() as uow:
        years = sorted({e.at.year for e in uow.audit.entries()})
    assert any("later than the comment itself" in p for p in summary.problems)
    assert (set(), False) == (reg_labels(world, key), 2099 in years)


def test_aware_marker_is_audited_when_recorded(legal_world: World) -> None:
    """The audit row of an [aware] start has the comment's time; the moment is in the detail."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_comment(key, "[aware] 2026-11-01T16:00+01:00 significant-incident")
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        started = [e for e in uow.audit.entries() if e.action == "regulatory_clock_started"]
    assert 1 == len(started)
    assert "aware 2026-11-01T16:00:00+01:00" in started[0].detail
    assert datetime(2026, 11, 1, 15, 0, tzinfo=UTC) < started[0].at


def test_gdpr_draft_documents_the_not_notifiable_decision(legal_world: World) -> None:
    """Art. 33(5): the GDPR draft carries who decided "not notifiable", when, and why."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::personal-data-breach"})
    world.pass_sync()
    world.tracker.team_comment(key, "[not notifiable] only public profile names were exposed")
    world.pass_sync()
    with world.store.unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        events = uow.reports.events("CVD-2026-0001")
    assert report is not None
    program = world.sync.program
    fields = draft(
        report,
        events,
        "gdpr-notification",
        world.clock.now(),
        program.calendar.tz,
        program.regulatory,
    )
    assert fields["decision"].startswith("not notifiable (GDPR art. 33(5)), decided by alice at ")
    assert fields["decision"].endswith(": only public profile names were exposed")


def test_reports_lists_a_closed_report_while_its_legal_clock_runs(legal_world: World) -> None:
    """`reports` keeps a closed report with a running GDPR clock, first, and drops it once done."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::personal-data-breach"})
    world.pass_sync()
    _move(world, key, "triaging", "triaged", "in_remediation")
    world.tracker.team_set_status(key, "closed")
    world.pass_sync()
    program = world.sync.program
    rows = open_report_rows(world.store.unit_of_work, program, world.clock.now())
    assert ["CVD-2026-0001"] == [row["report_id"] for row in rows]
    assert "resolved" == rows[0]["state"]
    assert ["gdpr-notification"] == [c["step"] for c in rows[0]["regulatory"]]
    world.tracker.team_comment(key, "[not notifiable] no risk: the records were test data")
    world.pass_sync()
    assert [] == open_report_rows(world.store.unit_of_work, program, world.clock.now())


def _started_at(world: World, regime: str) -> datetime:
    """The awareness moment recorded for ``regime`` of the first report."""
    with world.store.unit_of_work() as uow:
        events = uow.reports.events("CVD-2026-0001")
    [moment] = [e.at for e in events if e.kind == "reg_started" and e.detail.startswith(regime)]
    return moment


def test_label_started_clock_counts_from_the_issue_update_not_the_pass(legal_world: World) -> None:
    """A label seen 10 h late starts the clock at the issue's update, so the 24 h are not late."""
    world = legal_world
    key = open_report(world)
    labelled = world.clock.now()
    world.tracker.team_set_labels(key, {"reg::actively-exploited"})
    world.clock.advance(hours=10)
    summary = world.pass_sync()
    assert labelled.replace(microsecond=0) == _started_at(world, "cra")
    assert 1 == len(bridge_notes(world, key, "Regulatory clock started (cra, aware "))
    assert 0 == summary.counts.get("regulatory_due_soon", 0)
    world.clock.advance(hours=8)  # 18 h after the label: 6 h before the early warning
    assert 1 == world.pass_sync().counts.get("regulatory_due_soon")


def test_earlier_aware_marker_writes_one_moved_note(legal_world: World) -> None:
    """An earlier [aware] after the start note gives one "clock moved" note with the new dates."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::significant-incident"})
    world.pass_sync()
    world.tracker.team_comment(key, "[aware] 2026-11-01T16:00+01:00 significant-incident")
    world.pass_sync()
    world.pass_sync()
    [note] = bridge_notes(world, key, "Regulatory clock moved (nis2")
    assert [
        "Regulatory clock moved (nis2, aware 2026-11-01 16:00 CET); the deadlines now are:",
        "- early warning (NIS2 art. 23(4)(a)): 2026-11-02 16:00 CET",
        "- incident notification (NIS2 art. 23(4)(b)): 2026-11-04 16:00 CET",
        "- final report (NIS2 art. 23(4)(d)): 2026-12-05 00:00 CET",
    ] == note.splitlines()


def test_measure_and_submitted_notification_each_write_one_moved_note(legal_world: World) -> None:
    """The CRA final report's start and the NIS2 final report's move each get one note."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::actively-exploited", "reg::significant-incident"})
    world.pass_sync()
    world.tracker.team_comment(key, "[measure available]\nWAF rule blocks the payload")
    world.tracker.team_comment(key, "[reported] nis2-notification")
    world.pass_sync()
    world.pass_sync()
    [cra] = bridge_notes(world, key, "Regulatory clock moved (cra")
    [nis2] = bridge_notes(world, key, "Regulatory clock moved (nis2")
    assert "- final report (CRA art. 14(2)(c)): 2026-11-16 10:00 CET" in cra.splitlines()
    assert "- final report (NIS2 art. 23(4)(d)): 2026-12-03 00:00 CET" in nis2.splitlines()


def test_a_quiet_pass_still_counts_due_soon_and_missed_steps(legal_world: World) -> None:
    """Passes with no tracker change report the same due-soon and missed counts."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_comment(key, "[aware] 2026-11-01T16:00+01:00 significant-incident")
    first = world.pass_sync()
    quiet = world.pass_sync()
    assert 1 == first.counts.get("regulatory_due_soon")
    assert 1 == quiet.counts.get("regulatory_due_soon")
    world.clock.advance(hours=7)
    world.pass_sync()
    assert 1 == world.pass_sync().counts.get("regulatory_missed")


def test_not_notifiable_before_the_gdpr_clock_is_a_named_problem(legal_world: World) -> None:
    """[not notifiable] with no GDPR clock running names the problem and records nothing."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_comment(key, "[not notifiable] only hashed e-mail addresses")
    summary = world.pass_sync()
    assert any("names 0 running steps" in p and "gdpr" in p for p in summary.problems)
    assert set() == reg_labels(world, key)


def test_aware_marker_names_a_regime_only_in_full(legal_world: World) -> None:
    """[aware] <t> t (a mere suffix of a start label) starts no regime and is a named problem."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_comment(key, "[aware] 2026-11-01T16:00+01:00 t")
    summary = world.pass_sync()
    assert any("for an enabled regime; not applied" in p for p in summary.problems)
    assert set() == reg_labels(world, key)


@pytest.mark.parametrize(
    ("moment", "regime", "applies"),
    [
        ("2016-11-01T16:00+01:00", "personal-data-breach", "2018-05-25"),
        ("2024-10-17T12:00+02:00", "nis2", "2024-10-18"),
        ("2026-09-10T12:00+02:00", "actively-exploited", "2026-09-11"),
    ],
)
def test_awareness_before_the_regime_applies_is_refused(
    legal_world: World, moment: str, regime: str, applies: str
) -> None:
    """An awareness moment before GDPR, NIS2 or CRA applies starts nothing and names the date."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_comment(key, f"[aware] {moment} {regime}")
    summary = world.pass_sync()
    assert any(f"reporting applies ({applies}); not applied" in p for p in summary.problems)
    assert set() == reg_labels(world, key)


def test_reports_show_label_started_deadlines_to_the_second(legal_world: World) -> None:
    """A label set at a fraction of a second shows due moments without microseconds."""
    world = legal_world
    key = open_report(world)
    world.clock.advance(seconds=1.25)
    world.tracker.team_set_labels(key, {"reg::personal-data-breach"})
    world.pass_sync()
    rows = open_report_rows(world.store.unit_of_work, world.sync.program, world.clock.now())
    [clock] = rows[0]["regulatory"]
    assert "2026-11-05T10:00:01+01:00" == clock["due"]


def test_moved_note_written_before_a_crash_is_not_written_again(legal_world: World) -> None:
    """A "clock moved" note on the issue whose event never committed is read back, not repeated."""
    world = legal_world
    key = open_report(world)
    world.tracker.team_set_labels(key, {"reg::significant-incident"})
    world.pass_sync()
    world.tracker.team_comment(key, "[aware] 2026-11-01T16:00+01:00 nis2")
    # The bridge wrote the note, then crashed before recording it (the state the crash leaves).
    ref = world.tracker.find_issue("CVD-2026-0001")
    assert ref is not None
    world.tracker.add_note(
        ref,
        "Regulatory clock moved (nis2, aware 2026-11-01 16:00 CET); the deadlines now are:\n"
        "- early warning (NIS2 art. 23(4)(a)): 2026-11-02 16:00 CET\n"
        "- incident notification (NIS2 art. 23(4)(b)): 2026-11-04 16:00 CET\n"
        "- final report (NIS2 art. 23(4)(d)): 2026-12-05 00:00 CET",
    )
    world.pass_sync()
    world.pass_sync()
    assert 1 == len(bridge_notes(world, key, "Regulatory clock moved (nis2"))

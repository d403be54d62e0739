"""A quiet sync pass reads no report: only reports whose time-driven moment came, or that changed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.services.conftest import MAPPINGS, World
from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge._testsupport.memory_store import MemoryStore
from tracker_bridge.app import build_program
from tracker_bridge.domain.regulatory import STEPS, Regime
from tracker_bridge.domain.report import TRANSITIONS, Report, ReportId, State
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import TrackerUnavailable
from tracker_bridge.mappings import load_mappings
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent, ReportEvent
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.ports.tracker import IssueDraft
from tracker_bridge.services.context import Program
from tracker_bridge.services.retention import RetentionPolicy
from tracker_bridge.services.subject_requests import SubjectRequests
from tracker_bridge.services.sync import Sync
from tracker_bridge.testing.clock import FakeClock
from tracker_bridge.testing.fake_tracker import FakeTracker

if TYPE_CHECKING:
    from tracker_bridge.services.context import Program

PROGRAM: Program = build_program(load_mappings(MAPPINGS, "fake"))
REPORT_ID = "CVD-2026-0001"


def open_reports(world: World, count: int) -> None:
    """Ingest ``count`` reports, each with its issue."""
    for number in range(count):
        message = inbound(message_id=f"<q{number}@example.org>")
        world.ingest.ingest(world.reader.add(message), world.summary())


def test_a_quiet_pass_reads_no_report(world: World) -> None:
    """After one pass has looked at them, a pass with no change and no moment due reads none."""
    open_reports(world, 3)
    world.pass_sync()
    world.pass_sync()  # the bridge's own label writes come back once as tracker changes
    world.clock.advance(minutes=5)
    world.tracker.calls.clear()
    world.pass_sync()
    assert 0 == world.sync.reports_checked
    assert ["changes_since"] == world.tracker.calls


def test_a_report_the_tracker_changed_is_read_and_only_it(world: World) -> None:
    """A team edit on one issue makes the next pass look at that report alone."""
    open_reports(world, 3)
    world.pass_sync()
    world.pass_sync()
    world.clock.advance(minutes=5)
    world.tracker.team_set_labels("2", {"team::looked-at"})
    world.pass_sync()
    assert 1 == world.sync.reports_checked


def test_a_report_is_read_again_when_its_moment_comes(world: World) -> None:
    """Received Monday 09:00 UTC: at Tuesday 00:00 Amsterdam the acknowledgement is due soon."""
    open_reports(world, 1)
    world.pass_sync()
    world.pass_sync()
    world.clock.current = datetime(2026, 11, 2, 22, 59, tzinfo=UTC)
    world.pass_sync()
    assert 0 == world.sync.reports_checked
    world.clock.current = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
    world.pass_sync()
    assert 1 == world.sync.reports_checked
    assert "sla::due-soon" in world.tracker.issues["1"].labels


def test_a_failed_refresh_leaves_the_report_due(world: World) -> None:
    """When the label write fails, the report keeps its moment and the next pass writes it."""
    open_reports(world, 1)
    world.pass_sync()
    world.pass_sync()
    world.clock.current = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
    world.tracker.fail_calls = 1  # the label write
    with pytest.raises(TrackerUnavailable):
        world.sync.refresh_deadlines(world.summary())
    world.sync.refresh_deadlines(world.summary())
    assert 1 == world.sync.reports_checked
    assert "sla::due-soon" in world.tracker.issues["1"].labels


def test_a_sent_progress_update_makes_the_report_due(world: World) -> None:
    """Delivering a progress update moves its clock: the report is looked at by the next pass."""
    open_reports(world, 1)
    world.tracker.team_set_labels("1", {"cvd::triaging"}, {"cvd::received"})
    world.pass_sync()
    world.clock.advance(days=12)
    world.pass_sync()
    world.deliver()
    world.clock.advance(minutes=5)
    world.pass_sync()
    assert 1 == world.sync.reports_checked


# ---------------------------------------------------------------------------- property


@dataclass
class Scene:
    """One report with its issue, in a memory store, and the sync service over them."""

    clock: FakeClock
    store: MemoryStore
    tracker: FakeTracker
    sync: Sync

    def outbox(self) -> list[str]:
        """Dedupe keys of every queued mail."""
        with self.store.unit_of_work() as uow:
            return [item.dedupe_key for item in uow.outbox.for_report(REPORT_ID)]

    def refresh(self) -> PassSummary:
        """The time-driven half of a pass (what the property is about)."""
        summary = PassSummary("sync")
        self.sync.refresh_deadlines(summary)
        return summary


def scene_with(report: Report, now: datetime) -> Scene:
    """The report stored and linked to a fresh issue, the clock at ``now``."""
    clock = FakeClock(now)
    store = MemoryStore(clock)
    tracker = FakeTracker(now=clock.now)
    content = ReportContent(REPORT_ID, "s", "b", True, SignatureCheck(SignatureStatus.NONE))
    ref = tracker.open_issue(IssueDraft(REPORT_ID, "s", "b"))
    with store.unit_of_work() as uow:
        uow.reports.add(report, "ada@example.org", content)
        uow.links.link(REPORT_ID, ref)
        uow.links.set_labels(REPORT_ID, frozenset(tracker.issues[ref.key].labels))
        uow.commit()
    return Scene(clock, store, tracker, Sync(PROGRAM, store.unit_of_work, tracker, clock, "fake"))


@st.composite
def open_reports_at(draw: st.DrawFn) -> tuple[Report, datetime]:
    """An open report walked through allowed moves at random times, and a moment after them."""
    received = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 777_600)))
    report = Report(
        ReportId("CVD", 2026, 1),
        "default",
        received,
        severity=draw(st.sampled_from(list(Severity))),
    )
    at = received
    for _ in range(draw(st.integers(0, 5))):
        targets = sorted((s for s in TRANSITIONS[report.state] if s.is_open), key=str)
        if not targets:
            break
        at += timedelta(minutes=draw(st.integers(1, 28_800)))
        report.transition(draw(st.sampled_from(targets)), at)
    if draw(st.booleans()):
        report.last_researcher_update_at = at + timedelta(minutes=draw(st.integers(0, 43_200)))
    if draw(st.booleans()):
        report.expected_fix_date = at + timedelta(days=draw(st.integers(1, 120)))
    return report, at + timedelta(minutes=draw(st.integers(0, 288_000)))


@settings(max_examples=150, deadline=None)
@given(open_reports_at(), st.floats(0, 1, exclude_max=True))
def test_recomputing_before_the_stored_moment_changes_nothing(
    case: tuple[Report, datetime], fraction: float
) -> None:
    """At a random moment before a report's stored moment, recomputing from scratch writes nothing.

    No label, no due date, no note on the issue, no mail queued; and a normal pass reads nothing.
    """
    report, now = case
    scene = scene_with(report, now)
    scene.refresh()  # stores the report's next moment
    with scene.store.unit_of_work() as uow:
        stored = uow.reports.get(REPORT_ID)
    assert stored is not None
    moment = PROGRAM.next_change(stored, now)
    assert stored.state is State.NEEDS_INFO or now != moment
    horizon = moment if moment is not None else now + timedelta(days=800)
    later = now + (horizon - now) * fraction
    scene.clock.current = later if now <= later < horizon else now
    if moment is not None and moment <= scene.clock.current:
        return  # paused clocks: looked at every pass, nothing to hold to
    calls, outbox = list(scene.tracker.calls), scene.outbox()
    labels = set(scene.tracker.issues["1"].labels)
    due_date = scene.tracker.issues["1"].due_date

    scene.refresh()
    assert 0 == scene.sync.reports_checked

    with scene.store.unit_of_work() as uow:
        uow.reports.save(stored)  # any save makes it due: the next pass recomputes from scratch
        uow.commit()
    scene.refresh()
    assert 1 == scene.sync.reports_checked
    assert (calls, outbox) == (scene.tracker.calls, scene.outbox())
    assert (labels, due_date) == (
        scene.tracker.issues["1"].labels,
        scene.tracker.issues["1"].due_date,
    )


def test_a_changed_policy_makes_every_report_due(world: World) -> None:
    """Moments follow the policy they came from: a pass under new deadlines looks at every report."""
    open_reports(world, 3)
    world.pass_sync()
    world.pass_sync()
    policy = replace(world.sync.program.policy, due_soon_fraction=0.5)
    world.sync.program = replace(world.sync.program, policy=policy)
    world.pass_sync()
    assert 3 == world.sync.reports_checked
    world.pass_sync()
    assert 0 == world.sync.reports_checked


# ------------------------------------------------- property: legal clocks and retention

LEGAL_PROGRAM: Program = replace(
    PROGRAM, regulatory=replace(PROGRAM.regulatory, enabled=frozenset(Regime))
)
LEGAL_STEPS = [rule.step for rule in STEPS]


@dataclass
class LegalScene:
    """One report, open or closed, with running legal clocks; sync and retention over it."""

    clock: FakeClock
    store: MemoryStore
    tracker: FakeTracker
    sync: Sync
    privacy: SubjectRequests

    def moment(self) -> datetime | None:
        """The report's stored next moment."""
        return self.store.committed.next_due[REPORT_ID]

    def state(self) -> tuple[object, ...]:
        """Everything a pass could change: calls, labels, notes, events, mail, audit."""
        issue = self.tracker.issues["1"]
        with self.store.unit_of_work() as uow:
            events = [(e.kind, e.detail, e.dedupe_key) for e in uow.reports.events(REPORT_ID)]
            outbox = [item.dedupe_key for item in uow.outbox.for_report(REPORT_ID)]
            audit = [(a.action, a.detail) for a in uow.audit.entries(REPORT_ID)]
        return (
            list(self.tracker.calls),
            set(issue.labels),
            [n.body for n in issue.notes],
            events,
            outbox,
            audit,
        )

    def run(self) -> tuple[int, dict[str, int]]:
        """The time-driven steps of a pass, sync then purge: reports read, purge counts."""
        self.sync.refresh_deadlines(PassSummary("sync"))
        result = self.privacy.purge(PassSummary("purge"))
        return self.sync.reports_checked, {k: v for k, v in result.counts.items() if v}


@st.composite
def legal_cases(
    draw: st.DrawFn,
) -> tuple[Report, datetime, list[tuple[str, datetime, str]], RetentionPolicy]:
    """A report walked through any allowed moves (closures too), clocks started and steps done."""
    received = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 777_600)))
    report = Report(ReportId("CVD", 2026, 1), "default", received)
    at = received
    for _ in range(draw(st.integers(0, 6))):
        targets = sorted(TRANSITIONS[report.state], key=str)
        if not targets:
            break
        at += timedelta(minutes=draw(st.integers(1, 28_800)))
        report.transition(draw(st.sampled_from(targets)), at)
    events: list[tuple[str, datetime, str]] = []
    for regime in draw(st.sets(st.sampled_from(list(Regime)), min_size=1)):
        aware = received + timedelta(minutes=draw(st.integers(0, 20_000)))
        events.append(("reg_started", aware, f"{regime.value}|{aware.isoformat()}|team"))
    for step in draw(st.sets(st.sampled_from(LEGAL_STEPS))):
        done_at = received + timedelta(minutes=draw(st.integers(0, 60_000)))
        events.append(("reg_done", done_at, f"{step}|team|"))
    now = max([at, *(e[1] for e in events)]) + timedelta(minutes=draw(st.integers(0, 200_000)))
    retention = RetentionPolicy(draw(st.integers(1, 120)), draw(st.integers(1, 120)))
    return report, now, events, retention


def legal_scene(
    report: Report,
    now: datetime,
    events: list[tuple[str, datetime, str]],
    retention: RetentionPolicy,
) -> LegalScene:
    """The report stored with its clock events, its issue carrying the regimes' start labels."""
    clock = FakeClock(now)
    store = MemoryStore(clock)
    tracker = FakeTracker(now=clock.now)
    content = ReportContent(REPORT_ID, "s", "b", True, SignatureCheck(SignatureStatus.NONE))
    ref = tracker.open_issue(IssueDraft(REPORT_ID, "s", "b"))
    policy = LEGAL_PROGRAM.regulatory
    tracker.issues[ref.key].labels |= {
        policy.start_labels[Regime(detail.split("|")[0])]
        for kind, _, detail in events
        if kind == "reg_started"
    }
    with store.unit_of_work() as uow:
        uow.reports.add(report, "ada@example.org", content)
        for number, (kind, at, detail) in enumerate(events):
            uow.reports.add_event(ReportEvent(REPORT_ID, at, kind, detail, f"e{number}"))
        uow.links.link(REPORT_ID, ref)
        uow.links.set_labels(REPORT_ID, frozenset(tracker.issues[ref.key].labels))
        uow.commit()
    sync = Sync(LEGAL_PROGRAM, store.unit_of_work, tracker, clock, "fake", retention=retention)
    privacy = SubjectRequests(
        store.unit_of_work,
        clock,
        retention,
        LEGAL_PROGRAM.local_date,
        tracker=tracker,
        regulatory=policy,
        tz=LEGAL_PROGRAM.calendar.tz,
    )
    return LegalScene(clock, store, tracker, sync, privacy)


@settings(max_examples=150, deadline=None)
@given(legal_cases(), st.floats(0, 1, exclude_max=True))
def test_recomputing_legal_and_retention_steps_before_the_stored_moment_changes_nothing(
    case: tuple[Report, datetime, list[tuple[str, datetime, str]], RetentionPolicy],
    fraction: float,
) -> None:
    """Open or closed, with legal clocks and retention: before the stored moment nothing is owed.

    A pass (sync, then purge) at a random moment before the stored one reads no report; one that
    recomputes the report from scratch writes no label, note, event, mail or audit row and
    purges nothing.
    """
    report, now, events, retention = case
    scene = legal_scene(report, now, events, retention)
    scene.run()  # the first purge under these periods makes every report due once
    scene.run()  # stores the report's next moment
    moment = scene.moment()
    with scene.store.unit_of_work() as uow:
        stored = uow.reports.get(REPORT_ID)
    assert stored is not None
    policy_moment = LEGAL_PROGRAM.next_change(stored, now) if stored.state.is_open else None
    if policy_moment is not None and policy_moment <= now:
        return  # paused policy clocks: looked at every pass, nothing to hold to
    assert moment is None or moment > now
    horizon = moment if moment is not None else now + timedelta(days=800)
    later = now + (horizon - now) * fraction
    scene.clock.current = later if now <= later < horizon else now
    before = scene.state()

    assert (0, {}) == scene.run()
    with scene.store.unit_of_work() as uow:
        uow.reports.save(stored)  # any save makes it due: the next pass recomputes from scratch
        uow.commit()
    checked, purged = scene.run()
    assert (1, {}) == (checked, purged)
    assert before == scene.state()

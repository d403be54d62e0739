"""One pass of the scheduled job: step locks, failures turned into counts, the tracker outage clock."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.memory_store import MemoryStore
from tracker_bridge.errors import (
    ConfigurationError,
    RetriableError,
    SkippableError,
    TrackerAuthError,
    TrackerUnavailable,
)
from tracker_bridge.services.pass_outcome import PassCounter
from tracker_bridge.services.scheduled_pass import (
    OUTAGE_SINCE,
    ScheduledPass,
    Step,
    TrackerOutage,
    run_sync_alone,
)
from tracker_bridge.testing.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tracker_bridge.ports.summary import PassSummary


class Locks:
    """Step locks of which ``taken`` are held by another worker; records what was asked."""

    def __init__(self, *taken: str) -> None:
        self.taken = set(taken)
        self.asked: list[str] = []

    @contextmanager
    def lock(self, name: str) -> Iterator[bool]:
        """Yield whether this worker holds ``name``."""
        self.asked.append(name)
        yield name not in self.taken


class Steps:
    """Steps that record that they ran and raise what they are told to."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def step(self, name: str, raises: Exception | None = None, *, reads: bool = False) -> Step:
        """A step named ``name`` counting one ``changes_read`` or raising ``raises``."""

        def action(summary: PassSummary) -> None:
            self.ran.append(name)
            if raises is not None:
                raise raises
            summary.bump(PassCounter.CHANGES_READ)

        return Step(name, action, reads_tracker=reads)


@pytest.fixture
def clock() -> FakeClock:
    """Monday 2 November 2026, 09:00 UTC."""
    return FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def store() -> MemoryStore:
    """An empty memory store."""
    return MemoryStore()


def outage(store: MemoryStore, clock: FakeClock, seconds: float = 3600) -> TrackerOutage:
    """An outage clock alerting after ``seconds``, configured as ``1h``."""
    return TrackerOutage(store.unit_of_work, clock, seconds, "1h")


def counts(summaries: list[PassSummary]) -> dict[str, dict[str, int]]:
    """Per step, what it counted."""
    return {s.step: dict(s.counts) for s in summaries}


def test_a_step_another_worker_holds_is_skipped_and_the_others_run(
    store: MemoryStore, clock: FakeClock
) -> None:
    """skipped_locked for the held step, said in its problems; the next step still runs."""
    steps, locks = Steps(), Locks("tracker-bridge:ingest")
    runner = ScheduledPass(
        [steps.step("ingest"), steps.step("sync")], locks.lock, outage(store, clock)
    )
    summaries = runner.run()
    assert (
        {"ingest": {"skipped_locked": 1}, "sync": {"changes_read": 1}},
        ["sync"],
        ["tracker-bridge:ingest", "tracker-bridge:sync"],
        ["ingest: another worker holds this step; skipped"],
    ) == (counts(summaries), steps.ran, locks.asked, summaries[0].problems)


def test_a_refused_token_ends_only_its_step(store: MemoryStore, clock: FakeClock) -> None:
    """tracker_auth_refused is counted and the notify step after it still delivers."""
    steps = Steps()
    runner = ScheduledPass(
        [steps.step("sync", TrackerAuthError("401 Unauthorized")), steps.step("notify")],
        Locks().lock,
        outage(store, clock),
    )
    summaries = runner.run()
    assert (
        {"sync": {"tracker_auth_refused": 1}, "notify": {"changes_read": 1}},
        ["sync: the tracker refused the token: 401 Unauthorized"],
    ) == (counts(summaries), summaries[0].problems)


def test_retriable_and_skippable_failures_end_their_step_only(
    store: MemoryStore, clock: FakeClock
) -> None:
    """A retriable failure counts deferred, a skippable one skipped; every step still runs."""
    steps = Steps()
    runner = ScheduledPass(
        [
            steps.step("ingest", RetriableError("IMAP timed out")),
            steps.step("purge", SkippableError("one mailbox copy")),
            steps.step("notify"),
        ],
        Locks().lock,
        outage(store, clock),
    )
    summaries = runner.run()
    assert (
        {"ingest": {"deferred": 1}, "purge": {"skipped": 1}, "notify": {"changes_read": 1}},
        [
            ["ingest: unavailable, the next pass resumes: IMAP timed out"],
            ["purge: set aside, the next pass retries: one mailbox copy"],
            [],
        ],
    ) == (counts(summaries), [s.problems for s in summaries])


def test_any_other_fatal_error_ends_the_run(store: MemoryStore, clock: FakeClock) -> None:
    """A configuration error is raised, and no later step runs."""
    steps = Steps()
    runner = ScheduledPass(
        [steps.step("ingest", ConfigurationError("store.url: bad")), steps.step("sync")],
        Locks().lock,
        outage(store, clock),
    )
    with pytest.raises(ConfigurationError, match=r"store\.url: bad"):
        runner.run()
    assert ["ingest"] == steps.ran


def test_should_stop_is_asked_before_each_step(store: MemoryStore, clock: FakeClock) -> None:
    """A stop requested during a step lets it finish and starts no other."""
    steps = Steps()
    runner = ScheduledPass(
        [steps.step("ingest"), steps.step("sync")], Locks().lock, outage(store, clock)
    )
    summaries = runner.run(should_stop=lambda: bool(steps.ran))
    assert (["ingest"], ["ingest"]) == (steps.ran, [s.step for s in summaries])


def test_before_step_hears_each_step_once_its_lock_is_held(
    store: MemoryStore, clock: FakeClock
) -> None:
    """The root credits tracker writes to the step: told only for steps that run."""
    steps, heard = Steps(), list[str]()
    runner = ScheduledPass(
        [steps.step("ingest"), steps.step("sync")],
        Locks("tracker-bridge:ingest").lock,
        outage(store, clock),
        before_step=heard.append,
    )
    runner.run()
    assert ["sync"] == heard


def test_an_unreachable_tracker_alerts_once_the_outage_is_old_enough(
    store: MemoryStore, clock: FakeClock
) -> None:
    """The first failure is stored; a failure an hour later alerts; a good sync forgets it."""
    down = Steps().step("sync", TrackerUnavailable("503"), reads=True)
    first = ScheduledPass([down], Locks().lock, outage(store, clock)).run()
    clock.advance(hours=1)
    later = ScheduledPass([down], Locks().lock, outage(store, clock)).run()
    ScheduledPass([Steps().step("sync", reads=True)], Locks().lock, outage(store, clock)).run()
    with store.unit_of_work() as uow:
        remembered = uow.installation.get(OUTAGE_SINCE)
    assert (
        {"sync": {"deferred": 1}},
        {"sync": {"deferred": 1, "tracker_outage_alert": 1}},
        (
            "tracker unreachable since 2026-11-02T09:00:00+00:00, longer than "
            "tracker.outage_alert_after = '1h'"
        ),
        None,
    ) == (counts(first), counts(later), later[0].problems[-1], remembered)


def test_only_the_step_that_reads_the_tracker_starts_the_outage_clock(
    store: MemoryStore, clock: FakeClock
) -> None:
    """Notify failing on the tracker (a note) does not count as the tracker being down."""
    steps = Steps()
    ScheduledPass(
        [steps.step("notify", TrackerUnavailable("503"))], Locks().lock, outage(store, clock)
    ).run()
    with store.unit_of_work() as uow:
        assert None is uow.installation.get(OUTAGE_SINCE)


def test_the_sync_command_counts_failures_without_a_step_prefix(
    store: MemoryStore, clock: FakeClock
) -> None:
    """`sync` alone: refused token and outage counted, messages as the command prints them."""
    refused = run_sync_alone(
        Steps().step("sync", TrackerAuthError("401")).action, outage(store, clock)
    )
    down = run_sync_alone(
        Steps().step("sync", TrackerUnavailable("503")).action, outage(store, clock, 0)
    )
    assert (
        ({"tracker_auth_refused": 1}, ["the tracker refused the token: 401"]),
        {"deferred": 1, "tracker_outage_alert": 1},
        "tracker unavailable, the next pass resumes: 503",
    ) == ((refused.counts, refused.problems), down.counts, down.problems[0])

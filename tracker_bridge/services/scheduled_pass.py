"""One pass of the scheduled job: its steps in order, each under a step lock, failures turned into counts.

The composition root (``app.Bridge.scheduled_pass``) builds the steps (ingest, sync, notify,
purge) and the lock; this module decides what a failure of a step means for the pass and
for the exit code (``services.pass_outcome``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tracker_bridge.errors import SKIPPABLE, RetriableError, TrackerAuthError, TrackerUnavailable
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.services.pass_outcome import PassCounter

if TYPE_CHECKING:
    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.unit_of_work import UnitOfWork

StepLock = Callable[[str], AbstractContextManager[bool]]
"""Takes the lock named by its argument for a ``with`` block; the block sees False when
another worker holds it (``tracker_bridge.locks.step_lock`` in production)."""

OUTAGE_SINCE = "tracker_unavailable_since"
"""The installation fact (``UnitOfWork.installation``) holding when the tracker first failed."""


@dataclass(frozen=True)
class Step:
    """One step of the pass: its name (``ingest``, ``sync``, ``notify``, ``purge``) and its work.

    ``reads_tracker`` marks the step whose success or ``TrackerUnavailable`` tells whether
    the tracker is reachable (sync: it reads every change).
    """

    name: str
    action: Callable[[PassSummary], object]
    reads_tracker: bool = False


class TrackerOutage:
    """How long the tracker has been unreachable, kept in the store across passes and processes.

    The start is stored (``OUTAGE_SINCE``), so the time counts across cron runs and a
    Kubernetes CronJob's pods, and a restart does not reset it.
    """

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Clock,
        alert_after_seconds: float,
        alert_after: str,
    ) -> None:
        """Watch outages in the store behind ``unit_of_work``.

        Args:
            unit_of_work: Opens one transaction on the store.
            clock: Where "now" comes from.
            alert_after_seconds: Outage length in seconds from which a pass alerts.
            alert_after: The same length as configured (``tracker.outage_alert_after``), for
                the message.
        """
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.alert_after_seconds = alert_after_seconds
        self.alert_after = alert_after

    def failed(self, summary: PassSummary) -> None:
        """Remember when the tracker first failed; past the alert time, say so in ``summary``."""
        now = self.clock.now()
        with self.unit_of_work() as uow:
            stored = uow.installation.get(OUTAGE_SINCE)
            if stored is None:
                uow.installation.put(OUTAGE_SINCE, now.isoformat())
                uow.commit()
            since = datetime.fromisoformat(stored) if stored else now
        if (now - since).total_seconds() >= self.alert_after_seconds:
            summary.bump(PassCounter.TRACKER_OUTAGE_ALERT)
            summary.problems.append(
                f"tracker unreachable since {since.isoformat(timespec='seconds')}, longer than "
                f"tracker.outage_alert_after = {self.alert_after!r}"
            )

    def reachable(self) -> None:
        """Forget a recorded outage once a step read the tracker."""
        with self.unit_of_work() as uow:
            if uow.installation.get(OUTAGE_SINCE) is not None:
                uow.installation.put(OUTAGE_SINCE, None)
                uow.commit()


class ScheduledPass:
    """Ingest every source, sync the project, deliver the outbox, purge what retention says."""

    def __init__(
        self,
        steps: Sequence[Step],
        lock: StepLock,
        outage: TrackerOutage,
        before_step: Callable[[str], object] = lambda step: None,  # noqa: ARG005 - the hook's signature
    ) -> None:
        """A pass of ``steps`` in order.

        Args:
            steps: The steps, in the order they run.
            lock: Takes a step's lock (``tracker-bridge:<step>``).
            outage: Where an unreachable tracker is recorded.
            before_step: Called with the step's name once its lock is held (the root credits
                the step's tracker writes to it on the audit log).
        """
        self.steps = steps
        self.lock = lock
        self.outage = outage
        self.before_step = before_step

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> list[PassSummary]:
        """Run every step; one summary per step started.

        Each step holds a step lock; a step another worker holds is skipped and said so. A
        retriable failure ends that step (nothing is marked done) and the pass goes on; so
        does a skippable one the step did not set aside itself. A refused token ends only its
        step (counted for the alerting exit code: the other steps still run, so mail already
        queued goes out meanwhile). ``should_stop`` is asked before each step.

        Raises:
            FatalError: Any fatal error other than a refused token ends the run.
        """
        summaries: list[PassSummary] = []
        for step in self.steps:
            if should_stop():
                break
            summary = PassSummary(step.name)
            summaries.append(summary)
            with self.lock(f"tracker-bridge:{step.name}") as held:
                if not held:
                    summary.bump(PassCounter.SKIPPED_LOCKED)
                    summary.problems.append(f"{step.name}: another worker holds this step; skipped")
                    continue
                try:
                    self.before_step(step.name)
                    step.action(summary)
                except TrackerAuthError as err:
                    summary.bump(PassCounter.TRACKER_AUTH_REFUSED)
                    summary.problems.append(f"{step.name}: the tracker refused the token: {err}")
                except RetriableError as err:
                    summary.bump(PassCounter.DEFERRED)
                    summary.problems.append(
                        f"{step.name}: unavailable, the next pass resumes: {err}"
                    )
                    if step.reads_tracker and isinstance(err, TrackerUnavailable):
                        self.outage.failed(summary)
                except SKIPPABLE as err:
                    # The services set items aside one by one; one that escapes ends only this step.
                    summary.bump(PassCounter.SKIPPED)
                    summary.problems.append(f"{step.name}: set aside, the next pass retries: {err}")
                else:
                    if step.reads_tracker:
                        self.outage.reachable()
        return summaries


def run_sync_alone(sync: Callable[[PassSummary], object], outage: TrackerOutage) -> PassSummary:
    """The ``sync`` command: one sync step without a step lock, failures counted as in a pass.

    Args:
        sync: The sync step (it builds its service when called, so a plugin's refusal at
            build time is counted too).
        outage: Where an unreachable tracker is recorded.

    Returns:
        The step's summary; a refused token and an unavailable tracker are counted, not raised.

    Raises:
        FatalError: Any fatal error other than a refused token.
    """
    summary = PassSummary("sync")
    try:
        sync(summary)
        outage.reachable()
    except TrackerAuthError as err:
        summary.bump(PassCounter.TRACKER_AUTH_REFUSED)
        summary.problems.append(f"the tracker refused the token: {err}")
    except RetriableError as err:
        summary.bump(PassCounter.DEFERRED)
        summary.problems.append(f"tracker unavailable, the next pass resumes: {err}")
        if isinstance(err, TrackerUnavailable):
            outage.failed(summary)
    return summary

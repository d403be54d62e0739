"""Setting one report aside when the tracker refuses it, and telling the team exactly once.

A skippable tracker error (``TrackerRefused`` for a 400/409/422, ``NotFoundError`` for an
issue deleted by hand) stops only that report's write. The refusal is stored as a
``tracker_refused`` event whose dedupe key holds the report, the operation and a digest of
the reason, so the pass summary and the note on the issue appear on the first pass that
meets it and not on the later passes that meet it again (the write is retried on every
pass, so a fix in the tracker heals it without anyone touching the bridge).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker_bridge.errors import SKIPPABLE, RetriableError
from tracker_bridge.ports.store import ReportEvent
from tracker_bridge.services.pass_outcome import PassCounter

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.summary import PassSummary
    from tracker_bridge.ports.tracker import IssueRef, Tracker
    from tracker_bridge.ports.unit_of_work import UnitOfWork

__all__ = ["Refusals"]


@dataclass
class Refusals:
    """Records refusals per report and tells the team once per report, operation and reason."""

    unit_of_work: Callable[[], UnitOfWork]
    tracker: Tracker | None
    clock: Clock

    def set_aside(
        self,
        report_id: str,
        operation: str,
        err: Exception,
        summary: PassSummary,
        ref: IssueRef | None = None,
    ) -> bool:
        """Record that the tracker refused ``operation`` for ``report_id``; True the first time.

        The first time: ``tracker_refused`` is counted and the reason goes to the pass's
        problems, and a note on the issue (``ref``, else the issue found by the report's
        marker) tells the team what was refused. Later times: ``still_refused`` is counted,
        nothing else. A note the tracker refuses as well is left at that: the pass summary
        already carries the reason.

        Raises:
            FatalError: the tracker refused the bridge's token while writing the note
                (``TrackerAuthError``), or the store is broken. A note the tracker could not
                take (retriable or skippable) is left unwritten, not raised.
            RetriableError: the store did not answer.
        """
        reason = str(err)
        digest = hashlib.sha256(f"{type(err).__name__}:{reason}".encode()).hexdigest()[:16]
        with self.unit_of_work() as uow:
            first = uow.reports.add_event(
                ReportEvent(
                    report_id,
                    self.clock.now(),
                    "tracker_refused",
                    f"{operation}: {reason}",
                    dedupe_key=f"tracker_refused:{report_id}:{operation}:{digest}",
                )
            )
            uow.commit()
        if not first:
            summary.bump(PassCounter.STILL_REFUSED)
            return False
        summary.bump(PassCounter.TRACKER_REFUSED)
        summary.problems.append(
            f"{report_id}: the tracker refused to {operation}; set aside, retried every pass: "
            f"{reason}"
        )
        self._tell_team(report_id, operation, reason, ref)
        return True

    def _tell_team(self, report_id: str, operation: str, reason: str, ref: IssueRef | None) -> None:
        if self.tracker is None:
            return
        try:
            target = ref if ref is not None else self.tracker.find_issue(report_id)
            if target is None:
                return
            self.tracker.add_note(
                target,
                f"tracker-bridge could not {operation} for {report_id}: {reason}. It tries again "
                "on every pass; correct the issue or the project setup and it goes through.",
            )
        except RetriableError:
            return
        except SKIPPABLE:
            return

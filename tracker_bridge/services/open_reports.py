"""The reports ``tracker-bridge reports`` shows: open ones, and closed ones whose legal clock runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker_bridge.services.ingest import NOT_IN_TRACKER_EVENT
from tracker_bridge.services.regulatory import CLOCK_STARTED_EVENT, clock_rows

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from tracker_bridge.ports.unit_of_work import UnitOfWork
    from tracker_bridge.services.context import Program

NO_REASON_RECORDED = "the issue is opened by the next pass"
"""Why a report has no issue when no pass recorded a reason (``NOT_IN_TRACKER_EVENT``)."""


def open_report_rows(
    unit_of_work: Callable[[], UnitOfWork], program: Program, now: datetime
) -> list[dict[str, Any]]:
    """One row per open report at ``now``, plus each closed report whose legal clock still runs.

    A regulatory clock keeps running after the disclosure report closes (a GDPR assessment or a
    NIS2/CRA final report is owed regardless), so such a closed report is listed too; reports with
    a running legal clock come first.

    Each row is ``{"report_id", "state", "severity", "received", "issue", "not_in_tracker",
    "deadlines", "regulatory"}``: ``received`` ISO 8601; ``issue`` the issue URL or None;
    ``not_in_tracker`` None when linked, else the last recorded reason the issue could not be
    opened; ``deadlines`` maps each deadline kind to ``{"due": last day (ISO date), "status"}``
    (``Program.last_day``, ``Deadline.status``); ``regulatory`` the running clocks' steps
    (``services.regulatory.clock_rows``), empty when no regime is enabled. Otherwise the rows
    keep the store's order (the sort is stable).
    """
    rows: list[dict[str, Any]] = []
    regulatory = program.regulatory
    with unit_of_work() as uow:
        # Closed reports matter only while a legal clock runs: read just those that started one.
        started = (
            uow.reports.report_ids_with_event(CLOCK_STARTED_EVENT) if regulatory.enabled else []
        )
        closed = [
            report
            for report in map(uow.reports.get, started)
            if report is not None and report.state.is_closed
        ]
        for report in [*uow.reports.open_reports(), *closed]:
            report_id = str(report.report_id)
            ref = uow.links.get(report_id)
            clocks = (
                clock_rows(
                    report,
                    uow.reports.events(report_id),
                    regulatory,
                    now,
                    program.calendar.tz,
                )
                if regulatory.enabled
                else []
            )
            if report.state.is_closed and not any(c["status"] != "done" for c in clocks):
                continue  # a closed report is listed only while its legal clock runs
            deadlines = {
                d.kind.value: {
                    "due": program.last_day(d.due).isoformat(),
                    "status": d.status(now, program.calendar, program.policy).value,
                }
                for d in program.deadlines(report, now)
            }
            waiting = None
            if ref is None:
                reasons = [
                    e.detail
                    for e in uow.reports.events(report_id)
                    if e.kind == NOT_IN_TRACKER_EVENT
                ]
                waiting = reasons[-1] if reasons else NO_REASON_RECORDED
            rows.append(
                {
                    "report_id": report_id,
                    "state": report.state.value,
                    "severity": report.severity.value,
                    "received": report.received_at.isoformat(),
                    "issue": ref.url if ref else None,
                    "not_in_tracker": waiting,
                    "deadlines": deadlines,
                    "regulatory": clocks,
                }
            )
    rows.sort(key=lambda r: not any(c["status"] != "done" for c in r["regulatory"]))
    return rows

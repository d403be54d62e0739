"""Sync: read tracker changes since the bookmark, apply them to reports, queue researcher mail.

Singer-style incremental sync: the bookmark moves forward in the same transaction as the
change it covers, never past the pass's start time (the signpost). Reading the same change
twice changes nothing and queues nothing, because every effect compares against the stored
state and every queued mail carries a dedupe key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from tracker_bridge.domain.deadlines import Deadline, DeadlineKind, DeadlineStatus
from tracker_bridge.domain.report import Report, State, can_transition
from tracker_bridge.domain.researcher import CreditWish, Researcher
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import DomainError
from tracker_bridge.ports import (
    Clock,
    IssueRef,
    IssueSnapshot,
    IssueUpdate,
    NotificationKind,
    PassSummary,
    ReportEvent,
    Tracker,
    TrackerNote,
    UnitOfWork,
)
from tracker_bridge.services.context import Program
from tracker_bridge.services.ingest import common_params, new_outbox_item
from tracker_bridge.services.regulatory import RegulatoryClocks

# States whose arrival the researcher hears about (each has a state_<name> template).
MAILED_STATES = frozenset(
    {
        State.TRIAGED,
        State.NEEDS_INFO,
        State.IN_REMEDIATION,
        State.FIX_AVAILABLE,
        State.RESOLVED,
        State.DISCLOSURE_PENDING,
        State.PUBLISHED,
        State.DUPLICATE,
        State.NOT_APPLICABLE,
        State.OUT_OF_SCOPE,
        State.INFORMATIVE,
    }
)
_PROGRESS = (
    (State.RECEIVED,),
    (State.ACKNOWLEDGED,),
    (State.TRIAGING, State.NEEDS_INFO),
    (State.TRIAGED,),
    (State.IN_REMEDIATION,),
    (State.FIX_AVAILABLE,),
    (State.RESOLVED,),
    (State.DISCLOSURE_PENDING,),
    (State.PUBLISHED,),
)


def _progress(state: State) -> int:
    """How far along the happy path a state is; closures rank with resolution."""
    for rank, states in enumerate(_PROGRESS):
        if state in states:
            return rank
    return _progress(State.RESOLVED)


# State templates that show the team's explanation or question ($team_message).
CARRIES_TEAM_MESSAGE = frozenset(
    {
        State.NEEDS_INFO,
        State.DUPLICATE,
        State.NOT_APPLICABLE,
        State.OUT_OF_SCOPE,
        State.INFORMATIVE,
    }
)
_CVSS = re.compile(r"CVSS:(?:3\.[01]|4\.0)/[A-Za-z:/]+")
_OVERDUE_NOTED = (DeadlineKind.ACKNOWLEDGE, DeadlineKind.ASSESSMENT)


@dataclass
class Sync:
    """One tracker project's changes applied to the store, and its deadline labels kept current."""

    program: Program
    unit_of_work: Callable[[], UnitOfWork]
    tracker: Tracker
    clock: Clock
    bookmark_name: str
    # Open reports are walked in pages of this many: memory follows the page, not the total.
    page_size: int = 500
    _moved: set[str] = field(default_factory=set, init=False)
    _regulatory: RegulatoryClocks | None = field(default=None, init=False)

    @property
    def regulatory(self) -> RegulatoryClocks:
        """The legal reporting clocks kept beside the policy's (services/regulatory.py)."""
        if self._regulatory is None:
            self._regulatory = RegulatoryClocks(
                self.program.regulatory, self.tracker, self.unit_of_work, self.program.calendar.tz
            )
        return self._regulatory

    def run(self, summary: PassSummary) -> None:
        """Apply changes since the bookmark, then refresh deadlines and progress updates."""
        self.apply_changes(summary)
        self.refresh_deadlines(summary)
        self.queue_progress_updates(summary)

    # -- changes from the tracker

    def apply_changes(self, summary: PassSummary) -> None:
        """Read every change since the bookmark, oldest first, committing each with the bookmark."""
        signpost = self.clock.now()
        with self.unit_of_work() as uow:
            since = uow.bookmarks.get(self.bookmark_name)
            store_id = uow.installation.store_id()
        newest: datetime | None = None
        for snapshot in self.tracker.changes_since(since):
            summary.bump("changes_read")
            with self.unit_of_work() as uow:
                self._apply(uow, snapshot, summary, store_id)
                uow.commit()
            moment = min(snapshot.updated_at, signpost)
            newest = moment if newest is None or moment > newest else newest
        with self.unit_of_work() as uow:
            # The bookmark moves only once the whole batch is applied: a snapshot's comments are
            # listed from the bookmark on, so moving it per issue and crashing mid-batch would
            # skip the comments of issues updated later but commented earlier. Re-reading the
            # batch after a crash is harmless: every effect compares and dedupes.
            current = uow.bookmarks.get(self.bookmark_name)
            target = newest if newest is not None else (signpost if current is None else None)
            if target is not None and (current is None or target > current):
                uow.bookmarks.set(self.bookmark_name, target)
                uow.commit()

    def _own_report(
        self, uow: UnitOfWork, snapshot: IssueSnapshot, summary: PassSummary, store_id: str
    ) -> str | None:
        """The report an issue holds, only when this store linked or opened it.

        A linked issue is ours whatever its marker says. An unlinked one is adopted only when
        its marker names this store and it is confidential: another store's issue with the
        same report id (a new database restarting ids) is never read, and neither is our own
        placeholder that never became confidential.
        """
        ref = snapshot.ref
        linked = uow.links.report_for(ref.tracker, ref.project, ref.key)
        if linked is not None:
            return linked
        if snapshot.report_id is None:
            summary.bump("unknown_issue")
            return None
        if snapshot.installation != store_id:
            summary.bump("foreign_issue")
            return None
        if not snapshot.confidential or uow.links.get(snapshot.report_id) is not None:
            summary.bump("unknown_issue")
            return None
        return snapshot.report_id

    def _apply(
        self, uow: UnitOfWork, snapshot: IssueSnapshot, summary: PassSummary, store_id: str
    ) -> None:
        ref = snapshot.ref
        report_id = self._own_report(uow, snapshot, summary, store_id)
        report = uow.reports.get(report_id) if report_id else None
        if report_id is None or report is None:
            if report_id is not None:
                summary.bump("unknown_issue")
            return
        researcher = uow.reports.researcher_of(report_id)
        known_labels = uow.links.labels(report_id) if uow.links.get(report_id) else frozenset()
        uow.links.link(report_id, ref)
        uow.links.set_labels(report_id, snapshot.labels)
        now = self.clock.now()
        team_notes = [n for n in snapshot.notes if not n.by_bridge]
        to_researcher = [n for n in team_notes if self._marked(n)]
        self._read_severity(report, snapshot, known_labels, team_notes)
        # The fix date first: a state mail (triaged) quotes it, and then needs no mail of its own.
        fix_date_moved, previous_fix_date = self._read_fix_date(uow, report, snapshot, now)
        state_mailed, carried = self._move_state(
            uow, report, snapshot, known_labels, to_researcher, researcher, summary, now
        )
        if fix_date_moved and not state_mailed and researcher is not None:
            self._queue_fix_date_mail(uow, report, snapshot, researcher, previous_fix_date, now)
        self.regulatory.read(uow, report, snapshot, now, summary)
        uow.reports.save(report)
        if researcher is None:
            return
        carried_before = (
            {e.detail for e in uow.reports.events(report_id) if e.kind == "note_carried"}
            if to_researcher
            else set()
        )
        for note in to_researcher:
            if note is carried or note.note_id in carried_before:
                continue  # carried by a state-change mail (this pass, or one before a re-read)
            params = common_params(self.program, report_id, researcher) | {
                "team_message": self._message(note),
                "state": report.state.value,
            }
            queued = uow.outbox.add(
                new_outbox_item(
                    self.program,
                    report_id,
                    researcher,
                    NotificationKind.TEAM_MESSAGE,
                    "team_message",
                    params,
                    dedupe_key=f"note:{ref.tracker}:{ref.project}:{ref.key}:{note.note_id}",
                    now=now,
                )
            )
            if queued:
                summary.bump("mail_queued")

    def _marked(self, note: TrackerNote) -> bool:
        first_line = note.body.strip().splitlines()[0] if note.body.strip() else ""
        return first_line.strip().lower().startswith(self.program.researcher_marker.lower())

    def _message(self, note: TrackerNote) -> str:
        lines = note.body.strip().splitlines()
        first = lines[0].strip()[len(self.program.researcher_marker) :].strip()
        return "\n".join([first, *lines[1:]] if first else lines[1:]).strip()

    def _read_severity(
        self,
        report: Report,
        snapshot: IssueSnapshot,
        known_labels: frozenset[str],
        team_notes: list[TrackerNote],
    ) -> None:
        for note in team_notes:
            for match in _CVSS.finditer(note.body):
                if self.program.score_vector is None:
                    continue
                try:
                    report.severity = self.program.score_vector(match.group(0))
                    report.cvss_vector = match.group(0)
                except DomainError:
                    continue
        # Only a severity label the team added since the bridge last looked overrides the vector.
        labelled = self.program.labels.read_severity(snapshot.labels - known_labels)
        if labelled is not None and labelled is not Severity.UNASSESSED:
            report.severity = labelled

    def _target_state(
        self, report: Report, snapshot: IssueSnapshot, known_labels: frozenset[str]
    ) -> State | None:
        """The state the tracker shows, in order of how explicit the team was.

        1. A state label added since the bridge last saw the issue: the team moved it. A label
           the bridge saw before is no news, even if stale (it may linger beside the new one
           without scoped-label exclusivity, or be re-listed by an overlapping search).
        2. The workflow status or its category (Jira), but only forward: a coarse status such as
           "In Progress" must not undo a finer label move such as triaged.
        3. Closing the issue closes an open report; reopening it reopens a closed one.
        """
        labels = self.program.labels
        added = snapshot.labels - known_labels
        moved = {s for s in State if labels.state(s) in added} - {report.state}
        if len(moved) > 1:
            return None
        if len(moved) == 1:
            return moved.pop()
        rules = self.program.states
        by_status = rules.by_status.get(snapshot.status)
        if by_status is None and snapshot.status_category:
            by_status = rules.by_category.get(snapshot.status_category)
        if by_status is not None and _progress(by_status) > _progress(report.state):
            return by_status
        closed = snapshot.status.lower() == "closed" or snapshot.status_category == "done"
        if closed and report.state.is_open:
            return rules.closed
        if not closed and report.state is State.RESOLVED:
            return State.IN_REMEDIATION  # reopened after the fix: the fix did not hold
        if (
            not closed
            and report.state.is_closure
            and labels.state(report.state) not in snapshot.labels
        ):
            # Only a reopened issue reopens; an open issue still labelled with the closure is
            # where the team put it (a closure by label alone, without closing the issue).
            return rules.reopened
        return None

    def _move_state(
        self,
        uow: UnitOfWork,
        report: Report,
        snapshot: IssueSnapshot,
        known_labels: frozenset[str],
        to_researcher: list[TrackerNote],
        researcher: Researcher | None,
        summary: PassSummary,
        now: datetime,
    ) -> tuple[bool, TrackerNote | None]:
        """Apply the state the tracker shows.

        Returns whether a state mail was queued, and the team note it carries (only templates
        that show the team's words, such as needs_info and the closures, carry one).
        """
        report_id = str(report.report_id)
        target = self._target_state(report, snapshot, known_labels)
        if target is None or target is report.state:
            return False, None
        if not can_transition(report.state, target):
            recorded = uow.reports.add_event(
                ReportEvent(
                    report_id,
                    now,
                    "transition_refused",
                    f"{report.state.value} -> {target.value}",
                    dedupe_key=f"refused:{report_id}:{report.state.value}:{target.value}:"
                    f"{snapshot.updated_at.isoformat()}",
                )
            )
            if recorded:
                summary.bump("transitions_refused")
                summary.problems.append(
                    f"{report_id}: the tracker moved it from {report.state.value} to "
                    f"{target.value}, which the lifecycle does not allow; not applied"
                )
            return False, None
        report.transition(target, now)
        self._moved.add(report_id)
        uow.reports.add_event(ReportEvent(report_id, now, "state_changed", target.value))
        summary.bump("state_changes")
        if target not in MAILED_STATES or researcher is None:
            return False, None
        carried = to_researcher[-1] if to_researcher and target in CARRIES_TEAM_MESSAGE else None
        if carried is not None:
            # Remembered so a re-read of this change (after a crash) does not mail it on its own.
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    now,
                    "note_carried",
                    carried.note_id,
                    dedupe_key=f"carried:{report_id}:{carried.note_id}",
                )
            )
        params = common_params(self.program, report_id, researcher) | {
            "state": target.value,
            "severity": report.severity.value,
            "expected_fix_date": self._fix_date(report),
            "team_message": self._message(carried) if carried else "",
            "publish_date": self.program.local_date(now).isoformat()
            if target is State.PUBLISHED
            else "",
            "credit_question": "yes" if researcher.credit_wish is CreditWish.UNKNOWN else "no",
        }
        uow.outbox.add(
            new_outbox_item(
                self.program,
                report_id,
                researcher,
                NotificationKind.STATE_CHANGE,
                f"state_{target.value}",
                params,
                dedupe_key=f"state:{report_id}:{len(report.history)}:{target.value}",
                now=now,
            )
        )
        summary.bump("mail_queued")
        return True, carried

    def _fix_date(self, report: Report) -> str:
        if report.expected_fix_date is not None:
            return self.program.local_date(report.expected_fix_date).isoformat()
        fix = self.program.deadline(report, DeadlineKind.FIX, self.clock.now())
        return self.program.last_day(fix.due).isoformat() if fix else ""

    def _read_fix_date(
        self, uow: UnitOfWork, report: Report, snapshot: IssueSnapshot, now: datetime
    ) -> tuple[bool, date | None]:
        """Take the tracker's due date as the expected fix date: (whether it moved, the old one)."""
        current = (
            self.program.local_date(report.expected_fix_date) if report.expected_fix_date else None
        )
        if snapshot.due_date == current:
            return False, current
        report.expected_fix_date = (
            self._start_of(snapshot.due_date) if snapshot.due_date is not None else None
        )
        uow.reports.add_event(
            ReportEvent(
                str(report.report_id), now, "fix_date_changed", f"{current} -> {snapshot.due_date}"
            )
        )
        return True, current

    def _queue_fix_date_mail(
        self,
        uow: UnitOfWork,
        report: Report,
        snapshot: IssueSnapshot,
        researcher: Researcher,
        previous: date | None,
        now: datetime,
    ) -> None:
        """Tell an assessed researcher the new expected fix date (not before triage, not after)."""
        assessed = report.state not in (State.RECEIVED, State.ACKNOWLEDGED, State.TRIAGING)
        if snapshot.due_date is None or not assessed or report.state.is_closed:
            return
        fix = self.program.deadline(report, DeadlineKind.FIX, now)
        if (
            previous is None
            and fix is not None
            and snapshot.due_date == self.program.last_day(fix.due)
        ):
            # The policy's date the bridge wrote itself, read back before its own commit landed
            # (a crash or a lost commit after update_issue): the triaged mail already named it.
            return
        report_id = str(report.report_id)
        params = common_params(self.program, report_id, researcher) | {
            "expected_fix_date": snapshot.due_date.isoformat(),
            "previous_fix_date": previous.isoformat() if previous else "",
            "state": report.state.value,
        }
        uow.outbox.add(
            new_outbox_item(
                self.program,
                report_id,
                researcher,
                NotificationKind.FIX_DATE_CHANGED,
                "fix_date_changed",
                params,
                dedupe_key=f"fixdate:{report_id}:{previous}:{snapshot.due_date}:"
                f"{snapshot.updated_at.isoformat()}",
                now=now,
            )
        )

    def _start_of(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.program.calendar.tz)

    # -- deadlines

    def refresh_deadlines(self, summary: PassSummary) -> None:
        """Recompute every open report's deadline label, a page at a time; write only changes.

        Reports this pass moved are refreshed too (a report that just closed still needs its
        closing state label, or a stale label would later read as a team move).
        """
        now = self.clock.now()
        moved, self._moved = self._moved, set()
        after: str | None = None
        while True:
            with self.unit_of_work() as uow:
                page = uow.reports.open_reports_page(after, self.page_size)
                extra = (
                    []
                    if after is not None
                    else [
                        report
                        for report_id in sorted(moved)
                        if (report := uow.reports.get(report_id)) is not None
                        and report.state.is_closed
                    ]
                )
                batch = page + extra
                links = uow.links.links_of([str(r.report_id) for r in batch])
            for report in batch:
                link = links.get(str(report.report_id))
                if link is not None:
                    self._refresh_one(report, *link, now, summary)
            if len(page) < self.page_size:
                return
            after = str(page[-1].report_id)

    def _refresh_one(
        self,
        report: Report,
        ref: IssueRef,
        current: frozenset[str],
        now: datetime,
        summary: PassSummary,
    ) -> None:
        report_id = str(report.report_id)
        # Computed once per report: the label, the fix date and the overdue check all use them.
        deadlines = self.program.deadlines(report, now)
        status = self.program.status_of(deadlines, now)
        desired = self.program.labels.for_report(report.severity, report.state, status)
        add, remove = self.program.labels.exclusive_update(current, desired)
        fix = next((d for d in deadlines if d.kind is DeadlineKind.FIX), None)
        set_due = report.expected_fix_date is None and fix is not None and report.state.is_open
        if add or remove or set_due:
            due = self.program.last_day(fix.due) if (set_due and fix) else None
            self.tracker.update_issue(
                ref,
                IssueUpdate(
                    add_labels=add, remove_labels=remove, set_due_date=set_due, due_date=due
                ),
            )
            with self.unit_of_work() as uow:
                uow.links.set_labels(report_id, (current - remove) | add)
                if due is not None:
                    stored = uow.reports.get(report_id)
                    if stored is not None and stored.expected_fix_date is None:
                        # The policy's fix date is the expected one until the team says otherwise.
                        stored.expected_fix_date = self._start_of(due)
                        uow.reports.save(stored)
                uow.commit()
            summary.bump("labels_updated")
            current = (current - remove) | add
        self._note_overdue(report, ref, deadlines, now, summary)
        self.regulatory.refresh(report, ref, current, now, summary)

    def _note_overdue(
        self,
        report: Report,
        ref: IssueRef,
        deadlines: list[Deadline],
        now: datetime,
        summary: PassSummary,
    ) -> None:
        report_id = str(report.report_id)
        overdue = [
            deadline
            for deadline in deadlines
            if deadline.kind in _OVERDUE_NOTED
            and deadline.status(now, self.program.calendar, self.program.policy)
            is DeadlineStatus.OVERDUE
        ]
        if not overdue:
            return
        # Events are read only for the few reports with a missed deadline, not for every report.
        with self.unit_of_work() as uow:
            noted = {e.dedupe_key for e in uow.reports.events(report_id)}
        for deadline in overdue:
            key = f"overdue:{report_id}:{deadline.kind.value}"
            if key in noted:
                continue
            due = self.program.last_day(deadline.due).isoformat()
            self.tracker.add_note(
                ref,
                f"Deadline missed: the {deadline.kind.value} promised to the researcher was due "
                f"on {due}.",
            )
            with self.unit_of_work() as uow:
                uow.reports.add_event(
                    ReportEvent(
                        report_id, now, "deadline_missed", deadline.kind.value, dedupe_key=key
                    )
                )
                uow.commit()
            summary.bump("overdue_noted")

    def queue_progress_updates(self, summary: PassSummary) -> None:
        """Queue a progress update for every open report that would otherwise go silent."""
        now = self.clock.now()
        after: str | None = None
        while True:
            with self.unit_of_work() as uow:
                page = uow.reports.open_reports_page(after, self.page_size)
                for report in page:
                    self._queue_progress(uow, report, now, summary)
                uow.commit()
            if len(page) < self.page_size:
                return
            after = str(page[-1].report_id)

    def _queue_progress(
        self, uow: UnitOfWork, report: Report, now: datetime, summary: PassSummary
    ) -> None:
        deadline = self.program.deadline(report, DeadlineKind.PROGRESS_UPDATE, now)
        if deadline is None or report.state is State.RECEIVED:
            return
        status = deadline.status(now, self.program.calendar, self.program.policy)
        if status not in (DeadlineStatus.DUE_SOON, DeadlineStatus.OVERDUE):
            return
        report_id = str(report.report_id)
        researcher = uow.reports.researcher_of(report_id)
        if researcher is None:
            return
        params = common_params(self.program, report_id, researcher) | {
            "state": report.state.value,
            "expected_fix_date": self._fix_date(report),
        }
        if uow.outbox.add(
            new_outbox_item(
                self.program,
                report_id,
                researcher,
                NotificationKind.PROGRESS_UPDATE,
                "progress_update",
                params,
                dedupe_key=f"progress:{report_id}:{deadline.start.isoformat()}",
                now=now,
            )
        ):
            summary.bump("progress_queued")

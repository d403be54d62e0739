"""Sync: read tracker changes since the bookmark, apply them to reports, queue researcher mail.

Singer-style incremental sync: the bookmark moves forward in the same transaction as the
change it covers, never past the pass's start time (the signpost). Reading the same change
twice changes nothing and queues nothing, because every effect compares against the stored
state and every queued mail carries a dedupe key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from tracker_bridge.domain.deadlines import Deadline, DeadlineKind, DeadlineStatus
from tracker_bridge.domain.report import Report, State, can_transition
from tracker_bridge.domain.researcher import (
    CreditAnswer,
    CreditWish,
    Researcher,
    accept_credit,
    credit_from_value,
)
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import SKIPPABLE, DomainError, RetriableError
from tracker_bridge.ports.mail import NotificationKind
from tracker_bridge.ports.store import ReportEvent
from tracker_bridge.ports.tracker import IssueRef, IssueSnapshot, IssueUpdate, Tracker, TrackerNote
from tracker_bridge.services.ingest import (
    CONFIRM_KEY_MARKER,
    common_params,
    new_outbox_item,
    offered_keys,
)
from tracker_bridge.services.pass_outcome import PassCounter
from tracker_bridge.services.refusals import Refusals
from tracker_bridge.services.regulatory import RegulatoryClocks
from tracker_bridge.services.retention import RetentionPolicy, retention_moments

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.summary import PassSummary
    from tracker_bridge.ports.unit_of_work import UnitOfWork
    from tracker_bridge.services.context import Program

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
# State templates that quote the expected fix date ($expected_fix_date): their mail tells the
# researcher the date, so a due-date move in the same pass needs no mail of its own.
QUOTES_FIX_DATE = frozenset({State.TRIAGED, State.IN_REMEDIATION})
# The event that records which expected fix date a queued mail told the researcher: the next
# "changed from" starts there, never from a date they did not hear.
FIX_DATE_TOLD = "fix_date_told"
# A team comment whose first line starts with this sets the researcher's credit.
CREDIT_MARKER = "[credit]"
_CVSS = re.compile(r"CVSS:(?:3\.[01]|4\.0)/[A-Za-z:/]+")
_OVERDUE_NOTED = (DeadlineKind.ACKNOWLEDGE, DeadlineKind.ASSESSMENT)


def _facts(report: Report) -> tuple[object, ...]:
    """What a change from the tracker can move on a report (and saving it would store)."""
    return (
        report.state,
        report.severity,
        report.cvss_vector,
        report.expected_fix_date,
        len(report.history),
        report.last_researcher_update_at,
    )


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
    # The program's retention periods: a closed report's next moment is also retention's.
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    _moved: set[str] = field(default_factory=set, init=False)
    # Each refreshed report's deadlines at this pass's "now": computed once per report, used for
    # its label, missed-deadline notes, progress update and next moment.
    _deadlines: dict[str, list[Deadline]] = field(default_factory=dict, init=False)
    _regulatory: RegulatoryClocks | None = field(default=None, init=False)

    @property
    def regulatory(self) -> RegulatoryClocks:
        """The legal reporting clocks kept beside the policy's (services/regulatory.py)."""
        if self._regulatory is None:
            self._regulatory = RegulatoryClocks(
                self.program.regulatory, self.tracker, self.unit_of_work, self.program.calendar.tz
            )
        return self._regulatory

    # Credit set by a team marker comment in the open transaction, noted after it commits.
    _credit_notes: list[tuple[IssueRef, CreditAnswer]] = field(default_factory=list, init=False)
    # How many reports the last pass looked at (recomputed deadlines for): benchmarks read it.
    reports_checked: int = field(default=0, init=False)

    def run(self, summary: PassSummary) -> None:
        """Apply changes since the bookmark, then refresh deadlines and progress updates.

        Raises:
            TrackerUnavailable, TrackerAuthError, ConfigurationError, TrackerRefused: as
                :meth:`apply_changes` and :meth:`refresh_deadlines` raise them.
            RetriableError, FatalError: the store did not answer or is broken.
        """
        self.apply_changes(summary)
        self.refresh_deadlines(summary)
        # Counted from every running legal clock, so a quiet pass reports them too.
        self.regulatory.count_steps(self.clock.now(), summary)

    # -- changes from the tracker

    def apply_changes(self, summary: PassSummary) -> None:
        """Read every change since the bookmark, oldest first, committing each with the bookmark.

        Raises:
            TrackerUnavailable: the tracker's change listing failed after its retries (the
                bookmark stays where it was; changes applied so far are committed).
            TrackerAuthError: the token was refused or lacks permission.
            ConfigurationError: the tracker's project was not found.
            TrackerRefused: the tracker refused the listing itself.
            RetriableError, FatalError: the store did not answer or is broken.
        """
        signpost = self.clock.now()
        with self.unit_of_work() as uow:
            since = uow.bookmarks.get(self.bookmark_name)
            store_id = uow.installation.store_id()
        newest: datetime | None = None
        for snapshot in self.tracker.changes_since(since):
            summary.bump(PassCounter.CHANGES_READ)
            with self.unit_of_work() as uow:
                self._apply(uow, snapshot, summary, store_id)
                uow.commit()
            self._note_credits(summary)
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
            summary.bump(PassCounter.UNKNOWN_ISSUE)
            return None
        if snapshot.installation != store_id:
            summary.bump(PassCounter.FOREIGN_ISSUE)
            return None
        if not snapshot.confidential or uow.links.get(snapshot.report_id) is not None:
            summary.bump(PassCounter.UNKNOWN_ISSUE)
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
                summary.bump(PassCounter.UNKNOWN_ISSUE)
            return
        if uow.links.get(report_id) is None:
            # A placeholder whose open did not finish (refused, or a crash before the link):
            # ingest completes it by its marker; adopting it here would leave it empty.
            summary.bump(PassCounter.ISSUE_NOT_OPENED_YET)
            return
        before = _facts(report)
        researcher = uow.reports.researcher_of(report_id)
        known_labels = uow.links.labels(report_id)
        uow.links.link(report_id, ref, snapshot.labels)
        now = self.clock.now()
        team_notes = [n for n in snapshot.notes if not n.by_bridge]
        to_researcher = [n for n in team_notes if self._marked(n)]
        self._read_severity(report, snapshot, known_labels, team_notes)
        if researcher is not None:
            self._read_credit(uow, report_id, researcher, ref, team_notes, now)
        # The fix date first: a state mail that quotes it (triaged, in remediation) then tells it,
        # and any other state mail leaves the move to a mail of its own.
        fix_date_moved, previous_fix_date = self._read_fix_date(uow, report, snapshot, now)
        told = self._told_fix_date(uow, report_id) if researcher is not None else None
        state_mailed, carried = self._move_state(
            uow, report, snapshot, known_labels, to_researcher, researcher, summary, now
        )
        date_told = state_mailed and report.state in QUOTES_FIX_DATE
        if fix_date_moved and not date_told and researcher is not None:
            self._queue_fix_date_mail(
                uow, report, snapshot, researcher, previous_fix_date, told, now
            )
        # A legal clock started or a step recorded changes the report's next moment too.
        clocks_moved = self.regulatory.read(uow, report, snapshot, now, summary)
        if _facts(report) != before or snapshot.labels != known_labels or clocks_moved:
            # Saving makes the report due, so the deadline refresh looks at what changed; a
            # re-read of the same change (the bookmark is inclusive) leaves its moment alone.
            uow.reports.save(report)
        if researcher is None:
            return
        self._confirm_keys(uow, report_id, researcher, team_notes, now)
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
                summary.bump(PassCounter.MAIL_QUEUED)

    def _confirm_keys(
        self,
        uow: UnitOfWork,
        report_id: str,
        researcher: Researcher,
        team_notes: list[TrackerNote],
        now: datetime,
    ) -> None:
        """A team comment ``[confirm key] <fingerprint>`` adopts a key the researcher offered.

        Only a key their own mail carried on this report qualifies; the bridge never confirms
        a key itself (its notes are not team notes).
        """
        offered = offered_keys(uow.reports.events(report_id))
        for note in team_notes:
            first = note.body.strip().splitlines()[0].strip() if note.body.strip() else ""
            if not first.lower().startswith(CONFIRM_KEY_MARKER):
                continue
            wanted = re.sub(r"\s+", "", first[len(CONFIRM_KEY_MARKER) :]).upper()
            if wanted not in offered or researcher.fingerprint == wanted:
                continue
            researcher.fingerprint = wanted
            uow.researchers.save(researcher)
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    now,
                    "key_confirmed",
                    f"{wanted} (team note {note.note_id})",
                    dedupe_key=f"key_confirmed:{report_id}:{note.note_id}",
                )
            )

    def _marked(self, note: TrackerNote) -> bool:
        first_line = note.body.strip().splitlines()[0] if note.body.strip() else ""
        return first_line.strip().lower().startswith(self.program.researcher_marker.lower())

    def _read_credit(
        self,
        uow: UnitOfWork,
        report_id: str,
        researcher: Researcher,
        ref: IssueRef,
        team_notes: list[TrackerNote],
        now: datetime,
    ) -> None:
        """Record credit from a team comment starting ``[credit] <name>`` / ``[credit] none``."""
        for note in team_notes:
            first = note.body.strip().splitlines()[0].strip() if note.body.strip() else ""
            if not first.lower().startswith(CREDIT_MARKER):
                continue
            answer = credit_from_value(first[len(CREDIT_MARKER) :])
            if answer is None:
                continue
            recorded = uow.reports.add_event(
                ReportEvent(
                    report_id,
                    now,
                    "credit_recorded",
                    f"{answer.wish.value} (team comment {note.note_id})",
                    dedupe_key=f"credit:{ref.tracker}:{ref.project}:{ref.key}:{note.note_id}",
                )
            )
            if recorded:
                accept_credit(researcher, answer)
                uow.researchers.save(researcher)
                self._credit_notes.append((ref, answer))

    def _note_credits(self, summary: PassSummary) -> None:
        pending, self._credit_notes = self._credit_notes, []
        day = self.program.local_date(self.clock.now()).isoformat()
        for ref, answer in pending:
            summary.bump(PassCounter.CREDIT_RECORDED)
            try:
                self.tracker.add_note(
                    ref,
                    f"Credit recorded on {day} from a team comment: {answer.describe()}.",
                    untrusted=answer.name,
                )
            except RetriableError as err:
                # Recorded in the store already; only the note on the issue is missing.
                summary.problems.append(f"{ref.key}: credit note not written yet: {err}")

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
        moved = set(labels.states_named(added)) - {report.state}
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
                summary.bump(PassCounter.TRANSITIONS_REFUSED)
                summary.problems.append(
                    f"{report_id}: the tracker moved it from {report.state.value} to "
                    f"{target.value}, which the lifecycle does not allow; not applied"
                )
            return False, None
        report.transition(target, now)
        self._moved.add(report_id)
        uow.reports.add_event(ReportEvent(report_id, now, "state_changed", target.value))
        summary.bump(PassCounter.STATE_CHANGES)
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
        if target in QUOTES_FIX_DATE:
            self._record_told(uow, report_id, params["expected_fix_date"], now)
        summary.bump(PassCounter.MAIL_QUEUED)
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

    def _told_fix_date(self, uow: UnitOfWork, report_id: str) -> str | None:
        """The expected fix date the last queued mail told the researcher, or None if none did.

        An ISO date, or "" when the mail said "not yet known".
        """
        told = [e.detail for e in uow.reports.events(report_id) if e.kind == FIX_DATE_TOLD]
        return told[-1] if told else None

    def _record_told(self, uow: UnitOfWork, report_id: str, told: str, now: datetime) -> None:
        uow.reports.add_event(ReportEvent(report_id, now, FIX_DATE_TOLD, told))

    def _queue_fix_date_mail(
        self,
        uow: UnitOfWork,
        report: Report,
        snapshot: IssueSnapshot,
        researcher: Researcher,
        previous: date | None,
        told: str | None,
        now: datetime,
    ) -> None:
        """Tell an assessed researcher the new expected fix date (not before triage, not after).

        The mail's "changed from" is ``told``, the date the researcher last heard; ``previous``
        (the stored date) only stands in for reports that never had a date told.
        """
        assessed = report.state not in (State.RECEIVED, State.ACKNOWLEDGED, State.TRIAGING)
        if snapshot.due_date is None or not assessed or report.state.is_closed:
            return
        new_date = snapshot.due_date.isoformat()
        if told == new_date:
            return  # they already heard this date (a re-read, or the bridge's own policy date)
        fix = self.program.deadline(report, DeadlineKind.FIX, now)
        if (
            told is None
            and previous is None
            and fix is not None
            and snapshot.due_date == self.program.last_day(fix.due)
        ):
            # The policy's date the bridge wrote itself, read back before its own commit landed
            # (a crash or a lost commit after update_issue): the triaged mail already named it.
            return
        report_id = str(report.report_id)
        from_date = told if told is not None else (previous.isoformat() if previous else "")
        params = common_params(self.program, report_id, researcher) | {
            "expected_fix_date": new_date,
            "previous_fix_date": from_date,
            "state": report.state.value,
        }
        self._record_told(uow, report_id, new_date, now)
        uow.outbox.add(
            new_outbox_item(
                self.program,
                report_id,
                researcher,
                NotificationKind.FIX_DATE_CHANGED,
                "fix_date_changed",
                params,
                dedupe_key=f"fixdate:{report_id}:{from_date}:{snapshot.due_date}:"
                f"{snapshot.updated_at.isoformat()}",
                now=now,
            )
        )

    def _start_of(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.program.calendar.tz)

    # -- deadlines

    def refresh_deadlines(self, summary: PassSummary) -> None:
        """Look at every report whose next time-driven change has come, a page at a time.

        Only those are read: each report stores the next moment anything about it changes by
        time alone, and every change to it (this pass's tracker changes included) makes it due
        at once, so a quiet pass reads nothing. For an open report: the deadline label (written
        only when it changed), missed-deadline notes, a progress update falling due, its legal
        clocks, then the next moment. A closed report is read too: its legal clocks keep
        running (GDPR art. 33(1), CRA art. 14(2)(c) after a fix), so their labels and reminders
        are kept; one this pass closed also gets its closing state label (a stale label would
        later read as a team move). A closed report's next moment is the earlier of its legal
        clocks' and retention's (``services.retention``), so neither step hides the other's.

        A refused or deleted issue (``SkippableError``) is set aside for that report alone
        (``services.refusals``); the others go on.

        Raises:
            TrackerUnavailable: a label or due-date write failed after its retries; the report
                stays due and the next pass tries again.
            TrackerAuthError: the token was refused or lacks permission.
            RetriableError, FatalError: the store did not answer or is broken.
        """
        now = self.clock.now()
        moved, self._moved = self._moved, set()
        self._deadlines.clear()
        self.reports_checked = 0
        self._recompute_after_policy_change(now)
        after: str | None = None
        while True:
            with self.unit_of_work() as uow:
                page = uow.reports.due_reports_page(now, after, self.page_size, closed=None)
                links = uow.links.links_of([str(r.report_id) for r in page])
            checked: list[Report] = []
            for report in page:
                link = links.get(str(report.report_id))
                if link is not None:
                    try:
                        if report.state.is_open or str(report.report_id) in moved:
                            self._refresh_one(report, *link, now, summary)
                        else:
                            self.regulatory.refresh(report, *link, now, summary)
                    except SKIPPABLE as err:
                        # A label or field this issue refuses, or an issue deleted by hand:
                        # only this report waits (it stays due: the next pass tries again);
                        # the team hears it once.
                        self._deadlines.pop(str(report.report_id), None)
                        Refusals(self.unit_of_work, self.tracker, self.clock).set_aside(
                            str(report.report_id), "update the issue", err, summary, link[0]
                        )
                        continue
                # Only a report whose refresh returned gets its next moment; one that failed
                # stays due and is looked at again by the next pass.
                checked.append(report)
            self._queue_progress_and_next(checked, now, summary)
            if len(page) < self.page_size:
                return
            after = str(page[-1].report_id)

    def _recompute_after_policy_change(self, now: datetime) -> None:
        """Stored moments follow the policy they came from: under a new one, every report is due.

        The policy's digest is remembered as a bookmark; a pass that finds none for the current
        digest (new deadlines, labels or time zone in mappings/) marks every report due once.
        """
        name = f"policy:{self.program.policy_digest}"
        with self.unit_of_work() as uow:
            if uow.bookmarks.get(name) is not None:
                return
            uow.reports.mark_all_due()
            uow.bookmarks.set(name, now)
            uow.commit()

    def _queue_progress_and_next(
        self, checked: list[Report], now: datetime, summary: PassSummary
    ) -> None:
        """Queue due progress updates and store each report's next moment, in one transaction."""
        if not checked:
            return
        with self.unit_of_work() as uow:
            for report in checked:
                report_id = str(report.report_id)
                # The legal clocks' next moment (services/regulatory.py), open or closed.
                legal = self.regulatory.next_moments.pop(report_id, None)
                deadlines = self._deadlines.pop(report_id, None)
                if report.state.is_open:
                    if deadlines is None:  # a report without an issue was not refreshed
                        deadlines = self.program.deadlines(report, now)
                    self._queue_progress(uow, report, now, summary, deadlines)
                    moments = [self.program.next_change(report, now, deadlines), legal]
                else:
                    # Retention's moments as they are, past ones too: the sync cannot tell
                    # whether the purge has done them, so a past one leaves the report due and
                    # the purge, which runs after the sync, stores its own next moment.
                    moments = [*retention_moments(report, self.retention), legal]
                found = [m for m in moments if m is not None]
                uow.reports.set_next_due(report, min(found) if found else None)
            uow.commit()
        self.reports_checked += len(checked)

    def _refresh_one(
        self,
        report: Report,
        ref: IssueRef,
        current: frozenset[str],
        now: datetime,
        summary: PassSummary,
    ) -> None:
        report_id = str(report.report_id)
        # Computed once per report: the label, the fix date, the overdue check, the progress
        # update and the next moment all use them (the caller reads them back).
        deadlines = self.program.deadlines(report, now)
        self._deadlines[report_id] = deadlines
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
                        # The caller stores the next moment only for the report as stored.
                        report.expected_fix_date = stored.expected_fix_date
                uow.commit()
            summary.bump(PassCounter.LABELS_UPDATED)
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
            summary.bump(PassCounter.OVERDUE_NOTED)

    def _queue_progress(
        self,
        uow: UnitOfWork,
        report: Report,
        now: datetime,
        summary: PassSummary,
        deadlines: list[Deadline],
    ) -> None:
        deadline = next((d for d in deadlines if d.kind is DeadlineKind.PROGRESS_UPDATE), None)
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
            self._record_told(uow, report_id, params["expected_fix_date"], now)
            summary.bump(PassCounter.PROGRESS_QUEUED)

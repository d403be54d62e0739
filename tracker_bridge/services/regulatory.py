"""Legal reporting clocks in the tracker: read the team's starts and done-markers, keep labels and reminders.

Everything the clocks need lives in the report's event history (no table of its own):

* ``reg_started`` ``<regime>|<aware ISO 8601>|<who>``: a start label or an ``[aware]`` marker;
  the earliest moment of awareness of a regime wins.
* ``reg_done`` ``<step>|<who>|<not-notifiable reason>``, at the moment the team recorded it.
* ``reg_measure`` ``<who>``: a ``[measure available]`` marker (CRA final report); reaching
  ``fix_available`` counts the same, read from the report's state history.
* ``reg_due_soon`` / ``reg_missed`` ``<step>``: a reminder note was written (dedupe keys make
  it once per step, whatever the number of passes).
* ``reg_start_noted`` / ``reg_moved`` ``<regime>``: the start note, and a "clock moved" note,
  was written; ``reg_moved``'s key is a digest of the deadlines the note shows, so each new set
  of deadlines (an earlier ``[aware]``, a final report's period starting or moving) is noted once.

A start label counts from the snapshot's ``updated_at`` (never later than the pass), the best
moment the tracker gives without another request; ``[aware]`` gives an earlier one. A moment
before the regime applies (``domain.regulatory.APPLIES_FROM``) is refused as a named problem.

Marker comments (first line of a team comment, markers from program.toml ``[regulatory]``)::

    [aware] 2026-11-28T09:00+01:00 personal-data-breach   (ISO 8601 with offset; regime as
                                                           gdpr/nis2/cra, its start label or
                                                           the label's name after its scope)
    [reported] early warning                               (a step title or id)
    [not notifiable] <reason>                              (GDPR art. 33(5))
    [measure available]                                    (CRA art. 14(2)(c) clock starts)

The researcher never hears of any of this: nothing here queues mail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from tracker_bridge.domain.regulatory import (
    DRAFT_FACTS,
    STEP_IDS,
    USERS_INFORMED_SOURCE,
    Regime,
    RegulatoryClock,
    RegulatoryPolicy,
    StepDeadline,
    StepDone,
    StepRule,
    StepStatus,
    applies_from,
    current_due_name,
    find_step,
    step_deadlines,
    step_rule,
)
from tracker_bridge.domain.report import Report, State
from tracker_bridge.ports.privacy import AuditEntry
from tracker_bridge.ports.store import ReportEvent
from tracker_bridge.ports.tracker import IssueRef, IssueSnapshot, IssueUpdate, Tracker, TrackerNote
from tracker_bridge.services.pass_outcome import PassCounter

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker_bridge.ports.summary import PassSummary
    from tracker_bridge.ports.unit_of_work import UnitOfWork

_FIX_STATES = frozenset({State.FIX_AVAILABLE})

CLOCK_STARTED_EVENT = "reg_started"
"""The report event kind recording a regime's start: ``<regime>|<awareness ISO>|<who>``."""
# How each reminder note starts (also how the bridge recognises its own after a crash).
_STARTED = "Regulatory clock started ("
_MOVED = "Regulatory clock moved ("
_WAITING = {"cra-final-report": "14 days after a corrective or mitigating measure is available"}
_REMINDERS = {"reg_due_soon": "Regulatory step due soon:", "reg_missed": "Regulatory step missed:"}


def clocks_of(report: Report, events: list[ReportEvent]) -> list[RegulatoryClock]:
    """The regulatory clocks running for ``report``, rebuilt from its events (regime order)."""
    aware: dict[Regime, datetime] = {}
    done: dict[str, StepDone] = {}
    measure: datetime | None = report.first_time_in(_FIX_STATES)
    for event in events:
        parts = event.detail.split("|")
        if event.kind == CLOCK_STARTED_EVENT and len(parts) >= 2:
            regime = Regime(parts[0])
            moment = datetime.fromisoformat(parts[1])
            aware[regime] = min(moment, aware.get(regime, moment))
        elif event.kind == "reg_done" and parts[0] in STEP_IDS and parts[0] not in done:
            reason = parts[2] if len(parts) > 2 else ""
            done[parts[0]] = StepDone(event.at, parts[1] if len(parts) > 1 else "", reason)
        elif event.kind == "reg_measure":
            measure = event.at if measure is None else min(measure, event.at)
    return [
        RegulatoryClock(
            regime,
            aware[regime],
            done={s: d for s, d in done.items() if step_rule(s).regime is regime},
            measure_available_at=measure,
        )
        for regime in Regime
        if regime in aware
    ]


@dataclass
class RegulatoryClocks:
    """The regulatory side of one tracker project's sync (called from ``Sync``)."""

    policy: RegulatoryPolicy
    tracker: Tracker
    unit_of_work: Callable[[], UnitOfWork]
    tz: tzinfo
    # Reports whose clocks this pass's changes touched: refreshed even before they carry a label.
    touched: set[str] = field(default_factory=set)
    # Each refreshed report's next moment its legal clocks change by time alone (None: never).
    next_moments: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """True when at least one regime is turned on."""
        return bool(self.policy.enabled)

    # -- the team's signals, read inside the sync's unit of work for one snapshot

    def read(
        self,
        uow: UnitOfWork,
        report: Report,
        snapshot: IssueSnapshot,
        now: datetime,
        summary: PassSummary,
    ) -> bool:
        """Record starts, done steps and measures that ``snapshot``'s labels and notes show.

        Returns:
            True when anything was recorded (the report's clocks may have moved).
        """
        if not self.active:
            return False
        report_id = str(report.report_id)
        self.touched.add(report_id)
        before = len(uow.reports.events(report_id))
        # The label was set at or before the issue's last update: that moment, never later than
        # ``now``, bounds awareness without another tracker request (the pass that sees the label
        # may run hours later). ``[aware] <moment> <regime>`` gives an earlier one.
        labelled_at = _whole_seconds(min(snapshot.updated_at, now))
        for label in sorted(snapshot.labels):
            regime = self.policy.regime_started_by(label)
            if regime is not None and self._applies(report_id, regime, labelled_at, label, summary):
                self._start(
                    uow,
                    report_id,
                    regime,
                    labelled_at,
                    "tracker label",
                    f"label:{regime}",
                    recorded_at=now,
                )
        running = {c.regime for c in clocks_of(report, uow.reports.events(report_id))}
        for note in sorted(snapshot.notes, key=lambda n: n.created_at):
            if note.by_bridge:
                self._own_reminder(uow, report_id, note)
            else:
                running |= self._read_note(uow, report_id, note, running, now, summary)
        for label in sorted(snapshot.labels):
            rule = self.policy.step_reported_by(label)
            if rule is not None and rule.regime in running:
                self._done(uow, report_id, rule, now, "tracker label", "", summary)
        return len(uow.reports.events(report_id)) != before

    def _own_reminder(self, uow: UnitOfWork, report_id: str, note: TrackerNote) -> None:
        """Remember a reminder the bridge wrote but did not record (a crash in between).

        The reminder is written before its event commits; reading it back here, before the
        pass's refresh, makes it exactly once even across that crash.
        """
        body = note.body.strip()
        heading = next((h for h in (_STARTED, _MOVED) if body.startswith(h)), None)
        if heading is not None:
            regime, _, rest = body[len(heading) :].partition(",")
            if regime not in {r.value for r in Regime}:
                return
            if heading == _STARTED:
                uow.reports.add_event(
                    ReportEvent(
                        report_id,
                        note.created_at,
                        "reg_start_noted",
                        regime,
                        dedupe_key=f"reg_start_noted:{report_id}:{regime}",
                    )
                )
            aware = rest.partition("aware ")[2].partition(")")[0]
            lines = [x for x in body.splitlines()[1:] if x.lstrip().startswith(("-", "*"))]
            key = _moved_key(report_id, regime, aware, lines)
            uow.reports.add_event(
                ReportEvent(report_id, note.created_at, "reg_moved", regime, dedupe_key=key)
            )
            return
        kind = next((k for k, start in _REMINDERS.items() if body.startswith(start)), None)
        step = body.rsplit(f"{self.policy.reported_marker} ", 1)[-1].rstrip("`.")
        if kind is None or step not in STEP_IDS:
            return
        uow.reports.add_event(
            ReportEvent(
                report_id, note.created_at, kind, step, dedupe_key=f"{kind}:{report_id}:{step}"
            )
        )

    def _read_note(
        self,
        uow: UnitOfWork,
        report_id: str,
        note: TrackerNote,
        running: set[Regime],
        now: datetime,
        summary: PassSummary,
    ) -> set[Regime]:
        first, *_ = note.body.strip().splitlines() or [""]
        first = first.strip()
        policy = self.policy
        words = _after(first, policy.aware_marker)
        if words is not None:
            return self._read_aware(uow, report_id, note, words, now, summary)
        words = _after(first, policy.not_notifiable_marker)
        if words is not None:
            if Regime.GDPR not in running:
                summary.problems.append(
                    f"{report_id}: {policy.not_notifiable_marker} in comment {note.note_id} "
                    "names 0 running steps: the gdpr clock has not started (add its start label "
                    f"or '{policy.aware_marker} <moment> gdpr' first); not applied"
                )
                return set()
            if not words:
                summary.problems.append(
                    f"{report_id}: {policy.not_notifiable_marker} needs a reason (GDPR art. 33(5)); "
                    f"comment {note.note_id} not applied"
                )
                return set()
            rule = step_rule("gdpr-notification")
            self._done(uow, report_id, rule, note.created_at, note.author, words, summary)
            return set()
        words = _after(first, policy.reported_marker)
        if words is not None:
            matches = [r for r in (find_step(g, words) for g in sorted(running)) if r is not None]
            if len(matches) != 1:
                summary.problems.append(
                    f"{report_id}: {policy.reported_marker} {words!r} in comment {note.note_id} "
                    f"names {len(matches)} running steps; write the step id (e.g. "
                    "cra-early-warning)"
                )
                return set()
            self._done(uow, report_id, matches[0], note.created_at, note.author, "", summary)
            return set()
        words = _after(first, policy.fact_marker)
        if words is not None:
            name, _, text = words.partition(":")
            name = name.strip().lower()
            rest = "\n".join(note.body.strip().splitlines()[1:]).strip()
            text = "\n".join(t for t in (text.strip(), rest) if t)
            if name not in DRAFT_FACTS or not text:
                summary.problems.append(
                    f"{report_id}: comment {note.note_id} is not '{policy.fact_marker} <name>: "
                    f"<text>' with a name among {', '.join(DRAFT_FACTS)}; not applied"
                )
                return set()
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    note.created_at,
                    "reg_fact",
                    f"{name}|{note.author}|{text}",
                    dedupe_key=f"reg_fact:{report_id}:{note.note_id}",
                )
            )
            return set()
        if _after(first, policy.measure_marker) is not None:
            uow.reports.add_event(
                ReportEvent(
                    report_id,
                    note.created_at,
                    "reg_measure",
                    note.author,
                    dedupe_key=f"reg_measure:{report_id}:{note.note_id}",
                )
            )
        return set()

    def _read_aware(
        self,
        uow: UnitOfWork,
        report_id: str,
        note: TrackerNote,
        words: str,
        now: datetime,
        summary: PassSummary,
    ) -> set[Regime]:
        """Start a clock from ``[aware] <moment> <regime>``; a moment after the comment is refused.

        "After" allows for the tracker's and the bridge's clocks differing: the later of the
        comment's time and ``now`` is the limit. The audit row carries ``now``, the time the
        bridge recorded the start; the awareness moment is in its detail.
        """
        moment_text, _, regime_text = words.partition(" ")
        regime = self.policy.regime_named(regime_text)
        try:
            moment = datetime.fromisoformat(moment_text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None or regime is None:
            summary.problems.append(
                f"{report_id}: comment {note.note_id} is not "
                f"'{self.policy.aware_marker} <ISO 8601 moment with offset> <regime>' for an "
                "enabled regime; not applied"
            )
            return set()
        if moment > max(note.created_at, now):
            # Awareness cannot follow the comment that records it; a typo would run no clock.
            summary.problems.append(
                f"{report_id}: comment {note.note_id} gives an awareness moment "
                f"{moment.isoformat()} later than the comment itself "
                f"({_iso(note.created_at)}); not applied"
            )
            return set()
        if not self._applies(report_id, regime, moment, f"comment {note.note_id}", summary):
            return set()
        self._start(
            uow,
            report_id,
            regime,
            moment,
            note.author,
            f"note:{note.note_id}",
            recorded_at=now,
        )
        return {regime}

    def _applies(
        self, report_id: str, regime: Regime, moment: datetime, where: str, summary: PassSummary
    ) -> bool:
        """False, with a named problem, when ``moment`` falls before ``regime`` applies.

        Dates from ``domain.regulatory.APPLIES_FROM`` (GDPR art. 99(2), NIS2 art. 41(1), CRA
        art. 71(2)), compared in the program's time zone; this also catches a mistyped year.
        """
        first_day = applies_from(regime)
        if moment.astimezone(self.tz).date() >= first_day:
            return True
        summary.problems.append(
            f"{report_id}: {where} starts the {regime.value} clock at {_iso(moment)}, before "
            f"{regime.value} reporting applies ({first_day.isoformat()}); not applied"
        )
        return False

    def _start(
        self,
        uow: UnitOfWork,
        report_id: str,
        regime: Regime,
        at: datetime,
        by: str,
        source: str,
        *,
        recorded_at: datetime,
    ) -> None:
        """Start ``regime``'s clock at the awareness moment ``at``; audited at ``recorded_at``."""
        recorded = uow.reports.add_event(
            ReportEvent(
                report_id,
                at,
                CLOCK_STARTED_EVENT,
                f"{regime.value}|{_iso(at)}|{by}",
                dedupe_key=f"reg_started:{report_id}:{regime.value}:{source}",
            )
        )
        if recorded:
            uow.audit.record(
                AuditEntry(
                    recorded_at,
                    by,
                    "regulatory_clock_started",
                    "ok",
                    report_id,
                    f"{regime.value}, aware {_iso(at)}",
                )
            )

    def _done(
        self,
        uow: UnitOfWork,
        report_id: str,
        rule: StepRule,
        at: datetime,
        by: str,
        reason: str,
        summary: PassSummary,
    ) -> None:
        # The reason stays in the report's history; the audit line says only what was decided.
        recorded = uow.reports.add_event(
            ReportEvent(
                report_id,
                at,
                "reg_done",
                f"{rule.step}|{by}|{reason.replace('|', '/')}",
                dedupe_key=f"reg_done:{report_id}:{rule.step}",
            )
        )
        if recorded:
            action = "regulatory_not_notifiable" if reason else "regulatory_step_reported"
            uow.audit.record(AuditEntry(at, by, action, "ok", report_id, rule.step))
            summary.bump(PassCounter.REGULATORY_STEPS_DONE)

    # -- time-driven: labels and reminders

    def refresh(
        self,
        report: Report,
        ref: IssueRef,
        current: frozenset[str],
        now: datetime,
        summary: PassSummary,
    ) -> frozenset[str]:
        """Keep ``report``'s step-due label current and write due-soon/missed reminders once.

        Returns:
            The issue's labels after the change (``current`` when nothing changed).

        Raises:
            TrackerRefused, NotFoundError: the tracker refused the label edit or the reminder
                note, or the issue is gone (``SkippableError``; the sync sets the report aside).
            TrackerUnavailable: the tracker did not answer after its retries.
            TrackerAuthError: the token was refused or lacks permission.
            RetriableError, FatalError: the store did not answer or is broken.
        """
        report_id = str(report.report_id)
        if not self.active or not (report_id in self.touched or self._carries_clock(current)):
            return current
        with self.unit_of_work() as uow:
            events = uow.reports.events(report_id)
        clocks = [c for c in clocks_of(report, events) if c.regime in self.policy.enabled]
        if not clocks:
            return current
        steps = [s for c in clocks for s in step_deadlines(c, now, self.policy.due_soon, self.tz)]
        desired = self.policy.due_label_for(current_due_name(steps))
        stale = frozenset(x for x in current if self.policy.is_due_label(x) and x != desired)
        add = frozenset() if desired in current else frozenset({desired})
        labels = current
        if add or stale:
            self.tracker.update_issue(ref, IssueUpdate(add_labels=add, remove_labels=stale))
            labels = (current - stale) | add
            with self.unit_of_work() as uow:
                uow.links.set_labels(report_id, labels)
                uow.commit()
        noted = {e.dedupe_key for e in events}
        for clock in clocks:
            self._note_start(report_id, ref, clock, noted, now)
            self._note_moved(report_id, ref, clock, noted, now)
        # A closed report's legal clocks keep running (the law's periods do not stop when the
        # disclosure report closes): its steps are reminded like an open report's.
        for step in steps:
            self._remind(report_id, ref, step, noted, now, summary)
        self.next_moments[report_id] = _pending_moment(
            report_id, clocks, noted, self.policy.due_soon, self.tz
        )
        return labels

    def _note_start(
        self,
        report_id: str,
        ref: IssueRef,
        clock: RegulatoryClock,
        noted: set[str | None],
        now: datetime,
    ) -> None:
        """One note per regime listing each step's deadline, the issue's record of the dates.

        Its deadlines are remembered too (a ``reg_moved`` key), so ``_note_moved`` writes only
        when they change later.
        """
        key = f"reg_start_noted:{report_id}:{clock.regime.value}"
        if key in noted:
            return
        steps = step_deadlines(clock, now, self.policy.due_soon, self.tz)
        aware, deadlines = self._local(clock.aware_at), self._deadline_lines(steps)
        lines = [
            f"{_STARTED}{clock.regime.value}, aware {aware}):",
            *deadlines,
            (
                f"Record a step with `{self.policy.reported_marker} <step>`; an earlier moment of "
                f"awareness with `{self.policy.aware_marker} <ISO 8601 moment> {clock.regime.value}`."
            ),
        ]
        self.tracker.add_note(ref, "\n".join(lines))
        moved_key = _moved_key(report_id, clock.regime.value, aware, deadlines)
        with self.unit_of_work() as uow:
            uow.reports.add_event(
                ReportEvent(report_id, now, "reg_start_noted", clock.regime.value, dedupe_key=key)
            )
            uow.reports.add_event(
                ReportEvent(report_id, now, "reg_moved", clock.regime.value, dedupe_key=moved_key)
            )
            uow.commit()
        noted.update({key, moved_key})

    def _note_moved(
        self,
        report_id: str,
        ref: IssueRef,
        clock: RegulatoryClock,
        noted: set[str | None],
        now: datetime,
    ) -> None:
        """One "Regulatory clock moved" note each time a started regime's deadlines change.

        They change when an earlier ``[aware]`` moment is recorded, when the CRA final report's
        period starts (``fix_available`` or a measure marker), or when the NIS2 final report's
        period runs from the notification's submission instead of its due moment. Deduplicated
        per regime, awareness moment and each step's start (its due moment), so once per change.
        """
        if f"reg_start_noted:{report_id}:{clock.regime.value}" not in noted:
            return
        steps = step_deadlines(clock, now, self.policy.due_soon, self.tz)
        aware, deadlines = self._local(clock.aware_at), self._deadline_lines(steps)
        key = _moved_key(report_id, clock.regime.value, aware, deadlines)
        if key in noted:
            return
        lines = [
            f"{_MOVED}{clock.regime.value}, aware {aware}); the deadlines now are:",
            *deadlines,
        ]
        self.tracker.add_note(ref, "\n".join(lines))
        with self.unit_of_work() as uow:
            uow.reports.add_event(
                ReportEvent(report_id, now, "reg_moved", clock.regime.value, dedupe_key=key)
            )
            uow.commit()
        noted.add(key)

    def _deadline_lines(self, steps: list[StepDeadline]) -> list[str]:
        return [
            f"- {s.rule.title} ({s.rule.source}): "
            + (self._local(s.due) if s.due else _WAITING.get(s.rule.step, "not started"))
            for s in steps
        ]

    # -- the run summary's counts, from every running clock at each pass

    def count_steps(self, now: datetime, summary: PassSummary) -> None:
        """Add the steps due within ``due_soon`` and the missed ones to ``summary``, every pass.

        Reads only the reports that ever started a regime (a store query on their
        ``reg_started`` events), not every report, so a quiet pass reports the same counts as
        the pass that refreshed them (``regulatory_due_soon``, ``regulatory_missed``).
        """
        if not self.active:
            return
        due_soon = missed = 0
        with self.unit_of_work() as uow:
            for report_id in uow.reports.report_ids_with_event(CLOCK_STARTED_EVENT):
                report = uow.reports.get(report_id)
                if report is None:
                    continue
                for clock in clocks_of(report, uow.reports.events(report_id)):
                    if clock.regime not in self.policy.enabled:
                        continue
                    for step in step_deadlines(clock, now, self.policy.due_soon, self.tz):
                        due_soon += step.status is StepStatus.DUE_SOON
                        missed += step.status is StepStatus.OVERDUE
        if due_soon:
            summary.bump(PassCounter.REGULATORY_DUE_SOON, due_soon)
        if missed:
            summary.bump(PassCounter.REGULATORY_MISSED, missed)

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z")

    def _carries_clock(self, labels: frozenset[str]) -> bool:
        policy = self.policy
        return any(policy.is_due_label(x) or policy.regime_started_by(x) for x in labels)

    def _remind(
        self,
        report_id: str,
        ref: IssueRef,
        step: StepDeadline,
        noted: set[str | None],
        now: datetime,
        summary: PassSummary,
    ) -> None:
        if step.due is None or step.status not in (StepStatus.DUE_SOON, StepStatus.OVERDUE):
            return
        kind = "reg_missed" if step.status is StepStatus.OVERDUE else "reg_due_soon"
        key = f"{kind}:{report_id}:{step.rule.step}"
        if key in noted:
            return
        due = self._local(step.due)
        if step.status is StepStatus.OVERDUE:
            text = (
                f"Regulatory step missed: the {step.rule.source} {step.rule.title} was due {due}."
            )
        else:
            text = (
                f"Regulatory step due soon: the {step.rule.source} {step.rule.title} is due {due}."
            )
        self.tracker.add_note(
            ref, f"{text} Record it with `{self.policy.reported_marker} {step.rule.step}`."
        )
        with self.unit_of_work() as uow:
            uow.reports.add_event(ReportEvent(report_id, now, kind, step.rule.step, dedupe_key=key))
            uow.commit()
        noted.add(key)
        summary.bump(PassCounter.REGULATORY_REMINDERS)


def next_moment(
    report: Report,
    events: list[ReportEvent],
    policy: RegulatoryPolicy,
    tz: tzinfo,
) -> datetime | None:
    """The next moment ``report``'s legal clocks need a pass (a reminder or label due), or None.

    For the pass scheduler's "next moment anything changes" (``reports.next_due_at``), open or
    closed. It depends on the report's events only, not on the time of asking: a step's
    due-soon moment until its due-soon reminder is recorded, then its due moment until its
    missed reminder is recorded, then nothing; a done step never. A moment already past means a
    reminder is owed, so whichever step stores it (sync or the retention purge) leaves the
    report due for the sync to write it. The label moves only at these same moments.

    Args:
        report: the report, open or closed, with its state history.
        events: its events (``clocks_of``'s input and the ``reg_due_soon``/``reg_missed`` marks).
        policy: the program's regulatory settings; regimes not enabled are ignored.
        tz: the program's time zone (a month period ends at its local midnight).
    """
    report_id = str(report.report_id)
    clocks = [c for c in clocks_of(report, events) if c.regime in policy.enabled]
    noted = {e.dedupe_key for e in events}
    return _pending_moment(report_id, clocks, noted, policy.due_soon, tz)


def _pending_moment(
    report_id: str,
    clocks: list[RegulatoryClock],
    noted: set[str | None],
    due_soon: timedelta,
    tz: tzinfo,
) -> datetime | None:
    """``next_moment`` for clocks already rebuilt and the dedupe keys already recorded."""
    moments: list[datetime] = []
    for clock in clocks:
        # Any "now" gives the same due moments; the status is not used here.
        for step in step_deadlines(clock, clock.aware_at, due_soon, tz):
            if step.due is None or step.rule.step in clock.done:
                continue
            if f"reg_missed:{report_id}:{step.rule.step}" in noted:
                continue
            if f"reg_due_soon:{report_id}:{step.rule.step}" in noted:
                moments.append(step.due)
            else:
                moments.append(step.due - due_soon)
    return min(moments) if moments else None


def clock_rows(
    report: Report, events: list[ReportEvent], policy: RegulatoryPolicy, now: datetime, tz: tzinfo
) -> list[dict[str, str]]:
    """Each step of ``report``'s running clocks at ``now``, for ``reports`` (times in ``tz``).

    Returns:
        ``[{"step", "title", "source", "due", "status"}]``; ``due`` is ISO 8601 local time or "".
    """
    rows = []
    for clock in clocks_of(report, events):
        if clock.regime not in policy.enabled:
            continue
        for step in step_deadlines(clock, now, policy.due_soon, tz):
            rows.append(
                {
                    "step": step.rule.step,
                    "title": step.rule.title,
                    "source": step.rule.source,
                    "due": _iso(step.due.astimezone(tz)) if step.due else "",
                    "status": step.status.value,
                }
            )
    return rows


def draft(
    report: Report,
    events: list[ReportEvent],
    step: str,
    now: datetime,
    tz: tzinfo,
    policy: RegulatoryPolicy,
) -> dict[str, str]:
    """The content of ``step``'s report from what the bridge knows; it is sent nowhere.

    Args:
        report: the report, with severity, CVSS vector, fix date and state history.
        events: its events (clock starts, done steps, ``[fact]`` comments).
        step: a step id such as ``cra-notification``.
        now: the moment of drafting.
        tz: the program's time zone; every moment is shown in it.
        policy: the program's regulatory settings.

    Returns:
        Field name to text; an unknown fact reads "(not recorded: add '[fact] <name>: ...')".

    Raises:
        KeyError: ``step`` is not a step id.
    """
    rule = step_rule(step)
    clock = next((c for c in clocks_of(report, events) if c.regime is rule.regime), None)
    facts: dict[str, str] = {}
    for event in events:
        if event.kind == "reg_fact":
            name, _, rest = event.detail.partition("|")
            facts[name] = rest.partition("|")[2]  # the latest comment wins

    def local(moment: datetime | None) -> str:
        return _iso(moment.astimezone(tz)) if moment else ""

    def fact(name: str) -> str:
        return facts.get(name) or f"(not recorded: add '{policy.fact_marker} {name}: ...')"

    due = ""
    if clock is not None:
        found = [d for d in step_deadlines(clock, now, policy.due_soon, tz) if d.rule.step == step]
        due = local(found[0].due) if found else ""
    fixed = report.first_time_in(_FIX_STATES)
    done = clock.done.get(step) if clock else None
    if done is None:
        decision = "open"
    elif done.not_notifiable_reason:
        decision = (
            f"not notifiable (GDPR art. 33(5)), decided by {done.by} at {local(done.at)}: "
            f"{done.not_notifiable_reason}"
        )
    else:
        decision = f"reported, recorded by {done.by} at {local(done.at)}"
    return {
        "step": rule.step,
        "title": rule.title,
        "source": rule.source,
        "report_id": str(report.report_id),
        "received_at": local(report.received_at),
        "aware_at": local(clock.aware_at) if clock else "(regime not started)",
        "due": due,
        "product": fact("product"),
        "severity": report.severity.value,
        "cvss": report.cvss_vector or "",
        "assessment": fact("assessment"),
        "measures": fact("measures"),
        "fix_date": (
            local(report.expected_fix_date) if report.expected_fix_date else "(no fix date yet)"
        ),
        "fix_available_at": local(fixed) if fixed else "",
        "users_informed": fact("users-informed"),
        "decision": decision,
        "drafted_at": local(now),
    }


class NoDraft(LookupError):
    """A draft cannot be made: no such report, or its step's regime has not started."""


def draft_from_store(
    unit_of_work: Callable[[], UnitOfWork],
    report_id: str,
    step: str,
    now: datetime,
    tz: tzinfo,
    policy: RegulatoryPolicy,
) -> dict[str, str]:
    """``draft`` of ``report_id``'s ``step`` read from the store (``regulatory draft``).

    Args:
        unit_of_work: opens a read of the store.
        report_id: e.g. ``CVD-2026-0007``.
        step: a step id such as ``cra-notification``.
        now: the moment of drafting.
        tz: the program's time zone.
        policy: the program's regulatory settings.

    Raises:
        KeyError: ``step`` is not a step id.
        NoDraft: no report ``report_id`` in the store, or the regime of ``step`` has not started
            for it (no start label or ``[aware]`` comment); the message names which.
    """
    regime = step_rule(step).regime
    with unit_of_work() as uow:
        report = uow.reports.get(report_id)
        events = uow.reports.events(report_id) if report else []
    if report is None:
        message = f"{report_id}: no such report in the store"
        raise NoDraft(message)
    if regime not in {clock.regime for clock in clocks_of(report, events)}:
        message = (
            f"{report_id}: the {regime.value} clock has not started (no start label or "
            f"{policy.aware_marker} comment on the issue), so there is no {step} report to draft"
        )
        raise NoDraft(message)
    return draft(report, events, step, now, tz, policy)


_DRAFT_LABELS = {
    "report_id": "Report",
    "received_at": "Report received",
    "aware_at": "Became aware",
    "due": "Due",
    "product": "Product or system",
    "severity": "Severity",
    "cvss": "CVSS vector",
    "assessment": "Our assessment",
    "measures": "Measures taken",
    "fix_date": "Expected fix date",
    "fix_available_at": "Fix available since",
    "users_informed": "Users informed",
    "decision": "Step",
    "drafted_at": "Drafted",
}


def draft_markdown(fields: dict[str, str]) -> str:
    """``draft``'s fields as a Markdown document to paste or upload."""
    lines = [
        f"# {fields['title'].capitalize()} ({fields['source']})",
        "",
        "Draft by tracker-bridge; nothing has been sent to any authority.",
        "",
    ]
    labels = dict(_DRAFT_LABELS)
    source = USERS_INFORMED_SOURCE.get(step_rule(fields["step"]).regime)
    if source is not None:
        labels["users_informed"] = f"Users informed ({source})"
    lines += [f"- **{label}**: {fields[key] or '-'}" for key, label in labels.items()]
    return "\n".join(lines) + "\n"


def _moved_key(report_id: str, regime: str, aware: str, deadline_lines: list[str]) -> str:
    """Dedupe key of one set of deadlines as a note shows them (awareness and each step's due).

    Built from the note's own text so a note read back after a crash gives the same key.
    """
    shown = "\n".join([aware.strip(), *(x.lstrip(" -*").strip() for x in deadline_lines)])
    digest = hashlib.sha256(shown.encode("utf-8")).hexdigest()[:32]
    return f"reg_moved:{report_id}:{regime}:{digest}"


def _iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 to the second (drafts, ``reports --json``, problems, audit)."""
    return moment.isoformat(timespec="seconds")


def _whole_seconds(moment: datetime) -> datetime:
    """``moment`` without its fraction of a second (earlier, so never a later deadline)."""
    return moment.replace(microsecond=0)


def _after(first_line: str, marker: str) -> str | None:
    """The words after ``marker`` at the start of ``first_line`` (case-insensitive), or None."""
    if not first_line.lower().startswith(marker.lower()):
        return None
    return first_line[len(marker) :].strip()

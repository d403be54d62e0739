"""Legal reporting clocks (GDPR art. 33, NIS2 art. 23, CRA art. 14) beside the policy's deadlines.

A regulatory clock counts elapsed absolute hours from the moment of awareness: weekends,
public holidays and daylight-saving changes count like any other hour and nothing pauses. The
local time zone only changes how a moment is shown, never when it falls.

Sources:
    * GDPR (Regulation (EU) 2016/679) art. 33(1): notify the supervisory authority within 72 hours
      of becoming aware, unless the breach is unlikely to result in a risk; art. 33(5): document
      the breach and the decision either way (our "not notifiable" closure with a reason).
    * NIS2 (Directive (EU) 2022/2555) art. 23(4)(a) early warning within 24 hours, (b) incident
      notification within 72 hours, (d) final report not later than one month after the incident
      notification of point (b) was submitted.
    * CRA (Regulation (EU) 2024/2847) art. 14(2)(a) early warning within 24 hours, (b)
      vulnerability notification within 72 hours, (c) final report no later than 14 days after a
      corrective or mitigating measure is available; art. 14(8): the impacted users are informed
      (the drafts' "users informed"). Art. 14 applies from 11 September 2026 (art. 71(2)).
    * When each regime applies: GDPR from 25 May 2018 (art. 99(2)), NIS2's measures from 18 October
      2024 (art. 41(1)), CRA art. 14 from 11 September 2026 (CRA art. 71(2)). An awareness moment
      before that is refused (``applies_from``).
    * "One month" follows Regulation (EEC, Euratom) No 1182/71 art. 3(2)(c): the period ends with
      the expiry of the last hour of the day in the following month with the same date as the day
      from which it runs (the last day of that month when it has no such date). We do not apply
      art. 3(4)'s extension past a weekend or holiday: the earlier moment is the safe one.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass, field
from datetime import UTC as _UTC
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum


class Regime(StrEnum):
    """A legal reporting regime the bridge can keep a clock for."""

    GDPR = "gdpr"
    NIS2 = "nis2"
    CRA = "cra"


class Anchor(StrEnum):
    """The moment a step's period runs from."""

    AWARENESS = "awareness"
    PREVIOUS_STEP = "previous_step"  # the previous step's submission (or its due moment)
    MEASURE_AVAILABLE = "measure_available"  # a corrective or mitigating measure is available


class StepStatus(StrEnum):
    """Where a regulatory step stands at a moment."""

    WAITING = "waiting"  # its period has not started (CRA final report before a measure exists)
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    DONE = "done"


@dataclass(frozen=True)
class StepRule:
    """One reporting step of a regime: its id, the period and what it runs from.

    ``hours`` is an elapsed span in absolute hours; ``months`` a calendar-month span
    (Regulation 1182/71 art. 3(2)(c)). Exactly one of them is set.
    """

    step: str
    regime: Regime
    title: str
    anchor: Anchor
    source: str
    due_name: str
    hours: int | None = None
    months: int | None = None


STEPS: tuple[StepRule, ...] = (
    StepRule(
        "gdpr-notification",
        Regime.GDPR,
        "personal data breach notification",
        Anchor.AWARENESS,
        "GDPR art. 33(1)",
        "72h",
        hours=72,
    ),
    StepRule(
        "nis2-early-warning",
        Regime.NIS2,
        "early warning",
        Anchor.AWARENESS,
        "NIS2 art. 23(4)(a)",
        "24h",
        hours=24,
    ),
    StepRule(
        "nis2-notification",
        Regime.NIS2,
        "incident notification",
        Anchor.AWARENESS,
        "NIS2 art. 23(4)(b)",
        "72h",
        hours=72,
    ),
    StepRule(
        "nis2-final-report",
        Regime.NIS2,
        "final report",
        Anchor.PREVIOUS_STEP,
        "NIS2 art. 23(4)(d)",
        "1m",
        months=1,
    ),
    StepRule(
        "cra-early-warning",
        Regime.CRA,
        "early warning",
        Anchor.AWARENESS,
        "CRA art. 14(2)(a)",
        "24h",
        hours=24,
    ),
    StepRule(
        "cra-notification",
        Regime.CRA,
        "vulnerability notification",
        Anchor.AWARENESS,
        "CRA art. 14(2)(b)",
        "72h",
        hours=72,
    ),
    StepRule(
        "cra-final-report",
        Regime.CRA,
        "final report",
        Anchor.MEASURE_AVAILABLE,
        "CRA art. 14(2)(c)",
        "14d",
        hours=14 * 24,
    ),
)

STEP_IDS = frozenset(rule.step for rule in STEPS)

CRA_REPORTING_APPLIES_FROM = date(2026, 9, 11)
"""CRA art. 14's reporting obligations apply from this date (Regulation (EU) 2024/2847 art. 71(2))."""

APPLIES_FROM: dict[Regime, date] = {
    Regime.GDPR: date(2018, 5, 25),  # Regulation (EU) 2016/679 art. 99(2)
    Regime.NIS2: date(2024, 10, 18),  # Directive (EU) 2022/2555 art. 41(1)
    Regime.CRA: CRA_REPORTING_APPLIES_FROM,  # Regulation (EU) 2024/2847 art. 71(2)
}
"""The first day each regime's reporting duty applies (a local calendar date)."""


def applies_from(regime: Regime) -> date:
    """The first day ``regime``'s reporting duty applies; an awareness before it starts no clock."""
    return APPLIES_FROM[regime]


USERS_INFORMED_SOURCE: dict[Regime, str] = {Regime.CRA: "CRA art. 14(8)"}
"""Where the law asks that users be told, per regime (the drafts' "users informed" line)."""

# Facts the team gives with ``[fact] <name>: <text>`` for the drafts (the rest the bridge knows).
DRAFT_FACTS = ("product", "assessment", "measures", "users-informed")


def steps_of(regime: Regime) -> tuple[StepRule, ...]:
    """The steps of ``regime`` in the order the law lists them."""
    return tuple(rule for rule in STEPS if rule.regime is regime)


def step_rule(step: str) -> StepRule:
    """The rule of step id ``step`` (e.g. ``cra-notification``).

    Raises:
        KeyError: no regime has that step.
    """
    for rule in STEPS:
        if rule.step == step:
            return rule
    raise KeyError(step)


def find_step(regime: Regime, words: str) -> StepRule | None:
    """The step of ``regime`` that free text names: its id or its title ("early warning")."""
    wanted = " ".join(words.lower().replace("-", " ").split())
    for rule in steps_of(regime):
        if wanted in (rule.step.replace("-", " "), rule.title, rule.title.split()[-1]):
            return rule
    return None


def add_months(start: datetime, months: int, tz: tzinfo) -> datetime:
    """End of a period of ``months`` calendar months running from ``start``.

    Regulation (EEC, Euratom) No 1182/71 art. 3(2)(c): the period ends with the expiry of the last
    hour of the day in the last month with the same date as the day from which it runs, or of the
    last day of that month when it has no such date. Returned as the local midnight that ends it.
    """
    local = start.astimezone(tz)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, _calendar.monthrange(year, month)[1])
    end_day = datetime(year, month, day, tzinfo=tz).date() + timedelta(days=1)
    return datetime.combine(end_day, time(0), tzinfo=tz)


def add_hours(start: datetime, hours: int) -> datetime:
    """``start`` plus ``hours`` elapsed hours, counted in UTC so a DST change adds no hour."""
    utc = start.astimezone(_UTC)
    return utc + timedelta(hours=hours)


@dataclass(frozen=True)
class StepDone:
    """A step the team recorded as done: when, by whom, and for GDPR a "not notifiable" reason."""

    at: datetime
    by: str
    not_notifiable_reason: str = ""


@dataclass(frozen=True)
class RegulatoryClock:
    """One regime running for one report.

    ``aware_at`` is the moment of becoming aware (may be earlier than the label that started
    it); ``measure_available_at`` starts the CRA final report's period.
    """

    regime: Regime
    aware_at: datetime
    done: dict[str, StepDone] = field(default_factory=dict)
    measure_available_at: datetime | None = None


@dataclass(frozen=True)
class StepDeadline:
    """One step's deadline at a moment; ``due`` is None while the step is waiting."""

    rule: StepRule
    due: datetime | None
    status: StepStatus
    done: StepDone | None = None


def step_deadlines(
    clock: RegulatoryClock, now: datetime, due_soon: timedelta, tz: tzinfo = _UTC
) -> list[StepDeadline]:
    """Every step of ``clock``'s regime at ``now``, in the law's order.

    Args:
        clock: the running regime.
        now: time-zone aware moment of evaluation.
        due_soon: how long before its due moment a step counts as due soon (e.g. 6 hours).
        tz: the program's time zone; a month period ends at its local midnight.

    Returns:
        One ``StepDeadline`` per step. A month period (NIS2 final report) runs from the previous
        step's submission or, until it is submitted, from that step's due moment.
    """
    result: list[StepDeadline] = []
    previous: StepDeadline | None = None
    for rule in steps_of(clock.regime):
        due = _due(rule, clock, previous, tz)
        done = clock.done.get(rule.step)
        deadline = StepDeadline(rule, due, _status(due, done, now, due_soon), done)
        result.append(deadline)
        previous = deadline
    return result


def _due(
    rule: StepRule, clock: RegulatoryClock, previous: StepDeadline | None, tz: tzinfo
) -> datetime | None:
    if rule.anchor is Anchor.AWARENESS:
        start: datetime | None = clock.aware_at
    elif rule.anchor is Anchor.MEASURE_AVAILABLE:
        start = clock.measure_available_at
    else:
        start = None
        if previous is not None:
            start = previous.done.at if previous.done is not None else previous.due
    if start is None:
        return None
    if rule.hours is not None:
        return add_hours(start, rule.hours)
    return add_months(start, rule.months or 0, tz).astimezone(_UTC)


def _status(
    due: datetime | None, done: StepDone | None, now: datetime, due_soon: timedelta
) -> StepStatus:
    if done is not None:
        return StepStatus.DONE
    if due is None:
        return StepStatus.WAITING
    if now >= due:
        return StepStatus.OVERDUE
    if now >= due - due_soon:
        return StepStatus.DUE_SOON
    return StepStatus.ON_TRACK


def next_change(deadlines: list[StepDeadline], due_soon: timedelta) -> datetime | None:
    """The next moment any of ``deadlines`` changes status by time alone, or None."""
    moments = []
    for deadline in deadlines:
        if deadline.due is None or deadline.status is StepStatus.DONE:
            continue
        if deadline.status is StepStatus.ON_TRACK:
            moments.append(deadline.due - due_soon)
        elif deadline.status is StepStatus.DUE_SOON:
            moments.append(deadline.due)
    return min(moments) if moments else None


def current_due_name(deadlines: list[StepDeadline]) -> str:
    """The ``reg-due::`` label value for ``deadlines``.

    ``overdue`` if any step is missed, else the earliest open step's span name (``24h``,
    ``72h``, ``1m``, ``14d``), ``waiting`` while only a not-yet-started step is open, or ``done``.
    """
    open_steps = [d for d in deadlines if d.status is not StepStatus.DONE]
    if not open_steps:
        return "done"
    if any(d.status is StepStatus.OVERDUE for d in open_steps):
        return "overdue"
    running = sorted((d for d in open_steps if d.due is not None), key=lambda d: d.due or _MIN)
    return running[0].rule.due_name if running else "waiting"


_MIN = datetime.min.replace(tzinfo=_UTC)


@dataclass(frozen=True)
class RegulatoryPolicy:
    """Which regimes the program keeps, and how the team and the tracker speak about them.

    Built from ``[regulatory]`` in program.toml and the tracker mapping (mappings.py). Every
    regime is off unless named in ``enabled``.

    Attributes:
        enabled: regimes the bridge keeps a clock for.
        due_soon: how long before a step's due moment it counts as due soon.
        start_labels: the label that starts each regime (``reg::personal-data-breach``).
        due_label: template with ``{due}`` for the step-due label (``reg-due::{due}``).
        reported_label: template with ``{step}``; the team adds it to record a step as done.
        aware_marker: first word of a comment that starts a regime at a given moment.
        reported_marker: first word of a comment that records a step as done.
        not_notifiable_marker: first word of a comment closing the GDPR step (art. 33(5)).
        measure_marker: first word of a comment saying a corrective measure is available.
        fact_marker: first word of a comment giving a fact for the drafts
            (``[fact] product: Portal 4.2``); fields in ``DRAFT_FACTS``.
    """

    enabled: frozenset[Regime] = frozenset()
    due_soon: timedelta = timedelta(hours=6)
    start_labels: dict[Regime, str] = field(default_factory=dict)
    due_label: str = "reg-due::{due}"
    reported_label: str = "reg-reported::{step}"
    aware_marker: str = "[aware]"
    reported_marker: str = "[reported]"
    not_notifiable_marker: str = "[not notifiable]"
    measure_marker: str = "[measure available]"
    fact_marker: str = "[fact]"

    def due_label_for(self, value: str) -> str:
        """The step-due label showing ``value`` (``24h``, ``overdue`` ...)."""
        return self.due_label.format(due=value)

    def is_due_label(self, label: str) -> bool:
        """True for any label of the step-due family."""
        prefix, _, suffix = self.due_label.partition("{due}")
        return label.startswith(prefix) and label.endswith(suffix) and len(label) > len(prefix)

    def step_reported_by(self, label: str) -> StepRule | None:
        """The step a ``reg-reported::<step id>`` label records as done, or None."""
        prefix, _, suffix = self.reported_label.partition("{step}")
        if not (label.startswith(prefix) and label.endswith(suffix)):
            return None
        step = label[len(prefix) : len(label) - len(suffix) if suffix else None]
        return step_rule(step) if step in STEP_IDS else None

    def regime_started_by(self, label: str) -> Regime | None:
        """The enabled regime whose start label is ``label``, or None."""
        for regime, name in self.start_labels.items():
            if name == label and regime in self.enabled:
                return regime
        return None

    def regime_named(self, name: str) -> Regime | None:
        """The enabled regime an ``[aware]`` comment names, or None.

        Accepted, case-insensitive: the regime's value (``gdpr``, ``nis2``, ``cra``), its whole
        start label (``reg::personal-data-breach``), or the start label's name after its scope
        (after the last ``::`` on GitLab; after the prefix all start labels share, up to a
        ``-``, on Jira: ``personal-data-breach``). A mere suffix (``t``, ``breach``) is none.
        """
        wanted = name.strip().lower()
        if not wanted:
            return None
        for regime in sorted(self.enabled):
            label = self.start_labels.get(regime, "").lower()
            if wanted in (regime.value, label, self._scoped_name(label)):
                return regime
        return None

    def _scoped_name(self, label: str) -> str:
        """``label`` without its scope: after the last ``::``, else after the shared prefix."""
        if "::" in label:
            return label.rsplit("::", 1)[1]
        labels = [x.lower() for x in self.start_labels.values()]
        shared = min(labels, default="")
        longest = max(labels, default="")
        size = next(
            (i for i, (a, b) in enumerate(zip(shared, longest, strict=False)) if a != b),
            len(shared),
        )
        prefix = shared[:size]
        cut = max(prefix.rfind("-"), prefix.rfind(":"), prefix.rfind("/"))
        return label[cut + 1 :] if cut >= 0 and len(self.start_labels) > 1 else label

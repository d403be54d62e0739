"""Regulatory clocks: elapsed hours, the law's step sequences, and month periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tracker_bridge.domain.regulatory import (
    Regime,
    RegulatoryClock,
    RegulatoryPolicy,
    StepDone,
    StepStatus,
    add_hours,
    add_months,
    applies_from,
    current_due_name,
    find_step,
    next_change,
    step_deadlines,
    steps_of,
)

AMS = ZoneInfo("Europe/Amsterdam")
SIX_HOURS = timedelta(hours=6)


def test_72_hours_across_the_october_dst_change_end_one_wall_clock_hour_earlier() -> None:
    """A 72-hour clock from Saturday 24 Oct 2026 10:00 CEST ends Tuesday 09:00 CET (72 real hours)."""
    aware = datetime(2026, 10, 24, 10, 0, tzinfo=AMS)
    due = add_hours(aware, 72)
    assert datetime(2026, 10, 27, 9, 0, tzinfo=AMS) == due.astimezone(AMS)
    assert timedelta(hours=72) == due - aware
    assert timedelta(hours=1) == datetime(2026, 10, 27, 10, 0, tzinfo=AMS) - due


def test_gdpr_notification_due_72_hours_after_awareness_given_earlier_than_the_label() -> None:
    """Awareness given before the label starts the clock at awareness, not at the label."""
    aware = datetime(2026, 11, 28, 9, 0, tzinfo=AMS)
    labelled = datetime(2026, 11, 29, 15, 0, tzinfo=AMS)
    clock = RegulatoryClock(Regime.GDPR, aware)
    [step] = step_deadlines(clock, labelled, SIX_HOURS)
    assert "gdpr-notification" == step.rule.step
    assert datetime(2026, 12, 1, 9, 0, tzinfo=AMS) == step.due
    assert StepStatus.ON_TRACK == step.status


def test_each_regime_lists_its_steps_in_the_laws_order() -> None:
    """GDPR has one step, NIS2 and CRA three each, in the order of art. 23(4) and 14(2)."""
    assert ["gdpr-notification"] == [r.step for r in steps_of(Regime.GDPR)]
    assert ["nis2-early-warning", "nis2-notification", "nis2-final-report"] == [
        r.step for r in steps_of(Regime.NIS2)
    ]
    assert ["cra-early-warning", "cra-notification", "cra-final-report"] == [
        r.step for r in steps_of(Regime.CRA)
    ]


def test_nis2_step_moments_24h_72h_and_one_month_after_the_notification() -> None:
    """NIS2: 24 h and 72 h from awareness; the final report one month after the notification."""
    aware = datetime(2026, 1, 29, 14, 0, tzinfo=AMS)
    submitted = datetime(2026, 1, 31, 11, 0, tzinfo=AMS)
    clock = RegulatoryClock(
        Regime.NIS2,
        aware,
        done={
            "nis2-early-warning": StepDone(datetime(2026, 1, 30, 8, 0, tzinfo=AMS), "alice"),
            "nis2-notification": StepDone(submitted, "alice"),
        },
    )
    early, notification, final = step_deadlines(clock, submitted, SIX_HOURS, AMS)
    assert datetime(2026, 1, 30, 14, 0, tzinfo=AMS) == early.due
    assert datetime(2026, 2, 1, 14, 0, tzinfo=AMS) == notification.due
    # 31 January + one month: February has no 31st, so the period ends at the end of 28 Feb.
    assert datetime(2026, 3, 1, 0, 0, tzinfo=AMS) == final.due
    assert [StepStatus.DONE, StepStatus.DONE, StepStatus.ON_TRACK] == [
        early.status,
        notification.status,
        final.status,
    ]


def test_one_month_ends_with_the_last_hour_of_the_same_date_next_month() -> None:
    """Reg. 1182/71 art. 3(2)(c): from 15 March the month ends at the end of 15 April (local)."""
    start = datetime(2026, 3, 15, 16, 30, tzinfo=AMS)
    assert datetime(2026, 4, 16, 0, 0, tzinfo=AMS) == add_months(start, 1, AMS)


def test_nis2_final_report_runs_from_the_notification_due_moment_until_it_is_submitted() -> None:
    """Before the notification is submitted, the month runs from its 72-hour due moment."""
    aware = datetime(2026, 5, 10, 12, 0, tzinfo=AMS)
    *_, final = step_deadlines(RegulatoryClock(Regime.NIS2, aware), aware, SIX_HOURS, AMS)
    assert datetime(2026, 6, 14, 0, 0, tzinfo=AMS) == final.due


def test_cra_final_report_waits_for_a_measure_then_runs_14_days() -> None:
    """CRA art. 14(2)(c): no final-report clock until a measure is available, then 14 days."""
    aware = datetime(2026, 11, 2, 9, 0, tzinfo=AMS)
    waiting = step_deadlines(RegulatoryClock(Regime.CRA, aware), aware, SIX_HOURS)
    assert [StepStatus.ON_TRACK, StepStatus.ON_TRACK, StepStatus.WAITING] == [
        d.status for d in waiting
    ]
    measure = datetime(2026, 11, 6, 17, 0, tzinfo=AMS)
    running = step_deadlines(
        RegulatoryClock(Regime.CRA, aware, measure_available_at=measure), measure, SIX_HOURS
    )
    assert datetime(2026, 11, 20, 17, 0, tzinfo=AMS) == running[2].due


def test_statuses_due_soon_and_overdue_at_the_boundaries() -> None:
    """Six hours before the 24-hour step it is due soon; at the due moment it is overdue."""
    aware = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)  # a Saturday: weekends count
    clock = RegulatoryClock(Regime.CRA, aware)
    just_before = aware + timedelta(hours=17, minutes=59)
    soon = aware + timedelta(hours=18)
    missed = aware + timedelta(hours=24)
    assert StepStatus.ON_TRACK == step_deadlines(clock, just_before, SIX_HOURS)[0].status
    assert StepStatus.DUE_SOON == step_deadlines(clock, soon, SIX_HOURS)[0].status
    assert StepStatus.OVERDUE == step_deadlines(clock, missed, SIX_HOURS)[0].status


def test_gdpr_not_notifiable_closes_the_step() -> None:
    """Art. 33(5): a documented "not notifiable" decision closes the GDPR step as done."""
    aware = datetime(2026, 12, 1, 9, 0, tzinfo=AMS)
    decided = StepDone(aware + timedelta(hours=5), "bob", "encrypted laptop, key not exposed")
    clock = RegulatoryClock(Regime.GDPR, aware, done={"gdpr-notification": decided})
    [step] = step_deadlines(clock, aware + timedelta(hours=80), SIX_HOURS)
    assert StepStatus.DONE == step.status
    assert "encrypted laptop, key not exposed" == (
        step.done.not_notifiable_reason if step.done else ""
    )


def test_due_label_value_and_next_change() -> None:
    """The label names the earliest open step's span; the next change is 6 h before it is due."""
    aware = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    steps = step_deadlines(RegulatoryClock(Regime.NIS2, aware), aware, SIX_HOURS)
    assert "24h" == current_due_name(steps)
    assert aware + timedelta(hours=18) == next_change(steps, SIX_HOURS)
    late = step_deadlines(
        RegulatoryClock(Regime.NIS2, aware), aware + timedelta(hours=25), SIX_HOURS
    )
    assert "overdue" == current_due_name(late)


def test_find_step_reads_the_teams_words() -> None:
    """The words of "[reported] early warning" name the regime's early-warning step."""
    rule = find_step(Regime.CRA, "early warning")
    assert "cra-early-warning" == (rule.step if rule else None)
    rule = find_step(Regime.NIS2, "final report")
    assert "nis2-final-report" == (rule.step if rule else None)
    assert None is find_step(Regime.GDPR, "early warning")


def test_month_period_ends_at_the_programs_local_midnight_for_utc_moments() -> None:
    """Moments stored in UTC still end a month at Amsterdam midnight, not UTC midnight."""
    aware = datetime(2026, 5, 10, 10, 0, tzinfo=UTC)  # 12:00 CEST
    *_, final = step_deadlines(RegulatoryClock(Regime.NIS2, aware), aware, SIX_HOURS, AMS)
    assert datetime(2026, 6, 14, 0, 0, tzinfo=AMS) == final.due


JIRA_STARTS = {
    Regime.GDPR: "reg-personal-data-breach",
    Regime.NIS2: "reg-significant-incident",
    Regime.CRA: "reg-actively-exploited",
}
GITLAB_STARTS = {regime: label.replace("reg-", "reg::", 1) for regime, label in JIRA_STARTS.items()}


def test_regime_named_accepts_value_whole_label_or_name_after_the_scope() -> None:
    """gdpr, the whole start label and its name after :: (GitLab) or the prefix (Jira) name it."""
    for starts in (GITLAB_STARTS, JIRA_STARTS):
        policy = RegulatoryPolicy(enabled=frozenset(Regime), start_labels=starts)
        named = [
            policy.regime_named(text)
            for text in ("NIS2", starts[Regime.NIS2], "significant-incident")
        ]
        assert [Regime.NIS2, Regime.NIS2, Regime.NIS2] == named


def test_regime_named_refuses_a_mere_suffix_of_a_start_label() -> None:
    """t, breach or incident end a start label but name no regime."""
    for starts in (GITLAB_STARTS, JIRA_STARTS):
        policy = RegulatoryPolicy(enabled=frozenset(Regime), start_labels=starts)
        named = [policy.regime_named(text) for text in ("t", "breach", "incident", "")]
        assert [None, None, None, None] == named


def test_each_regime_applies_from_its_legal_date() -> None:
    """GDPR art. 99(2) 25 May 2018, NIS2 art. 41(1) 18 Oct 2024, CRA art. 71(2) 11 Sep 2026."""
    dates = [applies_from(r).isoformat() for r in (Regime.GDPR, Regime.NIS2, Regime.CRA)]
    assert ["2018-05-25", "2024-10-18", "2026-09-11"] == dates

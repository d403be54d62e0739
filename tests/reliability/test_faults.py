"""Faults: a tracker failing 30% of calls and an SMTP server refusing for a while change nothing in the end.

The GitLab sandbox answers a deterministic pseudo-random 30% of requests with 500, 429 or a
stall longer than the client's timeout; the SMTP server answers 451 for the first passes.
Passes repeated until nothing is pending reach the same store state as a fault-free site.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.reliability.conftest import (
    Keys,
    Scenario,
    Site,
    caught_message_ids,
    end_state,
    mailbox_leftovers,
    reply_mail,
    sent_rows,
    team_moves,
)
from tracker_bridge.app import Bridge
from tracker_bridge.domain.report import State
from tracker_bridge.ports.mail import OutboxStatus
from tracker_bridge.store import open_store

SEED = 7
FAULT_RATE = 0.3
STALL = 0.6  # seconds; the faulty site's tracker gives up after 0.4
MAX_PASSES = 25
REFUSING_PASSES = 2


def inject_faults(site: Site, rng: random.Random, requests: int = 300) -> int:
    """Queue one verdict per coming request: 30% fail (500, 429 or a stall), the rest pass."""
    failing = 0
    for _ in range(requests):
        draw = rng.random()
        if draw < FAULT_RATE / 3:
            site.team.inject_fault(500)
        elif draw < 2 * FAULT_RATE / 3:
            site.team.inject_fault(429, retry_after=0)
        elif draw < FAULT_RATE:
            site.team.inject_fault(0, delay=STALL)
        else:
            site.team.inject_fault(0)  # a pass-through slot keeps the schedule per request
            continue
        failing += 1
    return failing


def one_pass(site: Site) -> dict[str, dict[str, int]]:
    """One scheduled pass in this process; its counts per step."""
    bridge = Bridge.from_config(site.config_path)
    try:
        return {s.step: dict(s.counts) for s in bridge.scheduled_pass().run()}
    finally:
        bridge.close()


def wait_out_backoff(site: Site) -> None:
    """Stand in for the minutes a deferred mail waits: make every queued row due now."""
    store = open_store(site.store_url)
    try:
        with store.unit_of_work() as uow:
            for report in uow.reports.reports_in(frozenset(State)):
                for item in uow.outbox.for_report(str(report.report_id)):
                    if item.status is OutboxStatus.PENDING:
                        item.next_attempt_at = datetime.now(UTC)
                        uow.outbox.save(item)
            uow.commit()
    finally:
        store.dispose()


def issues_open_for_all(site: Site, scenario: Scenario) -> bool:
    """Whether every report of the scenario has its complete issue."""
    titles = [issue.title for issue in site.team.issues()]
    return all(any(mail.subject in title for title in titles) for mail in scenario.reports)


def drive(site: Site, keys: Keys, scenario: Scenario, *, faulty: bool) -> list[Any]:
    """The scenario with passes repeated until settled; faults on for the first stretch."""
    rng = random.Random(SEED)
    log: list[Any] = []

    def settle(limit: int) -> None:
        for _ in range(limit):  # until a pass finds nothing to do
            if faulty:
                site.team.heal()
                inject_faults(site, rng)
            counts = one_pass(site)
            log.append(counts)
            idle = {"changes_read", "already_seen"}
            if issues_open_for_all(site, scenario) and not any(
                key not in idle for step in counts.values() for key in step
            ):
                return
            wait_out_backoff(site)

    for mail in scenario.first_mails():
        site.deliver(mail.name, mail.raw)
    if faulty:
        # SMTP refuses for a while (two passes and their retries), then takes mail again.
        site.smtp.refuse("451 4.3.0 Mail server busy, try again later")
        settle(REFUSING_PASSES)
        site.smtp.accept()
    settle(MAX_PASSES)
    team_moves(site, scenario)
    site.deliver("0100.reply", reply_mail(site, keys, scenario.reply_subject))
    settle(MAX_PASSES)
    site.team.heal()
    faulty = False
    settle(MAX_PASSES)
    return log


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """The end state without issue numbers, which follow the order the tracker let issues open."""
    return {
        subject: {k: (v is not None if k == "issue" else v) for k, v in report.items()}
        for subject, report in state.items()
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_faulty_tracker_and_refusing_smtp_converge_to_the_fault_free_state(
    site_factory: Any, keys: Keys, scenario: Scenario
) -> None:
    """Under 30% tracker faults and SMTP 451s, repeated passes end where a clean run ends."""
    clean = site_factory("clean")
    drive(clean, keys, scenario, faulty=False)
    faulty = site_factory("faulty", tracker_timeout=0.4)
    log = drive(faulty, keys, scenario, faulty=True)
    failed = sum(1 for r in faulty.team.requests() if r.status >= 400)
    print(f"\n{len(log)} passes, {len(faulty.team.requests())} requests, {failed} failed")  # noqa: T201 - the fault summary, for the CI log
    expected, actual = comparable(end_state(clean)), comparable(end_state(faulty))
    for subject, report in expected.items():
        for key, value in report.items():
            if actual.get(subject, {}).get(key) != value:
                print(f"{subject} {key}: clean {value} faulty {actual.get(subject, {}).get(key)}")  # noqa: T201 - each differing field, before the assertion compares the whole state
    assert expected == actual
    assert [] == mailbox_leftovers(faulty)
    assert sorted(sent_rows(clean).values()) == sorted(sent_rows(faulty).values())
    caught = caught_message_ids(faulty)
    assert set(sent_rows(faulty)) == set(caught)
    assert [] == [message_id for message_id, times in caught.items() if times > 1]
    assert failed > 0

"""Crash trials: `run` killed with SIGKILL between any two I/O steps, then run to completion.

A fault-free scenario is traced first to count its checkpoints (every tracker call, mail
fetch and settle, SMTP send and store commit, before and after). Then each trial replays the
scenario on a fresh site and kills the bridge at a different checkpoint, runs it again until
nothing is pending, and checks the end state: one issue per report, each researcher mail
exactly once (a resend after a crash carries the same Message-ID), no message lost or left.
"""

from __future__ import annotations

import os
import queue
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from tests.reliability.conftest import (
    Keys,
    RunResult,
    Scenario,
    Site,
    caught_message_ids,
    copy_home,
    end_state,
    mailbox_leftovers,
    new_site,
    reply_mail,
    sent_rows,
    settled,
    team_moves,
)

if TYPE_CHECKING:
    from pathlib import Path

TRIALS = int(os.environ.get("TRACKER_BRIDGE_TEST_CRASH_TRIALS", "100"))
SEED = 20260507
MARKER = "cvd-report::"
# The scripted passes of the scenario: first mail, after the team's moves, and settling ones.
SCRIPTED_RUNS = 3
MAX_SETTLING_RUNS = 6
WORKERS = 3  # trials at a time: runs wait on gpg and HTTP, so 3 keep two cores busy


@dataclass
class Trial:
    """One replay of the scenario, crashed at ``crash_at`` (None: the fault-free baseline)."""

    crash_at: int | None
    run_index: int | None = None
    local_point: int | None = None
    crashed: bool = False
    runs: int = 0
    seconds: float = 0.0
    state: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    points_per_run: list[int] = field(default_factory=list)


def play(
    site: Site,
    keys: Keys,
    scenario: Scenario,
    *,
    crash_in: tuple[int, int] | None = None,
    trace_dir: Path | None = None,
) -> Trial:
    """Play the scenario on ``site``; crash run ``crash_in[0]`` at its checkpoint ``crash_in[1]``."""
    started = time.monotonic()
    trial = Trial(None, *(crash_in or (None, None)))

    def scripted(index: int) -> RunResult:
        trace = trace_dir / f"run{index}.trace" if trace_dir else None
        crash_at = crash_in[1] if crash_in and crash_in[0] == index else None
        result = site.run(crash_at=crash_at, trace=trace)
        trial.runs += 1
        if trace is not None:
            assert 0 == result.returncode, result.stderr[-2000:]
            trial.points_per_run.append(len(trace.read_text(encoding="utf-8").splitlines()))
        if result.killed:
            trial.crashed = True
            # The next scheduled run; the scenario's later runs and the final settling
            # runs then carry on as cron would.
            result = site.run()
            trial.runs += 1
        check_exit(result)
        return result

    def settle(last: RunResult) -> None:
        # Runs repeated until one finds nothing pending.
        for _ in range(MAX_SETTLING_RUNS):
            if not last.did_work:
                return
            last = site.run()
            trial.runs += 1
            check_exit(last)
        trial.problems.append(f"still working after {MAX_SETTLING_RUNS} settling runs")

    def check_exit(result: RunResult) -> None:
        if result.returncode not in (0, 3):
            trial.problems.append(f"run exited {result.returncode}: {result.stderr[-1500:]}")

    for mail in scenario.first_mails():
        site.deliver(mail.name, mail.raw)
    scripted(0)
    team_moves(site, scenario)
    site.deliver("0100.reply", reply_mail(site, keys, scenario.reply_subject))
    scripted(1)
    settle(scripted(2))
    trial.seconds = time.monotonic() - started
    trial.state = end_state(site)
    return trial


def verify(site: Site, trial: Trial, baseline: Trial) -> list[str]:
    """Everything that must hold after a crash and recovery; an empty list when it does."""
    problems = list(trial.problems)
    reports = trial.state
    if sorted(reports) != sorted(baseline.state):
        problems.append(f"reports {sorted(reports)} != baseline {sorted(baseline.state)}")
    # One issue per report, found by its marker label, and the store links exactly that one.
    issues = site.team.issues()
    markers = Counter(
        label[len(MARKER) :]
        for issue in issues
        for label in issue.labels
        if label.startswith(MARKER)
    )
    if len(issues) != len(reports) or any(n != 1 for n in markers.values()):
        problems.append(f"{len(issues)} issues for {len(reports)} reports; markers {markers}")
    for subject, report in reports.items():
        if markers.get(report["report_id"]) != 1:
            problems.append(f"{subject}: marker label count {markers.get(report['report_id'])}")
        wanted = baseline.state.get(subject, {})
        for key in ("state", "severity", "outbox", "events"):
            if report[key] != wanted.get(key):
                problems.append(f"{subject}: {key} {report[key]} != baseline {wanted.get(key)}")
        if report["issue"] is None:
            problems.append(f"{subject}: no issue linked")
        elif not site.team.issue(int(report["issue"])).confidential:
            problems.append(f"{subject}: issue {report['issue']} is not confidential")
    # Each sent row reached SMTP; a resend after a crash carries the same Message-ID.
    caught = caught_message_ids(site)
    sent = sent_rows(site)
    for message_id, times in caught.items():
        if message_id not in sent:
            problems.append(f"mail {message_id} reached SMTP but is not a sent outbox row")
        if times > 1 + int(trial.crashed):
            problems.append(f"mail {message_id} reached SMTP {times} times")
    for message_id, row in sent.items():
        if caught[message_id] == 0:
            problems.append(f"outbox row {row} is marked sent but never reached SMTP")
    per_mail = Counter(sent.values())
    if any(n != 1 for n in per_mail.values()):
        problems.append(f"a researcher mail was queued and sent twice: {per_mail}")
    # No message lost or left: the inbox is empty, every delivered file settled once.
    if mailbox_leftovers(site):
        problems.append(f"left in the inbox: {mailbox_leftovers(site)}")
    if settled(site) != sorted(site.delivered):
        problems.append(f"settled {settled(site)} != delivered {sorted(site.delivered)}")
    return problems


@pytest.fixture(scope="module")
def baseline(keys: Keys, scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """The scenario without a crash, traced: its end state and checkpoints per scripted run."""
    directory = tmp_path_factory.mktemp("baseline")
    site = new_site(keys, directory / "site")
    try:
        trial = play(site, keys, scenario, trace_dir=directory)
        problems = verify(site, trial, trial)
    finally:
        site.stop()
    assert [] == problems
    assert SCRIPTED_RUNS == len(trial.points_per_run)
    return trial


def crash_points(points_per_run: list[int], count: int, seed: int) -> list[tuple[int, int]]:
    """``count`` distinct checkpoints spread over every scripted run, as (run, point in run)."""
    total = sum(points_per_run)
    rng = random.Random(seed)
    # Stratified: one point drawn from each of ``count`` equal slices, so the whole range is hit.
    chosen = [
        rng.randint(1 + slot * total // count, (slot + 1) * total // count) for slot in range(count)
    ]
    located = []
    for point in chosen:
        run, before = 0, 0
        while point > before + points_per_run[run]:
            before += points_per_run[run]
            run += 1
        located.append((run, point - before))
    return located


def test_crash_points_cover_the_whole_scenario() -> None:
    """The sample is deterministic, distinct, and reaches into every scripted run."""
    points = crash_points([120, 60, 30], 100, SEED)
    assert crash_points([120, 60, 30], 100, SEED) == points
    assert 100 == len(set(points))
    assert {0, 1, 2} == {run for run, _ in points}


@pytest.mark.slow
# 100 trials take 4-7 min on an idle 2-core machine; the limit leaves room for a loaded one.
@pytest.mark.timeout(1800)
def test_every_crash_point_recovers_to_the_baseline(
    keys: Keys, scenario: Scenario, baseline: Trial, tmp_path: Path
) -> None:
    """After SIGKILL at any of 100+ checkpoints and re-runs, the end state equals the crash-free one."""
    total = sum(baseline.points_per_run)
    points = crash_points(baseline.points_per_run, min(TRIALS, total), SEED)
    print(f"\ncheckpoints per scripted run {baseline.points_per_run} (total {total})")  # noqa: T201 - the trial plan, for the CI log

    homes: queue.Queue[str] = queue.Queue()
    for _ in range(WORKERS):
        homes.put(copy_home(keys.bridge_home))

    def one(index_point: tuple[int, tuple[int, int]]) -> tuple[Trial, list[str]]:
        index, point = index_point
        home = homes.get()
        site = new_site(keys, tmp_path / f"t{index:03d}", home=home)
        try:
            trial = play(site, keys, scenario, crash_in=point)
            return trial, verify(site, trial, baseline)
        finally:
            site.stop()
            homes.put(home)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = list(pool.map(one, enumerate(points)))
    seconds = time.monotonic() - started
    failures = {
        f"run {t.run_index} point {t.local_point}": problems for t, problems in outcomes if problems
    }
    crashed = sum(1 for t, _ in outcomes if t.crashed)
    print(  # noqa: T201 - the trial summary, for the CI log
        f"{len(points)} trials, {crashed} crashed, {sum(t.runs for t, _ in outcomes)} runs, "
        f"{seconds:.0f} s"
    )
    for where, problems in failures.items():
        print(f"crash at {where}:", *problems, sep="\n  ")  # noqa: T201 - each failing crash point, before the assertion sums them up
    assert {} == failures
    assert min(TRIALS, total) == len(set(points))
    assert crashed == len(points)

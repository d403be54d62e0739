"""Sync cost at 10,000 and 100,000 tracked reports: requests, reports touched, time and memory.

Seeds the GitLab sandbox's project state and a SQLite store directly (not through ingest),
then runs the real Sync service with the real GitLab plugin over HTTP and counts requests in
the sandbox's request log. Each size runs in a fresh process: one for the timings (no
tracemalloc: it slows a pass about fourfold) and one for the tracemalloc peak of a quiet pass.

Passes measured per size, after a first pass that looks at every report once (as the first
pass after ``db upgrade`` does):

- quiet: nothing changed in the tracker and no report's time-driven moment has come;
- due: seven hours later, ``--due`` reports' progress update has become overdue (their deadline
  label moves): the work a pass does should follow these, not the reports tracked;
- changed: the team edited ``CHANGED`` issues.

Run: ``python bench/sync.py [--reports 10000] [--big 100000] [--due 100]``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker_bridge_gitlab.sandbox.server import GitLabSandbox, start_sandbox
from tracker_bridge_gitlab.sandbox.state import Issue, _stamp
from tracker_bridge_gitlab.tracker import MARKER_PREFIX, PER_PAGE, GitLabSettings, GitLabTracker

from tracker_bridge.app import build_program
from tracker_bridge.demo.installation import PACKAGED_MAPPINGS
from tracker_bridge.domain.report import Report, ReportId, State
from tracker_bridge.domain.researcher import Researcher
from tracker_bridge.domain.severity import Severity
from tracker_bridge.mappings import load_mappings
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.ports.tracker import IssueRef
from tracker_bridge.services.sync import Sync
from tracker_bridge.store import Store, open_store
from tracker_bridge.testing.sandbox.clock import SandboxClock

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from tracker_bridge.services.context import Program

CHANGED = 100
PROJECT = "security/cvd"
QUIET_GOAL_SECONDS = 1.0
SANDBOX = "http://127.0.0.1"  # stored issue URLs only; the plugin addresses issues by key


def bench_report(program: Program, n: int, count: int, due: int, now: datetime) -> Report:
    """Report ``n`` of ``count``: triaged 20 days ago; the last ``due`` soon owe an update.

    Those last heard from the bridge 14 days minus 6 hours before ``now``: their progress
    update is due soon at ``now`` and overdue 6 hours later. The others change by time alone
    only days from now.
    """
    received = now - timedelta(days=20)
    report = Report(
        report_id=ReportId(program.id_prefix, now.year, n),
        program="default",
        received_at=received,
    )
    report.transition(State.ACKNOWLEDGED, received + timedelta(hours=1))
    report.transition(State.TRIAGED, received + timedelta(hours=2))
    report.severity = Severity.MEDIUM
    report.expected_fix_date = now + timedelta(days=60)
    quiet_for = timedelta(days=14, hours=-6) if n > count - due else timedelta()
    report.last_researcher_update_at = now - quiet_for
    return report


def labels_of(program: Program, report: Report, now: datetime) -> set[str]:
    """Exactly the labels the bridge wants on the report's issue at ``now``, and its marker."""
    status = program.deadline_status(report, now)
    wanted = program.labels.for_report(report.severity, report.state, status)
    return set(wanted) | {MARKER_PREFIX + str(report.report_id)}


def seed_store(path: Path, program: Program, count: int, due: int, now: datetime) -> None:
    """A SQLite store with ``count`` linked reports and the bookmark after all their changes."""
    store = open_store(f"sqlite:///{path}")
    researcher = Researcher(email="bench@research.example", display_name="Bench")
    batch = 2000
    for start in range(0, count, batch):
        with store.unit_of_work() as uow:
            if start == 0:
                uow.researchers.save(researcher)
            for n in range(start + 1, min(start + batch, count) + 1):
                report = bench_report(program, n, count, due, now)
                report_id = str(report.report_id)
                uow.reports.add(
                    report,
                    researcher.email,
                    ReportContent(
                        report_id=report_id,
                        subject="bench",
                        body="bench",
                        encrypted=True,
                        signature=SignatureCheck(SignatureStatus.NONE),
                    ),
                )
                ref = IssueRef("gitlab", PROJECT, str(n), f"{SANDBOX}/{PROJECT}/-/issues/{n}")
                uow.links.link(report_id, ref)
                uow.links.set_labels(report_id, frozenset(labels_of(program, report, now)))
            uow.commit()
    with store.unit_of_work() as uow:
        # The bookmark stands after every seeded change: the next pass has nothing to read.
        uow.bookmarks.set(f"gitlab:{PROJECT}", now - timedelta(minutes=1))
        uow.commit()
    store.dispose()


def seed_sandbox(
    sandbox: GitLabSandbox, program: Program, count: int, due: int, now: datetime
) -> None:
    """The project's issues, one per report, last updated before the bookmark."""
    old = _stamp(now - timedelta(minutes=30))
    for n in range(1, count + 1):
        report = bench_report(program, n, count, due, now)
        sandbox.state.issues[n] = Issue(
            id=1000 + n,
            iid=n,
            title=f"{report.report_id}: bench",
            description="bench",
            author="tracker-bridge",
            created_at=old,
            updated_at=old,
            confidential=True,
            labels=sorted(labels_of(program, report, now)),
            due_date=(now + timedelta(days=60)).date().isoformat(),
        )


def build(
    seeded: Path, directory: Path, count: int, due: int, now: datetime
) -> tuple[GitLabSandbox, Store, Sync, SandboxClock]:
    """A copy of the seeded store, a seeded sandbox, and the Sync service wired to them."""
    sandbox = start_sandbox()
    seed_sandbox(sandbox, packaged_program(), count, due, now)
    return (sandbox, *wire(seeded, directory, sandbox.url))


def wire(seeded: Path, directory: Path, url: str) -> tuple[Store, Sync, SandboxClock]:
    """A copy of the seeded store and the Sync service with the GitLab plugin at ``url``."""
    copy = directory / "bench.sqlite3"
    shutil.copyfile(seeded, copy)
    store = open_store(f"sqlite:///{copy}")
    tracker = GitLabTracker(
        GitLabSettings(
            url=url,
            project=PROJECT,
            token="sandbox-token",  # noqa: S106 - the sandbox's published demo token
            bridge_username="tracker-bridge",
        )
    )
    clock = SandboxClock()
    sync = Sync(
        packaged_program(), store.unit_of_work, tracker, clock, bookmark_name=f"gitlab:{PROJECT}"
    )
    return store, sync, clock


def packaged_program() -> Program:
    """The packaged program, as app.py builds it."""
    return build_program(load_mappings(PACKAGED_MAPPINGS, "gitlab"))


def serve_sandbox(count: int, due: int, now: datetime, conn: Connection) -> None:
    """In a forked process: the seeded sandbox, serving until told to stop."""
    sandbox = start_sandbox()
    seed_sandbox(sandbox, packaged_program(), count, due, now)
    conn.send(sandbox.url)
    conn.recv()
    sandbox.stop()


def one_pass(sandbox: GitLabSandbox, sync: Sync) -> dict[str, Any]:
    """Requests, seconds and reports touched of one sync pass."""
    sandbox.team.reset_request_log()
    summary = PassSummary("sync")
    started = time.perf_counter()
    sync.run(summary)
    seconds = time.perf_counter() - started
    # Before the next-moment index every pass looked at every open report (no counter then).
    touched = getattr(sync, "reports_checked", None)
    return {
        "requests": len(sandbox.team.requests()),
        "seconds": seconds,
        "touched": touched,
        "counts": dict(summary.counts),
    }


def tracker_alone(store: Store, sync: Sync) -> float:
    """Seconds for the quiet pass's one tracker call alone: the in-process sandbox's share.

    The sandbox filters every issue in Python for ``updated_after`` (GitLab does that in its
    database), in this process: its time and memory grow with the issues, not the bridge's.
    """
    with store.unit_of_work() as uow:
        since = uow.bookmarks.get(f"gitlab:{PROJECT}")
    started = time.perf_counter()
    list(sync.tracker.changes_since(since))
    return time.perf_counter() - started


def timing_child(seeded: Path, count: int, due: int, now: datetime) -> None:
    """In a fresh process over a copy of the seeded store: the passes' figures as JSON."""
    with tempfile.TemporaryDirectory(prefix="tbbench") as directory:
        sandbox, store, sync, clock = build(seeded, Path(directory), count, due, now)
        first = one_pass(sandbox, sync)  # looks at every report once, settles the bookmark
        clock.offset = timedelta(minutes=1)
        quiet = one_pass(sandbox, sync)
        quiet["tracker_alone"] = tracker_alone(store, sync)
        clock.offset = timedelta(hours=7)
        due_pass = one_pass(sandbox, sync)
        echo = one_pass(sandbox, sync)  # the bridge's own label writes read back once
        for n in range(1, CHANGED + 1):
            sandbox.team.set_labels(n * (count // CHANGED), {"team::looked-at"})
        changed = one_pass(sandbox, sync)
        print(
            json.dumps(
                {
                    "first": first,
                    "quiet": quiet,
                    "due": due_pass,
                    "echo": echo,
                    "changed": changed,
                }
            )
        )
        sandbox.stop()
        store.dispose()


def memory_child(seeded: Path, count: int, due: int, now: datetime) -> None:
    """In a fresh process over a copy of the seeded store: the tracemalloc peak of a quiet pass.

    The sandbox serves from a forked process, so the peak is the bridge's own (the sandbox
    filters every issue in Python per request; GitLab does that in its database).
    """
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve_sandbox, args=(count, due, now, theirs))
    server.start()
    url = ours.recv()
    with tempfile.TemporaryDirectory(prefix="tbbench") as directory:
        store, sync, clock = wire(seeded, Path(directory), url)
        sync.run(PassSummary("sync"))  # warm: imports, connections, every report looked at once
        clock.offset = timedelta(minutes=1)
        tracemalloc.start()
        sync.run(PassSummary("sync"))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(json.dumps({"peak": peak}))
        store.dispose()
    ours.send("stop")
    server.join()


def child(kind: str, seeded: Path, count: int, due: int, now: datetime) -> dict[str, Any]:
    """Run ``kind`` (timing or memory) for ``count`` reports in a fresh interpreter."""
    completed = subprocess.run(
        [
            sys.executable,
            __file__,
            f"--{kind}-child",
            str(count),
            "--due",
            str(due),
            "--store",
            str(seeded),
            "--now",
            now.isoformat(),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def touched(figures: dict[str, Any], everything: int) -> str:
    """Reports a pass looked at (every open report when the pass kept no count)."""
    value = figures["touched"]
    return f"{everything:,} (all)" if value is None else f"{value:,}"


def main() -> None:
    """Print each figure beside its floor or goal."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--timing-child", type=int, default=None)
    parser.add_argument("--memory-child", type=int, default=None)
    parser.add_argument("--store", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--now", type=datetime.fromisoformat, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timing_child is not None:
        timing_child(args.store, args.timing_child, args.due, args.now)
        return
    if args.memory_child is not None:
        memory_child(args.store, args.memory_child, args.due, args.now)
        return
    with tempfile.TemporaryDirectory(prefix="tbbench") as directory:
        report(args, Path(directory))


def report(args: argparse.Namespace, directory: Path) -> None:
    """Seed each size once, run the timing and memory children over copies, print the table."""
    program = packaged_program()
    rows: list[tuple[str, str, str, bool]] = []
    timings: dict[int, dict[str, Any]] = {}
    peaks: dict[int, int] = {}
    for count in (args.reports, args.big):
        now = datetime.now(UTC)
        seeded = directory / f"seeded-{count}.sqlite3"
        started = time.perf_counter()
        seed_store(seeded, program, count, args.due, now)
        seconds = time.perf_counter() - started
        figures = timings[count] = child("timing", seeded, count, args.due, now)
        peaks[count] = child("memory", seeded, count, args.due, now)["peak"]
        seeded.unlink()
        quiet, due, changed = figures["quiet"], figures["due"], figures["changed"]
        n = f"{count:,} reports"
        print(
            f"{n}: seeded in {seconds:.1f} s; first pass (looks at every report) "
            f"{figures['first']['seconds']:.2f} s",
            flush=True,
        )
        rows += [
            (f"{n}, quiet pass: requests", str(quiet["requests"]), "<= 2", quiet["requests"] <= 2),
            (
                f"{n}, quiet pass: reports touched",
                touched(quiet, count),
                "0",
                quiet["touched"] == 0,
            ),
            (
                f"{n}, quiet pass: wall time",
                f"{quiet['seconds']:.3f} s",
                f"<= {QUIET_GOAL_SECONDS:.0f} s",
                quiet["seconds"] <= QUIET_GOAL_SECONDS,
            ),
            (
                f"{n}, quiet pass: of which the sandbox's answer",
                f"{quiet['tracker_alone']:.3f} s",
                "(floor: the one request)",
                True,
            ),
            (
                f"{n}, pass with {args.due} due events: reports touched",
                touched(due, count),
                f"{args.due}",
                due["touched"] == args.due,
            ),
            (
                f"{n}, pass with {args.due} due events: labels written",
                str(due["counts"].get("labels_updated", 0)),
                f"{args.due}",
                due["counts"].get("labels_updated", 0) == args.due,
            ),
            (
                f"{n}, pass with {args.due} due events: wall time",
                f"{due['seconds']:.2f} s",
                "(printed)",
                True,
            ),
        ]
        goal = 2 + math.ceil(CHANGED / PER_PAGE)
        rows += [
            (
                f"{n}, pass with {CHANGED} changed issues: requests",
                str(changed["requests"]),
                f"<= {goal}",
                changed["requests"] <= goal,
            ),
            (
                f"{n}, pass with {CHANGED} changed issues: reports touched",
                touched(changed, count),
                f"{CHANGED}",
                changed["touched"] == CHANGED,
            ),
            (
                f"{n}, pass with {CHANGED} changed issues: wall time",
                f"{changed['seconds']:.2f} s",
                "(printed)",
                True,
            ),
        ]
    small, big = timings[args.reports], timings[args.big]
    ratio = big["due"]["seconds"] / max(small["due"]["seconds"], 1e-9)
    rows.append(
        (
            f"due-events pass time, {args.big:,} / {args.reports:,} reports",
            f"{ratio:.2f}x",
            "<= 1.5x (proportional to events)",
            ratio <= 1.5,
        )
    )
    naive = args.big
    rows.append(
        (
            f"naive per-issue poller at {args.big:,}: requests per pass / quiet pass",
            f"{naive / max(big['quiet']['requests'], 1):,.0f}x",
            ">= 1,000x",
            naive / max(big["quiet"]["requests"], 1) >= 1000,
        )
    )
    memory_small, memory_big = peaks[args.reports], peaks[args.big]
    growth = memory_big / max(memory_small, 1)
    rows += [
        (
            f"peak memory of a quiet pass, {args.reports:,} reports",
            f"{memory_small / 1e6:.2f} MB",
            "(fresh process, sandbox apart)",
            True,
        ),
        (
            f"peak memory of a quiet pass, {args.big:,} reports",
            f"{memory_big / 1e6:.2f} MB",
            "(fresh process, sandbox apart)",
            True,
        ),
        ("peak memory ratio big / small", f"{growth:.2f}", "<= 1.20 (flat)", growth <= 1.2),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>14}  {'floor or goal':>32}  ok")
    for name, value, goal_text, ok in rows:
        print(f"{name:<{width}}  {value:>14}  {goal_text:>32}  {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()

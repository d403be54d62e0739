"""Sync cost at 10,000 tracked reports: tracker requests, wall time and peak memory beside their goals.

Seeds the GitLab sandbox's project state and a SQLite store directly (not through ingest),
then runs the real Sync service with the real GitLab plugin over HTTP and counts requests in
the sandbox's request log. Run: ``python bench/sync.py [--reports 10000] [--big 100000]``.
The memory figure comes from a fresh subprocess per size (tracemalloc peak of one pass).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracker_bridge_gitlab.sandbox.server import GitLabSandbox, start_sandbox
from tracker_bridge_gitlab.sandbox.state import Issue, _stamp
from tracker_bridge_gitlab.tracker import MARKER_PREFIX, PER_PAGE, GitLabSettings, GitLabTracker

from tracker_bridge.app import build_program
from tracker_bridge.domain.report import Report, ReportId, State
from tracker_bridge.domain.researcher import Researcher
from tracker_bridge.domain.severity import Severity
from tracker_bridge.mappings import load_mappings
from tracker_bridge.ports import (
    IssueRef,
    PassSummary,
    ReportContent,
    SignatureCheck,
    SignatureStatus,
)
from tracker_bridge.services.context import Program
from tracker_bridge.services.sync import Sync
from tracker_bridge.store import Store, open_store
from tracker_bridge.testing.installation import PACKAGED_MAPPINGS

CHANGED = 100
PROJECT = "security/cvd"


def seed(sandbox: GitLabSandbox, store: Store, program: Program, count: int) -> datetime:
    """``count`` triaged reports, each with its issue carrying exactly the labels the bridge wants."""
    now = datetime.now(UTC)
    received = now - timedelta(hours=1)
    state = sandbox.state
    old = _stamp(now - timedelta(minutes=30))
    researcher = Researcher(email="bench@research.example", display_name="Bench")
    content = ReportContent(
        report_id="",
        subject="bench",
        body="bench",
        encrypted=True,
        signature=SignatureCheck(SignatureStatus.NONE),
        unencrypted_parts=(),
        attachments=(),
    )
    batch = 2000
    for start in range(0, count, batch):
        with store.unit_of_work() as uow:
            if start == 0:
                uow.researchers.save(researcher)
            for n in range(start + 1, min(start + batch, count) + 1):
                report_id = ReportId(program.id_prefix, now.year, n)
                report = Report(report_id=report_id, program="default", received_at=received)
                report.transition(State.ACKNOWLEDGED, received)
                report.transition(State.TRIAGED, received + timedelta(minutes=1))
                report.severity = Severity.MEDIUM
                report.expected_fix_date = now + timedelta(days=60)
                uow.reports.add(
                    report,
                    researcher.email,
                    ReportContent(**{**content.__dict__, "report_id": str(report_id)}),
                )
                uow.reports.save(report)
                status = program.deadline_status(report, now)
                labels = program.labels.for_report(report.severity, report.state, status)
                marker = MARKER_PREFIX + str(report_id)
                ref = IssueRef("gitlab", PROJECT, str(n), f"{sandbox.url}/{PROJECT}/-/issues/{n}")
                uow.links.link(str(report_id), ref)
                uow.links.set_labels(str(report_id), frozenset(labels) | {marker})
                state.issues[n] = Issue(
                    id=1000 + n,
                    iid=n,
                    title=f"{report_id}: bench",
                    description="bench",
                    author="tracker-bridge",
                    created_at=old,
                    updated_at=old,
                    confidential=True,
                    labels=sorted(labels | {marker}),
                    due_date=(now + timedelta(days=60)).date().isoformat(),
                )
            uow.commit()
    with store.unit_of_work() as uow:
        # The bookmark stands after every seeded change: the next pass has nothing to read.
        uow.bookmarks.set(f"gitlab:{PROJECT}", now - timedelta(minutes=1))
        uow.commit()
    return now


def build(directory: Path, count: int) -> tuple[GitLabSandbox, Store, Sync]:
    """A seeded sandbox and store, and the Sync service wired to them."""
    sandbox = start_sandbox()
    store = open_store(f"sqlite:///{directory / 'bench.sqlite3'}")
    program = build_program(load_mappings(PACKAGED_MAPPINGS, "gitlab"))
    seed(sandbox, store, program, count)
    tracker = GitLabTracker(
        GitLabSettings(
            url=sandbox.url,
            project=PROJECT,
            token="sandbox-token",  # noqa: S106 - the sandbox's published demo token
            bridge_username="tracker-bridge",
        )
    )

    class Clock:
        def now(self) -> datetime:
            return datetime.now(UTC)

    sync = Sync(program, store.unit_of_work, tracker, Clock(), bookmark_name=f"gitlab:{PROJECT}")
    return sandbox, store, sync


def one_pass(sandbox: GitLabSandbox, sync: Sync) -> tuple[int, float, PassSummary]:
    """Requests and seconds of one sync pass."""
    sandbox.team.reset_request_log()
    summary = PassSummary("sync")
    started = time.perf_counter()
    sync.run(summary)
    return len(sandbox.team.requests()), time.perf_counter() - started, summary


def memory_child(count: int) -> None:
    """In a fresh process: seed ``count`` reports, then print the tracemalloc peak of one pass."""
    with tempfile.TemporaryDirectory(prefix="tbbench") as directory:
        sandbox, store, sync = build(Path(directory), count)
        one_pass(sandbox, sync)  # warm: imports, connections, the bookmark settles
        tracemalloc.start()
        requests, seconds, _ = one_pass(sandbox, sync)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(json.dumps({"peak": peak, "requests": requests, "seconds": seconds}))
        sandbox.stop()
        store.dispose()


def memory_of(count: int) -> dict[str, Any]:
    """The memory child's figures for ``count`` reports."""
    completed = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Print each figure beside its goal."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--memory-child", type=int, default=None)
    args = parser.parse_args()
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return
    rows: list[tuple[str, str, str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="tbbench") as directory:
        started = time.perf_counter()
        sandbox, store, sync = build(Path(directory), args.reports)
        print(f"seeded {args.reports} reports in {time.perf_counter() - started:.1f} s")
        one_pass(sandbox, sync)  # the first pass settles the bookmark at its signpost
        requests, seconds, _ = one_pass(sandbox, sync)
        rows.append(("no-change pass: requests per project", str(requests), "<= 2", requests <= 2))
        rows.append(("no-change pass: wall time", f"{seconds:.2f} s", "(printed)", True))
        for n in range(1, CHANGED + 1):
            sandbox.team.set_labels(n * (args.reports // CHANGED), {"team::looked-at"})
        requests_changed, seconds_changed, _ = one_pass(sandbox, sync)
        goal = 2 + math.ceil(CHANGED / PER_PAGE)
        rows.append(
            (
                f"pass with {CHANGED} changed issues: requests",
                str(requests_changed),
                f"<= {goal}",
                requests_changed <= goal,
            )
        )
        rows.append(
            (
                f"pass with {CHANGED} changed issues: wall time",
                f"{seconds_changed:.2f} s",
                "(printed)",
                True,
            )
        )
        naive = args.reports
        ratio = naive / max(requests, 1)
        rows.append(
            ("naive per-issue poller: requests per pass", str(naive), "(one GET each)", True)
        )
        rows.append(("ratio naive / no-change pass", f"{ratio:,.0f}x", ">= 1,000x", ratio >= 1000))
        sandbox.stop()
        store.dispose()
    small = memory_of(args.reports)
    big = memory_of(args.big)
    growth = big["peak"] / max(small["peak"], 1)
    rows.append(
        (
            f"peak memory of a pass, {args.reports} reports",
            f"{small['peak'] / 1e6:.1f} MB",
            "",
            True,
        )
    )
    rows.append(
        (f"peak memory of a pass, {args.big} reports", f"{big['peak'] / 1e6:.1f} MB", "", True)
    )
    rows.append(("peak memory ratio big / small", f"{growth:.2f}", "<= 1.20", growth <= 1.2))
    rows.append(
        (
            f"no-change pass wall time, {args.big} reports",
            f"{big['seconds']:.2f} s",
            "(printed)",
            True,
        )
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>12}  {'goal':>16}  ok")
    for name, value, goal_text, ok in rows:
        print(f"{name:<{width}}  {value:>12}  {goal_text:>16}  {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()

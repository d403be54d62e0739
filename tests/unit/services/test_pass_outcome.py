"""The exit code a pass's counts earn: README "Exit codes", precedence 5, 6, 4, 7, 3."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import tracker_bridge
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.services.pass_outcome import DEFERRING, ExitCode, PassCounter, exit_code

ALERTING = (
    PassCounter.TRACKER_AUTH_REFUSED,
    PassCounter.NOT_IN_TRACKER,
    PassCounter.TRACKER_OUTAGE_ALERT,
    PassCounter.FAILED,
)


def summaries_counting(*counters: PassCounter) -> list[PassSummary]:
    """One summary per counter, each counting it once (as separate steps would)."""
    made = []
    for counter in counters:
        summary = PassSummary("step")
        summary.bump(counter)
        made.append(summary)
    return made


@pytest.mark.parametrize(
    ("counters", "expected"),
    [
        ((*ALERTING, PassCounter.DEFERRED), ExitCode.TRACKER_AUTH),
        ((*ALERTING[1:], PassCounter.DEFERRED), ExitCode.NOT_IN_TRACKER),
        ((*ALERTING[2:], PassCounter.DEFERRED), ExitCode.TRACKER_OUTAGE),
        ((*ALERTING[3:], PassCounter.DEFERRED), ExitCode.MAIL_FAILED),
        ((PassCounter.DEFERRED,), ExitCode.DEFERRED),
        ((PassCounter.SENT, PassCounter.CHANGES_READ), ExitCode.OK),
    ],
)
def test_the_most_urgent_alert_wins_in_the_readme_order(
    counters: tuple[PassCounter, ...], expected: ExitCode
) -> None:
    """5 beats 6 beats 4 beats 7 beats 3; counts that need nobody give 0."""
    assert expected == exit_code(summaries_counting(*counters))


def test_exit_codes_are_the_numbers_the_readme_documents() -> None:
    """0 ok, 1 failure, 2 usage, 3 deferred, 4 outage, 5 token, 6 not in tracker, 7 mail failed."""
    assert [0, 1, 2, 3, 4, 5, 6, 7] == [
        ExitCode.OK,
        ExitCode.FAILURE,
        ExitCode.USAGE,
        ExitCode.DEFERRED,
        ExitCode.TRACKER_OUTAGE,
        ExitCode.TRACKER_AUTH,
        ExitCode.NOT_IN_TRACKER,
        ExitCode.MAIL_FAILED,
    ]


@pytest.mark.parametrize("counter", sorted(DEFERRING))
def test_every_deferring_counter_earns_3(counter: PassCounter) -> None:
    """Quarantined, deferred, refused or skipped items mean "the next pass retries": exit 3."""
    assert ExitCode.DEFERRED == exit_code(summaries_counting(counter))


def test_a_command_adds_its_own_deferring_counters() -> None:
    """rate_limited earns 3 only where the command says so (notify), else 0 (run)."""
    summaries = summaries_counting(PassCounter.RATE_LIMITED)
    assert (ExitCode.OK, ExitCode.DEFERRED) == (
        exit_code(summaries),
        exit_code(summaries, {PassCounter.RATE_LIMITED}),
    )


def test_a_problem_without_a_deferring_count_still_earns_3() -> None:
    """A step that said something is wrong never exits 0."""
    summary = PassSummary("purge")
    summary.problems.append("purge: a mailbox copy could not be deleted")
    assert ExitCode.DEFERRED == exit_code([summary])


def test_counters_print_as_their_plain_names() -> None:
    """A member bumped into a summary is the plain name in text and in --json."""
    summary = PassSummary("sync")
    summary.bump(PassCounter.TRACKER_OUTAGE_ALERT)
    assert ('{"tracker_outage_alert": 1}', "tracker_outage_alert") == (
        json.dumps(summary.counts),
        f"{next(iter(summary.counts))}",
    )


def test_every_counter_the_code_bumps_by_name_is_a_pass_counter() -> None:
    """A count bumped as a string literal anywhere in the package is listed in PassCounter."""
    root = Path(tracker_bridge.__file__).parent
    bumped = {
        f"{path.relative_to(root)}:{node.lineno} {node.args[0].value}"
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "bump"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }
    known = {counter.value for counter in PassCounter}
    assert [] == sorted(entry for entry in bumped if entry.rsplit(" ", 1)[1] not in known)

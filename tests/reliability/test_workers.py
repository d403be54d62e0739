"""Several workers, one truth: concurrent `run` processes share the work without doing any twice.

PostgreSQL: four workers at once on the same Maildir and GitLab project end where one worker
ends (each report one issue, each mail once). SQLite: a second `run` while a step is held
skips that step, says which, and exits 3.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

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
    settled,
    team_moves,
)
from tracker_bridge._testsupport.postgres import fresh_database, postgres_admin_url
from tracker_bridge.locks import step_lock

if TYPE_CHECKING:
    from collections.abc import Iterator

WORKERS = 4
MAX_SETTLING_RUNS = 6


@pytest.fixture
def postgres_store_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards; skips when none answers."""
    with fresh_database(postgres_admin_url()) as url:
        yield url


def run_together(site: Site, workers: int) -> list[subprocess.CompletedProcess[str]]:
    """Start ``workers`` `run` processes at once and wait for all of them."""
    command = [sys.executable, "-m", "tracker_bridge", "--config", str(site.config_path)]
    started = [
        subprocess.Popen(
            [*command, "run", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    finished = []
    for process in started:
        out, err = process.communicate(timeout=90)
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return finished


def settle(site: Site) -> None:
    """Single runs until one finds nothing to do."""
    for _ in range(MAX_SETTLING_RUNS):
        if not site.run().did_work:
            return
    msg = f"still working after {MAX_SETTLING_RUNS} runs"
    raise AssertionError(msg)


def play(site: Site, keys: Keys, scenario: Scenario, workers: int) -> list[Any]:
    """The scenario with ``workers`` concurrent runs per scheduled pass, then settling runs."""
    codes = []
    for mail in scenario.first_mails():
        site.deliver(mail.name, mail.raw)
    codes += [p.returncode for p in run_together(site, workers)]
    settle(site)
    team_moves(site, scenario)
    site.deliver("0100.reply", reply_mail(site, keys, scenario.reply_subject))
    codes += [p.returncode for p in run_together(site, workers)]
    settle(site)
    return codes


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """The end state without issue numbers (the order issues opened in may differ)."""
    return {
        subject: {k: (v is not None if k == "issue" else v) for k, v in report.items()}
        for subject, report in state.items()
    }


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_four_postgres_workers_end_where_one_worker_ends(
    site_factory: Any, keys: Keys, scenario: Scenario, postgres_store_url: str
) -> None:
    """Four concurrent workers on one PostgreSQL store: one issue per report, each mail once."""
    alone = site_factory("alone")
    play(alone, keys, scenario, 1)
    shared = site_factory("shared", store_url=postgres_store_url)
    codes = play(shared, keys, scenario, WORKERS)
    assert set(codes) <= {0, 3}
    assert comparable(end_state(alone)) == comparable(end_state(shared))
    issues = shared.team.issues()
    assert len(scenario.reports) == len(issues)
    assert sorted(sent_rows(alone).values()) == sorted(sent_rows(shared).values())
    caught = caught_message_ids(shared)
    assert set(sent_rows(shared)) == set(caught)
    assert [] == [message_id for message_id, times in caught.items() if times > 1]
    assert [] == mailbox_leftovers(shared)
    assert sorted(shared.delivered) == settled(shared)


def spelled(url: str, scheme: str) -> str:
    """``url`` with its scheme written as ``scheme`` (``postgres``, ``postgresql``, ...)."""
    return scheme + url[url.index("://") :]


SPELLINGS = ["postgres", "postgresql", "postgresql+psycopg"]


@pytest.mark.postgres
@pytest.mark.parametrize("first", SPELLINGS)
@pytest.mark.parametrize("second", SPELLINGS)
def test_every_postgres_spelling_takes_the_same_step_lock(
    postgres_store_url: str, first: str, second: str
) -> None:
    """A step held through one spelling of the store URL is busy through every other spelling."""
    with (
        step_lock(spelled(postgres_store_url, first), "tracker-bridge:sync") as held,
        step_lock(spelled(postgres_store_url, second), "tracker-bridge:sync") as again,
    ):
        assert (True, False) == (held, again)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(300)
@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_two_postgres_workers_end_where_one_worker_ends_with_either_spelling(
    site_factory: Any, keys: Keys, scenario: Scenario, postgres_store_url: str, scheme: str
) -> None:
    """Two workers on a ``postgres://`` or ``postgresql://`` store: one issue per report, each mail once."""
    alone = site_factory("alone")
    play(alone, keys, scenario, 1)
    shared = site_factory("shared", store_url=spelled(postgres_store_url, scheme))
    codes = play(shared, keys, scenario, 2)
    assert set(codes) <= {0, 3}
    assert comparable(end_state(alone)) == comparable(end_state(shared))
    assert len(scenario.reports) == len(shared.team.issues())
    caught = caught_message_ids(shared)
    assert set(sent_rows(shared)) == set(caught)
    assert [] == [message_id for message_id, times in caught.items() if times > 1]
    assert sorted(shared.delivered) == settled(shared)


@pytest.mark.timeout(120)
def test_second_sqlite_run_skips_the_held_step_and_says_which(
    site_factory: Any, scenario: Scenario
) -> None:
    """While another worker holds the sync step, `run` skips it, names it, and exits 3."""
    site = site_factory("sqlite")
    site.deliver(scenario.reports[2].name, scenario.reports[2].raw)
    url = site.store_url
    # A first run creates the database; the lock file lives beside it.
    assert site.run().returncode in (0, 3)
    with step_lock(url, "tracker-bridge:sync") as held:
        assert held
        second = site.run()
    summary = json.loads(second.stdout)
    assert 3 == second.returncode
    assert {"skipped_locked": 1} == summary["sync"]["counts"]
    assert ["sync: another worker holds this step; skipped"] == summary["sync"]["problems"]
    assert "skipped_locked" not in summary["ingest"]["counts"]

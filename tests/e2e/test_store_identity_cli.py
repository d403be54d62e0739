"""Through the CLI, against both tracker sandboxes and aiosmtpd: store identity and stuck reports.

A new store pointed at a tracker an earlier store filled never adopts, relabels or mails from
its issues; a report that cannot be opened confidentially is retried every pass, said so, and
alerts; ``db copy`` moves a store from SQLite to PostgreSQL with its identity.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import pytest
from sqlalchemy import create_engine, func, select

from tests.installations import run_cli, running_installation
from tracker_bridge._testsupport.postgres import (
    DEFAULT_POSTGRES_URL,
    POSTGRES_ENV,
    fresh_database,
    postgres_admin_url,
)
from tracker_bridge.demo.researcher_mail import read_as_researcher
from tracker_bridge.store import tables

from .conftest import ADA, JAN

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator

    from tracker_bridge.demo.installation import Installation

POSTGRES_URL = os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL)


@pytest.fixture(params=["gitlab", "jira"])
def site(request: pytest.FixtureRequest) -> Iterator[Installation]:
    """A fresh installation on the given tracker's sandbox, SQLite store, aiosmtpd."""
    with running_installation(request.param, prefix="tbid") as installation:
        yield installation


def cli(site: Installation, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``tracker-bridge --config <site> ARGS`` as its own process."""
    return run_cli(site.config_path, *args)


def report(site: Installation, address: str, subject: str, body: str) -> None:
    """The researcher sends an encrypted report from Thunderbird."""
    site.deliver(site.shapes(address).thunderbird(subject, body).raw)


def open_reports(site: Installation) -> list[dict[str, Any]]:
    """``reports --json``."""
    listed = cli(site, "reports", "--json")
    assert 0 == listed.returncode, listed.stderr
    rows: list[dict[str, Any]] = json.loads(listed.stdout)
    return rows


def issue_key(url: str) -> str:
    """The sandbox key of an issue from its URL (GitLab iid, Jira SEC-n)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def received_by(site: Installation, address: str) -> list[str]:
    """Every mail ``address`` received, decrypted with their own key: subject and text."""
    key = site.researchers[address]
    return [
        (lambda view: f"{view.subject}\n{view.body}")(read_as_researcher(key.gnupghome, mail.data))  # noqa: PLC3002 - binds the decrypted view once per mail inside the comprehension
        for mail in site.smtp.messages
        if address in mail.recipients
    ]


def use_store(site: Installation, url: str) -> None:
    """Point the installation's config at another store URL."""
    text = site.config_path.read_text(encoding="utf-8")
    start = text.index('url = "sqlite:///') if 'url = "sqlite:///' in text else text.index("url = ")
    end = text.index("\n", start)
    site.config_path.write_text(text[:start] + f'url = "{url}"' + text[end:], encoding="utf-8")


def test_a_new_store_never_adopts_the_old_stores_issues(site: Installation) -> None:
    """A fresh store gets the next free id, its own issue, and never mails old issue notes."""
    report(site, JAN, "XSS in search", "Jan's finding: the search box reflects input.")
    assert 0 == cli(site, "run").returncode
    [jan_row] = open_reports(site)
    site.sandbox.team_comment(issue_key(jan_row["issue"]), "[to researcher]\nOnly for Jan: fixed.")
    assert 0 == cli(site, "run").returncode
    assert any("Only for Jan" in mail for mail in received_by(site, JAN))

    use_store(site, f"sqlite:///{site.directory / 'state' / 'second.sqlite3'}")
    upgraded = cli(site, "db", "upgrade")
    assert (0, True) == (upgraded.returncode, "created the schema" in upgraded.stdout)
    report(site, ADA, "CSRF in settings", "Ada's finding: no token on the settings form.")
    first = cli(site, "run")
    second = cli(site, "run")
    assert (0, 0) == (first.returncode, second.returncode), first.stderr + second.stderr
    [ada_row] = open_reports(site)
    assert "CVD-" + jan_row["report_id"][4:8] + "-0002" == ada_row["report_id"]
    assert ada_row["issue"] not in (None, jan_row["issue"])
    ada_mail = received_by(site, ADA)
    assert [] == [mail for mail in ada_mail if "Only for Jan" in mail or "0001" in mail]
    assert 1 == len(ada_mail)


def test_report_not_opened_confidentially_is_retried_and_alerts(site: Installation) -> None:
    """Refused confidentiality: exit 6 every pass naming the reason, then one full issue."""
    sandbox = cast("Any", site.sandbox)
    sandbox.refuse_confidentiality(True)
    report(site, JAN, "RCE in upload", "Jan's upload finding.")
    first = cli(site, "run")
    second = cli(site, "run")
    listed = cli(site, "reports")
    for result in (first, second):
        assert 6 == result.returncode, result.stderr
        assert "CVD-2026-0001: not yet in the tracker: " in result.stderr
    assert "not yet in the tracker: " in listed.stdout
    assert [None] == [row["issue"] for row in open_reports(site)]

    sandbox.refuse_confidentiality(False)
    healed = cli(site, "run")
    assert 0 == healed.returncode, healed.stderr
    [row] = open_reports(site)
    described = dict(site.sandbox.describe(issue_key(row["issue"])))
    assert (None, True) == (row["not_in_tracker"], "Jan's upload finding" in str(described))


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    with fresh_database(postgres_admin_url(), "tb_copy") as url:
        yield url


def row_counts(url: str) -> dict[str, int]:
    """Rows per store table."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in tables.metadata.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("site", ["gitlab"], indirect=True)
def test_db_copy_moves_the_store_from_sqlite_to_postgresql(
    site: Installation, postgres_database: str
) -> None:
    """Every table, the audit log and the store id move; the bridge goes on from PostgreSQL."""
    report(site, JAN, "XSS in search", "Jan's finding.")
    assert 0 == cli(site, "run").returncode
    source = f"sqlite:///{site.directory / 'state' / 'bridge.sqlite3'}"
    before = row_counts(source)
    copied = cli(site, "db", "copy", source, postgres_database)
    assert 0 == copied.returncode, copied.stderr
    assert before == row_counts(postgres_database)
    assert before["audit_log"] > 0

    use_store(site, postgres_database)
    [row] = open_reports(site)
    site.sandbox.team_comment(issue_key(row["issue"]), "[to researcher]\nCopied and still here.")
    moved_on = cli(site, "run")
    assert 0 == moved_on.returncode, moved_on.stderr
    assert any("Copied and still here" in mail for mail in received_by(site, JAN))
    assert row_counts(postgres_database)["audit_log"] > before["audit_log"]
    again = cli(site, "db", "copy", source, postgres_database)
    assert (2, True) == (again.returncode, "already holds data" in again.stderr)


def other_store_issue(site: Installation, report_id: str, store: str) -> None:
    """Another store, through python-gitlab, opens its issue for ``report_id`` in the project."""
    import gitlab

    section = site.sandbox.tracker_section()
    client = gitlab.Gitlab(str(section["url"]), private_token=str(section["token"]))
    project = client.projects.get(str(section["project"]), lazy=True)
    project.issues.create(
        {
            "title": report_id,
            "description": "the other store's report",
            "confidential": True,
            "labels": f"cvd-report::{report_id},cvd-store::{store}",
        }
    )


def test_ids_another_store_holds_are_skipped_for_every_new_report() -> None:
    """Three mails in one run skip ids another store holds (adjacent and further on); all open."""
    with running_installation("gitlab", prefix="tbid") as site:
        year = datetime.now(UTC).year
        for number in (2, 4):
            other_store_issue(site, f"CVD-{year}-{number:04d}", "0ther0ther0ther0")
        for subject in ("XSS in search", "CSRF in settings", "SSRF in import"):
            report(site, JAN, subject, f"{subject}: details.")
        ran = cli(site, "run")
        rows = open_reports(site)
        assert 0 == ran.returncode, ran.stdout + ran.stderr
        assert [f"CVD-{year}-{n:04d}" for n in (1, 3, 5)] == sorted(r["report_id"] for r in rows)
        assert [True, True, True] == [r["issue"] is not None for r in rows]

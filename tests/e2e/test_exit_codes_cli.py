"""Exit codes an operator alerts on, through the CLI against the GitLab sandbox and aiosmtpd."""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import make_url

from .conftest import JAN
from .test_store_identity_cli import POSTGRES_URL, cli, report, use_store
from .test_store_identity_cli import site as site

if TYPE_CHECKING:
    from tracker_bridge.demo.installation import Installation


def set_in_section(site: Installation, section: str, line: str) -> None:
    """Add ``line`` right under ``[section]`` in the installation's config."""
    text = site.config_path.read_text(encoding="utf-8")
    text = text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
    site.config_path.write_text(text, encoding="utf-8")


@pytest.fixture
def gitlab_site(site: Installation) -> Installation:
    """The installation on the GitLab sandbox, retries off so failures come at once."""
    set_in_section(site, "tracker.gitlab", "max_retries = 0")
    return site


@pytest.mark.parametrize("site", ["gitlab"], indirect=True)
def test_refused_token_exits_5(gitlab_site: Installation) -> None:
    """A revoked or wrong token makes run and sync exit 5, naming the refusal."""
    text = gitlab_site.config_path.read_text(encoding="utf-8")
    gitlab_site.config_path.write_text(
        text.replace('token = "sandbox-token"', 'token = "revoked-token"'), encoding="utf-8"
    )
    report(gitlab_site, JAN, "XSS in search", "Jan's finding.")
    ran = cli(gitlab_site, "run")
    synced = cli(gitlab_site, "sync")
    assert (5, 5) == (ran.returncode, synced.returncode), ran.stderr + synced.stderr
    assert "refused the token" in ran.stderr


@pytest.mark.parametrize("site", ["gitlab"], indirect=True)
def test_tracker_outage_past_the_alert_time_exits_4(gitlab_site: Installation) -> None:
    """An outage is "deferred" (3) at first and exits 4 once it lasts past outage_alert_after."""
    set_in_section(gitlab_site, "tracker", 'outage_alert_after = "2s"')
    assert 0 == cli(gitlab_site, "run").returncode
    gitlab_site.sandbox.stop()
    first = cli(gitlab_site, "run")
    time.sleep(2.5)
    later = cli(gitlab_site, "run")
    assert (3, 4) == (first.returncode, later.returncode), first.stderr + later.stderr
    assert "tracker unreachable since" in later.stderr


@pytest.mark.parametrize("site", ["gitlab"], indirect=True)
def test_mail_refused_for_good_exits_7_and_counts_its_attempt(gitlab_site: Installation) -> None:
    """A 550 is not retried: run exits 7, says so, and the team note counts the one attempt."""
    report(gitlab_site, JAN, "XSS in search", "Jan's finding.")
    gitlab_site.smtp.refuse("550 5.1.1 No such user here")
    ran = cli(gitlab_site, "run")
    notes = [value for name, value in gitlab_site.sandbox.describe("1") if name == "Note"]
    [note] = [note for note in notes if "could not deliver" in note]
    assert (7, True) == (ran.returncode, "failed for good, not retried" in ran.stderr), ran.stderr
    assert (True, True) == ("after 1 attempt(s)" in note, "It is not retried." in note)


def free_port() -> int:
    """A loopback TCP port nothing listens on (PostgreSQL down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("site", ["gitlab"], indirect=True)
def test_postgresql_down_is_a_message_not_a_traceback(site: Installation) -> None:
    """PostgreSQL not listening: run exits 1 saying it is temporarily unavailable, no traceback."""
    use_store(site, f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    ran = cli(site, "run")
    assert (1, True, False) == (
        ran.returncode,
        "temporarily unavailable" in ran.stderr,
        "Traceback" in ran.stderr,
    ), ran.stderr


@pytest.mark.parametrize("site", ["gitlab"], indirect=True)
def test_a_database_that_does_not_exist_is_a_configuration_error(site: Installation) -> None:
    """A store.url naming a database the server does not have exits 2 and names it."""
    use_store(site, make_url(POSTGRES_URL).set(database="tb_no_such_db").render_as_string(False))
    ran = cli(site, "run")
    assert (2, True) == (ran.returncode, 'database "tb_no_such_db" does not exist' in ran.stderr), (
        ran.stderr
    )


@pytest.mark.parametrize("site", ["gitlab"], indirect=True)
def test_db_copy_from_a_missing_sqlite_file_creates_nothing(site: Installation) -> None:
    """`db copy` from a SQLite file that does not exist says so, exits 2 and creates no file."""
    source = site.directory / "state" / "nonexist.sqlite3"
    target = site.directory / "state" / "target.sqlite3"
    copied = cli(site, "db", "copy", f"sqlite:///{source}", f"sqlite:///{target}")
    assert (2, True) == (copied.returncode, "does not exist" in copied.stderr), copied.stderr
    assert (False, False) == (source.exists(), target.exists())

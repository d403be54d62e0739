"""An installation per module whose GitLab sandbox the tests hold directly (faults, team view)."""

from __future__ import annotations

import email
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tracker_bridge_gitlab.sandbox.server import GitLabSandbox, start_sandbox

from tracker_bridge._testsupport.dovecot import start_dovecot
from tracker_bridge._testsupport.keys import remove_gnupghome
from tracker_bridge.app import Bridge
from tracker_bridge.demo.installation import Installation, create_installation, write_config
from tracker_bridge.ports.intake import MailboxItem, Verdict
from tracker_bridge.ports.summary import PassSummary

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tracker_bridge.services.ingest import Ingest, IngestOutcome

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"


@dataclass
class World:
    """An installation whose config points at ``gitlab``, a sandbox the test can break and read."""

    installation: Installation
    gitlab: GitLabSandbox
    sections: dict[str, dict[str, object]]

    @property
    def config_path(self) -> Path:
        """The installation's config file."""
        return self.installation.config_path

    @property
    def database(self) -> Path:
        """The SQLite file of the store."""
        return self.installation.directory / "state" / "bridge.sqlite3"

    def bridge(self) -> Bridge:
        """A Bridge built from the config file, as each CLI command builds one."""
        return Bridge.from_config(self.config_path)

    def configure(self, section: str, **values: object) -> None:
        """Change one section of the config file (e.g. limits, an IMAP mailbox)."""
        self.sections.setdefault(section, {}).update(values)
        write_config(self.config_path, self.sections)


@dataclass
class ListSource:
    """A mailbox holding the given messages; remembers how each was settled."""

    messages: list[bytes]
    name: str = "test"
    settled: list[tuple[str, Verdict]] = field(default_factory=list)

    def fetch(self) -> Iterator[MailboxItem]:
        """Every message, handle = its position."""
        for number, raw in enumerate(self.messages):
            yield MailboxItem(self.name, str(number), raw)

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        """Record the verdict the message was settled with."""
        self.settled.append((item.handle, verdict))


def run_ingest(
    world: World, *messages: bytes, service: Ingest | None = None
) -> list[IngestOutcome]:
    """One ingest step over ``messages`` with a Bridge built from the config (or ``service``)."""
    bridge = world.bridge()
    try:
        ingest = service or bridge.ingest_service()
        return ingest.run([ListSource(list(messages))], PassSummary("ingest"))
    finally:
        bridge.close()


def query_store(world: World, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the store's SQLite file."""
    with sqlite3.connect(world.database) as db:
        return list(db.execute(sql, params))


def last_message_id_for(world: World, report_id: str, what: str) -> str:
    """The Message-ID of the last mail the SMTP server caught with ``report_id`` in its Reply-To.

    Raises:
        AssertionError: None was delivered (``what`` names the mail that was expected).
    """
    for mail in reversed(world.installation.smtp.messages):
        parsed = email.message_from_bytes(mail.data)
        if report_id in str(parsed.get("Reply-To", "")):
            return str(parsed["Message-ID"])
    msg = f"no {what} for {report_id} was delivered"
    raise AssertionError(msg)


def issue_iid(world: World, report_id: str) -> int:
    """The iid of the one sandbox issue carrying ``report_id``'s marker."""
    found = [i.iid for i in world.gitlab.team.issues() if f"cvd-report::{report_id}" in i.labels]
    assert 1 == len(found), found
    return int(found[0])


def _sections(installation: Installation, gitlab: GitLabSandbox) -> dict[str, dict[str, object]]:
    directory = installation.directory
    return {
        "store": {"url": f"sqlite:///{directory / 'state' / 'bridge.sqlite3'}"},
        "openpgp": {
            "home": installation.bridge.gnupghome,
            "passphrase_file": str(directory / "secrets" / "openpgp-passphrase"),
        },
        "intake": {"maildir": str(installation.maildir)},
        "smtp": {
            "host": installation.smtp.host,
            "port": installation.smtp.port,
            "security": "none",
            "from_address": "security@example.org",
            "timeout": 10.0,
        },
        "tracker": {"kind": "gitlab"},
        # No retries: a stalled or failing sandbox shows at once instead of after backoff.
        "tracker.gitlab": {
            "url": gitlab.url,
            "project": "security/cvd",
            "token": gitlab.token,
            "max_retries": 0,
        },
        "mappings": {"dir": str(directory / "mappings")},
    }


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Keys, SMTP, a Maildir, SQLite and a GitLab sandbox this module holds the handle of."""
    directory = Path(tempfile.mkdtemp(prefix="tbing", dir="/tmp"))
    installation = create_installation(directory, "gitlab")
    # The installation's own sandbox is wrapped for the demo; the tests want the team's hands.
    installation.sandbox.stop()
    gitlab = start_sandbox()
    sections = _sections(installation, gitlab)
    write_config(installation.config_path, sections)
    try:
        yield World(installation, gitlab, sections)
    finally:
        gitlab.stop()
        installation.smtp.stop()
        homes = [installation.bridge.gnupghome]
        homes += [key.gnupghome for key in installation.researchers.values()]
        for home in homes:
            remove_gnupghome(home)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[object]:
    """A real Dovecot on a free loopback port for this module (skips, saying why, when missing)."""
    yield from start_dovecot()

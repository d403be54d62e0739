"""The reliability harness: throwaway sites sharing one set of keys, `run` as a subprocess, end states.

A *site* is one installation (store, Maildir, GitLab sandbox, SMTP catcher, config file) built
in milliseconds from the session's keys, so hundreds of crash trials do not each pay for key
generation. The bridge runs as cron would run it, through the harness's entry point
``python -m tracker_bridge._testsupport.crash_run run``: the same command line, with the crash
checkpoints injected into the composition root (``app.PartWrappers``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tracker_bridge._testsupport.failpoints import CRASH_AT_ENV, CRASH_TRACE_ENV
from tracker_bridge._testsupport.keys import make_gnupghome
from tracker_bridge.demo.installation import (
    BRIDGE_ADDRESS,
    BRIDGE_PASSPHRASE,
    Installation,
    ResearcherSpec,
    create_installation,
    start_sandbox,
    write_config,
)
from tracker_bridge.demo.smtp import MailCatcher
from tracker_bridge.domain.report import State
from tracker_bridge.ports.mail import OutboxStatus
from tracker_bridge.store import open_store

if TYPE_CHECKING:
    from collections.abc import Iterator

JAN = ResearcherSpec("Jan de Vries", "jan@onderzoek.example")
ADA = ResearcherSpec("Ada Lovelace", "ada@research.example")
PIET = ResearcherSpec("Piet Jansen", "piet@example.net")
CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:N"


@dataclass
class Site:
    """One installation for one trial: run the bridge against it, play the team, read the result."""

    directory: Path
    config_path: Path
    maildir: Path
    store_url: str
    sandbox: Any  # the plugin's demo sandbox (tracker_bridge.demo.sandbox.TrackerSandbox)
    smtp: MailCatcher
    delivered: list[str] = field(default_factory=list)

    @property
    def team(self) -> Any:
        """The sandbox's team hands and request log (fault injection, issues; GitLab by default)."""
        return self.sandbox._sandbox.team  # noqa: SLF001 - the harness reaches the wrapped sandbox's team hands

    def deliver(self, name: str, raw: bytes) -> None:
        """Put a message into new/ as an MTA would; ``name`` fixes the fetch order."""
        temporary = self.maildir / "tmp" / name
        temporary.write_bytes(raw)
        temporary.rename(self.maildir / "new" / name)
        self.delivered.append(name)

    def run(
        self, *, crash_at: int | None = None, trace: Path | None = None, timeout: float = 90
    ) -> RunResult:
        """``run --json`` against this site through the crash harness's entry point, optionally crashing.

        The entry point (``tracker_bridge._testsupport.crash_run``) is the command line with
        checkpoint proxies around the tracker, store, sources and transport; it crashes or
        traces only when ``crash_at`` or ``trace`` sets its environment variables.
        """
        env = {k: v for k, v in os.environ.items() if k not in (CRASH_AT_ENV, CRASH_TRACE_ENV)}
        if crash_at is not None:
            env[CRASH_AT_ENV] = str(crash_at)
        if trace is not None:
            env[CRASH_TRACE_ENV] = str(trace)
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "tracker_bridge._testsupport.crash_run",
                "--config",
                str(self.config_path),
                "run",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        return RunResult(completed.returncode, completed.stdout, completed.stderr)

    def issue_for(self, subject: str) -> int:
        """The sandbox issue whose title carries ``subject``."""
        found = [i.iid for i in self.team.issues() if subject in i.title]
        assert 1 == len(found), f"issues titled {subject!r}: {found}"
        return int(found[0])

    def stop(self) -> None:
        """Stop the sandbox and the SMTP server."""
        self.sandbox.stop()
        self.smtp.stop()


@dataclass
class RunResult:
    """How one ``run`` ended."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        """Whether the process died by SIGKILL (the crash harness)."""
        return self.returncode == -9

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Per step, what the run counted (empty when it did not finish)."""
        if self.killed or not self.stdout.strip():
            return {}
        parsed: dict[str, Any] = json.loads(self.stdout)
        return {step: dict(v["counts"]) for step, v in parsed.items()}

    @property
    def did_work(self) -> bool:
        """Whether the pass changed anything (reading changes back alone is no work)."""
        idle = {"changes_read", "already_seen", "skipped_locked"}
        return any(key not in idle for counts in self.counts.values() for key in counts)


@dataclass
class Keys:
    """Keys and mappings made once per session and shared by every site."""

    base: Installation
    bridge_home: str
    passphrase_file: Path
    mappings: Path


@pytest.fixture(scope="session")
def keys() -> Keys:
    """The bridge's key and three researchers' keys, generated once for the whole session."""
    directory = Path(tempfile.mkdtemp(prefix="tbrel", dir="/tmp"))
    base = create_installation(directory, "gitlab", (JAN, ADA, PIET))
    base.stop()
    cheap_unlock(base.bridge.gnupghome, base.bridge.fingerprint, BRIDGE_PASSPHRASE)
    return Keys(
        base,
        base.bridge.gnupghome,
        directory / "secrets" / "openpgp-passphrase",
        directory / "mappings",
    )


def cheap_unlock(home: str, fingerprint: str, passphrase: str) -> None:
    """Re-protect the bridge's secret key with a small S2K count.

    gpg-agent calibrates the count to ~100 ms or more per unlock, and with a loopback
    passphrase every decrypt and signature unlocks again: hundreds of runs would spend
    most of their time there. Export and re-import make the agent protect it anew.
    """
    gpg = ["gpg", "--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback"]
    conf = Path(home, "gpg-agent.conf")
    conf.write_text(conf.read_text(encoding="ascii") + "s2k-count 65536\n", encoding="ascii")
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=True)
    secret = subprocess.run(
        [*gpg, f"--passphrase={passphrase}", "--export-secret-keys", fingerprint],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run([*gpg, "--delete-secret-keys", fingerprint], check=True, capture_output=True)
    subprocess.run(
        [*gpg, f"--passphrase={passphrase}", "--import"],
        input=secret,
        check=True,
        capture_output=True,
    )


def copy_home(home: str) -> str:
    """A copy of a GNUPGHOME with its own gpg-agent (sites run in parallel each use one)."""
    copy = make_gnupghome("tbc")
    shutil.copytree(
        home, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("S.*", "*.lock", ".#*")
    )
    return copy


def new_site(
    keys: Keys,
    directory: Path,
    *,
    store_url: str | None = None,
    home: str | None = None,
    tracker_timeout: float = 2.0,
    kind: str = "gitlab",
    tracker_options: dict[str, Any] | None = None,
) -> Site:
    """A fresh installation in ``directory`` with the session's keys: empty store, Maildir, tracker.

    Sites used at the same time need their own ``home`` (see ``copy_home``): gpg serialises
    keyring writes with lock files, and one shared agent turns parallel trials into a queue.
    """
    directory.mkdir(parents=True, exist_ok=True)
    maildir = directory / "mail"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    sandbox = start_sandbox(kind, directory / "tracker")
    smtp = MailCatcher()
    url = store_url or f"sqlite:///{directory / 'state' / 'bridge.sqlite3'}"
    config_path = directory / "tracker-bridge.toml"
    tracker_section = dict(sandbox.tracker_section())
    # A short timeout keeps the injected stalls of the fault test quick; the bridge's username
    # is known, so no pass spends a request on GET /user.
    tracker_section |= {"timeout": tracker_timeout}
    if kind == "gitlab":
        tracker_section["bridge_username"] = "tracker-bridge"
    tracker_section |= tracker_options or {}
    write_config(
        config_path,
        {
            "store": {"url": url},
            "openpgp": {
                "home": home or keys.bridge_home,
                "passphrase_file": str(keys.passphrase_file),
            },
            "intake": {"maildir": str(maildir)},
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "security": "none",
                "from_address": BRIDGE_ADDRESS,
                "timeout": 10.0,
            },
            "tracker": {"kind": kind},
            f"tracker.{kind}": tracker_section,
            "mappings": {"dir": str(keys.mappings)},
        },
    )
    return Site(directory, config_path, maildir, url, sandbox, smtp)


@pytest.fixture
def site_factory(keys: Keys, tmp_path: Path) -> Iterator[Any]:
    """Make sites under this test's tmp_path; all are stopped afterwards."""
    made: list[Site] = []

    def make(name: str = "site", **options: Any) -> Site:
        site = new_site(keys, tmp_path / name, **options)
        made.append(site)
        return site

    yield make
    for site in made:
        site.stop()


# ---------------------------------------------------------------------------- the scenario


@dataclass(frozen=True)
class Mail:
    """A message of the scenario: its Maildir file name, bytes and subject."""

    name: str
    raw: bytes
    subject: str


@dataclass(frozen=True)
class Scenario:
    """Reports in every shape, a reply, and the team's moves between passes."""

    reports: tuple[Mail, ...]
    reply_subject: str

    def first_mails(self) -> tuple[Mail, ...]:
        """What arrives before the first pass."""
        return self.reports


@pytest.fixture(scope="session")
def scenario(keys: Keys) -> Scenario:
    """Four reports (PGP/MIME twice, inline PGP, plaintext) from three researchers, made once."""
    base = keys.base
    jan, ada, piet = (base.shapes(r.address) for r in (JAN, ADA, PIET))
    shapes = [
        jan.thunderbird("XSS in het klantportaal", "In /portal/zoek wordt q niet gefilterd."),
        ada.inline("Open redirect on login", "login?next=//evil.example redirects off-site."),
        piet.plaintext("Directory listing on static host", "https://static.example/backup/"),
        ada.mutt("SQL injection in search", "search?q=' OR 1=1-- returns every row."),
    ]
    mails = tuple(
        Mail(f"{index:04d}.scenario", shape.raw, shape.subject)
        for index, shape in enumerate(shapes, start=1)
    )
    return Scenario(mails, shapes[0].subject)


def reply_mail(site: Site, keys: Keys, subject: str) -> bytes:
    """Jan's plaintext answer to the bridge, threaded by the report id in the subject."""
    report_id = report_id_for(site, subject)
    shape = keys.base.shapes(JAN.address).plaintext(
        f"Re: [{report_id}] {subject}", "Extra detail: it also works with a POST."
    )
    return shape.raw


def report_id_for(site: Site, subject: str) -> str:
    """The report id the bridge gave the report with ``subject``."""
    store = open_store(site.store_url)
    try:
        with store.unit_of_work() as uow:
            for report in uow.reports.reports_in(frozenset(State)):
                content = uow.reports.content(str(report.report_id))
                if content is not None and content.subject == subject:
                    return str(report.report_id)
    finally:
        store.dispose()
    msg = f"no report with subject {subject!r}"
    raise AssertionError(msg)


def team_moves(site: Site, scenario: Scenario) -> None:
    """The team triages one report (vector, label, note), marks one a duplicate, one informative."""
    first = site.issue_for(scenario.reports[0].subject)
    site.team.comment(first, f"Reproduced. {CVSS}")
    site.team.set_labels(first, {"cvd::triaged"}, {"cvd::acknowledged", "cvd::received"})
    site.team.comment(first, "[to researcher]\nThanks, we reproduced it and work on a fix.")
    second = site.issue_for(scenario.reports[1].subject)
    site.team.set_labels(second, {"cvd::duplicate"}, {"cvd::acknowledged", "cvd::received"})
    site.team.comment(second, "[to researcher]\nSomeone reported this before you.")
    site.team.close(second)
    fourth = site.issue_for(scenario.reports[3].subject)
    site.team.set_labels(fourth, {"cvd::informative"}, {"cvd::acknowledged", "cvd::received"})


# ---------------------------------------------------------------------------- end states


def end_state(site: Site) -> dict[str, Any]:
    """The store, normalised: per report its state, severity, link, labels and outbox."""
    store = open_store(site.store_url)
    reports: dict[str, Any] = {}
    try:
        with store.unit_of_work() as uow:
            for report in uow.reports.reports_in(frozenset(State)):
                report_id = str(report.report_id)
                content = uow.reports.content(report_id)
                ref = uow.links.get(report_id)
                reports[content.subject if content else report_id] = {
                    "report_id": report_id,
                    "state": report.state.value,
                    "severity": report.severity.value,
                    "issue": ref.key if ref else None,
                    # The store-id label differs per site by design (each store its own id).
                    "labels": sorted(
                        label
                        for label in uow.links.labels(report_id)
                        if not label.startswith("cvd-store::")
                    ),
                    "outbox": sorted(
                        (item.template, item.recipient, item.status.value)
                        for item in uow.outbox.for_report(report_id)
                    ),
                    "events": sorted(
                        Counter(
                            e.kind
                            for e in uow.reports.events(report_id)
                            if e.kind in ("reply_noted", "issue_opened", "deadline_missed")
                        ).items()
                    ),
                }
    finally:
        store.dispose()
    return reports


def sent_rows(site: Site) -> dict[str, tuple[str, str, str]]:
    """Every sent outbox row by Message-ID: (report id, recipient, template)."""
    store = open_store(site.store_url)
    rows: dict[str, tuple[str, str, str]] = {}
    try:
        with store.unit_of_work() as uow:
            for report in uow.reports.reports_in(frozenset(State)):
                for item in uow.outbox.for_report(str(report.report_id)):
                    if item.status is OutboxStatus.SENT:
                        rows[item.message_id] = (item.report_id, item.recipient, item.template)
    finally:
        store.dispose()
    return rows


def caught_message_ids(site: Site) -> Counter[str]:
    """How often each Message-ID reached the SMTP server."""
    return Counter(
        str(message_from_bytes(mail.data)["Message-ID"]).strip() for mail in site.smtp.messages
    )


def mailbox_leftovers(site: Site) -> list[str]:
    """Messages still waiting in new/ or cur/ (should be none once everything is settled)."""
    return sorted(
        f"{sub}/{p.name}" for sub in ("new", "cur") for p in (site.maildir / sub).iterdir()
    )


def settled(site: Site) -> list[str]:
    """Base names of every message in .Processed and .Quarantine."""
    names = []
    for folder in (".Processed", ".Quarantine"):
        for sub in ("new", "cur"):
            path = site.maildir / folder / sub
            if path.is_dir():
                names += [p.name.split(":", 1)[0] for p in path.iterdir()]
    return sorted(names)

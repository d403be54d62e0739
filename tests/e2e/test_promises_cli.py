"""Promises kept off the demo's path, through the CLI against each sandbox and aiosmtpd.

A researcher without a key gets one key request, and everything withheld arrives encrypted,
in order, once their key does; a due-date move beside a state change is mailed, and every
"changed from" is the date the researcher was last told. Each mail is opened with the
receiving researcher's own key, as their client would.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.installations import run_cli, running_installation
from tracker_bridge.app import Bridge
from tracker_bridge.demo.researcher_mail import ResearcherView, read_as_researcher
from tracker_bridge.domain.report import State

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date

    from tracker_bridge.demo.installation import Installation

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@pytest.fixture(scope="module", params=["gitlab", "jira"])
def installation(request: pytest.FixtureRequest) -> Iterator[Installation]:
    """Keys, the tracker's sandbox, SMTP, a Maildir and a config file, per tracker."""
    with running_installation(str(request.param), prefix="tbpr") as created:
        yield created


def run_pass(installation: Installation) -> str:
    """One ``tracker-bridge run`` as its own process; its output (exit 0 or 3 expected)."""
    completed = run_cli(installation.config_path, "run")
    assert completed.returncode in (0, 3), completed.stderr[-3000:]
    return completed.stdout


def report_of(installation: Installation, address: str) -> tuple[str, str]:
    """(report id, issue key) of the researcher's report."""
    bridge = Bridge.from_config(installation.config_path)
    try:
        with bridge.store().unit_of_work() as uow:
            for report in uow.reports.reports_in(frozenset(State)):
                report_id = str(report.report_id)
                researcher = uow.reports.researcher_of(report_id)
                ref = uow.links.get(report_id)
                if researcher is not None and researcher.email == address and ref is not None:
                    return report_id, ref.key
    finally:
        bridge.close()
    msg = f"no report with an issue for {address}"
    raise AssertionError(msg)


def state_label(installation: Installation, state: State) -> str:
    """The tracker label of a lifecycle state under the installation's mappings."""
    bridge = Bridge.from_config(installation.config_path)
    try:
        return bridge.program.labels.state(state)
    finally:
        bridge.close()


def mails_to(installation: Installation, address: str) -> list[ResearcherView]:
    """Every mail the SMTP server took for ``address``, opened with their own keyring."""
    key = installation.researchers[address]
    return [
        read_as_researcher(key.gnupghome, mail.data, key.passphrase)
        for mail in installation.smtp.messages
        if mail.recipients == (address,)
    ]


def issue_text(installation: Installation, key: str) -> str:
    """The issue as the team sees it, notes included, as one text."""
    return "\n".join(value for _, value in installation.sandbox.describe(key))


def spelled(day: date) -> str:
    """A date as the English templates write it: 8 December 2026."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def flat(text: str) -> str:
    """Text with every run of white space made one space (templates wrap lines)."""
    return " ".join(text.split())


def test_keyless_researcher_gets_one_key_request_then_everything_encrypted_in_order(
    installation: Installation,
) -> None:
    """No key: one key request, the question withheld (noted); the key releases all, in order."""
    shapes = installation.shapes(ADA)
    installation.deliver(shapes.plaintext("Open redirect on login", "next=//evil.example").raw)
    run_pass(installation)
    report_id, key = report_of(installation, ADA)
    triaged, received = (
        state_label(installation, State.TRIAGED),
        state_label(installation, State.RECEIVED),
    )
    acknowledged = state_label(installation, State.ACKNOWLEDGED)
    installation.sandbox.team_set_labels(key, {triaged}, {received, acknowledged})
    installation.sandbox.team_comment(key, "[to researcher]\nWhich browser did you use?")
    run_pass(installation)
    run_pass(installation)
    before_key = mails_to(installation, ADA)
    withheld_note = "Withheld until the researcher sends a key" in issue_text(installation, key)

    reply = shapes.plaintext(
        f"Re: Report {report_id}: update", "Firefox. Key attached.", attach_key=True
    )
    installation.deliver(reply.raw)
    run_pass(installation)
    after_key = mails_to(installation, ADA)[len(before_key) :]

    assert [(f"Report {report_id}: update", False, True)] == [
        (view.subject, view.encrypted, view.signature_valid) for view in before_key
    ]
    assert "send us your OpenPGP public key" in flat(before_key[0].body)
    assert True is withheld_note
    assert [
        (f"Report {report_id}: received", True, True),
        (f"Report {report_id}: assessed", True, True),
        (f"Report {report_id}: message from our team", True, True),
    ] == [(view.subject, view.encrypted, view.signature_valid) for view in after_key]
    assert "Which browser did you use?" in after_key[2].body
    assert "Sent to the researcher on" in issue_text(installation, key)


def test_due_date_moves_are_mailed_from_the_date_last_told(installation: Installation) -> None:
    """Triaged tells D1; fix available + D2 in one pass mails D1 -> D2; then D2 -> D3."""
    shapes = installation.shapes(JAN)
    installation.deliver(shapes.thunderbird("Stored XSS in search", "q=<script>").raw)
    run_pass(installation)
    report_id, key = report_of(installation, JAN)
    first = datetime.now().astimezone().date() + timedelta(days=40)  # today, local time
    second, third = first + timedelta(days=7), first + timedelta(days=14)
    received, acknowledged = (
        state_label(installation, State.RECEIVED),
        state_label(installation, State.ACKNOWLEDGED),
    )
    triaged = state_label(installation, State.TRIAGED)
    fix_available = state_label(installation, State.FIX_AVAILABLE)
    sandbox = installation.sandbox
    sandbox.team_set_labels(key, {triaged}, {received, acknowledged})
    sandbox.team_set_due_date(key, first)
    run_pass(installation)
    sandbox.team_set_labels(key, {fix_available}, {triaged})
    sandbox.team_set_due_date(key, second)
    run_pass(installation)
    sandbox.team_set_due_date(key, third)
    run_pass(installation)

    views = mails_to(installation, JAN)
    fix_dates = [flat(v.body) for v in views if v.subject.endswith("new expected fix date")]
    assert [
        f"Report {report_id}: received",
        f"Report {report_id}: assessed",
        f"Report {report_id}: fix available, please retest",
        f"Report {report_id}: new expected fix date",
        f"Report {report_id}: new expected fix date",
    ] == [view.subject for view in views]
    assert all(view.encrypted and view.signature_valid for view in views)
    assert f"fix ready by {spelled(first)}" in flat(views[1].body)
    assert [
        f"from {spelled(first)} to {spelled(second)}",
        f"from {spelled(second)} to {spelled(third)}",
    ] == [text[text.index("from ") : text.index(".", text.index("from "))] for text in fix_dates]


def test_forget_erases_the_researcher_from_the_issue_and_the_keyring(
    installation: Installation,
) -> None:
    """`researcher forget`: her name, key and replies leave the issue text and the keyring."""
    _, key = report_of(installation, ADA)
    fingerprint = installation.researchers[ADA].fingerprint
    before = issue_text(installation, key)
    completed = run_cli(installation.config_path, "researcher", "forget", ADA, "--yes")
    after = issue_text(installation, key)
    listing = subprocess.run(
        ["gpg", "--homedir", installation.bridge.gnupghome, "--list-keys", "--with-colons"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout

    assert 0 == completed.returncode, completed.stderr[-3000:]
    assert (True, True) == ("Ada Lovelace" in before, "Firefox. Key attached." in before)
    assert [] == [t for t in ("Ada Lovelace", "Firefox. Key attached.", ADA) if t in after]
    assert "erased on request" in after.lower()
    assert fingerprint not in listing
    assert installation.bridge.fingerprint in listing

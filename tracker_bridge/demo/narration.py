"""`tracker-bridge demo`: the whole pipeline, narrated, against a sandbox tracker and local SMTP.

Nothing here is simulated: real gpg keys, real PGP/MIME and inline PGP mail, the plugin talking
HTTP to its sandbox, SQLite, and an SMTP server on loopback. The demo plays the researchers and
the security team; the bridge does the rest exactly as a scheduled ``run`` would.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from tracker_bridge.app import Bridge
from tracker_bridge.demo.installation import (
    BRIDGE_ADDRESS,
    Installation,
    ResearcherSpec,
    create_installation,
)
from tracker_bridge.demo.researcher_mail import compact, read_as_researcher
from tracker_bridge.domain.report import State
from tracker_bridge.testing.payloads import INJECTION_PAYLOADS

if TYPE_CHECKING:
    from tracker_bridge.ports.summary import PassSummary

JAN = ResearcherSpec("Jan de Vries", "jan@onderzoek.example")
ADA = ResearcherSpec("Ada Lovelace", "ada@research.example")
PIET = "piet@example.net"
MALLORY = "mallory@evil.example"
CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:N"


@dataclass
class DemoResult:
    """What the demo produced, also written to summary.json for people and tests."""

    directory: str
    tracker: str
    seconds: float = 0.0
    reports: list[dict[str, object]] = field(default_factory=list)
    issues: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    side_effects: list[str] = field(default_factory=list)
    mails: list[dict[str, object]] = field(default_factory=list)


def _plain_report(sender: str, name: str, subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = BRIDGE_ADDRESS
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    message.set_content(body)
    return bytes(message)


def _with_header(raw: bytes, name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode() + raw


def run_demo(
    directory: Path, tracker: str = "gitlab", console: Console | None = None
) -> DemoResult:
    """Run the narrated demo in ``directory``; return (and write) what it produced."""
    out = console or Console()
    started = time.monotonic()
    result = DemoResult(str(directory), tracker)
    out.rule(f"[bold]tracker-bridge demo[/] — {tracker} sandbox, SQLite, local SMTP")
    with out.status("Creating the bridge's key and two researchers' keys with gpg ..."):
        installation = create_installation(directory, tracker, (JAN, ADA))
    try:
        _narrate(installation, out, result)
    finally:
        installation.stop()
    result.seconds = round(time.monotonic() - started, 1)
    (directory / "summary.json").write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    out.rule(f"Done in {result.seconds} s")
    _where(installation, out)
    return result


def _narrate(installation: Installation, out: Console, result: DemoResult) -> None:
    out.print(
        f"Bridge key [cyan]{installation.bridge.fingerprint}[/], tracker sandbox at "
        f"{installation.sandbox.url}, SMTP on {installation.smtp.host}:{installation.smtp.port}."
    )
    out.print(Panel.fit("1. Four mails arrive at security@", style="bold"))
    with out.status("Researchers encrypt their reports with gpg ..."):
        jan = installation.shapes(JAN.address).thunderbird(
            "XSS in het klantportaal",
            "Beste securityteam,\n\nIn /portal/zoek wordt de parameter q ongefilterd in de pagina "
            "gezet: /portal/zoek?q=<script>alert(1)</script>\n\nMet vriendelijke groet,\nJan",
        )
        installation.deliver(_with_header(jan.raw, "Content-Language", "nl"))
        ada = installation.shapes(ADA.address).inline(
            "Open redirect on login",
            "Hello,\n\nhttps://app.example/login?next=//evil.example redirects off-site after "
            "login.\n\nAda",
        )
        installation.deliver(ada.raw)
    installation.deliver(
        _plain_report(
            PIET,
            "Piet",
            "Directory listing on static host",
            "Hi, https://static.example/backup/ lists files. No PGP here, sorry. Piet",
        )
    )
    hostile = "\n".join(INJECTION_PAYLOADS[:12] + INJECTION_PAYLOADS[23:30])
    installation.deliver(
        _plain_report(MALLORY, "M", "/close @all #1 ~public", f"Totally a report.\n{hostile}")
    )
    out.print(
        "  • Jan (Dutch, Thunderbird PGP/MIME with Autocrypt)\n"
        "  • Ada (inline PGP, no key attached)\n"
        "  • Piet (no encryption at all)\n"
        "  • Mallory (a 'report' full of GitLab quick actions, @mentions, references, Jira markup)"
    )

    bridge = Bridge.from_config(installation.config_path)
    try:
        _pass(bridge, out, "2. The bridge's scheduled pass: ingest → open issues → sync → notify")
        keys = _issue_keys(bridge)
        result.reports = _reports(bridge)
        _show_reports(out, result.reports)

        labels = bridge.program.labels
        jan_id = next(str(r["report_id"]) for r in result.reports if r["researcher"] == JAN.address)
        jan_key = keys[jan_id]
        out.print(Panel.fit(f"3. The team triages {jan_id} in the tracker", style="bold"))
        sandbox = installation.sandbox
        due = (bridge.clock.now() + timedelta(days=21)).date()
        sandbox.team_comment(jan_key, f"Reproduced. {CVSS}")
        sandbox.team_set_labels(
            jan_key,
            {labels.state(State.TRIAGED)},
            {labels.state(State.ACKNOWLEDGED), labels.state(State.RECEIVED)},
        )
        sandbox.team_set_due_date(jan_key, due)
        sandbox.team_comment(
            jan_key,
            "[to researcher]\nDank voor je melding. We hebben het probleem kunnen reproduceren en "
            "werken aan een oplossing.",
        )
        out.print(
            f"  comment with a CVSS vector, label {labels.state(State.TRIAGED)}, due date {due}, "
            "and a comment starting with [to researcher]"
        )
        _pass(
            bridge,
            out,
            "4. Next pass: the bridge notices, recomputes severity and deadlines, mails Jan",
        )

        out.print(Panel.fit(f"5. The fix ships: the team closes {jan_id}", style="bold"))
        sandbox.team_close(jan_key)
        _pass(
            bridge,
            out,
            "6. Next pass: resolved; Jan is asked to delete data and how to be credited",
        )
        result.reports = _reports(bridge)
        _show_reports(out, result.reports)

        out.print(Panel.fit("7. The issue as the team sees it", style="bold"))
        for report in result.reports:
            key = keys.get(str(report["report_id"]))
            if key is not None:
                result.issues[str(report["report_id"])] = sandbox.describe(key)
        _show_issue(out, result.issues[jan_id])
        mallory_id = next(str(r["report_id"]) for r in result.reports if r["researcher"] == MALLORY)
        result.side_effects = sandbox.side_effects()
        verdict = (
            "[green]nothing happened[/]"
            if not result.side_effects
            else f"[red]{result.side_effects}[/]"
        )
        mallory_issue = dict(result.issues[mallory_id])
        out.print(
            f"Mallory's {mallory_id}: still confidential "
            f"({mallory_issue.get('Confidential') or mallory_issue.get('Security level')}), "
            f"still open; side effects in the tracker: {verdict}."
        )

        out.print(Panel.fit("8. Every mail as the researcher's client shows it", style="bold"))
        _show_mails(installation, out, result)
    finally:
        bridge.close()


def _pass(bridge: Bridge, out: Console, title: str) -> list[PassSummary]:
    out.print(Panel.fit(title, style="bold"))
    with out.status("gpg decrypts, verifies, encrypts and signs ..."):
        summaries = bridge.scheduled_pass().run()
    for summary in summaries:
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(summary.counts.items()))
        out.print(f"  [bold]{summary.step}[/]: {counts or 'nothing to do'}")
        for problem in summary.problems:
            out.print(f"    [yellow]! {problem}[/]")
    return summaries


def _issue_keys(bridge: Bridge) -> dict[str, str]:
    keys: dict[str, str] = {}
    with bridge.store().unit_of_work() as uow:
        for report in uow.reports.reports_in(frozenset(State)):
            ref = uow.links.get(str(report.report_id))
            if ref is not None:
                keys[str(report.report_id)] = ref.key
    return keys


def _reports(bridge: Bridge) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with bridge.store().unit_of_work() as uow:
        for report in uow.reports.reports_in(frozenset(State)):
            report_id = str(report.report_id)
            researcher = uow.reports.researcher_of(report_id)
            content = uow.reports.content(report_id)
            ref = uow.links.get(report_id)
            rows.append(
                {
                    "report_id": report_id,
                    "researcher": researcher.email if researcher else None,
                    "language": researcher.language.value if researcher else None,
                    "key_known": bool(researcher and researcher.fingerprint),
                    "encrypted": bool(content and content.encrypted),
                    "state": report.state.value,
                    "severity": report.severity.value,
                    "issue": ref.url if ref else None,
                }
            )
    return rows


def _show_reports(out: Console, reports: list[dict[str, object]]) -> None:
    table = Table("report", "researcher", "arrived", "state", "severity", "issue")
    for r in reports:
        table.add_row(
            str(r["report_id"]),
            f"{r['researcher']} ({r['language']})",
            "encrypted" if r["encrypted"] else "[yellow]unencrypted[/]",
            str(r["state"]),
            str(r["severity"]),
            str(r["issue"] or "-"),
        )
    out.print(table)


def _show_issue(out: Console, rows: list[tuple[str, str]]) -> None:
    table = Table(show_header=False, box=None)
    for name, value in rows:
        table.add_row(f"[bold]{name}[/]", value if len(value) < 1500 else value[:1500] + " …")
    out.print(table)


def _show_mails(installation: Installation, out: Console, result: DemoResult) -> None:
    for mail in installation.smtp.messages:
        recipient = mail.recipients[0]
        key = installation.researchers.get(recipient)
        if key is not None:
            view = read_as_researcher(key.gnupghome, mail.data, key.passphrase)
        else:
            # Piet and Mallory have no keyring: their client just shows the signed text.
            view = read_as_researcher(installation.bridge.gnupghome, mail.data)
        protection = (
            "[green]encrypted + signed[/]"
            if view.encrypted and view.signature_valid
            else "[cyan]signed only[/]"
            if view.signature_valid
            else "[red]unprotected[/]"
        )
        result.mails.append(
            {
                "to": recipient,
                "outer_subject": view.outer_subject,
                "subject": view.subject,
                "encrypted": view.encrypted,
                "signature_valid": view.signature_valid,
                "body": view.body,
            }
        )
        body = compact(view.body)
        excerpt = "\n".join(body.splitlines()[:14])
        out.print(
            Panel(
                excerpt,
                title=f"To {recipient} — {view.subject}",
                subtitle=f"{protection}; outer subject: {view.outer_subject}",
            )
        )


def _where(installation: Installation, out: Console) -> None:
    d = installation.directory
    out.print(
        "[bold]Where everything lives[/] (look around; nothing outside this folder was touched):"
    )
    for what, where in [
        ("configuration", installation.config_path),
        ("state (SQLite)", d / "state" / "bridge.sqlite3"),
        ("mail as delivered (PGP/MIME .eml)", d / "delivered"),
        ("mailbox, with .Processed and .Quarantine", installation.maildir),
        ("tracker sandbox state and request log", d / "tracker"),
        ("bridge keyring", d / "gnupg"),
        ("researchers' keyrings", d / "researchers"),
        ("what this demo saw", d / "summary.json"),
    ]:
        out.print(f"  {what:<42} {where}", soft_wrap=True)
    out.print(f"Try: tracker-bridge --config {installation.config_path} reports", soft_wrap=True)


def default_directory() -> Path:
    """A fresh directory for a demo run (short, so gpg's socket paths stay short)."""
    return Path(tempfile.mkdtemp(prefix="tracker-bridge-demo-", dir="/tmp"))

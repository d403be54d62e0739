"""init with policy flags, then check, policy, security-txt and credits through the command line."""

from __future__ import annotations

import json
import shutil
import tempfile
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from tests.unit.publish.rfc9116 import parse_security_txt
from tracker_bridge._testsupport.keys import gpg_command, remove_gnupghome
from tracker_bridge.cli import main
from tracker_bridge.domain.report import Report, ReportId, State
from tracker_bridge.domain.researcher import CreditWish, Researcher
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent
from tracker_bridge.security_txt import security_txt_warnings
from tracker_bridge.store import open_store

if TYPE_CHECKING:
    from collections.abc import Iterator

INIT_FLAGS = [
    "--org",
    "Gemeente Voorbeeld",
    "--contact",
    "cvd@gemeente.example",
    "--ack",
    "2 working days",
    "--assessment",
    "14 days",
    "--fix-critical",
    "7 days",
    "--fix-low",
    "120 days",
    "--progress-update",
    "10 days",
    "--disclosure",
    "90 days",
    "--languages",
    "nl,en",
]


@pytest.fixture(scope="module")
def installation() -> Iterator[Path]:
    """A fresh installation made by `init` with policy flags, no terminal; its config path."""
    # Short path under /tmp: gpg-agent's socket lives in the installation's gnupg/ folder.
    directory = Path(tempfile.mkdtemp(prefix="tbp", dir="/tmp")) / "cvd"
    result = CliRunner().invoke(main, ["init", str(directory), *INIT_FLAGS])
    assert 0 == result.exit_code, result.output
    program = directory / "mappings" / "program.toml"
    program.write_text(
        program.read_text(encoding="utf-8").replace(
            '# policy_url = "https://example.org/security/"',
            'policy_url = "https://gemeente.example/cvd/"',
        ),
        encoding="utf-8",
    )
    try:
        yield directory / "tracker-bridge.toml"
    finally:
        remove_gnupghome(str(directory / "gnupg"))
        shutil.rmtree(directory.parent, ignore_errors=True)


def _run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert 0 == result.exit_code, result.output
    return result.stdout


def test_init_flags_then_check_passes(installation: Path) -> None:
    """`init` with flags and no terminal writes the numbers, and `check` passes right after."""
    deadlines = tomllib.loads(
        (installation.parent / "mappings" / "program.toml").read_text(encoding="utf-8")
    )["deadlines"]
    output = _run(installation, "check")
    assert (
        "2 working days",
        "14 days",
        "7 days",
        "30 days",
        "120 days",
        "10 days",
        "90 days",
        "ok",
    ) == (
        deadlines["acknowledge"],
        deadlines["assessment"],
        deadlines["fix"]["critical"],
        deadlines["fix"]["high"],
        deadlines["fix"]["low"],
        deadlines["progress_update"],
        deadlines["disclosure"],
        output.splitlines()[-1],
    )


def test_policy_pages_state_the_init_numbers(installation: Path) -> None:
    """Both languages and both formats show the numbers given to init."""
    nl = " ".join(_run(installation, "policy", "--lang", "nl").split())
    en_html = _run(installation, "policy", "--lang", "en", "--format", "html")
    assert (True, True, True, True, True) == (
        "Binnen 2 werkdagen bevestigen wij de ontvangst" in nl,
        "Kritiek (CVSS 9,0–10,0): binnen 7 dagen" in nl,
        "in het Nederlands of het Engels" in nl,
        "<li>Low (CVSS 0.1–3.9): within 120 days</li>" in en_html,
        "within 90 days of receiving your report" in " ".join(en_html.split()),
    )


def test_security_txt_passes_the_rfc_9116_parser(installation: Path, tmp_path: Path) -> None:
    """The written file has every field, parses strictly, and check's warning stays quiet."""
    output = tmp_path / "security.txt"
    _run(installation, "security-txt", "--output", str(output))
    now = datetime.now(UTC)
    parsed = parse_security_txt(output.read_text(encoding="utf-8"), now)
    assert (
        ["mailto:cvd@gemeente.example"],
        ["https://gemeente.example/.well-known/openpgp-key.asc"],
        ["https://gemeente.example/cvd/"],
        ["https://gemeente.example/.well-known/security.txt"],
        ["nl, en"],
        [],
        [],
    ) == (
        parsed.fields["Contact"],
        parsed.fields["Encryption"],
        parsed.fields["Policy"],
        parsed.fields["Canonical"],
        parsed.fields["Preferred-Languages"],
        security_txt_warnings(output, now),
        security_txt_warnings(output, now + timedelta(days=334)),
    )


def test_signed_security_txt_verifies_with_gpg(installation: Path, tmp_path: Path) -> None:
    """`security-txt --sign` is a cleartext signature gpg verifies with the bridge key."""
    output = tmp_path / "security.txt"
    _run(installation, "security-txt", "--sign", "--output", str(output))
    parsed = parse_security_txt(output.read_text(encoding="utf-8"), datetime.now(UTC))
    verified = gpg_command(
        str(installation.parent / "gnupg"),
        "--status-fd",
        "1",
        "--verify",
        str(output),
        check=False,
    )
    assert (True, 0, True) == (
        parsed.signed,
        verified.returncode,
        b"[GNUPG:] GOODSIG" in verified.stdout,
    )


def test_credits_lists_consenting_researchers(installation: Path) -> None:
    """`credits --format json` reads the installation's store: consenting, fixed reports only."""
    store = open_store(f"sqlite:///{installation.parent / 'state' / 'tracker-bridge.sqlite3'}")
    received = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    people = [
        (1, Researcher("a@example.net", pseudonym="ghost", credit_wish=CreditWish.PSEUDONYM), True),
        (2, Researcher("b@example.net", display_name="Bo", credit_wish=CreditWish.NONE), True),
        (3, Researcher("c@example.net", display_name="Cy", credit_wish=CreditWish.NAME), False),
    ]
    try:
        with store.unit_of_work() as uow:
            for sequence, researcher, fixed in people:
                uow.researchers.save(researcher)
                report = Report(ReportId("CVD", 2026, sequence), "default", received)
                report.transition(State.TRIAGED, received + timedelta(days=1))
                if fixed:
                    report.transition(State.RESOLVED, received + timedelta(days=9))
                content = ReportContent(
                    str(report.report_id), "s", "b", True, SignatureCheck(SignatureStatus.NONE)
                )
                uow.reports.add(report, researcher.email, content)
            uow.commit()
    finally:
        store.dispose()
    listed = json.loads(_run(installation, "credits", "--format", "json"))
    assert [("ghost", "CVD-2026-0001", "2026-05-13")] == [
        (c["name"], r["report_id"], r["resolved"]) for c in listed["credits"] for r in c["reports"]
    ]


def test_interactive_init_asks_for_every_answer(tmp_path: Path) -> None:
    """On a terminal init asks; a bad span is asked again; answers land in program.toml."""
    answers = [
        "Acme",
        "security@acme.example",
        "jira",
        "ACME",
        "",
        "3 wrking days",
        "3 working days",
        "10 working days",
        "14 days",
        "",
        "",
        "",
        "21 days",
        "45 days",
        "nl",
    ]
    result = CliRunner().invoke(
        main,
        ["init", str(tmp_path / "acme"), "--interactive", "--no-key"],
        input="\n".join(answers) + "\n",
    )
    program = tomllib.loads((tmp_path / "acme" / "mappings" / "program.toml").read_text("utf-8"))
    config = tomllib.loads((tmp_path / "acme" / "tracker-bridge.toml").read_text("utf-8"))
    assert (0, 1, "Acme", ["nl"], "3 working days", "10 working days", "14 days", "21 days") == (
        result.exit_code,
        result.output.count("is not a span"),
        program["program"]["name"],
        program["program"]["languages"],
        program["deadlines"]["acknowledge"],
        program["deadlines"]["assessment"],
        program["deadlines"]["fix"]["critical"],
        program["deadlines"]["progress_update"],
    )
    assert ("ACME", "45 days") == (
        config["tracker"]["jira"]["project"],
        program["deadlines"]["disclosure"],
    )


def test_init_copies_no_test_mappings(installation: Path) -> None:
    """`init` writes the GitLab and Jira mappings, not the test kit's fake tracker mapping."""
    mappings = installation.parent / "mappings"
    assert (True, True, False) == (
        (mappings / "gitlab.toml").is_file(),
        (mappings / "jira.toml").is_file(),
        (mappings / "fake.toml").exists(),
    )

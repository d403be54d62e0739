"""The regulatory command line: `reports` shows running legal clocks first, `regulatory draft` drafts."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from tests.installations import run_cli, running_installation
from tracker_bridge.starter import PACKAGED_MAPPINGS

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator

    from tracker_bridge.demo.installation import Installation

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"


@pytest.fixture(scope="module")
def legal_installation() -> Iterator[Installation]:
    """A GitLab installation with the CRA regime turned on."""
    directory = Path(tempfile.mkdtemp(prefix="tbrcli", dir="/tmp"))
    shutil.copytree(PACKAGED_MAPPINGS, directory / "mappings")
    program = directory / "mappings" / "program.toml"
    program.write_text(
        program.read_text(encoding="utf-8").replace("cra = false", "cra = true"), encoding="utf-8"
    )
    with running_installation("gitlab", directory=directory) as installation:
        yield installation


def _cli(installation: Installation, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(installation.config_path, *args)


def test_reports_lists_clocks_first_and_draft_holds_the_fields(
    legal_installation: Installation,
) -> None:
    """The report with a CRA clock is listed first with its steps; the draft names its fields."""
    installation = legal_installation
    installation.deliver(installation.shapes(JAN).kmail("Stored XSS", "<script>").raw)
    installation.deliver(installation.shapes(ADA).kmail("RCE in upload", "upload .phtml").raw)
    assert _cli(installation, "run").returncode in (0, 3)
    # The second report (CVD-2026-0002) gets the clock, so "first" is not the store's order.
    installation.sandbox.team_set_labels("2", {"reg::actively-exploited"}, set())
    installation.sandbox.team_comment("2", "[fact] measures: upload endpoint disabled")
    assert _cli(installation, "run").returncode in (0, 3)
    listed = _cli(installation, "reports", "--json")
    assert 0 == listed.returncode, listed.stderr
    rows = json.loads(listed.stdout)
    assert ["CVD-2026-0002", "CVD-2026-0001"] == [r["report_id"] for r in rows]
    assert ["cra-early-warning", "cra-notification", "cra-final-report"] == [
        c["step"] for c in rows[0]["regulatory"]
    ]
    assert ["on_track", "on_track", "waiting"] == [c["status"] for c in rows[0]["regulatory"]]
    drafted = _cli(
        installation,
        "regulatory",
        "draft",
        "CVD-2026-0002",
        "--step",
        "cra-notification",
        "--format",
        "json",
    )
    assert 0 == drafted.returncode, drafted.stderr
    fields = json.loads(drafted.stdout)
    assert "upload endpoint disabled" == fields["measures"]
    assert {
        "report_id",
        "received_at",
        "aware_at",
        "product",
        "severity",
        "cvss",
        "assessment",
        "measures",
        "fix_date",
        "users_informed",
    } <= set(fields)
    markdown = _cli(
        installation, "regulatory", "draft", "CVD-2026-0002", "--step", "cra-notification"
    )
    assert "nothing has been sent to any authority" in markdown.stdout
    assert "- **Measures taken**: upload endpoint disabled" in markdown.stdout


def test_draft_refuses_an_unknown_step(legal_installation: Installation) -> None:
    """--step must name a step; the error lists the ones there are, exit 2."""
    result = _cli(legal_installation, "regulatory", "draft", "CVD-2026-0001", "--step", "cra-x")
    assert 2 == result.returncode
    assert "cra-notification" in result.stderr


def test_draft_refuses_a_step_whose_regime_has_not_started(
    legal_installation: Installation,
) -> None:
    """A report without a CRA clock: drafting cra-notification exits 2 and says why."""
    installation = legal_installation
    installation.deliver(installation.shapes(JAN).kmail("Clickjacking", "no frame-ancestors").raw)
    assert _cli(installation, "run").returncode in (0, 3)
    rows = json.loads(_cli(installation, "reports", "--json").stdout)
    report_id = next(r["report_id"] for r in rows if not r["regulatory"])
    result = _cli(installation, "regulatory", "draft", report_id, "--step", "cra-notification")
    assert (2, "") == (result.returncode, result.stdout)
    assert "the cra clock has not started" in result.stderr


def test_plain_reports_list_clocks_first_in_the_program_time_zone(
    legal_installation: Installation,
) -> None:
    """Without --json the report with a running clock comes first, one line per step, local time."""
    installation = legal_installation
    listed = _cli(installation, "reports")
    assert 0 == listed.returncode, listed.stderr
    rows = json.loads(_cli(installation, "reports", "--json").stdout)
    clocked = next(r for r in rows if r["regulatory"])
    lines = listed.stdout.splitlines()
    assert lines[0].startswith(f"{clocked['report_id']} "), listed.stdout
    amsterdam = ZoneInfo("Europe/Amsterdam")  # program.toml timezone
    expected = []
    for clock in clocked["regulatory"]:
        due = clock["due"]
        if due:
            moment = datetime.fromisoformat(due)
            assert moment.astimezone(amsterdam).utcoffset() == moment.utcoffset(), due
        expected.append(
            f"{'':<16} {clock['step']} ({clock['source']}): {due or '-'} ({clock['status']})"
        )
    assert [
        f"{'':<16} cra-early-warning (CRA art. 14(2)(a))",
        f"{'':<16} cra-notification (CRA art. 14(2)(b))",
        f"{'':<16} cra-final-report (CRA art. 14(2)(c)): - (waiting)",
    ] == [line.partition(": ")[0] if i < 2 else line for i, line in enumerate(expected)]
    assert expected == lines[1 : 1 + len(expected)]


def test_help_lists_the_regulatory_group_with_its_whole_short_help(
    legal_installation: Installation,
) -> None:
    """`--help` shows the regulatory group's short help whole, not cut at "GDPR art."."""
    result = _cli(legal_installation, "--help")
    [line] = [x for x in result.stdout.splitlines() if x.strip().startswith("regulatory ")]
    assert "regulatory Legal reporting clocks: drafts of GDPR, NIS2 and CRA reports." == " ".join(
        line.split()
    )

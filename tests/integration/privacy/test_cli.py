"""The privacy commands on a starter installation: counts and ids out, never text or addresses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from tracker_bridge.app import Bridge
from tracker_bridge.cli import main
from tracker_bridge.domain.report import Report, ReportId, State
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.privacy import AuditEntry
from tracker_bridge.ports.store import ReportContent

if TYPE_CHECKING:
    from pathlib import Path

ADDRESS = "ada.cli@example.org"
TEXT = "CANARY-CLI the reset token is predictable"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A starter installation with one report closed long ago."""
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path / "site"), "--no-key"])
    assert 0 == result.exit_code, result.output
    site = tmp_path / "site"
    (site / "secrets" / "openpgp-passphrase").write_text("pass")
    (site / "secrets" / "gitlab-token").write_text("token")
    path = site / "tracker-bridge.toml"
    bridge = Bridge.from_config(path)
    closed_at = datetime.now(UTC) - timedelta(days=400)
    report = Report(ReportId("CVD", 2025, 1), "default", closed_at)
    report.transition(State.SPAM, closed_at)
    with bridge.store().unit_of_work() as uow:
        uow.reports.add(
            report,
            ADDRESS,
            ReportContent(
                "CVD-2025-0001", "subject", TEXT, True, SignatureCheck(SignatureStatus.NONE)
            ),
        )
        uow.audit.record(
            AuditEntry(closed_at, "ingest", "message_received", "report", "CVD-2025-0001")
        )
        uow.commit()
    bridge.close()
    return path


def run(config: Path, *args: str) -> tuple[int, str]:
    """Run tracker-bridge with the installation's config."""
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.output


def test_export_then_purge_then_audit(config: Path, tmp_path: Path) -> None:
    """Export holds the text; a dry run changes nothing; purge prints ids only; audit shows it."""
    code, _ = run(config, "researcher", "export", ADDRESS, "--output", str(tmp_path / "a.json"))
    exported = json.loads((tmp_path / "a.json").read_text())
    assert (0, TEXT, ADDRESS) == (
        code,
        exported["reports"][0]["content"]["body"],
        exported["researcher"]["email"],
    )
    code, dry = run(config, "purge", "--dry-run", "--json")
    assert (0, ["CVD-2025-0001"]) == (code, json.loads(dry)["content_purged"])
    code, output = run(config, "purge")
    assert 0 == code
    assert "report text deleted: CVD-2025-0001" in output
    assert TEXT not in output
    assert ADDRESS not in output
    code, audit = run(config, "audit", "--report", "CVD-2025-0001", "--json")
    actions = [entry["action"] for entry in json.loads(audit)]
    assert ["message_received", "content_purged", "contact_erased"] == actions
    code, _ = run(config, "researcher", "export", ADDRESS)
    assert 1 == code  # nothing is held about them any more

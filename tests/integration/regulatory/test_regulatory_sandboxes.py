"""Regulatory clocks end to end through the real GitLab and Jira plugins and their sandboxes."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.keys import remove_gnupghome
from tracker_bridge.app import Bridge
from tracker_bridge.demo.installation import Installation, create_installation
from tracker_bridge.services.regulatory import clock_rows, draft, draft_markdown
from tracker_bridge.starter import PACKAGED_MAPPINGS
from tracker_bridge.testing.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import Iterator

JAN = "jan@onderzoek.example"


@dataclass
class LegalWorld:
    """An installation with GDPR, NIS2 and CRA turned on, a settable clock and its bridge."""

    installation: Installation
    clock: FakeClock
    bridge: Bridge
    kind: str

    def run(self) -> list[object]:
        """One scheduled pass (ingest, sync, notify, purge); the per-step summaries."""
        return list(self.bridge.scheduled_pass().run())

    def advance(self, **delta: float) -> None:
        """Move the bridge's and the tracker's clocks together (labels start clocks at their time)."""
        self.clock.advance(**delta)
        self.installation.sandbox.advance_clock(**delta)

    def counts(self) -> dict[str, int]:
        """The sync step's counts of one pass."""
        summaries = self.bridge.scheduled_pass().run()
        return next(s.counts for s in summaries if s.step == "sync")

    def issue_key(self) -> str:
        """The tracker key of the first report's issue."""
        with self.bridge.store().unit_of_work() as uow:
            ref = uow.links.get("CVD-2026-0001")
        assert ref is not None
        return ref.key

    def labels(self) -> set[str]:
        """The issue's regulatory labels as the team sees them."""
        rows = dict(self.installation.sandbox.describe(self.issue_key()))
        return {x.strip() for x in rows["Labels"].split(",") if x.strip().startswith("reg")}

    def notes(self, start: str) -> list[str]:
        """Notes or comments on the issue that start with ``start``."""
        return [
            value
            for field, value in self.installation.sandbox.describe(self.issue_key())
            if field in ("Note", "Comment") and value.lstrip("*_ ").startswith(start)
        ]


@pytest.fixture(scope="module", params=["gitlab", "jira"])
def legal(request: pytest.FixtureRequest) -> Iterator[LegalWorld]:
    """A fresh installation per tracker kind with every regime turned on."""
    kind = str(request.param)
    directory = Path(tempfile.mkdtemp(prefix="tbreg", dir="/tmp"))
    shutil.copytree(PACKAGED_MAPPINGS, directory / "mappings")
    program = directory / "mappings" / "program.toml"
    text = program.read_text(encoding="utf-8")
    for regime in ("gdpr", "nis2", "cra"):
        text = text.replace(f"{regime} = false", f"{regime} = true")
    program.write_text(text, encoding="utf-8")
    installation = create_installation(directory, kind)
    clock = FakeClock(datetime.now(UTC))
    bridge = Bridge.from_config(installation.config_path, clock)
    try:
        installation.deliver(installation.shapes(JAN).kmail("SQL injection", "id=1' OR 1=1").raw)
        yield LegalWorld(installation, clock, bridge, kind)
    finally:
        bridge.close()
        installation.stop()
        homes = [installation.bridge.gnupghome]
        homes += [key.gnupghome for key in installation.researchers.values()]
        for home in homes:
            remove_gnupghome(home)
        shutil.rmtree(directory, ignore_errors=True)


def _label(legal: LegalWorld, scoped: str) -> str:
    """``reg::x`` in GitLab, ``reg-x`` in Jira."""
    return scoped if legal.kind == "gitlab" else scoped.replace("::", "-")


def test_cra_clock_labels_reminders_done_markers_and_draft(legal: LegalWorld) -> None:
    """CRA: start label, reg-due moves 24h -> 72h -> overdue, one reminder each, done stops them."""
    legal.run()
    key = legal.issue_key()
    sandbox = legal.installation.sandbox
    sandbox.team_set_labels(key, {_label(legal, "reg::actively-exploited")}, set())
    legal.run()
    assert {_label(legal, "reg::actively-exploited"), _label(legal, "reg-due::24h")} == (
        legal.labels()
    )
    legal.advance(hours=19)
    legal.run()
    legal.run()
    assert 1 == len(legal.notes("Regulatory step due soon"))
    sandbox.team_comment(key, "[reported] early warning")
    sandbox.team_comment(key, "[fact] product: Patient portal 4.2")
    sandbox.team_comment(key, "[fact] users-informed: advisory mailed to customers")
    legal.run()
    assert _label(legal, "reg-due::72h") in legal.labels()
    legal.advance(hours=60)
    counts = legal.counts()
    legal.run()
    assert 1 == counts.get("regulatory_missed")
    assert _label(legal, "reg-due::overdue") in legal.labels()
    assert 1 == len(legal.notes("Regulatory step missed"))
    # The notification went from on track to missed between passes: no due-soon note for it.
    assert 1 == len(legal.notes("Regulatory step due soon"))
    sandbox.team_comment(key, "[reported] vulnerability notification")
    legal.run()
    assert _label(legal, "reg-due::waiting") in legal.labels()  # final report waits for a fix
    legal.run()
    assert 1 == len(legal.notes("Regulatory step missed"))
    with legal.bridge.store().unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        events = uow.reports.events("CVD-2026-0001")
        templates = [item.template for item in uow.outbox.for_report("CVD-2026-0001")]
    assert report is not None
    fields = draft(
        report,
        events,
        "cra-notification",
        legal.clock.now(),
        legal.bridge.program.calendar.tz,
        legal.bridge.program.regulatory,
    )
    assert "Patient portal 4.2" == fields["product"]
    assert "advisory mailed to customers" == fields["users_informed"]
    assert "CVD-2026-0001" == fields["report_id"]
    assert (
        report.received_at.astimezone(legal.bridge.program.calendar.tz).isoformat(
            timespec="seconds"
        )
        == fields["received_at"]
    )
    assert "CRA art. 14(2)(b)" in draft_markdown(fields)
    assert "acknowledgement" in templates
    assert [] == [t for t in templates if "reg" in t]
    assert json.loads(json.dumps(fields)) == fields


def test_gdpr_not_notifiable_and_nis2_started_earlier_by_marker(legal: LegalWorld) -> None:
    """[aware] 30 h ago misses the NIS2 early warning at once; [not notifiable] closes GDPR, audited."""
    key = legal.issue_key()
    sandbox = legal.installation.sandbox
    missed_before = len(legal.notes("Regulatory step missed"))
    aware = (legal.clock.now() - timedelta(hours=30)).isoformat(timespec="minutes")
    sandbox.team_set_labels(key, {_label(legal, "reg::personal-data-breach")}, set())
    sandbox.team_comment(key, f"[aware] {aware} significant-incident")
    legal.run()
    assert _label(legal, "reg-due::overdue") in legal.labels()
    assert missed_before + 1 == len(legal.notes("Regulatory step missed"))
    sandbox.team_comment(key, "[not notifiable] only salted password hashes, no contact data")
    sandbox.team_comment(key, "[reported] nis2-early-warning")
    sandbox.team_comment(key, "[reported] nis2-notification")
    legal.run()
    legal.run()
    assert missed_before + 1 == len(legal.notes("Regulatory step missed"))
    assert _label(legal, "reg-due::1m") in legal.labels()  # the NIS2 final report is next
    # Its month now runs from the notification's submission: one note gives the new date.
    [moved] = legal.notes("Regulatory clock moved (nis2")
    assert "final report (NIS2 art. 23(4)(d))" in moved
    with legal.bridge.store().unit_of_work() as uow:
        decided = [
            (e.action, e.detail)
            for e in uow.audit.entries("CVD-2026-0001")
            if e.action.startswith("regulatory_") and e.actor != "tracker label"
        ]
    assert ("regulatory_not_notifiable", "gdpr-notification") in decided
    assert ("regulatory_step_reported", "nis2-notification") in decided


def _state_labels(legal: LegalWorld) -> set[str]:
    """The issue's lifecycle labels (``cvd::`` in GitLab, ``cvd-`` in Jira)."""
    rows = dict(legal.installation.sandbox.describe(legal.issue_key()))
    prefix = _label(legal, "cvd::")
    return {x.strip() for x in rows["Labels"].split(",") if x.strip().startswith(prefix)}


def _step_due(legal: LegalWorld, step: str) -> datetime:
    """The due moment of ``step`` as the store's events give it."""
    with legal.bridge.store().unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
        events = uow.reports.events("CVD-2026-0001")
    assert report is not None
    program = legal.bridge.program
    rows = clock_rows(report, events, program.regulatory, legal.clock.now(), program.calendar.tz)
    [due] = [row["due"] for row in rows if row["step"] == step]
    return datetime.fromisoformat(due)


def test_a_closed_report_keeps_its_legal_clock(legal: LegalWorld) -> None:
    """Closed with the NIS2 final report open: due-soon and missed reminders once; done stops them."""
    key = legal.issue_key()
    sandbox = legal.installation.sandbox
    for state in ("triaging", "triaged", "resolved"):
        sandbox.team_set_labels(key, {_label(legal, f"cvd::{state}")}, _state_labels(legal))
        if state == "resolved":
            sandbox.team_close(key)
        legal.run()
    with legal.bridge.store().unit_of_work() as uow:
        report = uow.reports.get("CVD-2026-0001")
    assert report is not None
    assert report.state.is_closed, report.state
    soon, missed = (
        len(legal.notes("Regulatory step due soon")),
        len(legal.notes("Regulatory step missed")),
    )
    due = _step_due(legal, "nis2-final-report")
    legal.clock.current = due - timedelta(hours=5)
    legal.run()
    legal.run()
    assert soon + 1 == len(legal.notes("Regulatory step due soon"))
    legal.clock.current = due + timedelta(minutes=1)
    legal.run()
    legal.run()
    assert missed + 1 == len(legal.notes("Regulatory step missed"))
    assert _label(legal, "reg-due::overdue") in legal.labels()
    sandbox.team_comment(key, "[reported] nis2-final-report")
    legal.run()
    legal.advance(days=20)  # the CRA final report waits for a measure: no clock runs
    legal.run()
    legal.run()
    assert (soon + 1, missed + 1) == (
        len(legal.notes("Regulatory step due soon")),
        len(legal.notes("Regulatory step missed")),
    )
    assert _label(legal, "reg-due::waiting") in legal.labels()

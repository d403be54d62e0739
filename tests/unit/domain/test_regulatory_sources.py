"""The article paragraphs the legal clocks cite, pinned to the official texts.

Checked against the texts as published in the Official Journal: GDPR (Regulation (EU) 2016/679)
art. 33(1) 72 hours and 33(5) documentation; NIS2 (Directive (EU) 2022/2555) art. 23(4)(a) early
warning 24 hours, (b) incident notification 72 hours, (d) final report one month after the
notification; CRA (Regulation (EU) 2024/2847) art. 14(2)(a) 24 hours, (b) 72 hours, (c) final
report 14 days after a corrective or mitigating measure is available, users informed art. 14(8),
art. 14 applies from 11 September 2026 (art. 71(2)).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tracker_bridge.domain.regulatory import (
    CRA_REPORTING_APPLIES_FROM,
    STEPS,
    USERS_INFORMED_SOURCE,
    Anchor,
    Regime,
    RegulatoryPolicy,
    step_rule,
)
from tracker_bridge.domain.report import Report, ReportId
from tracker_bridge.ports.store import ReportEvent
from tracker_bridge.services.regulatory import draft, draft_markdown

ROOT = Path(__file__).resolve().parents[3]

# step id: (source, hours, months, what it runs from)
OFFICIAL: dict[str, tuple[str, int | None, int | None, Anchor]] = {
    "gdpr-notification": ("GDPR art. 33(1)", 72, None, Anchor.AWARENESS),
    "nis2-early-warning": ("NIS2 art. 23(4)(a)", 24, None, Anchor.AWARENESS),
    "nis2-notification": ("NIS2 art. 23(4)(b)", 72, None, Anchor.AWARENESS),
    "nis2-final-report": ("NIS2 art. 23(4)(d)", None, 1, Anchor.PREVIOUS_STEP),
    "cra-early-warning": ("CRA art. 14(2)(a)", 24, None, Anchor.AWARENESS),
    "cra-notification": ("CRA art. 14(2)(b)", 72, None, Anchor.AWARENESS),
    "cra-final-report": ("CRA art. 14(2)(c)", 14 * 24, None, Anchor.MEASURE_AVAILABLE),
}


@pytest.mark.parametrize("step", sorted(OFFICIAL))
def test_each_step_cites_its_paragraph_and_period(step: str) -> None:
    """Every step's source, period and starting point are those of the official text."""
    rule = step_rule(step)
    assert OFFICIAL[step] == (rule.source, rule.hours, rule.months, rule.anchor)


def test_no_step_beyond_the_pinned_ones() -> None:
    """A new step must be pinned here with its paragraph before it ships."""
    assert sorted(OFFICIAL) == sorted(rule.step for rule in STEPS)


def test_cra_reporting_applies_from_11_september_2026_and_users_informed_is_14_8() -> None:
    """CRA art. 71(2): art. 14 applies from 11 September 2026; users are informed per art. 14(8)."""
    assert CRA_REPORTING_APPLIES_FROM == date(2026, 9, 11)
    assert {Regime.CRA: "CRA art. 14(8)"} == USERS_INFORMED_SOURCE


def test_readme_and_mappings_cite_the_same_paragraphs() -> None:
    """The team's README table and program.toml comments carry the same citations as the code."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    program = (ROOT / "mappings" / "program.toml").read_text(encoding="utf-8")
    for citation in (
        "GDPR art. 33(1), 33(5)",
        "NIS2 art. 23(4)(a), (b), (d)",
        "CRA art. 14(2)(a), (b), (c)",
        "art. 71(2)",
        "art. 14(8)",
    ):
        assert citation in readme, citation
    for citation in ("GDPR art. 33(1)", "art. 33(5)", "NIS2 art. 23(4)(a), (b), (d)"):
        assert citation in program, citation
    assert "CRA art. 14(2)(a), (b), (c), from 11 Sep 2026 (art. 71(2))" in program


def test_cra_draft_cites_art_14_8_beside_users_informed() -> None:
    """A CRA draft names art. 14(8) on its users-informed line; a NIS2 draft names no paragraph."""
    aware = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    report = Report(ReportId("CVD", 2026, 7), "default", aware)
    events = [
        ReportEvent("CVD-2026-0007", aware, "reg_started", f"cra|{aware.isoformat()}|team"),
        ReportEvent("CVD-2026-0007", aware, "reg_started", f"nis2|{aware.isoformat()}|team"),
    ]
    policy = RegulatoryPolicy(enabled=frozenset(Regime))
    cra = draft_markdown(draft(report, events, "cra-notification", aware, UTC, policy))
    nis2 = draft_markdown(draft(report, events, "nis2-notification", aware, UTC, policy))
    assert "- **Users informed (CRA art. 14(8))**: " in cra
    assert "- **Users informed**: " in nis2

"""A tracker refusing one report (422) among many: the others are done in the same pass, the team is told once.

GitLab answers 422 to every edit of one issue (a label or field it will not take). The pass
opens and updates every other report's issue, sets the refused one aside with the reason,
notes it once on the issue, and retries it quietly on later passes until GitLab takes it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.reliability.conftest import CVSS, Scenario, Site, end_state, sent_rows

REFUSAL = "tracker-bridge could not"


def refusal_notes(site: Site, iid: int) -> list[str]:
    """The bridge's notes on issue ``iid`` telling the team about a refusal."""
    return [body for body in site.team.notes(iid) if body.startswith(REFUSAL)]


def refusal_problems(result: Any) -> list[str]:
    """The pass summary's lines about refused reports."""
    summary = json.loads(result.stdout)
    return [p for step in summary.values() for p in step["problems"] if "refused" in p]


@pytest.mark.timeout(240)
def test_a_422_on_one_open_leaves_the_others_opened_and_tells_the_team_once(
    site_factory: Any, scenario: Scenario
) -> None:
    """Issue 2 refuses its content: reports 1, 3, 4 open in the same pass; one note; then heals."""
    site = site_factory("refusing")
    for mail in scenario.first_mails():
        site.deliver(mail.name, mail.raw)
    site.team.refuse_edits(2, status=422, field="labels", reason="is invalid")
    first = site.run()
    second = site.run()
    site.team.heal()
    healed = site.run()
    assert {
        "first exit": 3,
        "opened in the first pass": 3,
        "refused in the first pass": 1,
        "acknowledgements sent in the first pass": 4,
        "refusal lines": 1,
        "second exit": 0,
        "refused again, quietly": 1,
        "refusal lines later": [],
        "notes on issue 2": 1,
        "issues": 4,
        "opened once healed": 1,
    } == {
        "first exit": first.returncode,
        "opened in the first pass": first.counts["ingest"].get("issue_opened"),
        "refused in the first pass": first.counts["ingest"].get("tracker_refused"),
        "acknowledgements sent in the first pass": first.counts["notify"].get("sent"),
        "refusal lines": len(refusal_problems(first)),
        "second exit": second.returncode,
        "refused again, quietly": second.counts["ingest"].get("still_refused"),
        "refusal lines later": refusal_problems(second),
        "notes on issue 2": len(refusal_notes(site, 2)),
        "issues": len(site.team.issues()),
        "opened once healed": healed.counts["ingest"].get("issue_opened"),
    }


@pytest.mark.timeout(240)
def test_a_422_on_one_issues_labels_leaves_the_other_syncs_done(
    site_factory: Any, scenario: Scenario
) -> None:
    """Issue 1 refuses the bridge's label edits: every team move is applied, the others' labels written."""
    site = site_factory("relabel")
    for mail in scenario.first_mails():
        site.deliver(mail.name, mail.raw)
    assert site.run().returncode in (0, 3)
    first_issue = site.issue_for(scenario.reports[0].subject)
    second_issue = site.issue_for(scenario.reports[1].subject)
    site.team.refuse_edits(first_issue, status=422, field="labels", reason="is invalid")
    site.team.comment(first_issue, f"Reproduced. {CVSS}")
    site.team.set_labels(first_issue, {"cvd::triaged"}, {"cvd::acknowledged", "cvd::received"})
    site.team.set_labels(second_issue, {"cvd::duplicate"}, {"cvd::acknowledged", "cvd::received"})
    site.team.comment(second_issue, "[to researcher]\nSomeone reported this before you.")
    site.team.close(second_issue)
    first = site.run()
    second = site.run()
    templates = sorted(template for _, _, template in sent_rows(site).values())
    states = {subject: report["state"] for subject, report in end_state(site).items()}
    assert {
        "refused": 1,
        "notes on the refusing issue": 1,
        "refused later, quietly": (1, []),
        "other issues' labels written in the same pass": True,
        "states": ("triaged", "duplicate"),
        "triage mailed": True,
    } == {
        "refused": first.counts["sync"].get("tracker_refused"),
        "notes on the refusing issue": len(refusal_notes(site, first_issue)),
        "refused later, quietly": (
            second.counts["sync"].get("still_refused"),
            refusal_problems(second),
        ),
        "other issues' labels written in the same pass": first.counts["sync"].get(
            "labels_updated", 0
        )
        >= 1,
        "states": (states[scenario.reports[0].subject], states[scenario.reports[1].subject]),
        "triage mailed": "state_triaged" in templates,
    }

"""Trackers that lag like the real ones: GitLab keeps updated_at on consecutive label edits, a create's answer is lost.

GitLab touches an issue's ``updated_at`` at most once per short window (python-gitlab#743),
so a team label edit right after the bridge's own write can sit behind the bookmark; and a
create can succeed while its answer times out. Through real ``run`` passes the bridge still
sees every change and opens exactly one issue per report.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.conftest import Scenario, Site, end_state


def deliver_all(site: Site, scenario: Scenario) -> None:
    """Every report of the scenario into the Maildir."""
    for mail in scenario.first_mails():
        site.deliver(mail.name, mail.raw)


@pytest.mark.timeout(240)
def test_a_label_edit_that_keeps_updated_at_is_still_seen(
    site_factory: Any, scenario: Scenario
) -> None:
    """The team's triage label, hidden behind the bookmark by a sticky updated_at, moves the report."""
    site = site_factory("sticky")
    site.team.keep_updated_at_on_label_edits(120)
    deliver_all(site, scenario)
    assert site.run().returncode in (0, 3)
    first = site.issue_for(scenario.reports[0].subject)
    kept = site.team.issue(first).updated_at
    site.team.set_labels(first, {"cvd::triaged"}, {"cvd::acknowledged", "cvd::received"})
    later = site.run()
    state = end_state(site)[scenario.reports[0].subject]
    assert (kept, 0, "triaged", True) == (
        site.team.issue(first).updated_at,
        later.returncode,
        state["state"],
        ("state_triaged", "jan@onderzoek.example", "sent") in state["outbox"],
    )


@pytest.mark.timeout(240)
def test_a_create_that_timed_out_but_succeeded_opens_one_issue(
    site_factory: Any, scenario: Scenario
) -> None:
    """GitLab makes the first placeholder but the answer never comes: still one issue per report."""
    site = site_factory("lost")
    deliver_all(site, scenario)
    # The site's tracker gives up after 2 s; GitLab makes the issue and answers after 3.
    site.team.inject_fault(
        0, count=1, method="POST", path_pattern=r"/issues$", delay=3, applied=True
    )
    first = site.run()
    site.run()
    titles = sorted(issue.title for issue in site.team.issues())
    assert (True, 4, 4) == (
        first.counts["ingest"].get("issue_opened", 0) >= 3,
        len(titles),
        len({title.split(":", 1)[0] for title in titles}),
    )
    assert [True] * 4 == [
        any(mail.subject in title for title in titles) for mail in scenario.reports
    ]

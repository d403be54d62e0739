"""Credits list only researchers who asked for them, for resolved or published reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tracker_bridge._testsupport.memory_store import MemoryStore
from tracker_bridge.credits import collect_credits, render_credits
from tracker_bridge.domain.report import Report, ReportId, State
from tracker_bridge.domain.researcher import CreditWish, Language, Researcher
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent

RECEIVED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

_PATHS = {
    State.RESOLVED: [State.TRIAGED, State.RESOLVED],
    State.DISCLOSURE_PENDING: [State.TRIAGED, State.RESOLVED, State.DISCLOSURE_PENDING],
    State.PUBLISHED: [State.TRIAGED, State.RESOLVED, State.PUBLISHED],
    State.IN_REMEDIATION: [State.TRIAGED, State.IN_REMEDIATION],
    State.DUPLICATE: [State.DUPLICATE],
}


def _store(*reports: tuple[int, Researcher, State]) -> MemoryStore:
    """A store with one report per (sequence, researcher, final state), ten days apart."""
    store = MemoryStore()
    with store.unit_of_work() as uow:
        for sequence, researcher, state in reports:
            uow.researchers.save(researcher)
            received = RECEIVED + timedelta(days=10 * sequence)
            report = Report(ReportId("CVD", 2026, sequence), "default", received)
            for step, target in enumerate(_PATHS[state], start=1):
                report.transition(target, received + timedelta(days=step))
            uow.reports.add(
                report,
                researcher.email,
                ReportContent(
                    str(report.report_id), "s", "b", True, SignatureCheck(SignatureStatus.NONE)
                ),
            )
        uow.commit()
    return store


ANNA = Researcher("anna@example.net", display_name="Anna de Vries", credit_wish=CreditWish.NAME)
ZERO = Researcher("z@example.net", pseudonym="zerocool", credit_wish=CreditWish.PSEUDONYM)
SHY = Researcher("shy@example.net", display_name="Shy Person", credit_wish=CreditWish.NONE)
UNSURE = Researcher("u@example.net", display_name="Not Asked", credit_wish=CreditWish.UNKNOWN)
ANON = Researcher("anon@example.net", display_name="Hidden", credit_wish=CreditWish.ANONYMOUS)


def test_only_consenting_researchers_of_fixed_reports() -> None:
    """Named and pseudonymous wishes for resolved/pending/published reports; nobody else."""
    store = _store(
        (1, ANNA, State.RESOLVED),
        (2, ZERO, State.PUBLISHED),
        (3, SHY, State.PUBLISHED),
        (4, UNSURE, State.RESOLVED),
        (5, ANNA, State.IN_REMEDIATION),
        (6, ZERO, State.DUPLICATE),
        (7, ANNA, State.DISCLOSURE_PENDING),
    )
    credits = collect_credits(store.unit_of_work)
    assert [
        ("Anna de Vries", ["CVD-2026-0001", "CVD-2026-0007"]),
        ("zerocool", ["CVD-2026-0002"]),
    ] == [(c.name, [r.report_id for r in c.reports]) for c in credits]


def test_anonymous_credits_are_not_grouped() -> None:
    """Two anonymous credits from one person stay two lines, without their name."""
    store = _store((1, ANON, State.RESOLVED), (2, ANON, State.PUBLISHED))
    credits = collect_credits(store.unit_of_work)
    page = render_credits(credits, "md", organisation="Ex", language=Language.NL)
    assert (2, False) == (page.count("- **Anonieme onderzoeker**"), "Hidden" in page)


def test_json_lists_names_ids_and_dates() -> None:
    """JSON carries the chosen name, report id, received and resolved dates, and state."""
    credits = collect_credits(_store((1, ZERO, State.PUBLISHED)).unit_of_work)
    assert {
        "organisation": "Example B.V.",
        "credits": [
            {
                "name": "zerocool",
                "anonymous": False,
                "reports": [
                    {
                        "report_id": "CVD-2026-0001",
                        "received": "2026-03-12",
                        "resolved": "2026-03-14",
                        "state": "published",
                    }
                ],
            }
        ],
    } == json.loads(render_credits(credits, "json", organisation="Example B.V."))


def test_names_cannot_inject_markup() -> None:
    """A researcher's chosen name is escaped in HTML and Markdown."""
    evil = Researcher(
        "e@example.net",
        pseudonym="<img src=x onerror=alert(1)>[x](https://evil.example)",
        credit_wish=CreditWish.PSEUDONYM,
    )
    credits = collect_credits(_store((1, evil, State.RESOLVED)).unit_of_work)
    html = render_credits(credits, "html", organisation="Ex")
    markdown = render_credits(credits, "md", organisation="Ex")
    assert (False, True, True) == (
        "<img" in html,
        "&lt;img src=x onerror=alert(1)&gt;[x](https://evil.example)" in html,
        r"\<img src=x onerror=alert\(1\)\>\[x\]\(https://evil.example\)" in markdown,
    )


def test_bidi_controls_in_names_are_shown_on_every_format() -> None:
    """U+202E in a chosen name is written as [U+202E] in md, html and json, never obeyed."""
    tricky = Researcher("r@example.net", pseudonym="R\u202eosa", credit_wish=CreditWish.PSEUDONYM)
    credits = collect_credits(_store((1, tricky, State.RESOLVED)).unit_of_work)
    pages = {f: render_credits(credits, f, organisation="Ex") for f in ("md", "html", "json")}
    assert (False, True, True, "R[U+202E]osa") == (
        any("\u202e" in page for page in pages.values()),
        r"R\[U\+202E\]osa" in pages["md"],
        "R[U+202E]osa" in pages["html"],
        json.loads(pages["json"])["credits"][0]["name"],
    )


def test_empty_page_says_so() -> None:
    """With nobody to thank yet the page says so rather than being blank."""
    page = render_credits([], "md", organisation="Example B.V.")
    assert (
        "# Acknowledgements\n\nExample B.V. thanks these researchers for reporting "
        "vulnerabilities to us responsibly.\n\nNo researchers to thank yet.\n"
    ) == page


def test_forget_erases_the_credit_name_too() -> None:
    """After `forget` (an erasure request) no name is credited, not even a consented one."""
    from tracker_bridge.services.retention import RetentionPolicy
    from tracker_bridge.services.subject_requests import SubjectRequests
    from tracker_bridge.testing.clock import FakeClock

    store = _store((1, ANNA, State.RESOLVED), (2, SHY, State.RESOLVED))
    clock = FakeClock(RECEIVED + timedelta(days=200))
    privacy = SubjectRequests(
        store.unit_of_work, clock, RetentionPolicy(), lambda moment: moment.date()
    )
    privacy.forget("anna@example.net")
    privacy.forget("shy@example.net")
    assert [] == collect_credits(store.unit_of_work)

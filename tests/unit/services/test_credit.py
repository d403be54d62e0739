"""Credit: the researcher's answer to the resolved mail, or a team marker, reaches `credits`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.fakes import inbound
from tracker_bridge.credits import collect_credits
from tracker_bridge.domain.researcher import (
    CreditAnswer,
    CreditWish,
    parse_credit_answer,
)
from tracker_bridge.ports.intake import Verdict

if TYPE_CHECKING:
    from tests.unit.services.conftest import World

QUOTED_QUESTION = (
    "> May we thank you in our advisory? Reply to this mail with one line at\n"
    "> the top, in one of these forms:\n"
    ">\n"
    ">   Credit: <your name or pseudonym>\n"
    ">   Credit: anonymous\n"
    ">   Credit: none\n"
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            f"Credit: Ada L.\n\nThanks!\n\nOn Mon, 2 Nov 2026, security wrote:\n{QUOTED_QUESTION}",
            CreditAnswer(CreditWish.NAME, "Ada L."),
        ),
        (
            f"Thanks, data deleted.\n  credit:  \u201czer0cool\u201d \n{QUOTED_QUESTION}",
            CreditAnswer(CreditWish.NAME, "zer0cool"),
        ),
        (
            "Geen vermelding.\n\n> Vermelding: <uw naam of pseudoniem>\n",
            CreditAnswer(CreditWish.NONE),
        ),
        ("Vermelding: anoniem\n", CreditAnswer(CreditWish.ANONYMOUS)),
        ("Credit: none", CreditAnswer(CreditWish.NONE)),
        (f"Deleted everything.\n\n{QUOTED_QUESTION}", None),
        ("Deleted.\n\n-----Original Message-----\nCredit: none\n", None),
        ("Credit: <your name or pseudonym>\n", None),
    ],
)
def test_credit_answer_is_read_from_the_researchers_own_lines(
    body: str, expected: CreditAnswer | None
) -> None:
    """A "Credit: <name>" or "Geen vermelding" line of their own counts; quoted text does not."""
    assert expected == parse_credit_answer(body)


def resolved_report(world: World) -> None:
    """Ingest ada@example.org's report, triage it and close the issue (resolved mail queued)."""
    world.ingest.ingest(world.reader.add(inbound()), world.summary())
    world.tracker.team_set_labels("1", {"cvd::triaged"}, {"cvd::received"})
    world.pass_sync()
    world.clock.advance(days=3)
    world.tracker.team_set_labels("1", set(), {"cvd::triaged"})
    world.tracker.team_set_status("1", "closed")
    world.pass_sync()


def reply(world: World, body: str, *, sender: str = "ada@example.org", number: int = 1) -> None:
    """A reply to the resolved mail on the report's plus-address."""
    world.clock.advance(hours=1)
    message = inbound(
        body,
        sender=sender,
        message_id=f"<reply{number}@example.org>",
        subject="Re: Report CVD-2026-0001: resolved",
        recipients=("security+CVD-2026-0001@example.org",),
        in_reply_to=("<m1@example.org>",),
        verdict=Verdict.REPLY,
    )
    world.ingest.ingest(world.reader.add(message), world.summary())


def credited(world: World) -> list[tuple[str, list[str]]]:
    """What `credits` lists: (name, report ids)."""
    return [
        (credit.name, [r.report_id for r in credit.reports])
        for credit in collect_credits(world.store.unit_of_work)
    ]


def test_researchers_credit_answer_is_recorded_noted_and_listed(world: World) -> None:
    """A reply line "Credit: Ada L.": recorded with the date, noted on the issue, in credits."""
    resolved_report(world)
    reply(world, f"Data deleted.\nCredit: Ada L.\n\n{QUOTED_QUESTION}")
    with world.store.unit_of_work() as uow:
        events = [
            (e.at, e.detail.split(" ")[0])
            for e in uow.reports.events("CVD-2026-0001")
            if e.kind == "credit_recorded"
        ]
    notes = [n.body for n in world.tracker.issues["1"].notes if n.by_bridge]
    assert [("Ada L.", ["CVD-2026-0001"])] == credited(world)
    assert [(world.clock.now(), "pseudonym")] == events
    assert 1 == sum(
        n.startswith("Credit recorded on 2026-11-05 from the researcher's reply") and "Ada L." in n
        for n in notes
    )


def test_someone_elses_reply_sets_no_credit(world: World) -> None:
    """A reply in the thread from another address does not answer for the researcher."""
    resolved_report(world)
    reply(world, "Credit: Mallory", sender="mallory@evil.example")
    assert [] == credited(world)


def test_team_credit_marker_sets_and_withdraws_credit(world: World) -> None:
    """[credit] <name> lists the researcher; a later [credit] none takes it back; noted each time."""
    resolved_report(world)
    world.tracker.team_comment("1", "[credit] Ada Lovelace (by phone)")
    world.pass_sync()
    first = credited(world)
    world.clock.advance(hours=1)
    world.tracker.team_comment("1", "[credit] none")
    world.pass_sync()
    notes = [n.body for n in world.tracker.issues["1"].notes if n.by_bridge]
    assert [("Ada Lovelace (by phone)", ["CVD-2026-0001"])] == first
    assert [] == credited(world)
    assert 2 == sum(n.startswith("Credit recorded on") for n in notes)

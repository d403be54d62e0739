"""Lists researchers who asked for credit for resolved or published reports (md, html, json)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, date
from typing import TYPE_CHECKING, Literal

from tracker_bridge.domain.report import Report, State
from tracker_bridge.domain.researcher import ANONYMOUS_CREDIT, CreditWish, Language
from tracker_bridge.policy import html_page

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker_bridge.ports.unit_of_work import UnitOfWork

__all__ = [
    "CREDITED_STATES",
    "Credit",
    "CreditedReport",
    "CreditsFormat",
    "collect_credits",
    "render_credits",
]

CreditsFormat = Literal["md", "html", "json"]

# Only fixed reports earn a public thank-you; closures (duplicate, out of scope, ...) do not.
CREDITED_STATES: frozenset[State] = frozenset(
    {State.RESOLVED, State.DISCLOSURE_PENDING, State.PUBLISHED}
)


@dataclass(frozen=True)
class CreditedReport:
    """One report a researcher is thanked for: its id, when it came in, when it was fixed."""

    report_id: str
    received: date
    resolved: date | None
    state: State


@dataclass(frozen=True)
class Credit:
    """A researcher as they asked to be credited, with the reports they are thanked for."""

    name: str
    anonymous: bool
    reports: tuple[CreditedReport, ...]


def collect_credits(unit_of_work: Callable[[], UnitOfWork]) -> list[Credit]:
    """Every researcher with a credit wish, for reports in ``CREDITED_STATES``; read only.

    A researcher whose contact details were purged by retention still carries the credit name
    they chose; one erased on request (``researcher forget``) is credited under no name.
    Anonymous credits are never grouped: one line per report, so the page does not reveal
    that several reports came from the same person.
    """
    grouped: dict[tuple[str, ...], tuple[str, bool, list[CreditedReport]]] = {}
    with unit_of_work() as uow:
        for report in uow.reports.reports_in(CREDITED_STATES):
            report_id = str(report.report_id)
            researcher = uow.reports.researcher_of(report_id)
            key: tuple[str, ...]
            if researcher is None:
                # Contact details erased: the consented credit name is all that is kept, and
                # without an address the reports cannot be grouped by person.
                name = uow.reports.credit_name_of(report_id)
                anonymous = name == ANONYMOUS_CREDIT
                key = ("report", report_id)
            else:
                name = researcher.credit_name()
                anonymous = researcher.credit_wish is CreditWish.ANONYMOUS
                key = (
                    ("report", report_id)
                    if anonymous
                    else ("person", researcher.email.lower(), name or "")
                )
            if name is None:
                continue
            entry = grouped.setdefault(key, (name, anonymous, []))
            entry[2].append(_credited(report))
    credits = [
        Credit(name, anonymous, tuple(reports)) for name, anonymous, reports in grouped.values()
    ]
    # Chronological by first fix: a credits page reads as a history.
    credits.sort(key=lambda credit: (_first_resolved(credit), credit.name.lower()))
    return credits


def _credited(report: Report) -> CreditedReport:
    resolved_at = report.first_time_in(CREDITED_STATES)
    return CreditedReport(
        report_id=str(report.report_id),
        received=report.received_at.astimezone(UTC).date(),
        resolved=None if resolved_at is None else resolved_at.astimezone(UTC).date(),
        state=report.state,
    )


def _first_resolved(credit: Credit) -> date:
    return min((r.resolved or r.received) for r in credit.reports)


_TEXT = {
    Language.EN: {
        "title": "Acknowledgements",
        "intro": "{organisation} thanks these researchers for reporting vulnerabilities to us "
        "responsibly.",
        "empty": "No researchers to thank yet.",
        "anonymous": "Anonymous researcher",
        "resolved": "resolved {date}",
        "received": "received {date}",
    },
    Language.NL: {
        "title": "Dankwoord",
        "intro": "{organisation} bedankt deze onderzoekers voor het verantwoord melden van "
        "kwetsbaarheden.",
        "empty": "Er zijn nog geen onderzoekers om te bedanken.",
        "anonymous": "Anonieme onderzoeker",
        "resolved": "opgelost op {date}",
        "received": "ontvangen op {date}",
    },
}


# Unicode bidirectional controls (UAX #9): a name must not reorder the text around it on the
# page ("Trojan Source"); each is shown as its code point, as the trackers show them.
_BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)


def _display_name(credit: Credit, language: Language) -> str:
    name = _TEXT[language]["anonymous"] if credit.anonymous else credit.name
    return "".join(f"[U+{ord(ch):04X}]" if ch in _BIDI_CONTROLS else ch for ch in name)


def _report_words(report: CreditedReport, language: Language) -> str:
    text = _TEXT[language]
    when = (
        text["resolved"].format(date=report.resolved.isoformat())
        if report.resolved
        else text["received"].format(date=report.received.isoformat())
    )
    return f"{report.report_id} ({when})"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~-])")


def _md_escape(text: str) -> str:
    # Names are the researcher's own words: they must not become links or markup on our page.
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def render_credits(
    credits: list[Credit],
    credits_format: CreditsFormat,
    *,
    organisation: str,
    language: Language = Language.EN,
) -> str:
    """The credits as a Markdown list, a self-contained HTML page, or JSON for a site generator."""
    text = _TEXT[language]
    if credits_format == "json":
        return (
            json.dumps(
                {
                    "organisation": organisation,
                    "credits": [
                        {
                            "name": _display_name(credit, language),
                            "anonymous": credit.anonymous,
                            "reports": [
                                {
                                    "report_id": report.report_id,
                                    "received": report.received.isoformat(),
                                    "resolved": report.resolved.isoformat()
                                    if report.resolved
                                    else None,
                                    "state": report.state.value,
                                }
                                for report in credit.reports
                            ],
                        }
                        for credit in credits
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )
    intro = text["intro"].format(organisation=organisation)
    if credits_format == "md":
        lines = [f"# {text['title']}", "", _md_escape(intro), ""]
        if not credits:
            lines.append(text["empty"])
        for credit in credits:
            reports = ", ".join(_report_words(r, language) for r in credit.reports)
            lines.append(f"- **{_md_escape(_display_name(credit, language))}**: {reports}")
        return "\n".join(lines) + "\n"
    # HTML is built directly, not from Markdown, so no name can smuggle in markup.
    items = "".join(
        f"<li><strong>{html.escape(_display_name(credit, language))}</strong>: "
        f"{html.escape(', '.join(_report_words(r, language) for r in credit.reports))}</li>"
        for credit in credits
    )
    listing = f"<ul>{items}</ul>" if credits else f"<p>{html.escape(text['empty'])}</p>"
    body = f"<h1>{html.escape(text['title'])}</h1>\n<p>{html.escape(intro)}</p>\n{listing}"
    return html_page(body, language.value)

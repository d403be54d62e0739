"""The policy page states exactly the numbers program.toml makes the bridge enforce."""

from __future__ import annotations

import re

import pytest

from tests.unit.publish.conftest import FINGERPRINT, MappingsWith
from tracker_bridge.domain.deadlines import calendar_days, working_days
from tracker_bridge.domain.researcher import Language
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.mail.templates import localise_parameters
from tracker_bridge.mappings import policy_warnings
from tracker_bridge.policy import markdown_to_html, render_policy, span_words


def _text(markdown: str) -> str:
    """The page with line breaks folded, so a phrase split over two lines is found."""
    return " ".join(markdown.split())


@pytest.mark.parametrize(
    ("span", "language", "expected"),
    [
        (working_days(1), Language.EN, "1 working day"),
        (working_days(3), Language.EN, "3 working days"),
        (calendar_days(1), Language.EN, "1 day"),
        (calendar_days(14), Language.EN, "14 days"),
        (working_days(1), Language.NL, "1 werkdag"),
        (working_days(3), Language.NL, "3 werkdagen"),
        (calendar_days(1), Language.NL, "1 dag"),
        (calendar_days(14), Language.NL, "14 dagen"),
    ],
)
def test_span_words(span: object, language: Language, expected: str) -> None:
    """Spans read as a policy page says them, singular and plural, in English and Dutch."""
    assert expected == span_words(span, language)  # type: ignore[arg-type]


def test_default_promises_in_english(mappings_with: MappingsWith) -> None:
    """The packaged numbers appear as promises on the English page."""
    page = _text(render_policy(mappings_with(), Language.EN, "md", fingerprint=FINGERPRINT))
    for phrase in (
        "We confirm receipt of your report within 1 working day",
        "Within 3 working days you receive our assessment",
        "at least every 14 days",
        "within 90 days of receiving your report",
        "Critical (CVSS 9.0–10.0): within 30 days",
        "Low (CVSS 0.1–3.9): within 90 days",
        "We write to you in English or Dutch",
        "for 90 days after it is closed",
        "security@example.org",
    ):
        assert phrase in page, phrase


def test_default_promises_in_dutch(mappings_with: MappingsWith) -> None:
    """The packaged numbers appear as promises on the Dutch page, in u-form Dutch."""
    page = _text(render_policy(mappings_with(), Language.NL, "md", fingerprint=FINGERPRINT))
    for phrase in (
        "Binnen 1 werkdag bevestigen wij de ontvangst van uw melding",
        "Binnen 3 werkdagen ontvangt u onze beoordeling",
        "ten minste elke 14 dagen",
        "binnen 90 dagen na ontvangst van uw melding",
        "Kritiek (CVSS 9,0–10,0): binnen 30 dagen",
        "Gemiddeld (CVSS 4,0–6,9): binnen 60 dagen",
        "in het Nederlands of het Engels",
        "onder een pseudoniem",
    ):
        assert phrase in page, phrase


@pytest.mark.parametrize(
    ("replacement", "language", "promise", "stale"),
    [
        (
            ('acknowledge = "1 working day"', 'acknowledge = "5 working days"'),
            Language.EN,
            "within 5 working days, with a report number",
            "within 1 working day, with a report number",
        ),
        (
            ('assessment = "3 working days"', 'assessment = "14 days"'),
            Language.NL,
            "Binnen 14 dagen ontvangt u onze beoordeling",
            "Binnen 3 werkdagen ontvangt u",
        ),
        (
            ('critical = "30 days"', 'critical = "7 days"'),
            Language.EN,
            "Critical (CVSS 9.0–10.0): within 7 days",
            "Critical (CVSS 9.0–10.0): within 30 days",
        ),
        (
            ('low = "90 days"', 'low = "60 working days"'),
            Language.NL,
            "Laag (CVSS 0,1–3,9): binnen 60 werkdagen",
            "Laag (CVSS 0,1–3,9): binnen 90 dagen",
        ),
        (
            ('progress_update = "14 days"', 'progress_update = "7 days"'),
            Language.NL,
            "ten minste elke 7 dagen",
            "elke 14 dagen",
        ),
        (
            ('disclosure = "90 days"', 'disclosure = "120 days"'),
            Language.EN,
            "within 120 days of receiving your report",
            "within 90 days of receiving",
        ),
        (
            ("content_days_after_close = 90", "content_days_after_close = 30"),
            Language.EN,
            "for 30 days after it is closed",
            "for 90 days after it is closed",
        ),
        (
            ('languages = ["en", "nl"]', 'languages = ["nl"]'),
            Language.NL,
            "in het Nederlands.",
            "het Engels",
        ),
    ],
)
def test_page_follows_config(
    mappings_with: MappingsWith,
    replacement: tuple[str, str],
    language: Language,
    promise: str,
    stale: str,
) -> None:
    """Changing a number in program.toml changes the page; the old number is gone."""
    page = _text(render_policy(mappings_with(replacement), language, "md", fingerprint=FINGERPRINT))
    assert (True, False) == (promise in page, stale in page)


def test_fingerprint_and_key_url(mappings_with: MappingsWith) -> None:
    """The bridge key's fingerprint is printed grouped; its URL follows policy_url's site."""
    mappings = mappings_with(
        (
            '# policy_url = "https://example.org/security/"',
            'policy_url = "https://example.org/cvd/"',
        )
    )
    page = _text(render_policy(mappings, Language.EN, "md", fingerprint=FINGERPRINT))
    grouped = "0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567"
    assert (2, True) == (
        page.count(grouped),
        "download the key from <https://example.org/.well-known/openpgp-key.asc>" in page,
    )


def test_html_is_escaped_and_self_contained(mappings_with: MappingsWith) -> None:
    """An organisation name with markup appears as text; the page loads nothing from outside."""
    mappings = mappings_with(
        ('name = "Example Organisation"', 'name = "<script>alert(1)</script> & Zn"')
    )
    page = render_policy(mappings, Language.NL, "html", fingerprint=FINGERPRINT)
    assert (True, False, True, False) == (
        page.startswith('<!DOCTYPE html>\n<html lang="nl">'),
        "<script>" in page,
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Zn" in page,
        bool(re.search(r"(src|href)=\"https?://", page)),
    )


def test_html_lists_and_mail_links(mappings_with: MappingsWith) -> None:
    """The fix targets become a list and the contact a mailto link."""
    page = render_policy(mappings_with(), Language.EN, "html", fingerprint=FINGERPRINT)
    assert (True, True) == (
        "<li>High (CVSS 7.0–8.9): within 30 days</li>" in page,
        '<a href="mailto:security@example.org">security@example.org</a>' in page,
    )


def test_markdown_links_only_to_web_and_mail() -> None:
    """A javascript: link in a template renders as plain text, not a link."""
    html = markdown_to_html("See [here](javascript:alert) and <https://example.org/a?b=1&c=2>.")
    assert (
        '<p>See here and <a href="https://example.org/a?b=1&amp;c=2">'
        "https://example.org/a?b=1&amp;c=2</a>.</p>"
    ) == html


def test_operator_wording_is_used(mappings_with: MappingsWith) -> None:
    """An edited template changes the wording while the numbers still come from config."""
    mappings = mappings_with()
    (mappings.directory / "policy" / "en.md").write_text(
        "# Our promise\n\nAnswer in $acknowledge, fixes in $fix_high, 100$$ bounty.\n",
        encoding="utf-8",
    )
    page = render_policy(mappings, Language.EN, "md", fingerprint=FINGERPRINT)
    assert "# Our promise\n\nAnswer in 1 working day, fixes in 30 days, 100$ bounty.\n" == page


def test_unknown_placeholder_is_reported(mappings_with: MappingsWith) -> None:
    """A misspelt placeholder fails with the template's path and the placeholder's name."""
    mappings = mappings_with()
    template = mappings.directory / "policy" / "nl.md"
    template.write_text("Binnen $acknowlegde.\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        render_policy(mappings, Language.NL, "md", fingerprint=FINGERPRINT)
    assert str(caught.value).startswith(f"{template}: unknown placeholder $acknowlegde")


def test_default_disclosure_horizon_is_not_shorter_than_any_fix_target(
    mappings_with: MappingsWith,
) -> None:
    """The packaged numbers pass: no fix target outlasts the disclosure horizon."""
    assert [] == policy_warnings(mappings_with())


def test_check_warns_when_disclosure_comes_before_a_fix_target(
    mappings_with: MappingsWith,
) -> None:
    """A 60-day horizon with a 90-day low fix target is named, with the file and line."""
    mappings = mappings_with(('disclosure = "90 days"', 'disclosure = "60 days"'))
    program = mappings.directory / "program.toml"
    line = (
        program.read_text(encoding="utf-8")
        .splitlines()
        .index(
            next(
                x
                for x in program.read_text(encoding="utf-8").splitlines()
                if x.startswith("disclosure")
            )
        )
        + 1
    )
    assert [
        (
            f"{program}:{line}: deadlines.disclosure: the disclosure horizon (60 calendar days) is "
            "shorter than the low fix target (90 calendar days); publication could come before "
            "the promised fix (make the horizon at least 90 calendar days)"
        )
    ] == policy_warnings(mappings)


def test_working_days_are_compared_as_the_calendar_days_they_take(
    mappings_with: MappingsWith,
) -> None:
    """65 working days take 91 calendar days: a 90-day horizon does not cover them."""
    mappings = mappings_with(('low = "90 days"', 'low = "65 working days"'))
    assert 1 == len(policy_warnings(mappings))


@pytest.mark.parametrize(
    ("language", "heading"), [(Language.EN, "## Scope"), (Language.NL, "## Reikwijdte")]
)
def test_policy_page_has_a_scope_section(
    mappings_with: MappingsWith, language: Language, heading: str
) -> None:
    """Researchers read which systems the policy covers and which it does not."""
    page = render_policy(mappings_with(), language, "md", fingerprint=FINGERPRINT)
    assert heading in page.splitlines()


@pytest.mark.parametrize("severity", [s for s in Severity if s is not Severity.UNASSESSED])
def test_one_dutch_word_per_severity_on_the_page_and_in_mail(
    mappings_with: MappingsWith, severity: Severity
) -> None:
    """The Dutch page's fix-target name and the mail's severity word are the same word."""
    mail_word = localise_parameters({"severity": severity.value}, "nl")["severity"]
    page = _text(render_policy(mappings_with(), Language.NL, "md", fingerprint=FINGERPRINT))
    listed = [line for line in page.split("- ") if "(CVSS" in line]
    names = {line.split(" (CVSS")[0].strip().lower() for line in listed}
    assert mail_word in names or severity is Severity.NONE

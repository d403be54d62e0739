"""Researcher mail templates: rendering in English and Dutch, fallback, and validation."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.mail.templates import (
    KEY_REQUEST_PARAMETERS,
    TEMPLATE_NAMES,
    TemplateSet,
    localise_parameters,
    template_problems,
    validate_templates,
)
from tracker_bridge.ports.mail import TEMPLATE_PARAMETERS

TEMPLATES = Path(__file__).resolve().parents[3] / "mappings" / "templates"

PARAMS: dict[str, str] = {
    "report_id": "CVD-2026-0007",
    "organisation": "Example Organisation",
    "researcher_name": "n0body",
    "contact_address": "security@example.org",
    "reply_address": "security+CVD-2026-0007@example.org",
    "policy_url": "https://example.org/cvd",
    "subject": "XSS in login",
    "received_date": "2026-11-02",
    "assessment_due": "2026-11-05",
    "arrived_encrypted": "yes",
    "arrived_signed": "no",
    "state": "in_remediation",
    "severity": "high",
    "expected_fix_date": "2026-12-24",
    "previous_fix_date": "2026-12-01",
    "team_message": "Which browser did you use?",
    "publish_date": "2027-01-15",
    "credit_question": "yes",
}

ENGLISH_WORDS = frozenset({"dear", "your", "we", "the", "regards", "please", "report"})
DUTCH_WORDS = frozenset({"beste", "met", "vriendelijke", "groet", "melding"})


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _used_placeholders(name: str, language: str) -> set[str]:
    text = (TEMPLATES / language / f"{name}.txt").read_text(encoding="utf-8")
    found = set()
    for match in string.Template.pattern.finditer(text):
        placeholder = match.group("named") or match.group("braced")
        if placeholder:
            found.add(placeholder)
    return found


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_renders_with_every_placeholder_resolved(name: str, language: str) -> None:
    """Each template exists in both languages and leaves no $placeholder behind."""
    subject, body = TemplateSet(TEMPLATES).render(name, language, PARAMS)

    assert [] == re.findall(r"\$\w+", subject + body)
    assert "CVD-2026-0007" in subject
    assert body.endswith("\n")
    assert "\n\n\n" not in body


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_dutch_templates_are_written_in_dutch(name: str) -> None:
    """Dutch renderings greet, address and close in Dutch and carry no English phrases."""
    params = {**PARAMS, "team_message": "Welke browser gebruikte u?"}
    subject, body = TemplateSet(TEMPLATES).render(name, "nl", params)
    words = _words(body)

    assert subject.startswith("Melding CVD-2026-0007: ")
    assert set() == DUTCH_WORDS - words
    assert words & {"u", "uw"}, "Dutch mail addresses the researcher with u/uw"
    assert set() == ENGLISH_WORDS & words


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_english_templates_are_written_in_english(name: str) -> None:
    """English renderings greet and close in English and carry no Dutch phrases."""
    subject, body = TemplateSet(TEMPLATES).render(name, "en", PARAMS)

    assert subject.startswith("Report CVD-2026-0007: ")
    assert body.startswith("Dear n0body,\n")
    assert set() == DUTCH_WORDS & _words(body)


def test_dates_and_flags_are_written_out_in_the_researchers_language() -> None:
    """ISO dates and yes/no flags become words in the language of the template used."""
    _, english = TemplateSet(TEMPLATES).render("acknowledgement", "en", PARAMS)
    _, dutch = TemplateSet(TEMPLATES).render("acknowledgement", "nl", PARAMS)

    assert "5 November 2026" in english
    assert "reached us encrypted and unsigned." in english
    assert "5 november 2026" in " ".join(dutch.split())
    assert "kwam versleuteld en niet ondertekend bij ons binnen" in " ".join(dutch.split())


def test_severity_and_expected_fix_date_appear_in_triaged() -> None:
    """The triaged mail names the severity and the expected fix date in Dutch words."""
    _, body = TemplateSet(TEMPLATES).render("state_triaged", "nl", PARAMS)

    flat = " ".join(body.split())
    assert "ernst in als hoog" in flat
    assert "uiterlijk 24 december 2026" in flat


def test_unknown_language_falls_back_to_english() -> None:
    """A researcher writing German gets the English template, with English dates."""
    templates = TemplateSet(TEMPLATES)

    subject, body = templates.render("state_disclosure_pending", "de-AT", PARAMS)

    assert "Report CVD-2026-0007: publication planned" == subject
    assert "15 January 2027" in body
    assert "en" == templates.language_for("state_disclosure_pending", "de-AT")


def test_region_subtag_selects_the_language() -> None:
    """``nl-BE`` chooses the Dutch template."""
    assert "nl" == TemplateSet(TEMPLATES).language_for("team_message", "nl-BE")


def test_missing_dutch_template_falls_back_to_english(tmp_path: Path) -> None:
    """A template that exists only in English is sent in English to a Dutch researcher."""
    (tmp_path / "en").mkdir()
    (tmp_path / "nl").mkdir()
    (tmp_path / "en" / "team_message.txt").write_text(
        "Subject: Report $report_id: note\n\nHello $researcher_name, $team_message\n",
        encoding="utf-8",
    )

    subject, body = TemplateSet(tmp_path).render("team_message", "nl", PARAMS)

    assert ("Report CVD-2026-0007: note", "Hello n0body, Which browser did you use?\n") == (
        subject,
        body,
    )


def test_empty_researcher_name_gets_a_neutral_salutation() -> None:
    """Without a name the Dutch mail opens with "Beste onderzoeker,"."""
    _, body = TemplateSet(TEMPLATES).render("team_message", "nl", {**PARAMS, "researcher_name": ""})

    assert body.startswith("Beste onderzoeker,\n")


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize(
    "name",
    [
        "Bob. URGENT: your account is locked, reset it at https://evil.example/reset now",
        "Support www.evil.example",
        "Call +31 20 555 0100",
        "bob@evil.example",
        "Bob\u202eevil",
        "A" * 65,
    ],
)
def test_a_name_that_is_not_plain_gets_the_neutral_greeting(language: str, name: str) -> None:
    """A From name with a link, address, phone number, bidi control or 65+ chars is not echoed."""
    _, body = TemplateSet(TEMPLATES).render(
        "acknowledgement", language, {**PARAMS, "researcher_name": name}
    )
    neutral = {"en": "Dear researcher,", "nl": "Beste onderzoeker,"}[language]
    assert neutral == body.splitlines()[0]


def test_a_plain_name_is_kept_in_the_greeting() -> None:
    """A short plain name with accents and initials is greeted as written."""
    _, body = TemplateSet(TEMPLATES).render(
        "acknowledgement", "en", {**PARAMS, "researcher_name": "Jürgen J. Ørsted-de Vries"}
    )
    assert "Dear Jürgen J. Ørsted-de Vries," == body.splitlines()[0]


def test_empty_credit_question_leaves_no_gap() -> None:
    """Without a credit question the resolved mail has no empty paragraph."""
    _, body = TemplateSet(TEMPLATES).render(
        "state_resolved", "en", {**PARAMS, "credit_question": ""}
    )

    assert "credited" not in body
    assert "\n\n\n" not in body


def test_subject_values_cannot_add_header_lines(tmp_path: Path) -> None:
    """A line break inside a value used in the subject is flattened to a space."""
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "team_message.txt").write_text(
        "Subject: Report $report_id $state\n\nBody\n", encoding="utf-8"
    )

    subject, _ = TemplateSet(tmp_path).render(
        "team_message", "en", {"report_id": "R-1", "state": "x\r\nBcc: victim@example.org"}
    )

    assert "Report R-1 x Bcc: victim@example.org" == subject


def test_missing_everywhere_is_a_configuration_error(tmp_path: Path) -> None:
    """Rendering a template that is not there even in English says which file is missing."""
    with pytest.raises(ConfigurationError, match=r"en/state_triaged\.txt"):
        TemplateSet(tmp_path).render("state_triaged", "en", PARAMS)


def test_localise_keeps_text_that_is_not_a_date() -> None:
    """A free-text value in a date placeholder is shown as given, not dropped."""
    localised = localise_parameters({"publish_date": "after the fix ships"}, "en")

    assert "after the fix ships" == localised["publish_date"]


def test_shipped_templates_validate_cleanly() -> None:
    """The templates in mappings/ have no errors and no warnings for English and Dutch."""
    assert [] == validate_templates(TEMPLATES, ["en", "nl"])


def test_shipped_templates_use_only_known_placeholders() -> None:
    """Every placeholder in the shipped templates is a ports.TEMPLATE_PARAMETERS name."""
    used = set()
    for name in TEMPLATE_NAMES:
        for language in ("en", "nl"):
            used |= _used_placeholders(name, language)

    assert set() == used - TEMPLATE_PARAMETERS


def test_key_request_uses_no_report_details() -> None:
    """The unencrypted key request uses only identity placeholders, never report facts."""
    used = _used_placeholders("key_request", "en") | _used_placeholders("key_request", "nl")

    assert set() == used - KEY_REQUEST_PARAMETERS


def _copy_templates(target: Path, languages: tuple[str, ...] = ("en", "nl")) -> None:
    for language in languages:
        (target / language).mkdir(parents=True)
        for source in (TEMPLATES / language).glob("*.txt"):
            (target / language / source.name).write_text(
                source.read_text(encoding="utf-8"), encoding="utf-8"
            )


def test_validation_names_file_and_line_of_an_unknown_placeholder(tmp_path: Path) -> None:
    """An unknown placeholder is reported as path:line: message."""
    _copy_templates(tmp_path)
    path = tmp_path / "nl" / "team_message.txt"
    path.write_text("Subject: Melding $report_id\n\nBeste $researcher_name,\n\n$secret_token\n")

    assert [f"{path}:5: unknown placeholder $secret_token"] == validate_templates(
        tmp_path, ["en", "nl"]
    )


def test_validation_reports_a_template_missing_in_english(tmp_path: Path) -> None:
    """A template missing in English is an error (no fallback exists)."""
    _copy_templates(tmp_path)
    (tmp_path / "en" / "state_published.txt").unlink()

    problems = template_problems(tmp_path, ["en", "nl"])

    assert [("error", "template 'state_published' is missing in English")] == [
        (problem.level, problem.message) for problem in problems
    ]


def test_validation_warns_for_a_template_missing_in_a_configured_language(tmp_path: Path) -> None:
    """A template missing in Dutch is a warning, tagged in the text form."""
    _copy_templates(tmp_path)
    missing = tmp_path / "nl" / "progress_update.txt"
    missing.unlink()

    assert [
        (
            f"{missing}:0: warning: template 'progress_update' is missing in 'nl'; "
            "English is sent instead"
        )
    ] == validate_templates(tmp_path, ["en", "nl"])


def test_validation_reports_a_missing_subject_line(tmp_path: Path) -> None:
    """A template without a first ``Subject:`` line is an error on line 1."""
    _copy_templates(tmp_path)
    path = tmp_path / "en" / "team_message.txt"
    path.write_text("Dear $researcher_name,\n\n$team_message\n", encoding="utf-8")

    assert [f"{path}:1: first line must be 'Subject: ...'"] == validate_templates(
        tmp_path, ["en", "nl"]
    )


def test_validation_refuses_report_details_in_the_key_request(tmp_path: Path) -> None:
    """A key request that would show the team's message in clear text is an error."""
    _copy_templates(tmp_path)
    path = tmp_path / "en" / "key_request.txt"
    path.write_text("Subject: Report $report_id\n\n$team_message\n", encoding="utf-8")

    assert [
        f"{path}:3: placeholder $team_message is not allowed here: this mail goes out unencrypted"
    ] == validate_templates(tmp_path, ["en"])


def test_validation_reports_a_stray_dollar(tmp_path: Path) -> None:
    """A ``$`` not followed by a name is reported with its line."""
    _copy_templates(tmp_path, ("en",))
    path = tmp_path / "en" / "team_message.txt"
    path.write_text("Subject: Report $report_id\n\nThe bounty is $ 500.\n", encoding="utf-8")

    assert [f"{path}:3: '$' not followed by a placeholder name (write $$)"] == validate_templates(
        tmp_path, ["en"]
    )


@pytest.mark.parametrize(
    ("language", "severity", "sentence"),
    [
        ("nl", "unassessed", "De ernst hebben wij nog niet vastgesteld."),
        ("nl", "medium", "Wij schatten de ernst in als gemiddeld."),
        ("en", "unassessed", "We have not rated its severity yet."),
        ("en", "critical", "We rate its severity as critical."),
    ],
)
def test_triaged_mail_has_its_own_words_for_an_unassessed_severity(
    language: str, severity: str, sentence: str
) -> None:
    """No "schatten de ernst in als nog niet vastgesteld": unassessed gets its own sentence."""
    _, body = TemplateSet(TEMPLATES).render(
        "state_triaged", language, {**PARAMS, "severity": severity}
    )
    flat = " ".join(body.split())
    assert (True, False) == (sentence in flat, "als nog niet vastgesteld" in flat)


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_long_substituted_values_are_wrapped_after_substitution(language: str, name: str) -> None:
    """A long organisation, name and address still give body lines of at most 76 characters."""
    long_values = {
        **PARAMS,
        "organisation": "Stichting Samenwerkende Gemeentelijke Informatievoorziening Noord-Nederland",
        "researcher_name": "Maximiliaan Johannes van den Berg-Oosterhuis",
        "reply_address": "coordinated-vulnerability-disclosure+CVD-2026-0007@gemeente.example",
        "severity": "unassessed",
    }
    _, body = TemplateSet(TEMPLATES).render(name, language, long_values)
    too_long = [
        line
        for line in body.splitlines()
        if len(line) > 76 and " " in line.strip()  # a single unbreakable word may stay long
    ]
    assert [] == too_long

"""Researcher mail templates: find, validate and render them in the researcher's language.

A template is a plain-text file ``<directory>/<language>/<name>.txt``: the first line is
``Subject: ...``, then a blank line, then the body. Placeholders are ``string.Template``
``$names`` from ``ports.TEMPLATE_PARAMETERS``; no code runs in a template.

Rendering localises the parameters for the language of the template actually used (so an
English fallback gets English words and dates):

- names ending in ``_date`` or ``_due`` hold ISO dates (``2026-11-24``, a datetime is cut to
  its date) and become "24 November 2026" / "24 november 2026"; an empty one becomes
  "not yet known" / "nog niet bekend"; text that is not an ISO date is kept as it is;
- ``arrived_encrypted`` / ``arrived_signed`` hold "yes" or "no" and become the words
  "encrypted"/"unencrypted", "signed"/"unsigned" (Dutch "versleuteld"/"onversleuteld",
  "ondertekend"/"niet ondertekend"), written to fit "Your message reached us $arrived_encrypted
  and $arrived_signed.";
- ``severity`` and ``state`` hold the domain values (``high``, ``in_remediation``) and become
  words in the language; ``severity_sentence`` is made from ``severity``: "We rate its
  severity as high." / "Wij schatten de ernst in als hoog.", or, while it is not assessed,
  "We have not rated its severity yet." / "De ernst hebben wij nog niet vastgesteld.";
- ``credit_question`` "yes" becomes the language's standard credit question, "no" or empty
  becomes nothing, any other text is kept (the service may pass its own question);
- an empty ``researcher_name`` becomes "researcher" / "onderzoeker" (for "Dear ...,"), and
  so does one that is not a short plain name (see ``plain_name``): the name comes from the
  sender's From header, and the bridge signs what it sends.

A placeholder the template uses but the caller did not pass renders as empty text; three or
more blank lines left behind collapse to one blank line. Wrapping happens after substitution:
a prose paragraph that a long value pushed past ``MAX_LINE`` characters is refilled to 72
(paragraphs with indented, list or quoted lines keep their layout; long words stay whole).
"""

from __future__ import annotations

import re
import string
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tracker_bridge.errors import ConfigurationError
from tracker_bridge.ports.mail import TEMPLATE_PARAMETERS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "FALLBACK_LANGUAGE",
    "KEY_REQUEST_PARAMETERS",
    "TEMPLATE_NAMES",
    "RenderedTemplate",
    "TemplateProblem",
    "TemplateSet",
    "localise_parameters",
    "plain_name",
    "template_problems",
    "validate_templates",
]

FALLBACK_LANGUAGE = "en"

TEMPLATE_NAMES: tuple[str, ...] = (
    "acknowledgement",
    "state_triaged",
    "state_needs_info",
    "state_in_remediation",
    "state_fix_available",
    "state_resolved",
    "state_disclosure_pending",
    "state_published",
    "state_duplicate",
    "state_not_applicable",
    "state_out_of_scope",
    "state_informative",
    "fix_date_changed",
    "team_message",
    "progress_update",
    "key_request",
)
"""Every template the bridge sends; each must exist in English."""

KEY_REQUEST_PARAMETERS: frozenset[str] = frozenset(
    {
        "report_id",
        "organisation",
        "researcher_name",
        "contact_address",
        "reply_address",
        "policy_url",
    }
)
"""The only placeholders ``key_request`` may use: it travels unencrypted, so no report details."""

_SUBJECT_PREFIX = "Subject:"
_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}$")

_MONTHS: dict[str, tuple[str, ...]] = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "nl": (
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ),
}

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "date:unknown": "not yet known",
        "arrived_encrypted:yes": "encrypted",
        "arrived_encrypted:no": "unencrypted",
        "arrived_signed:yes": "signed",
        "arrived_signed:no": "unsigned",
        "researcher_name:": "researcher",
        "credit_question:yes": (
            "May we thank you in our advisory? Reply to this mail with one line at\n"
            "the top, in one of these forms:\n"
            "\n"
            "  Credit: <your name or pseudonym>\n"
            "  Credit: anonymous\n"
            "  Credit: none"
        ),
        "severity:unassessed": "not yet assessed",
        "severity_sentence": "We rate its severity as {severity}.",
        "severity_sentence:unassessed": "We have not rated its severity yet.",
        "severity:none": "none",
        "severity:low": "low",
        "severity:medium": "medium",
        "severity:high": "high",
        "severity:critical": "critical",
        "state:received": "received",
        "state:acknowledged": "acknowledged",
        "state:triaging": "being assessed",
        "state:needs_info": "waiting for information from you",
        "state:triaged": "assessed",
        "state:in_remediation": "fix in progress",
        "state:fix_available": "fix available",
        "state:resolved": "resolved",
        "state:disclosure_pending": "publication planned",
        "state:published": "published",
        "state:duplicate": "closed as duplicate",
        "state:not_applicable": "closed as not applicable",
        "state:out_of_scope": "closed as out of scope",
        "state:informative": "closed as informative",
        "state:spam": "closed",
        "state:withdrawn": "withdrawn",
    },
    "nl": {
        "date:unknown": "nog niet bekend",
        "arrived_encrypted:yes": "versleuteld",
        "arrived_encrypted:no": "onversleuteld",
        "arrived_signed:yes": "ondertekend",
        "arrived_signed:no": "niet ondertekend",
        "researcher_name:": "onderzoeker",
        "credit_question:yes": (
            "Mogen wij u bedanken in onze publicatie? Beantwoord dan deze e-mail met\n"
            "bovenaan een van deze regels:\n"
            "\n"
            "  Vermelding: <uw naam of pseudoniem>\n"
            "  Vermelding: anoniem\n"
            "  Geen vermelding"
        ),
        "severity:unassessed": "nog niet vastgesteld",
        "severity_sentence": "Wij schatten de ernst in als {severity}.",
        "severity_sentence:unassessed": "De ernst hebben wij nog niet vastgesteld.",
        "severity:none": "geen",
        "severity:low": "laag",
        "severity:medium": "gemiddeld",
        "severity:high": "hoog",
        "severity:critical": "kritiek",
        "state:received": "ontvangen",
        "state:acknowledged": "ontvangst bevestigd",
        "state:triaging": "in beoordeling",
        "state:needs_info": "wacht op informatie van u",
        "state:triaged": "beoordeeld",
        "state:in_remediation": "oplossing in ontwikkeling",
        "state:fix_available": "oplossing beschikbaar",
        "state:resolved": "afgehandeld",
        "state:disclosure_pending": "publicatie gepland",
        "state:published": "gepubliceerd",
        "state:duplicate": "gesloten (dubbele melding)",
        "state:not_applicable": "gesloten (niet van toepassing)",
        "state:out_of_scope": "gesloten (buiten scope)",
        "state:informative": "gesloten (informatief)",
        "state:spam": "gesloten",
        "state:withdrawn": "ingetrokken",
    },
}


def _word(language: str, key: str) -> str | None:
    words = _WORDS.get(language, _WORDS[FALLBACK_LANGUAGE])
    return words.get(key)


def _format_date(text: str, language: str) -> str:
    """An ISO date (or datetime) written out in ``language``; other text unchanged."""
    stripped = text.strip()
    if not stripped:
        return _word(language, "date:unknown") or ""
    try:
        day = date.fromisoformat(stripped[:10])
    except ValueError:
        return text
    months = _MONTHS.get(language, _MONTHS[FALLBACK_LANGUAGE])
    return f"{day.day} {months[day.month - 1]} {day.year}"


def localise_parameters(params: Mapping[str, str], language: str) -> dict[str, str]:
    """The parameters as the researcher reads them in ``language`` (see the module docstring).

    Args:
        params: Raw values as the notify service queued them (ISO dates, "yes"/"no", enums).
        language: The language of the template that will be rendered.

    Returns:
        A new mapping with dates, yes/no flags, severity, state and the credit question
        written out; every other value unchanged.
    """
    localised: dict[str, str] = {}
    for name, raw in params.items():
        value = str(raw)
        if name.endswith(("_date", "_due")):
            value = _format_date(value, language)
        elif name.startswith("arrived_"):
            flag = "yes" if value.strip().lower() in ("yes", "true", "1") else "no"
            value = _word(language, f"{name}:{flag}") or value
        elif name in ("severity", "state"):
            value = _word(language, f"{name}:{value.strip().lower()}") or value
        elif name == "credit_question":
            lowered = value.strip().lower()
            if lowered == "yes":
                value = _word(language, "credit_question:yes") or ""
            elif lowered in ("no", ""):
                value = ""
        localised[name] = value
    if "severity" in params and "severity_sentence" not in params:
        band = str(params["severity"]).strip().lower()
        if band in ("", "unassessed"):
            sentence = _word(language, "severity_sentence:unassessed") or ""
        else:
            sentence = (_word(language, "severity_sentence") or "").format(
                severity=localised["severity"]
            )
        localised["severity_sentence"] = sentence
    if not plain_name(localised.get("researcher_name", "")):
        localised["researcher_name"] = _word(language, "researcher_name:") or ""
    return localised


MAX_GREETING_NAME = 64
"""The longest name the bridge puts in a greeting, in characters."""

_NOT_A_NAME = re.compile(r"://|www\.|@|\d{3}", re.IGNORECASE)


def plain_name(name: str) -> bool:
    """Whether ``name`` may stand in a greeting of a mail the bridge signs.

    Anyone can write any display name in From; a long one, or one with an address, a link,
    a phone number (three or more digits in a row) or a control or bidirectional formatting
    character (Unicode categories Cc and Cf) would let a stranger make the bridge send signed
    text of their choosing to any address. Empty is not plain either.
    """
    stripped = name.strip()
    if not stripped or len(stripped) > MAX_GREETING_NAME or _NOT_A_NAME.search(stripped):
        return False
    return not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in stripped)


@dataclass(frozen=True)
class RenderedTemplate:
    """A rendered template: the language actually used, the subject line and the body."""

    language: str
    subject: str
    body: str


@dataclass(frozen=True)
class _ParsedTemplate:
    path: Path
    subject: string.Template
    body: string.Template


class _LenientMapping(dict[str, str]):
    """Lookups for ``string.Template``: a known placeholder that was not passed is empty."""

    def __missing__(self, key: str) -> str:
        if key in TEMPLATE_PARAMETERS:
            return ""
        raise KeyError(key)


def _normalise_language(language: str | None) -> str:
    primary = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if _LANGUAGE_TAG.match(primary) else FALLBACK_LANGUAGE


MAX_LINE = 76
"""Longest body line after substitution; a paragraph with a longer line is refilled to 72."""
_FILL_WIDTH = 72
# Lines that carry their own layout (indented, lists, quotes): a paragraph with one is kept.
_LAID_OUT = re.compile(r"^(?:\s|[-*>]\s|\d+[.)]\s)")


# A paragraph whose lines (all but the last) are at least this long is running prose that the
# template wrapped; shorter lines are a block of their own (a signature: name, address, URL).
_PROSE_LINE = 40


def _fill(text: str) -> str:
    # Long words (a URL, a key fingerprint) stay whole: breaking them would break them.
    return textwrap.fill(
        " ".join(text.split()), width=_FILL_WIDTH, break_long_words=False, break_on_hyphens=False
    )


def _wrap_paragraph(paragraph: str) -> str:
    """Rewrap a paragraph that a long substituted value pushed past ``MAX_LINE``.

    Running prose is refilled as a whole; a block of short lines (a signature) keeps its lines
    and only the long one is wrapped; indented, list and quoted lines are left as written.
    """
    lines = paragraph.split("\n")
    if all(len(line) <= MAX_LINE for line in lines) or any(_LAID_OUT.match(x) for x in lines):
        return paragraph
    if all(len(line) >= _PROSE_LINE for line in lines[:-1]):
        return _fill(paragraph)
    return "\n".join(_fill(line) if len(line) > MAX_LINE else line for line in lines)


def _tidy_body(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    # Empty parameters (credit question, policy URL) leave blank lines behind; keep at most one.
    collapsed = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    paragraphs = collapsed.strip("\n").split("\n\n")
    return "\n\n".join(_wrap_paragraph(p) for p in paragraphs) + "\n"


def _single_line(text: str) -> str:
    # A subject is one header line: a line break in a value must not start a new header.
    return " ".join(text.split())


class TemplateSet:
    """The templates in one directory (``mappings/templates``), read once and cached.

    Args:
        directory: Folder with one sub-folder per language (``en``, ``nl``).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._cache: dict[tuple[str, str], _ParsedTemplate | None] = {}

    def path(self, name: str, language: str) -> Path:
        """Where the template ``name`` in ``language`` lives (it may not exist)."""
        return self.directory / language / f"{name}.txt"

    def language_for(self, name: str, language: str | None) -> str:
        """The language that will be used for ``name``: the researcher's if present, else English."""
        wanted = _normalise_language(language)
        if self._load(name, wanted) is not None:
            return wanted
        return FALLBACK_LANGUAGE

    def _load(self, name: str, language: str) -> _ParsedTemplate | None:
        key = (name, language)
        if key not in self._cache:
            if not _TEMPLATE_NAME.match(name):
                msg = f"{name!r} is not a template name"
                raise ConfigurationError(msg)
            path = self.path(name, language)
            self._cache[key] = _parse(path) if path.is_file() else None
        return self._cache[key]

    def render(self, name: str, language: str | None, params: Mapping[str, str]) -> tuple[str, str]:
        """Render ``name`` in the researcher's language (English fallback).

        Args:
            name: Template name such as ``state_triaged``.
            language: The researcher's language (``nl``, ``nl-BE``, ``en``) or None.
            params: Raw parameter values; they are localised for the language used.

        Returns:
            ``(subject, body)``.

        Raises:
            ConfigurationError: The template is missing in English too, has no ``Subject:``
                line, or uses a placeholder that is not a template parameter.
        """
        rendered = self.render_template(name, language, params)
        return rendered.subject, rendered.body

    def render_template(
        self, name: str, language: str | None, params: Mapping[str, str]
    ) -> RenderedTemplate:
        """Like ``render``, also telling which language was used (for Content-Language)."""
        used = self.language_for(name, language)
        parsed = self._load(name, used)
        if parsed is None:
            msg = f"{self.path(name, FALLBACK_LANGUAGE)}: template {name!r} is missing in English"
            raise ConfigurationError(msg)
        values = _LenientMapping(localise_parameters(params, used))
        try:
            subject = parsed.subject.substitute(
                _LenientMapping({key: _single_line(value) for key, value in values.items()})
            )
            body = parsed.body.substitute(values)
        except KeyError as err:
            msg = f"{parsed.path}: unknown placeholder ${err.args[0]} (run `tracker-bridge check`)"
            raise ConfigurationError(msg) from err
        except ValueError as err:
            msg = f"{parsed.path}: invalid placeholder: {err}"
            raise ConfigurationError(msg) from err
        return RenderedTemplate(used, _single_line(subject), _tidy_body(body))


def _parse(path: Path) -> _ParsedTemplate:
    text = path.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if not first.startswith(_SUBJECT_PREFIX):
        msg = f"{path}:1: first line must be 'Subject: ...'"
        raise ConfigurationError(msg)
    subject = first[len(_SUBJECT_PREFIX) :].strip()
    return _ParsedTemplate(path, string.Template(subject), string.Template(rest.lstrip("\n")))


# ---------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class TemplateProblem:
    """One finding of ``template_problems``: an error stops ``check``, a warning is reported."""

    path: Path
    line: int
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        tag = "warning: " if self.level == "warning" else ""
        return f"{self.path}:{self.line}: {tag}{self.message}"


def _placeholder_problems(path: Path, text: str, allowed: frozenset[str]) -> list[TemplateProblem]:
    problems: list[TemplateProblem] = []
    for match in string.Template.pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        name = match.group("named") or match.group("braced")
        if match.group("invalid") is not None:
            problems.append(
                TemplateProblem(path, line, "'$' not followed by a placeholder name (write $$)")
            )
        elif name is not None and name not in TEMPLATE_PARAMETERS:
            problems.append(TemplateProblem(path, line, f"unknown placeholder ${name}"))
        elif name is not None and name not in allowed:
            problems.append(
                TemplateProblem(
                    path,
                    line,
                    f"placeholder ${name} is not allowed here: this mail goes out unencrypted",
                )
            )
    return problems


def _file_problems(path: Path, name: str) -> list[TemplateProblem]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return [TemplateProblem(path, 1, f"cannot read template: {err}")]
    problems: list[TemplateProblem] = []
    lines = text.split("\n")
    if not lines[0].startswith(_SUBJECT_PREFIX) or not lines[0][len(_SUBJECT_PREFIX) :].strip():
        problems.append(TemplateProblem(path, 1, "first line must be 'Subject: ...'"))
    elif len(lines) < 2 or lines[1].strip():
        problems.append(TemplateProblem(path, 2, "a blank line must follow the Subject line"))
    allowed = KEY_REQUEST_PARAMETERS if name == "key_request" else TEMPLATE_PARAMETERS
    problems.extend(_placeholder_problems(path, text, allowed))
    return problems


def template_problems(directory: str | Path, languages: Iterable[str]) -> list[TemplateProblem]:
    """Every problem in a template directory, errors and warnings, in a stable order.

    Errors: a template of ``TEMPLATE_NAMES`` missing in English, a missing or empty
    ``Subject:`` line, no blank line after it, an unknown placeholder, a stray ``$``, and a
    ``key_request`` placeholder that would carry report details. Warnings: a template missing
    in a configured language (English is used instead) and a file that is not a known template.

    Args:
        directory: The templates folder (``mappings/templates``).
        languages: The program's configured languages (``en``, ``nl``).
    """
    root = Path(directory)
    problems: list[TemplateProblem] = []
    wanted = list(dict.fromkeys([FALLBACK_LANGUAGE, *(str(lang) for lang in languages)]))
    for language in wanted:
        for name in TEMPLATE_NAMES:
            path = root / language / f"{name}.txt"
            if path.is_file():
                problems.extend(_file_problems(path, name))
            elif language == FALLBACK_LANGUAGE:
                problems.append(
                    TemplateProblem(path, 0, f"template {name!r} is missing in English")
                )
            else:
                problems.append(
                    TemplateProblem(
                        path,
                        0,
                        f"template {name!r} is missing in {language!r}; English is sent instead",
                        "warning",
                    )
                )
        folder = root / language
        if folder.is_dir():
            for extra in sorted(folder.glob("*.txt")):
                if extra.stem not in TEMPLATE_NAMES:
                    problems.extend(_file_problems(extra, extra.stem))
                    problems.append(
                        TemplateProblem(extra, 0, "not a template the bridge sends", "warning")
                    )
    return problems


def validate_templates(directory: str | Path, languages: Iterable[str]) -> list[str]:
    """Problems as ``path:line: message`` lines; warnings read ``path:line: warning: message``.

    ``tracker-bridge check`` fails on a line without the ``warning:`` tag and only reports the
    others (use ``template_problems`` for the structured form). Line 0 means the whole file.
    """
    return [str(problem) for problem in template_problems(directory, languages)]

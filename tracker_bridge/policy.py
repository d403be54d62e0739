"""Renders the published disclosure policy page (en, nl; Markdown or HTML) from mappings/.

The wording lives in operator-owned templates, ``mappings/policy/<lang>.md``, with
``string.Template`` placeholders; every number comes from ``program.toml``, the same file
that drives the deadlines, so the page cannot promise what the bridge does not enforce.

Placeholders a template may use:

``$organisation``, ``$contact``, ``$contact_url``, ``$policy_url``, ``$fingerprint`` (grouped
by four), ``$fingerprint_compact``, ``$encryption_url``, ``$acknowledgments_url``,
``$key_where`` (a sentence telling where the key is), ``$credits_where`` (" on our
acknowledgements page (<url>)" or nothing), ``$acknowledge``, ``$assessment``,
``$progress_update``, ``$disclosure``, ``$fix_critical``, ``$fix_high``, ``$fix_medium``,
``$fix_low``, ``$fix_targets`` (a Markdown list, one line per severity), ``$languages``,
``$content_retention_days``, ``$contact_retention_days``. Write ``$$`` for a dollar sign.

HTML output supports the Markdown the templates need and no more: ``#`` to ``###``
headings, paragraphs, ``- `` lists (continuation lines indented), ``**bold**``, ```code```,
``[text](https://...)`` and ``<https://...>`` / ``<someone@example.org>`` links. Every piece
of text is escaped with ``html.escape``; raw HTML in a template shows as text.
"""

from __future__ import annotations

import html
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urljoin

from tracker_bridge.domain.deadlines import Span, SpanUnit
from tracker_bridge.domain.researcher import Language
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tracker_bridge.mappings import Mappings, ProgramTable

__all__ = [
    "PACKAGED_POLICY_DIR",
    "PageFormat",
    "acknowledgments_url",
    "canonical_url",
    "encryption_url",
    "html_page",
    "markdown_to_html",
    "policy_template_path",
    "policy_values",
    "render_policy",
    "span_words",
]

PageFormat = Literal["md", "html"]

PACKAGED_POLICY_DIR = Path(__file__).parent / "default_mappings" / "policy"

# Highest first: the order a policy page lists its fix targets in.
_FIX_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.NONE)

_SEVERITY_NAMES: dict[Language, dict[Severity, str]] = {
    Language.EN: {
        Severity.CRITICAL: "Critical",
        Severity.HIGH: "High",
        Severity.MEDIUM: "Medium",
        Severity.LOW: "Low",
        Severity.NONE: "None",
    },
    Language.NL: {
        Severity.CRITICAL: "Kritiek",
        Severity.HIGH: "Hoog",
        Severity.MEDIUM: "Gemiddeld",
        Severity.LOW: "Laag",
        Severity.NONE: "Geen",
    },
}

# CVSS v3.1 / v4.0 qualitative bands, as domain/severity.py bands scores.
_CVSS_BANDS: dict[Severity, tuple[str, str]] = {
    Severity.CRITICAL: ("9.0", "10.0"),
    Severity.HIGH: ("7.0", "8.9"),
    Severity.MEDIUM: ("4.0", "6.9"),
    Severity.LOW: ("0.1", "3.9"),
    Severity.NONE: ("0.0", "0.0"),
}

_LANGUAGE_NAMES: dict[Language, dict[Language, str]] = {
    Language.EN: {Language.EN: "English", Language.NL: "Dutch"},
    Language.NL: {Language.EN: "het Engels", Language.NL: "het Nederlands"},
}

_OR = {Language.EN: "or", Language.NL: "of"}


def span_words(span: Span, language: Language) -> str:
    """A span as a policy page says it: "3 working days", "1 werkdag", "14 dagen"."""
    one = span.amount == 1
    if language is Language.NL:
        if span.unit is SpanUnit.WORKING_DAYS:
            noun = "werkdag" if one else "werkdagen"
        else:
            noun = "dag" if one else "dagen"
    elif span.unit is SpanUnit.WORKING_DAYS:
        noun = "working day" if one else "working days"
    else:
        noun = "day" if one else "days"
    return f"{span.amount} {noun}"


def encryption_url(program: ProgramTable) -> str | None:
    """Where the bridge's public key is published: configured, else beside the policy site."""
    if program.encryption_url:
        return program.encryption_url
    if program.policy_url:
        return urljoin(program.policy_url, "/.well-known/openpgp-key.asc")
    return None


def canonical_url(program: ProgramTable) -> str | None:
    """The security.txt's own URL: configured, else RFC 9116's place on the policy's site."""
    if program.security_txt_url:
        return program.security_txt_url
    if program.policy_url:
        return urljoin(program.policy_url, "/.well-known/security.txt")
    return None


def acknowledgments_url(program: ProgramTable) -> str | None:
    """The credits page, only when configured (no guess: a wrong URL is worse than none)."""
    return program.acknowledgments_url


def _group_fingerprint(fingerprint: str) -> str:
    compact = re.sub(r"\s+", "", fingerprint).upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _languages_words(languages: list[Language], page_language: Language) -> str:
    # The page's own language first: a Dutch page says "het Nederlands of het Engels".
    ordered = sorted(dict.fromkeys(languages), key=lambda language: language is not page_language)
    names = [_LANGUAGE_NAMES[page_language][language] for language in ordered]
    if not names:
        names = [_LANGUAGE_NAMES[page_language][Language.EN]]
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} {_OR[page_language]} {names[-1]}"


def _fix_targets(fix: Mapping[Severity, Span], language: Language) -> str:
    lines = []
    for severity in _FIX_ORDER:
        span = fix.get(severity)
        if span is None:
            continue
        low, high = _CVSS_BANDS[severity]
        if language is Language.NL:
            low, high = low.replace(".", ","), high.replace(".", ",")
            within = "binnen"
        else:
            within = "within"
        name = _SEVERITY_NAMES[language][severity]
        lines.append(f"- {name} (CVSS {low}–{high}): {within} {span_words(span, language)}")
    if not lines:
        lines.append("- geen vaste termijn" if language is Language.NL else "- no fixed target")
    return "\n".join(lines)


def policy_values(mappings: Mappings, language: Language, fingerprint: str) -> dict[str, str]:
    """Every placeholder's value for one language, from program.toml and the bridge key."""
    program = mappings.program
    policy = mappings.policy
    key_url = encryption_url(program)
    credits_url = acknowledgments_url(program)
    nl = language is Language.NL
    if key_url:
        key_where = (
            f"U kunt de sleutel downloaden via <{key_url}>."
            if nl
            else f"You can download the key from <{key_url}>."
        )
    else:
        key_where = (
            f"Hebt u de sleutel niet, vraag deze dan op via <{program.contact}>."
            if nl
            else f"If you do not have the key, ask <{program.contact}> for it."
        )
    if credits_url:
        credits_where = (
            f" op onze bedankpagina (<{credits_url}>)"
            if nl
            else f" on our acknowledgements page (<{credits_url}>)"
        )
    else:
        credits_where = ""
    no_target = "geen termijn" if nl else "no target"

    def fix(severity: Severity) -> str:
        span = policy.fix_span(severity)
        return no_target if span is None else span_words(span, language)

    return {
        "organisation": program.name,
        "contact": program.contact,
        "contact_url": program.contact_url or "",
        "policy_url": program.policy_url or "",
        "fingerprint": _group_fingerprint(fingerprint),
        "fingerprint_compact": re.sub(r"\s+", "", fingerprint).upper(),
        "encryption_url": key_url or "",
        "acknowledgments_url": credits_url or "",
        "key_where": key_where,
        "credits_where": credits_where,
        "acknowledge": span_words(policy.acknowledge, language),
        "assessment": span_words(policy.assessment, language),
        "progress_update": span_words(policy.progress_update, language),
        "disclosure": span_words(policy.disclosure, language),
        "fix_critical": fix(Severity.CRITICAL),
        "fix_high": fix(Severity.HIGH),
        "fix_medium": fix(Severity.MEDIUM),
        "fix_low": fix(Severity.LOW),
        "fix_targets": _fix_targets(policy.fix, language),
        "languages": _languages_words(list(program.languages), language),
        "content_retention_days": str(mappings.retention.content_days_after_close),
        "contact_retention_days": str(mappings.retention.contact_days_after_close),
    }


def policy_template_path(mappings: Mappings, language: Language) -> Path:
    """The operator's template, else the packaged one (installations older than the policy)."""
    own = mappings.directory / "policy" / f"{language.value}.md"
    return own if own.exists() else PACKAGED_POLICY_DIR / f"{language.value}.md"


def render_policy(
    mappings: Mappings, language: Language, page_format: PageFormat, *, fingerprint: str
) -> str:
    """The policy page in ``language`` as Markdown or a self-contained HTML page.

    Args:
        mappings: The program's mappings (numbers, contact, URLs).
        language: The page's language.
        page_format: ``md`` or ``html``.
        fingerprint: The bridge key's fingerprint, printed for researchers to check.

    Raises:
        ConfigurationError: The template is missing or uses an unknown placeholder.
    """
    path = policy_template_path(mappings, language)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        msg = f"{path}: cannot read the policy template: {err}"
        raise ConfigurationError(msg) from err
    values = policy_values(mappings, language, fingerprint)
    try:
        markdown = string.Template(text).substitute(values)
    except KeyError as err:
        known = ", ".join(f"${name}" for name in sorted(values))
        msg = f"{path}: unknown placeholder ${err.args[0]} (known: {known})"
        raise ConfigurationError(msg) from err
    except ValueError as err:
        # string.Template names the line and column of a stray "$".
        msg = f"{path}: {err} (write $$ for a dollar sign)"
        raise ConfigurationError(msg) from err
    if page_format == "md":
        return markdown
    return html_page(markdown_to_html(markdown), language.value)


# ---------------------------------------------------------------------------- Markdown subset

_INLINE = re.compile(
    r"`(?P<code>[^`]+)`"
    r"|<(?P<auto>[^<>\s]+)>"
    r"|\[(?P<text>[^\]]+)\]\((?P<href>[^)\s]+)\)"
    r"|\*\*(?P<bold>.+?)\*\*"
)
_SAFE_SCHEMES = ("https://", "http://", "mailto:")


def _href(target: str) -> str | None:
    """A link target we are willing to emit (web and mail only), or None."""
    if "@" in target and "://" not in target and not target.startswith("mailto:"):
        target = f"mailto:{target}"
    return target if target.lower().startswith(_SAFE_SCHEMES) else None


def _inline(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()]))
        position = match.end()
        if match["code"] is not None:
            out.append(f"<code>{html.escape(match['code'])}</code>")
        elif match["auto"] is not None:
            href = _href(match["auto"])
            label = html.escape(match["auto"])
            out.append(f'<a href="{html.escape(href)}">{label}</a>' if href else f"&lt;{label}&gt;")
        elif match["text"] is not None:
            href = _href(match["href"])
            label = _inline(match["text"])
            out.append(f'<a href="{html.escape(href)}">{label}</a>' if href else label)
        else:
            out.append(f"<strong>{_inline(match['bold'])}</strong>")
    out.append(html.escape(text[position:]))
    return "".join(out)


def markdown_to_html(markdown: str) -> str:
    """The HTML body for the Markdown subset the policy and credits pages use."""
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[list[str]] = []

    def flush() -> None:
        if paragraph:
            blocks.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            lis = "".join(f"<li>{_inline(' '.join(item))}</li>" for item in items)
            blocks.append(f"<ul>{lis}</ul>")
            items.clear()

    for raw in markdown.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        heading = re.match(r"^(#{1,3})\s+(.*)$", line)
        if not stripped:
            flush()
        elif heading:
            flush()
            level = len(heading[1])
            blocks.append(f"<h{level}>{_inline(heading[2].strip())}</h{level}>")
        elif line.startswith("- "):
            if paragraph:
                flush()
            items.append([line[2:].strip()])
        elif items and line.startswith("  "):
            items[-1].append(stripped)
        else:
            if items:
                flush()
            paragraph.append(stripped)
    flush()
    return "\n".join(blocks)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;"
    "padding:0 1rem;line-height:1.5;color:#222}"
    "code{font-size:.95em;overflow-wrap:anywhere}li{margin:.3rem 0}"
)


def html_page(body: str, language: str) -> str:
    """A self-contained page (no external resources) around an HTML body; title from its h1."""
    heading = re.search(r"<h1>(.*?)</h1>", body)
    # The h1 is already escaped; strip tags so the title is its text.
    title = re.sub(r"<[^>]+>", "", heading[1]) if heading else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html.escape(language)}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        f"<style>{_STYLE}</style>\n"
        "</head>\n"
        "<body>\n"
        f"{body}\n"
        "</body>\n"
        "</html>\n"
    )

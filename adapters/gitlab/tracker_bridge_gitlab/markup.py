"""Render researcher text inert in GitLab Flavored Markdown: no quick actions, mentions, references or loads.

GitLab runs quick actions only from top-level paragraphs (``Gitlab::QuickActions::Extractor``
asks the markdown pipeline for them), and its reference and mention filters skip text inside
``code`` and ``pre``. So the researcher's body goes into one fenced code block whose fence is
longer than any backtick run in the text (a fence the text cannot close early), and short
values (titles, summary values, file names) become code spans or carry a word joiner after
every reference sigil. Everything the researcher wrote stays readable and copyable.
"""

from __future__ import annotations

import re
import unicodedata

# U+2060 WORD JOINER: invisible, not a username/number character, so "@\u2060all" and
# "#\u20601" match none of GitLab's reference patterns.
WORD_JOINER = "\u2060"

# Every character that starts a GitLab reference (user, issue, MR, label, milestone, snippet,
# epic, alert, iteration, vulnerability) or a quick action.
_SIGILS = frozenset("@#!~%$&^*/[")

_BACKTICK_RUN = re.compile(r"`+")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


# Bidirectional formatting characters (Unicode UAX #9: embeddings, overrides, isolates, marks)
# reorder what a reader sees: "invoice\u202efdp.exe" displays as "invoiceexe.pdf" (CVE-2021-42574,
# "Trojan Source"). Each is shown as its code point instead, so the text reads as stored.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def reveal_bidi(text: str) -> str:
    """Replace each bidirectional control character with a visible ``[U+XXXX]``."""
    return _BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)


def _drop_controls(text: str) -> str:
    """Remove C0/C1 controls (except tab and newline); show bidirectional controls."""
    return reveal_bidi(
        "".join(ch for ch in text if ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cs"))
    )


def inert_block(text: str) -> str:
    r"""Return ``text`` as one fenced code block that no GitLab markup inside can leave.

    Args:
        text: Untrusted, multi-line text (a report body or a researcher's reply).

    Returns:
        A fenced block, fence longer than any backtick run in ``text``; line breaks
        normalised to ``\n`` because GitLab drops ``\r`` before looking for quick actions.
    """
    normalised = _drop_controls(_LINE_BREAKS.sub(lambda m: "\n" * _count_breaks(m[0]), text))
    fence = "`" * max(3, _longest_backtick_run(normalised) + 1)
    return f"{fence}text\n{normalised.rstrip(chr(10))}\n{fence}"


def _count_breaks(run: str) -> int:
    # "\r\n" is one line break; any other break character counts on its own.
    return len(run.replace("\r\n", "\n"))


def inert_inline(text: str) -> str:
    """Return ``text`` as one code span on one line (summary values, attachment names).

    Args:
        text: Untrusted short text.

    Returns:
        A code span whose delimiter is longer than any backtick run inside, padded so a
        leading or trailing backtick in the value cannot merge with the delimiter.
    """
    single_line = _drop_controls(_LINE_BREAKS.sub(" ", text)).strip()
    if not single_line:
        return "(empty)"
    ticks = "`" * (_longest_backtick_run(single_line) + 1)
    return f"{ticks} {single_line} {ticks}"


def inert_title(text: str, *, limit: int = 200) -> str:
    """Return a single-line title in which no reference, mention or quick action is live.

    GitLab renders titles with its single-line pipeline and records mentions from them, so
    each sigil is followed by a word joiner; the visible text is unchanged.

    Args:
        text: The researcher's subject line.
        limit: Longest title kept (GitLab allows 255 characters, the report id comes first).

    Returns:
        The neutralised title, cut to ``limit`` characters.
    """
    single_line = _drop_controls(_LINE_BREAKS.sub(" ", text)).strip()
    out = []
    for ch in single_line[:limit]:
        out.append(ch)
        if ch in _SIGILS:
            out.append(WORD_JOINER)
    return "".join(out)


def withhold_addresses(text: str) -> str:
    """Replace every mail address in ``text`` with a fixed marker (researcher privacy)."""
    return _EMAIL.sub("[address withheld]", text)

r"""What GitLab does with issue and note markdown: quick actions run and stripped, mentions, references, image loads.

Follows ``Gitlab::QuickActions::Extractor`` (GitLab 17.x): ``\r`` is deleted, the markdown
pipeline names the top-level paragraphs (``Banzai::Filter::QuickActionFilter``: only ``<p>``
children of the document whose text has a line starting with ``/``), and within the source
lines of those paragraphs (plus one following blank line) a command matches
``^/(name)( arg)?\s*(\n|$)`` unless it sits inside an inline-code span or an HTML block. Code
blocks, blockquotes and HTML blocks are therefore never searched. markdown-it-py (CommonMark,
like GitLab's parser) stands in for GitLab's renderer to find those paragraphs.

References and mentions follow the Banzai reference filters: they are looked for in text
outside ``code``, ``pre`` and ``a`` elements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt

if TYPE_CHECKING:
    from markdown_it.token import Token

# Issue quick actions (GitLab 17.x, Free and paid tiers). Any of these found live counts
# as executed: the sandbox wants every neutraliser failure to show.
COMMAND_NAMES: tuple[str, ...] = (
    "add_contacts",
    "add_email",
    "assign",
    "assign_reviewer",
    "award",
    "blocked_by",
    "blocks",
    "board_move",
    "cc",
    "clear_health_status",
    "clear_weight",
    "clone",
    "close",
    "confidential",
    "convert_to_ticket",
    "copy_metadata",
    "create_merge_request",
    "done",
    "due",
    "duplicate",
    "epic",
    "estimate",
    "estimate_time",
    "health_status",
    "iteration",
    "label",
    "labels",
    "lock",
    "milestone",
    "move",
    "open",
    "page",
    "promote",
    "promote_to",
    "promote_to_incident",
    "react",
    "reassign",
    "relabel",
    "relate",
    "remove_contacts",
    "remove_due_date",
    "remove_email",
    "remove_epic",
    "remove_estimate",
    "remove_iteration",
    "remove_label",
    "remove_milestone",
    "remove_parent",
    "remove_time_spent",
    "remove_zoom",
    "reopen",
    "set_parent",
    "severity",
    "shrug",
    "spend",
    "spend_time",
    "spent",
    "subscribe",
    "tableflip",
    "timeline",
    "title",
    "todo",
    "type",
    "unassign",
    "unassign_reviewer",
    "unlabel",
    "unlink",
    "unlock",
    "unsubscribe",
    "weight",
    "zoom",
)

_EXCLUSIONS = r"""
    (?P<inline_code>`.+?`)
  |
    (?P<html>^<[^>]+?>\n.+?\n</[^>]+?>$)
"""


def _commands_regex(names: tuple[str, ...]) -> re.Pattern[str]:
    # Longest names first so "label" does not shadow "labels" (Ruby's union keeps order and
    # needs the following space or line end anyway; this keeps Python's behaviour identical).
    union = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(
        _EXCLUSIONS
        + rf"""
          |
            (?:
              ^/
              (?P<cmd>{union})
              (?:[ ](?P<arg>[^\n]*))?
              (?:\s*\n|$)
            )
        """,
        re.MULTILINE | re.DOTALL | re.IGNORECASE | re.VERBOSE,
    )


_COMMANDS = _commands_regex(COMMAND_NAMES)
_MD = MarkdownIt("commonmark")

# User reference: GitLab's User.reference_pattern (a username may hold letters, digits,
# "_", "-", "." but not end with "."), not preceded by a word character.
_MENTION = re.compile(r"(?<![\w@])@(?P<user>[A-Za-z0-9_.\-]*[A-Za-z0-9_\-])")
# Issue "#1", merge request "!1", optionally with a project path in front.
_ISSUE_OR_MR = re.compile(
    r"(?<![\w&/#!])(?P<project>[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-/]+)?(?P<kind>[#!])(?P<iid>\d+)\b"
)
_LABEL = re.compile(r"(?<![\w~])~(?P<label>\"[^\"]+\"|[A-Za-z0-9_\-?.&:]+)")
_MILESTONE = re.compile(r"(?<![\w%])%(?P<milestone>\"[^\"]+\"|[A-Za-z0-9_\-.]+)")
_SNIPPET = re.compile(r"(?<![\w$])\$(?P<snippet>\d+)\b")
_HTML_SRC = re.compile(
    r"<(?:img|video|audio|source|picture|iframe|object|embed)\b[^>]*?\b(?:src|srcset|data)\s*=\s*"
    r"[\"']?(?P<url>[^\"'\s>]+)",
    re.IGNORECASE,
)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:)?//", re.IGNORECASE)


@dataclass(frozen=True)
class QuickAction:
    """One quick action GitLab would run: the command name (lower case) and its argument."""

    name: str
    arg: str = ""


@dataclass
class Extraction:
    """What GitLab makes of a description or note: the text it stores and the actions it runs."""

    content: str
    actions: list[QuickAction] = field(default_factory=list)


def _quick_action_paragraphs(content: str) -> list[tuple[int, int]]:
    """Zero-based (start, end) line numbers of top-level paragraphs holding a line starting with "/"."""
    found = []
    tokens = _MD.parse(content)
    for i, token in enumerate(tokens):
        if token.type != "paragraph_open" or token.level != 0 or token.map is None:
            continue
        inline = tokens[i + 1]
        if re.search(r"^/", _text_content(inline), re.MULTILINE):
            found.append((token.map[0], token.map[1] - 1))
    return found


def _text_content(inline: Token) -> str:
    parts = []
    for child in inline.children or []:
        if child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type in ("text", "code_inline"):
            parts.append(child.content)
    return "".join(parts)


def extract_quick_actions(text: str) -> Extraction:
    """Find the quick actions GitLab runs in ``text`` and the text it stores without them.

    Args:
        text: A description or note body as posted.

    Returns:
        The stored content (right-stripped, like GitLab) and the actions in order.
    """
    content = text.replace("\r", "")
    actions: list[QuickAction] = []
    paragraphs = _quick_action_paragraphs(content)
    if paragraphs:
        lines = content.splitlines(keepends=True)
        for start, last in paragraphs:
            end = last + 1 if last + 1 < len(lines) and lines[last + 1] == "\n" else last
            paragraph = "".join(lines[start : end + 1])

            def run(match: re.Match[str]) -> str:
                if match["cmd"] is None:
                    return match[0]
                actions.append(QuickAction(match["cmd"].lower(), (match["arg"] or "").strip()))
                return ""

            rewritten = _COMMANDS.sub(run, paragraph)
            for n in range(start, end + 1):
                lines[n] = ""
            lines[start] = rewritten
        content = "".join(lines)
    return Extraction(content.rstrip(), actions)


@dataclass
class Rendering:
    """What the reference and sanitisation filters find in rendered markdown."""

    mentions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    image_loads: list[str] = field(default_factory=list)


def scan(text: str) -> Rendering:
    """Mentions, issue/MR/label/milestone/snippet references and external loads in ``text``.

    Args:
        text: Markdown as GitLab would render it (after quick actions were taken out).

    Returns:
        Everything live, in order of appearance.
    """
    found = Rendering()
    for token in _MD.parse(text.replace("\r", "")):
        if token.type == "html_block":
            _scan_html(token.content, found)
        elif token.type == "inline":
            _scan_inline(token.children or [], found)
    return found


def _scan_inline(children: list[Token], found: Rendering) -> None:
    in_link = 0
    for child in children:
        if child.type == "link_open":
            in_link += 1
        elif child.type == "link_close":
            in_link = max(0, in_link - 1)
        elif child.type == "image":
            src = str(child.attrs.get("src", ""))
            if _EXTERNAL.match(src):
                found.image_loads.append(src)
        elif child.type == "html_inline":
            _scan_html(child.content, found)
        elif child.type == "text" and not in_link:
            _scan_text(child.content, found)


def _scan_html(html: str, found: Rendering) -> None:
    for match in _HTML_SRC.finditer(html):
        if _EXTERNAL.match(match["url"]):
            found.image_loads.append(match["url"])
    # Text between tags is rendered as text (GitLab's sanitiser keeps it), so mentions count.
    _scan_text(re.sub(r"<[^>]*>", " ", html), found)


def _scan_text(text: str, found: Rendering) -> None:
    found.mentions.extend("@" + m["user"] for m in _MENTION.finditer(text))
    for m in _ISSUE_OR_MR.finditer(text):
        found.references.append(f"{m['project'] or ''}{m['kind']}{m['iid']}")
    found.references.extend("~" + m["label"] for m in _LABEL.finditer(text))
    found.references.extend("%" + m["milestone"] for m in _MILESTONE.finditer(text))
    found.references.extend("$" + m["snippet"] for m in _SNIPPET.finditer(text))

"""Render researcher text inert for Jira: escaped wiki markup (v2) or text-only ADF (Cloud v3)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

# Characters that open a live wiki construct: [~mention], [text|link], !image!, {macro},
# table cells and formatting. Backslash comes first so escapes are not doubled.
_WIKI_SPECIALS = "\\[]{}!|~*_+^?#@"
_WIKI_ESCAPE = re.compile("[" + re.escape(_WIKI_SPECIALS) + "]")
# Bare URLs auto-link in wiki markup; breaking the scheme separator keeps them as text.
_URL_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# ADF text nodes may not carry control characters other than tab.
_ADF_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# Bidirectional formatting characters (Unicode UAX #9: embeddings, overrides, isolates, marks)
# reorder what a reader sees: "invoice\u202efdp.exe" displays as "invoiceexe.pdf" (CVE-2021-42574,
# "Trojan Source"). Each is shown as its code point instead, so the text reads as stored.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def reveal_bidi(text: str) -> str:
    """Replace each bidirectional control character with a visible ``[U+XXXX]``."""
    return _BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)


def escape_wiki(text: str) -> str:
    """Escape every wiki-markup character that could start a live construct.

    Mentions (``[~user]``), links (``[text|url]``), images (``!url!``) and macros
    (``{noformat}``, ``{code}``, ``{panel}``) all need an unescaped opening character, so a
    backslash before each one leaves only literal text. Hyphens are left alone: ``-x-`` is
    strike-through formatting, never live, and report ids carry hyphens.

    Args:
        text: Untrusted text, as the researcher wrote it.

    Returns:
        Wiki markup that renders as the same characters and triggers nothing.
    """
    escaped = _WIKI_ESCAPE.sub(lambda m: "\\" + m.group(0), reveal_bidi(text))
    return _URL_SCHEME.sub(lambda m: m.group(1) + "\\:", escaped)


def wiki_document(bridge_lines: list[str], untrusted: str | None) -> str:
    """A wiki-markup body: the bridge's own lines (escaped too), then the untrusted text.

    Args:
        bridge_lines: Lines the bridge writes (labels and values it controls).
        untrusted: The researcher's text, or None.

    Returns:
        Wiki markup with every live construct escaped.
    """
    parts = [escape_wiki(line) for line in bridge_lines]
    if untrusted is not None:
        if parts:
            parts.append("")
        parts.append(escape_wiki(untrusted))
    return "\n".join(parts)


def adf_document(bridge_lines: list[str], untrusted: str | None) -> dict[str, Any]:
    """An Atlassian Document built from paragraphs of plain text nodes only.

    No marks, mentions, media, cards or links are ever produced, so nothing in the text can
    become live: ADF has no markup to parse inside a text node.

    Args:
        bridge_lines: Lines the bridge writes.
        untrusted: The researcher's text, or None.

    Returns:
        An ADF ``doc`` node (version 1).
    """
    lines = list(bridge_lines)
    if untrusted is not None:
        if lines:
            lines.append("")
        lines.extend(_LINE_BREAK.split(untrusted))
    content: list[dict[str, Any]] = []
    for line in lines:
        clean = _ADF_CONTROL.sub(" ", reveal_bidi(line))
        paragraph: dict[str, Any] = {"type": "paragraph", "content": []}
        if clean:
            paragraph["content"].append({"type": "text", "text": clean})
        content.append(paragraph)
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(node: Any) -> str:
    """The plain text of an ADF document: text nodes joined, one line per block.

    Args:
        node: An ADF node (usually ``doc``), or a wiki string which is returned unchanged.

    Returns:
        The text a reader sees, without markup.
    """
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    blocks: list[str] = []

    def inline(inner: Any) -> str:
        if not isinstance(inner, dict):
            return ""
        if inner.get("type") == "text":
            return str(inner.get("text", ""))
        if inner.get("type") == "hardBreak":
            return "\n"
        return "".join(inline(child) for child in inner.get("content", []) or [])

    for block in node.get("content", []) or []:
        blocks.append(inline(block))
    return "\n".join(blocks)


def adf_map_text(node: Any, change: Callable[[str], str]) -> Any:
    """A copy of an ADF node with ``change`` applied to every text node's text.

    Args:
        node: An ADF node (usually ``doc``).
        change: What to do to each text (the bridge's erasure of a name, say).

    Returns:
        The same structure; only ``text`` values differ.
    """
    if isinstance(node, list):
        return [adf_map_text(child, change) for child in node]
    if not isinstance(node, dict):
        return node
    copied = {key: adf_map_text(value, change) for key, value in node.items()}
    if node.get("type") == "text" and isinstance(node.get("text"), str):
        copied["text"] = change(node["text"])
    return copied


def one_line_summary(text: str, limit: int = 255) -> str:
    """A Jira summary: one line (Jira refuses newlines), at most ``limit`` characters.

    Args:
        text: The proposed summary.
        limit: Jira's summary length limit.

    Returns:
        The text with line breaks and control characters turned into spaces, cut to size.
    """
    flat = _ADF_CONTROL.sub(" ", _LINE_BREAK.sub(" ", reveal_bidi(text))).replace("\t", " ")
    return flat[:limit]

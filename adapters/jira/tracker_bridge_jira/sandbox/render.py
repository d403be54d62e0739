"""What Jira would do when it renders text: notify mentions, fetch images, follow cards."""

from __future__ import annotations

import re
from typing import Any

_ESCAPED = re.compile(r"\\.", re.DOTALL)
_BLOCK = re.compile(r"\{(noformat|code)(?::[^}]*)?\}")
_MENTION = re.compile(r"\[~(accountid:)?([^\]\s|]+)\]")
_IMAGE = re.compile(r"!([^\s!|]+)(?:\|[^!\n]*)?!")
_ADF_FETCHING = {"media", "mediaSingle", "mediaGroup", "mediaInline", "inlineCard", "blockCard"}
_ADF_PLAIN = {"doc", "paragraph", "text", "hardBreak"}


def wiki_side_effects(text: str) -> list[str]:
    """The actions Jira's wiki renderer takes for ``text``: mentions notified, images fetched.

    Backslash-escaped characters are inert. Inside ``{noformat}`` and ``{code}`` blocks nothing
    renders, until the same macro closes the block (which is how a breakout works).

    Args:
        text: Wiki markup as stored.

    Returns:
        One entry per action, e.g. ``mention:admin`` or ``image:https://evil.example/x.png``.
    """
    # Mask escaped characters with NULs of the same length so offsets stay put.
    masked = _ESCAPED.sub(lambda m: "\x00" * len(m.group(0)), text)
    effects: list[str] = []
    position = 0
    open_block: str | None = None
    for match in _BLOCK.finditer(masked):
        if open_block is None:
            effects.extend(_live(masked[position : match.start()]))
            open_block = match.group(1)
        elif match.group(1) == open_block:
            open_block = None
        position = match.end()
    if open_block is None:
        effects.extend(_live(masked[position:]))
    return effects


def _live(segment: str) -> list[str]:
    effects = [f"mention:{m.group(1) or ''}{m.group(2)}" for m in _MENTION.finditer(segment)]
    for match in _IMAGE.finditer(segment):
        target = match.group(1)
        if "://" in target or "." in target:
            effects.append(f"image:{target}")
    return effects


def adf_side_effects(node: Any) -> list[str]:
    """The actions Jira takes for an ADF document: mention nodes notify, media and cards fetch.

    Args:
        node: An ADF node as stored.

    Returns:
        One entry per action; node types other than plain text blocks are reported too.
    """
    effects: list[str] = []
    if not isinstance(node, dict):
        return effects
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "mention":
        effects.append(f"mention:{attrs.get('id', '')}")
    elif kind in _ADF_FETCHING:
        effects.append(f"fetch:{attrs.get('url') or attrs.get('id') or kind}")
    elif kind not in _ADF_PLAIN:
        effects.append(f"node:{kind}")
    for mark in node.get("marks", []) or []:
        if isinstance(mark, dict) and mark.get("type") == "link":
            effects.append(f"link:{(mark.get('attrs') or {}).get('href', '')}")
    for child in node.get("content", []) or []:
        effects.extend(adf_side_effects(child))
    return effects

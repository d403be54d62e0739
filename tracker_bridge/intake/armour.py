"""Finding and repairing inline OpenPGP armour in mail text (HTML, &nbsp;, CRLF, QP damage)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

__all__ = ["ArmouredBlock", "find_message_blocks", "html_to_text", "normalise_text"]

_BEGIN = "-----BEGIN PGP MESSAGE-----"
_END = "-----END PGP MESSAGE-----"
_BLOCK = re.compile(
    r"-----BEGIN PGP MESSAGE-----(?P<inner>.*?)-----END PGP MESSAGE-----", re.DOTALL
)
_ARMOUR_HEADER = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9-]*):\s?(?P<value>.*)$")
_CHECKSUM = re.compile(r"^=[A-Za-z0-9+/]{4}$")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")
# Whitespace that HTML editors and mail gateways put where armour had plain spaces and newlines.
_ODD_SPACES = str.maketrans({"\xa0": " ", "\u2007": " ", "\u202f": " ", "\u200b": "", "\ufeff": ""})


@dataclass(frozen=True)
class ArmouredBlock:
    """One ``PGP MESSAGE`` block: repaired armour, where it sat, and its ``Charset`` header."""

    armour: bytes
    start: int
    end: int
    charset: str | None


class _TextExtractor(HTMLParser):
    """Turns HTML into text, keeping line structure and dropping scripts and styles."""

    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "pre", "blockquote", "h1", "h2", "h3"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002 - html.parser's hook signature
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The readable text of an HTML part (tags dropped, entities decoded, lines kept)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except (AssertionError, ValueError):
        # html.parser gives up on some broken markup; the bare text is still worth keeping.
        return html.unescape(re.sub(r"<[^>]*>", "", markup))
    text = "".join(extractor.parts)
    return re.sub(r"\n{3,}", "\n\n", text)


def normalise_text(text: str) -> str:
    """Undo transport damage: CRLF and CR to LF, odd spaces to plain ones, trailing blanks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_ODD_SPACES)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _repair(inner: str) -> tuple[bytes, str | None]:
    """Rebuild clean armour from the text between BEGIN and END."""
    lines = [line.strip() for line in inner.split("\n")]
    headers: list[str] = []
    charset: str | None = None
    index = 0
    while index < len(lines) and not lines[index]:
        index += 1
    while index < len(lines):
        match = _ARMOUR_HEADER.match(lines[index])
        if not match:
            break
        headers.append(lines[index])
        if match.group("key").lower() == "charset":
            charset = match.group("value").strip() or None
        index += 1
    data: list[str] = []
    checksum = ""
    for line in lines[index:]:
        if not line:
            continue
        if _CHECKSUM.match(line):
            checksum = line
            continue
        data.append(_NOT_BASE64.sub("", line))
    joined = "".join(data)
    # HTML damage can join or split lines; gpg wants short lines, so wrap anew.
    wrapped = [joined[i : i + 64] for i in range(0, len(joined), 64)]
    armour_lines = [_BEGIN, "", *wrapped]
    if checksum:
        armour_lines.append(checksum)
    armour_lines.append(_END)
    return ("\n".join(armour_lines) + "\n").encode("ascii"), charset


def find_message_blocks(text: str) -> list[ArmouredBlock]:
    """Every ``PGP MESSAGE`` block in already normalised ``text``, repaired for gpg."""
    blocks: list[ArmouredBlock] = []
    for match in _BLOCK.finditer(text):
        armour, charset = _repair(match.group("inner"))
        blocks.append(ArmouredBlock(armour, match.start(), match.end(), charset))
    return blocks


def has_begin_marker(text: str) -> bool:
    """Whether ``text`` holds the start of an armoured message (complete or not)."""
    return _BEGIN in text

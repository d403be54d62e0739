"""The neutraliser against GitLab's own rules (as the sandbox implements them): nothing stays live."""

from __future__ import annotations

import pytest
from tracker_bridge_gitlab.markup import inert_block, inert_inline, inert_title
from tracker_bridge_gitlab.sandbox.markdown import extract_quick_actions, scan

from tracker_bridge.testing import INJECTION_PAYLOADS

FENCE_BREAKERS = (
    "```\n/close",
    "```\n```\n/close\n```",
    "`````\n/close\n`````",
    "~~~~\n/close",
    "text ``` inline\n/close",
    "````````````````\n/close",
    "\u2028/close",
    "\x0b/close",
    "<!-- x -->\n/close",
)
ALL_PAYLOADS = INJECTION_PAYLOADS + FENCE_BREAKERS


def live(markdown: str) -> list[str]:
    """Everything GitLab would act on in ``markdown``."""
    extraction = extract_quick_actions(markdown)
    rendering = scan(extraction.content)
    return (
        [a.name for a in extraction.actions]
        + rendering.mentions
        + rendering.references
        + rendering.image_loads
    )


@pytest.mark.parametrize("payload", ALL_PAYLOADS)
def test_inert_block_leaves_nothing_live(payload: str) -> None:
    """A payload wrapped by inert_block, with text around it, runs and references nothing."""
    text = f"intro\n{payload}\n{payload}\nend"
    assert [] == live(f"summary\n\n{inert_block(text)}\n")


@pytest.mark.parametrize("payload", ALL_PAYLOADS)
def test_inert_block_closes_where_the_bridge_wants(payload: str) -> None:
    """The block ends at its own fence: a bridge line after it is live again (so it is closed)."""
    assert ["close"] == live(f"{inert_block(payload)}\n\n/close")


@pytest.mark.parametrize("payload", ALL_PAYLOADS)
def test_inert_inline_and_title_leave_nothing_live(payload: str) -> None:
    """Summary values and titles built from a payload run and reference nothing."""
    assert ([], []) == (live(f"- Credit: {inert_inline(payload)}"), live(inert_title(payload)))


def test_inert_block_keeps_the_words() -> None:
    """The researcher's text is still there, character for character, inside the block."""
    text = "line one\n```\n/close\n```\n@all"
    assert text in inert_block(text)


def test_inert_block_fence_outgrows_backtick_runs() -> None:
    """The fence is longer than the longest backtick run in the text."""
    block = inert_block("a ````` b")
    assert block.startswith("``````text\n")
    assert block.endswith("\n``````")

"""Researcher text rendered inert: escaped wiki markup and text-only ADF."""

from __future__ import annotations

import pytest
from tracker_bridge_jira.markup import adf_document, adf_to_text, escape_wiki, one_line_summary
from tracker_bridge_jira.sandbox.render import adf_side_effects, wiki_side_effects

from tracker_bridge.testing import CANARY, INJECTION_PAYLOADS


@pytest.mark.parametrize("payload", INJECTION_PAYLOADS)
def test_escaped_wiki_has_no_side_effects(payload: str) -> None:
    """Every injection payload, escaped, renders without mentions or fetches."""
    assert [] == wiki_side_effects(escape_wiki(payload))


def test_links_and_bare_urls_are_escaped() -> None:
    """[text|url] links lose their brackets and bare URLs their scheme separator."""
    assert r"\[click\|https\://evil.example\]" == escape_wiki("[click|https://evil.example]")


def test_adf_is_text_nodes_only_and_round_trips() -> None:
    """The ADF document holds only doc/paragraph/text and reads back as the same lines."""
    text = f"{CANARY}\n[~admin] !x.png!\n\nend"
    document = adf_document(["Report: CVD-2026-0001"], text)
    assert [] == adf_side_effects(document)
    assert f"Report: CVD-2026-0001\n\n{text}" == adf_to_text(document)


def test_summary_is_one_line_and_bounded() -> None:
    """A summary never carries a newline and never exceeds 255 characters."""
    assert ("a b", 255) == (one_line_summary("a\nb"), len(one_line_summary("x" * 300)))

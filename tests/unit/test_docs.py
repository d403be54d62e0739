"""The README's configuration reference matches the settings model."""

from __future__ import annotations

from pathlib import Path

from tracker_bridge.config_reference import BEGIN, END, reference_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_reference_is_current() -> None:
    """The table between the markers is exactly what the settings model generates."""
    text = README.read_text(encoding="utf-8")
    current = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    assert reference_table() == current

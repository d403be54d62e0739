"""Program mappings copied to a temporary folder so a test can change one number."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tracker_bridge.mappings import Mappings, load_mappings

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"

FINGERPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"

MappingsWith = Callable[..., Mappings]


@pytest.fixture
def mappings_with(tmp_path: Path) -> MappingsWith:
    """Mappings from the packaged program.toml with each ``old -> new`` text replaced."""

    def make(*replacements: tuple[str, str]) -> Mappings:
        directory = tmp_path / "mappings"
        if directory.exists():
            shutil.rmtree(directory)
        shutil.copytree(MAPPINGS, directory)
        program = directory / "program.toml"
        text = program.read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in text, f"{old!r} not in program.toml"
            text = text.replace(old, new, 1)
        program.write_text(text, encoding="utf-8")
        return load_mappings(directory, "gitlab")

    return make

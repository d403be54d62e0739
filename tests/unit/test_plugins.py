"""Finding tracker plugins and their demo sandboxes through entry points."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tracker_bridge.demo.installation import create_installation
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.plugins import load_demo_sandbox_factory

if TYPE_CHECKING:
    from pathlib import Path


def test_missing_demo_sandbox_names_the_distribution_to_install() -> None:
    """A tracker without an installed demo sandbox is refused naming tracker-bridge-<kind>."""
    with pytest.raises(ConfigurationError) as caught:
        load_demo_sandbox_factory("nonesuch")
    assert "install the distribution tracker-bridge-nonesuch" in str(caught.value)


def test_installed_demo_sandbox_is_found() -> None:
    """The GitLab plugin's demo sandbox factory is found through its entry point."""
    assert True is callable(load_demo_sandbox_factory("gitlab"))


def test_missing_demo_sandbox_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    """create_installation checks the sandbox plugin before it makes keys or folders."""
    directory = tmp_path / "demo"
    with pytest.raises(ConfigurationError):
        create_installation(directory, "nonesuch")
    assert False is directory.exists()

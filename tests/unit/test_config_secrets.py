"""Where a secret comes from: the environment, as value or as `*_FILE`, wins over the TOML file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tracker_bridge.config import load_settings

if TYPE_CHECKING:
    from pathlib import Path

CONFIG = """[openpgp]
passphrase_file = "toml-passphrase"

[smtp]
password = "toml-password"

[tracker]
kind = "gitlab"

[tracker.gitlab]
url = "https://gitlab.example.org"
project = "security/cvd"
token_file = "toml-token"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose secret files all exist, each holding where it came from."""
    for name in ("toml-passphrase", "toml-token", "env-token", "env-password"):
        (tmp_path / name).write_text(f"{name}\n", encoding="utf-8")
    path = tmp_path / "tracker-bridge.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_without_environment_the_toml_files_are_read(config: Path) -> None:
    """No environment: every `*_file` in the TOML fills its secret."""
    settings = load_settings(config, environ={}).settings
    assert ("toml-token", "toml-passphrase", "toml-password") == (
        settings.tracker.plugin_section()["token"],
        settings.openpgp.passphrase.get_secret_value() if settings.openpgp.passphrase else None,
        settings.smtp.password.get_secret_value() if settings.smtp.password else None,
    )


def test_environment_values_and_files_win_over_the_toml(config: Path) -> None:
    """TOKEN wins over token_file, PASSWORD_FILE over password, PASSPHRASE over passphrase_file."""
    environ = {
        "TRACKER_BRIDGE_TRACKER__GITLAB__TOKEN": "env-value-token",
        "TRACKER_BRIDGE_SMTP__PASSWORD_FILE": str(config.parent / "env-password"),
        "TRACKER_BRIDGE_OPENPGP__PASSPHRASE": "env-value-passphrase",
    }
    settings = load_settings(config, environ=environ).settings
    assert ("env-value-token", "env-value-passphrase", "env-password") == (
        settings.tracker.plugin_section()["token"],
        settings.openpgp.passphrase.get_secret_value() if settings.openpgp.passphrase else None,
        settings.smtp.password.get_secret_value() if settings.smtp.password else None,
    )


def test_untouched_sections_keep_their_secret_files_unread(config: Path) -> None:
    """A section the command never uses is not read: a missing token file is no error there."""
    (config.parent / "toml-token").unlink()
    settings = load_settings(config, environ={}, untouched=("tracker",)).settings
    assert {"url", "project", "token_file"} == set(settings.tracker.plugin_section())

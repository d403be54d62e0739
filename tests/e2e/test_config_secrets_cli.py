"""Secrets: commands that touch no tracker need no tracker token; the environment wins over `*_file`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.installations import init_installation, invoke

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# How Thunderbird sends a plain report (header order and line endings as it writes them).
PLAIN_REPORT = (
    b"Message-ID: <6f1c2a9e-plain@research.example>\r\n"
    b"Date: Mon, 30 Nov 2026 09:12:44 +0100\r\n"
    b"MIME-Version: 1.0\r\n"
    b"User-Agent: Mozilla Thunderbird\r\n"
    b"Content-Language: en-US\r\n"
    b"To: security@example.org\r\n"
    b"From: Ada Lovelace <ada@research.example>\r\n"
    b"Subject: Open redirect on /login\r\n"
    b"Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b"/login?next=//evil.example redirects off-site.\r\n"
)


@pytest.fixture(scope="module")
def installation() -> Iterator[Path]:
    """A fresh `init` installation: the tracker token file it names was never written."""
    with init_installation("tbc") as config:
        yield config


def test_reports_needs_no_tracker_token(installation: Path) -> None:
    """`reports` reads the store only: it runs although the tracker token file does not exist."""
    result = invoke(installation, "reports")
    assert (0, "no open reports\n") == (result.exit_code, result.stdout), result.output


def test_inspect_needs_no_tracker_token(installation: Path, tmp_path: Path) -> None:
    """`inspect` reads one message: it runs although the tracker token file does not exist."""
    message = tmp_path / "plain.eml"
    message.write_bytes(PLAIN_REPORT)
    result = invoke(installation, "inspect", str(message), "--json")
    assert (0, True) == (result.exit_code, '"verdict": "report"' in result.stdout), result.output


def test_a_command_using_the_tracker_still_needs_its_token(installation: Path) -> None:
    """`db upgrade` reads every secret: the missing token file is an error naming its line."""
    result = invoke(installation, "db", "upgrade")
    assert (2, True) == (
        result.exit_code,
        "tracker.gitlab.token_file: cannot read secret file 'secrets/gitlab-token'"
        in result.output,
    ), result.output


@pytest.mark.parametrize(
    ("written", "instead", "variable"),
    [
        (
            'token_file = "secrets/gitlab-token"',
            'token_file = "secrets/never-written"',
            "TRACKER_BRIDGE_TRACKER__GITLAB__TOKEN",
        ),
        (
            'host = "localhost"',
            'host = "localhost"\npassword_file = "secrets/never-written"',
            "TRACKER_BRIDGE_SMTP__PASSWORD",
        ),
        (
            'passphrase_file = "secrets/openpgp-passphrase"',
            'passphrase_file = "secrets/never-written"',
            "TRACKER_BRIDGE_OPENPGP__PASSPHRASE",
        ),
    ],
)
def test_environment_secret_wins_over_a_missing_file(
    installation: Path, written: str, instead: str, variable: str
) -> None:
    """A secret in the environment replaces the TOML's `*_file`, which is then never read."""
    text = installation.read_text(encoding="utf-8")
    config = installation.with_name(f"env-{variable.lower()}.toml")
    config.write_text(text.replace(written, instead, 1), encoding="utf-8")
    passphrase = (installation.parent / "secrets" / "openpgp-passphrase").read_text().strip()
    token = {"TRACKER_BRIDGE_TRACKER__GITLAB__TOKEN": "glpat-from-the-environment"}
    without: dict[str, str | None] = {**token, variable: None}
    given = {**token, variable: passphrase if "OPENPGP" in variable else "from-the-environment"}
    refused = invoke(config, "db", "upgrade", env=without)
    accepted = invoke(config, "db", "upgrade", env=given)
    # check proves the passphrase from the environment really opens the bridge key.
    checked = invoke(config, "check", env=given)
    assert (2, True, 0, 0) == (
        refused.exit_code,
        "cannot read secret file 'secrets/never-written'" in refused.output,
        accepted.exit_code,
        checked.exit_code,
    ), (refused.output, accepted.output, checked.output)

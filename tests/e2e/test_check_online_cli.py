"""`check --online` against both tracker sandboxes and aiosmtpd: what only the network can tell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any, cast

import pytest

from tests.installations import running_installation
from tracker_bridge.demo.smtp import MailCatcher

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tracker_bridge.demo.installation import Installation

OWN_ADDRESS = "security@bridge-owner.test"


@pytest.fixture(scope="module", params=["gitlab", "jira"])
def site(request: pytest.FixtureRequest) -> Iterator[Installation]:
    """One installation per tracker, its starter placeholders replaced by the operator's values."""
    with running_installation(request.param, prefix="tbon") as installation:
        for path in (
            installation.config_path,
            installation.directory / "mappings" / "program.toml",
        ):
            text = path.read_text(encoding="utf-8").replace("security@example.org", OWN_ADDRESS)
            path.write_text(
                text.replace('"Example Organisation"', '"Owner B.V."'), encoding="utf-8"
            )
        yield installation


def check_online(site: Installation, **env: str) -> tuple[int, dict[str, Any]]:
    """``check --online --json`` with extra environment settings."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_BRIDGE_")}
    command = ["--config", str(site.config_path), "check", "--online", "--json"]
    ran = subprocess.run(
        [sys.executable, "-m", "tracker_bridge", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**kept, **env},
    )
    return ran.returncode, json.loads(ran.stdout or "{}")


def tracker_env(site: Installation, key: str, value: str) -> dict[str, str]:
    """The environment variable setting ``[tracker.<kind>] key``."""
    return {f"TRACKER_BRIDGE_TRACKER__{site.sandbox.kind.upper()}__{key.upper()}": value}


def test_a_working_installation_passes(site: Installation) -> None:
    """Token, project, confidentiality and SMTP all answer as needed: exit 0, no problem."""
    assert (0, []) == (lambda r: (r[0], r[1]["problems"]))(check_online(site))  # noqa: PLC3002 - binds the result once inside the asserted expression


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("token", "revoked-token", "token"),
        ("project", "NOPE", "does not exist or the token cannot see it"),
    ],
)
def test_tracker_problems_are_named(
    site: Installation, setting: str, value: str, expected: str
) -> None:
    """A refused token or a missing project fails the check with the reason."""
    code, result = check_online(site, **tracker_env(site, setting, value))
    assert (2, True) == (code, any(expected in p for p in result["problems"])), result


def test_missing_confidentiality_permission_is_named(site: Installation) -> None:
    """GitLab: a Guest token; Jira: a security level that does not exist. Both fail the check."""
    sandbox = cast("Any", site.sandbox)
    if site.sandbox.kind == "gitlab":
        sandbox.refuse_confidentiality(True)
        try:
            code, result = check_online(site)
        finally:
            sandbox.refuse_confidentiality(False)
        expected = "needs Reporter (20) or higher"
    else:
        code, result = check_online(site, **tracker_env(site, "security_level", "Everyone"))
        expected = "'Everyone' is not a security level"
    assert (2, True) == (code, any(expected in p for p in result["problems"])), result


def test_starter_placeholder_is_flagged(site: Installation) -> None:
    """Jira's starter email (and GitLab's starter URL) from `init` are named as placeholders."""
    setting, value = (
        ("email", "bridge@example.org")
        if site.sandbox.kind == "jira"
        else ("url", "https://gitlab.example.org")
    )
    code, result = check_online(site, **tracker_env(site, setting, value))
    expected = f"tracker.{site.sandbox.kind}.{setting} = '{value}' is the placeholder"
    assert (2, True) == (code, any(p.startswith(expected) for p in result["problems"])), result


def test_smtp_login_is_tried(site: Installation) -> None:
    """The SMTP server must accept the configured login: right passes, wrong is named."""
    server = MailCatcher(credentials=("bridge", "right-password"))
    try:
        common = {
            "TRACKER_BRIDGE_SMTP__PORT": str(server.port),
            "TRACKER_BRIDGE_SMTP__USER": "bridge",
        }
        good = check_online(site, **common, TRACKER_BRIDGE_SMTP__PASSWORD="right-password")
        bad = check_online(site, **common, TRACKER_BRIDGE_SMTP__PASSWORD="wrong-password")
    finally:
        server.stop()
    assert (0, []) == (good[0], good[1]["problems"])
    assert (2, True) == (bad[0], any("refused AUTH" in p for p in bad[1]["problems"])), bad


def test_a_leftover_section_of_another_tracker_is_not_read(site: Installation) -> None:
    """An unreadable token_file of the plugin not selected blocks nothing; the checks run."""
    other = "JIRA" if site.sandbox.kind == "gitlab" else "GITLAB"
    leftover = {f"TRACKER_BRIDGE_TRACKER__{other}__TOKEN_FILE": "/nonexistent/old-token"}
    code, result = check_online(site, **leftover)
    assert (0, []) == (code, result["problems"]), result

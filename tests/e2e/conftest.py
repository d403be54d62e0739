"""Shared end-to-end fixtures: one throwaway installation per module and the CLI run as a process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.installations import running_installation
from tracker_bridge._testsupport.keys import gpg_command

if TYPE_CHECKING:
    from pathlib import Path

    from tracker_bridge.demo.installation import Installation

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"


@dataclass(frozen=True)
class CliResult:
    """What one ``tracker-bridge`` process printed and how it exited."""

    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        """Standard output, one entry per non-empty line."""
        return [line for line in self.stdout.splitlines() if line.strip()]


CliRunner = Callable[..., CliResult]


@pytest.fixture(scope="module")
def installation() -> Iterator[Installation]:
    """Keys, the GitLab sandbox, SMTP, a Maildir and a config file, shared by one test module."""
    with running_installation("gitlab", prefix="tbe2e") as created:
        yield created


@pytest.fixture(scope="module")
def cli(installation: Installation) -> CliRunner:
    """Run ``python -m tracker_bridge --config <installation> ARGS`` as its own process."""

    def run(*args: str, stdin: bytes | None = None) -> CliResult:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "tracker_bridge",
                "--config",
                str(installation.config_path),
                *args,
            ],
            input=stdin,
            capture_output=True,
            timeout=90,
            check=False,
        )
        return CliResult(
            completed.returncode,
            completed.stdout.decode("utf-8", "replace"),
            completed.stderr.decode("utf-8", "replace"),
        )

    return run


@pytest.fixture(scope="module")
def message_file(installation: Installation) -> Callable[[str, bytes], Path]:
    """Write a message into the installation's directory and return its path."""

    def write(name: str, raw: bytes) -> Path:
        folder = installation.directory / "messages"
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_bytes(raw)
        return path

    return write


def bridge_keyring(installation: Installation) -> str:
    """The bridge keyring's public keys and user ids, as gpg lists them (to see changes)."""
    listing = gpg_command(
        installation.bridge.gnupghome, "--with-colons", "--list-keys", check=False
    )
    return "\n".join(
        line
        for line in listing.stdout.decode("utf-8", "replace").splitlines()
        # The trust database line carries a timestamp that changes on every listing.
        if not line.startswith("tru:")
    )


@pytest.fixture(scope="module")
def keyring_listing(installation: Installation) -> Callable[[], str]:
    """A function listing the bridge keyring now."""
    return lambda: bridge_keyring(installation)

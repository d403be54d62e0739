"""Throwaway installations for tests that run the bridge whole, and the in-process CLI on them.

One place for what the end-to-end and deploy tests each wrote again: make an installation
(keys, tracker sandbox, SMTP, Maildir, config) or let ``init`` make one, and delete it after.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import CliRunner, Result

from tracker_bridge._testsupport.keys import remove_gnupghome
from tracker_bridge.cli import main
from tracker_bridge.demo.installation import Installation, create_installation

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping


@contextmanager
def running_installation(
    tracker: str = "gitlab", *, prefix: str = "tb", directory: Path | None = None
) -> Iterator[Installation]:
    """A running installation on ``tracker``'s sandbox; stopped and deleted when the block ends.

    Args:
        tracker: The tracker kind whose sandbox it runs (``gitlab`` or ``jira``).
        prefix: Prefix of the temporary directory under /tmp (gpg-agent sockets need short paths).
        directory: The installation directory to use instead (it is deleted afterwards too).
    """
    where = (
        directory if directory is not None else Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    )
    installation = create_installation(where, tracker)
    try:
        yield installation
    finally:
        installation.stop(remove=True)


@contextmanager
def init_installation(prefix: str) -> Iterator[Path]:
    """An installation made by ``init --no-interactive`` (no tracker runs); its config path."""
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp")) / "cvd"
    result = CliRunner().invoke(main, ["init", str(directory), "--no-interactive"])
    assert 0 == result.exit_code, result.output
    try:
        yield directory / "tracker-bridge.toml"
    finally:
        remove_gnupghome(str(directory / "gnupg"))
        shutil.rmtree(directory.parent, ignore_errors=True)


def invoke(config: Path, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
    """``tracker-bridge --config <config> ARGS`` in this process; ``env`` None values unset."""
    return CliRunner().invoke(main, ["--config", str(config), *args], env=env)


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tracker_bridge --config <config> ARGS`` as its own process (text, 120 s)."""
    return subprocess.run(
        [sys.executable, "-m", "tracker_bridge", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

"""A passphrase that does not open the bridge key is a configuration error, and intake touches no mail."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

from tests.e2e.conftest import JAN, CliResult
from tracker_bridge._testsupport.keys import gpg_command

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tracker_bridge.demo.installation import Installation


def _cli(config: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    completed = subprocess.run(
        [sys.executable, "-m", "tracker_bridge", "--config", str(config), *args],
        capture_output=True,
        timeout=90,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return CliResult(
        completed.returncode,
        completed.stdout.decode("utf-8", "replace"),
        completed.stderr.decode("utf-8", "replace"),
    )


def _wrong_passphrase_config(installation: Installation) -> tuple[Path, int]:
    """A copy of the config whose passphrase_file holds a wrong passphrase; and that line's number."""
    wrong = installation.directory / "secrets" / "wrong-passphrase"
    wrong.write_text("not-the-bridge-passphrase\n", encoding="utf-8")
    text = installation.config_path.read_text(encoding="utf-8")
    right = str(installation.directory / "secrets" / "openpgp-passphrase")
    config = installation.config_path.with_name("wrong-passphrase.toml")
    config.write_text(text.replace(right, str(wrong)), encoding="utf-8")
    number = next(
        n for n, line in enumerate(text.splitlines(), start=1) if line.startswith("passphrase_file")
    )
    return config, number


def _unlock_in_agent(installation: Installation) -> None:
    """Let gpg-agent cache the right passphrase, as a pass minutes earlier would have."""
    bridge = installation.bridge
    cipher = gpg_command(
        bridge.gnupghome,
        "--armor",
        "--trust-model",
        "always",
        "--encrypt",
        "-r",
        bridge.fingerprint,
        stdin=b"warm",
    ).stdout
    gpg_command(bridge.gnupghome, "--decrypt", stdin=cipher, passphrase=bridge.passphrase)


def _report_count(installation: Installation) -> int:
    database = installation.directory / "state" / "bridge.sqlite3"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM reports").fetchone()[0])


def test_check_names_the_key_and_the_setting_when_the_passphrase_is_wrong(
    installation: Installation,
) -> None:
    """`check` with a wrong passphrase exits 2 naming the bridge key and passphrase_file's line."""
    config, line = _wrong_passphrase_config(installation)
    _unlock_in_agent(installation)
    result = _cli(config, "check")
    expected = (
        f"problem: {config}:{line}: openpgp.passphrase_file: does not unlock bridge key "
        f"{installation.bridge.fingerprint} (the passphrase is wrong)"
    )
    assert (2, True) == (result.code, expected in result.stdout.splitlines()), result.stdout


def test_check_names_the_environment_variable_that_gave_the_wrong_passphrase(
    installation: Installation,
) -> None:
    """A wrong passphrase from TRACKER_BRIDGE_OPENPGP__PASSPHRASE is named as that variable."""
    result = _cli(
        installation.config_path,
        "check",
        env={"TRACKER_BRIDGE_OPENPGP__PASSPHRASE": "also-wrong"},
    )
    expected = (
        "problem: environment TRACKER_BRIDGE_OPENPGP__PASSPHRASE: does not unlock bridge key "
        f"{installation.bridge.fingerprint} (the passphrase is wrong)"
    )
    assert (2, True) == (result.code, expected in result.stdout.splitlines()), result.stdout


def test_ingest_with_a_key_it_cannot_unlock_stops_and_leaves_the_maildir_as_it_was(
    installation: Installation, cli: Callable[..., CliResult]
) -> None:
    """Wrong passphrase: ingest and run exit 2 before reading the Maildir; the right one files it."""
    config, line = _wrong_passphrase_config(installation)
    shape = installation.shapes(JAN).thunderbird("Path traversal in /files", "GET /files/../etc")
    delivered = installation.deliver(shape.raw)
    before = _report_count(installation)
    _unlock_in_agent(installation)
    refused = _cli(config, "ingest")
    refused_run = _cli(config, "run")
    quarantine = installation.maildir / ".Quarantine"
    untouched = (
        delivered.exists() and delivered.read_bytes() == shape.raw,
        sorted(p.name for p in quarantine.rglob("*") if p.is_file()),
        _report_count(installation),
    )
    filed = cli("ingest")
    assert (
        2,
        2,
        (
            f"{config}:{line}: openpgp.passphrase_file: does not unlock bridge key "
            f"{installation.bridge.fingerprint} in {installation.bridge.gnupghome} "
            "(the passphrase is wrong); no mail was read"
        ),
        (True, [], before),
        0,
        before + 1,
    ) == (
        refused.code,
        refused_run.code,
        refused.stderr.strip().splitlines()[-1].strip(),
        untouched,
        filed.code,
        _report_count(installation),
    ), refused.stderr


def test_reprotect_refuses_the_minimum_for_a_passphrase_a_person_chose(
    installation: Installation, cli: Callable[..., CliResult]
) -> None:
    """`key reprotect` with a short, chosen passphrase keeps the calibration and says why (exit 2)."""
    result = cli("key", "reprotect")
    assert (2, True) == (
        result.code,
        "a passphrase a person chose keeps gpg-agent's calibrated work factor" in result.stderr,
    ), result.stderr

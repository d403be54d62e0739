"""The command line around the scheduled job: check finds template mistakes, run stops cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tracker_bridge.demo.installation import create_installation


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker_bridge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_check_names_the_template_line_with_an_unknown_placeholder(tmp_path: Path) -> None:
    """A typo in a researcher mail template fails check with exit 2 and the file and line."""
    assert 0 == _cli("init", str(tmp_path / "x"), "--no-key").returncode
    template = tmp_path / "x" / "mappings" / "templates" / "nl" / "state_triaged.txt"
    lines = template.read_text(encoding="utf-8").splitlines()
    lines.insert(3, "Uw melding $reportid is beoordeeld.")
    template.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _cli("--config", str(tmp_path / "x" / "tracker-bridge.toml"), "check")
    assert 2 == result.returncode
    assert f"{template}:4:" in result.stdout
    assert "reportid" in result.stdout


def test_run_every_stops_on_sigterm_with_exit_0() -> None:
    """`run --every --json` prints a JSON line per pass; SIGTERM ends it after the step, exit 0."""
    directory = Path(tempfile.mkdtemp(prefix="tbrun", dir="/tmp"))
    installation = create_installation(directory, "gitlab")
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tracker_bridge",
                "--config",
                str(installation.config_path),
                "run",
                "--every",
                "1s",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        # Wait for a pass to finish (the store appears), then ask it to stop.
        while not (directory / "state" / "bridge.sqlite3").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.5)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        assert 0 == process.returncode, stderr[-2000:]
        passes = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        assert len(passes) >= 2
        assert {"ingest", "sync", "notify"} <= set(passes[0])
    finally:
        installation.stop(remove=True)


def test_check_warns_while_no_trusted_authserv_id_is_configured(tmp_path: Path) -> None:
    """Without intake.trusted_authserv_id, check says From addresses are believed as written."""
    assert 0 == _cli("init", str(tmp_path / "x"), "--no-key").returncode
    config = tmp_path / "x" / "tracker-bridge.toml"
    before = _cli("--config", str(config), "check")
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[intake]", '[intake]\ntrusted_authserv_id = "mx.example.org"', 1)
        if "[intake]" in text
        else text + '\n[intake]\ntrusted_authserv_id = "mx.example.org"\n',
        encoding="utf-8",
    )
    after = _cli("--config", str(config), "check")
    warning = "warning: intake.trusted_authserv_id: not set"
    assert (True, False) == (warning in before.stdout, warning in after.stdout)

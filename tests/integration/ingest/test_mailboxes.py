"""Maildir and IMAP through the CLI: mail moves only after its outcome is committed; a kill loses nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from tracker_bridge.demo.installation import Installation

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"


def _cli(world: object, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tracker_bridge", "--config", str(world.config_path), *args],  # type: ignore[attr-defined]
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(process: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=90)
    return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _files(folder: Path) -> list[str]:
    return sorted(p.name.split(":", 1)[0] for p in folder.iterdir()) if folder.is_dir() else []


def _report_ids(world: object) -> list[str]:
    with sqlite3.connect(world.database) as db:  # type: ignore[attr-defined]
        return [str(row[0]) for row in db.execute("SELECT report_id FROM reports")]


def _issues_per_report(world: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    for issue in world.gitlab.team.issues():  # type: ignore[attr-defined]
        for label in issue.labels:
            if label.startswith("cvd-report::"):
                key = label.removeprefix("cvd-report::")
                counts[key] = counts.get(key, 0) + 1
    return counts


def _tampered(installation: Installation) -> bytes:
    shapes = installation.shapes(ADA)
    raw = shapes.kmail("Tampered on the way", "x" * 2000).raw
    # Change one base64 character inside the armour: the message no longer decrypts.
    start = raw.index(b"-----BEGIN PGP MESSAGE-----")
    position = raw.index(b"\r\n\r\n", start) + 40
    flipped = b"A" if raw[position : position + 1] != b"A" else b"B"
    return raw[:position] + flipped + raw[position + 1 :]


def test_maildir_report_to_processed_and_tampered_to_quarantine(world: object) -> None:
    """`ingest` with the Maildir: a report moves to .Processed, a tampered mail to .Quarantine."""
    installation: Installation = world.installation  # type: ignore[attr-defined]
    good = installation.deliver(installation.shapes(JAN).kmail("Weak reset token", "4 digits").raw)
    bad = installation.deliver(_tampered(installation))
    code, out, err = _finish(_cli(world, "ingest"))
    assert 3 == code, err
    maildir = installation.maildir
    assert ([], [good.name], [bad.name]) == (
        _files(maildir / "new"),
        _files(maildir / ".Processed" / "cur"),
        _files(maildir / ".Quarantine" / "cur"),
    )
    assert "ingest: issue_opened 1, quarantine 1, report 1" == out.splitlines()[-1]


def test_killed_while_the_tracker_stalls_leaves_the_mail_and_the_next_run_handles_it_once(
    world: object,
) -> None:
    """SIGKILL after the commit but before the move: the mail stays in new/, no duplicate later."""
    installation: Installation = world.installation  # type: ignore[attr-defined]
    gitlab = world.gitlab  # type: ignore[attr-defined]
    shapes = installation.shapes(JAN)
    delivered = sorted(
        installation.deliver(shapes.kmail(f"Stalled report {n}", "details").raw).name
        for n in range(2)
    )
    before = set(_report_ids(world))
    # Reading the placeholder back (a GET after the report is committed; the marker look-ups
    # before it also ask which report ids the tracker holds) stalls longer than we wait.
    gitlab.team.inject_fault(0, 1, method="GET", path_pattern=r"/issues/\d+$", delay=8)
    stalled = gitlab.faults[-1]
    process = _cli(world, "ingest")
    deadline = time.monotonic() + 30
    while stalled.remaining and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert 0 == stalled.remaining, "the ingest run never reached the tracker"
    process.kill()
    _finish(process)
    assert delivered == _files(installation.maildir / "new")
    assert 1 == len(set(_report_ids(world)) - before)

    code, out, err = _finish(_cli(world, "ingest"))
    assert 0 == code, err
    new_reports = set(_report_ids(world)) - before
    assert ([], 2) == (_files(installation.maildir / "new"), len(new_reports))
    assert dict.fromkeys(new_reports, 1) == {
        report: count
        for report, count in _issues_per_report(world).items()
        if report in new_reports
    }
    lines = out.splitlines()
    assert 1 == sum("(already seen)" in line for line in lines)
    assert set(delivered) <= set(_files(installation.maildir / ".Processed" / "cur"))


def test_run_reads_imap_and_moves_only_after_commit(world: object, dovecot: object) -> None:
    """`run` with [intake.imap]: Dovecot's INBOX empties into Processed and Quarantine."""
    installation: Installation = world.installation  # type: ignore[attr-defined]
    dovecot.append("bridge", installation.shapes(ADA).thunderbird("IMAP report", "via imap").raw)  # type: ignore[attr-defined]
    dovecot.append("bridge", _tampered(installation))  # type: ignore[attr-defined]
    before = set(_report_ids(world))
    world.configure(  # type: ignore[attr-defined]
        "intake.imap",
        host=dovecot.host,  # type: ignore[attr-defined]
        port=dovecot.port,  # type: ignore[attr-defined]
        security="none",
        user="bridge",
        password="secret",
    )
    try:
        code, out, err = _finish(_cli(world, "run"))
    finally:
        world.sections.pop("intake.imap")  # type: ignore[attr-defined]
        world.configure("intake")  # type: ignore[attr-defined]
    assert 3 == code, out + err
    counts = [dovecot.count("bridge", f) for f in ("INBOX", "Processed", "Quarantine")]  # type: ignore[attr-defined]
    assert [0, 1, 1] == counts
    assert 1 == len(set(_report_ids(world)) - before)

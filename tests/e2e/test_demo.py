"""`tracker-bridge demo` runs the real pipeline for each tracker and leaves checkable artefacts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge._testsupport.keys import remove_gnupghome
from tracker_bridge.bridge_key import secret_keys, self_signatures_checked
from tracker_bridge.demo.researcher_mail import read_as_researcher

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module", params=["gitlab", "jira"])
def demo_run(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path, dict[str, object]]]:
    """Run the demo once per tracker through the installed command line."""
    directory = Path(tempfile.mkdtemp(prefix="tbe2e", dir="/tmp"))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracker_bridge",
            "demo",
            "--tracker",
            request.param,
            "--dir",
            str(directory),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == completed.returncode, completed.stdout[-3000:] + completed.stderr[-3000:]
    summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    yield request.param, directory, summary
    for home in (directory / "gnupg", *(directory / "researchers").iterdir()):
        remove_gnupghome(str(home.resolve()))
    shutil.rmtree(directory, ignore_errors=True)


def test_demo_finishes_within_a_minute(demo_run: tuple[str, Path, dict[str, object]]) -> None:
    """The whole demo, key generation included, takes less than a minute."""
    _, _, summary = demo_run
    assert float(summary["seconds"]) < 60  # type: ignore[arg-type]


def test_every_report_has_a_confidential_issue(
    demo_run: tuple[str, Path, dict[str, object]],
) -> None:
    """Four mails became four reports, each with an issue the tracker shows as confidential."""
    kind, _, summary = demo_run
    issues: dict[str, list[list[str]]] = summary["issues"]  # type: ignore[assignment]
    assert 4 == len(issues)
    field = "Confidential" if kind == "gitlab" else "Security level"
    for rows in issues.values():
        value = dict(rows)[field]
        assert value not in ("NO", "NONE", "")


def test_triaged_and_closed_report_carries_the_right_labels(
    demo_run: tuple[str, Path, dict[str, object]],
) -> None:
    """Jan's report ends resolved, critical from its CVSS vector, with labels saying so."""
    kind, _, summary = demo_run
    reports: list[dict[str, object]] = summary["reports"]  # type: ignore[assignment]
    jan = next(r for r in reports if r["researcher"] == "jan@onderzoek.example")
    assert ("resolved", "critical") == (jan["state"], jan["severity"])
    rows = dict(summary["issues"][jan["report_id"]])  # type: ignore[index]
    sep = "::" if kind == "gitlab" else "-"
    labels = set(rows["Labels"].split(", "))
    assert {
        f"cvd{sep}resolved",
        f"severity{sep}critical",
        f"cvd-report{sep}{jan['report_id']}",
    } <= labels
    assert f"cvd{sep}triaged" not in labels


def test_hostile_report_is_inert(demo_run: tuple[str, Path, dict[str, object]]) -> None:
    """Mallory's quick actions, mentions and markup caused nothing in the tracker."""
    _, _, summary = demo_run
    assert [] == summary["side_effects"]
    reports: list[dict[str, object]] = summary["reports"]  # type: ignore[assignment]
    mallory = next(r for r in reports if r["researcher"] == "mallory@evil.example")
    assert "resolved" != mallory["state"]


def test_researcher_mails_decrypt_with_their_own_key(
    demo_run: tuple[str, Path, dict[str, object]],
) -> None:
    """Jan's mails decrypt with his keyring, verify against the bridge, and are in Dutch."""
    _, directory, _ = demo_run
    jan_home = str((directory / "researchers" / "jan@onderzoek.example").resolve())
    views = [
        read_as_researcher(jan_home, path.read_bytes())
        for path in sorted((directory / "delivered").glob("*.eml"))
        if b"jan@onderzoek.example" in path.read_bytes()
    ]
    assert 4 == len(views)  # acknowledgement, triaged, team message, resolved
    assert all(v.encrypted and v.signature_valid for v in views)
    assert all(v.outer_subject.endswith(": update") for v in views)
    assert any("Dank voor je melding" in v.body for v in views)
    assert any("verwijderen" in v.body for v in views)  # the request to delete data


def test_researchers_without_a_key_get_no_details(
    demo_run: tuple[str, Path, dict[str, object]],
) -> None:
    """Ada, Piet and Mallory have no known key: their mail is signed and holds no report text."""
    _, _, summary = demo_run
    mails: list[dict[str, object]] = summary["mails"]  # type: ignore[assignment]
    keyless = [m for m in mails if m["to"] != "jan@onderzoek.example"]
    assert 3 == len(keyless)
    for mail in keyless:
        assert (False, True) == (mail["encrypted"], mail["signature_valid"])
        body = str(mail["body"])
        assert "redirect" not in body
        assert "Directory listing" not in body


def test_the_demo_bridge_key_has_its_self_signatures_stored_as_checked(
    demo_run: tuple[str, Path, dict[str, object]],
) -> None:
    """The demo's bridge key is stored as `init` stores its key: no gpg run re-verifies it."""
    _, directory, _ = demo_run
    home = (directory / "gnupg").resolve()
    fingerprints = [key.fingerprint for key in secret_keys(home)]
    assert [True] == [self_signatures_checked(home, fpr) for fpr in fingerprints]


def test_the_demo_passphrase_file_is_owner_only(
    demo_run: tuple[str, Path, dict[str, object]],
) -> None:
    """The demo writes its passphrase as `init` does: mode 0600, so `check` has no warning."""
    _, directory, _ = demo_run
    mode = (directory / "secrets" / "openpgp-passphrase").stat().st_mode & 0o777
    assert 0o600 == mode

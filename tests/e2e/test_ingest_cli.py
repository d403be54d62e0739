"""`tracker-bridge ingest FILE... | -`: one line per message, a summary, exit 3 on quarantine."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import TYPE_CHECKING

from tracker_bridge._testsupport.keys import gpg_command

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tracker_bridge.demo.installation import Installation
    from tracker_bridge.demo.mail_shapes import MailShapes

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"


def _report_count(installation: Installation) -> int:
    with sqlite3.connect(installation.directory / "state" / "bridge.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM reports").fetchone()[0])


def _tampered(shapes: MailShapes, subject: str) -> bytes:
    """PGP/MIME whose ciphertext has one bit flipped (re-armoured, so only the MDC notices)."""
    cipher = shapes.encrypt(shapes.text_part("exploit details\n" * 40), sign=True)
    binary = bytearray(gpg_command(shapes.researcher.gnupghome, "--dearmor", stdin=cipher).stdout)
    binary[len(binary) // 2] ^= 0x01
    encoded = base64.b64encode(bytes(binary)).decode("ascii")
    armour = "-----BEGIN PGP MESSAGE-----\n\n"
    armour += "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
    armour += "\n-----END PGP MESSAGE-----\n"
    return shapes.pgp_mime(subject, b"", ciphertext=armour.encode("ascii"))


def test_good_report_prints_its_line_and_summary_and_exits_0(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """A decryptable report: one line with report id, verdict and reason, a summary, exit 0."""
    shape = installation.shapes(JAN).kmail("XSS in the search page", "Steps: open /search")
    path = message_file("good.eml", shape.raw)
    before = _report_count(installation) if (installation.directory / "state").exists() else 0
    result = cli("ingest", str(path))
    assert 0 == result.code, result.stderr  # type: ignore[attr-defined]
    message_line, summary = result.lines  # type: ignore[attr-defined]
    report_id, verdict, *_ = message_line.split()
    assert (True, "report") == (report_id.startswith("CVD-"), verdict)
    assert "new report" in message_line
    assert "ingest: issue_opened 1, report 1" == summary
    assert before + 1 == _report_count(installation)


def test_tampered_message_is_quarantined_beside_a_good_one_and_exits_3(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """A tampered PGP/MIME message is quarantined with its reason; the good one still lands."""
    shapes = installation.shapes(ADA)
    tampered = message_file("tampered.eml", _tampered(shapes, "Tampered"))
    good = message_file("good-ada.eml", shapes.thunderbird("RCE in upload", "Upload a .phtml").raw)
    result = cli("ingest", str(tampered), str(good))
    assert 3 == result.code, result.stderr  # type: ignore[attr-defined]
    first, second, summary = result.lines  # type: ignore[attr-defined]
    assert ["-", "quarantine"] == first.split()[:2]
    reason = first.split(None, 2)[2]
    assert any(word in reason for word in ("integrity", "decryption", "tampered")), reason
    assert "report" == second.split()[1]
    assert "ingest: issue_opened 1, quarantine 1, report 1" == summary


def test_same_file_twice_creates_nothing_new(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """Ingesting a message that was already ingested says "already seen" and adds no report."""
    shape = installation.shapes(JAN).mutt("Open redirect", "/login?next=//evil.example")
    path = message_file("twice.eml", shape.raw)
    first = cli("ingest", str(path))
    count = _report_count(installation)
    second = cli("ingest", str(path), str(path))
    assert (0, 0) == (first.code, second.code)  # type: ignore[attr-defined]
    report_id = first.lines[0].split()[0]  # type: ignore[attr-defined]
    again = second.lines[:2]  # type: ignore[attr-defined]
    assert [report_id, report_id] == [line.split()[0] for line in again]
    assert all("(already seen)" in line for line in again)
    assert "ingest: already_seen 2" == second.lines[2]  # type: ignore[attr-defined]
    assert count == _report_count(installation)


def test_standard_input_is_one_message_as_an_mta_pipes_it(
    installation: Installation, cli: Callable[..., object]
) -> None:
    """`ingest -` reads one message from standard input (Postfix mailbox_command)."""
    shape = installation.shapes(ADA).k9("CSRF on the settings form", "No token on POST /settings")
    before = _report_count(installation)
    result = cli("ingest", "-", stdin=shape.raw)
    assert 0 == result.code, result.stderr  # type: ignore[attr-defined]
    message_line, summary = result.lines  # type: ignore[attr-defined]
    assert "report" == message_line.split()[1]
    assert message_line.endswith(_message_id(shape.raw))
    assert "ingest: issue_opened 1, report 1" == summary
    assert before + 1 == _report_count(installation)


def test_missing_file_is_a_usage_error_before_anything_is_ingested(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """A missing message file exits 2 naming the path, and no message of the list is read."""
    good = message_file("before-missing.eml", installation.shapes(JAN).kmail("IDOR", "id=2").raw)
    missing = installation.directory / "no-such.eml"
    before = _report_count(installation)
    result = cli("ingest", str(good), str(missing))
    assert 2 == result.code  # type: ignore[attr-defined]
    assert str(missing) in result.stderr  # type: ignore[attr-defined]
    assert before == _report_count(installation)


def test_json_output_is_one_document_with_outcomes_and_counts(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """`ingest --json` prints one JSON object (outcomes, counts, problems) and still exits 3."""
    shapes = installation.shapes(ADA)
    good = message_file("json-good.eml", shapes.apple_mail("SSRF in webhooks", "Point at :22").raw)
    bad = message_file("json-bad.eml", _tampered(shapes, "Tampered again"))
    result = cli("ingest", "--json", str(good), str(bad))
    document = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert 3 == result.code  # type: ignore[attr-defined]
    assert ["report", "quarantine"] == [m["verdict"] for m in document["messages"]]
    assert {"issue_opened": 1, "quarantine": 1, "report": 1} == document["counts"]


def _message_id(raw: bytes) -> str:
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode("ascii")
    msg = "test message has no Message-ID"
    raise AssertionError(msg)

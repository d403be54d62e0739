"""`tracker-bridge inspect MESSAGE [--json]`: decrypt and judge one message, store and send nothing."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from tracker_bridge.demo.installation import BRIDGE_ADDRESS, Installation

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"

ISSUE_FIELDS = {
    "message_id",
    "from",
    "subject",
    "encrypted",
    "decrypted",
    "signature",
    "body",
    "unencrypted_parts",
    "attachments",
    "keys_found",
    "verdict",
    "reason",
}


def _state_files(installation: Installation) -> dict[str, str]:
    """Every file of the SQLite store with the sha256 of its bytes."""
    folder = installation.directory / "state"
    if not folder.exists():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _bridge_knows_jan(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """Ingest a Thunderbird report from Jan, so the bridge learns his key from Autocrypt."""
    shape = installation.shapes(JAN).thunderbird("Known key", "Hello from Jan")
    assert 0 == cli("ingest", str(message_file("jan-key.eml", shape.raw))).code  # type: ignore[attr-defined]


def test_inspect_on_a_fresh_installation_creates_no_store(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """Inspecting before anything was ingested leaves no database file behind."""
    shape = installation.shapes(JAN).kmail("Path traversal", "GET /../../etc/passwd")
    result = cli("inspect", "--json", str(message_file("fresh.eml", shape.raw)))
    assert 0 == result.code, result.stderr  # type: ignore[attr-defined]
    assert "report" == json.loads(result.stdout)["verdict"]  # type: ignore[attr-defined]
    assert {} == _state_files(installation)


def test_json_has_every_field_the_issue_lists(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """Protected subject, signature, body, attachment digest and the Autocrypt key are reported."""
    _bridge_knows_jan(installation, cli, message_file)
    shapes = installation.shapes(JAN)
    poc = b"import requests\nrequests.get('http://target/admin')\n"
    attachment = shapes.binary_part("poc.py", "text/x-python", poc)
    inner = shapes.multipart(
        "mixed",
        [shapes.text_part("Admin panel without login.\n"), attachment],
        params='; protected-headers="v1"',
        headers=shapes.protected_headers("Unauthenticated admin panel"),
    )
    raw = shapes.pgp_mime("...", inner, extra_headers=[shapes.autocrypt_header()])
    result = cli("inspect", "--json", str(message_file("fields.eml", raw)))
    assert 0 == result.code, result.stderr  # type: ignore[attr-defined]
    shown = json.loads(result.stdout)  # type: ignore[attr-defined]
    fingerprint = installation.researchers[JAN].fingerprint
    assert ISSUE_FIELDS <= set(shown)
    assert {
        "from": JAN,
        "subject": "Unauthenticated admin panel",
        "encrypted": True,
        "decrypted": True,
        "signature": {"status": "valid", "fingerprint": fingerprint},
        "body": "Admin panel without login.",
        "unencrypted_parts": [],
        "attachments": [
            {
                "filename": "poc.py",
                "content_type": "text/x-python",
                "size": len(poc),
                "sha256": hashlib.sha256(poc).hexdigest(),
            }
        ],
        "keys_found": [fingerprint],
        "verdict": "report",
        "reason": "decrypted PGP/MIME",
    } == {name: shown[name] for name in ISSUE_FIELDS - {"message_id"}}
    assert shown["message_id"].startswith("<shape-")


def test_inspect_stores_nothing_and_leaves_the_keyring_alone(
    installation: Installation,
    cli: Callable[..., object],
    message_file: Callable[..., Path],
    keyring_listing: Callable[[], str],
) -> None:
    """After inspect the store files are byte-identical and the Autocrypt key was not imported."""
    shapes = installation.shapes(JAN)
    warm_up = message_file("warm-up.eml", shapes.kmail("Weak TLS", "TLS 1.0 enabled").raw)
    assert 0 == cli("ingest", str(warm_up)).code  # type: ignore[attr-defined]
    state, keyring = _state_files(installation), keyring_listing()
    new_researcher = installation.shapes(ADA).thunderbird("Stored XSS", "<script>")
    result = cli("inspect", "--json", str(message_file("no-store.eml", new_researcher.raw)))
    assert 0 == result.code, result.stderr  # type: ignore[attr-defined]
    assert [installation.researchers[ADA].fingerprint] == json.loads(result.stdout)["keys_found"]  # type: ignore[attr-defined]
    assert (state, keyring) == (_state_files(installation), keyring_listing())


def test_signature_by_a_key_only_announced_in_autocrypt_is_unknown(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """Inspect learns nothing, so a first mail's signature shows unknown_key beside keys_found."""
    shape = installation.shapes(ADA).k9("First contact", "Hello")
    shown = json.loads(cli("inspect", "--json", str(message_file("ada-k9.eml", shape.raw))).stdout)  # type: ignore[attr-defined]
    fingerprint = installation.researchers[ADA].fingerprint
    assert ({"status": "unknown_key", "fingerprint": None}, [fingerprint]) == (
        shown["signature"],
        shown["keys_found"],
    )


def test_reply_to_an_existing_report_is_shown_as_reply(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """A researcher's mail to the report's plus-address is judged `reply` to that report."""
    shapes = installation.shapes(JAN)
    first = message_file("first.eml", shapes.kmail("Clickjacking", "No frame-ancestors").raw)
    report_id = cli("ingest", str(first)).lines[0].split()[0]  # type: ignore[attr-defined]
    local, _, domain = BRIDGE_ADDRESS.partition("@")
    shapes.bridge_address = f"{local}+{report_id}@{domain}"
    reply = shapes.kmail("More details", "It also works on /account")
    result = cli("inspect", "--json", str(message_file("reply.eml", reply.raw)))
    shown = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert ("reply", f"reply to {report_id}") == (shown["verdict"], shown["reason"])


def test_quarantine_verdict_for_a_message_to_another_key(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """Mail encrypted only to the researcher's own key is judged quarantine with gpg's reason."""
    shapes = installation.shapes(JAN)
    cipher = shapes.encrypt(shapes.text_part("secret"), recipients=[shapes.researcher.fingerprint])
    raw = shapes.pgp_mime("Wrong key", b"", ciphertext=cipher)
    shown = json.loads(cli("inspect", "--json", str(message_file("wrong.eml", raw))).stdout)  # type: ignore[attr-defined]
    assert ("quarantine", False, "") == (shown["verdict"], shown["decrypted"], shown["body"])
    assert "does not hold" in shown["reason"]


def test_human_output_names_each_finding(
    installation: Installation, cli: Callable[..., object], message_file: Callable[..., Path]
) -> None:
    """Without --json inspect prints labelled lines and then the decrypted text."""
    _bridge_knows_jan(installation, cli, message_file)
    shape = installation.shapes(JAN).mutt("Session fixation", "The session id survives login")
    result = cli("inspect", str(message_file("human.eml", shape.raw)))
    assert 0 == result.code, result.stderr  # type: ignore[attr-defined]
    lines = result.lines  # type: ignore[attr-defined]
    fingerprint = installation.researchers[JAN].fingerprint
    assert [
        f"From:        {JAN}",
        "Subject:     Session fixation",
        "Encrypted:   yes (decrypted: yes)",
        f"Signature:   valid {fingerprint}",
        "Origin:      unchecked (no trusted authserv-id configured)",
        "Verdict:     report (decrypted PGP/MIME)",
        "Attachments: 0; unencrypted parts: 0; keys found: 0",
        "The session id survives login",
    ] == lines[1:]
    assert lines[0].startswith("Message-ID:  <shape-")

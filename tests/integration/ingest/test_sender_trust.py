"""Who sent it (issue 13): addresses, replies, origin, keys, replays, signers, automatic mail.

Real gpg, SQLite, the GitLab sandbox over HTTP and aiosmtpd. Every message is built the way
the named client or attacker builds it (made-up addresses); each test runs ingest, sync and
notify and asserts what the team sees in the issue and what each address receives.
"""

from __future__ import annotations

import base64
import email
import email.message
import email.policy
import json
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from tests.integration.ingest.conftest import (
    ListSource,
    World,
    issue_iid,
    last_message_id_for,
    query_store,
    run_ingest,
)
from tracker_bridge._testsupport.keys import (
    TestKey,
    export_public_key,
    generate_key,
    import_key,
    make_gnupghome,
    remove_gnupghome,
)
from tracker_bridge.app import subject_requests_service
from tracker_bridge.demo.installation import BRIDGE_ADDRESS
from tracker_bridge.demo.mail_shapes import MailShapes
from tracker_bridge.demo.researcher_mail import read_as_researcher
from tracker_bridge.demo.smtp import MailCatcher
from tracker_bridge.ports.intake import Verdict
from tracker_bridge.ports.summary import PassSummary

if TYPE_CHECKING:
    from collections.abc import Iterator

JAN = "jan@onderzoek.example"
ADA = "ada@research.example"
TRUSTED_MTA = "mx.example.org"
CRLF = "\r\n"


@pytest.fixture(scope="module")
def new_key(world: World) -> Iterator[object]:
    """Makes a fresh key pair (its own GnuPG home, holding the bridge's public key)."""
    homes: list[str] = []

    def make(name: str, address: str) -> TestKey:
        home = make_gnupghome("tbt")
        homes.append(home)
        key = generate_key(home, name, address)
        bridge = world.installation.bridge
        import_key(home, export_public_key(bridge.gnupghome, bridge.fingerprint))
        return key

    yield make
    for home in homes:
        remove_gnupghome(home)


@pytest.fixture(scope="module", autouse=True)
def _trusted_mta(world: World) -> None:
    """The installation believes only Authentication-Results written by mx.example.org."""
    world.configure("intake", trusted_authserv_id=TRUSTED_MTA)
    # Jan gets more than ten mails an hour here; the per-recipient limit is not under test.
    world.configure("smtp", per_recipient_per_hour=1000)
    bridge = world.bridge()
    try:
        with bridge.store().unit_of_work():
            pass  # the SQLite file exists (and is migrated) before a test counts rows in it
    finally:
        bridge.close()


# ---------------------------------------------------------------------------- passes


def _sync(world: World) -> PassSummary:
    bridge = world.bridge()
    summary = PassSummary("sync")
    try:
        bridge.sync_service().run(summary)
    finally:
        bridge.close()
    return summary


def _notify(world: World) -> PassSummary:
    bridge = world.bridge()
    summary = PassSummary("notify")
    try:
        bridge.notify_step()(summary)
    finally:
        bridge.close()
    return summary


def _notes(world: World, report_id: str) -> list[str]:
    return list(world.gitlab.team.notes(issue_iid(world, report_id)))


def _state(world: World, report_id: str) -> str:
    return str(query_store(world, "SELECT state FROM reports WHERE report_id = ?", report_id)[0][0])


def _mails_to(world: World, address: str) -> list[bytes]:
    smtp = world.installation.smtp
    return [m.data for m in smtp.messages if address in m.recipients]


def _report_count(world: World) -> int:
    return int(query_store(world, "SELECT count(*) FROM reports")[0][0])


def _audit_details(world: World) -> list[str]:
    return [str(row[0]) for row in query_store(world, "SELECT detail FROM audit_log ORDER BY id")]


def _shapes_as(world: World, key_owner: str, name: str, address: str) -> MailShapes:
    """Mail written from ``address`` by a client holding ``key_owner``'s key."""
    shapes = world.installation.shapes(key_owner)
    return replace(shapes, researcher=replace(shapes.researcher, name=name, address=address))


def _ask_for_information(world: World, report_id: str, question: str) -> str:
    """The team sets needs_info with a question; sync and notify mail it. Its Message-ID."""
    gitlab = world.gitlab
    iid = issue_iid(world, report_id)
    gitlab.team.set_labels(iid, add={"cvd::needs_info"})
    gitlab.team.comment(iid, f"[to researcher] {question}", internal=True)
    _sync(world)
    _notify(world)
    assert "needs_info" == _state(world, report_id)
    return last_message_id_for(world, report_id, "question")


def _outlook(
    from_header: str,
    subject: str,
    body: str,
    *,
    message_id: str,
    extra: tuple[tuple[str, str], ...] = (),
    to: str = BRIDGE_ADDRESS,
) -> bytes:
    """A plain-text mail as Outlook (Exchange Online) writes it: its header order, base64 UTF-8."""
    lines = [
        *(f"{name}: {value}" for name, value in extra),
        f"From: {from_header}",
        f"To: Security team <{to}>",
        f"Subject: {subject}",
        f"Thread-Topic: {subject}",
        "Thread-Index: AdlQxYJ8fG1w2kq3TqaZb3q6x0Vr9A==",
        "Date: Mon, 2 Nov 2026 09:00:00 +0000",
        f"Message-ID: {message_id}",
        "Accept-Language: nl-NL, en-US",
        "Content-Language: nl-NL",
        "X-MS-Has-Attach:",
        "X-MS-TNEF-Correlator:",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "MIME-Version: 1.0",
    ]
    encoded = base64.encodebytes(body.encode("utf-8")).decode("ascii").replace("\n", CRLF)
    return (CRLF.join(lines) + CRLF + CRLF + encoded).encode("utf-8")


def _encoded_word(text: str) -> str:
    """``text`` as Outlook's B-encoded UTF-8 encoded word (RFC 2047)."""
    return f"=?utf-8?B?{base64.b64encode(text.encode('utf-8')).decode('ascii')}?="


def _gmail_results(domain: str, *, dmarc: str, dkim: str, spf: str) -> str:
    """Authentication-Results as Gmail-style MTAs fold them, with our trusted authserv-id."""
    return (
        f"{TRUSTED_MTA};\r\n"
        f"       dkim={dkim} header.i=@{domain} header.s=20230601 header.b=Xk3vN1pq;\r\n"
        f"       spf={spf} ({TRUSTED_MTA}: domain of sender@{domain} does not designate "
        f"203.0.113.9 as permitted sender) smtp.mailfrom=sender@{domain};\r\n"
        f"       dmarc={dmarc} (p=REJECT sp=REJECT dis=NONE) header.from={domain}"
    )


# ---------------------------------------------------------------------------- item 1


def test_outlook_encoded_display_name_with_a_comma_is_one_sender(world: World) -> None:
    """'de Vriës, Jan' (B-encoded by Outlook) is a display name; the address is the addr-spec."""
    raw = _outlook(
        f"{_encoded_word('de Vriës, Jan')} <jan.devries@lab.example>",
        "XSS in het klantportaal",
        "Stappen: open /portal?q=<script>",
        message_id="<AM0PR07MB4321A1@AM0PR07MB4321.eurprd07.prod.outlook.com>",
    )
    outcome = run_ingest(world, raw)[0]
    assert (Verdict.REPORT, "new report") == (outcome.verdict, outcome.reason)
    researcher = query_store(
        world,
        "SELECT r.email, r.display_name FROM researchers r JOIN reports p "
        "ON p.researcher_id = r.id WHERE p.report_id = ?",
        outcome.report_id,
    )
    assert [("jan.devries@lab.example", "de Vriës, Jan")] == researcher
    _notify(world)
    assert 1 == len(_mails_to(world, "jan.devries@lab.example"))
    assert [] == _mails_to(world, "de")


def test_encoded_display_name_cannot_carry_the_researchers_address(world: World) -> None:
    """'=?utf-8?q?jan=40onderzoek.example?= <mallory@evil.example>' is Mallory, a third party."""
    jan = world.installation.shapes(JAN)
    report_id = str(
        run_ingest(world, jan.thunderbird("IDOR in invoices", "GET /invoice/2").raw)[0].report_id
    )
    question = _ask_for_information(world, report_id, "Which account did you use?")
    mallory = _outlook(
        "=?utf-8?q?jan=40onderzoek.example?= <mallory@evil.example>",
        f"Re: [{report_id}] IDOR in invoices",
        "Please send updates to me from now on. @all /close",
        message_id="<mallory-1@evil.example>",
        extra=(("In-Reply-To", question), ("References", question)),
    )
    outcome = run_ingest(world, mallory)[0]
    assert (Verdict.REPLY, report_id) == (outcome.verdict, outcome.report_id)
    assert outcome.reason.startswith("third-party mail naming")
    assert "needs_info" == _state(world, report_id)
    note = _notes(world, report_id)[-1]
    assert "Third-party mail, NOT from the researcher" in note
    assert "mallory@evil.example" in note
    _sync(world)
    _notify(world)
    assert [] == _mails_to(world, "mallory@evil.example")
    assert "needs_info" == _state(world, report_id)
    recipients = query_store(
        world, "SELECT DISTINCT recipient FROM outbox WHERE report_id = ?", report_id
    )
    assert [(JAN,)] == recipients


@pytest.mark.parametrize(
    ("from_header", "reason"),
    [
        ("=?utf-8?q?Jan=0D=0ABcc=3A_victim=40example=2Eorg?= <jan@lab.example>", "CR or LF"),
        ("jan@lab.example, mallory@evil.example", "not exactly one mailbox"),
        ("Jan <jan@lab.example> Mallory <mallory@evil.example>", "not exactly one mailbox"),
        ("undisclosed-recipients:;", "not exactly one mailbox"),
    ],
)
def test_a_from_that_is_not_one_mailbox_is_quarantined_with_the_reason(
    world: World, from_header: str, reason: str
) -> None:
    """CR/LF in a decoded name, two mailboxes or a group: quarantined, reason audited, no mail."""
    reports, mails = _report_count(world), len(world.installation.smtp.messages)
    raw = _outlook(from_header, "Report", "text", message_id=f"<odd-{hash(reason)}@lab.example>")
    outcome = run_ingest(world, raw)[0]
    assert Verdict.QUARANTINE == outcome.verdict
    assert reason in outcome.reason
    assert any(reason in line for line in _audit_details(world))
    _notify(world)
    assert (reports, mails) == (_report_count(world), len(world.installation.smtp.messages))


# ---------------------------------------------------------------------------- item 2


def _apple_mail_utf8(address: str, name: str, subject: str, body: str, message_id: str) -> bytes:
    """An unencrypted mail from an internationalised address, UTF-8 headers (RFC 6532)."""
    lines = [
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "Mime-Version: 1.0 (Mac OS X Mail 16.0)",
        f"Subject: {subject}",
        f"Message-Id: {message_id}",
        "Date: Mon, 2 Nov 2026 09:00:00 +0100",
        f"To: {BRIDGE_ADDRESS}",
        f"From: {name} <{address}>",
    ]
    return (CRLF.join(lines) + CRLF + CRLF + body + CRLF).encode("utf-8")


def test_a_raw_utf8_subject_is_read_as_utf8_and_bidi_made_visible(world: World) -> None:
    """An RFC 6532 Subject (8-bit UTF-8, no encoded words) keeps its accents; U+202E is shown."""
    raw = _apple_mail_utf8(
        "noor@lab.example",
        "Noor",
        "Sécurité: facture \u202eexe.fdp",
        "De upload accepteert alles.",
        "<n1@lab.example>",
    )
    outcome = run_ingest(world, raw)[0]
    issue = world.gitlab.team.issue(issue_iid(world, str(outcome.report_id)))
    assert "Sécurité: facture [\u2060U+202E]exe.fdp" in issue.title


def test_internationalised_address_fails_alone_without_smtputf8(world: World) -> None:
    """No SMTPUTF8 offered: that row fails with the reason, the team is told, the others go."""
    ada = world.installation.shapes(ADA)
    before = ada.kmail("Open redirect before", "first").raw
    alice = _apple_mail_utf8(
        "ålice@résearch.example",
        "Ålice",
        "Path traversal",
        "../../etc/passwd",
        "<a1@résearch.example>",
    )
    after = ada.kmail("Open redirect after", "last").raw
    outcomes = run_ingest(world, before, alice, after)
    assert [Verdict.REPORT] * 3 == [o.verdict for o in outcomes]
    sent_before = len(_mails_to(world, ADA))
    summary = _notify(world)
    assert 2 == len(_mails_to(world, ADA)) - sent_before
    assert [] == _mails_to(world, "ålice@résearch.example")
    alice_report = str(outcomes[1].report_id)
    # Ålice has no key: her acknowledgement waits, the key request is what could not go out.
    failed = query_store(
        world,
        "SELECT template, last_error FROM outbox WHERE report_id = ? AND status = 'failed'",
        alice_report,
    )
    assert 1 == len(failed)
    assert "SMTPUTF8" in str(failed[0][1])
    assert any("SMTPUTF8" in note for note in _notes(world, alice_report))
    assert "ålice" not in " ".join(_notes(world, alice_report))
    assert 1 == summary.counts.get("failed")


def test_internationalised_address_is_delivered_with_smtputf8(world: World) -> None:
    """A server offering SMTPUTF8 (RFC 6531) gets the mail with the UTF-8 envelope recipient."""
    utf8_server = MailCatcher(smtputf8=True)
    original_port = world.sections["smtp"]["port"]
    world.configure("smtp", port=utf8_server.port)
    try:
        raw = _apple_mail_utf8(
            "björn@résearch.example",
            "Björn",
            "SSRF",
            "http://169.254.169.254/",
            "<b1@résearch.example>",
        )
        outcome = run_ingest(world, raw)[0]
        assert Verdict.REPORT == outcome.verdict
        _notify(world)
        delivered = [m for m in utf8_server.messages if m.recipients == ("björn@résearch.example",)]
        assert 1 == len(delivered)
        parsed = email.message_from_bytes(delivered[0].data, policy=email.policy.default)
        assert "björn@résearch.example" in str(parsed["To"])
        # RFC 6532: the address is raw UTF-8 in the header, never an RFC 2047 encoded word.
        to_lines = [
            line for line in delivered[0].data.split(b"\r\n") if line.lower().startswith(b"to:")
        ]
        assert {"To: björn@résearch.example".encode()} == set(to_lines)  # outer and protected
    finally:
        world.configure("smtp", port=original_port)
        utf8_server.stop()


# ---------------------------------------------------------------------------- items 3 and 4


def test_spoofed_new_report_is_quarantined_even_with_a_forged_pass_lower_down(
    world: World,
) -> None:
    """DMARC fail from the trusted MTA quarantines; the sender's own 'pass' field is not read."""
    spoofer = _shapes_as(world, ADA, "Bank CISO", "ciso@bank.example")
    raw = spoofer.plaintext(
        "Urgent: please confirm",
        "We found a critical issue, reply with your VPN details.",
        extra_headers=[
            # What the attacker wrote: a passing verdict in our MTA's name.
            (
                "Authentication-Results",
                (
                    f"{TRUSTED_MTA}; dkim=pass header.d=bank.example; spf=pass "
                    "smtp.mailfrom=bank.example; dmarc=pass header.from=bank.example"
                ),
            )
        ],
    ).raw
    # Our MTA prepends its own verdict above everything the sender wrote (RFC 8601 s. 5).
    received = (
        "Authentication-Results: "
        + _gmail_results("bank.example", dmarc="fail", dkim="none", spf="softfail")
        + CRLF
        + "Received: from attacker.example (attacker.example [203.0.113.9])\r\n"
        f"\tby {TRUSTED_MTA} with ESMTPS id 4Tq; Mon, 2 Nov 2026 09:00:01 +0000\r\n"
    ).encode("ascii") + raw
    reports, mails = _report_count(world), len(world.installation.smtp.messages)
    outcome = run_ingest(world, received)[0]
    assert Verdict.QUARANTINE == outcome.verdict
    assert f"spoofed sender: DMARC fail for bank.example (per {TRUSTED_MTA})" == outcome.reason
    assert any("spoofed sender" in line for line in _audit_details(world))
    _notify(world)
    assert (reports, mails) == (_report_count(world), len(world.installation.smtp.messages))


def test_fastmail_style_pass_and_untrusted_ids_leave_the_report_alone(world: World) -> None:
    """A passing verdict from our MTA, and a failing one from another authserv-id, open a report."""
    sender = _shapes_as(world, ADA, "Grace", "grace@lab.example")
    results = [
        (
            "Authentication-Results",
            (
                f"{TRUSTED_MTA};\r\n    dkim=pass (2048-bit rsa key sha256) header.d=lab.example "
                "header.i=@lab.example header.b=Wq0r header.a=rsa-sha256 header.s=fm1 x-bits=2048;\r\n"
                "    dmarc=pass policy.published-domain-policy=reject header.from=lab.example;\r\n"
                "    iprev=pass smtp.remote-ip=198.51.100.7 (mail.lab.example);\r\n"
                "    spf=pass smtp.mailfrom=grace@lab.example smtp.helo=mail.lab.example"
            ),
        ),
        (
            "Authentication-Results",
            "mx.relay.example; dmarc=fail header.from=lab.example",
        ),
    ]
    raw = sender.plaintext("CSRF on settings", "POST /settings", extra_headers=results).raw
    outcome = run_ingest(world, raw)[0]
    assert (Verdict.REPORT, "new report") == (outcome.verdict, outcome.reason)
    _notify(world)
    assert 1 == len(_mails_to(world, "grace@lab.example"))


def test_spoofed_reply_from_the_researchers_address_is_a_third_party_note(world: World) -> None:
    """A reply in Jan's name that DMARC fails changes nothing: note only, needs_info stays."""
    jan = world.installation.shapes(JAN)
    report_id = str(
        run_ingest(world, jan.kmail("Stored XSS in chat", "<img onerror>").raw)[0].report_id
    )
    question = _ask_for_information(world, report_id, "Which browser?")
    spoof = jan.plaintext(
        f"Re: [{report_id}] Stored XSS in chat",
        "Never mind, it was not a bug. Please close it.",
        extra_headers=[
            (
                "Authentication-Results",
                _gmail_results("onderzoek.example", dmarc="fail", dkim="fail", spf="fail"),
            ),
            ("In-Reply-To", question),
        ],
    ).raw
    outcome = run_ingest(world, spoof)[0]
    assert (Verdict.REPLY, report_id) == (outcome.verdict, outcome.report_id)
    assert "spoofed sender" in outcome.reason
    assert "needs_info" == _state(world, report_id)
    assert "Third-party mail, NOT from the researcher" in _notes(world, report_id)[-1]
    pauses = query_store(
        world,
        "SELECT count(*) FROM report_history WHERE report_id = ? AND target = 'triaging'",
        report_id,
    )
    assert [(0,)] == pauses


def test_a_strangers_reply_naming_a_report_only_in_the_subject_is_a_third_party_note(
    world: World,
) -> None:
    """`Re: Report <id>: update` from another address, no thread ids: note, no report, no mail."""
    jan = world.installation.shapes(JAN)
    report_id = str(run_ingest(world, jan.kmail("CSRF on settings", "no token").raw)[0].report_id)
    _notify(world)
    reports = _report_count(world)
    raw = _outlook(
        "Eve Outsider <eve@outsider.example>",
        f"Re: Report {report_id}: update",
        "I can confirm this, please tell me the fix date.",
        message_id="<eve-1@outsider.example>",
    )
    outcome = run_ingest(world, raw)[0]
    _notify(world)
    assert (Verdict.REPLY, report_id) == (outcome.verdict, outcome.report_id)
    assert reports == _report_count(world)
    assert "Third-party mail, NOT from the researcher" in _notes(world, report_id)[-1]
    assert [] == _mails_to(world, "eve@outsider.example")


def test_a_new_report_citing_another_in_its_subject_is_a_new_report(world: World) -> None:
    """A stranger's subject that is not a reply ("Similar to <id>") still opens a new report."""
    jan = world.installation.shapes(JAN)
    cited = str(run_ingest(world, jan.kmail("Open redirect", "next=").raw)[0].report_id)
    raw = _outlook(
        "Fay Finder <fay@finder.example>",
        f"Similar to {cited} in the API",
        "Same bug in /api/login?next=",
        message_id="<fay-1@finder.example>",
    )
    outcome = run_ingest(world, raw)[0]
    assert Verdict.REPORT == outcome.verdict
    assert cited != str(outcome.report_id)


def test_the_researchers_own_reply_ends_the_pause(world: World) -> None:
    """The genuine reply (their address, DMARC pass) is theirs: needs_info goes back to triage."""
    jan = world.installation.shapes(JAN)
    report_id = str(run_ingest(world, jan.kmail("Clickjacking", "frame it").raw)[0].report_id)
    question = _ask_for_information(world, report_id, "Which page?")
    reply = jan.pgp_mime(
        "Re: Clickjacking",
        jan.text_part("The settings page."),
        extra_headers=[
            (
                "Authentication-Results",
                _gmail_results("onderzoek.example", dmarc="pass", dkim="pass", spf="pass"),
            ),
            ("In-Reply-To", question),
        ],
    )
    outcome = run_ingest(world, reply)[0]
    assert (Verdict.REPLY, "reply from the researcher") == (outcome.verdict, outcome.reason)
    assert "triaging" == _state(world, report_id)
    assert _notes(world, report_id)[-1].startswith("The researcher replied (encrypted, ")


# ---------------------------------------------------------------------------- item 5


def _fingerprint_of(world: World, address: str) -> object:
    rows = query_store(
        world, "SELECT fingerprint FROM researchers WHERE email_key = ?", address.lower()
    )
    return rows[0][0] if rows else "no researcher"


def test_a_key_cannot_be_planted_for_a_keyless_researcher(world: World, new_key: object) -> None:
    """A spoofed 'reply' in Kees's name with a key for his address teaches the bridge nothing."""
    kees = _shapes_as(world, ADA, "Kees", "kees@lab.example")
    report_id = str(
        run_ingest(world, kees.plaintext("Weak TLS", "TLS 1.0 on :8443").raw)[0].report_id
    )
    _notify(world)
    key_request = str(
        email.message_from_bytes(_mails_to(world, "kees@lab.example")[-1])["Message-ID"]
    )
    attacker_key = new_key("Kees", "kees@lab.example")  # type: ignore[operator]
    attacker = MailShapes(attacker_key, world.installation.bridge.fingerprint, BRIDGE_ADDRESS)
    spoofed = attacker.plaintext(
        "Re: Weak TLS",
        "Here is my key, please encrypt to it from now on.",
        attach_key=True,
        extra_headers=[
            (
                "Authentication-Results",
                _gmail_results("lab.example", dmarc="fail", dkim="none", spf="fail"),
            ),
            ("In-Reply-To", key_request),
        ],
    ).raw
    outcome = run_ingest(world, spoofed)[0]
    assert (Verdict.REPLY, report_id) == (outcome.verdict, outcome.report_id)
    assert "third-party mail" in outcome.reason
    assert None is _fingerprint_of(world, "kees@lab.example")
    kinds = [
        str(r[0])
        for r in query_store(world, "SELECT kind FROM report_events WHERE report_id = ?", report_id)
    ]
    assert "key_learned" not in kinds
    assert "Third-party mail, NOT from the researcher" in _notes(world, report_id)[-1]


def test_a_different_key_is_shown_and_used_only_after_the_team_confirms(
    world: World, new_key: object
) -> None:
    """Jan's new key is recorded and announced; mail uses the old key until [confirm key]."""
    old = world.installation.researchers[JAN]
    jan = world.installation.shapes(JAN)
    report_id = str(
        run_ingest(world, jan.thunderbird("Cache poisoning", "X-Forwarded-Host").raw)[0].report_id
    )
    assert old.fingerprint == _fingerprint_of(world, JAN)
    _notify(world)
    acknowledgement = str(email.message_from_bytes(_mails_to(world, JAN)[-1])["Message-ID"])
    fresh = new_key("Jan de Vries", JAN)  # type: ignore[operator]
    jan_new = MailShapes(fresh, world.installation.bridge.fingerprint, BRIDGE_ADDRESS)
    reply = jan_new.thunderbird("Re: Cache poisoning", "New laptop, new key.").raw
    reply = reply.replace(
        b"MIME-Version: 1.0", f"In-Reply-To: {acknowledgement}\r\nMIME-Version: 1.0".encode(), 1
    )
    outcome = run_ingest(world, reply)[0]
    assert (Verdict.REPLY, "reply from the researcher") == (outcome.verdict, outcome.reason)
    assert old.fingerprint == _fingerprint_of(world, JAN)
    assert any(
        fresh.fingerprint in note and "[confirm key]" in note for note in _notes(world, report_id)
    )
    replied = [n for n in _notes(world, report_id) if n.startswith("The researcher replied")]
    assert "not the researcher's confirmed key" in replied[-1]
    gitlab = world.gitlab
    iid = issue_iid(world, report_id)
    gitlab.team.comment(iid, "[to researcher] Which version did you test?", internal=True)
    _sync(world)
    _notify(world)
    before = read_as_researcher(old.gnupghome, _mails_to(world, JAN)[-1])
    assert (True, True) == (before.encrypted, "Which version" in before.body)
    gitlab.team.comment(iid, f"[confirm key] {fresh.fingerprint}", internal=True)
    gitlab.team.comment(iid, "[to researcher] Thanks, we use your new key now.", internal=True)
    _sync(world)
    assert fresh.fingerprint == _fingerprint_of(world, JAN)
    _notify(world)
    after = read_as_researcher(fresh.gnupghome, _mails_to(world, JAN)[-1])
    assert (True, True) == (after.encrypted, "new key now" in after.body)


# ---------------------------------------------------------------------------- item 6


def _pgp_mime_ciphertext(raw: bytes) -> bytes:
    """The armoured ciphertext of an RFC 3156 message (what a replayer copies)."""
    parsed = email.message_from_bytes(raw)
    parts = parsed.get_payload()
    assert isinstance(parts, list)
    encrypted = parts[1]
    assert isinstance(encrypted, email.message.Message)
    data = encrypted.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def test_a_replayed_ciphertext_is_quarantined_as_a_note_on_the_original(world: World) -> None:
    """Jan's ciphertext resent by Mallory (PGP/MIME and inline) opens nothing, mails nobody."""
    jan = world.installation.shapes(JAN)
    original = jan.thunderbird("RCE in upload", "Upload shell.php.jpg").raw
    report_id = str(run_ingest(world, original)[0].report_id)
    ciphertext = _pgp_mime_ciphertext(original)
    mallory = _shapes_as(world, JAN, "Mallory", "mallory@evil.example")
    as_pgp_mime = mallory.pgp_mime("My finding", b"", ciphertext=ciphertext)
    # Re-armoured with other headers and line breaks: the encrypted packets are the same.
    rewrapped = ciphertext.replace(b"\r\n", b"\n").replace(
        b"-----BEGIN PGP MESSAGE-----\n", b"-----BEGIN PGP MESSAGE-----\nComment: mine\n"
    )
    as_inline = mallory.plaintext("My other finding", rewrapped.decode("ascii")).raw
    reports = _report_count(world)
    source = ListSource([as_pgp_mime, as_inline])
    bridge = world.bridge()
    try:
        outcomes = bridge.ingest_service().run([source], PassSummary("ingest"))
    finally:
        bridge.close()
    expected = f"replayed ciphertext of {report_id} from a different sender"
    assert [(Verdict.QUARANTINE, report_id, expected)] * 2 == [
        (o.verdict, o.report_id, o.reason) for o in outcomes
    ]
    assert [("0", Verdict.QUARANTINE), ("1", Verdict.QUARANTINE)] == source.settled
    assert reports == _report_count(world)
    replay_notes = [n for n in _notes(world, report_id) if "Replayed ciphertext" in n]
    assert 2 == len(replay_notes)
    assert "RCE" not in " ".join(replay_notes)
    _sync(world)
    _notify(world)
    assert [] == _mails_to(world, "mallory@evil.example")
    assert 2 == sum(expected in line for line in _audit_details(world))


def test_a_replay_after_forget_still_points_to_the_original_report(world: World) -> None:
    """`forget` keeps the ciphertext digest: a later replay is a quarantined note, no report."""
    grace = _shapes_as(world, JAN, "Grace Hopper", "grace@lab.example")
    original = grace.thunderbird("IDOR in invoices", "invoice 42 of another tenant").raw
    report_id = str(run_ingest(world, original)[0].report_id)
    bridge = world.bridge()
    try:
        subject_requests_service(bridge).forget("grace@lab.example")
    finally:
        bridge.close()
    mallory = _shapes_as(world, JAN, "Mallory", "mallory.forget@evil.example")
    ciphertext = _pgp_mime_ciphertext(original)
    reports = _report_count(world)
    outcomes = run_ingest(world, mallory.pgp_mime("My finding", b"", ciphertext=ciphertext))
    outcomes += run_ingest(world, mallory.pgp_mime("My finding again", b"", ciphertext=ciphertext))
    expected = f"replayed ciphertext of {report_id} from a different sender"
    assert [(Verdict.QUARANTINE, report_id, expected)] * 2 == [
        (o.verdict, o.report_id, o.reason) for o in outcomes
    ]
    assert reports == _report_count(world)
    _notify(world)
    assert [] == _mails_to(world, "mallory.forget@evil.example")


def test_forget_erases_the_whole_credit_name_from_the_issue_and_the_store(world: World) -> None:
    """`forget` after a `[credit]` answer: no part of the credit name in the bridge's notes or store."""
    rosa = _shapes_as(world, JAN, "Rosa Franklin", "rosa@lab.example")
    report_id = str(
        run_ingest(world, rosa.thunderbird("XXE in import", "doctype").raw)[0].report_id
    )
    credit = 'Rosa F. "<b>" R\u202eosa [site](http://rosa.example)'
    world.gitlab.team.comment(issue_iid(world, report_id), f"[credit] {credit}", internal=True)
    _sync(world)
    before = [n for n in _notes(world, report_id) if n.startswith("Credit recorded")]
    bridge = world.bridge()
    try:
        subject_requests_service(bridge).forget("rosa@lab.example")
        with bridge.store().unit_of_work() as uow:
            stored = uow.reports.credit_name_of(report_id)
    finally:
        bridge.close()
    bridge_notes = [n for n in _notes(world, report_id) if not n.startswith("[credit]")]
    leaks = [w for w in ("Rosa", "osa", "rosa.example") if any(w in n for n in bridge_notes)]
    assert (1, True) == (len(before), "R[U+202E]osa" in before[0])
    assert (None, []) == (stored, leaks)


# ---------------------------------------------------------------------------- item 7


def test_a_valid_signature_by_someone_else_is_not_the_senders(world: World) -> None:
    """Signed with Ada's key from ada.work@: 'valid signature by ..., not the sender', ack unsigned."""
    ada = world.installation.shapes(ADA)
    run_ingest(world, ada.thunderbird("Session fixation", "cookie stays").raw)
    work = _shapes_as(world, ADA, "Ada Lovelace", "ada.work@lab.example")
    outcome = run_ingest(world, work.thunderbird("JWT none algorithm", "alg: none").raw)[0]
    assert Verdict.REPORT == outcome.verdict
    issue = world.gitlab.team.issue(issue_iid(world, str(outcome.report_id)))
    fingerprint = world.installation.researchers[ADA].fingerprint
    assert (
        f"valid signature by [address withheld] ({fingerprint}), not the sender"
        in issue.description
    )
    params = query_store(
        world,
        "SELECT params FROM outbox WHERE report_id = ? AND kind = 'acknowledgement'",
        outcome.report_id,
    )
    assert "no" == json.loads(str(params[0][0]))["arrived_signed"]
    _notify(world)
    assert 1 == len(_mails_to(world, "ada.work@lab.example"))


# ---------------------------------------------------------------------------- item 8


@pytest.mark.parametrize(
    "marker",
    [
        ("X-Autoreply", "yes"),
        ("X-Autorespond", "Out of office"),
        ("Precedence", "auto_reply"),
        ("X-Auto-Response-Suppress", "All"),
    ],
)
def test_automatic_mail_by_one_marker_gets_no_report_and_no_mail(
    world: World, marker: tuple[str, str]
) -> None:
    """Out-of-office mail marked only by one non-RFC-3834 header: quarantined, nobody mailed."""
    vacation = _shapes_as(world, ADA, "Piet", f"piet.{marker[0].lower()}@lab.example")
    raw = vacation.plaintext(
        "Automatic reply: Out of office", "Back on 9 November.", extra_headers=[marker]
    ).raw
    reports = _report_count(world)
    outcome = run_ingest(world, raw)[0]
    assert Verdict.QUARANTINE == outcome.verdict
    assert outcome.reason.startswith("automatic message")
    _notify(world)
    assert (reports, []) == (
        _report_count(world),
        _mails_to(world, f"piet.{marker[0].lower()}@lab.example"),
    )


def test_an_out_of_office_never_ends_a_needs_info_pause(world: World) -> None:
    """An X-Autoreply answer to our question is a note; the report stays in needs_info."""
    jan = world.installation.shapes(JAN)
    report_id = str(run_ingest(world, jan.kmail("Race in coupons", "apply twice").raw)[0].report_id)
    question = _ask_for_information(world, report_id, "How many requests in parallel?")
    outbox = len(query_store(world, "SELECT 1 FROM outbox WHERE report_id = ?", report_id))
    reply = jan.plaintext(
        "Automatisch antwoord: Re: Race in coupons",
        "Ik ben afwezig tot 9 november.",
        extra_headers=[("X-Autoreply", "yes"), ("In-Reply-To", question)],
    ).raw
    outcome = run_ingest(world, reply)[0]
    assert (Verdict.REPLY, report_id) == (outcome.verdict, outcome.report_id)
    assert "automatic reply (out-of-office or similar)" == outcome.reason
    assert "needs_info" == _state(world, report_id)
    assert _notes(world, report_id)[-1].startswith("An automatic reply or bounce")
    _sync(world)
    _notify(world)
    assert outbox == len(query_store(world, "SELECT 1 FROM outbox WHERE report_id = ?", report_id))


# ---------------------------------------------------------------------------- one run pass


def test_one_run_pass_handles_every_hostile_message_and_delivers_the_good_ones(
    world: World,
) -> None:
    """Hostile and unusual mail before a good report in the Maildir: one run pass settles all."""
    installation = world.installation
    jan = installation.shapes(JAN)
    target = jan.thunderbird("Auth bypass via header", "X-Original-URL: /admin")
    report_id = str(run_ingest(world, target.raw)[0].report_id)
    mallory = _shapes_as(world, JAN, "Mallory", "mallory@evil.example")
    hostile = {
        "outlook_comma": _outlook(
            f"{_encoded_word('Bakker, Sanne')} <sanne.bakker@lab.example>",
            "Open redirect",
            "/login?next=//evil.example",
            message_id="<AM0PR07MB9999@AM0PR07MB9999.eurprd07.prod.outlook.com>",
        ),
        "encoded_address": _outlook(
            "=?utf-8?q?jan=40onderzoek.example?= <mallory@evil.example>",
            f"Re: [{report_id}]",
            "send it to me",
            message_id="<m2@evil.example>",
            to=BRIDGE_ADDRESS.replace("@", f"+{report_id}@"),
        ),
        "crlf_name": _outlook(
            "=?utf-8?q?X=0D=0ABcc=3A_a=40b=2Eexample?= <x@lab.example>",
            "x",
            "x",
            message_id="<crlf@lab.example>",
        ),
        "two_mailboxes": _outlook(
            "a@lab.example, b@lab.example", "two", "two", message_id="<two@lab.example>"
        ),
        "utf8_address": _apple_mail_utf8(
            "zoë@résearch.example", "Zoë", "IDN homograph", "xn--", "<z1@résearch.example>"
        ),
        "spoofed": mallory.plaintext(
            "Spoofed",
            "spoofed",
            extra_headers=[
                (
                    "Authentication-Results",
                    _gmail_results("evil.example", dmarc="fail", dkim="fail", spf="fail"),
                )
            ],
        ).raw,
        "replay": mallory.pgp_mime("Mine now", b"", ciphertext=_pgp_mime_ciphertext(target.raw)),
        "out_of_office": mallory.plaintext(
            "Out of office", "away", extra_headers=[("X-Autorespond", "vacation")]
        ).raw,
        "bidi_title": _shapes_as(world, ADA, "Ada", "ada.bidi@lab.example")
        .plaintext("Invoice \u202eexe.fdp\u202c", "see attached", attach_key=False)
        .raw,
    }
    good = installation.shapes(ADA).kmail("Good report after the hostile ones", "it works")
    for raw in [*hostile.values(), good.raw]:
        installation.deliver(raw)
    mails_before = len(installation.smtp.messages)
    bridge = world.bridge()
    try:
        summaries = bridge.scheduled_pass().run()
    finally:
        bridge.close()
    assert [] == list((installation.maildir / "new").iterdir())
    assert [] == [p for s in summaries for p in s.problems if "Traceback" in p]
    titles = [i.title for i in world.gitlab.team.issues()]
    assert any("Good report after the hostile ones" in t for t in titles)
    assert any("Open redirect" in t for t in titles)
    assert any("[\u2060U+202E]" in t for t in titles)
    assert not any("\u202e" in t for t in titles)
    delivered = installation.smtp.messages[mails_before:]
    recipients = sorted(r for m in delivered for r in m.recipients)
    assert ["ada.bidi@lab.example", ADA, "sanne.bakker@lab.example"] == sorted(
        set(recipients) - {JAN}
    )
    assert "mallory@evil.example" not in recipients
    notes = "\n".join(_notes(world, report_id))
    assert (True, True) == ("Third-party mail, NOT" in notes, "Replayed ciphertext" in notes)
    assert [] == world.gitlab.team.side_effects()
    counts = {s.step: s.counts for s in summaries}
    assert 1 == counts["notify"].get("failed")  # zoë: no SMTPUTF8 on this server, team told
    audit = "\n".join(_audit_details(world))
    for reason in (
        "CR or LF",
        "not exactly one mailbox",
        "spoofed sender",
        "replayed ciphertext",
        "automatic message",
        "third-party mail",
    ):
        assert reason in audit

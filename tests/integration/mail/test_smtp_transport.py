"""SMTP delivery against a real aiosmtpd server: sessions, TLS, AUTH and error translation."""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING

import pytest

from tracker_bridge.errors import ConfigurationError, MailRejected, MailUnavailable
from tracker_bridge.mail.smtp import SmtpTransport

from .conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    Certificate,
    RecordingHandler,
    SmtpServer,
    free_port,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SENDER = "security@example.org"
RECIPIENT = "rita@researcher.example"
CANARY = "CANARY-report-detail-7f3a"


def _message(number: int = 1) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: Report CVD-2026-0007: update\r\n"
        f"Message-ID: <m{number}@bridge.example.org>\r\n\r\n{CANARY} number {number}\r\n"
    ).encode()


def _plain(server: SmtpServer, **options: object) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", server.port, security="none", timeout=5, **options)  # type: ignore[arg-type]


def test_send_delivers_the_exact_bytes_with_the_envelope(
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """One send: the server gets the envelope sender, recipient and the message bytes."""
    server = start_smtp_server()

    _plain(server).send(SENDER, [RECIPIENT], _message())

    received = server.handler.messages
    assert [(SENDER, [RECIPIENT])] == [(m.mail_from, m.rcpt_tos) for m in received]
    assert _message() == received[0].content


def test_a_session_sends_many_mails_over_one_connection(
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """session(): three mails, one connection (one EHLO), all delivered in order."""
    server = start_smtp_server()

    with _plain(server).session() as session:
        for number in (1, 2, 3):
            session.send(SENDER, [RECIPIENT], _message(number))

    assert (1, 3) == (server.handler.sessions, session.sent)
    assert [_message(n) for n in (1, 2, 3)] == [m.content for m in server.handler.messages]


def test_transport_as_context_manager_shares_one_connection(
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """``with transport:`` makes plain send() calls reuse one connection."""
    server = start_smtp_server()
    transport = _plain(server)

    with transport:
        transport.send(SENDER, [RECIPIENT], _message(1))
        transport.send(SENDER, [RECIPIENT], _message(2))

    assert (1, 2) == (server.handler.sessions, len(server.handler.messages))


def test_451_on_data_is_retriable_and_names_the_code(
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """451 on DATA raises MailUnavailable with code and server text, never the content."""
    server = start_smtp_server(RecordingHandler(data_reply="451 4.3.0 Try again later"))

    with pytest.raises(MailUnavailable) as caught:
        _plain(server).send(SENDER, [RECIPIENT], _message())

    assert (
        f"SMTP server 127.0.0.1:{server.port} answered DATA with 451 4.3.0 Try again later"
        == str(caught.value)
    )


def test_550_on_rcpt_is_a_permanent_rejection(
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """550 on RCPT TO raises MailRejected with code and server text."""
    server = start_smtp_server(RecordingHandler(rcpt_reply="550 5.1.1 No such user"))

    with pytest.raises(MailRejected) as caught:
        _plain(server).send(SENDER, [RECIPIENT], _message())

    assert (
        f"SMTP server 127.0.0.1:{server.port} answered RCPT TO with 550 5.1.1 No such user"
        == str(caught.value)
    )


def test_554_on_data_is_a_permanent_rejection(
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """554 on DATA (content refused) raises MailRejected; the content is not echoed."""
    server = start_smtp_server(RecordingHandler(data_reply="554 5.6.0 Message refused"))

    with pytest.raises(MailRejected) as caught:
        _plain(server).send(SENDER, [RECIPIENT], _message())

    assert CANARY not in str(caught.value)
    assert "554 5.6.0 Message refused" in str(caught.value)


def test_a_session_goes_on_after_a_refused_mail(
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """After a 451 the same session delivers the next mail once the server accepts again."""
    handler = RecordingHandler(data_reply="451 4.3.0 Busy")
    server = start_smtp_server(handler)

    with _plain(server).session() as session:
        with pytest.raises(MailUnavailable):
            session.send(SENDER, [RECIPIENT], _message(1))
        handler.data_reply = None
        session.send(SENDER, [RECIPIENT], _message(2))

    assert [_message(2)] == [m.content for m in handler.messages]


def test_server_down_is_retriable() -> None:
    """Nothing listening: MailUnavailable saying the connection was refused."""
    port = free_port()

    with pytest.raises(MailUnavailable) as caught:
        SmtpTransport("127.0.0.1", port, security="none", timeout=2).send(
            SENDER, [RECIPIENT], _message()
        )

    assert f"SMTP server 127.0.0.1:{port} unreachable: connection refused" == str(caught.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


def test_a_silent_server_times_out_as_retriable(silent_server: int) -> None:
    """No greeting within the timeout: MailUnavailable saying it timed out."""
    transport = SmtpTransport("127.0.0.1", silent_server, security="none", timeout=0.5)

    with pytest.raises(MailUnavailable) as caught:
        transport.send(SENDER, [RECIPIENT], _message())

    assert f"SMTP server 127.0.0.1:{silent_server} unreachable: timed out" == str(caught.value)


def test_starttls_with_auth_delivers(
    start_smtp_server: Callable[..., SmtpServer], certificate: Certificate
) -> None:
    """STARTTLS, then AUTH, then delivery, trusting the test's self-signed certificate."""
    server = start_smtp_server(tls_context=certificate.server, with_auth=True)
    transport = SmtpTransport(
        "127.0.0.1",
        server.port,
        security="starttls",
        user=SMTP_USER,
        password=SMTP_PASSWORD,
        timeout=5,
        ssl_context=certificate.client,
    )

    transport.send(SENDER, [RECIPIENT], _message())

    assert [_message()] == [m.content for m in server.handler.messages]


def test_refused_login_is_a_configuration_error_without_the_password(
    start_smtp_server: Callable[..., SmtpServer], certificate: Certificate
) -> None:
    """A wrong password stops the pass (ConfigurationError); the password is not in the text."""
    server = start_smtp_server(tls_context=certificate.server, with_auth=True)
    transport = SmtpTransport(
        "127.0.0.1",
        server.port,
        security="starttls",
        user=SMTP_USER,
        password="wrong-password-123",
        timeout=5,
        ssl_context=certificate.client,
    )

    with pytest.raises(ConfigurationError) as caught:
        transport.send(SENDER, [RECIPIENT], _message())

    assert "wrong-password-123" not in str(caught.value)
    assert f"SMTP server 127.0.0.1:{server.port} refused AUTH for 'bridge': 535" in str(
        caught.value
    )
    assert [] == server.handler.messages


def test_implicit_tls_delivers(
    start_smtp_server: Callable[..., SmtpServer], certificate: Certificate
) -> None:
    """SMTPS (TLS from the first byte) delivers the message."""
    server = start_smtp_server(ssl_context=certificate.server)
    transport = SmtpTransport(
        "127.0.0.1", server.port, security="tls", timeout=5, ssl_context=certificate.client
    )

    transport.send(SENDER, [RECIPIENT], _message())

    assert [_message()] == [m.content for m in server.handler.messages]


def test_untrusted_certificate_is_a_configuration_error(
    start_smtp_server: Callable[..., SmtpServer], certificate: Certificate
) -> None:
    """A certificate the client does not trust stops the pass instead of sending in the clear."""
    server = start_smtp_server(tls_context=certificate.server)
    transport = SmtpTransport(
        "127.0.0.1",
        server.port,
        security="starttls",
        timeout=5,
        ssl_context=ssl.create_default_context(),
    )

    with pytest.raises(ConfigurationError, match="TLS certificate not trusted"):
        transport.send(SENDER, [RECIPIENT], _message())
    assert [] == server.handler.messages


def test_starttls_required_but_not_offered_is_a_configuration_error(
    start_smtp_server: Callable[..., SmtpServer],
) -> None:
    """security=starttls against a server without STARTTLS refuses to send in the clear."""
    server = start_smtp_server()

    with pytest.raises(ConfigurationError, match="does not offer STARTTLS"):
        SmtpTransport("127.0.0.1", server.port, security="starttls", timeout=5).send(
            SENDER, [RECIPIENT], _message()
        )
    assert [] == server.handler.messages

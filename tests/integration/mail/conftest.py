"""Real gpg keys, a real aiosmtpd server and a self-signed certificate for the mail tests."""

from __future__ import annotations

import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tracker_bridge._testsupport.keys import (
    TestKey,
    export_public_key,
    generate_key,
    import_key,
    make_gnupghome,
    remove_gnupghome,
)
from tracker_bridge.openpgp import GnuPG

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SMTP_USER = "bridge"
SMTP_PASSWORD = "s3cret-smtp-password"


@dataclass(frozen=True)
class MailKeys:
    """The bridge key (in the bridge home, with the researcher's public key) and the researcher's."""

    bridge: TestKey
    researcher: TestKey


@pytest.fixture(scope="session")
def mail_keys() -> Iterator[MailKeys]:
    """Two homes: the bridge's and the researcher's, each holding the other's public key."""
    bridge_home = make_gnupghome("tbm")
    researcher_home = make_gnupghome("tbr")
    try:
        bridge = generate_key(bridge_home, "Example CVD Bridge", "security@example.org")
        researcher = generate_key(researcher_home, "Rita Researcher", "rita@researcher.example")
        import_key(bridge_home, export_public_key(researcher_home, researcher.fingerprint))
        import_key(researcher_home, export_public_key(bridge_home, bridge.fingerprint))
        yield MailKeys(bridge, researcher)
    finally:
        remove_gnupghome(bridge_home)
        remove_gnupghome(researcher_home)


@pytest.fixture(scope="session")
def bridge_openpgp(mail_keys: MailKeys) -> GnuPG:
    """The real OpenPGP adapter over the bridge home."""
    return GnuPG(mail_keys.bridge.gnupghome, bridge_fingerprint=mail_keys.bridge.fingerprint)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class RecordingHandler:
    """Stores every message; optional fixed answers to RCPT TO or DATA simulate refusals."""

    rcpt_reply: str | None = None
    data_reply: str | None = None
    messages: list[Received] = field(default_factory=list)
    sessions: int = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        content = envelope.original_content or envelope.content
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(content)))
        return "250 Message accepted"


@dataclass
class SmtpServer:
    """A running aiosmtpd server on loopback and what it received."""

    port: int
    handler: RecordingHandler


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    # handled=False: let aiosmtpd answer 535 itself (handled=True would send no reply).
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def start_smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers on free loopback ports; all stop when the test ends."""
    controllers: list[Controller] = []

    def start(
        handler: RecordingHandler | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        tls_context: ssl.SSLContext | None = None,
        with_auth: bool = False,
    ) -> SmtpServer:
        handler = handler or RecordingHandler()
        port = free_port()
        options: dict[str, Any] = {}
        if tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        if with_auth:
            options.update(authenticator=_authenticate, auth_required=True)
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, ssl_context=ssl_context, **options
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer(port, handler)

    yield start
    for controller in controllers:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1: the server's context and a client that trusts it."""

    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="session")
def certificate() -> Iterator[Certificate]:
    """Make a throwaway self-signed certificate with openssl."""
    with tempfile.TemporaryDirectory(prefix="tbc", dir="/tmp") as directory:
        key, cert = Path(directory, "key.pem"), Path(directory, "cert.pem")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(cert, key)
        client = ssl.create_default_context(cafile=str(cert))
        yield Certificate(server, client)

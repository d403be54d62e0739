"""A local SMTP server (aiosmtpd) that keeps what it receives and can refuse like a real one.

aiosmtpd is an optional dependency (the ``demo`` and ``dev`` extras): importing this module
without it raises ``FatalError`` naming ``pip install 'tracker-bridge[demo]'``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracker_bridge.errors import FatalError

if TYPE_CHECKING:
    from pathlib import Path

DEMO_EXTRA_HINT = "pip install 'tracker-bridge[demo]'"

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ModuleNotFoundError as err:  # aiosmtpd comes with the demo (and dev) extra only
    if err.name is None or err.name.split(".")[0] != "aiosmtpd":
        raise
    msg = (
        "the demo's local SMTP server needs aiosmtpd, which is not installed in "
        f"this Python environment; install the demo extra: {DEMO_EXTRA_HINT}"
    )
    raise FatalError(msg) from err


@dataclass(frozen=True)
class CaughtMail:
    """One delivered message."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class _Handler:
    directory: Path | None
    messages: list[CaughtMail] = field(default_factory=list)
    refuse_with: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002 - aiosmtpd calls the hook with these arguments
        if self.refuse_with:
            return self.refuse_with
        content = bytes(envelope.original_content or envelope.content)
        mail = CaughtMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), content)
        self.messages.append(mail)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"{len(self.messages):04d}.eml").write_bytes(content)
        return "250 Message accepted for delivery"


class MailCatcher:
    """An SMTP server on 127.0.0.1 for tests, benchmarks and the demo.

    ``refuse("451 4.3.0 try later")`` makes it answer every DATA with that reply until
    ``accept()``; received mail is kept in ``messages`` and, with a directory, as .eml files.
    ``smtputf8=True`` offers SMTPUTF8 (RFC 6531) in EHLO, as Postfix and Exim do by default.
    """

    def __init__(
        self,
        directory: Path | None = None,
        port: int | None = None,
        *,
        credentials: tuple[str, str] | None = None,
        smtputf8: bool = False,
    ) -> None:
        self._handler = _Handler(directory)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        # With credentials, AUTH PLAIN/LOGIN is offered (without TLS: loopback tests only)
        # and only that user and password are accepted.
        auth: dict[str, Any] = {}
        if credentials is not None:
            wanted = LoginPassword(credentials[0].encode(), credentials[1].encode())

            def authenticator(
                # aiosmtpd's authenticator signature: only the credentials are checked.
                server: Any,  # noqa: ARG001
                session: Any,  # noqa: ARG001
                envelope: Any,  # noqa: ARG001
                mechanism: str,  # noqa: ARG001
                auth_data: Any,
            ) -> AuthResult:
                return AuthResult(success=auth_data == wanted, handled=False)

            auth = {"authenticator": authenticator, "auth_require_tls": False}
        self._controller = Controller(
            self._handler,
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=smtputf8,
            **auth,
        )
        self._controller.start()

    @property
    def messages(self) -> list[CaughtMail]:
        """Everything delivered so far, in order."""
        return self._handler.messages

    def refuse(self, reply: str) -> None:
        """Answer every DATA with ``reply`` (e.g. ``451 ...`` or ``550 ...``)."""
        self._handler.refuse_with = reply

    def accept(self) -> None:
        """Accept mail again."""
        self._handler.refuse_with = None

    def stop(self) -> None:
        """Stop the server."""
        self._controller.stop()

"""SMTP delivery of researcher mail: one connection per run, SMTP errors translated by recovery.

Connection refused, timeouts, dropped connections and 4xx answers become ``MailUnavailable``
(retriable: the outbox row stays pending); 5xx on MAIL FROM, RCPT TO or DATA becomes
``MailRejected`` (this mail only); a refused login or a broken TLS setup becomes
``ConfigurationError`` (a person must act). Messages carry the server, the SMTP code and the
server's text, never message content or passwords.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from typing import TYPE_CHECKING, Literal, Self

from tracker_bridge.errors import ConfigurationError, MailRejected, MailUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

__all__ = ["SmtpSecurity", "SmtpSession", "SmtpTransport"]

SmtpSecurity = Literal["tls", "starttls", "none"]

_DEFAULT_PORTS: dict[str, int] = {"tls": 465, "starttls": 587, "none": 25}
_MAX_SERVER_TEXT = 200


def _server_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:_MAX_SERVER_TEXT]


class SmtpTransport:
    """Delivers mail over SMTP (implements ``ports.MailTransport``).

    ``session()`` opens one connection for many mails; ``send()`` outside a session opens a
    connection for that one mail. Used as a context manager (``with transport:``), ``send()``
    goes over one shared session until the block ends, so code that only knows the
    ``MailTransport`` port still sends a whole run over one connection.

    Args:
        host: SMTP server host name.
        port: Port; default 465 for ``tls``, 587 for ``starttls``, 25 for ``none``.
        security: ``tls`` (implicit TLS, SMTPS), ``starttls`` or ``none``.
        user: AUTH user; no AUTH when None.
        password: AUTH password.
        timeout: Socket timeout in seconds for connect and every command.
        ssl_context: TLS settings (tests pass one trusting a self-signed certificate);
            by default the system's trusted certificates with host name checks.
        local_hostname: Name sent in EHLO; default the fully qualified host name.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: SmtpSecurity = "starttls",
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in _DEFAULT_PORTS:
            msg = f"smtp.security must be tls, starttls or none, not {security!r}"
            raise ConfigurationError(msg)
        self.host = host
        self.port = port or _DEFAULT_PORTS[security]
        self.security: SmtpSecurity = security
        self.user = user
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context
        self.local_hostname = local_hostname
        self._shared: SmtpSession | None = None

    @property
    def server(self) -> str:
        """``host:port``, as error messages name it."""
        return f"{self.host}:{self.port}"

    def session(self) -> SmtpSession:
        """A session that connects on first send and quits when the ``with`` block ends."""
        return SmtpSession(self)

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        """Deliver one message or raise MailUnavailable / MailRejected."""
        if self._shared is not None:
            self._shared.send(sender, recipients, message)
            return
        with self.session() as session:
            session.send(sender, recipients, message)

    def __enter__(self) -> Self:
        self._shared = self.session()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.close()

    # ------------------------------------------------------------------ connection

    def _tls_context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def connect(self) -> smtplib.SMTP:
        """An SMTP connection, TLS set up and logged in as configured.

        Raises:
            MailUnavailable: The server cannot be reached, timed out or answered 4xx.
            ConfigurationError: TLS or AUTH failed in a way only a person can fix.
        """
        connection: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                connection = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._tls_context(),
                )
            else:
                connection = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            connection.ehlo()
            if self.security == "starttls":
                if not connection.has_extn("starttls"):
                    msg = (
                        f"SMTP server {self.server} does not offer STARTTLS; "
                        "set smtp.security to tls or none"
                    )
                    raise ConfigurationError(msg)  # noqa: TRY301 - the handler below closes the connection for this refusal too
                connection.starttls(context=self._tls_context())
                connection.ehlo()
            if self.user:
                self._login(connection, self.user, self._password or "")
            return connection  # noqa: TRY300 - the connection is returned only if every step above succeeded
        except ConfigurationError:
            _close_quietly(connection)
            raise
        except smtplib.SMTPAuthenticationError as err:
            _close_quietly(connection)
            detail = f"{err.smtp_code} {_server_text(err.smtp_error)}"
            if 400 <= err.smtp_code < 500:
                msg = f"SMTP server {self.server} refused AUTH for {self.user!r} for now: {detail}"
                raise MailUnavailable(msg) from err
            msg = f"SMTP server {self.server} refused AUTH for {self.user!r}: {detail}"
            raise ConfigurationError(msg) from err
        except smtplib.SMTPNotSupportedError as err:
            _close_quietly(connection)
            msg = f"SMTP server {self.server} does not support AUTH for {self.user!r}: {err}"
            raise ConfigurationError(msg) from err
        except ssl.SSLCertVerificationError as err:
            _close_quietly(connection)
            msg = f"SMTP server {self.server}: TLS certificate not trusted: {err.verify_message}"
            raise ConfigurationError(msg) from err
        except smtplib.SMTPResponseException as err:
            _close_quietly(connection)
            msg = (
                f"SMTP server {self.server} refused the connection: "
                f"{err.smtp_code} {_server_text(err.smtp_error)}"
            )
            raise MailUnavailable(msg) from err
        except (smtplib.SMTPException, OSError) as err:
            _close_quietly(connection)
            msg = f"SMTP server {self.server} unreachable: {_describe_os_error(err)}"
            raise MailUnavailable(msg) from err

    @staticmethod
    def _login(connection: smtplib.SMTP, user: str, password: str) -> None:
        """AUTH once, with PLAIN or LOGIN when offered.

        ``smtplib.login`` tries every advertised mechanism in turn; one wrong password would
        then count as several failed logins, and some servers stall on the second attempt.
        """
        connection.ehlo_or_helo_if_needed()
        advertised = connection.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in advertised), None)
        if mechanism is None:
            connection.login(user, password)
            return
        connection.user, connection.password = user, password
        authobject = connection.auth_plain if mechanism == "PLAIN" else connection.auth_login
        connection.auth(mechanism, authobject)


class SmtpSession:
    """One SMTP connection used for many mails (implements ``ports.MailTransport``).

    The connection opens on the first ``send``; after the server drops it or a timeout, the
    next ``send`` reconnects. Leaving the ``with`` block sends QUIT.
    """

    def __init__(self, transport: SmtpTransport) -> None:
        self._transport = transport
        self._connection: smtplib.SMTP | None = None
        self.sent = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Say QUIT (ignoring a dead connection) and forget the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                _close_quietly(connection)

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        """Deliver one message or raise MailUnavailable / MailRejected.

        Args:
            sender: Envelope sender (MAIL FROM).
            recipients: Envelope recipients (RCPT TO); one researcher in practice.
            message: The composed mail, CRLF line ends.

        Raises:
            MailUnavailable: Not delivered for now (down, timeout, dropped, 4xx): retry later.
            MailRejected: Refused for good (5xx on MAIL FROM, RCPT TO or DATA).
            ConfigurationError: TLS or AUTH is misconfigured.
        """
        server = self._transport.server
        if self._connection is None:
            self._connection = self._transport.connect()
        connection = self._connection
        options: list[str] = []
        if not all(address.isascii() for address in (sender, *recipients)):
            # An internationalised address (RFC 6531/6532) travels only with SMTPUTF8; the
            # error names neither address (it reaches the audit log and the team's note).
            if not connection.has_extn("smtputf8"):
                msg = (
                    f"SMTP server {server} does not offer SMTPUTF8 (RFC 6531), which the "
                    "internationalised address of this mail needs"
                )
                raise MailRejected(msg)
            options.append("SMTPUTF8")
        try:
            refused = connection.sendmail(sender, list(recipients), message, mail_options=options)
        except smtplib.SMTPRecipientsRefused as err:
            self._reset()
            raise _refusal(server, "RCPT TO", err.recipients) from err
        except smtplib.SMTPSenderRefused as err:
            self._reset()
            raise _by_code(server, "MAIL FROM", err.smtp_code, err.smtp_error) from err
        except smtplib.SMTPDataError as err:
            self._reset()
            raise _by_code(server, "DATA", err.smtp_code, err.smtp_error) from err
        except smtplib.SMTPServerDisconnected as err:
            self._drop()
            msg = f"SMTP server {server} closed the connection: {err}"
            raise MailUnavailable(msg) from err
        except smtplib.SMTPResponseException as err:
            self._drop()
            raise _by_code(server, "the transaction", err.smtp_code, err.smtp_error) from err
        except (smtplib.SMTPException, OSError) as err:
            self._drop()
            msg = f"SMTP server {server} failed during delivery: {_describe_os_error(err)}"
            raise MailUnavailable(msg) from err
        if refused:
            # Some recipients took it, some did not: a retry would duplicate, so report the rest.
            raise _refusal(server, "RCPT TO", refused)
        self.sent += 1

    def _reset(self) -> None:
        # smtplib already sent RSET for refused recipients; a 421 leaves a dead connection.
        connection = self._connection
        if connection is None:
            return
        try:
            connection.noop()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        _close_quietly(connection)


def _refusal(
    server: str, command: str, refused: dict[str, tuple[int, bytes]]
) -> MailUnavailable | MailRejected:
    codes = sorted(refused.values(), key=lambda pair: -pair[0])
    code, text = codes[0]
    return _by_code(server, command, code, text)


def _by_code(
    server: str, command: str, code: int, text: bytes | str
) -> MailUnavailable | MailRejected:
    detail = f"SMTP server {server} answered {command} with {code} {_server_text(text)}"
    if 500 <= code < 600:
        return MailRejected(detail)
    return MailUnavailable(detail)


def _describe_os_error(err: BaseException) -> str:
    # smtplib wraps a read timeout in SMTPServerDisconnected; the cause tells what happened.
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return "timed out"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    return f"{type(err).__name__}: {err}"


def _close_quietly(connection: smtplib.SMTP | None) -> None:
    if connection is None:
        return
    with contextlib.suppress(OSError):
        connection.close()

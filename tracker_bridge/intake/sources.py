"""Where mail arrives: files or stdin, a Maildir, an IMAP folder; moved only once settled.

Every source follows the same crash-safety rule: ``fetch`` yields messages and leaves them where
they are; ``settle`` moves one message to the processed or quarantine folder and is called by
the ingest service only after the outcome was committed. A run killed in between leaves the
message in the inbox, so the next run reads it again (and the store's Message-ID + digest check
makes that second read create nothing new).
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import hashlib
import imaplib
import os
import re
import socket
import ssl
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Self, TypeVar

from tracker_bridge.domain.message_ids import is_synthetic, normalise_message_id
from tracker_bridge.errors import ConfigurationError, RetriableError, SkippableError
from tracker_bridge.files import (
    PRIVATE_FILE_MODE,
    create_private_file,
    make_private_dir,
    write_private_bytes,
)
from tracker_bridge.ports.intake import MailboxItem, Verdict

__all__ = [
    "FileSource",
    "ImapSecurity",
    "ImapSettings",
    "ImapSource",
    "MaildirSource",
    "closing_archives",
]

Archives = TypeVar("Archives", bound=Sequence[object])


def _target_is_quarantine(verdict: Verdict) -> bool:
    return verdict == Verdict.QUARANTINE


def _header_message_id(raw: bytes) -> str:
    # Headers only, compat32: a broken body must not stop the match.
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return normalise_message_id(str(parsed.get("Message-ID", "")))


class FileSource:
    """Messages from files, or one message from standard input (``-``); settling does nothing.

    Args:
        paths: File paths; ``-`` reads standard input once.
        stdin: The binary stream used for ``-`` (defaults to ``sys.stdin.buffer``).
        max_bytes: Refuse to read more than this from one file (the message size limit + 1
            lets the reader see that it is over the limit without holding gigabytes).
    """

    name = "file"

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        stdin: BinaryIO | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self._paths = [str(p) for p in paths]
        self._stdin = stdin
        self._max_bytes = max_bytes

    def fetch(self) -> Iterator[MailboxItem]:
        """Yield each file's bytes (``-`` is standard input)."""
        for path in self._paths:
            if path == "-":
                stream = self._stdin if self._stdin is not None else sys.stdin.buffer
                yield MailboxItem(self.name, "-", self._read(stream))
                continue
            try:
                with Path(path).open("rb") as handle:
                    raw = self._read(handle)
            except OSError as err:
                msg = f"cannot read message file {path}: {err.strerror}"
                raise SkippableError(msg) from err
            yield MailboxItem(self.name, path, raw)

    def _read(self, stream: BinaryIO) -> bytes:
        if self._max_bytes is None:
            return stream.read()
        return stream.read(self._max_bytes + 1)

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        """Nothing to move: the caller (an MTA pipe, a person) owns the file."""


# Maildir++ subfolders the bridge keeps settled mail in (created owner-only).
PROCESSED_FOLDER = ".Processed"
QUARANTINE_FOLDER = ".Quarantine"


class MaildirSource:
    """A Maildir inbox; settled mail moves to the ``.Processed`` or ``.Quarantine`` subfolder.

    Args:
        path: The Maildir root (with ``new/``, ``cur/`` and ``tmp/``).
        processed: Maildir++ subfolder for handled mail.
        quarantine: Maildir++ subfolder for quarantined mail.
    """

    name = "maildir"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        processed: str = PROCESSED_FOLDER,
        quarantine: str = QUARANTINE_FOLDER,
    ) -> None:
        self.root = Path(path)
        self.processed = self.root / processed
        self.quarantine = self.root / quarantine
        for sub in ("new", "cur"):
            if not (self.root / sub).is_dir():
                msg = f"{self.root} is not a Maildir (no {sub}/ folder)"
                raise ConfigurationError(msg)

    def fetch(self) -> Iterator[MailboxItem]:
        """Yield messages from ``new/`` then ``cur/``, oldest file name first, without moving them."""
        for sub in ("new", "cur"):
            for entry, raw in _message_files(self.root / sub):
                yield MailboxItem(self.name, f"{sub}/{entry.name}", raw)

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        """Move the message into the processed or quarantine folder's ``cur/`` (marked seen)."""
        target = self.quarantine if _target_is_quarantine(verdict) else self.processed
        for sub in ("new", "cur", "tmp"):
            # Settled copies hold reports: owner-only folders, whatever the umask.
            make_private_dir(target / sub)
        # Maildir++ marks a subfolder with a maildirfolder file so IMAP servers list it.
        create_private_file(target / "maildirfolder")
        source = self.root / item.handle
        base = source.name.split(":", 1)[0]
        destination = target / "cur" / f"{base}:2,S"
        try:
            source.replace(destination)
        except FileNotFoundError as err:
            if destination.exists():
                return  # settled before a crash; nothing left to do
            msg = f"message {item.handle} vanished from {self.root}"
            raise SkippableError(msg) from err
        with contextlib.suppress(PermissionError):  # a copy the MTA's user owns keeps its mode
            destination.chmod(PRIVATE_FILE_MODE)

    def delete_copies(
        self, message_ids: Sequence[str], digests: Sequence[str], *, dry_run: bool = False
    ) -> int:
        """Delete settled copies (Processed, Quarantine) by Message-ID or sha256 of the bytes.

        Returns how many files were (or, with ``dry_run``, would be) deleted. The inbox
        itself is never touched: what waits there is not settled yet.
        """
        wanted_ids = {normalise_message_id(m) for m in message_ids if normalise_message_id(m)}
        wanted_digests = {d.lower() for d in digests}
        deleted = 0
        for folder in (self.processed, self.quarantine):
            for sub in ("cur", "new"):
                directory = folder / sub
                if not directory.is_dir():
                    continue
                for entry, raw in _message_files(directory):
                    matches = hashlib.sha256(raw).hexdigest() in wanted_digests or (
                        _header_message_id(raw) in wanted_ids
                    )
                    if not matches:
                        continue
                    if not dry_run:
                        entry.unlink(missing_ok=True)
                    deleted += 1
        return deleted

    def deliver(self, raw: bytes) -> str:
        """Put a message into ``new/`` the Maildir way (tmp then rename); its handle."""
        unique = f"{time.time_ns()}.P{os.getpid()}.{socket.gethostname()}"
        temporary = self.root / "tmp" / unique
        write_private_bytes(temporary, raw)
        temporary.replace(self.root / "new" / unique)
        return f"new/{unique}"


def _message_files(directory: Path) -> Iterator[tuple[Path, bytes]]:
    """Each message file of a Maildir folder, oldest file name first, with its bytes.

    Dot files and subfolders are passed over; a file another reader (a mail client, a second
    run) moved away meanwhile is skipped.
    """
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        try:
            raw = entry.read_bytes()
        except FileNotFoundError:
            continue
        yield entry, raw


class ImapSecurity(StrEnum):
    """How the IMAP connection is protected."""

    TLS = "tls"
    STARTTLS = "starttls"
    PLAIN = "plain"


@dataclass(frozen=True)
class ImapSettings:
    """Where and how to read mail over IMAP."""

    host: str
    user: str
    password: str
    port: int | None = None
    security: ImapSecurity = ImapSecurity.TLS
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return (
            f"ImapSettings(host={self.host!r}, port={self.port!r}, user={self.user!r}, "
            f"security={self.security.value!r}, folder={self.folder!r})"
        )


_UID = re.compile(rb"UID (\d+)")


class ImapSource:
    r"""An IMAP folder; settled mail is moved (UID MOVE, else COPY + \Deleted + EXPUNGE).

    The connection opens on the first ``fetch`` and is reused by ``settle``; ``close`` logs out.
    Messages are fetched with ``BODY.PEEK[]`` so they stay unseen until settled.

    Args:
        settings: Server, credentials and folders.
    """

    name = "imap"

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._imap: imaplib.IMAP4 | None = None
        self._folders_ready = False

    # ------------------------------------------------------------------ connection

    def _connect(self) -> imaplib.IMAP4:
        if self._imap is not None:
            return self._imap
        s = self.settings
        context = s.ssl_context or ssl.create_default_context()
        where = f"{s.host}:{s.port or '(default)'}"
        try:
            if s.security == ImapSecurity.TLS:
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    s.host, s.port or 993, ssl_context=context, timeout=s.timeout
                )
            else:
                imap = imaplib.IMAP4(s.host, s.port or 143, timeout=s.timeout)
                if s.security == ImapSecurity.STARTTLS:
                    imap.starttls(ssl_context=context)
        except (OSError, imaplib.IMAP4.error) as err:
            msg = f"IMAP server {where} unreachable: {err}"
            raise RetriableError(msg) from err
        try:
            imap.login(s.user, s.password)
        except imaplib.IMAP4.error as err:
            with contextlib.suppress(Exception):
                imap.logout()
            msg = f"IMAP login as {s.user!r} at {where} refused"
            raise ConfigurationError(msg) from err
        self._imap = imap
        return imap

    def close(self) -> None:
        """Log out (safe to call twice)."""
        if self._imap is not None:
            with contextlib.suppress(Exception):
                self._imap.logout()
            self._imap = None
            self._folders_ready = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, what: str, *args: object) -> tuple[str, list[object]]:
        imap = self._connect()
        try:
            typ, data = getattr(imap, what)(*args)
        except (OSError, imaplib.IMAP4.abort) as err:
            self._imap = None
            msg = f"IMAP {what} failed at {self.settings.host}: {err}"
            raise RetriableError(msg) from err
        except imaplib.IMAP4.error as err:
            msg = f"IMAP {what} refused at {self.settings.host}: {err}"
            raise SkippableError(msg) from err
        return str(typ), list(data)

    @staticmethod
    def _quote(folder: str) -> str:
        return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def _ensure_folders(self) -> None:
        if self._folders_ready:
            return
        for folder in (self.settings.processed_folder, self.settings.quarantine_folder):
            typ, _ = self._call("select", self._quote(folder), True)
            if typ != "OK":
                typ, data = self._call("create", self._quote(folder))
                if typ != "OK":
                    msg = f"cannot create IMAP folder {folder!r} at {self.settings.host}: {data!r}"
                    raise ConfigurationError(msg)
        self._folders_ready = True

    def _select_inbox(self) -> None:
        typ, data = self._call("select", self._quote(self.settings.folder))
        if typ != "OK":
            msg = (
                f"IMAP folder {self.settings.folder!r} at {self.settings.host} cannot be "
                f"selected: {data!r}"
            )
            raise ConfigurationError(msg)

    # ------------------------------------------------------------------ MailSource

    def fetch(self) -> Iterator[MailboxItem]:
        """Yield every message in the folder (by UID, oldest first) without moving or marking it."""
        self._ensure_folders()
        self._select_inbox()
        typ, data = self._call("uid", "SEARCH", None, "ALL")
        if typ != "OK":
            msg = f"IMAP SEARCH failed at {self.settings.host}: {data!r}"
            raise RetriableError(msg)
        uids = [u for chunk in data if isinstance(chunk, bytes) for u in chunk.split()]
        for uid in uids:
            typ, fetched = self._call("uid", "FETCH", uid.decode("ascii"), "(UID BODY.PEEK[])")
            raw = _fetched_body(fetched)
            if typ != "OK" or raw is None:
                continue  # expunged meanwhile by someone else
            yield MailboxItem(self.name, uid.decode("ascii"), raw)

    def settle(self, item: MailboxItem, verdict: Verdict) -> None:
        """Move the message to the processed or quarantine folder."""
        self._ensure_folders()
        self._select_inbox()
        target = (
            self.settings.quarantine_folder
            if _target_is_quarantine(verdict)
            else self.settings.processed_folder
        )
        imap = self._connect()
        if "MOVE" in getattr(imap, "capabilities", ()):
            typ, data = self._call("uid", "MOVE", item.handle, self._quote(target))
            if typ == "OK":
                return
        typ, data = self._call("uid", "COPY", item.handle, self._quote(target))
        if typ != "OK":
            msg = f"IMAP COPY of UID {item.handle} to {target!r} failed: {data!r}"
            raise SkippableError(msg)
        self._call("uid", "STORE", item.handle, "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in getattr(imap, "capabilities", ()):
            # Expunge only this message, not others a person flagged \Deleted meanwhile.
            self._call("uid", "EXPUNGE", item.handle)
        else:
            self._call("expunge")

    def delete_copies(
        self, message_ids: Sequence[str], digests: Sequence[str], *, dry_run: bool = False
    ) -> int:
        """Delete settled copies in the processed and quarantine folders by Message-ID.

        Messages without a Message-ID header are found by the sha256 of their bytes. Returns
        how many were (or, with ``dry_run``, would be) deleted; the inbox is never touched.
        """
        return _imap_delete_copies(self, message_ids, digests, dry_run)


@contextlib.contextmanager
def closing_archives(archives: Archives) -> Iterator[Archives]:
    """``archives`` for the ``with`` block; the IMAP ones are logged out when it ends.

    The one way mailbox archives (``ports.MailboxArchive``: the Maildir and IMAP sources whose
    Processed and Quarantine folders hold settled mail) are closed after a purge or erasure,
    whether the block returns or raises. A Maildir holds nothing open.
    """
    try:
        yield archives
    finally:
        for archive in archives:
            if isinstance(archive, ImapSource):
                archive.close()


def _imap_delete_copies(
    source: ImapSource, message_ids: Sequence[str], digests: Sequence[str], dry_run: bool
) -> int:
    wanted = sorted({normalise_message_id(m) for m in message_ids if normalise_message_id(m)})
    wanted_digests = {d.lower() for d in digests}
    deleted = 0
    for folder in (source.settings.processed_folder, source.settings.quarantine_folder):
        typ, _ = source._call("select", source._quote(folder), dry_run)  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
        if typ != "OK":
            continue  # never created: nothing was settled there
        uids: set[bytes] = set()
        for message_id in wanted:
            if is_synthetic(message_id):
                continue  # no Message-ID header to search for; matched by digest below
            typ, data = source._call(  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
                "uid",
                "SEARCH",
                None,
                "HEADER",
                "Message-ID",
                source._quote(message_id),  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
            )
            if typ == "OK":
                uids.update(u for chunk in data if isinstance(chunk, bytes) for u in chunk.split())
        if any(is_synthetic(m) for m in wanted):
            uids.update(_uids_by_digest(source, wanted_digests))
        for uid in sorted(uids, key=int):
            if not dry_run:
                source._call("uid", "STORE", uid.decode("ascii"), "+FLAGS.SILENT", "(\\Deleted)")  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
            deleted += 1
        if uids and not dry_run:
            imap = source._connect()  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
            if "UIDPLUS" in getattr(imap, "capabilities", ()):
                source._call("uid", "EXPUNGE", b",".join(sorted(uids, key=int)).decode("ascii"))  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
            else:
                source._call("expunge")  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
    return deleted


def _uids_by_digest(source: ImapSource, digests: set[str]) -> set[bytes]:
    typ, data = source._call("uid", "SEARCH", None, "ALL")  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
    if typ != "OK":
        return set()
    found: set[bytes] = set()
    for uid in [u for chunk in data if isinstance(chunk, bytes) for u in chunk.split()]:
        typ, fetched = source._call("uid", "FETCH", uid.decode("ascii"), "(UID BODY.PEEK[])")  # noqa: SLF001 - a helper of ImapSource in its own module, on its IMAP calls
        raw = _fetched_body(fetched)
        if raw is not None and hashlib.sha256(raw).hexdigest() in digests:
            found.add(uid)
    return found


def _fetched_body(fetched: list[object]) -> bytes | None:
    for entry in fetched:
        if isinstance(entry, tuple) and len(entry) >= 2 and isinstance(entry[1], bytes):
            return entry[1]
    return None

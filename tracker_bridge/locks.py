"""Step locks so concurrent ``run`` workers never do the same step at once.

SQLite: an exclusive ``flock`` on a file beside the database (one machine). PostgreSQL: a
session advisory lock, held on its own connection for the step's duration and released by the
server if the worker dies, so a killed worker's claim expires with its connection.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from tracker_bridge.files import make_private_dir
from tracker_bridge.store.errors import translate_error
from tracker_bridge.store.url import parse_store_url

if TYPE_CHECKING:
    from collections.abc import Iterator


def _advisory_key(name: str) -> int:
    # Signed 64-bit key from the step name, stable across processes and machines.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def step_lock(store_url: str, name: str) -> Iterator[bool]:
    """Try to take the lock for step ``name``; yields True when held, False when another has it.

    ``store_url`` is read by the store's own parser, so every spelling the store accepts
    (``postgres://``, ``postgresql://``, ``postgresql+psycopg://``) takes the advisory lock.
    An in-memory SQLite store lives in one process and needs no lock.

    Raises:
        ConfigurationError: ``store_url`` is not a URL the store supports, or PostgreSQL
            refuses the URL's database or role.
        StoreUnavailable: PostgreSQL cannot be reached (the pass says so, no traceback).
    """
    parsed = parse_store_url(store_url)
    database = parsed.sqlite_path
    if database is not None:
        path = Path(f"{database}.{name.replace(':', '_').replace('/', '_')}.lock")
        make_private_dir(path.parent)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            os.close(handle)
        return
    if parsed.backend == "postgresql":
        engine = create_engine(parsed.url, poolclass=NullPool)
        try:
            key = _advisory_key(name)
            try:
                connection = engine.connect()
            except sa_exc.DBAPIError as err:
                raise translate_error(err, store_url, "postgresql") from err
            with connection:
                try:
                    held = bool(
                        connection.execute(
                            text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
                        ).scalar()
                    )
                except sa_exc.DBAPIError as err:
                    raise translate_error(err, store_url, "postgresql") from err
                try:
                    yield held
                finally:
                    if held:
                        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        finally:
            engine.dispose()
        return
    yield True

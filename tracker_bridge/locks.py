"""Step locks so concurrent ``run`` workers never do the same step at once.

SQLite: an exclusive ``flock`` on a file beside the database (one machine). PostgreSQL: a
session advisory lock, held on its own connection for the step's duration and released by the
server if the worker dies, so a killed worker's claim expires with its connection.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tracker_bridge.store.errors import translate_error


def _advisory_key(name: str) -> int:
    # Signed 64-bit key from the step name, stable across processes and machines.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def step_lock(store_url: str, name: str) -> Iterator[bool]:
    """Try to take the lock for step ``name``; yields True when held, False when another has it.

    Raises:
        StoreUnavailable: PostgreSQL cannot be reached (the pass says so, no traceback).
        ConfigurationError: PostgreSQL refuses the URL's database or role.
    """
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(f"{url.database}.{name.replace(':', '_').replace('/', '_')}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
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
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        engine = create_engine(url, poolclass=NullPool)
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

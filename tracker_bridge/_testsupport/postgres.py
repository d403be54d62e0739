"""The one PostgreSQL probe for our tests: find the server, make and drop throwaway databases.

The server is named by ``TRACKER_BRIDGE_TEST_POSTGRES_URL`` (any spelling the store accepts),
else ``postgresql://postgres@127.0.0.1:5432/postgres``. A configured server that does not answer
fails the test; an unconfigured one that does not answer skips it, or fails it under CI
(``tracker_bridge._testsupport.unavailable``).
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tracker_bridge._testsupport.unavailable import unavailable
from tracker_bridge.store.url import parse_store_url

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["DEFAULT_POSTGRES_URL", "POSTGRES_ENV", "fresh_database", "postgres_admin_url"]

POSTGRES_ENV = "TRACKER_BRIDGE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_CONNECT_TIMEOUT_SECONDS = 3


def postgres_admin_url() -> str:
    """The libpq URL (``postgresql://...``) of the server to make test databases on.

    Returns:
        The configured (or default) URL with the bare ``postgresql`` scheme libpq wants.

    Raises:
        pytest.fail.Exception: ``TRACKER_BRIDGE_TEST_POSTGRES_URL`` is set but the server does
            not answer within 3 seconds, or none answers under CI.
        pytest.skip.Exception: none is configured and none answers at the default address.
    """
    configured = os.environ.get(POSTGRES_ENV)
    # The store's own parser, so any spelling the store accepts works here too.
    url = parse_store_url(configured or DEFAULT_POSTGRES_URL).url.set(drivername="postgresql")
    libpq = url.render_as_string(hide_password=False)
    try:
        with psycopg.connect(libpq, connect_timeout=_CONNECT_TIMEOUT_SECONDS, autocommit=True):
            pass
    except psycopg.OperationalError as err:
        if configured:
            pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL does not answer: {err}")
        unavailable(f"no PostgreSQL at {DEFAULT_POSTGRES_URL} and {POSTGRES_ENV} unset: {err}")
    return libpq


@contextmanager
def fresh_database(admin_url: str, prefix: str = "tb_test") -> Iterator[str]:
    """Create an empty database ``<prefix>_<12 hex>`` on ``admin_url``; drop it on exit.

    Args:
        admin_url: A libpq URL from ``postgres_admin_url()``.
        prefix: Start of the database name.

    Yields:
        The new database's URL (same server and credentials).

    Raises:
        psycopg.Error: the server refused to create the database.
    """
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

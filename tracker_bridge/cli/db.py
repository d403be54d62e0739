"""The ``db`` commands: migrate the state store, copy it into another database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tracker_bridge.cli.common import Invocation
    from tracker_bridge.config import LoadedConfig

__all__ = ["db"]


@click.group()
def db() -> None:
    """Manage the state store."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(invocation: Invocation) -> None:
    """Apply database migrations (SQLite files are upgraded automatically when new)."""
    from tracker_bridge.app import load_config
    from tracker_bridge.store import redact_url, upgrade

    config = load_config(invocation.config_path)
    url = _store_url(config)
    before, after = upgrade(url)
    where = redact_url(url)
    if before is None:
        click.echo(f"created the schema (revision {after}) in {where}")
    elif before != after:
        click.echo(f"upgraded {where} from revision {before} to {after}")
    else:
        click.echo(f"{where} is up to date (revision {after})")


@db.command("copy")
@click.argument("source")
@click.argument("target")
def db_copy(source: str, target: str) -> None:
    """Copy the store at SOURCE into the empty database TARGET, with everything in it.

    SOURCE and TARGET are store URLs (sqlite:///path, postgresql://user@host/db). Every
    table moves, the audit log and the store id included, so the tracker issues this
    installation opened stay its own. Point store.url at TARGET afterwards; SOURCE is only read.
    """
    from tracker_bridge.store import redact_url
    from tracker_bridge.store.copy import copy_store

    copied = copy_store(source, target)
    for table, count in copied.rows.items():
        click.echo(f"{table:<22} {count} row(s)")
    click.echo(f"copied store {copied.store_id} from {redact_url(source)} to {redact_url(target)}")


def _store_url(config: LoadedConfig) -> str:
    """store.url with a relative SQLite path resolved against the config file (the store's parser)."""
    from tracker_bridge.store.url import parse_store_url

    return parse_store_url(config.settings.store.url, base=config.base_dir).render()

"""The ``key`` commands: list the bridge's keys, rotate to a successor, re-protect (migration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tracker_bridge.cli.common import Invocation

__all__ = ["key_group"]

_WORK_FACTOR = click.Choice(["minimum", "calibrated"])


@click.group("key")
def key_group() -> None:
    """The bridge's own OpenPGP key: list, rotate, re-protect."""


@key_group.command("list")
@click.pass_obj
def key_list(invocation: Invocation) -> None:
    """Every secret key in the bridge home: which signs, expiry, protection."""
    from tracker_bridge.key_management import list_bridge_keys

    listing = list_bridge_keys(invocation.config_path)
    click.echo(f"{listing.home} (new keys protected: {listing.work_factor.value} work factor)")
    for key in listing.keys:
        role = "signs, decrypts" if key.fingerprint == listing.bridge_fingerprint else "decrypts"
        expires = f"{key.expires:%Y-%m-%d}" if key.expires else "never"
        counts = sorted({count for count in key.s2k_counts if count})
        protection = f"S2K {'/'.join(f'{c:,}' for c in counts)}" if counts else "no passphrase"
        revoked = " revoked" if key.revoked else ""
        click.echo(
            f"{key.fingerprint}  {role:<15} created {key.created:%Y-%m-%d}  "
            f"expires {expires}{revoked}  {protection}  {key.uid}"
        )


@key_group.command("rotate")
@click.option(
    "--expires",
    default="never",
    show_default=True,
    help="When the new key expires: never, 365d, 2y or a date such as 2028-01-31.",
)
@click.option(
    "--work-factor",
    "factor",
    type=_WORK_FACTOR,
    default=None,
    help="Protection of the new key (default: what the home's gpg-agent.conf says).",
)
@click.pass_obj
def key_rotate(invocation: Invocation, expires: str, factor: str | None) -> None:
    """Make a new bridge key; the old one keeps decrypting, the new one signs and is published.

    Sets openpgp.fingerprint in the config file and rewrites the public key file beside it.
    """
    from tracker_bridge.bridge_key import WorkFactor
    from tracker_bridge.key_management import rotate_bridge_key

    rotation = rotate_bridge_key(
        invocation.config_path, expire=expires, factor=WorkFactor(factor) if factor else None
    )
    click.echo(f"new bridge key {rotation.new_fingerprint}")
    click.echo(f"old bridge key {rotation.old_fingerprint} stays in the keyring for decryption")
    click.echo(f"set openpgp.fingerprint in {rotation.config_file}")
    click.echo(f"wrote {rotation.public_key_file}")
    click.echo(
        "Next: publish the new public key where security.txt's Encryption points, then "
        "regenerate `policy` and `security-txt --sign`."
    )


@key_group.command("reprotect")
@click.option(
    "--work-factor",
    "factor",
    type=_WORK_FACTOR,
    default="minimum",
    show_default=True,
    help="minimum for the passphrase init generated; calibrated for one a person chose.",
)
@click.pass_obj
def key_reprotect(invocation: Invocation, factor: str) -> None:
    """Protect every bridge key again with the same passphrase and the chosen work factor.

    The migration for keys made before init chose the minimum work factor: each decryption and
    signature then costs milliseconds instead of gpg-agent's calibrated hundreds. It also
    stores the self-signatures of keys that are not expired as checked, so gpg stops verifying
    them on every run.
    """
    from tracker_bridge.bridge_key import WorkFactor
    from tracker_bridge.key_management import reprotect_bridge_keys

    done = reprotect_bridge_keys(invocation.config_path, WorkFactor(factor))
    for fingerprint in done.reprotected:
        click.echo(f"re-protected {fingerprint} ({factor} work factor)")
    for fingerprint in done.marked:
        click.echo(f"stored the self-signatures of {fingerprint} as checked")

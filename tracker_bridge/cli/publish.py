"""The publishing commands: policy page, security.txt and credits, from the same mappings/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import click

from tracker_bridge.cli.common import Invocation

if TYPE_CHECKING:
    from tracker_bridge.app import Bridge
    from tracker_bridge.cli.common import Invocation

__all__ = ["credits_command", "policy_command", "security_txt_command"]


def _bridge(invocation: Invocation) -> Bridge:
    """The installation, tolerating secrets not provided yet (tracker token right after init).

    Publishing needs the mappings, the bridge key and the store, never the tracker, so a
    missing tracker token must not stop it; signing checks its passphrase itself.
    """
    return invocation.bridge(missing_secrets=[])


def _write(text: str, output: Path | None, what: str) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        msg = f"--output {output}: cannot write the {what}: {err}"
        raise click.ClickException(msg) from err
    click.echo(f"wrote {output}", err=True)


_OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to FILE instead of standard output.",
)


@click.command("policy")
@click.option(
    "--lang", "language", type=click.Choice(["en", "nl"]), default="en", show_default=True
)
@click.option(
    "--format", "page_format", type=click.Choice(["md", "html"]), default="md", show_default=True
)
@_OUTPUT
@click.pass_obj
def policy_command(
    invocation: Invocation, language: str, page_format: str, output: Path | None
) -> None:
    """Render the disclosure policy page from the numbers the bridge enforces."""
    from tracker_bridge.domain.researcher import Language
    from tracker_bridge.key_management import published_fingerprint
    from tracker_bridge.policy import render_policy

    bridge = _bridge(invocation)
    try:
        page = render_policy(
            bridge.mappings,
            Language(language),
            cast("Literal['md', 'html']", page_format),
            fingerprint=published_fingerprint(bridge),
        )
    finally:
        bridge.close()
    _write(page, output, "policy page")


@click.command("security-txt")
@_OUTPUT
@click.option("--sign", is_flag=True, help="Clear-sign it with the bridge key (RFC 9116 2.3).")
@click.pass_obj
def security_txt_command(invocation: Invocation, output: Path | None, sign: bool) -> None:
    """Write an RFC 9116 security.txt; Expires is security_txt_days (at most 365) ahead."""
    from tracker_bridge.key_management import sign_security_txt
    from tracker_bridge.security_txt import build_security_txt, render_security_txt

    bridge = _bridge(invocation)
    try:
        program = bridge.mappings.program
        fields = build_security_txt(program, bridge.clock.now())
        for note in fields.missing_recommended(signed=sign):
            click.echo(f"warning: {note}", err=True)
        text = render_security_txt(fields, program.name)
        if sign:
            text = sign_security_txt(bridge, text, fields.expires)
    finally:
        bridge.close()
    _write(text, output, "security.txt")


@click.command("credits")
@click.option(
    "--format",
    "credits_format",
    type=click.Choice(["md", "html", "json"]),
    default="md",
    show_default=True,
)
@click.option(
    "--lang", "language", type=click.Choice(["en", "nl"]), default="en", show_default=True
)
@_OUTPUT
@click.pass_obj
def credits_command(
    invocation: Invocation, credits_format: str, language: str, output: Path | None
) -> None:
    """List researchers who asked for credit, for resolved and published reports."""
    from tracker_bridge.credits import collect_credits, render_credits
    from tracker_bridge.domain.researcher import Language

    bridge = _bridge(invocation)
    try:
        found = collect_credits(bridge.store().unit_of_work)
    finally:
        bridge.close()
    page = render_credits(
        found,
        cast("Literal['md', 'html', 'json']", credits_format),
        organisation=bridge.mappings.program.name,
        language=Language(language),
    )
    _write(page, output, "credits page")

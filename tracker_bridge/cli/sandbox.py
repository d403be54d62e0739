"""Plugins' ``tracker_bridge.sandboxes`` commands, built on tracker_bridge.testing.sandbox.cli."""

from __future__ import annotations

import click

__all__ = ["sandbox"]


class SandboxGroup(click.Group):
    """Subcommands come from installed plugins (entry-point group tracker_bridge.sandboxes)."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click.Group's signature
        """The installed sandboxes."""
        from tracker_bridge.plugins import sandbox_kinds

        return sandbox_kinds()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002 - click.Group's signature
        """The sandbox command a plugin registered under ``cmd_name``."""
        from tracker_bridge.plugins import load_sandbox_command

        command = load_sandbox_command(cmd_name)
        return command if isinstance(command, click.Command) else None


@click.group(cls=SandboxGroup)
def sandbox() -> None:
    """Serve a tracker sandbox on loopback (for tests, the demo and trying things out)."""

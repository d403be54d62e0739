"""Finds tracker plugins and their sandboxes through entry points; the core never imports a plugin."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from tracker_bridge.errors import ConfigurationError

TRACKERS_GROUP = "tracker_bridge.trackers"
SANDBOXES_GROUP = "tracker_bridge.sandboxes"
DEMO_SANDBOXES_GROUP = "tracker_bridge.demo_sandboxes"


def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def load_tracker_plugin(kind: str) -> Any:
    """The plugin class registered as ``kind``; ConfigurationError lists what is installed."""
    found = _entry_points(TRACKERS_GROUP)
    if kind not in found:
        installed = ", ".join(sorted(found)) or "none"
        msg = (
            f"tracker.kind = {kind!r}: no such tracker plugin is installed (installed: {installed}); "
            f"install the distribution tracker-bridge-{kind}"
        )
        raise ConfigurationError(msg)
    try:
        plugin = found[kind].load()
    except Exception as err:  # a broken plugin must not take the whole CLI down
        msg = f"tracker plugin {kind!r} failed to load: {err}"
        raise ConfigurationError(msg) from err
    for attribute in ("kind", "Settings", "from_settings"):
        if not hasattr(plugin, attribute):
            msg = (
                f"tracker plugin {kind!r} ({found[kind].value}) lacks {attribute!r}; "
                "see the plugin contract in the README"
            )
            raise ConfigurationError(msg)
    return plugin


def sandbox_kinds() -> list[str]:
    """Names of installed tracker sandboxes."""
    return sorted(_entry_points(SANDBOXES_GROUP))


def load_sandbox_command(kind: str) -> Any:
    """The click command that serves the ``kind`` sandbox, or None if none is installed."""
    found = _entry_points(SANDBOXES_GROUP)
    return found[kind].load() if kind in found else None


def load_demo_sandbox_factory(kind: str) -> Any:
    """The ``kind`` plugin's demo sandbox factory (``directory -> TrackerSandbox``).

    Raises:
        ConfigurationError: no installed distribution registers ``kind`` in the
            ``tracker_bridge.demo_sandboxes`` group; the message names the distribution to install
            (``tracker-bridge-gitlab``, ``tracker-bridge-jira``).
    """
    found = _entry_points(DEMO_SANDBOXES_GROUP)
    if kind not in found:
        installed = ", ".join(sorted(found)) or "none"
        msg = (
            f"demo --tracker {kind}: no sandbox for tracker {kind!r} is installed "
            f"(installed: {installed}); install the distribution tracker-bridge-{kind}"
        )
        raise ConfigurationError(msg)
    return found[kind].load()

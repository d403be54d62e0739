"""The tracker-bridge command line: thin commands, one module per command group.

Each command parses its options, asks ``app.Bridge`` for the wired parts, calls a service or a
small module named for what it decides, and prints. ``root.main`` is the ``tracker-bridge``
entry point; ``common`` holds what every command shares (exit codes, printing).
"""

from tracker_bridge.cli.root import main

__all__ = ["main"]

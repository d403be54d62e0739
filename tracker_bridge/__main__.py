"""`python -m tracker_bridge` runs the command line, like the `tracker-bridge` script."""

from tracker_bridge.cli import main

main()

"""The crash harness's entry point: the ``tracker-bridge`` command line with checkpoint proxies.

``python -m tracker_bridge._testsupport.crash_run --config FILE run --json`` behaves exactly as
``python -m tracker_bridge ...``, except that the composition root wraps the tracker, the store,
the mail sources and the SMTP transport with ``failpoints`` proxies (``app.PartWrappers``).
With ``TRACKER_BRIDGE_TEST_CRASH_AT=N`` the process kills itself at checkpoint N; with
``TRACKER_BRIDGE_TEST_CRASH_TRACE=path`` it appends each checkpoint's name to ``path``.
This is the documented hook for ``tests/reliability``: production code never reads those
variables.
"""

from __future__ import annotations

from tracker_bridge._testsupport.failpoints import crash_wrappers
from tracker_bridge.cli import main


def run() -> None:
    """Run the command line on ``sys.argv`` with the crash harness's wrappers."""
    main.main(prog_name="tracker-bridge", obj=crash_wrappers())


if __name__ == "__main__":
    run()

"""Public kit for plugin authors: the Tracker contract suite, a fake tracker, a clock and payloads.

The contract suite is ``tracker_bridge.testing.contract`` (it imports pytest); our own test support
lives in the private ``tracker_bridge._testsupport`` and the demo in ``tracker_bridge.demo``.
"""

from tracker_bridge.testing.clock import FakeClock
from tracker_bridge.testing.fake_tracker import FakeTracker
from tracker_bridge.testing.payloads import CANARY, INJECTION_PAYLOADS

__all__ = ["CANARY", "INJECTION_PAYLOADS", "FakeClock", "FakeTracker"]

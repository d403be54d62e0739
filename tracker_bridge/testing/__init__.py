"""Public kit for plugin authors and our own tests: the Tracker contract suite and fakes."""

from tracker_bridge.testing.clock import FakeClock
from tracker_bridge.testing.fake_tracker import FakeTracker
from tracker_bridge.testing.payloads import CANARY, INJECTION_PAYLOADS

__all__ = ["CANARY", "INJECTION_PAYLOADS", "FakeClock", "FakeTracker"]

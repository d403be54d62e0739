"""Support for our own tests and the demo; not part of the public plugin kit (``tracker_bridge.testing``)."""

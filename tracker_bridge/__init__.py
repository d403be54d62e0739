"""tracker-bridge: coordinated vulnerability disclosure inside the issue tracker you already use."""

__version__ = "0.1.0"

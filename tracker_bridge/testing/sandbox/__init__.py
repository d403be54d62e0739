"""HTTP plumbing for tracker sandboxes: loopback server, faults, request log, clock, CLI and demo glue.

A plugin author writing a sandbox for another tracker (YouTrack, Redmine ...) supplies an
:class:`~tracker_bridge.testing.sandbox.loopback.SandboxApp` that answers one request in that
tracker's shapes; this package serves it on loopback, injects faults, logs requests, keeps a
controllable clock, and turns it into a ``tracker-bridge sandbox`` command.
"""

from tracker_bridge.testing.sandbox.clock import SandboxClock
from tracker_bridge.testing.sandbox.faults import Fault, FaultSchedule, answer_with_fault
from tracker_bridge.testing.sandbox.loopback import (
    Answer,
    SandboxApp,
    SandboxRequest,
    SandboxServer,
    ServedSandbox,
)
from tracker_bridge.testing.sandbox.request_log import LoggedRequest, RequestLog

__all__ = [
    "Answer",
    "Fault",
    "FaultSchedule",
    "LoggedRequest",
    "RequestLog",
    "SandboxApp",
    "SandboxClock",
    "SandboxRequest",
    "SandboxServer",
    "ServedSandbox",
    "answer_with_fault",
]

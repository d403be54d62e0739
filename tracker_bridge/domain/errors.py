"""Errors raised by domain rules; tracker_bridge.errors places them in the one exception tree."""


class DomainError(ValueError):
    """A domain rule refused an operation; the message names what and why."""


class TransitionNotAllowed(DomainError):
    """A lifecycle transition the policy does not allow."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"transition from {source!r} to {target!r} is not allowed")
        self.source = source
        self.target = target


class InvalidReportId(DomainError):
    """A string that is not a report id such as CVD-2026-0007."""


class InvalidSeverity(DomainError):
    """A severity name, score or CVSS vector that cannot be read."""

"""Errors raised by domain rules; tracker_bridge.errors places them in the one exception tree."""


class DomainError(ValueError):
    """A domain rule refused an operation; the message names what and why."""


class TransitionNotAllowed(DomainError):
    """A lifecycle transition the policy does not allow (the one transition error).

    Skippable (tracker_bridge.errors.SKIPPABLE): a tracker move that maps to it is recorded
    as refused, not applied, and the other reports go on. ``report_id`` names the report
    when the caller knows it.
    """

    def __init__(self, source: str, target: str, *, report_id: str | None = None) -> None:
        where = f"{report_id}: " if report_id else ""
        super().__init__(f"{where}transition from {source!r} to {target!r} is not allowed")
        self.source = source
        self.target = target
        self.report_id = report_id


class InvalidReportId(DomainError):
    """A string that is not a report id such as CVD-2026-0007."""


class InvalidSeverity(DomainError):
    """A severity name, score or CVSS vector that cannot be read."""

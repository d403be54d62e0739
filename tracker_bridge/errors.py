"""The one exception tree, grouped by what the caller should do: stop, retry later, or skip the item.

- ``FatalError``: configuration or a broken promise (confidentiality); stop, a person must act.
- ``RetriableError``: the outside world is unavailable for now; end the pass, mark nothing
  done, the next pass resumes.
- ``SkippableError``: this one item cannot be handled; record why (quarantine, refused
  transition) and go on with the others.

Vendor errors are translated into these once, at the adapter seam, with ``raise ... from err``.
Messages say what was wrong and where, and never carry report text, tokens or passphrases.
"""

from __future__ import annotations

from tracker_bridge.domain.errors import (
    DomainError,
    InvalidReportId,
    InvalidSeverity,
    TransitionNotAllowed,
)

__all__ = [
    "BridgeError",
    "ConfidentialityError",
    "ConfigurationError",
    "DomainError",
    "FatalError",
    "ForeignIssueError",
    "InvalidReportId",
    "InvalidSeverity",
    "LifecycleViolation",
    "MailRejected",
    "MailUnavailable",
    "NotFoundError",
    "QuarantineError",
    "RetriableError",
    "SkippableError",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "TrackerAuthError",
    "TrackerError",
    "TrackerUnavailable",
    "TransitionNotAllowed",
]


class BridgeError(Exception):
    """Base of every error tracker-bridge raises on purpose."""


class FatalError(BridgeError):
    """Stop: a person has to change configuration, credentials or the tracker setup."""


class RetriableError(BridgeError):
    """Temporary: end the pass without marking anything done; the next pass retries."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SkippableError(BridgeError):
    """This item only: record the reason and continue with the others."""


class ConfigurationError(FatalError):
    """Configuration or mappings are invalid; the message names the file, line or key."""


class ConfidentialityError(FatalError):
    """The tracker could not prove an issue is confidential, so no report text was written."""


class ForeignIssueError(FatalError):
    """An issue carries the report's marker but another store (or none) made it: never adopted.

    A fresh store restarting report ids must not take over, relabel and mail from the issues
    of the store before it; a person decides which store the issue belongs to.
    """

    @staticmethod
    def advice(report_id: str, marker_label: str, theirs: str | None, ours: str) -> str:
        """What the operator does, for the end of the message (labels spelled as the tracker's).

        The report keeps its id: its acknowledgement may already have reached the researcher,
        whose replies quote the id, so a new id would split the thread. ``theirs``/``ours``
        are the full store labels (``cvd-store::<id>``); ``theirs`` is None when the issue
        carries none.
        """
        swap = (
            f"add the label {ours}" if theirs is None else f"replace its label {theirs} by {ours}"
        )
        return (
            f"{report_id} keeps its id (its acknowledgement may already have been mailed). If "
            f"that issue is this store's, {swap}; if it belongs to a retired store, remove its "
            f"label {marker_label} (note the old id in a comment). The next pass then opens "
            f"{report_id}. Two live stores must not share one project."
        )


class TrackerError(BridgeError):
    """Base for tracker failures that are neither retriable nor fatal by nature."""


class TrackerAuthError(FatalError):
    """The tracker refused our credentials or their permissions are insufficient."""


class TrackerUnavailable(RetriableError):
    """The tracker rate-limited us, answered 5xx or timed out, after bounded retries."""


class NotFoundError(SkippableError):
    """A report, issue or researcher that was named does not exist."""


class QuarantineError(SkippableError):
    """A message cannot become a report or a reply; it is kept aside with this reason."""


class LifecycleViolation(SkippableError):
    """A tracker change maps to a lifecycle move the policy does not allow; recorded, not applied."""

    def __init__(self, report_id: str, source: str, target: str) -> None:
        super().__init__(
            f"{report_id}: tracker moved the report from {source!r} to {target!r}, "
            "which the lifecycle does not allow; not applied"
        )
        self.report_id = report_id
        self.source = source
        self.target = target


class StoreBusy(RetriableError):
    """Another worker holds the lock this step needs."""


class StoreError(FatalError):
    """The database refused an operation for a reason a person has to look at."""


class StoreUnavailable(RetriableError):
    """The database server cannot be reached right now; the next pass retries."""


class MailUnavailable(RetriableError):
    """The SMTP server is down or answered 4xx; the outbox row stays pending."""


class MailRejected(SkippableError):
    """The SMTP server rejected a mail permanently (5xx on the recipient or the data)."""

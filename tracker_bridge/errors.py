"""The one exception tree, grouped by what the caller should do: stop, retry later, or skip the item.

Every error tracker-bridge raises on purpose belongs to exactly one of three groups
(``recovery_of`` names it):

- ``RetriableError``: the outside world is unavailable for now (a tracker's 429/5xx/timeout
  after bounded retries, the SMTP or database server down); end the pass or step, mark
  nothing done, the next pass resumes.
- ``SkippableError``: this one report, mail or message cannot be handled (a tracker's
  400/409/422 for it, an issue deleted by hand, a refused lifecycle move, an undecryptable
  message); set it aside with the reason, tell the team once, go on with the others. The
  domain's ``DomainError`` family (``TransitionNotAllowed``, ...) is skippable too: the
  domain may not import this module, so ``SKIPPABLE`` names both roots for ``except``.
- ``FatalError``: configuration, credentials or a broken promise (confidentiality); stop,
  exit 2, and say what to fix.

Vendor errors are translated into these once, at the adapter seam, with ``raise ... from err``.
Messages say what was wrong and where, and never carry report text, tokens or passphrases.
"""

from __future__ import annotations

from enum import StrEnum

from tracker_bridge.domain.errors import (
    DomainError,
    InvalidReportId,
    InvalidSeverity,
    TransitionNotAllowed,
)

__all__ = [
    "SKIPPABLE",
    "BridgeError",
    "ConfidentialityError",
    "ConfigurationError",
    "DomainError",
    "FatalError",
    "ForeignIssueError",
    "InvalidReportId",
    "InvalidSeverity",
    "MailRejected",
    "MailUnavailable",
    "NotFoundError",
    "QuarantineError",
    "Recovery",
    "RetriableError",
    "SkippableError",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "TrackerAuthError",
    "TrackerError",
    "TrackerRefused",
    "TrackerUnavailable",
    "TransitionNotAllowed",
    "recovery_of",
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

    @classmethod
    def not_adopted(
        cls,
        issue: str,
        report_id: str,
        *,
        marker_prefix: str,
        store_prefix: str,
        theirs: str | None,
        ours: str | None,
    ) -> ForeignIssueError:
        """The error for ``issue`` (e.g. ``GitLab issue <url> in project security/cvd``).

        The one text every tracker (the GitLab and Jira plugins, the fake tracker) raises.

        Args:
            issue: Which issue, as the tracker names it (its URL or key, and its project).
            report_id: The report whose marker the issue carries (``CVD-2026-0007``).
            marker_prefix: The tracker's report-marker label prefix (``cvd-report::``).
            store_prefix: The tracker's store label prefix (``cvd-store::``).
            theirs: The store id on the issue's store label; None when it carries none.
            ours: This store's id; None (or empty) when this store has none.
        """
        return cls(
            f"{issue} carries the marker of {report_id} but was opened by store "
            f"{theirs or '(none: no cvd-store label)'}, not by this store {ours or '(none)'}; "
            "it is not adopted. "
            + cls.advice(
                report_id,
                marker_prefix + report_id,
                theirs and store_prefix + theirs,
                store_prefix + (ours or "(none)"),
            )
        )

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
    """Base of tracker failures; each one raised is also retriable, skippable or fatal."""


class TrackerAuthError(TrackerError, FatalError):
    """The tracker refused our credentials or their permissions are insufficient (401/403)."""


class TrackerUnavailable(TrackerError, RetriableError):
    """The tracker rate-limited us, answered 5xx or timed out, after bounded retries."""


class TrackerRefused(TrackerError, SkippableError):
    """The tracker refused one write for one report (HTTP 400, 409 or 422).

    A label the project refuses, a field required on this project's screen, an issue
    locked by hand: only this report is set aside; the message names the fields, never
    the values sent.
    """


class NotFoundError(SkippableError):
    """A report, issue or researcher that was named does not exist (an issue deleted: 404)."""


class QuarantineError(SkippableError):
    """A message cannot become a report or a reply; it is kept aside with this reason."""


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


# For ``except``: the domain's errors sit outside this tree (the domain imports only the
# standard library) but are skippable like SkippableError.
SKIPPABLE: tuple[type[Exception], ...] = (SkippableError, DomainError)


class Recovery(StrEnum):
    """What the caller does about an error."""

    RETRY = "retriable"  # end the pass or step, nothing marked done
    SKIP = "skippable"  # set this item aside with the reason, go on
    STOP = "fatal"  # exit 2 with the fix


def recovery_of(err: BaseException) -> Recovery | None:
    """The group ``err`` belongs to; None for an error tracker-bridge did not raise on purpose."""
    if isinstance(err, RetriableError):
        return Recovery.RETRY
    if isinstance(err, SKIPPABLE):
        return Recovery.SKIP
    if isinstance(err, FatalError):
        return Recovery.STOP
    return None


class RecipientKeyMissing(SkippableError):
    """No usable OpenPGP key for the researcher and the program keeps this mail out of clear text.

    The outbox row is withheld, not dropped: it goes out encrypted once their key arrives.
    """

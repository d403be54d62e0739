"""Every error tracker-bridge raises on purpose belongs to exactly one recovery group."""

from __future__ import annotations

from tracker_bridge import errors
from tracker_bridge.errors import Recovery, recovery_of

BASES = {"BridgeError", "TrackerError"}  # never raised themselves


def raised_kinds() -> dict[str, type[Exception]]:
    """The exception classes errors.py exports, bases left out."""
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception) and name not in BASES
    }


def test_every_error_is_retriable_skippable_or_fatal() -> None:
    """No exported error falls outside the three groups, and none falls into two."""
    groups = (errors.RetriableError, errors.SKIPPABLE, errors.FatalError)
    outside = [
        name
        for name, kind in raised_kinds().items()
        if sum(issubclass(kind, group) for group in groups) != 1
    ]
    assert [] == outside


def test_tracker_errors_by_recovery() -> None:
    """A refused write and a deleted issue skip one report; an outage retries; a bad token stops."""
    assert {
        "TrackerRefused": Recovery.SKIP,
        "NotFoundError": Recovery.SKIP,
        "TransitionNotAllowed": Recovery.SKIP,
        "TrackerUnavailable": Recovery.RETRY,
        "TrackerAuthError": Recovery.STOP,
        "ValueError": None,
    } == {
        "TrackerRefused": recovery_of(errors.TrackerRefused("422 on labels")),
        "NotFoundError": recovery_of(errors.NotFoundError("issue 7: 404")),
        "TransitionNotAllowed": recovery_of(errors.TransitionNotAllowed("received", "published")),
        "TrackerUnavailable": recovery_of(errors.TrackerUnavailable("503")),
        "TrackerAuthError": recovery_of(errors.TrackerAuthError("401")),
        "ValueError": recovery_of(ValueError("not ours")),
    }


def test_there_is_one_transition_error() -> None:
    """The lifecycle's refusal is TransitionNotAllowed; the duplicate LifecycleViolation is gone."""
    assert (False, "CVD-2026-0001: transition from 'received' to 'published' is not allowed") == (
        hasattr(errors, "LifecycleViolation"),
        str(errors.TransitionNotAllowed("received", "published", report_id="CVD-2026-0001")),
    )


def test_a_foreign_issue_names_the_issue_both_stores_and_what_to_do() -> None:
    """ForeignIssueError.not_adopted: one text for every tracker, ending with the advice."""
    err = errors.ForeignIssueError.not_adopted(
        "GitLab issue https://gitlab.example/security/cvd/-/issues/7 in project security/cvd",
        "CVD-2026-0007",
        marker_prefix="cvd-report::",
        store_prefix="cvd-store::",
        theirs=None,
        ours="0ur5t0r3",
    )
    assert (
        "GitLab issue https://gitlab.example/security/cvd/-/issues/7 in project security/cvd "
        "carries the marker of CVD-2026-0007 but was opened by store (none: no cvd-store label), "
        "not by this store 0ur5t0r3; it is not adopted. "
        + errors.ForeignIssueError.advice(
            "CVD-2026-0007", "cvd-report::CVD-2026-0007", None, "cvd-store::0ur5t0r3"
        )
    ) == str(err)

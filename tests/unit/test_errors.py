"""Every error tracker-bridge raises on purpose belongs to exactly one recovery group."""

from __future__ import annotations

import tracker_bridge.errors as errors
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

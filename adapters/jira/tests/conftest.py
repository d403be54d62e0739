"""Fixtures for the Jira plugin tests: sandboxes in both flavours and plugins pointed at them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from tracker_bridge_jira import JiraSettings, JiraTracker
from tracker_bridge_jira.sandbox import JiraSandbox, start_sandbox

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FLAVORS = ["cloud", "datacenter"]


def settings_for(sandbox: JiraSandbox, **overrides: Any) -> JiraSettings:
    """Plugin settings for a sandbox: the right auth per flavour, no retry waits."""
    values: dict[str, Any] = {
        "url": sandbox.url,
        "project": "SEC",
        "token": sandbox.token,
        "security_level": "Security team",
        "comment_visibility": {"type": "role", "value": "Administrators"},
        "max_retries": 2,
        "retry_wait_seconds": 0,
        "search_lag_seconds": 1,
        "timeout": 5,
    }
    if sandbox.flavor == "cloud":
        values["email"] = sandbox.email
    values.update(overrides)
    return JiraSettings.model_validate(values)


@pytest.fixture(params=FLAVORS)
def sandbox(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    """A fresh sandbox per test, once per flavour."""
    running = start_sandbox(flavor=request.param)
    yield running
    running.stop()


@pytest.fixture
def make_tracker(sandbox: JiraSandbox) -> Callable[..., JiraTracker]:
    """Build a plugin for the sandbox with optional settings overrides."""

    def build(**overrides: Any) -> JiraTracker:
        return JiraTracker.from_settings(settings_for(sandbox, **overrides))

    return build

"""The Tracker contract suite against the GitLab plugin talking HTTP to the sandbox."""

from __future__ import annotations

import pytest

from tracker_bridge.testing.contract import TrackerContract, TrackerHarness


class TestGitLabTrackerContract(TrackerContract):
    """Every contract rule, with GitLab's scoped labels."""

    label_a = "severity::high"
    label_b = "severity::low"

    @pytest.fixture
    def harness(self, gitlab_harness: TrackerHarness) -> TrackerHarness:
        """The plugin, the sandbox and the team's hands."""
        return gitlab_harness

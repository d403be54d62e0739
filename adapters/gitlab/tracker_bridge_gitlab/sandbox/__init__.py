"""A GitLab REST API v4 on loopback for tests and the demo: quick actions run, faults on demand."""

from tracker_bridge_gitlab.sandbox.server import (
    Fault,
    GitLabSandbox,
    LoggedRequest,
    Team,
    start_sandbox,
)

__all__ = ["Fault", "GitLabSandbox", "LoggedRequest", "Team", "start_sandbox"]

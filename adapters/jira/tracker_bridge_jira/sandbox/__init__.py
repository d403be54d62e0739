"""A Jira REST API on loopback (Cloud and Data Center flavours) for tests and the demo."""

from tracker_bridge_jira.sandbox.control import IssueView, JiraSandbox, SandboxTeam, start_sandbox

__all__ = ["IssueView", "JiraSandbox", "SandboxTeam", "start_sandbox"]

"""A jira REST API on loopback for tests and the demo (built in the jira issue)."""

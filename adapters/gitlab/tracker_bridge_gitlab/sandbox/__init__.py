"""A gitlab REST API on loopback for tests and the demo (built in the gitlab issue)."""

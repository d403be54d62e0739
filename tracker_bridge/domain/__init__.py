"""The CVD domain in plain Python: reports, lifecycle, severity, deadlines, researchers (stdlib only)."""

"""Private support for tracker-bridge's own tests and benchmarks; not for plugin authors.

Dovecot starter, key helpers, fakes of the ports, the memory store, the PostgreSQL probe and
``unavailable`` (skip locally, fail under CI). Plugin authors use ``tracker_bridge.testing``.
"""

"""Unit tests of retention, erasure, access export and the audit log, with fakes."""

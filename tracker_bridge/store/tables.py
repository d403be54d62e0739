"""The store's tables as SQLAlchemy Core metadata; the migrations create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tracker_bridge.store.types import UTCDateTime

__all__ = [
    "attachments",
    "audit_log",
    "message_ids",
    "metadata",
    "outbox",
    "programs",
    "raw_messages",
    "report_contents",
    "report_events",
    "report_history",
    "report_id_counters",
    "reports",
    "researchers",
    "sync_bookmarks",
    "tracker_links",
]

# Named constraints keep migrations portable and let PostgreSQL errors name what was violated.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

REPORT_ID = String(40)
MESSAGE_ID = String(998)  # RFC 5322 line length: the longest Message-ID a header can carry

programs = Table(
    "programs",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

researchers = Table(
    "researchers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    # Lower-cased address: the unique key, so Alice@Example.org and alice@example.org are one person.
    Column("email_key", String(320), nullable=False, unique=True),
    Column("display_name", Text),
    Column("pseudonym", Text),
    Column("fingerprint", String(64)),
    Column("language", String(8), nullable=False),
    Column("credit_wish", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Set when the contact details were erased (retention or a request to be forgotten).
    Column("removed_at", UTCDateTime()),
)

# Keyed by prefix and year, not program: report ids are unique store-wide, so two programs
# that share a prefix share its sequence instead of handing out the same id twice.
report_id_counters = Table(
    "report_id_counters",
    metadata,
    Column("prefix", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last_sequence", Integer, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("report_id", REPORT_ID, primary_key=True),
    Column("program", String(100), ForeignKey("programs.name"), nullable=False),
    Column("state", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("cvss_vector", Text),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("expected_fix_date", UTCDateTime()),
    Column("last_researcher_update_at", UTCDateTime()),
    Column("researcher_id", Integer, ForeignKey("researchers.id", ondelete="SET NULL")),
    # The next moment anything about the report changes by time alone (a deadline label, a
    # missed-deadline note, a progress update); NULL when nothing will until the report does.
    # A quiet sync pass reads only the rows this index finds at or before now.
    Column("next_due_at", UTCDateTime()),
    Index(None, "state", "received_at"),
    Index(None, "next_due_at"),
)

report_history = Table(
    "report_history",
    metadata,
    Column(
        "report_id",
        REPORT_ID,
        ForeignKey("reports.report_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("source", String(32), nullable=False),
    Column("target", String(32), nullable=False),
)

report_contents = Table(
    "report_contents",
    metadata,
    Column(
        "report_id",
        REPORT_ID,
        ForeignKey("reports.report_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("encrypted", Boolean, nullable=False),
    Column("signature_status", String(16), nullable=False),
    Column("signature_fingerprint", String(64)),
    Column("unencrypted_parts", JSON, nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column(
        "report_id",
        REPORT_ID,
        ForeignKey("reports.report_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("filename", Text, nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

raw_messages = Table(
    "raw_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", MESSAGE_ID, nullable=False),
    Column("digest", String(128), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("encrypted_raw", LargeBinary, nullable=False),
    Column("report_id", REPORT_ID, ForeignKey("reports.report_id", ondelete="SET NULL")),
    Column("source", String(255), nullable=False),
    # SHA-256 of the encrypted data packet (intake.provenance): a replayed ciphertext matches.
    Column("ciphertext_digest", String(64)),
    UniqueConstraint("message_id", "digest"),
    Index(None, "ciphertext_digest", "received_at"),
)

message_ids = Table(
    "message_ids",
    metadata,
    Column("message_id", MESSAGE_ID, primary_key=True),
    Column(
        "report_id",
        REPORT_ID,
        ForeignKey("reports.report_id", ondelete="CASCADE"),
        nullable=False,
    ),
    # "inbound" (the researcher's Message-ID) or "outbound" (one we generated).
    Column("direction", String(16), nullable=False),
)

tracker_links = Table(
    "tracker_links",
    metadata,
    Column(
        "report_id",
        REPORT_ID,
        ForeignKey("reports.report_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tracker", String(32), nullable=False),
    Column("project", String(255), nullable=False),
    Column("key", String(255), nullable=False),
    Column("url", Text, nullable=False),
    Column("labels", JSON, nullable=False),
    UniqueConstraint("tracker", "project", "key"),
)

# Facts about the installation itself: ``store_id`` (made with the store, copied by ``db copy``)
# and tracker health the exit codes read (``tracker_unavailable_since``).
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sync_bookmarks = Table(
    "sync_bookmarks",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("value", UTCDateTime(), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", String(64), nullable=False, unique=True),
    Column(
        "report_id",
        REPORT_ID,
        ForeignKey("reports.report_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("recipient", String(320), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("template", String(255), nullable=False),
    Column("language", String(8), nullable=False),
    Column("params", JSON, nullable=False),
    Column("message_id", MESSAGE_ID, nullable=False),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime()),
    Column("sent_at", UTCDateTime()),
    Column("last_error", Text),
    Index(None, "status", "next_attempt_at"),
)

report_events = Table(
    "report_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "report_id",
        REPORT_ID,
        ForeignKey("reports.report_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    # NULLs are distinct in a unique constraint on both backends: only keyed events dedupe.
    Column("dedupe_key", String(255), unique=True),
    # Purges owe a note on the issue: found by kind, not by reading every report's events.
    Index(None, "kind", "report_id"),
)

# Append-only: the repository offers no update or delete. No foreign key, so an entry outlives
# anything it mentions; it never holds content, addresses or secrets.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("report_id", REPORT_ID),
    Column("actor", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Index(None, "report_id", "at"),
)

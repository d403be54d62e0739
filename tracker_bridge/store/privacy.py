"""The audit log and the retention/erasure queries over SQLAlchemy Core."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Table, and_, case, delete, exists, func, select, tuple_

from tracker_bridge.domain.researcher import CreditWish
from tracker_bridge.ports.mail import OutboxStatus
from tracker_bridge.ports.privacy import (
    PURGE_NOTE_KINDS,
    AuditEntry,
    ContactHolder,
    ErasedContact,
    HeldContent,
    OwedNote,
    ResearcherRecord,
)
from tracker_bridge.store import tables as t
from tracker_bridge.store.repositories import (
    StoreContext,
    _researcher_from,
    stored_message_from,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from tracker_bridge.ports.store import StoredMessage

__all__ = [
    "REMOVED_EVENT_DETAIL",
    "SqlAuditRepository",
    "SqlPrivacyRepository",
    "credit_name_kept",
    "scrub",
]

REMOVED_EVENT_DETAIL = "(removed with the researcher's contact details)"
"""What key events say once the researcher's contact details are erased."""

KEY_EVENTS = frozenset({"key_learned", "different_key_offered"})
"""Events whose detail is the researcher's key material."""

_REMOVED_KEY = "removed:"


def scrub(text: str | None, secrets: Sequence[str | None]) -> str | None:
    """``text`` with every one of ``secrets`` (any letter case) replaced by a neutral word."""
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = re.sub(re.escape(secret), "(removed)", text, flags=re.IGNORECASE)
    return text


def credit_name_kept(display_name: str | None, pseudonym: str | None, wish: str) -> str | None:
    """The credit name that survives erasure: only with consent to be credited by name."""
    if wish == CreditWish.NAME.value:
        return display_name or pseudonym
    if wish == CreditWish.PSEUDONYM.value:
        return pseudonym or display_name
    return None


def keep_ciphertext_digests(connection: Connection, report_id: str) -> None:
    """Copy the ciphertext digests of the report's stored mails to ``seen_ciphertexts``.

    Called before those mails are deleted: the digest holds no personal data, and a replay of
    the ciphertext must still be recognised and point to this report (issue 13, item 6).
    """
    messages, seen = t.raw_messages, t.seen_ciphertexts
    rows = connection.execute(
        select(messages.c.ciphertext_digest, func.min(messages.c.received_at))
        .where(and_(messages.c.report_id == report_id, messages.c.ciphertext_digest.is_not(None)))
        .group_by(messages.c.ciphertext_digest)
    ).all()
    for digest, received_at in rows:
        known = connection.execute(
            select(seen.c.id).where(
                and_(seen.c.ciphertext_digest == digest, seen.c.report_id == report_id)
            )
        ).first()
        if known is None:
            connection.execute(
                seen.insert().values(
                    ciphertext_digest=digest, report_id=report_id, received_at=received_at
                )
            )


# ---------------------------------------------------------------------------- audit


# Built once: every mail and message records an entry (see repositories._PREBUILT for why).
_INSERT_AUDIT = t.audit_log.insert()


class SqlAuditRepository:
    """The append-only audit log; there is deliberately no update or delete."""

    def __init__(self, context: StoreContext) -> None:
        self._context = context

    def record(self, entry: AuditEntry) -> None:
        """Append one entry."""
        self._context.connection.execute(
            _INSERT_AUDIT,
            {
                "at": entry.at,
                "report_id": entry.report_id,
                "actor": entry.actor,
                "action": entry.action,
                "outcome": entry.outcome,
                "detail": entry.detail,
            },
        )

    def entries(self, report_id: str | None = None) -> list[AuditEntry]:
        """Every entry (of one report when given), oldest first (insertion order among ties)."""
        log = t.audit_log
        statement = select(log).order_by(log.c.at, log.c.id)
        if report_id is not None:
            statement = statement.where(log.c.report_id == report_id)
        return [
            AuditEntry(
                at=row["at"],
                actor=row["actor"],
                action=row["action"],
                outcome=row["outcome"],
                report_id=row["report_id"],
                detail=row["detail"],
            )
            for row in self._context.connection.execute(statement).mappings()
        ]


# ---------------------------------------------------------------------------- privacy


class SqlPrivacyRepository:
    """Finds and deletes report content and researchers' personal data."""

    def __init__(self, context: StoreContext) -> None:
        self._context = context

    def held_content(self, report_id: str) -> HeldContent:
        """What purging the report's content would delete now (nothing is changed)."""
        connection = self._context.connection

        def count(table: Table, report_column: Column[str]) -> int:
            statement = select(func.count()).select_from(table).where(report_column == report_id)
            return int(connection.execute(statement).scalar_one())

        box = t.outbox
        outbox_rows = connection.execute(
            select(box.c.recipient, box.c.params).where(box.c.report_id == report_id)
        ).all()
        messages = connection.execute(
            select(t.raw_messages.c.message_id, t.raw_messages.c.digest)
            .where(t.raw_messages.c.report_id == report_id)
            .order_by(t.raw_messages.c.id)
        ).all()
        return HeldContent(
            report_id=report_id,
            contents=count(t.report_contents, t.report_contents.c.report_id),
            attachments=count(t.attachments, t.attachments.c.report_id),
            messages=len(messages),
            outbox_rows=sum(1 for recipient, params in outbox_rows if recipient or params),
            message_ids=tuple(str(m[0]) for m in messages),
            digests=tuple(str(m[1]) for m in messages),
        )

    def purge_content(self, report_id: str) -> HeldContent:
        """Delete text, attachments and stored mails of the report; strip its outbox rows."""
        held = self.held_content(report_id)
        if held.is_empty:
            return held
        connection = self._context.connection
        connection.execute(delete(t.attachments).where(t.attachments.c.report_id == report_id))
        connection.execute(
            delete(t.report_contents).where(t.report_contents.c.report_id == report_id)
        )
        keep_ciphertext_digests(connection, report_id)
        connection.execute(delete(t.raw_messages).where(t.raw_messages.c.report_id == report_id))
        self._strip_outbox(report_id, cancel_pending=True)
        return held

    def _strip_outbox(self, report_id: str, *, cancel_pending: bool) -> tuple[int, int]:
        box = t.outbox
        rows = self._context.connection.execute(
            select(box.c.id, box.c.recipient, box.c.status, box.c.last_error, box.c.params).where(
                box.c.report_id == report_id
            )
        ).all()
        stripped = cancelled = 0
        for row_id, recipient, status, last_error, params in rows:
            values: dict[str, object] = {}
            if recipient or params:
                values |= {"recipient": "", "params": {}}
                stripped += 1
            cleaned = scrub(last_error, [recipient])
            if cleaned != last_error:
                values["last_error"] = cleaned
            if cancel_pending and status in (
                OutboxStatus.PENDING.value,
                OutboxStatus.WITHHELD.value,
            ):
                values |= {
                    "status": OutboxStatus.CANCELLED.value,
                    "last_error": "the researcher's contact details are no longer held",
                }
                cancelled += 1
            if values:
                self._context.connection.execute(
                    box.update().where(box.c.id == row_id).values(**values)
                )
        return stripped, cancelled

    def unlinked_messages(self, received_before: datetime) -> list[StoredMessage]:
        """Stored mails that belong to no report, received before ``received_before``."""
        messages = t.raw_messages
        rows = self._context.connection.execute(
            select(messages)
            .where(and_(messages.c.report_id.is_(None), messages.c.received_at < received_before))
            .order_by(messages.c.received_at, messages.c.id)
        ).mappings()
        return [stored_message_from(row) for row in rows]

    def delete_messages(self, keys: Sequence[tuple[str, str]]) -> int:
        """Delete stored mails by (Message-ID, digest); how many were deleted."""
        if not keys:
            return 0
        messages = t.raw_messages
        result = self._context.connection.execute(
            delete(messages)
            .where(tuple_(messages.c.message_id, messages.c.digest).in_(list(keys)))
            .returning(messages.c.id)
        )
        return len(result.all())

    def messages_of(self, report_id: str) -> list[StoredMessage]:
        """The stored mails of one report, oldest first."""
        messages = t.raw_messages
        rows = self._context.connection.execute(
            select(messages)
            .where(messages.c.report_id == report_id)
            .order_by(messages.c.received_at, messages.c.id)
        ).mappings()
        return [stored_message_from(row) for row in rows]

    def contact_holders(self) -> list[ContactHolder]:
        """Every researcher whose contact details are held, with their reports (oldest first)."""
        people = t.researchers
        rows = self._context.connection.execute(
            select(people.c.id, t.reports.c.report_id)
            .join(t.reports, t.reports.c.researcher_id == people.c.id, isouter=True)
            .where(people.c.removed_at.is_(None))
            .order_by(people.c.id, t.reports.c.received_at, t.reports.c.report_id)
        ).all()
        found: dict[int, list[str]] = {}
        for researcher_id, report_id in rows:
            reports = found.setdefault(int(researcher_id), [])
            if report_id is not None:
                reports.append(str(report_id))
        return [ContactHolder(str(key), tuple(reports)) for key, reports in found.items()]

    def owed_notes(self) -> list[OwedNote]:
        """Purges and erasures of linked reports not yet noted on their issue (one query)."""
        events = t.report_events
        noted = events.alias("noted")
        what = case(
            *[(events.c.kind == kind, what) for kind, what in PURGE_NOTE_KINDS.items()],
            else_="",
        )
        first = func.min(events.c.at)
        rows = self._context.connection.execute(
            select(events.c.report_id, what, first)
            .join(t.reports, t.reports.c.report_id == events.c.report_id)
            .join(t.tracker_links, t.tracker_links.c.report_id == events.c.report_id)
            .where(events.c.kind.in_(sorted(PURGE_NOTE_KINDS)))
            .where(
                ~exists().where(
                    noted.c.kind == "purge_noted",
                    noted.c.report_id == events.c.report_id,
                    noted.c.detail == what,
                )
            )
            .group_by(events.c.report_id, what, t.reports.c.received_at)
            .order_by(t.reports.c.received_at, events.c.report_id, first, func.min(events.c.id))
        ).all()
        return [OwedNote(str(report_id), str(kind), at) for report_id, kind, at in rows]

    def researcher_key_for(self, email: str) -> str | None:
        """The store's key of the researcher with this address, or None."""
        found = self._context.connection.execute(
            select(t.researchers.c.id).where(t.researchers.c.email_key == email.strip().lower())
        ).scalar_one_or_none()
        return None if found is None else str(found)

    def researcher_record(self, researcher_key: str) -> ResearcherRecord | None:
        """The researcher under this key while their contact details are held, or None."""
        row = (
            self._context.connection.execute(
                select(t.researchers).where(
                    and_(
                        t.researchers.c.id == int(researcher_key),
                        t.researchers.c.removed_at.is_(None),
                    )
                )
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        return ResearcherRecord(
            researcher_key, _researcher_from(row), row["created_at"], row["updated_at"]
        )

    def erase_contact(self, researcher_key: str, *, keep_credit: bool = True) -> ErasedContact:
        """Erase the researcher's contact details everywhere the store holds them.

        ``keep_credit`` False (an erasure request) erases the consented credit name too.
        """
        connection = self._context.connection
        people = t.researchers
        # The row changes here, not through the researcher repository that remembers it.
        self._context.forget_researchers()
        row = (
            connection.execute(select(people).where(people.c.id == int(researcher_key)))
            .mappings()
            .one_or_none()
        )
        if row is None or row["removed_at"] is not None:
            return ErasedContact(researcher_key, ())
        report_ids = tuple(
            str(r)
            for r in connection.execute(
                select(t.reports.c.report_id)
                .where(t.reports.c.researcher_id == int(researcher_key))
                .order_by(t.reports.c.received_at, t.reports.c.report_id)
            ).scalars()
        )
        secrets = [row["email"], row["fingerprint"]]
        stripped = cancelled = 0
        for report_id in report_ids:
            s, c = self._strip_outbox(report_id, cancel_pending=True)
            stripped, cancelled = stripped + s, cancelled + c
        scrubbed = self._scrub_events(report_ids, secrets)
        if report_ids:
            connection.execute(
                t.report_contents.update()
                .where(t.report_contents.c.report_id.in_(report_ids))
                .values(signature_fingerprint=None)
            )
            # Their own Message-IDs can carry their address; ours (outbound) never do.
            connection.execute(
                delete(t.message_ids).where(
                    and_(
                        t.message_ids.c.report_id.in_(report_ids),
                        t.message_ids.c.direction == "inbound",
                    )
                )
            )
        connection.execute(
            people.update()
            .where(people.c.id == int(researcher_key))
            .values(
                email="",
                email_key=f"{_REMOVED_KEY}{researcher_key}",
                display_name=None,
                pseudonym=(
                    credit_name_kept(row["display_name"], row["pseudonym"], row["credit_wish"])
                    if keep_credit
                    else None
                ),
                credit_wish=row["credit_wish"] if keep_credit else CreditWish.NONE.value,
                fingerprint=None,
                updated_at=self._context.now(),
                removed_at=self._context.now(),
            )
        )
        return ErasedContact(researcher_key, report_ids, stripped, cancelled, scrubbed)

    def _scrub_events(self, report_ids: Sequence[str], secrets: Sequence[str | None]) -> int:
        if not report_ids:
            return 0
        events = t.report_events
        rows = self._context.connection.execute(
            select(events.c.id, events.c.kind, events.c.detail, events.c.dedupe_key).where(
                events.c.report_id.in_(report_ids)
            )
        ).all()
        changed = 0
        for event_id, kind, detail, dedupe_key in rows:
            new_detail = REMOVED_EVENT_DETAIL if kind in KEY_EVENTS else scrub(detail, secrets)
            new_key = dedupe_key
            if dedupe_key is not None and scrub(dedupe_key, secrets) != dedupe_key:
                # Unique per row: two keys that differed only in a secret must not collide.
                new_key = f"scrubbed:{event_id}"
            if (new_detail, new_key) != (detail, dedupe_key):
                self._context.connection.execute(
                    events.update()
                    .where(events.c.id == event_id)
                    .values(detail=new_detail, dedupe_key=new_key)
                )
                changed += 1
        return changed

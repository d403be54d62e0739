"""What ``tracker-bridge inspect`` says of one mail: the reader's view, settled against the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker_bridge.ports.intake import InboundMessage, Verdict

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Inspection:
    """One read mail and the verdict ingest would give it (nothing stored, nothing sent)."""

    inbound: InboundMessage
    verdict: Verdict
    reason: str

    def as_json(self) -> dict[str, Any]:
        """The inspection for ``--json``: headers, protection, body, parts and the verdict."""
        inbound = self.inbound
        return {
            "message_id": inbound.message_id,
            "from": inbound.sender,
            "subject": inbound.subject,
            "encrypted": inbound.encrypted,
            "decrypted": inbound.decrypted,
            "signature": {
                "status": inbound.signature.status.value,
                "fingerprint": inbound.signature.fingerprint,
            },
            "body": inbound.body,
            "unencrypted_parts": list(inbound.unencrypted_parts),
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": len(a.content),
                    "sha256": a.sha256,
                }
                for a in inbound.attachments
            ],
            "keys_found": list(inbound.keys_found),
            "auto_submitted": inbound.auto_submitted,
            "origin": {"verdict": inbound.origin.verdict.value, "reason": inbound.origin.reason},
            "verdict": self.verdict.value,
            "reason": self.reason,
        }


def inspect_message(
    inbound: InboundMessage, thread_of: Callable[[InboundMessage], str | None]
) -> Inspection:
    """The verdict ingest would give ``inbound``: a report candidate naming a stored report is a reply.

    The reader cannot tell a new report from a reply; ingest settles that from the store
    (``Ingest.thread_of``), and so does this, read-only.

    Args:
        inbound: The mail as the reader parsed, decrypted and verified it.
        thread_of: The report id a mail would be attached to, or None (also when there is
            no store to ask: inspect never creates one). Asked only for a report candidate.
    """
    if inbound.verdict is Verdict.REPORT:
        thread = thread_of(inbound)
        if thread is not None:
            return Inspection(inbound, Verdict.REPLY, f"reply to {thread}")
    return Inspection(inbound, inbound.verdict, inbound.reason)

"""Message-IDs as the reader, the mailbox archives and the store key and invent them."""

from __future__ import annotations

from tracker_bridge.domain.message_ids import (
    bracketed_message_id,
    is_synthetic,
    normalise_message_id,
    synthetic_message_id,
)


def test_normalising_drops_space_and_angle_brackets_only() -> None:
    """Space and angle brackets around an id do not change its key; a blank id is the empty key."""
    assert ["a@b", "a@b", "a@b", ""] == [
        normalise_message_id(value) for value in (" <a@b> ", "<a@b>", "a@b", "  ")
    ]


def test_a_synthetic_id_is_the_digest_at_the_reserved_domain_and_known_as_such() -> None:
    """The invented id is <digest@tracker-bridge.invalid>; a header's id is not synthetic."""
    made = synthetic_message_id("ab" * 32)
    assert (f"<{'ab' * 32}@tracker-bridge.invalid>", True, False) == (
        made,
        is_synthetic(made),
        is_synthetic("<m1@example.org>"),
    )


def test_bracketing_adds_angle_brackets_only_where_missing() -> None:
    """A header's msg-id is the id in angle brackets, never bracketed twice, space dropped."""
    assert ["<a@b>", "<a@b>", "<a@b>"] == [
        bracketed_message_id(value) for value in (" a@b ", "<a@b>", " <a@b> ")
    ]

"""Inline armour is found and repaired after HTML, &nbsp;, CRLF and trailing-blank damage."""

from __future__ import annotations

from tracker_bridge.intake.armour import find_message_blocks, html_to_text, normalise_text

CLEAN = (
    "-----BEGIN PGP MESSAGE-----\n\n"
    "hF4DQ6mtVvqAAAAABBBBBBBBCCCCCCCCDDDDDDDD\nEEEE\n=AbCd\n"
    "-----END PGP MESSAGE-----\n"
)


def test_clean_armour_is_kept() -> None:
    """Undamaged armour comes back with the same data and checksum."""
    (block,) = find_message_blocks(normalise_text(CLEAN))
    assert b"hF4DQ6mtVvqAAAAABBBBBBBBCCCCCCCCDDDDDDDDEEEE\n=AbCd\n" in block.armour


def test_html_nbsp_and_crlf_damage_is_repaired() -> None:
    """Armour inside HTML with &nbsp; and CRLF yields the same block as the clean one."""
    markup = CLEAN.replace("\n", "<br>\r\n").replace(
        "-----BEGIN PGP MESSAGE-----", "-----BEGIN&nbsp;PGP&nbsp;MESSAGE-----"
    )
    markup = markup.replace("-----END PGP MESSAGE-----", "-----END&nbsp;PGP&nbsp;MESSAGE-----")
    damaged = normalise_text(html_to_text("<div>" + markup + "</div>"))
    (block,) = find_message_blocks(damaged)
    (clean,) = find_message_blocks(normalise_text(CLEAN))
    assert clean.armour == block.armour


def test_charset_armour_header_is_reported() -> None:
    """A Charset armour header is returned for decoding the plaintext."""
    text = CLEAN.replace("\n\n", "\nCharset: ISO-8859-1\n\n", 1)
    (block,) = find_message_blocks(normalise_text(text))
    assert "ISO-8859-1" == block.charset

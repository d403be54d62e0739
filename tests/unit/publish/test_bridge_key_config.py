"""`key rotate` sets `[openpgp] fingerprint` in the operator's TOML, keeping everything else."""

from __future__ import annotations

import tomllib

from tracker_bridge.bridge_key import set_fingerprint_in_config

NEW = "51ABBB8AD2FB2E64EC307F2CC977C2A779F892CE"
STARTER = """# tracker-bridge configuration for Example.

[store]
url = "sqlite:///state/tracker-bridge.sqlite3"   # or postgresql://...

[openpgp]
home = "gnupg"                                  # the bridge's GNUPGHOME
passphrase_file = "secrets/openpgp-passphrase"

[tracker]
kind = "gitlab"
"""


def test_starter_config_gains_the_key_inside_its_openpgp_table() -> None:
    """Without a fingerprint line, the key goes into [openpgp]; every other line stays."""
    written = set_fingerprint_in_config(STARTER, NEW)
    parsed = tomllib.loads(written)
    assert (NEW, "gnupg", "gitlab", STARTER.splitlines()) == (
        parsed["openpgp"]["fingerprint"],
        parsed["openpgp"]["home"],
        parsed["tracker"]["kind"],
        [line for line in written.splitlines() if not line.startswith("fingerprint")],
    )


def test_an_existing_fingerprint_is_replaced_with_its_comment_kept() -> None:
    """A configured fingerprint (with spaces, as gpg prints it) is replaced; its comment stays."""
    text = STARTER.replace("[openpgp]\n", '[openpgp]\nfingerprint = "37C7 F7E9 AAD8"  # our key\n')
    written = set_fingerprint_in_config(text, NEW)
    assert f'fingerprint = "{NEW}"  # our key' in written.splitlines()


def test_a_config_without_openpgp_table_gets_one() -> None:
    """A config relying on defaults for [openpgp] gets the table appended."""
    written = set_fingerprint_in_config('[tracker]\nkind = "jira"', NEW)
    assert ({"fingerprint": NEW}, "jira") == (
        tomllib.loads(written)["openpgp"],
        tomllib.loads(written)["tracker"]["kind"],
    )

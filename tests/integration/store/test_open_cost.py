"""What opening a store costs a cron pass: no Alembic import when the schema is already at head."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory

from tracker_bridge.store import open_store
from tracker_bridge.store.migrate import alembic_config, head_revision

_IMPORTED_AFTER_OPEN = """
import sys
from tracker_bridge.store import open_store
open_store(sys.argv[1]).dispose()
print(sorted({name.split(".")[0] for name in sys.modules if name.startswith("alembic")}))
"""


def test_head_revision_is_the_head_alembic_finds() -> None:
    """The head read from the scripts without Alembic is the one Alembic's script directory names."""
    expected = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert expected == head_revision()


def test_opening_a_store_at_head_does_not_import_alembic(sql_url: str) -> None:
    """A fresh process opening a store already at head never imports Alembic."""
    open_store(sql_url).dispose()
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED_AFTER_OPEN, sql_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (0, "[]") == (done.returncode, done.stdout.strip()), done.stderr[-2000:]

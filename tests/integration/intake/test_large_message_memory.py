"""Peak memory of reading one large encrypted message, measured in a fresh process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from tests.integration.intake.conftest import BRIDGE_PASSPHRASE, IntakeKeys

if TYPE_CHECKING:
    from pathlib import Path

    from tracker_bridge.demo.mail_shapes import MailShapes

_MIB = 1024 * 1024

# Runs in a new interpreter, so nothing a test process allocated before counts. The kernel's
# high-water mark of resident memory (VmHWM) is reset to the current RSS just before reading.
_READ_ONE = """
import hashlib, sys
from pathlib import Path
from tracker_bridge.intake.reader import MailReader
from tracker_bridge.openpgp import GnuPG

def resident(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"no {field} in /proc/self/status")

raw = Path(sys.argv[1]).read_bytes()
reader = MailReader(GnuPG(sys.argv[2], sys.argv[3]))
Path("/proc/self/clear_refs").write_text("5")
before = resident("VmRSS")
message = reader.read(raw)
growth = resident("VmHWM") - before
print(message.verdict.value, [hashlib.sha256(a.content).hexdigest() for a in message.attachments])
print(growth / len(raw))
"""


def test_a_large_encrypted_message_peaks_under_five_times_its_size(
    intake_keys: IntakeKeys, rita_mail: MailShapes, tmp_path: Path
) -> None:
    """Reading an 8 MiB PGP/MIME message with a random attachment grows memory by under 5x."""
    attachment = os.urandom(6 * _MIB)
    raw = rita_mail.mailvelope("Crash dump", "The core file.", attachment).raw
    path = tmp_path / "large.eml"
    path.write_bytes(raw)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _READ_ONE,
            str(path),
            intake_keys.bridge.gnupghome,
            BRIDGE_PASSPHRASE,
        ],
        capture_output=True,
        check=False,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert 0 == done.returncode, done.stderr.decode(errors="replace")[-2000:]
    verdict_line, ratio_line = done.stdout.decode().splitlines()
    expected = f"report ['{hashlib.sha256(attachment).hexdigest()}']"
    assert (expected, True) == (verdict_line, float(ratio_line) < 5.0), ratio_line

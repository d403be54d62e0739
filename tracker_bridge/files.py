"""Owner-only folders and files for everything that holds report text, keys or secrets.

Modes are given at creation (``mkdir``/``open`` with 0700/0600) and set again with ``chmod``,
so neither a permissive umask (022, 002) nor a restrictive one changes what is created.
Existing folders and files are left as the operator made them; ``check`` reports any that
group or others can read (``readable_by_others``).
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "make_private_dir",
    "readable_by_others",
    "write_private_bytes",
]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents 0700; folders that exist are left alone."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another worker made it meanwhile
            folder.mkdir(PRIVATE_DIR_MODE)
            folder.chmod(PRIVATE_DIR_MODE)


def create_private_file(path: Path) -> bool:
    """Create an empty ``path`` 0600 unless it exists; True when this call created it."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(handle, PRIVATE_FILE_MODE)
    finally:
        os.close(handle)
    return True


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a new ``path`` created 0600 (fails if it exists), flushed to disk."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        os.fchmod(handle, PRIVATE_FILE_MODE)
        view = memoryview(data)
        while view:
            written = os.write(handle, view)
            view = view[written:]
        os.fsync(handle)
    finally:
        os.close(handle)


def readable_by_others(path: Path) -> str | None:
    """``"0644"``-style mode when group or others may read or enter ``path``, else None.

    A missing path is None: there is nothing to protect yet.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{mode:04o}"
    return None

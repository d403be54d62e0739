"""Encrypting and signing run gpg within a time limit and an output cap (real gpg, wrapped).

A gpgbinary wrapper script stands in for a gpg that hangs or floods its output: it passes every
call to the real gpg except the ones that carry its trigger argument (a researcher's
fingerprint, or a signing mode), which it replaces with ``sleep`` or ``yes``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracker_bridge.errors import FatalError, RetriableError
from tracker_bridge.openpgp import GnuPG

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .conftest import MailKeys

TIME_LIMIT = 0.5


@pytest.fixture
def wrapper_dir() -> Iterator[Path]:
    """A directory for gpgbinary wrapper scripts, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="tbw", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _wrapper(directory: Path, trigger: str, replacement: str) -> str:
    """A gpg that runs ``replacement`` instead when ``trigger`` is one of its arguments."""
    gpg = shutil.which("gpg")
    assert gpg is not None
    script = directory / f"gpg-{replacement.split(maxsplit=1)[0]}"
    script.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do\n'
        f'  if [ "$arg" = "{trigger}" ]; then exec {replacement}; fi\n'
        "done\n"
        f'exec {gpg} "$@"\n'
    )
    script.chmod(0o700)
    return str(script)


def _adapter(mail_keys: MailKeys, gpgbinary: str) -> GnuPG:
    return GnuPG(
        mail_keys.bridge.gnupghome,
        bridge_fingerprint=mail_keys.bridge.fingerprint,
        gpgbinary=gpgbinary,
        gpg_timeout=TIME_LIMIT,
    )


def test_encryption_to_a_key_that_hangs_gpg_is_stopped_at_the_time_limit(
    mail_keys: MailKeys, wrapper_dir: Path
) -> None:
    """A gpg hanging on a researcher's key is stopped at gpg_timeout; the adapter still works."""
    hangs = _wrapper(wrapper_dir, mail_keys.researcher.fingerprint, "sleep 60")
    openpgp = _adapter(mail_keys, hangs)
    started = time.monotonic()
    with pytest.raises(RetriableError, match=r"gpg took longer than 0\.5 s to encrypt; stopped"):
        openpgp.encrypt_and_sign(b"your report", [mail_keys.researcher.fingerprint])
    assert time.monotonic() - started < 10 * TIME_LIMIT
    assert b"raw mail" == openpgp.decrypt_own(openpgp.encrypt_to_self(b"raw mail"))


def test_a_signature_that_hangs_gpg_is_stopped_at_the_time_limit(
    mail_keys: MailKeys, wrapper_dir: Path
) -> None:
    """A detached signature whose gpg hangs raises RetriableError after gpg_timeout."""
    openpgp = _adapter(mail_keys, _wrapper(wrapper_dir, "--detach-sign", "sleep 60"))
    started = time.monotonic()
    with pytest.raises(RetriableError, match=r"gpg took longer than 0\.5 s to sign; stopped"):
        openpgp.sign_detached(b"payload")
    assert time.monotonic() - started < 10 * TIME_LIMIT


def test_encryption_output_past_the_cap_is_stopped(mail_keys: MailKeys, wrapper_dir: Path) -> None:
    """A gpg writing without end while encrypting is stopped at the output cap, not read on."""
    floods = _wrapper(wrapper_dir, mail_keys.researcher.fingerprint, "yes")
    openpgp = _adapter(mail_keys, floods)
    with pytest.raises(FatalError, match="gpg wrote more than 1048598 bytes to encrypt; stopped"):
        openpgp.encrypt_and_sign(b"your report", [mail_keys.researcher.fingerprint])


def test_gpg_gone_after_start_is_a_fatal_error(mail_keys: MailKeys, wrapper_dir: Path) -> None:
    """A gpg that can no longer be run fails a signature with FatalError naming the operation."""
    vanishing = _wrapper(wrapper_dir, "--never-given", "true")
    openpgp = _adapter(mail_keys, vanishing)
    Path(vanishing).unlink()
    with pytest.raises(FatalError, match="gpg could not be run to sign"):
        openpgp.clearsign(b"Contact: mailto:security@example.org\n")

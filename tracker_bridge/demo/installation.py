"""A complete throwaway installation: keys, a tracker sandbox, SMTP, a Maildir and its config.

The demo, the end-to-end tests and the benchmarks run the real pipeline against it. The tracker
sandbox comes from the plugin's ``tracker_bridge.demo_sandboxes`` entry point, so the core
never imports a plugin.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker_bridge.bridge_key import mark_fresh_keybox_checked
from tracker_bridge.demo.keys import (
    TestKey,
    export_public_key,
    generate_key,
    import_key,
    make_gnupghome,
    remove_gnupghome,
    stop_agent,
)
from tracker_bridge.demo.mail_shapes import MailShapes
from tracker_bridge.demo.smtp import MailCatcher
from tracker_bridge.files import make_private_dir, write_private_bytes
from tracker_bridge.plugins import load_demo_sandbox_factory

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracker_bridge.demo.sandbox import TrackerSandbox

PACKAGED_MAPPINGS = Path(__file__).resolve().parent.parent / "default_mappings"
BRIDGE_ADDRESS = "security@example.org"
BRIDGE_PASSPHRASE = "demo-bridge-passphrase"  # noqa: S105 (a throwaway demo key)
# The S2K count ``init`` protects its key with (gpg-agent's minimum, bridge_key.MINIMUM_S2K_COUNT):
# every decryption and signature of a test or the demo then costs milliseconds, not the ~100 ms
# of gpg-agent's calibration. The short passphrase stands for one a person chose (``key
# reprotect`` refuses the minimum for it), so the home's gpg-agent.conf keeps the calibration.
BRIDGE_S2K_COUNT = 65536


@dataclass(frozen=True)
class ResearcherSpec:
    """Who the demo's or a test's researcher is."""

    name: str
    address: str


DEFAULT_RESEARCHERS = (
    ResearcherSpec("Jan de Vries", "jan@onderzoek.example"),
    ResearcherSpec("Ada Lovelace", "ada@research.example"),
)


@dataclass
class Installation:
    """A running installation; ``stop()`` ends the sandbox and SMTP server."""

    directory: Path
    config_path: Path
    bridge: TestKey
    maildir: Path
    sandbox: TrackerSandbox
    smtp: MailCatcher
    researchers: dict[str, TestKey] = field(default_factory=dict)

    def shapes(self, address: str) -> MailShapes:
        """A message factory writing as the researcher with ``address`` to the bridge."""
        return MailShapes(self.researchers[address], self.bridge.fingerprint, BRIDGE_ADDRESS)

    def deliver(self, raw: bytes) -> Path:
        """Put a message into the Maildir's new/ as an MTA would (write to tmp/, then rename)."""
        name = f"{uuid.uuid4().hex}.tracker-bridge-demo"
        temporary = self.maildir / "tmp" / name
        temporary.write_bytes(raw)
        final = self.maildir / "new" / name
        temporary.rename(final)
        return final

    def stop(self, *, remove: bool = False) -> None:
        """Stop the sandbox, the SMTP server and the gpg-agents; ``remove`` deletes everything.

        The demo keeps its files for the user to look at; tests remove theirs.
        """
        self.sandbox.stop()
        self.smtp.stop()
        homes = [self.bridge.gnupghome, *(key.gnupghome for key in self.researchers.values())]
        for home in homes:
            if remove:
                remove_gnupghome(home)
            else:
                stop_agent(home)
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_sandbox(kind: str, directory: Path) -> TrackerSandbox:
    """Start the ``kind`` tracker's sandbox through the plugin's entry point.

    Raises:
        ConfigurationError: no installed plugin offers a ``kind`` sandbox (the message names
            the distribution to install, ``plugins.load_demo_sandbox_factory``).
    """
    sandbox: TrackerSandbox = load_demo_sandbox_factory(kind)(directory)
    return sandbox


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> None:
    """Write a TOML file from plain sections (``{"smtp": {...}, "tracker.gitlab": {...}}``)."""
    lines = ["# Written by tracker-bridge's installation kit (demo or tests)."]
    for section, values in sections.items():
        lines.append(f"\n[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def create_installation(
    directory: Path,
    tracker: str = "gitlab",
    researchers: Sequence[ResearcherSpec] = DEFAULT_RESEARCHERS,
    *,
    store_url: str | None = None,
) -> Installation:
    """Create keys, start the sandbox and SMTP, write mappings, a Maildir and the config.

    The tracker plugin's sandbox is looked up before anything is made, so a missing plugin
    leaves no keys or folders behind (aiosmtpd is checked when this module is imported).

    Raises:
        ConfigurationError: no installed plugin offers a ``tracker`` sandbox.
        FatalError: aiosmtpd is missing (raised on import, ``demo.smtp``).
    """
    sandbox_factory = load_demo_sandbox_factory(tracker)
    directory.mkdir(parents=True, exist_ok=True)
    # gpg-agent's socket path must stay short: homes live under /tmp, linked from the directory.
    bridge_home = make_gnupghome("tbb")
    bridge = generate_key(
        bridge_home,
        "Example security team",
        BRIDGE_ADDRESS,
        BRIDGE_PASSPHRASE,
        s2k_count=BRIDGE_S2K_COUNT,
    )
    # As `init` does: the home holds only this key, so its keybox is rebuilt with the key's
    # self-signatures stored as checked (no gpg run re-verifies them; `check` stays quiet).
    mark_fresh_keybox_checked(Path(bridge_home))
    _link(directory / "gnupg", Path(bridge_home))
    bridge_public = export_public_key(bridge_home, bridge.fingerprint)
    (directory / "bridge-public-key.asc").write_bytes(bridge_public)
    keys: dict[str, TestKey] = {}
    for spec in researchers:
        home = make_gnupghome("tbr")
        key = generate_key(home, spec.name, spec.address)
        import_key(home, bridge_public)
        _link(directory / "researchers" / spec.address, Path(home))
        keys[spec.address] = key
    secrets = directory / "secrets"
    # Owner-only whatever the umask, as `init` makes them (`check` warns about anything else).
    make_private_dir(secrets)
    (secrets / "openpgp-passphrase").unlink(missing_ok=True)  # a demo directory used again
    write_private_bytes(secrets / "openpgp-passphrase", (BRIDGE_PASSPHRASE + "\n").encode())
    maildir = directory / "mail"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    mappings = directory / "mappings"
    if not mappings.exists():
        shutil.copytree(PACKAGED_MAPPINGS, mappings)
    sandbox: TrackerSandbox = sandbox_factory(directory / "tracker")
    smtp = MailCatcher(directory / "delivered")
    config_path = directory / "tracker-bridge.toml"
    write_config(
        config_path,
        {
            "store": {"url": store_url or f"sqlite:///{directory / 'state' / 'bridge.sqlite3'}"},
            "openpgp": {
                "home": bridge_home,
                "passphrase_file": str(secrets / "openpgp-passphrase"),
            },
            "intake": {"maildir": str(maildir)},
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "security": "none",
                "from_address": BRIDGE_ADDRESS,
                "timeout": 10.0,
            },
            "tracker": {"kind": tracker},
            f"tracker.{tracker}": sandbox.tracker_section(),
            "mappings": {"dir": str(mappings)},
        },
    )
    return Installation(directory, config_path, bridge, maildir, sandbox, smtp, keys)


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target, target_is_directory=True)

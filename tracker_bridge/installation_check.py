"""What ``tracker-bridge check`` finds: configuration, mappings, files and keys; online, tracker and SMTP.

Problems fail the check (exit 2), warnings do not. Offline nothing leaves the machine; online
(``--online``) the tracker plugin and the SMTP server are asked what only they can answer.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker_bridge.app import (
    build_tracker,
    load_config,
    mappings_for,
    passphrase_setting,
    smtp_transport,
    tracker_settings,
)
from tracker_bridge.bridge_key import (
    MINIMUM_S2K_COUNT,
    passphrase_looks_generated,
    secret_keys,
    self_signatures_checked,
    unlock_problem,
)
from tracker_bridge.calendars import working_calendar
from tracker_bridge.clock import SystemClock
from tracker_bridge.config import MISSING_SECRET, LoadedConfig
from tracker_bridge.errors import ConfigurationError, MailUnavailable
from tracker_bridge.files import readable_by_others
from tracker_bridge.intake.sources import PROCESSED_FOLDER, QUARANTINE_FOLDER
from tracker_bridge.key_management import bridge_fingerprint, configured_passphrase
from tracker_bridge.mail.templates import validate_templates
from tracker_bridge.mappings import policy_warnings
from tracker_bridge.ports.tracker import TrackerAccessCheck
from tracker_bridge.security_txt import security_txt_warnings
from tracker_bridge.store.url import StoreUrl, parse_store_url

if TYPE_CHECKING:
    from tracker_bridge.ports.clock import Clock


@dataclass
class CheckReport:
    """What ``tracker-bridge check`` found: problems fail the check, warnings do not."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing blocks running the bridge."""
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """The report for ``--json``."""
        return {"ok": self.ok, "problems": self.problems, "warnings": self.warnings}


def check(
    config_path: Path | None, *, online: bool = False, clock: Clock | None = None
) -> CheckReport:
    """Validate configuration, mappings, plugin settings and local files without network.

    With ``online``, and only when nothing offline is wrong, also ask the outside world what
    only it can answer (see ``check_online``). ``clock`` says when "now" is (key and
    security.txt expiry); None is the system clock.
    """
    report = check_offline(config_path, clock or SystemClock())
    if online and report.ok:
        check_online(config_path, report)
    return report


def check_online(config_path: Path | None, report: CheckReport) -> None:
    """Add what only the network can tell to ``report``; nothing is written anywhere.

    The tracker plugin checks the token, the project and the permission to make issues
    confidential (``TrackerAccessCheck``); the SMTP server must accept the connection, TLS
    and the login; values ``init`` wrote as placeholders (``STARTER_PLACEHOLDERS``) and secrets
    not provided yet are problems here, because the bridge cannot work with them.
    """
    from tracker_bridge.starter import STARTER_PLACEHOLDERS

    missing: list[str] = []
    config = load_config(config_path, missing_secrets=missing)
    report.problems.extend(f"{m} (needed to check online)" for m in missing)
    mappings = mappings_for(config)
    settings = config.settings
    kind = settings.tracker.kind
    values: list[tuple[str, object]] = [
        ("program.name (mappings/program.toml)", mappings.program.name),
        ("program.contact (mappings/program.toml)", mappings.program.contact),
        ("smtp.from_address", settings.smtp.from_address),
        ("smtp.user", settings.smtp.user),
        ("smtp.host", settings.smtp.host),
        *((f"tracker.{kind}.{k}", v) for k, v in settings.tracker.plugin_section().items()),
    ]
    if settings.intake.imap is not None:
        values += [
            ("intake.imap.host", settings.intake.imap.host),
            ("intake.imap.user", settings.intake.imap.user),
        ]
    report.problems.extend(
        f"{where} = {value!r} is the placeholder `init` wrote; set your own"
        for where, value in values
        if isinstance(value, str) and value in STARTER_PLACEHOLDERS
    )
    if not missing:
        tracker = build_tracker(config)
        if isinstance(tracker, TrackerAccessCheck):
            report.problems.extend(tracker.check_access())
        else:
            report.warnings.append(f"tracker plugin {kind!r} offers no online check")
    transport = smtp_transport(settings)
    try:
        transport.connect().quit()
    except (ConfigurationError, MailUnavailable) as err:
        report.problems.append(f"smtp: {err}")


def check_offline(config_path: Path | None, clock: Clock) -> CheckReport:
    """Validate configuration, mappings, plugin settings and local files without network.

    ``clock`` says when "now" is for the expiry of the bridge keys and a published security.txt.
    """
    now = clock.now()
    report = CheckReport()
    missing: list[str] = []
    try:
        config = load_config(config_path, missing_secrets=missing)
    except ConfigurationError as err:
        report.problems.extend(str(err).splitlines())
        return report
    settings = config.settings
    report.warnings.extend(f"{m} (provide it before `run`)" for m in missing)
    try:
        mappings = mappings_for(config)
        program = mappings.program
        working_calendar(
            program.timezone,
            program.holidays_country,
            program.holidays_subdivision,
            load_now=True,
        )
        report.warnings.extend(policy_warnings(mappings))
        if program.security_txt_file:
            published = config.resolve(Path(program.security_txt_file))
            report.warnings.extend(security_txt_warnings(published, now))
        for line in validate_templates(
            mappings.templates_dir, [str(lang) for lang in program.languages]
        ):
            (report.warnings if ": warning: " in line else report.problems).append(line)
    except ConfigurationError as err:
        report.problems.extend(str(err).splitlines())
    try:
        tracker_settings(config)
    except ConfigurationError as err:
        report.problems.extend(str(err).splitlines())
    store_url: StoreUrl | None = None
    try:
        store_url = parse_store_url(settings.store.url, base=config.base_dir)
    except ConfigurationError as err:
        report.problems.append(str(err))
    home = config.resolve(settings.openpgp.home)
    if not home.is_dir():
        report.problems.append(
            f"openpgp.home: {home} does not exist (create the bridge key with `tracker-bridge init`)"
        )
    elif shutil.which("gpg") is None:
        report.problems.append("openpgp: the gpg program is not installed (Debian package gnupg)")
    elif not any(home.glob("private-keys-v1.d/*.key")):
        report.problems.append(f"openpgp.home: {home} holds no secret key for the bridge")
    else:
        check_bridge_keys(config, home, now, report)
    if settings.intake.maildir is not None:
        maildir = config.resolve(settings.intake.maildir)
        if not (maildir / "new").is_dir():
            report.problems.append(f"intake.maildir: {maildir} is not a Maildir (no new/ folder)")
    if settings.intake.trusted_authserv_id is None:
        report.warnings.append(
            "intake.trusted_authserv_id: not set; From addresses are believed as written "
            "(no Authentication-Results check: spoofed mail can open reports and pose as "
            "a researcher's reply)"
        )
    if settings.intake.maildir is None and settings.intake.imap is None:
        report.warnings.append(
            "intake: neither maildir nor imap is configured; only `ingest FILE` and stdin will read mail"
        )
    report.warnings.extend(permission_warnings(config, store_url))
    return report


def private_paths(config: LoadedConfig, store_url: StoreUrl | None) -> list[tuple[str, Path]]:
    """What holds report text, keys or secrets, each with the setting it comes from."""
    settings = config.settings
    paths: list[tuple[str, Path]] = []
    database = store_url.sqlite_path if store_url is not None else None
    if database is not None:
        paths.append(("store.url (state folder)", database.parent))
        paths += [
            ("store.url", Path(f"{database}{suffix}"))
            for suffix in ("", "-wal", "-shm", "-journal")
        ]
    secrets_dir = config.base_dir / "secrets"
    if secrets_dir.is_dir():
        paths.append(("secrets", secrets_dir))
        paths += [("secrets", entry) for entry in sorted(secrets_dir.iterdir()) if entry.is_file()]
    home = config.resolve(settings.openpgp.home)
    paths += [("openpgp.home", home), ("openpgp.home", home / "private-keys-v1.d")]
    if settings.intake.maildir is not None:
        maildir = config.resolve(settings.intake.maildir)
        for folder in (PROCESSED_FOLDER, QUARANTINE_FOLDER):
            paths.append(("intake.maildir", maildir / folder))
    return paths


def permission_warnings(config: LoadedConfig, store_url: StoreUrl | None) -> list[str]:
    """One warning per private file or folder that group or others may read or enter."""
    warnings = []
    for setting, path in private_paths(config, store_url):
        mode = readable_by_others(path)
        if mode is not None:
            fix = "0700" if path.is_dir() else "0600"
            warnings.append(
                f"{setting}: {path} is mode {mode}, open to group or others; it holds report "
                f"text, keys or secrets (chmod {fix} {path})"
            )
    return warnings


KEY_EXPIRY_WARNING_DAYS = 30


def check_bridge_keys(config: LoadedConfig, home: Path, now: datetime, report: CheckReport) -> None:
    """Expiry and passphrase of every secret key in the bridge home, into ``report``.

    The bridge key expired is a problem, 30 days before that a warning; a passphrase that does
    not open a key the bridge still uses is a problem naming the key and where the passphrase
    is configured. A generated passphrase still protected with the calibrated work factor,
    and a key in use (neither expired nor revoked) whose self-signatures are stored unchecked
    (``bridge_key.mark_self_signatures_checked``), get a warning pointing at ``key reprotect``.
    """
    keys = secret_keys(home)
    try:
        bridge = bridge_fingerprint(config, keys)
    except ConfigurationError as err:
        report.problems.append(str(err))
        return
    passphrase = configured_passphrase(config)
    where = passphrase_setting(config)
    for key in keys:
        signing = key.fingerprint == bridge
        if signing and key.expired(now):
            report.problems.append(
                f"openpgp.fingerprint: bridge key {key.fingerprint} expired on "
                f"{key.expires:%Y-%m-%d}; make its successor with `tracker-bridge key rotate`"
            )
        elif (
            signing
            and key.expires is not None
            and key.expires - now <= timedelta(days=KEY_EXPIRY_WARNING_DAYS)
        ):
            report.warnings.append(
                f"openpgp.fingerprint: bridge key {key.fingerprint} expires on "
                f"{key.expires:%Y-%m-%d}; make its successor with `tracker-bridge key rotate`"
            )
        # Without a passphrase `key reprotect` refuses to run: the warning would point nowhere.
        if passphrase and key.in_use(now) and not self_signatures_checked(home, key.fingerprint):
            # key reprotect refuses its default (minimum) work factor for a chosen passphrase.
            command = "key reprotect" + (
                "" if passphrase_looks_generated(passphrase) else " --work-factor calibrated"
            )
            report.warnings.append(
                f"openpgp: {'bridge' if signing else 'old bridge'} key {key.fingerprint} has its "
                "self-signatures stored unchecked: every gpg run verifies them again (1-2 ms "
                f"of CPU per message); `tracker-bridge {command}` stores them as checked"
            )
        if passphrase == MISSING_SECRET or key.revoked:
            continue  # a missing file is already reported; gpg encrypts to no revoked key
        problem = unlock_problem(home, key.fingerprint, passphrase, now=now, sign=signing)
        if problem is not None:
            report.problems.append(
                f"{where}: does not unlock {'bridge' if signing else 'old bridge'} key "
                f"{key.fingerprint} ({problem})"
            )
        slow = [count for count in key.s2k_counts if count and count > MINIMUM_S2K_COUNT]
        if signing and slow and passphrase_looks_generated(passphrase):
            report.warnings.append(
                f"openpgp: bridge key {key.fingerprint} is protected with {max(slow):,} S2K "
                "iterations, paid on every decryption and signature; its passphrase looks "
                "generated: `tracker-bridge key reprotect` lowers that to the minimum"
            )

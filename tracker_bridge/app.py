"""Composition root: the only place that reads configuration and builds concrete adapters."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tracker_bridge.bridge_key import (
    MINIMUM_S2K_COUNT,
    SecretKey,
    WorkFactor,
    export_public_key,
    passphrase_looks_generated,
    reprotect,
    rotate,
    secret_keys,
    set_fingerprint_in_config,
    unlock_problem,
)
from tracker_bridge.calendars import working_calendar
from tracker_bridge.config import (
    ENV_PREFIX,
    MISSING_SECRET,
    LoadedConfig,
    Settings,
    TransportSecurity,
    load_settings,
    locate_key,
)
from tracker_bridge.errors import (
    SKIPPABLE,
    ConfigurationError,
    MailUnavailable,
    RetriableError,
    TrackerAuthError,
    TrackerUnavailable,
)
from tracker_bridge.files import readable_by_others
from tracker_bridge.intake.reader import MailReader, ReaderLimits
from tracker_bridge.intake.sources import (
    PROCESSED_FOLDER,
    QUARANTINE_FOLDER,
    ImapSecurity,
    ImapSettings,
    ImapSource,
    MaildirSource,
)
from tracker_bridge.locks import step_lock
from tracker_bridge.mail.compose import PgpMimeComposer
from tracker_bridge.mail.smtp import SmtpTransport
from tracker_bridge.mail.templates import TemplateSet, validate_templates
from tracker_bridge.mappings import Mappings, load_mappings, policy_warnings
from tracker_bridge.openpgp import GnuPG
from tracker_bridge.plugins import load_tracker_plugin
from tracker_bridge.ports.clock import Clock
from tracker_bridge.ports.intake import MailSource
from tracker_bridge.ports.mail import MailTransport
from tracker_bridge.ports.privacy import MailboxArchive
from tracker_bridge.ports.summary import PassSummary
from tracker_bridge.ports.tracker import Tracker, TrackerAccessCheck
from tracker_bridge.scoring import severity_from_vector
from tracker_bridge.security_txt import security_txt_warnings
from tracker_bridge.services.context import Program
from tracker_bridge.services.ingest import Ingest
from tracker_bridge.services.notify import Notify
from tracker_bridge.services.privacy import AuditedTracker, Privacy, RetentionPolicy
from tracker_bridge.services.sync import Sync
from tracker_bridge.store import Store, open_store
from tracker_bridge.store.url import StoreUrl, parse_store_url

# Crash harness hook (tests/reliability): each wrap below returns the part unchanged unless
# TRACKER_BRIDGE_TEST_CRASH_AT or TRACKER_BRIDGE_TEST_CRASH_TRACE is set, so production pays one lookup.
from tracker_bridge.testing.failpoints import (
    crashing_sources,
    crashing_store,
    crashing_tracker,
    crashing_transport,
)


def load_config(
    path: Path | None,
    *,
    missing_secrets: list[str] | None = None,
    untouched: Collection[str] = (),
) -> LoadedConfig:
    """Settings from the file and environment (ConfigurationError lists every problem).

    ``untouched`` names sections the command never uses (``"tracker"``): their secret files
    are not read.
    """
    return load_settings(path, missing_secrets=missing_secrets, untouched=untouched)


def mappings_for(config: LoadedConfig) -> Mappings:
    """The program's mappings for the configured tracker kind."""
    directory = config.resolve(config.settings.mappings.dir)
    if not directory.is_dir():
        raise ConfigurationError(
            f"mappings.dir: folder {directory} does not exist "
            "(create it with `tracker-bridge init`, or point mappings.dir at one)"
        )
    return load_mappings(directory, config.settings.tracker.kind)


def tracker_settings(config: LoadedConfig) -> BaseModel:
    """The plugin's own section, validated by the plugin's settings model."""
    kind = config.settings.tracker.kind
    plugin = load_tracker_plugin(kind)
    try:
        validated: BaseModel = plugin.Settings.model_validate(
            config.settings.tracker.plugin_section()
        )
    except ValidationError as err:
        text = config.path.read_text(encoding="utf-8") if config.path else ""
        problems = []
        for problem in err.errors():
            loc = ("tracker", kind, *(str(part) for part in problem["loc"]))
            where = locate_key(config.path, text, loc)
            kind_of = problem["type"]
            message = {"missing": "required key is missing", "extra_forbidden": "unknown key"}.get(
                kind_of, problem["msg"]
            )
            problems.append(f"{where}: {message}")
        raise ConfigurationError("\n".join(problems)) from err
    return validated


def build_tracker(config: LoadedConfig) -> Tracker:
    """The configured tracker plugin, ready to use (no network until first call)."""
    plugin = load_tracker_plugin(config.settings.tracker.kind)
    tracker: Tracker = plugin.from_settings(tracker_settings(config))
    return tracker


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


def check(config_path: Path | None, *, online: bool = False) -> CheckReport:
    """Validate configuration, mappings, plugin settings and local files without network.

    With ``online``, and only when nothing offline is wrong, also ask the outside world what
    only it can answer (see ``check_online``).
    """
    report = check_offline(config_path)
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
    smtp = settings.smtp
    transport = SmtpTransport(
        smtp.host,
        smtp.port,
        security=smtp.security.value,
        user=smtp.user,
        password=smtp.password.get_secret_value() if smtp.password else None,
        timeout=smtp.timeout,
    )
    try:
        transport.connect().quit()
    except (ConfigurationError, MailUnavailable) as err:
        report.problems.append(f"smtp: {err}")


def check_offline(config_path: Path | None) -> CheckReport:
    """Validate configuration, mappings, plugin settings and local files without network."""
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
            report.warnings.extend(security_txt_warnings(published, datetime.now(UTC)))
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
        check_bridge_keys(config, home, datetime.now(UTC), report)
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
PUBLIC_KEY_FILE = "bridge-public-key.asc"  # beside the config, where `init` writes it


def passphrase_setting(config: LoadedConfig) -> str:
    """Where the bridge key's passphrase is configured, for messages (never its value)."""
    for key in ("PASSPHRASE", "PASSPHRASE_FILE"):
        name = f"{ENV_PREFIX}OPENPGP__{key}"
        if name in os.environ:
            return f"environment {name}"
    text = config.path.read_text(encoding="utf-8") if config.path else ""
    for key in ("passphrase_file", "passphrase"):
        if re.search(rf"^\s*{key}\s*=", text, re.MULTILINE):
            return locate_key(config.path, text, ("openpgp", key))
    return "openpgp.passphrase (not set)"


def _configured_passphrase(config: LoadedConfig) -> str | None:
    passphrase = config.settings.openpgp.passphrase
    return passphrase.get_secret_value() if passphrase else None


def _bridge_fingerprint(config: LoadedConfig, keys: Sequence[SecretKey]) -> str:
    """The configured bridge key, else the only secret key in the home."""
    configured = config.settings.openpgp.fingerprint
    if configured:
        compact = re.sub(r"\s+", "", configured).upper()
        if compact not in {key.fingerprint for key in keys}:
            raise ConfigurationError(
                f"openpgp.fingerprint: no secret key {compact} in "
                f"{config.resolve(config.settings.openpgp.home)}"
            )
        return compact
    if len(keys) != 1:
        raise ConfigurationError(
            f"openpgp.fingerprint: {config.resolve(config.settings.openpgp.home)} holds "
            f"{len(keys)} secret keys; name the bridge key's fingerprint"
        )
    return keys[0].fingerprint


def check_bridge_keys(config: LoadedConfig, home: Path, now: datetime, report: CheckReport) -> None:
    """Expiry and passphrase of every secret key in the bridge home, into ``report``.

    The bridge key expired is a problem, 30 days before that a warning; a passphrase that does
    not open a key the bridge still uses is a problem naming the key and where the passphrase
    is configured. A generated passphrase still protected with the calibrated work factor
    gets a warning pointing at ``key reprotect``.
    """
    keys = secret_keys(home)
    try:
        bridge = _bridge_fingerprint(config, keys)
    except ConfigurationError as err:
        report.problems.append(str(err))
        return
    passphrase = _configured_passphrase(config)
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
        if passphrase == MISSING_SECRET or key.revoked:
            continue  # a missing file is already reported; gpg encrypts to no revoked key
        problem = unlock_problem(home, key.fingerprint, passphrase, sign=signing)
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


def bridge_key_expires(config: LoadedConfig, fingerprint: str) -> datetime | None:
    """When the bridge key ``fingerprint`` expires (UTC), or None for never."""
    home = config.resolve(config.settings.openpgp.home)
    found = [key for key in secret_keys(home) if key.fingerprint == fingerprint.upper()]
    return found[0].expires if found else None


@dataclass(frozen=True)
class KeyListing:
    """The secret keys in the bridge home and which one signs."""

    home: Path
    bridge_fingerprint: str
    keys: list[SecretKey]
    work_factor: WorkFactor


def list_bridge_keys(config_path: Path | None) -> KeyListing:
    """Every secret key in the bridge home, oldest first, naming the one that signs."""
    from tracker_bridge.bridge_key import work_factor

    config = load_config(config_path, missing_secrets=[], untouched=("tracker",))
    home = config.resolve(config.settings.openpgp.home)
    keys = secret_keys(home)
    return KeyListing(home, _bridge_fingerprint(config, keys), keys, work_factor(home))


@dataclass(frozen=True)
class Rotation:
    """What ``key rotate`` did."""

    old_fingerprint: str
    new_fingerprint: str
    public_key_file: Path
    config_file: Path


def _key_command_config(config_path: Path | None, command: str) -> tuple[LoadedConfig, str | None]:
    """The configuration and passphrase a key command works with (no tracker secrets)."""
    config = load_config(config_path, missing_secrets=[], untouched=("tracker",))
    passphrase = _configured_passphrase(config)
    if passphrase == MISSING_SECRET:
        raise ConfigurationError(
            f"{passphrase_setting(config)}: the passphrase file is missing; "
            f"`key {command}` needs the bridge key's passphrase"
        )
    return config, passphrase


def rotate_bridge_key(
    config_path: Path | None, *, expire: str = "0", factor: WorkFactor | None = None
) -> Rotation:
    """Make the bridge key's successor and switch signing and publishing to it.

    The old secret key stays in the home, so mail encrypted to it still decrypts. The new key
    gets the same passphrase; ``openpgp.fingerprint`` in the config file is set to it (that is
    the switch: signing, Autocrypt, the policy page and security.txt all use that key); the
    public key file beside the config is rewritten.

    Raises:
        ConfigurationError: No config file to write, the fingerprint comes from the
            environment, the file is not writable, or the passphrase does not open the key.
    """
    config, passphrase = _key_command_config(config_path, "rotate")
    if config.path is None:
        raise ConfigurationError("key rotate: give --config; it sets openpgp.fingerprint there")
    overridden = f"{ENV_PREFIX}OPENPGP__FINGERPRINT"
    if overridden in os.environ:
        raise ConfigurationError(
            f"environment {overridden}: the bridge key is chosen in the environment, which "
            "`key rotate` cannot change; unset it, rotate, then set it to the new fingerprint"
        )
    if not os.access(config.path, os.W_OK):
        raise ConfigurationError(
            f"{config.path}: not writable; `key rotate` sets openpgp.fingerprint there"
        )
    home = config.resolve(config.settings.openpgp.home)
    current = _bridge_fingerprint(config, secret_keys(home))
    problem = unlock_problem(home, current, passphrase)
    if problem is not None:
        raise ConfigurationError(
            f"{passphrase_setting(config)}: does not unlock bridge key {current} ({problem}); "
            "nothing was changed"
        )
    new = rotate(home, current, passphrase, expire=expire, factor=factor)
    public = config.base_dir / PUBLIC_KEY_FILE
    public.write_text(export_public_key(home, new), encoding="utf-8")
    text = config.path.read_text(encoding="utf-8")
    config.path.write_text(set_fingerprint_in_config(text, new), encoding="utf-8")
    return Rotation(current, new, public, config.path)


def reprotect_bridge_keys(config_path: Path | None, factor: WorkFactor) -> list[str]:
    """Re-protect every secret key in the bridge home with ``factor``; their fingerprints.

    The migration for installations made before ``init`` chose the minimum work factor.
    """
    config, passphrase = _key_command_config(config_path, "reprotect")
    home = config.resolve(config.settings.openpgp.home)
    fingerprints = [key.fingerprint for key in secret_keys(home)]
    reprotect(home, fingerprints, passphrase, factor)
    return fingerprints


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """The current moment."""
        return datetime.now(UTC)


def build_program(mappings: Mappings) -> Program:
    """The services' view of the program, from mappings/."""
    program = mappings.program
    return Program(
        name="default",
        organisation=program.name,
        id_prefix=program.id_prefix,
        contact=program.contact,
        policy=mappings.policy,
        calendar=working_calendar(
            program.timezone, program.holidays_country, program.holidays_subdivision
        ),
        labels=mappings.labels,
        states=mappings.states,
        researcher_marker=mappings.researcher_mail.marker,
        show_address_in_tracker=mappings.researcher_mail.show_address_in_tracker,
        policy_url=program.policy_url or "",
        score_vector=severity_from_vector,
        regulatory=mappings.regulatory,
    )


@dataclass
class Bridge:
    """Every concrete part of one installation, built from configuration on demand."""

    config: LoadedConfig
    mappings: Mappings
    program: Program
    clock: Clock
    _store: Store | None = None
    _openpgp: GnuPG | None = None
    _tracker: AuditedTracker | None = None
    _key_unlocked: bool = False

    @classmethod
    def from_config(
        cls,
        config_path: Path | None,
        clock: Clock | None = None,
        *,
        missing_secrets: list[str] | None = None,
        untouched: Collection[str] = (),
    ) -> Bridge:
        """Load settings and mappings; nothing is opened until first use.

        ``missing_secrets`` (a list to fill) tolerates secret files not provided yet, for
        commands that never use them (publishing the policy right after ``init``).
        ``untouched`` names sections whose secrets the command never reads (``"tracker"`` for
        ``inspect`` and ``reports``, which touch no tracker).
        """
        config = load_config(config_path, missing_secrets=missing_secrets, untouched=untouched)
        mappings = mappings_for(config)
        return cls(config, mappings, build_program(mappings), clock or SystemClock())

    @property
    def settings(self) -> Settings:
        """The validated settings."""
        return self.config.settings

    def store(self) -> Store:
        """The state store (SQLite files are created and migrated on first use)."""
        if self._store is None:
            self._store = crashing_store(open_store(self.store_url()))  # crash harness hook
        return self._store

    def store_url(self) -> str:
        """The store URL with relative SQLite paths resolved against the config file.

        Raises:
            ConfigurationError: the URL is not one the store supports.
        """
        # Relative SQLite paths are relative to the config file, like every other path.
        return parse_store_url(self.settings.store.url, base=self.config.base_dir).render()

    def openpgp(self) -> GnuPG:
        """The bridge's OpenPGP identity."""
        if self._openpgp is None:
            passphrase = self.settings.openpgp.passphrase
            self._openpgp = GnuPG(
                self.config.resolve(self.settings.openpgp.home),
                passphrase.get_secret_value() if passphrase else None,
                self.settings.openpgp.fingerprint,
                max_plaintext_bytes=self.settings.intake.max_message_bytes,
                gpg_timeout=self.settings.intake.gpg_timeout,
            )
        return self._openpgp

    def tracker(self) -> AuditedTracker:
        """The configured tracker plugin."""
        if self._tracker is None:
            # Every tracker write goes on the audit log, whichever command makes it.
            self._tracker = AuditedTracker(
                crashing_tracker(build_tracker(self.config)),  # crash harness hook
                self.store().unit_of_work,
                self.clock,
            )
        return self._tracker

    def require_unlocked_key(self) -> None:
        """Stop unless the configured passphrase opens the bridge key (once per Bridge).

        A wrong passphrase makes every decryption fail as if the mail were addressed to no key
        the bridge holds; reading mail with it would quarantine good reports. So intake proves
        the key first and touches no mail when it cannot.

        Raises:
            ConfigurationError: The passphrase does not open the bridge key; names the key and
                where the passphrase is configured.
        """
        if self._key_unlocked:
            return
        gnupg = self.openpgp()
        problem = unlock_problem(
            Path(gnupg.gnupghome), gnupg.bridge_fingerprint, self._passphrase(), sign=False
        )
        if problem is not None:
            raise ConfigurationError(
                f"{passphrase_setting(self.config)}: does not unlock bridge key "
                f"{gnupg.bridge_fingerprint} in {gnupg.gnupghome} ({problem}); no mail was read"
            )
        self._key_unlocked = True

    def _passphrase(self) -> str | None:
        passphrase = self.settings.openpgp.passphrase
        return passphrase.get_secret_value() if passphrase else None

    def reader(self, *, learn_keys: bool = True) -> MailReader:
        """The mail reader with the configured limits, after proving the key unlocks."""
        self.require_unlocked_key()
        intake = self.settings.intake
        limits = ReaderLimits(intake.max_message_bytes, intake.max_mime_depth, intake.max_parts)
        own = (self.program.contact, self.settings.smtp.from_address)
        return MailReader(
            self.openpgp(),
            limits,
            own_addresses=own,
            learn_keys=learn_keys,
            trusted_authserv_id=intake.trusted_authserv_id,
        )

    def sources(self) -> list[MailSource]:
        """The configured mailboxes (Maildir, IMAP)."""
        intake = self.settings.intake
        found: list[MailSource] = []
        if intake.maildir is not None:
            found.append(MaildirSource(self.config.resolve(intake.maildir)))
        if intake.imap is not None:
            imap = intake.imap
            found.append(
                ImapSource(
                    ImapSettings(
                        host=imap.host,
                        user=imap.user,
                        password=imap.password.get_secret_value(),
                        port=imap.port,
                        security=ImapSecurity(
                            "plain"
                            if imap.security is TransportSecurity.NONE
                            else imap.security.value
                        ),
                        folder=imap.folder,
                        processed_folder=imap.processed_folder,
                        quarantine_folder=imap.quarantine_folder,
                        timeout=imap.timeout,
                    )
                )
            )
        return found

    def ingest_service(self, *, with_tracker: bool = True) -> Ingest:
        """The ingest use case wired to the real parts; ``with_tracker`` False opens no issues."""
        return Ingest(
            self.program,
            self.store().unit_of_work,
            self.reader(),
            self.openpgp(),
            self.clock,
            self.tracker() if with_tracker else None,
            signer_addresses=self.openpgp().key_addresses,
        )

    def sync_service(self) -> Sync:
        """The sync use case for the configured tracker project."""
        tracker = self.tracker()
        project = str(self.settings.tracker.plugin_section().get("project", "default"))
        return Sync(
            self.program,
            self.store().unit_of_work,
            tracker,
            self.clock,
            bookmark_name=f"{self.settings.tracker.kind}:{project}",
            retention=retention_policy(self),
        )

    def notify_step(self) -> Callable[[PassSummary], None]:
        """The notify step of a pass (one SMTP connection per run)."""
        return notify_step(self)

    def close(self) -> None:
        """Release connections."""
        if self._store is not None:
            self._store.dispose()


def run_pass(
    bridge: Bridge,
    notify_step: Callable[[PassSummary], object] | None,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[PassSummary]:
    """One pass of the scheduled job: ingest every source, sync the project, deliver the outbox.

    Each step holds a step lock; a step another worker holds is skipped and said so. A
    retriable failure ends that step (nothing is marked done) and the pass goes on; so does a
    skippable one the step did not set aside itself. A refused token ends only its step
    (counted for the alerting exit code); any other fatal error ends the run.
    """
    url = bridge.store_url()
    summaries: list[PassSummary] = []
    steps: list[tuple[str, Callable[[PassSummary], object]]] = [
        # crash harness hook: sources wrapped here, not in sources(), so purge sees the real ones
        ("ingest", lambda s: bridge.ingest_service().run(crashing_sources(bridge.sources()), s)),
        ("sync", lambda s: bridge.sync_service().run(s)),
    ]
    if notify_step is not None:
        steps.append(("notify", notify_step))
    steps.append(("purge", purge_step(bridge)))
    for step, action in steps:
        if should_stop():
            break
        summary = PassSummary(step)
        summaries.append(summary)
        with step_lock(url, f"tracker-bridge:{step}") as held:
            if not held:
                summary.bump("skipped_locked")
                summary.problems.append(f"{step}: another worker holds this step; skipped")
                continue
            try:
                audit_tracker_writes(bridge, step)
                action(summary)
            except TrackerAuthError as err:
                # The other steps still run: mail already queued goes out meanwhile.
                summary.bump(TRACKER_AUTH_REFUSED)
                summary.problems.append(f"{step}: the tracker refused the token: {err}")
            except RetriableError as err:
                summary.bump("deferred")
                summary.problems.append(f"{step}: unavailable, the next pass resumes: {err}")
                if step == "sync" and isinstance(err, TrackerUnavailable):
                    note_tracker_outage(bridge, summary)
            except SKIPPABLE as err:
                # The services set items aside one by one; one that escapes ends only this step.
                summary.bump("skipped")
                summary.problems.append(f"{step}: set aside, the next pass retries: {err}")
            else:
                if step == "sync":
                    note_tracker_reachable(bridge)
    return summaries


# Counts in a pass summary that the CLI turns into alerting exit codes (README "Exit codes").
TRACKER_AUTH_REFUSED = "tracker_auth_refused"
TRACKER_OUTAGE_ALERT = "tracker_outage_alert"
_OUTAGE_SINCE = "tracker_unavailable_since"


def note_tracker_outage(bridge: Bridge, summary: PassSummary) -> None:
    """Remember when the tracker first failed a pass; past the alert time, say so in ``summary``.

    The start is kept in the store, so the time counts across passes and processes (cron, a
    Kubernetes CronJob) and a restart does not reset it.
    """
    now = bridge.clock.now()
    with bridge.store().unit_of_work() as uow:
        stored = uow.installation.get(_OUTAGE_SINCE)
        if stored is None:
            uow.installation.put(_OUTAGE_SINCE, now.isoformat())
            uow.commit()
        since = datetime.fromisoformat(stored) if stored else now
    limit = bridge.settings.tracker.outage_alert_seconds
    if (now - since).total_seconds() >= limit:
        summary.bump(TRACKER_OUTAGE_ALERT)
        summary.problems.append(
            f"tracker unreachable since {since.isoformat(timespec='seconds')}, longer than "
            f"tracker.outage_alert_after = {bridge.settings.tracker.outage_alert_after!r}"
        )


def note_tracker_reachable(bridge: Bridge) -> None:
    """Forget a recorded outage once a sync step read the tracker."""
    with bridge.store().unit_of_work() as uow:
        if uow.installation.get(_OUTAGE_SINCE) is not None:
            uow.installation.put(_OUTAGE_SINCE, None)
            uow.commit()


def _notify_service(bridge: Bridge, transport: MailTransport) -> Notify:
    smtp = bridge.settings.smtp
    mail = bridge.mappings.researcher_mail
    composer = PgpMimeComposer(
        bridge.openpgp(),
        TemplateSet(bridge.mappings.templates_dir),
        organisation=bridge.program.organisation,
        from_address=smtp.from_address,
        contact_address=bridge.program.contact,
        without_key=mail.without_key,
        cleartext=mail.cleartext_policy,
        clock=bridge.clock,
        policy_url=bridge.program.policy_url or None,
    )
    return Notify(
        bridge.program,
        bridge.store().unit_of_work,
        composer,
        transport,
        bridge.clock,
        bridge.tracker(),
        max_attempts=smtp.max_attempts,
        per_recipient_per_hour=smtp.per_recipient_per_hour,
    )


def notify_step(bridge: Bridge) -> Callable[[PassSummary], None]:
    """Deliver the outbox over one SMTP connection for the whole run."""

    def step(summary: PassSummary) -> None:
        smtp = bridge.settings.smtp
        transport = crashing_transport(  # crash harness hook
            SmtpTransport(
                smtp.host,
                smtp.port,
                security=smtp.security.value,
                user=smtp.user,
                password=smtp.password.get_secret_value() if smtp.password else None,
                timeout=smtp.timeout,
            )
        )
        with transport:
            _notify_service(bridge, transport).run(summary)

    return step


# ---------------------------------------------------------------------------- privacy and audit


def audit_tracker_writes(bridge: Bridge, actor: str = "tracker-bridge") -> AuditedTracker:
    """Credit the bridge's tracker writes to ``actor`` (a step or command) on the audit log."""
    tracker = bridge.tracker()  # always audited: Bridge.tracker wraps the plugin once
    tracker.actor = actor
    return tracker


def mailbox_archives(bridge: Bridge) -> list[MailboxArchive]:
    """The configured mailboxes whose Processed and Quarantine folders hold settled mail."""
    return [s for s in bridge.sources() if isinstance(s, MaildirSource | ImapSource)]


def privacy_service(
    bridge: Bridge, archives: Sequence[MailboxArchive] = (), *, with_tracker: bool = True
) -> Privacy:
    """Retention, access and erasure wired to the store, the tracker and ``archives``.

    ``with_tracker`` False leaves the tracker alone (export and audit only read the store).
    """
    return Privacy(
        bridge.store().unit_of_work,
        bridge.clock,
        retention_policy(bridge),
        bridge.program.local_date,
        tracker=bridge.tracker() if with_tracker else None,
        archives=archives,
        keyring=_BridgeKeyring(bridge) if with_tracker else None,
        regulatory=bridge.program.regulatory,
        tz=bridge.program.calendar.tz,
    )


def retention_policy(bridge: Bridge) -> RetentionPolicy:
    """The program's retention periods (mappings ``[retention]``)."""
    retention = bridge.mappings.retention
    return RetentionPolicy(retention.content_days_after_close, retention.contact_days_after_close)


class _BridgeKeyring:
    """The bridge keyring, opened only when an erasure removes a key (purge never needs gpg)."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def delete_public_key(self, fingerprint: str) -> bool:
        """Remove a researcher's public key from the bridge keyring."""
        return self._bridge.openpgp().delete_public_key(fingerprint)


def purge_step(bridge: Bridge) -> Callable[[PassSummary], None]:
    """The purge step of a pass: delete what retention says is due, in store and mailboxes."""

    def step(summary: PassSummary) -> None:
        with contextlib.ExitStack() as stack:
            archives = mailbox_archives(bridge)
            for archive in archives:
                if isinstance(archive, ImapSource):
                    stack.enter_context(archive)
            privacy_service(bridge, archives).purge(summary)

    return step

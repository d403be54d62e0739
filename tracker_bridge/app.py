"""Composition root: the only place that reads configuration and builds concrete adapters."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from tracker_bridge.calendars import working_calendar
from tracker_bridge.config import (
    LoadedConfig,
    Settings,
    TransportSecurity,
    load_settings,
    locate_key,
)
from tracker_bridge.errors import (
    ConfigurationError,
    MailUnavailable,
    RetriableError,
    TrackerAuthError,
    TrackerUnavailable,
)
from tracker_bridge.intake.reader import MailReader, ReaderLimits
from tracker_bridge.intake.sources import ImapSecurity, ImapSettings, ImapSource, MaildirSource
from tracker_bridge.locks import step_lock
from tracker_bridge.mail.compose import PgpMimeComposer
from tracker_bridge.mail.smtp import SmtpTransport
from tracker_bridge.mail.templates import TemplateSet, validate_templates
from tracker_bridge.mappings import Mappings, load_mappings
from tracker_bridge.openpgp import GnuPG
from tracker_bridge.plugins import load_tracker_plugin
from tracker_bridge.ports import (
    Clock,
    MailboxArchive,
    MailSource,
    MailTransport,
    PassSummary,
    Tracker,
    TrackerAccessCheck,
)
from tracker_bridge.scoring import severity_from_vector
from tracker_bridge.security_txt import security_txt_warnings
from tracker_bridge.services.context import Program
from tracker_bridge.services.ingest import Ingest
from tracker_bridge.services.notify import Notify
from tracker_bridge.services.privacy import AuditedTracker, Privacy, RetentionPolicy
from tracker_bridge.services.sync import Sync
from tracker_bridge.store import Store, open_store

# Crash harness hook (tests/reliability): each wrap below returns the part unchanged unless
# TRACKER_BRIDGE_TEST_CRASH_AT or TRACKER_BRIDGE_TEST_CRASH_TRACE is set, so production pays one lookup.
from tracker_bridge.testing.failpoints import (
    crashing_sources,
    crashing_store,
    crashing_tracker,
    crashing_transport,
)


def load_config(path: Path | None, *, missing_secrets: list[str] | None = None) -> LoadedConfig:
    """Settings from the file and environment (ConfigurationError lists every problem)."""
    return load_settings(path, missing_secrets=missing_secrets)


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
        working_calendar(program.timezone, program.holidays_country, program.holidays_subdivision)
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
    scheme = urlsplit(settings.store.url).scheme.split("+")[0]
    if scheme not in {"sqlite", "postgresql", "postgres"}:
        report.problems.append(
            f"store.url: unsupported database {scheme!r} (use sqlite:///path or postgresql://...)"
        )
    home = config.resolve(settings.openpgp.home)
    if not home.is_dir():
        report.problems.append(
            f"openpgp.home: {home} does not exist (create the bridge key with `tracker-bridge init`)"
        )
    elif shutil.which("gpg") is None:
        report.problems.append("openpgp: the gpg program is not installed (Debian package gnupg)")
    elif not any(home.glob("private-keys-v1.d/*.key")):
        report.problems.append(f"openpgp.home: {home} holds no secret key for the bridge")
    if settings.intake.maildir is not None:
        maildir = config.resolve(settings.intake.maildir)
        if not (maildir / "new").is_dir():
            report.problems.append(f"intake.maildir: {maildir} is not a Maildir (no new/ folder)")
    if settings.intake.maildir is None and settings.intake.imap is None:
        report.warnings.append(
            "intake: neither maildir nor imap is configured; only `ingest FILE` and stdin will read mail"
        )
    return report


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

    @classmethod
    def from_config(
        cls,
        config_path: Path | None,
        clock: Clock | None = None,
        *,
        missing_secrets: list[str] | None = None,
    ) -> Bridge:
        """Load settings and mappings; nothing is opened until first use.

        ``missing_secrets`` (a list to fill) tolerates secret files not provided yet, for
        commands that never use them (publishing the policy right after ``init``).
        """
        config = load_config(config_path, missing_secrets=missing_secrets)
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
        """The store URL with relative SQLite paths resolved against the config file."""
        url = self.settings.store.url
        prefix = "sqlite:///"
        if (
            url.startswith(prefix)
            and not url.startswith(prefix + "/")
            and url != "sqlite:///:memory:"
        ):
            # Relative SQLite paths are relative to the config file, like every other path.
            return prefix + str(self.config.resolve(Path(url[len(prefix) :])))
        return url

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

    def reader(self, *, learn_keys: bool = True) -> MailReader:
        """The mail reader with the configured limits."""
        intake = self.settings.intake
        limits = ReaderLimits(intake.max_message_bytes, intake.max_mime_depth, intake.max_parts)
        own = (self.program.contact, self.settings.smtp.from_address)
        return MailReader(self.openpgp(), limits, own_addresses=own, learn_keys=learn_keys)

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

    def ingest_service(self) -> Ingest:
        """The ingest use case wired to the real parts."""
        return Ingest(
            self.program,
            self.store().unit_of_work,
            self.reader(),
            self.openpgp(),
            self.clock,
            self.tracker(),
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
    retriable failure ends that step (nothing is marked done) and the pass goes on.
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
    retention = bridge.mappings.retention
    return Privacy(
        bridge.store().unit_of_work,
        bridge.clock,
        RetentionPolicy(retention.content_days_after_close, retention.contact_days_after_close),
        bridge.program.local_date,
        tracker=bridge.tracker() if with_tracker else None,
        archives=archives,
    )


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

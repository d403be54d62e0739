"""Composition root: the only place that reads configuration and builds concrete adapters.

It wires, the services decide: ``Bridge`` builds each part on first use and hands it to the
use cases in ``services/`` (the pass itself is ``services.scheduled_pass``). Harnesses wrap
the parts through ``PartWrappers``; production code never imports test support.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from tracker_bridge.bridge_key import unlock_problem
from tracker_bridge.calendars import working_calendar
from tracker_bridge.clock import SystemClock
from tracker_bridge.config import (
    ENV_PREFIX,
    LoadedConfig,
    Settings,
    TransportSecurity,
    load_settings,
    locate_key,
)
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.intake.reader import MailReader, ReaderLimits
from tracker_bridge.intake.sources import (
    ImapSecurity,
    ImapSettings,
    ImapSource,
    MaildirSource,
    closing_archives,
)
from tracker_bridge.locks import step_lock
from tracker_bridge.mail.compose import PgpMimeComposer
from tracker_bridge.mail.smtp import SmtpTransport
from tracker_bridge.mail.templates import TemplateSet
from tracker_bridge.mappings import Mappings, load_mappings
from tracker_bridge.openpgp import GnuPG
from tracker_bridge.plugins import load_tracker_plugin
from tracker_bridge.scoring import severity_from_vector
from tracker_bridge.services.audit import AuditedTracker, read_audit
from tracker_bridge.services.context import Program
from tracker_bridge.services.ingest import Ingest
from tracker_bridge.services.notify import Notify
from tracker_bridge.services.retention import Retention, RetentionPolicy
from tracker_bridge.services.scheduled_pass import ScheduledPass, Step, TrackerOutage
from tracker_bridge.services.subject_requests import SubjectRequests
from tracker_bridge.services.sync import Sync
from tracker_bridge.store import Store, open_store
from tracker_bridge.store.url import parse_store_url

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence
    from contextlib import AbstractContextManager

    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.intake import MailSource
    from tracker_bridge.ports.mail import MailTransport
    from tracker_bridge.ports.privacy import AuditEntry, MailboxArchive
    from tracker_bridge.ports.summary import PassSummary
    from tracker_bridge.ports.tracker import Tracker

_Part = TypeVar("_Part")


def _unchanged(part: _Part) -> _Part:
    """The part itself: the default of every ``PartWrappers`` field."""
    return part


@dataclass(frozen=True)
class PartWrappers:
    """Wrappers the composition root puts around the parts a pass does I/O through.

    Each field takes the part the root built and returns the one to use in its place; all
    default to the part itself, which is what production runs. The hook exists for harnesses
    that must see every I/O step: the crash harness in ``tests/reliability`` runs the CLI
    through ``python -m tracker_bridge._testsupport.crash_run``, which passes proxies that can
    kill the process between any two steps (``tracker_bridge._testsupport.failpoints``).
    The CLI takes them as click's ``obj`` (``cli.main.main(obj=PartWrappers(...))``).

    Attributes:
        tracker: Wraps the tracker plugin (inside the audit log, so audited writes go
            through it).
        store: Wraps the state store once it is opened.
        sources: Wraps the mailboxes the ingest step of a pass reads (not those purge or
            ``ingest`` FILE use).
        transport: Wraps the SMTP transport of a notify step, before it connects.
    """

    tracker: Callable[[Tracker], Tracker] = _unchanged
    store: Callable[[Store], Store] = _unchanged
    sources: Callable[[list[MailSource]], list[MailSource]] = _unchanged
    transport: Callable[[SmtpTransport], SmtpTransport] = _unchanged


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
        msg = (
            f"mappings.dir: folder {directory} does not exist "
            "(create it with `tracker-bridge init`, or point mappings.dir at one)"
        )
        raise ConfigurationError(msg)
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
    wrappers: PartWrappers = field(default_factory=PartWrappers)

    @classmethod
    def from_config(
        cls,
        config_path: Path | None,
        clock: Clock | None = None,
        *,
        missing_secrets: list[str] | None = None,
        untouched: Collection[str] = (),
        wrappers: PartWrappers | None = None,
    ) -> Bridge:
        """Load settings and mappings; nothing is opened until first use.

        ``missing_secrets`` (a list to fill) tolerates secret files not provided yet, for
        commands that never use them (publishing the policy right after ``init``).
        ``untouched`` names sections whose secrets the command never reads (``"tracker"`` for
        ``inspect`` and ``reports``, which touch no tracker). ``wrappers`` (default: none)
        go around the parts as they are built (see ``PartWrappers``).

        Raises:
            ConfigurationError: The settings or the mappings are invalid; lists every problem.
        """
        config = load_config(config_path, missing_secrets=missing_secrets, untouched=untouched)
        mappings = mappings_for(config)
        return cls(
            config,
            mappings,
            build_program(mappings),
            clock or SystemClock(),
            wrappers=wrappers or PartWrappers(),
        )

    @property
    def settings(self) -> Settings:
        """The validated settings."""
        return self.config.settings

    def store(self) -> Store:
        """The state store (SQLite files are created and migrated on first use)."""
        if self._store is None:
            self._store = self.wrappers.store(open_store(self.store_url()))
        return self._store

    def store_url(self) -> str:
        """The store URL with relative SQLite paths resolved against the config file.

        Raises:
            ConfigurationError: the URL is not one the store supports.
        """
        # Relative SQLite paths are relative to the config file, like every other path.
        return parse_store_url(self.settings.store.url, base=self.config.base_dir).render()

    def store_exists(self) -> bool:
        """False for a SQLite file not created yet (opening it would create it), else True."""
        path = parse_store_url(self.store_url()).sqlite_path
        return path is None or path.exists()

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
                self.wrappers.tracker(build_tracker(self.config)),
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
            Path(gnupg.gnupghome),
            gnupg.bridge_fingerprint,
            self._passphrase(),
            now=self.clock.now(),
            sign=False,
        )
        if problem is not None:
            msg = (
                f"{passphrase_setting(self.config)}: does not unlock bridge key "
                f"{gnupg.bridge_fingerprint} in {gnupg.gnupghome} ({problem}); no mail was read"
            )
            raise ConfigurationError(msg)
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

    def tracker_outage(self) -> TrackerOutage:
        """Where the pass records how long the tracker has been unreachable (in the store)."""
        tracker = self.settings.tracker
        return TrackerOutage(
            lambda: self.store().unit_of_work(),  # the store opens only when an outage is noted
            self.clock,
            tracker.outage_alert_seconds,
            tracker.outage_alert_after,
        )

    def scheduled_pass(self) -> ScheduledPass:
        """One pass of the scheduled job: ingest, sync, notify, purge, each under its step lock.

        Raises:
            ConfigurationError: The store URL is not one the store supports.
        """
        url = self.store_url()

        def lock(name: str) -> AbstractContextManager[bool]:
            return step_lock(url, name)

        def ingest(summary: PassSummary) -> None:
            # The sources are wrapped here, not in sources(), so purge sees the real ones.
            self.ingest_service().run(self.wrappers.sources(self.sources()), summary)

        steps = [
            Step("ingest", ingest),
            Step("sync", lambda summary: self.sync_service().run(summary), reads_tracker=True),
            Step("notify", self.notify_step()),
            Step("purge", purge_step(self)),
        ]
        return ScheduledPass(
            steps,
            lock,
            self.tracker_outage(),
            before_step=lambda step: audit_tracker_writes(self, step),
        )

    def close(self) -> None:
        """Release connections."""
        if self._store is not None:
            self._store.dispose()


def smtp_transport(settings: Settings) -> SmtpTransport:
    """The SMTP transport the ``smtp`` section configures; it connects when entered (``with``)."""
    smtp = settings.smtp
    return SmtpTransport(
        smtp.host,
        smtp.port,
        security=smtp.security.value,
        user=smtp.user,
        password=smtp.password.get_secret_value() if smtp.password else None,
        timeout=smtp.timeout,
    )


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
        transport = bridge.wrappers.transport(smtp_transport(bridge.settings))
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


def open_mailbox_archives(bridge: Bridge) -> AbstractContextManager[list[MailboxArchive]]:
    """``mailbox_archives`` for a ``with`` block that logs the IMAP ones out when it ends."""
    return closing_archives(mailbox_archives(bridge))


_ServiceT = TypeVar("_ServiceT", Retention, SubjectRequests)


def _over_store(
    service: type[_ServiceT],
    bridge: Bridge,
    archives: Sequence[MailboxArchive],
    *,
    with_tracker: bool,
) -> _ServiceT:
    return service(
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


def retention_service(bridge: Bridge, archives: Sequence[MailboxArchive] = ()) -> Retention:
    """Retention purges (``purge``) wired to the store, the tracker and ``archives``."""
    return _over_store(Retention, bridge, archives, with_tracker=True)


def subject_requests_service(
    bridge: Bridge, archives: Sequence[MailboxArchive] = (), *, with_tracker: bool = True
) -> SubjectRequests:
    """Access and erasure requests (``researcher export`` / ``forget``) wired like retention.

    ``with_tracker`` False leaves the tracker and keyring alone (``export`` only reads the store).
    """
    return _over_store(SubjectRequests, bridge, archives, with_tracker=with_tracker)


def audit_entries(bridge: Bridge, report_id: str | None = None) -> list[AuditEntry]:
    """The audit log (of one report when given), oldest first (``audit``)."""
    return read_audit(bridge.store().unit_of_work, report_id)


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
        with open_mailbox_archives(bridge) as archives:
            retention_service(bridge, archives).purge(summary)

    return step

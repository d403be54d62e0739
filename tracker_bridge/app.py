"""Composition root: the only place that reads configuration and builds concrete adapters."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from tracker_bridge.calendars import working_calendar
from tracker_bridge.config import LoadedConfig, load_settings, locate_key
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.mappings import Mappings, load_mappings
from tracker_bridge.plugins import load_tracker_plugin
from tracker_bridge.ports import Tracker

PACKAGED_MAPPINGS = Path(__file__).parent / "default_mappings"


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


def check(config_path: Path | None) -> CheckReport:
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
        program = mappings_for(config).program
        working_calendar(program.timezone, program.holidays_country, program.holidays_subdivision)
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

"""The settings model: one TOML file plus TRACKER_BRIDGE_* environment overrides; read by app.py only."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tracker_bridge.errors import ConfigurationError

DEFAULT_CONFIG = Path("tracker-bridge.toml")
ENV_PREFIX = "TRACKER_BRIDGE_"


class TransportSecurity(StrEnum):
    """How a mail connection is protected."""

    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


_INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def interval_seconds(text: str) -> float:
    """Seconds in an interval such as ``90s``, ``30m``, ``1h`` or ``1d`` (bare numbers: seconds).

    Raises:
        ValueError: not an interval, or not positive.
    """
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _INTERVAL_UNITS else "s"
    number = value[:-1] if value[-1:] in _INTERVAL_UNITS else value
    try:
        seconds = float(number) * _INTERVAL_UNITS[unit]
    except ValueError:
        msg = f"{text!r} is not an interval (write e.g. 30m, 1h or 1d)"
        raise ValueError(msg) from None
    if seconds <= 0:
        msg = f"{text!r}: the interval must be positive"
        raise ValueError(msg)
    return seconds


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSettings(_Section):
    """Where the bridge keeps its state."""

    url: str = Field(
        default="sqlite:///tracker-bridge.sqlite3",
        description="SQLAlchemy URL: sqlite:///path (one file, WAL) or postgresql://user@host/db",
    )


class OpenPGPSettings(_Section):
    """The bridge's own OpenPGP identity."""

    home: Path = Field(default=Path("gnupg"), description="GNUPGHOME holding the bridge key")
    passphrase: SecretStr | None = Field(
        default=None, description="Passphrase of the bridge key (or passphrase_file)"
    )
    fingerprint: str | None = Field(
        default=None,
        description="The bridge key that signs and is published (`key rotate` sets it); "
        "default: the only secret key in home",
    )


class ImapSettings(_Section):
    """An IMAP mailbox to read reports from."""

    host: str = Field(description="IMAP server host name")
    port: int | None = Field(default=None, description="Port; default 993 for tls, else 143")
    security: TransportSecurity = Field(
        default=TransportSecurity.TLS, description="tls, starttls or none"
    )
    user: str = Field(description="Login name")
    password: SecretStr = Field(description="Password (or password_file)")
    folder: str = Field(default="INBOX", description="Folder new reports arrive in")
    processed_folder: str = Field(default="Processed", description="Where handled mail moves")
    quarantine_folder: str = Field(default="Quarantine", description="Where refused mail moves")
    timeout: float = Field(default=30.0, description="Socket timeout in seconds")


class IntakeSettings(_Section):
    """Where reports arrive and the limits applied to each message."""

    maildir: Path | None = Field(default=None, description="A Maildir to read reports from")
    imap: ImapSettings | None = Field(default=None, description="An IMAP mailbox to read from")
    max_message_bytes: int = Field(
        default=25 * 1024 * 1024,
        description="Larger mail, or decrypted output past this size, is quarantined",
    )
    gpg_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds one gpg decryption may take; a slower one is stopped, quarantined",
    )
    max_mime_depth: int = Field(default=20, description="Deeper MIME nesting is quarantined")
    max_parts: int = Field(default=500, description="More MIME parts are quarantined")
    trusted_authserv_id: str | None = Field(
        default=None,
        description="authserv-id of your receiving MTA whose Authentication-Results "
        "(RFC 8601) are believed; unset: From addresses are not checked",
    )


class SmtpSettings(_Section):
    """How mail to researchers leaves."""

    host: str = Field(default="localhost", description="SMTP server host name")
    port: int | None = Field(
        default=None, description="Port; default 465 for tls, 587 starttls, 25 none"
    )
    security: TransportSecurity = Field(
        default=TransportSecurity.STARTTLS, description="tls, starttls or none"
    )
    user: str | None = Field(default=None, description="AUTH user, if the server wants one")
    password: SecretStr | None = Field(default=None, description="AUTH password (or password_file)")
    timeout: float = Field(default=30.0, description="Socket timeout in seconds")
    from_address: str = Field(
        default="security@example.org", description="From: of mail to researchers"
    )
    max_attempts: int = Field(default=8, description="Attempts before a mail is marked failed")
    per_recipient_per_hour: int = Field(default=10, description="Rate limit per researcher")


class TrackerSettings(_Section):
    """Which tracker plugin to use; its own section is validated by the plugin."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(
        default="gitlab", description="Plugin name from entry points: gitlab, jira, ..."
    )
    outage_alert_after: str = Field(
        default="1h",
        description="How long the tracker may be unreachable, counted from the first failed "
        "pass, before `run` and `sync` exit 4 (e.g. 30m, 1h, 1d)",
    )

    @field_validator("outage_alert_after")
    @classmethod
    def _interval(cls, value: str) -> str:
        interval_seconds(value)
        return value.strip()

    @property
    def outage_alert_seconds(self) -> float:
        """``outage_alert_after`` in seconds."""
        return interval_seconds(self.outage_alert_after)

    def plugin_section(self) -> dict[str, Any]:
        """The ``[tracker.<kind>]`` table, or an empty one."""
        extra = self.model_extra or {}
        section = extra.get(self.kind, {})
        return dict(section) if isinstance(section, Mapping) else {}


class MappingsSettings(_Section):
    """Where operator-owned policy data lives."""

    dir: Path = Field(
        default=Path("mappings"), description="Folder with program.toml, <tracker>.toml, templates/"
    )


class Settings(BaseSettings):
    """Everything tracker-bridge reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    openpgp: OpenPGPSettings = Field(default_factory=OpenPGPSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
    mappings: MappingsSettings = Field(default_factory=MappingsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003 - pydantic-settings' hook signature
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - pydantic-settings' hook signature
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - pydantic-settings' hook signature
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - pydantic-settings' hook signature
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """One source: load_settings merges file, environment and *_file secrets beforehand.

        The environment keeps pydantic-settings' convention (prefix TRACKER_BRIDGE_, nested
        delimiter ``__``) and wins over the file; merging it first lets ``*_file`` keys work
        from the environment and in plugin sections the core does not know.
        """
        return (init_settings,)

    @field_validator("tracker", mode="before")
    @classmethod
    def _tracker_kind_lower(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("kind"), str):
            value = {**value, "kind": value["kind"].strip().lower()}
        return value


@dataclass(frozen=True)
class LoadedConfig:
    """Settings plus where they came from, so relative paths resolve against the file."""

    settings: Settings
    path: Path | None
    base_dir: Path

    def resolve(self, path: Path) -> Path:
        """A configured path made absolute relative to the config file's folder."""
        return path if path.is_absolute() else (self.base_dir / path)


MISSING_SECRET = "<secret file not provided yet>"  # noqa: S105 (a placeholder, not a secret)


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    missing_secrets: list[str] | None = None,
    untouched: Collection[str] = (),
) -> LoadedConfig:
    """Read the TOML file (if any), apply environment overrides and ``*_file`` secrets, validate.

    Raises ConfigurationError listing every problem with its file, line or key. When
    ``missing_secrets`` is a list, an unreadable secret file is noted there instead of being an
    error and the secret becomes a placeholder (what ``check`` does right after ``init``).
    ``untouched`` names top-level sections (``"tracker"``) the command never uses: their
    secret files are not read at all, so ``inspect`` runs without the tracker token.

    A secret given in the environment, as a value or as ``<key>_FILE``, replaces both the
    TOML's value and its ``<key>_file``: ``TRACKER_BRIDGE_TRACKER__GITLAB__TOKEN`` wins over
    ``token_file`` in the file, which is then never read.
    """
    env = dict(os.environ if environ is None else environ)
    file_path = path if path is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    data: dict[str, Any] = {}
    text = ""
    if file_path is not None:
        try:
            text = file_path.read_text(encoding="utf-8")
        except OSError as err:
            msg = f"{file_path}: cannot read config file: {err.strerror}"
            raise ConfigurationError(msg) from err
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            msg = f"{file_path}: invalid TOML: {err}"
            raise ConfigurationError(msg) from err
    base_dir = (file_path.parent if file_path is not None else Path.cwd()).resolve()
    env_tree = _env_tree(env)
    merged = _deep_merge(_without_overridden_secrets(data, env_tree), env_tree)
    problems: list[str] = []
    secret_problems: list[str] = []
    used = {key: value for key, value in merged.items() if key not in untouched}
    tracker = used.get("tracker")
    if isinstance(tracker, dict):
        # Only the selected plugin's section is read and validated: a leftover
        # [tracker.gitlab] token_file in a Jira installation is never opened.
        kind = str(tracker.get("kind", TrackerSettings.model_fields["kind"].default))
        selected = kind.strip().lower()
        used["tracker"] = {
            key: value
            for key, value in tracker.items()
            if not isinstance(value, dict) or key == selected
        }
    merged = {
        **merged,
        **_resolve_secret_files(used, base_dir, secret_problems, (), file_path, text),
    }
    if missing_secrets is None:
        problems.extend(secret_problems)
    else:
        missing_secrets.extend(secret_problems)
    try:
        settings = _validate(merged)
    except ValidationError as err:
        problems.extend(_describe(err, file_path, text, merged_env=env))
    if problems:
        raise ConfigurationError("\n".join(problems))
    return LoadedConfig(settings=settings, path=file_path, base_dir=base_dir)


def _validate(data: dict[str, Any]) -> Settings:
    return Settings(**data)


def _env_tree(env: Mapping[str, str]) -> dict[str, Any]:
    """TRACKER_BRIDGE_SMTP__HOST=x becomes {"smtp": {"host": "x"}} (pydantic-settings' convention)."""
    tree: dict[str, Any] = {}
    for key, value in env.items():
        if not key.upper().startswith(ENV_PREFIX) or key.upper().startswith(ENV_PREFIX + "TEST_"):
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    return tree


def _without_overridden_secrets(data: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the ``x`` and ``x_file`` keys the environment sets as ``x`` or ``x_file``."""
    kept = dict(data)
    for key, value in env.items():
        if isinstance(value, dict):
            if isinstance(kept.get(key), dict):
                kept[key] = _without_overridden_secrets(kept[key], value)
            continue
        target = key.removesuffix("_file")
        kept.pop(target, None)
        kept.pop(f"{target}_file", None)
    return kept


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve_secret_files(
    node: dict[str, Any],
    base_dir: Path,
    problems: list[str],
    where: tuple[str, ...],
    file_path: Path | None,
    text: str,
) -> dict[str, Any]:
    """``password_file = "/run/secrets/x"`` fills ``password`` with the file's content (stripped)."""
    resolved: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            resolved[key] = _resolve_secret_files(
                value, base_dir, problems, (*where, key), file_path, text
            )
        elif key.endswith("_file") and isinstance(value, str):
            target = key[: -len("_file")]
            secret_path = Path(value) if Path(value).is_absolute() else base_dir / value
            try:
                resolved.setdefault(target, secret_path.read_text(encoding="utf-8").strip())
            except OSError as err:
                location = locate_key(file_path, text, (*where, key))
                problems.append(f"{location}: cannot read secret file {value!r}: {err.strerror}")
                resolved.setdefault(target, MISSING_SECRET)
        else:
            resolved.setdefault(key, value)
    return resolved


def _describe(
    err: ValidationError, file_path: Path | None, text: str, merged_env: Mapping[str, str]
) -> Iterator[str]:
    for problem in err.errors():
        loc = tuple(str(part) for part in problem["loc"])
        env_name = ENV_PREFIX + "__".join(part.upper() for part in loc)
        if env_name in merged_env:
            where = f"environment {env_name}"
        else:
            where = locate_key(file_path, text, loc)
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        elif problem["type"] == "missing":
            message = "required key is missing"
        # Never echo the value: it may be a secret.
        yield f"{where}: {message}"


def locate_key(file_path: Path | None, text: str, loc: tuple[str, ...]) -> str:
    """``file:line: key`` for a dotted key, finding the line in the TOML text where possible."""
    dotted = ".".join(loc)
    if file_path is None:
        return f"setting {dotted}"
    line = _find_line(text, loc)
    return f"{file_path}:{line}: {dotted}" if line else f"{file_path}: {dotted}"


def _find_line(text: str, loc: tuple[str, ...]) -> int | None:
    table: tuple[str, ...] = ()
    best: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and not line.startswith("[["):
            table = tuple(part.strip().strip('"') for part in line.strip("[] ").split("."))
            if table == loc:
                return number
            continue
        if "=" in line and not line.startswith("#"):
            key = tuple(p.strip().strip('"') for p in line.split("=", 1)[0].split("."))
            if (*table, *key) == loc:
                return number
            if best is None and table and loc[: len(table)] == table:
                best = number
    return best
